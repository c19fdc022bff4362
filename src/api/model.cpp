// teeinfer::Model (include/teeinfer/teeinfer.h): an ONNX model parsed on the host, or a
// sealed model opened through the trusted loader.
#include <algorithm>
#include <cstring>
#include <fstream>

#include "api/model_impl.h"
#include "common/error.h"
#include "common/sealed_format.h"
#include "host/model_loader.h"
#include "host/onnx_tensor.h"

namespace teeinfer {
namespace {

// A bound input's values for messages: "16000", or "[1, 2, 3]" (integers and bools).
std::string value_text(const Tensor& t) {
  if (t.bytes.size() != static_cast<size_t>(t.elements()) * dtype_size(t.dtype)) return "(malformed)";
  std::string out;
  for (int64_t i = 0; i < t.elements(); ++i) {
    int64_t v = 0;
    const uint8_t* p = t.bytes.data() + static_cast<size_t>(i) * dtype_size(t.dtype);
    switch (t.dtype) {
      case DType::kI64:
        std::memcpy(&v, p, 8);
        break;
      case DType::kI32: {
        int32_t x;
        std::memcpy(&x, p, 4);
        v = x;
        break;
      }
      case DType::kU8:
      case DType::kBool:
        v = *p;
        break;
      case DType::kS8:
        v = static_cast<int8_t>(*p);
        break;
      case DType::kF32:
        return "(float)";
    }
    out += (i ? ", " : "") + std::to_string(v);
  }
  return t.elements() == 1 ? out : "[" + out + "]";
}

}  // namespace

namespace {

SealedInfo info_of(const SealedHeader& h) {
  return {h.format_version, h.model_id, h.model_version, h.kek_id, h.file_bytes, h.manifest_bytes, h.chunk_count};
}

// An ONNX graph output as declared: dims -1 where the file gives none.
TensorInfo declared_output(const onnx::ValueInfoProto& out) {
  TensorInfo t{out.name(), DType::kF32, {}};
  const auto& type = out.type().tensor_type();
  try {
    if (type.has_elem_type()) t.dtype = dtype_from_onnx(type.elem_type(), out.name());
  } catch (const Error&) {  // a dtype teeinfer does not compute in: reported when instantiated
  }
  for (const auto& dim : type.shape().dim()) t.dims.push_back(dim.has_dim_value() ? dim.dim_value() : -1);
  return t;
}

// Dims as declared across profiles: -1 where they differ.
std::vector<TensorInfo> merged(const std::vector<Model::ShapeProfile>& profiles, bool outputs) {
  std::vector<TensorInfo> all = outputs ? profiles[0].outputs : profiles[0].inputs;
  for (const Model::ShapeProfile& p : profiles) {
    const std::vector<TensorInfo>& these = outputs ? p.outputs : p.inputs;
    for (size_t i = 0; i < all.size() && i < these.size(); ++i)
      for (size_t d = 0; d < all[i].dims.size() && d < these[i].dims.size(); ++d)
        if (all[i].dims[d] != these[i].dims[d]) all[i].dims[d] = -1;
  }
  return all;
}

std::string profile_text(const Model::ShapeProfile& p) {
  std::string s;
  for (const TensorInfo& t : p.inputs) s += (s.empty() ? "" : " ") + t.name + " " + to_string(t.dims);
  return s;
}

std::shared_ptr<Model::Impl> onnx_impl(std::shared_ptr<OnnxModel> onnx, const std::string& path, const OpenOptions& o) {
  auto m = std::make_shared<Model::Impl>();
  m->path = path;
  m->options = o;
  m->inputs = onnx_input_infos(*onnx);
  for (const auto& out : onnx->proto().graph().output()) m->outputs.push_back(declared_output(out));
  m->description = "ONNX, " + std::to_string(onnx->proto().graph().node_size()) + " nodes";
  m->onnx = std::move(onnx);
  return m;
}

}  // namespace

std::vector<TensorInfo> tensor_infos(const Graph& g, const std::vector<ValueId>& ids) {
  std::vector<TensorInfo> out;
  for (ValueId v : ids) out.push_back({g.value(v).name, g.value(v).dtype, g.value(v).dims});
  return out;
}

OpenedSealedModel open_sealed(const std::string& path, KeyProvider& keys, const OpenOptions& options) {
  SealedLoadOptions pin;
  pin.min_version = options.min_version;
  pin.expected_model_id = options.model_id;
  OpenedSealedModel m;
  m.host = std::make_unique<FileHost>(path);
  m.model = std::make_unique<SealedModel>(*m.host, keys, pin);
  return m;
}

std::vector<TensorInfo> onnx_input_infos(const OnnxModel& onnx) {
  std::vector<TensorInfo> inputs;
  for (const auto& [name, declared] : onnx.declared_inputs()) inputs.push_back({name, DType::kF32, declared});
  for (const auto& in : onnx.proto().graph().input())  // the dtypes (declared_inputs skips initializers)
    for (TensorInfo& t : inputs)
      if (t.name == in.name() && in.type().tensor_type().has_elem_type()) try {
          t.dtype = dtype_from_onnx(in.type().tensor_type().elem_type(), in.name());
        } catch (const Error&) {  // a dtype teeinfer does not take: reported when instantiated
        }
  return inputs;
}

std::map<std::string, Value> bound_values(const std::vector<Tensor>& values, const std::vector<TensorInfo>& inputs,
                                          const std::string& source) {
  std::map<std::string, Value> bound;
  for (const Tensor& t : values) {
    auto in = std::find_if(inputs.begin(), inputs.end(), [&](const TensorInfo& i) { return i.name == t.name; });
    if (in == inputs.end())
      throw Error(ErrorCode::kBadArgument, "input_values: '" + source + "' has no input named '" + t.name + "'");
    if (t.dtype != in->dtype)
      throw Error(ErrorCode::kBadArgument, "input_values: input '" + t.name + "' is " + dtype_name(in->dtype) +
                                               ", the value given is " + dtype_name(t.dtype));
    BoundInput b{t.name, t.dtype, t.dims, t.bytes};
    check_bound_input(b);  // integer or bool, 1 to 64 values, bytes matching the dims
    if (bound.count(t.name)) throw Error(ErrorCode::kBadArgument, "input_values: '" + t.name + "' is bound twice");
    bound[t.name] = Value{t.name, t.dtype, t.dims, true, t.bytes};
  }
  return bound;
}

void check_bound_input_given(const Tensor& bound, const Tensor& given) {
  if (given.dtype != bound.dtype || given.dims != bound.dims || given.bytes != bound.bytes)
    throw Error(ErrorCode::kBadInput, "input '" + given.name + "' is bound to " + dtype_name(bound.dtype) + " " +
                                          to_string(bound.dims) + " " + value_text(bound) +
                                          " in this model (its value was fixed when it was packed or the session "
                                          "created); got " +
                                          dtype_name(given.dtype) + " " + to_string(given.dims) +
                                          (given.dtype == bound.dtype ? " " + value_text(given) : ""));
}

std::shared_ptr<const Graph> instantiate(const Model::Impl& m, const std::map<std::string, Dims>& input_dims,
                                         std::string* description, const std::map<std::string, Value>& bound) {
  std::map<std::string, Dims> dims = instantiation_dims(m.onnx->declared_inputs(), input_dims, m.path);
  PassStats passes;
  auto g = std::make_shared<const Graph>(load_onnx_model(*m.onnx, dims, &passes, m.options.max_memory_bytes, bound));
  if (description) *description = "ONNX, " + describe(passes);
  return g;
}

size_t choose_profile(const Model::Impl& m, const std::map<std::string, Dims>& input_dims) {
  std::map<std::string, Dims> given = input_dims;
  if (auto only = given.find(""); only != given.end()) {
    if (m.inputs.size() != 1)
      throw Error(ErrorCode::kBadArgument, "'" + m.path + "' has " + std::to_string(m.inputs.size()) +
                                               " inputs: name the one whose dims are given");
    Dims d = only->second;
    given.erase(only);
    given[m.inputs[0].name] = d;
  }
  for (const auto& entry : given) {
    const std::string& name = entry.first;  // (clang 14 cannot capture a structured binding)
    if (std::none_of(m.inputs.begin(), m.inputs.end(), [&](const TensorInfo& t) { return t.name == name; }))
      throw Error(ErrorCode::kBadArgument, "'" + m.path + "' has no input named '" + name + "'");
  }
  for (size_t k = 0; k < m.profiles.size(); ++k) {
    bool all = true;
    for (const TensorInfo& t : m.profiles[k].inputs)
      if (auto it = given.find(t.name); it != given.end() && it->second != t.dims) all = false;
    if (all) return k;
  }
  std::string wanted, packed;
  for (const auto& [name, dims] : given) wanted += (wanted.empty() ? "" : ", ") + name + " " + to_string(dims);
  for (const auto& p : m.profiles) packed += (packed.empty() ? "" : "; ") + profile_text(p);
  throw Error(ErrorCode::kBadInput, "'" + m.path + "' was packed for no input shape " + wanted +
                                        "; its shape profiles are: " + packed +
                                        " (pack it again with --input-shape listing the shapes you need)");
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
      throw Error(ErrorCode::kBadArgument,
                  "OpenOptions.model_id pins a sealed model; '" + path + "' is not one (pack it first)");
    auto onnx = std::make_shared<OnnxModel>(OnnxModel::open(path));
    return Model(onnx_impl(std::move(onnx), path, options));
  }
  if (!keys) throw Error(ErrorCode::kBadArgument, "'" + path + "' is a sealed model: it needs its key");
  auto m = std::make_shared<Impl>();
  m->path = path;
  m->keys = keys;
  m->options = options;
  m->sealed = open_sealed(path, *keys, options);
  for (const teeinfer::ShapeProfile& p : m->sealed.model->profiles())
    m->profiles.push_back({tensor_infos(p.graph, p.graph.inputs), tensor_infos(p.graph, p.graph.outputs)});
  m->inputs = merged(m->profiles, false);
  m->outputs = merged(m->profiles, true);
  for (const BoundInput& b : m->sealed.model->bound_inputs())
    m->bound_inputs.push_back(Tensor{b.name, b.dtype, b.dims, b.data});
  m->sealed_info = info_of(m->sealed.model->header());
  m->sealed_info.manifest_sha256 = m->sealed.model->manifest_sha256();
  m->description = "sealed, version " + std::to_string(m->sealed_info.model_version) + ", " +
                   std::to_string(m->sealed_info.chunks) + " chunks";
  if (m->profiles.size() > 1) m->description += ", " + std::to_string(m->profiles.size()) + " shape profiles";
  return Model(std::move(m));
}

Model Model::from_onnx(std::string_view bytes, const std::string& name, const OpenOptions& options) {
  if (options.model_id)
    throw Error(ErrorCode::kBadArgument, "OpenOptions.model_id pins a sealed model; '" + name + "' is ONNX");
  auto onnx = std::make_shared<OnnxModel>(OnnxModel::from_bytes(bytes, name));
  return Model(onnx_impl(std::move(onnx), name, options));
}

const std::vector<Tensor>& Model::bound_inputs() const {
  return impl_->bound_inputs;
}

bool Model::sealed() const {
  return impl_->sealed.model != nullptr;
}
const std::vector<TensorInfo>& Model::inputs() const {
  return impl_->inputs;
}
const std::vector<TensorInfo>& Model::outputs() const {
  return impl_->outputs;
}
const std::string& Model::description() const {
  return impl_->description;
}
const std::vector<Model::ShapeProfile>& Model::shape_profiles() const {
  return impl_->profiles;
}
const SealedInfo& Model::sealed_info() const {
  if (!sealed()) throw Error(ErrorCode::kBadArgument, "'" + impl_->path + "' is not a sealed model");
  return impl_->sealed_info;
}

}  // namespace teeinfer
