#include "enclave/analysis/fusable_chains.h"

#include "enclave/analysis/row_windows.h"

namespace teeinfer {

std::vector<std::pair<size_t, size_t>> fusable_chains(const Graph& g) {
  std::vector<int> uses = g.use_counts();
  std::vector<std::pair<size_t, size_t>> out;
  size_t k = 0;
  while (k < g.nodes.size()) {
    if (!fusable_row_window(g, g.nodes[k])) {
      ++k;
      continue;
    }
    size_t last = k;
    // Extend while the next node reads only this one's output, which nothing else reads;
    // a pool ends the chain (VGG's blocks), and so does kMaxFusedNodes: longer chains keep
    // more band buffers alive and recompute ever wider halos, and a probe of a fused plan
    // lowers every node once per band (a 2,000-node chain would be 2,000 x bands steps).
    while (g.nodes[last].op != OpKind::kPool && last + 1 < g.nodes.size() && last + 1 - k < kMaxFusedNodes &&
           fusable_row_window(g, g.nodes[last + 1]) && g.nodes[last + 1].inputs[0] == g.nodes[last].outputs[0] &&
           uses[g.nodes[last].outputs[0]] == 1)
      ++last;
    if (last > k) out.emplace_back(k, last);
    k = last + 1;
  }
  return out;
}

}  // namespace teeinfer
