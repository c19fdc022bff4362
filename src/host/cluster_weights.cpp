#include "host/cluster_weights.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"

namespace teeinfer {

std::vector<int8_t> cluster_centres(const std::vector<uint64_t>& hist, int levels) {
  // Linear initialisation between the smallest and largest value, then Lloyd iterations
  // (exact on a histogram: each value's count weighs it). Deep Compression found linear
  // initialisation best: it keeps centres for the rare large weights, which matter most.
  int lo = 0, hi = 255;
  while (lo < 255 && !hist[static_cast<size_t>(lo)]) ++lo;
  while (hi > 0 && !hist[static_cast<size_t>(hi)]) --hi;
  std::vector<double> centres;
  for (int c = 0; c < levels - 1; ++c)
    centres.push_back(lo - 128 + (levels > 2 ? (hi - lo) * static_cast<double>(c) / (levels - 2) : 0.0));
  // Zero stays a centre, fixed: the many near-zero weights must not all shift one way,
  // which would bias every output by their sum.
  centres.push_back(0.0);
  const size_t zero = centres.size() - 1;
  for (int iter = 0; iter < 500; ++iter) {
    std::vector<double> sum(centres.size(), 0), count(centres.size(), 0);
    for (int v = 0; v < 256; ++v) {
      if (!hist[static_cast<size_t>(v)]) continue;
      size_t best = 0;
      for (size_t c = 1; c < centres.size(); ++c)
        if (std::fabs(centres[c] - (v - 128)) < std::fabs(centres[best] - (v - 128))) best = c;
      sum[best] += static_cast<double>(hist[static_cast<size_t>(v)]) * (v - 128);
      count[best] += static_cast<double>(hist[static_cast<size_t>(v)]);
    }
    bool moved = false;
    for (size_t c = 0; c < centres.size(); ++c)
      if (c != zero && count[c] > 0 && std::fabs(sum[c] / count[c] - centres[c]) > 1e-9) {
        centres[c] = sum[c] / count[c];
        moved = true;
      }
    if (!moved) break;
  }
  std::vector<int8_t> out;
  for (double c : centres) out.push_back(static_cast<int8_t>(std::clamp(std::lround(c), -127L, 127L)));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

int cluster_int8_weights(Graph& g, int levels, bool conv_too) {
  if (levels < 2 || levels > 255) throw Error(ErrorCode::kBadArgument, "--cluster: levels must be in 2..255");
  int count = 0;
  for (const Node& n : g.nodes) {
    if (!int8_weights_of(n) || (n.op == OpKind::kConv && !conv_too)) continue;
    Value& w = g.value(n.inputs[1]);
    auto* q = reinterpret_cast<int8_t*>(w.data.data());
    std::vector<uint64_t> hist(256, 0);
    for (size_t i = 0; i < w.data.size(); ++i) ++hist[static_cast<size_t>(q[i] + 128)];
    std::vector<int8_t> centres = cluster_centres(hist, levels);
    int8_t nearest[256];
    for (int v = -128; v < 128; ++v) {
      auto it = std::lower_bound(centres.begin(), centres.end(), v);
      int8_t best = it == centres.end() ? centres.back() : *it;
      if (it != centres.begin() && (it == centres.end() || v - *(it - 1) <= *it - v)) best = *(it - 1);
      nearest[v + 128] = best;
    }
    for (size_t i = 0; i < w.data.size(); ++i) q[i] = nearest[q[i] + 128];
    ++count;
  }
  return count;
}

}  // namespace teeinfer
