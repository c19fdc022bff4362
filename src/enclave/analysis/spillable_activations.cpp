#include "enclave/analysis/spillable_activations.h"

#include <algorithm>

#include "enclave/analysis/banded_ops.h"

namespace teeinfer {

namespace {

// By ValueId: made by a node that can run in bands, and read only as some node's banded
// input.
std::vector<bool> made_and_read_in_bands(const Graph& g) {
  std::vector<bool> ok(g.values.size(), false);
  for (const Node& n : g.nodes)
    if (can_run_in_bands(g, n)) ok[n.outputs[0]] = true;
  for (const Node& n : g.nodes)
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      ValueId v = n.inputs[i];
      if (v == kNoValue) continue;
      if (!reads_in_bands(g, n, i)) ok[v] = false;
    }
  for (ValueId v : g.inputs) ok[v] = false;
  return ok;
}

}  // namespace

std::vector<bool> spillable_activations(const Graph& g) {
  std::vector<bool> ok = made_and_read_in_bands(g);
  for (ValueId v : g.outputs) ok[v] = false;
  return ok;
}

std::vector<bool> outputs_leaving_in_bands(const Graph& g) {
  std::vector<bool> made = made_and_read_in_bands(g), ok(g.values.size(), false);
  for (ValueId v : g.outputs)
    ok[v] = made[v] && g.value(v).dims.size() == 4 && g.value(v).dtype == DType::kF32 &&
            std::count(g.outputs.begin(), g.outputs.end(), v) == 1;
  return ok;
}

}  // namespace teeinfer
