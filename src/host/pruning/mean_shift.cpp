#include "host/pruning/mean_shift.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string>

#include "common/error.h"

namespace teeinfer {

namespace {

constexpr int kMaxIterations = 300;
// Points visited by one clustering, at most: about a second of work. Real networks need
// far less (a VGG block of 1,536 channels: a few million); an adversarial distribution
// of many channels could otherwise keep every seed shifting for kMaxIterations.
constexpr uint64_t kMaxWork = uint64_t{1} << 30;

// Points within `radius` of `at` (inclusive), as a range of the sorted values.
std::pair<size_t, size_t> within(const std::vector<double>& sorted, double at, double radius) {
  auto lo = std::lower_bound(sorted.begin(), sorted.end(), at - radius);
  auto hi = std::upper_bound(lo, sorted.end(), at + radius);
  // Bounds computed as at ± radius can differ from |x - at| <= radius in the last bit.
  while (lo != sorted.begin() && std::fabs(*(lo - 1) - at) <= radius) --lo;
  while (lo != hi && std::fabs(*lo - at) > radius) ++lo;
  while (hi != sorted.end() && std::fabs(*hi - at) <= radius) ++hi;
  while (hi != lo && std::fabs(*(hi - 1) - at) > radius) --hi;
  return {static_cast<size_t>(lo - sorted.begin()), static_cast<size_t>(hi - sorted.begin())};
}

// Seeds: the centres of the bins (width `bandwidth`) that hold a point, in order of
// first appearance; numpy rounds half to even, as nearbyint does by default.
std::vector<double> bin_seeds(std::span<const double> x, double bandwidth) {
  std::vector<double> seeds;
  std::map<double, bool> seen;
  for (double v : x) {
    double bin = std::nearbyint(v / bandwidth);
    if (seen.emplace(bin, true).second) seeds.push_back(bin);
  }
  if (seeds.size() == x.size()) return {x.begin(), x.end()};  // binning saved nothing
  // scikit-learn keeps bin indices as float32 before scaling them.
  for (double& s : seeds) s = static_cast<double>(static_cast<float>(s)) * bandwidth;
  return seeds;
}

}  // namespace

double estimate_bandwidth(std::span<const double> x, double quantile) {
  if (!(quantile > 0 && quantile <= 1))
    throw Error(ErrorCode::kBadArgument, "--quantile must be in (0, 1], got " + std::to_string(quantile));
  if (x.empty()) return 0;
  size_t k = std::max<size_t>(1, static_cast<size_t>(static_cast<double>(x.size()) * quantile));
  std::vector<double> sorted(x.begin(), x.end());
  std::sort(sorted.begin(), sorted.end());
  // The k nearest points of point i (itself included) are the window of k sorted points
  // around it that is narrowest on its wider side; the distance to the k-th nearest is
  // that side's width. Windows [lo, lo + k - 1]: the left width shrinks and the right one
  // grows with lo, so the narrowest is where they cross (a binary search): O(n log n).
  const size_t n = sorted.size();
  double total = 0;
  for (size_t i = 0; i < n; ++i) {
    size_t lo_min = i + 1 >= k ? i + 1 - k : 0, lo_max = std::min(i, n - k);
    auto left = [&](size_t lo) { return sorted[i] - sorted[lo]; };
    auto right = [&](size_t lo) { return sorted[lo + k - 1] - sorted[i]; };
    size_t a = lo_min, b = lo_max + 1;  // first lo in [a, b) with right(lo) >= left(lo), or b
    while (a < b) {
      size_t mid = a + (b - a) / 2;
      if (right(mid) >= left(mid))
        b = mid;
      else
        a = mid + 1;
    }
    double best = std::numeric_limits<double>::infinity();
    if (a <= lo_max) best = right(a);
    if (a > lo_min) best = std::min(best, left(a - 1));
    total += best;
  }
  return total / static_cast<double>(sorted.size());
}

std::vector<double> mean_shift_centres(std::span<const double> x, double bandwidth) {
  if (x.empty()) return {};
  std::vector<double> sorted(x.begin(), x.end());
  std::sort(sorted.begin(), sorted.end());
  if (bandwidth <= 0) {
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    return sorted;
  }
  // Shift each seed to the mean of the points within the bandwidth until it moves less
  // than 1e-3 bandwidths; remember each end point with its number of points.
  std::map<double, size_t> intensity;  // centre -> points within
  uint64_t work = 0;
  for (double mean : bin_seeds(x, bandwidth)) {
    size_t count = 0;
    for (int it = 0;; ++it) {
      auto [lo, hi] = within(sorted, mean, bandwidth);
      if (lo == hi) break;
      count = hi - lo;
      work += count;
      if (work > kMaxWork)
        throw Error(ErrorCode::kUnsupported, "mean-shift clustering of " + std::to_string(x.size()) +
                                                 " values does not converge within its work limit");
      double sum = 0;
      for (size_t i = lo; i < hi; ++i) sum += sorted[i];
      double old = mean;
      mean = sum / static_cast<double>(count);
      if (std::fabs(mean - old) < 1e-3 * bandwidth || it == kMaxIterations) break;
    }
    if (count) intensity[mean] = count;
  }
  // Highest intensity first (ties: larger centre first); drop centres within the
  // bandwidth of one kept before them.
  std::vector<std::pair<double, size_t>> order(intensity.begin(), intensity.end());
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first > b.first;
  });
  // A centre is dropped when a centre kept before it lies within the bandwidth (a kept
  // centre's neighbours are never kept later): the nearest kept ones on either side decide.
  std::set<double> kept;
  std::vector<double> centres;
  for (const auto& [centre, count] : order) {
    auto next = kept.lower_bound(centre);
    if (next != kept.end() && std::fabs(*next - centre) <= bandwidth) continue;
    if (next != kept.begin() && std::fabs(*std::prev(next) - centre) <= bandwidth) continue;
    kept.insert(centre);
    centres.push_back(centre);
  }
  return centres;
}

}  // namespace teeinfer
