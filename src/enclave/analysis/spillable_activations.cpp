#include "enclave/analysis/spillable_activations.h"

#include "enclave/analysis/banded_ops.h"

namespace teeinfer {

std::vector<bool> spillable_activations(const Graph& g) {
  std::vector<bool> ok(g.values.size(), false);
  for (const Node& n : g.nodes)
    if (can_run_in_bands(g, n)) ok[n.outputs[0]] = true;
  for (ValueId v : g.inputs) ok[v] = false;
  for (ValueId v : g.outputs) ok[v] = false;
  for (const Node& n : g.nodes)
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      ValueId v = n.inputs[i];
      if (v == kNoValue) continue;
      if (!reads_in_bands(g, n, i)) ok[v] = false;
    }
  return ok;
}

}  // namespace teeinfer
