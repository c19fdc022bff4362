// `teeinfer plan`: what the budget planner would do with a model under a secure-memory
// budget, without loading any weights: per step the kernel, the strategy (resident,
// streamed whole, streamed in row windows) and the bytes alive; then the arena, the
// weights resident and streamed per run, and the smallest budget that would work.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/units.h"
#include "enclave/budget_planner.h"
#include "host/cli/commands.h"
#include "host/cli/model_source.h"
#include "host/cli/option_checks.h"
#include "host/model_loader.h"

namespace teeinfer::cli {
namespace {

using json = nlohmann::json;

ModelSource open_for_plan(const PlanOptions& o) {
  if (is_sealed_file(o.model)) {
    if (!o.input_shape.empty())
      throw Error(ErrorCode::kBadArgument, "--input-shape is fixed when a model is packed; it cannot change");
    return ModelSource::sealed(o.model, o.key, sealed_load_options(o.min_version, o.model_id));
  }
  refuse_model_id_for_onnx(o.model, o.model_id);
  OnnxModel onnx = OnnxModel::open(o.model);
  auto specs = onnx.declared_inputs();
  if (specs.size() != 1)
    throw Error(ErrorCode::kUnsupported, "'" + o.model + "' has " + std::to_string(specs.size()) +
                                             " inputs; plan takes models with exactly one");
  Dims dims = o.input_shape.empty() ? resolve_input_dims(specs[0].first, specs[0].second)
                                    : parse_dims(o.input_shape, "--input-shape");
  return ModelSource::onnx(onnx, specs[0].first, dims, parse_max_memory(o.max_memory));
}

// Bytes of all buffers alive at each step (load phase first).
std::vector<size_t> live_bytes(const MemoryPlanner& p, int steps) {
  std::vector<size_t> live(static_cast<size_t>(steps) + 2, 0);  // index = step + 1
  for (int b = 0; b < p.buffer_count(); ++b)
    for (int s = p.first_step(b); s <= p.last_step(b); ++s) live[static_cast<size_t>(s + 1)] += p.bytes(b);
  return live;
}

struct LayerPlan {
  std::string name, op, strategy;
  size_t resident = 0, streamed = 0;  // weight bytes
};

// Per node: how it was lowered and where its weights live.
std::vector<LayerPlan> layer_plans(const Graph& g, const Lowering& l) {
  std::vector<LayerPlan> out;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& n = g.nodes[k];
    auto s = l.strategies().find(k);
    LayerPlan p{n.name, n.onnx_op, s == l.strategies().end() ? "whole" : s->second};
    for (ValueId v : n.inputs)
      if (v != kNoValue && g.value(v).is_constant) {
        size_t bytes = byte_size(g.value(v).dtype, g.value(v).dims, g.value(v).name);
        (l.is_streamed(v) ? p.streamed : p.resident) += bytes;
      }
    out.push_back(p);
  }
  return out;
}

}  // namespace

int plan(const PlanOptions& o) {
  ModelSource model = open_for_plan(o);
  const Graph& g = model.graph();
  InlineConstants inline_constants(g);
  WeightSource& weights = model.weights() ? *model.weights() : inline_constants;
  BudgetOptions bo;
  bo.lowering.mode = o.mode == "unmodified" ? ExecutionMode::kUnmodified : ExecutionMode::kPlanned;
  bo.budget_bytes = o.budget.empty() ? 0 : parse_nonzero_bytes(o.budget, "--budget");
  bo.load_scratch_bytes = weights.scratch_bytes();
  bo.staged = weights.needs_staging();
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  size_t min_budget = minimum_budget(g, engine, weights, bo);
  BudgetPlan plan = plan_for_budget(g, engine, weights, bo);
  const Lowering& l = *plan.lowering;
  const auto& steps = l.steps();
  std::vector<size_t> live = live_bytes(l.planner(), static_cast<int>(steps.size()));
  if (o.json) {
    json j{{"model", o.model},
           {"mode", o.mode},
           {"budget_bytes", bo.budget_bytes},
           {"arena_bytes", plan.arena_bytes},
           {"min_budget_bytes", min_budget},
           {"resident_weight_bytes", plan.resident_weight_bytes},
           {"streamed_bytes_per_run", plan.streamed_bytes},
           {"streamed_constants", plan.streamed_constants},
           {"spilled_bytes_per_run", plan.spilled_bytes}};
    for (size_t s = 0; s < steps.size(); ++s)
      j["steps"].push_back({{"name", steps[s].name}, {"impl", steps[s].impl}, {"live_bytes", live[s + 1]}});
    for (const LayerPlan& p : layer_plans(g, l))
      j["layers"].push_back({{"name", p.name},
                             {"op", p.op},
                             {"strategy", p.strategy},
                             {"weights_resident_bytes", p.resident},
                             {"weights_streamed_bytes", p.streamed}});
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("model %s (%s), %s mode, budget %s\n", o.model.c_str(), model.description.c_str(), o.mode.c_str(),
              bo.budget_bytes ? format_bytes(bo.budget_bytes).c_str() : "none (everything resident)");
  std::printf("  %5s  %-11s %-58s %s\n", "step", "live", "kernel", "implementation");
  std::printf("  %5s  %-11s %s\n", "load", format_bytes(live[0]).c_str(), "weights kept resident are loaded");
  for (size_t s = 0; s < steps.size(); ++s)
    std::printf("  %5zu  %-11s %-58s %s\n", s, format_bytes(live[s + 1]).c_str(), steps[s].name.c_str(),
                steps[s].impl.c_str());
  std::printf("\nper layer: %-44s %-18s %-11s %-11s %s\n", "node", "op", "resident", "streamed", "strategy");
  for (const LayerPlan& p : layer_plans(g, l))
    std::printf("           %-44s %-18s %-11s %-11s %s\n", p.name.c_str(), p.op.c_str(),
                p.resident ? format_bytes(p.resident).c_str() : "-",
                p.streamed ? format_bytes(p.streamed).c_str() : "-", p.strategy.c_str());
  std::printf("arena %s (peak of live bytes plus placement gaps)\n", format_bytes(plan.arena_bytes).c_str());
  std::printf("weights: %s resident, %s streamed per run (%d tensors read again at every run)\n",
              format_bytes(plan.resident_weight_bytes).c_str(), format_bytes(plan.streamed_bytes).c_str(),
              plan.streamed_constants);
  if (plan.spilled_bytes)
    std::printf("activations: %s sealed out to host memory and read back per run (encrypted spill)\n",
                format_bytes(plan.spilled_bytes).c_str());
  std::printf("minimum feasible budget: %s (%zu bytes)\n", format_bytes(min_budget).c_str(), min_budget);
  return 0;
}

}  // namespace teeinfer::cli
