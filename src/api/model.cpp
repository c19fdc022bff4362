// teeinfer::Model (include/teeinfer/teeinfer.h): an ONNX model imported and optimised on
// the host, or a sealed model opened through the trusted loader.
#include <cstring>
#include <fstream>

#include "api/model_impl.h"
#include "common/error.h"
#include "common/sealed_format.h"
#include "host/model_loader.h"
#include "host/onnx_import.h"

namespace teeinfer {
namespace {

std::vector<TensorInfo> infos(const Graph& g, const std::vector<ValueId>& ids) {
  std::vector<TensorInfo> out;
  for (ValueId v : ids) out.push_back({g.value(v).name, g.value(v).dtype, g.value(v).dims});
  return out;
}

SealedInfo info_of(const SealedHeader& h) {
  return {h.format_version, h.model_id, h.model_version, h.kek_id, h.file_bytes, h.manifest_bytes, h.chunk_count};
}

std::shared_ptr<Model::Impl> import_onnx_model(OnnxModel& onnx, const std::string& path, const OpenOptions& o) {
  auto m = std::make_shared<Model::Impl>();
  m->path = path;
  m->options = o;
  std::map<std::string, Dims> dims;
  for (const auto& [name, declared] : onnx.declared_inputs()) {
    m->declared_inputs.push_back({name, DType::kF32, declared});
    auto given = o.input_dims.find(name);
    dims[name] = given != o.input_dims.end() ? given->second : resolve_input_dims(name, declared);
  }
  for (const auto& [name, _] : o.input_dims)
    if (!dims.count(name)) throw Error(ErrorCode::kBadArgument, "'" + path + "' has no input named '" + name + "'");
  PassStats passes;
  m->graph = std::make_shared<const Graph>(load_onnx_model(onnx, dims, &passes, o.max_memory_bytes));
  m->outputs = infos(*m->graph, m->graph->outputs);
  m->description = "ONNX, " + std::to_string(passes.batchnorms_folded) + " BatchNorm folded, " +
                   std::to_string(passes.activations_fused) + " activations and " +
                   std::to_string(passes.residual_adds_fused) + " residual adds fused";
  return m;
}

}  // namespace

OpenedSealedModel open_sealed(const std::string& path, KeyProvider& keys, const OpenOptions& options) {
  SealedLoadOptions pin;
  pin.min_version = options.min_version;
  pin.expected_model_id = options.model_id;
  OpenedSealedModel m;
  m.host = std::make_unique<FileHost>(path);
  m.model = std::make_unique<SealedModel>(*m.host, keys, pin);
  return m;
}

bool is_sealed_model(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char magic[8] = {};
  return f.read(magic, 8) && std::memcmp(magic, kSealedMagic, 8) == 0;
}

SealedInfo read_sealed_info(const std::string& path) {
  FileHost host(path);
  uint8_t header[kHeaderBytes] = {};
  if (host.model_bytes() >= kHeaderBytes && !host.read_model(0, header, kHeaderBytes))
    throw Error(ErrorCode::kIo, "cannot read the header of '" + path + "'");
  return info_of(decode_header(header, host.model_bytes()));
}

Model Model::open(const std::string& path, KeyProvider* keys, const OpenOptions& options) {
  if (!is_sealed_model(path)) {
    if (options.model_id)
      throw Error(ErrorCode::kBadArgument, "a model id pins a sealed model; '" + path + "' is not one (pack it first)");
    OnnxModel onnx = OnnxModel::open(path);
    return Model(import_onnx_model(onnx, path, options));
  }
  if (!keys) throw Error(ErrorCode::kBadArgument, "'" + path + "' is a sealed model: it needs its key");
  for (const auto& [name, _] : options.input_dims)
    throw Error(ErrorCode::kBadArgument,
                "the dims of input '" + name + "' were fixed when '" + path + "' was packed; they cannot change");
  auto m = std::make_shared<Impl>();
  m->path = path;
  m->keys = keys;
  m->options = options;
  m->sealed = open_sealed(path, *keys, options);
  const Graph& g = m->sealed.model->graph();
  m->declared_inputs = infos(g, g.inputs);
  m->outputs = infos(g, g.outputs);
  m->sealed_info = info_of(m->sealed.model->header());
  m->description = "sealed, version " + std::to_string(m->sealed_info.model_version) + ", " +
                   std::to_string(m->sealed_info.chunks) + " chunks";
  return Model(std::move(m));
}

Model Model::from_onnx(std::string_view bytes, const std::string& name, const OpenOptions& options) {
  OnnxModel onnx = OnnxModel::from_bytes(bytes, name);
  return Model(import_onnx_model(onnx, name, options));
}

bool Model::sealed() const {
  return impl_->sealed.model != nullptr;
}
const std::vector<TensorInfo>& Model::inputs() const {
  return impl_->declared_inputs;
}
const std::vector<TensorInfo>& Model::outputs() const {
  return impl_->outputs;
}
const std::string& Model::description() const {
  return impl_->description;
}
const SealedInfo& Model::sealed_info() const {
  if (!sealed()) throw Error(ErrorCode::kBadArgument, "'" + impl_->path + "' is not a sealed model");
  return impl_->sealed_info;
}
size_t Model::node_count() const {
  return impl_->g().nodes.size();
}
uint64_t Model::weight_bytes() const {
  const Graph& g = impl_->g();
  uint64_t total = 0;
  for (const Value& v : g.values)
    if (v.is_constant) total += byte_size(v.dtype, v.dims, v.name);
  return total;
}

}  // namespace teeinfer
