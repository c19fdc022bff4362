#include "enclave/lowering/lower_graph.h"

#include "common/error.h"
#include "enclave/bands/band_lowering.h"
#include "enclave/lowering/lowering_context.h"
#include "enclave/op_lowering/op_lowering.h"

namespace teeinfer {

std::unique_ptr<LoweredPlan> lower_graph(const Graph& g, const dnnl::engine& engine, LoweringOptions options,
                                         size_t load_scratch_bytes, bool staged) {
  PlanBuilder plan(g, engine, std::move(options));
  WeightStreamer weights(plan);
  SpillPlan spills(plan);
  LoweringContext l(plan, weights, spills);
  l.begin_graph();
  const auto& fused_bands = plan.options().fused_bands;
  while (static_cast<size_t>(l.current_node_) < g.nodes.size()) {
    const Node& n = g.nodes[static_cast<size_t>(l.current_node_)];
    try {
      auto fused = fused_bands.find(static_cast<size_t>(l.current_node_));
      if (fused != fused_bands.end()) {
        lower_band_chain(l, fused->first, fused->second.first, fused->second.second);
        l.current_node_ = static_cast<int>(fused->second.first) + 1;
        continue;
      }
      lower_node(l, n);
      ++l.current_node_;
    } catch (const dnnl::error& e) {
      throw Error(ErrorCode::kKernel, n.onnx_op + " node '" + n.name + "': oneDNN refused it (" + e.what() + ")");
    }
  }
  // Outputs leave the enclave in plain row-major order: whole from the arena after the
  // last step, or already in the host's buffer, band by band (outputs_in_bands).
  for (ValueId v : g.outputs) {
    if (!spills.is_written_out(v)) {
      plan.add_output(v, l.input(v, Layout::kPlain));
      continue;
    }
    if (!spills.was_written_out(v))
      throw Error(ErrorCode::kUnsupported, "graph output '" + g.value(v).name +
                                               "' was to leave in bands, but the node making it did not run in bands");
    plan.add_output(v, std::nullopt);
  }
  return plan.finish(load_scratch_bytes, staged, weights.streams(), spills.blocks(), spills.host_bytes());
}

}  // namespace teeinfer
