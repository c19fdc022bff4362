// `teeinfer prune`: mean-shift channel pruning of an ONNX model (host side; the pruned
// model is then packed like any other). Prints, per Conv+BN layer, the channels kept and
// why a layer was left whole, then parameters, FLOPs and file size before and after. On
// the public API only.
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "host/cli/commands.h"
#include "host/cli/option_checks.h"
#include "teeinfer/teeinfer.h"

namespace teeinfer::cli {
namespace {

double percent(int64_t after, int64_t before) {
  return before ? 100.0 * static_cast<double>(after) / static_cast<double>(before) : 100.0;
}

}  // namespace

int prune(const PruneOptions& o) {
  refuse_output_onto_inputs(o.output, "-o", {{o.model, "the model to prune"}});
  teeinfer::PruneOptions po;
  po.by_block = o.group == "block";
  po.quantile = o.quantile;
  po.max_memory_bytes = parse_max_memory(o.max_memory);
  if (!o.input_shape.empty()) po.input_dims = one_shape({o.input_shape});
  PruneResult r = teeinfer::prune(o.model, o.output, po);
  if (o.json) {
    nlohmann::json j{{"model", o.model},
                     {"output", o.output},
                     {"group", o.group},
                     {"quantile", o.quantile},
                     {"params", {r.params_before, r.params_after}},
                     {"flops", r.flops_counted ? nlohmann::json{r.flops_before, r.flops_after} : nlohmann::json()},
                     {"bytes", {r.bytes_before, r.bytes_after}}};
    for (const PruneResult::Unit& u : r.units)
      j["layers"].push_back({{"conv", u.conv},
                             {"bn", u.bn},
                             {"bn_scale", u.bn_scale},
                             {"channels", u.channels},
                             {"prunable", u.prunable},
                             {"kept_because", u.kept_because},
                             {"group", u.group},
                             {"bandwidth", u.bandwidth},
                             {"threshold", u.threshold},
                             {"removed", u.removed}});
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("%-40s %9s %10s  %s\n", "Conv + BatchNorm layer", "channels", "threshold", "");
  for (const PruneResult::Unit& u : r.units) {
    std::string ch =
        std::to_string(u.channels - static_cast<int64_t>(u.removed.size())) + "/" + std::to_string(u.channels);
    if (u.prunable)
      std::printf("%-40s %9s %10.4g  group %d\n", u.conv.c_str(), ch.c_str(), u.threshold, u.group);
    else
      std::printf("%-40s %9s %10s  kept whole: %s\n", u.conv.c_str(), ch.c_str(), "-", u.kept_because.c_str());
  }
  std::printf("\n%-40s %12s %12s %14s %14s\n", "layer", "params", "after", "MFLOPs", "after");
  for (const PruneResult::Layer& l : r.layers) {
    if (r.flops_counted)
      std::printf("%-40s %12lld %12lld %14.2f %14.2f\n", l.name.c_str(), static_cast<long long>(l.params_before),
                  static_cast<long long>(l.params_after), static_cast<double>(l.flops_before) / 1e6,
                  static_cast<double>(l.flops_after) / 1e6);
    else
      std::printf("%-40s %12lld %12lld %14s %14s\n", l.name.c_str(), static_cast<long long>(l.params_before),
                  static_cast<long long>(l.params_after), "-", "-");
  }
  std::string flops = r.flops_counted ? "" : "FLOPs not counted (the model has dynamic input dims: give --input-shape)";
  if (r.flops_counted) {
    char buf[128];
    std::snprintf(buf, sizeof buf, "FLOPs %.2f -> %.2f M (%.1f%%)", static_cast<double>(r.flops_before) / 1e6,
                  static_cast<double>(r.flops_after) / 1e6, percent(r.flops_after, r.flops_before));
    flops = buf;
  }
  std::printf("\nparameters %lld -> %lld (%.1f%%), %s, file %s -> %s\n", static_cast<long long>(r.params_before),
              static_cast<long long>(r.params_after), percent(r.params_after, r.params_before), flops.c_str(),
              format_size(r.bytes_before).c_str(), format_size(r.bytes_after).c_str());
  std::printf("wrote %s\n", o.output.c_str());
  return 0;
}

Command add_prune(CLI::App& app) {
  auto o = std::make_shared<PruneOptions>();
  CLI::App* prune = app.add_subcommand(
      "prune", "mean-shift channel pruning of an ONNX model with BatchNorm (no pruning ratio to choose)");
  prune->add_option("model", o->model, "ONNX model with Conv + BatchNormalization layers")->required();
  prune->add_option("-o,--output", o->output, "pruned ONNX model to write")->required();
  prune
      ->add_option("--group", o->group,
                   "cluster |gamma| per layer, or per block of layers up to a pool (VGG-style nets)")
      ->check(CLI::IsMember({"layer", "block"}))
      ->capture_default_str();
  prune
      ->add_option(
          "--quantile", o->quantile,
          "quantile of nearest-neighbour distances for the mean-shift bandwidth (0.1 VGG, 0.3 ResNet/DenseNet)")
      ->transform(finite_number(1e-6, 1.0))
      ->capture_default_str();
  prune->add_option("--input-shape", o->input_shape,
                    "input dims for the FLOP count (default: the model's, batch 1; a model with dynamic spatial dims "
                    "is pruned all the same, without FLOPs)");
  prune->add_flag("--json", o->json, "print machine-readable JSON (the channels removed per layer)");
  prune->add_option("--max-memory", o->max_memory, kMaxMemoryHelp);
  return {prune, [o] { return cli::prune(*o); }};
}

}  // namespace teeinfer::cli
