// teeinfer::prune (include/teeinfer/teeinfer.h): mean-shift channel pruning of an ONNX
// model, checked by the ONNX checker, with parameters and FLOPs before and after.
#include <onnx/checker.h>

#include <algorithm>
#include <limits>

#include "common/error.h"
#include "host/file_io.h"
#include "host/model_loader.h"
#include "host/pruning/channel_pruner.h"
#include "host/pruning/layer_costs.h"
#include "teeinfer/teeinfer.h"

namespace teeinfer {
namespace {

std::vector<LayerCost> costs_of(const std::string& path, const std::map<std::string, Dims>& given,
                                uint64_t max_memory) {
  OnnxModel m = OnnxModel::open(path);
  return layer_costs(load_onnx_model(m, instantiation_dims(m.declared_inputs(), given, path), nullptr, max_memory));
}

// Saturates at INT64_MAX (a hostile model's FLOP counts can be absurd).
int64_t total(const std::vector<LayerCost>& c, int64_t LayerCost::*field) {
  int64_t t = 0;
  for (const auto& l : c)
    if (__builtin_add_overflow(t, l.*field, &t)) return std::numeric_limits<int64_t>::max();
  return t;
}

// Which channels go does not depend on the spatial dims: a dynamic dim nobody gave is
// traced at a stand-in size (the FLOP counts, which do depend on it, are then not given).
constexpr int64_t kStandInDim = 224;

std::map<std::string, Dims> tracing_dims(const std::vector<std::pair<std::string, Dims>>& declared,
                                         const std::map<std::string, Dims>& given, bool& stand_in) {
  std::map<std::string, Dims> dims = given;
  stand_in = false;
  if (!given.empty()) return dims;
  for (const auto& [name, d] : declared) {
    Dims filled = d;
    for (size_t i = 1; i < filled.size(); ++i)
      if (filled[i] < 0) filled[i] = kStandInDim, stand_in = true;
    if (stand_in) dims[name] = filled;
  }
  if (!stand_in) dims.clear();
  return dims;
}

void check_pruned(const onnx::ModelProto& model) {
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    std::string why = e.what();  // several lines: keep their words on one
    std::replace_if(
        why.begin(), why.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
    why.erase(std::unique(why.begin(), why.end(), [](char a, char b) { return a == ' ' && b == ' '; }), why.end());
    throw Error(ErrorCode::kUnsupported, "the pruned model fails the ONNX checker: " + why);
  }
}

}  // namespace

PruneResult prune(const std::string& onnx_path, const std::string& output, const PruneOptions& o) {
  if (!(o.quantile > 0 && o.quantile <= 1))
    throw Error(ErrorCode::kBadArgument, "quantile: " + std::to_string(o.quantile) + " is not in (0, 1]");
  refuse_output_onto_inputs(output, "output", {{onnx_path, "the model to prune"}});
  onnx::ModelProto model = read_onnx_proto(onnx_path);
  bool stand_in = false;
  const std::map<std::string, Dims> dims = tracing_dims(declared_inputs_of(model), o.input_dims, stand_in);
  std::vector<LayerCost> before = costs_of(onnx_path, dims, o.max_memory_bytes);
  ChannelSelection selection{o.by_block ? Grouping::kBlock : Grouping::kLayer, o.quantile,
                             instantiation_dims(declared_inputs_of(model), dims, onnx_path), o.max_memory_bytes};
  PruneReport report = select_channels(model, selection);
  if (report.units.empty())
    throw Error(ErrorCode::kUnsupported,
                "'" + onnx_path +
                    "' has no Conv read by a BatchNormalization: nothing to prune (export with the "
                    "BatchNorm layers kept, e.g. torch.onnx.export(..., training=torch.onnx.TrainingMode.PRESERVE))");
  remove_channels(model, report);
  check_pruned(model);
  std::string bytes = model.SerializeAsString();
  write_file_atomic(output, bytes);
  std::vector<LayerCost> after = costs_of(output, dims, o.max_memory_bytes);

  PruneResult r;
  for (const UnitPruning& u : report.units)
    r.units.push_back({u.conv, u.bn, u.bn_scale, u.channels, u.prunable, u.kept_because, u.group, u.bandwidth,
                       u.threshold, u.removed});
  std::map<std::string, const LayerCost*> pruned;
  for (const LayerCost& l : after) pruned[l.name] = &l;
  for (const LayerCost& l : before) {
    const LayerCost* a = pruned.count(l.name) ? pruned[l.name] : nullptr;
    r.layers.push_back({l.name, l.params, a ? a->params : 0, l.flops, a ? a->flops : 0});
  }
  r.params_before = total(before, &LayerCost::params);
  r.params_after = total(after, &LayerCost::params);
  r.flops_before = total(before, &LayerCost::flops);
  r.flops_after = total(after, &LayerCost::flops);
  if (stand_in) {  // FLOPs at a size the user never asked for would mislead
    r.flops_counted = false;
    r.flops_before = r.flops_after = 0;
    for (auto& l : r.layers) l.flops_before = l.flops_after = 0;
  }
  r.bytes_before = read_file(onnx_path).size();
  r.bytes_after = bytes.size();
  return r;
}

}  // namespace teeinfer
