// `teeinfer plan`: what the budget planner would do with a model under a secure-memory
// budget, without loading any weights: per step the kernel, the strategy and the bytes
// alive; then the arena, the weights resident and streamed per run, and the smallest
// budget that would work. On the public API only.
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "host/cli/commands.h"
#include "host/cli/option_checks.h"
#include "teeinfer/teeinfer.h"

namespace teeinfer::cli {
namespace {

// The shapes to plan: --input-shape's (each set member a shape), or every shape profile
// a sealed model was packed for, or the model's own dims.
std::vector<std::map<std::string, Dims>> shapes_to_plan(const Model& model, const PlanOptions& o) {
  if (!o.input_shape.empty()) return parse_shape_profiles(o.input_shape, "--input-shape");
  std::vector<std::map<std::string, Dims>> shapes;
  for (const Model::ShapeProfile& p : model.shape_profiles()) {
    shapes.emplace_back();
    for (const TensorInfo& in : p.inputs) shapes.back()[in.name] = in.dims;
  }
  if (shapes.empty()) shapes.emplace_back();  // ONNX: as declared
  return shapes;
}

std::string shape_text(const Model& model, const std::map<std::string, Dims>& dims) {
  std::string s;
  for (const auto& [name, d] : dims)
    s += (s.empty() ? "" : " ") + (name.empty() ? model.inputs()[0].name : name) + "=" + to_string(d);
  return s;
}

// Several shapes: one line each (the minimum budget holds per shape).
int plan_shapes(const Model& model, const PlanOptions& o, SessionOptions so,
                const std::vector<std::map<std::string, Dims>>& shapes) {
  nlohmann::json j{{"model", o.model}, {"mode", o.mode}, {"budget_bytes", so.budget_bytes}};
  if (!o.json)
    std::printf("model %s (%s), %s mode, budget %s\n  %-36s %11s %11s %11s %11s\n", o.model.c_str(),
                model.description().c_str(), o.mode.c_str(),
                so.budget_bytes ? format_size(so.budget_bytes).c_str() : "none (everything resident)", "input dims",
                "arena", "minimum", "streamed", "spilled");
  for (const auto& dims : shapes) {
    so.input_dims = dims;
    nlohmann::json inputs;
    for (const auto& [name, d] : dims) inputs[name.empty() ? model.inputs()[0].name : name] = d;
    std::optional<PlanReport> p;
    try {
      p = teeinfer::plan(model, so);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kBudgetExceeded) throw;
    }
    if (!p) {  // this shape does not fit the budget: say what it would need, go on
      SessionOptions unlimited = so;
      unlimited.budget_bytes = 0;
      size_t least = teeinfer::plan(model, unlimited).min_budget_bytes;
      j["shapes"].push_back({{"input_dims", inputs}, {"fits", false}, {"min_budget_bytes", least}});
      if (!o.json)
        std::printf("  %-36s %11s %11s  does not fit the budget\n", shape_text(model, dims).c_str(), "-",
                    format_size(least).c_str());
      continue;
    }
    j["shapes"].push_back({{"input_dims", inputs},
                           {"fits", true},
                           {"arena_bytes", p->arena_bytes},
                           {"min_budget_bytes", p->min_budget_bytes},
                           {"streamed_bytes_per_run", p->streamed_bytes},
                           {"spilled_bytes_per_run", p->spilled_bytes}});
    if (!o.json)
      std::printf("  %-36s %11s %11s %11s %11s\n", shape_text(model, dims).c_str(), format_size(p->arena_bytes).c_str(),
                  format_size(p->min_budget_bytes).c_str(), format_size(p->streamed_bytes).c_str(),
                  format_size(p->spilled_bytes).c_str());
  }
  if (o.json)
    std::cout << j.dump(2) << "\n";
  else
    std::printf("minimum: the smallest budget each shape's plan fits (--input-shape with one shape shows its plan)\n");
  return 0;
}

}  // namespace

