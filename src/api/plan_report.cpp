#include "api/plan_report.h"

namespace teeinfer {
namespace {

// Bytes of all buffers alive at each step; index 0 is the load phase (step -1).
std::vector<size_t> live_bytes(const MemoryPlanner& p, size_t steps) {
  std::vector<size_t> live(steps + 1, 0);
  for (int b = 0; b < p.buffer_count(); ++b)
    for (int s = p.first_step(b); s <= p.last_step(b); ++s)
      if (s + 1 >= 0 && static_cast<size_t>(s + 1) < live.size()) live[static_cast<size_t>(s + 1)] += p.bytes(b);
  return live;
}

}  // namespace

PlanReport plan_report(const Graph& g, const LoweredPlan& l, const BudgetPlan& plan, size_t budget, size_t min_budget) {
  PlanReport r;
  r.budget_bytes = budget;
  r.arena_bytes = plan.arena_bytes;
  r.min_budget_bytes = min_budget;
  r.resident_weight_bytes = plan.resident_weight_bytes;
  r.streamed_bytes = plan.streamed_bytes;
  r.spilled_bytes = plan.spilled_bytes;
  r.streamed_constants = plan.streamed_constants;
  const auto& steps = l.steps();
  std::vector<size_t> live = live_bytes(l.planner(), steps.size());
  r.load_live_bytes = live[0];
  for (size_t s = 0; s < steps.size(); ++s)
    r.steps.push_back({steps[s].name, steps[s].impl, live[s + 1], step_kind_name(steps[s].kind)});
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& n = g.nodes[k];
    auto how = l.strategies().find(k);
    PlanReport::Layer layer{n.name, n.onnx_op, how == l.strategies().end() ? "whole" : how->second, 0, 0};
    for (ValueId v : n.inputs)
      if (v != kNoValue && g.value(v).is_constant) {
        size_t bytes = byte_size(g.value(v).dtype, g.value(v).dims, g.value(v).name);
        (l.is_streamed(v) ? layer.weights_streamed_bytes : layer.weights_resident_bytes) += bytes;
      }
    r.layers.push_back(std::move(layer));
  }
  return r;
}

}  // namespace teeinfer
