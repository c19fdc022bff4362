#include "serve/batch_policy.h"

#include <algorithm>
#include <limits>

namespace teeinfer::serve {

std::vector<int64_t> preferred_run_sizes(const std::vector<int64_t>& sizes,
                                         const std::map<int64_t, double>& ms_per_run) {
  std::vector<int64_t> sorted = sizes;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> kept;
  double best = std::numeric_limits<double>::infinity();  // ms per sample of the kept sizes
  for (int64_t s : sorted) {
    auto t = ms_per_run.find(s);
    if (kept.empty() || t == ms_per_run.end()) {
      kept.push_back(s);
      if (t != ms_per_run.end()) best = std::min(best, t->second / static_cast<double>(s));
      continue;
    }
    double per_sample = t->second / static_cast<double>(s);
    if (per_sample < 0.95 * best) {
      kept.push_back(s);
      best = per_sample;
    }
  }
  return kept;
}

std::vector<int64_t> sizes_that_fit(const std::vector<int64_t>& preferred, const std::map<int64_t, double>& ms_per_run,
                                    const std::map<int64_t, uint64_t>& arena_bytes, uint64_t share_bytes) {
  if (preferred.empty() || share_bytes == 0) return preferred;
  auto arena = [&](int64_t s) {
    auto a = arena_bytes.find(s);
    return a == arena_bytes.end() ? share_bytes : a->second;  // unknown: assume it takes it all
  };
  uint64_t all = 0;
  for (int64_t s : preferred) all += arena(s);
  if (all <= share_bytes) return preferred;
  auto per_sample = [&](int64_t s) {
    auto t = ms_per_run.find(s);
    return t == ms_per_run.end() ? std::numeric_limits<double>::infinity() : t->second / static_cast<double>(s);
  };
  int64_t first = preferred.front();
  int64_t fastest = *std::min_element(preferred.begin(), preferred.end(),
                                      [&](int64_t a, int64_t b) { return per_sample(a) < per_sample(b); });
  if (per_sample(first) >= 2 * per_sample(fastest)) first = fastest;
  std::vector<int64_t> kept = {first};
  uint64_t used = arena(first);
  for (int64_t s : preferred)
    if (s != first && used + arena(s) <= share_bytes) {
      kept.push_back(s);
      used += arena(s);
    }
  std::sort(kept.begin(), kept.end());
  return kept;
}

int64_t target_run_size(int64_t available, const std::vector<int64_t>& preferred,
                        const std::map<int64_t, double>& ms_per_run) {
  int64_t down = 0, up = 0;
  for (int64_t s : preferred) {
    if (s <= available) down = s;
    if (s >= available && up == 0) up = s;
  }
  if (down == 0) return up ? up : available;
  if (up == 0 || up == down) return down;
  auto td = ms_per_run.find(down), tu = ms_per_run.find(up);
  if (td == ms_per_run.end() || tu == ms_per_run.end()) return up;
  // ms per real sample: `down` samples in a run of `down`, or all of them padded to `up`.
  double per_down = td->second / static_cast<double>(down);
  double per_up = tu->second / static_cast<double>(available);
  return per_up < per_down ? up : down;
}

}  // namespace teeinfer::serve