int plan(const PlanOptions& o) {
  OpenOptions open;
  open.min_version = o.min_version;
  if (!o.model_id.empty()) open.model_id = id_from_hex(o.model_id, "--model-id");
  open.max_memory_bytes = parse_max_memory(o.max_memory);
  std::unique_ptr<KeyFile> key;
  if (is_sealed_model(o.model)) {
    if (o.key.empty())
      throw Error(ErrorCode::kBadArgument, "'" + o.model + "' is a sealed model: give its key with --key");
    key = std::make_unique<KeyFile>(o.key);
  }
  Model model = Model::open(o.model, key.get(), open);
  SessionOptions so;
  so.mode = o.mode == "unmodified" ? Mode::kUnmodified : Mode::kPlanned;
  so.budget_bytes = o.budget.empty() ? 0 : parse_nonzero_bytes(o.budget, "--budget");
  so.threads = o.threads;
  so.conv_algorithm = conv_algorithm(o.conv_algorithm);
  const auto shapes = shapes_to_plan(model, o);
  if (shapes.size() > 1) return plan_shapes(model, o, so, shapes);
  so.input_dims = shapes[0];
  PlanReport p = teeinfer::plan(model, so);
  if (o.json) {
    nlohmann::json j{{"model", o.model},
                     {"mode", o.mode},
                     {"budget_bytes", p.budget_bytes},
                     {"arena_bytes", p.arena_bytes},
                     {"min_budget_bytes", p.min_budget_bytes},
                     {"resident_weight_bytes", p.resident_weight_bytes},
                     {"streamed_bytes_per_run", p.streamed_bytes},
                     {"streamed_constants", p.streamed_constants},
                     {"spilled_bytes_per_run", p.spilled_bytes}};
    for (const PlanReport::Step& s : p.steps)
      j["steps"].push_back({{"name", s.name}, {"impl", s.impl}, {"live_bytes", s.live_bytes}});
    for (const PlanReport::Layer& l : p.layers)
      j["layers"].push_back({{"name", l.node},
                             {"op", l.op},
                             {"strategy", l.strategy},
                             {"weights_resident_bytes", l.weights_resident_bytes},
                             {"weights_streamed_bytes", l.weights_streamed_bytes}});
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("model %s (%s), %s mode, budget %s\n", o.model.c_str(), model.description().c_str(), o.mode.c_str(),
              p.budget_bytes ? format_size(p.budget_bytes).c_str() : "none (everything resident)");
  std::printf("  %5s  %-11s %-58s %s\n", "step", "live", "kernel", "implementation");
  std::printf("  %5s  %-11s %s\n", "load", format_size(p.load_live_bytes).c_str(), "weights kept resident are loaded");
  for (size_t s = 0; s < p.steps.size(); ++s)
    std::printf("  %5zu  %-11s %-58s %s\n", s, format_size(p.steps[s].live_bytes).c_str(), p.steps[s].name.c_str(),
                p.steps[s].impl.c_str());
  std::printf("\nper layer: %-44s %-18s %-11s %-11s %s\n", "node", "op", "resident", "streamed", "strategy");
  for (const PlanReport::Layer& l : p.layers)
    std::printf("           %-44s %-18s %-11s %-11s %s\n", l.node.c_str(), l.op.c_str(),
                l.weights_resident_bytes ? format_size(l.weights_resident_bytes).c_str() : "-",
                l.weights_streamed_bytes ? format_size(l.weights_streamed_bytes).c_str() : "-", l.strategy.c_str());
  std::printf("arena %s (peak of live bytes plus placement gaps)\n", format_size(p.arena_bytes).c_str());
  std::printf("weights: %s resident, %s streamed per run (%d tensors read again at every run)\n",
              format_size(p.resident_weight_bytes).c_str(), format_size(p.streamed_bytes).c_str(),
              p.streamed_constants);
  if (p.spilled_bytes)
    std::printf("activations: %s sealed out to host memory and read back per run (encrypted spill)\n",
                format_size(p.spilled_bytes).c_str());
  std::printf("minimum feasible budget: %s (%zu bytes)\n", format_size(p.min_budget_bytes).c_str(), p.min_budget_bytes);
  return 0;
}

Command add_plan(CLI::App& app) {
  auto o = std::make_shared<PlanOptions>();
  CLI::App* plan =
      app.add_subcommand("plan", "show the memory plan for a secure-memory budget, and the minimum budget");
  plan->add_option("model", o->model, "ONNX model, or sealed .tee model")->required();
  plan->add_option("--key", o->key, "key file of a sealed model");
  plan->add_option("--min-version", o->min_version, "refuse sealed models older than this version")
      ->transform(whole_number(0, kMaxU64));
  plan->add_option("--model-id", o->model_id, "refuse a sealed model whose id is not this one");
  plan->add_option("--input-shape", o->input_shape,
                   std::string(kShapeProfilesHelp) +
                       "; with several shapes, one line each (default: a sealed model's shape profiles, or the "
                       "model's dims, a dynamic batch as 1)");
  plan->add_option("--budget,--epc", o->budget, "secure-memory budget, e.g. 16MiB (default: no limit)");
  plan->add_option("--mode", o->mode, "planned or unmodified")
      ->check(CLI::IsMember({"planned", "unmodified"}))
      ->capture_default_str();
  plan->add_option("--threads", o->threads,
                   "kernel threads the plan is for (kernels' scratch memory grows with threads)")
      ->transform(whole_number(1, 256));
  add_conv_algorithm_option(plan, o->conv_algorithm);
  plan->add_flag("--json", o->json, "print machine-readable JSON");
  plan->add_option("--max-memory", o->max_memory, kMaxMemoryHelp);
  return {plan, [o] { return cli::plan(*o); }};
}

}  // namespace teeinfer::cli
