// `teeinfer prune`: mean-shift channel pruning of an ONNX model (host side; the pruned
// model is then packed like any other). Prints, per Conv+BN layer, the channels kept and
// why a layer was left whole, then parameters, FLOPs and file size before and after.
#include <onnx/checker.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/units.h"
#include "host/cli/commands.h"
#include "host/cli/option_checks.h"
#include "host/file_io.h"
#include "host/model_loader.h"
#include "host/pruning/channel_pruner.h"
#include "host/pruning/layer_costs.h"

namespace teeinfer::cli {
namespace {

using json = nlohmann::json;

// The dims each input of `m` is instantiated for: --input-shape, or the declared ones.
std::map<std::string, Dims> input_dims_of(const onnx::ModelProto& m, const std::string& input_shape) {
  std::map<std::string, Dims> dims;
  for (const auto& [name, declared] : declared_inputs_of(m))
    dims[name] = input_shape.empty() ? resolve_input_dims(name, declared) : parse_dims(input_shape, "--input-shape");
  return dims;
}

std::vector<LayerCost> costs_of(const std::string& path, const std::string& input_shape, uint64_t max_memory) {
  OnnxModel m = OnnxModel::open(path);
  return layer_costs(load_onnx_model(m, input_dims_of(m.proto(), input_shape), nullptr, max_memory));
}

// Saturates at INT64_MAX (a hostile model's FLOP counts can be absurd).
int64_t total(const std::vector<LayerCost>& c, int64_t LayerCost::*field) {
  int64_t t = 0;
  for (const auto& l : c)
    if (__builtin_add_overflow(t, l.*field, &t)) return std::numeric_limits<int64_t>::max();
  return t;
}

double percent(int64_t after, int64_t before) {
  return before ? 100.0 * static_cast<double>(after) / static_cast<double>(before) : 100.0;
}

}  // namespace

int prune(const PruneOptions& o) {
  refuse_output_onto_inputs(o.output, "-o", {{o.model, "the model to prune"}});
  uint64_t max_memory = parse_max_memory(o.max_memory);
  onnx::ModelProto model = read_onnx_proto(o.model);
  std::vector<LayerCost> before = costs_of(o.model, o.input_shape, max_memory);
  teeinfer::PruneOptions po{o.group == "block" ? Grouping::kBlock : Grouping::kLayer, o.quantile,
                            input_dims_of(model, o.input_shape), max_memory};
  PruneReport report = select_channels(model, po);
  if (report.units.empty())
    throw Error(ErrorCode::kUnsupported,
                "'" + o.model +
                    "' has no Conv read by a BatchNormalization: nothing to prune (export with the "
                    "BatchNorm layers kept, e.g. torch.onnx.export(..., training=torch.onnx.TrainingMode.PRESERVE))");
  remove_channels(model, report);
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    std::string why = e.what();  // several lines: keep their words on one
    std::replace_if(
        why.begin(), why.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
    why.erase(std::unique(why.begin(), why.end(), [](char a, char b) { return a == ' ' && b == ' '; }), why.end());
    throw Error(ErrorCode::kUnsupported, "the pruned model fails the ONNX checker: " + why);
  }
  std::string bytes = model.SerializeAsString();
  write_file_atomic(o.output, bytes);
  std::vector<LayerCost> after = costs_of(o.output, o.input_shape, max_memory);
  int64_t params0 = total(before, &LayerCost::params), params1 = total(after, &LayerCost::params);
  int64_t flops0 = total(before, &LayerCost::flops), flops1 = total(after, &LayerCost::flops);
  size_t size0 = read_file(o.model).size();
  if (o.json) {
    json j{{"model", o.model},
           {"output", o.output},
           {"group", o.group},
           {"quantile", o.quantile},
           {"params", {params0, params1}},
           {"flops", {flops0, flops1}},
           {"bytes", {size0, bytes.size()}}};
    for (const UnitPruning& u : report.units)
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
  for (const UnitPruning& u : report.units) {
    std::string ch =
        std::to_string(u.channels - static_cast<int64_t>(u.removed.size())) + "/" + std::to_string(u.channels);
    if (u.prunable)
      std::printf("%-40s %9s %10.4g  group %d\n", u.conv.c_str(), ch.c_str(), u.threshold, u.group);
    else
      std::printf("%-40s %9s %10s  kept whole: %s\n", u.conv.c_str(), ch.c_str(), "-", u.kept_because.c_str());
  }
  std::printf("\n%-40s %12s %12s %14s %14s\n", "layer", "params", "after", "MFLOPs", "after");
  std::map<std::string, const LayerCost*> pruned;
  for (const auto& l : after) pruned[l.name] = &l;
  for (const auto& l : before) {
    const LayerCost* a = pruned.count(l.name) ? pruned[l.name] : nullptr;
    std::printf("%-40s %12lld %12lld %14.2f %14.2f\n", l.name.c_str(), static_cast<long long>(l.params),
                static_cast<long long>(a ? a->params : 0), static_cast<double>(l.flops) / 1e6,
                a ? static_cast<double>(a->flops) / 1e6 : 0.0);
  }
  std::printf("\nparameters %lld -> %lld (%.1f%%), FLOPs %.2f -> %.2f M (%.1f%%), file %s -> %s\n",
              static_cast<long long>(params0), static_cast<long long>(params1), percent(params1, params0),
              static_cast<double>(flops0) / 1e6, static_cast<double>(flops1) / 1e6, percent(flops1, flops0),
              format_bytes(size0).c_str(), format_bytes(bytes.size()).c_str());
  std::printf("wrote %s\n", o.output.c_str());
  return 0;
}

}  // namespace teeinfer::cli
