// teeinfer::pack (include/teeinfer/teeinfer.h): an ONNX model optimised, optionally
// quantized to int8 (calibrated), clustered and compressed, then sealed with a key.
#include <algorithm>

#include "api/model_impl.h"
#include "common/error.h"
#include "common/sealed_format.h"
#include "common/weight_codec.h"
#include "host/calibration.h"
#include "host/cluster_weights.h"
#include "host/file_io.h"
#include "host/model_loader.h"
#include "host/packer.h"
#include "host/quantize_weights.h"
#include "teeinfer/teeinfer.h"

namespace teeinfer {
namespace {

void check_options(const PackOptions& o) {
  if (!o.calibration.empty() && o.quantize == Quantize::kNone)
    throw Error(ErrorCode::kBadArgument, "PackOptions.calibration needs int8 weights (PackOptions.quantize fc or all)");
  if (o.cluster != 0 && (o.cluster < 2 || o.cluster > 255))
    throw Error(ErrorCode::kBadArgument, "PackOptions.cluster: " + std::to_string(o.cluster) + " is not in 2..255");
  if (o.cluster != 0 && o.quantize == Quantize::kNone)
    throw Error(ErrorCode::kBadArgument, "clustering snaps int8 weights: it needs quantize fc or all");
  if (o.calibration_samples < 1)
    throw Error(ErrorCode::kBadArgument, "calibration samples: " + std::to_string(o.calibration_samples));
}

SealOptions seal_options(const PackOptions& o) {
  SealOptions s;
  s.model_version = o.model_version;
  s.model_id = o.model_id;
  s.chunk_bytes = o.chunk_bytes;
  s.auto_codec = o.compression == Compression::kAuto;
  switch (o.compression) {
    case Compression::kNone:
    case Compression::kAuto:
      s.codec = Codec::kNone;
      break;
    case Compression::kZstd:
      s.codec = Codec::kZstd;
      break;
    case Compression::kLz4:
      s.codec = Codec::kLz4;
      break;
    case Compression::kPalette4:
      s.codec = Codec::kPalette4;
      break;
  }
  s.progress = o.progress;
  return s;
}

}  // namespace

namespace {

// The same activations (by name) in another instantiation of the model: calibration
// ranges measured on the first shape profile serve every profile.
std::map<ValueId, ValueRange> ranges_in(const Graph& measured, const std::map<ValueId, ValueRange>& ranges,
                                        const Graph& other) {
  std::map<std::string, ValueRange> by_name;
  for (const auto& [v, r] : ranges) by_name[measured.value(v).name] = r;
  std::map<ValueId, ValueRange> out;
  for (size_t v = 0; v < other.values.size(); ++v)
    if (auto it = by_name.find(other.values[v].name); it != by_name.end()) out[static_cast<ValueId>(v)] = it->second;
  return out;
}

std::vector<std::map<std::string, Dims>> profiles_of(const PackOptions& o) {
  if (o.shape_profiles.empty()) return {o.input_dims};
  if (!o.input_dims.empty())
    throw Error(ErrorCode::kBadArgument, "PackOptions: give input_dims or shape_profiles, not both");
  if (o.shape_profiles.size() > kMaxProfiles)
    throw Error(ErrorCode::kBadArgument, "PackOptions.shape_profiles: " + std::to_string(o.shape_profiles.size()) +
                                             " profiles; a sealed model holds at most " + std::to_string(kMaxProfiles));
  return o.shape_profiles;
}

}  // namespace

PackResult pack(const std::string& onnx_path, const std::string& output, const KeyFile& key, const PackOptions& o) {
  check_options(o);
  refuse_output_onto_inputs(output, "output",
                            {{onnx_path, "the model to pack"}, {o.calibration, "the calibration data"}});
  SealOptions seal = seal_options(o);
  OnnxModel model = OnnxModel::open(onnx_path);
  std::map<std::string, Value> bound = bound_values(o.input_values, onnx_input_infos(model), onnx_path);
  for (const Tensor& t : o.input_values) seal.bound_inputs.push_back({t.name, t.dtype, t.dims, t.bytes});
  std::vector<Graph> graphs;
  std::vector<std::map<std::string, Dims>> instantiated;
  PassStats passes;
  for (const auto& given : profiles_of(o)) {
    std::map<std::string, Dims> dims = instantiation_dims(model.declared_inputs(), given, onnx_path);
    if (std::find(instantiated.begin(), instantiated.end(), dims) != instantiated.end())
      throw Error(ErrorCode::kBadArgument, "shape profiles: two profiles have the same input dims");
    instantiated.push_back(dims);
    passes = {};
    for (const auto& b : bound) dims.erase(b.first);  // (bound: not instantiated as inputs)
    graphs.push_back(load_onnx_model(model, dims, &passes, o.max_memory_bytes, bound));
  }
  std::map<ValueId, ValueRange> ranges;  // measured on the float32 model, before quantizing
  if (!o.calibration.empty()) {
    const Graph& g = graphs.front();
    if (g.inputs.size() != 1) throw Error(ErrorCode::kBadArgument, "calibration: the model must have one input");
    ranges =
        measure_input_ranges(g, load_calibration_set(o.calibration, g.value(g.inputs[0]).dims, o.calibration_samples));
  }
  PackResult r;
  for (Graph& g : graphs) {
    if (o.quantize != Quantize::kNone) {
      QuantizeCounts q =
          quantize_weights(g, o.quantize == Quantize::kAll ? QuantizeTarget::kAll : QuantizeTarget::kFullyConnected);
      if (q.total() == 0)
        throw Error(
            ErrorCode::kBadArgument,
            "'" + onnx_path + "' has no " +
                (o.quantize == Quantize::kFullyConnected ? "fully-connected layer" : "Conv or fully-connected layer") +
                " with constant float32 weights to quantize");
      r.quantized_fc = static_cast<uint32_t>(q.fully_connected);
      r.quantized_conv = static_cast<uint32_t>(q.conv);
    }
    if (!ranges.empty()) r.full_int8 = static_cast<uint32_t>(set_input_scales(g, ranges_in(graphs.front(), ranges, g)));
    if (o.cluster > 0) cluster_int8_weights(g, o.cluster, o.cluster_all);
  }
  std::vector<const Graph*> profiles;
  for (const Graph& g : graphs) profiles.push_back(&g);
  PackStats s = pack_model(profiles, key.key(), output, seal);
  r.profiles = static_cast<uint32_t>(graphs.size());
  r.file_bytes = s.file_bytes;
  r.weight_bytes = s.weight_bytes;
  r.stored_weight_bytes = s.stored_weight_bytes;
  r.tensors = s.tensors;
  r.chunks = s.chunks;
  r.compressed_tensors = s.compressed_tensors;
  r.model_id = s.model_id;
  r.description = "ONNX, " + describe(passes);
  return r;
}

}  // namespace teeinfer
