#include "host/pruning/mean_shift.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>

#include "common/error.h"

namespace teeinfer {

namespace {

constexpr int kMaxIterations = 300;

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
  double total = 0;
  for (size_t i = 0; i < sorted.size(); ++i) {
    // The k nearest of a point in sorted 1-D data are a window of k around it.
    size_t lo = i, hi = i;  // window [lo, hi]
    while (hi - lo + 1 < k) {
      if (lo == 0) {
        ++hi;
      } else if (hi + 1 == sorted.size()) {
        --lo;
      } else if (sorted[i] - sorted[lo - 1] <= sorted[hi + 1] - sorted[i]) {
        --lo;
      } else {
        ++hi;
      }
    }
    total += std::max(sorted[i] - sorted[lo], sorted[hi] - sorted[i]);
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
  for (double mean : bin_seeds(x, bandwidth)) {
    size_t count = 0;
    for (int it = 0;; ++it) {
      auto [lo, hi] = within(sorted, mean, bandwidth);
      if (lo == hi) break;
      count = hi - lo;
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
  std::vector<bool> unique(order.size(), true);
  std::vector<double> centres;
  for (size_t i = 0; i < order.size(); ++i) {
    if (!unique[i]) continue;
    for (size_t j = 0; j < order.size(); ++j)
      if (std::fabs(order[j].first - order[i].first) <= bandwidth) unique[j] = false;
    unique[i] = true;
    centres.push_back(order[i].first);
  }
  return centres;
}

}  // namespace teeinfer
