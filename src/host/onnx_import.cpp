#include "host/onnx_import.h"

#include <fcntl.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <onnx/onnx_pb.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <set>

#include "common/error.h"
#include "common/shape_inference.h"
#include "host/constant_folder.h"
#include "host/onnx_attrs.h"
#include "host/onnx_ops.h"
#include "host/onnx_tensor.h"

namespace teeinfer {
namespace {

constexpr int kMinOpset = 1, kMaxOpset = 18;

onnx::ModelProto parse_model(std::string_view bytes, const std::string& source) {
  onnx::ModelProto model;
  if (bytes.size() > static_cast<size_t>(INT32_MAX))  // protobuf's limit
    throw Error(ErrorCode::kBadModel, "'" + source + "' is larger than 2 GiB, more than ONNX (protobuf) allows");
  google::protobuf::io::ArrayInputStream raw(bytes.data(), static_cast<int>(bytes.size()));
  google::protobuf::io::CodedInputStream coded(&raw);
  coded.SetTotalBytesLimit(INT32_MAX);
  if (bytes.empty() || !model.ParseFromCodedStream(&coded) || !coded.ConsumedEntireMessage() || !model.has_graph())
    throw Error(ErrorCode::kBadModel, "'" + source + "' is not a valid ONNX model (truncated or corrupt protobuf)");
  return model;
}

int default_opset(const onnx::ModelProto& model, const std::string& source) {
  for (const auto& o : model.opset_import()) {
    if (o.domain().empty() || o.domain() == "ai.onnx") {
      if (o.version() < kMinOpset || o.version() > kMaxOpset)
        throw Error(ErrorCode::kUnsupported, "'" + source + "' uses opset " + std::to_string(o.version()) +
                                                 "; teeinfer supports opsets " + std::to_string(kMinOpset) + "-" +
                                                 std::to_string(kMaxOpset));
      return static_cast<int>(o.version());
    }
  }
  throw Error(ErrorCode::kBadModel, "'" + source + "' declares no default-domain opset");
}

// Symbols of the ONNX graph while importing: a name is either a runtime value of the
// IR graph or a constant not (yet) materialised in it.
class Importer {
 public:
  Importer(const onnx::ModelProto& model, int opset, std::string source, uint64_t memory_limit)
      : model_(model), opset_(opset), source_(std::move(source)), budget_(memory_limit) {}

  Graph run(const ImportOptions& options);

  // Converters, one per ONNX op type converted at run time: the converter column of
  // host/onnx_ops.def and common/eltwise_ops.def (kOnnxOps below).
  using Converter = void (Importer::*)(const onnx::NodeProto&, const OnnxAttrs&);
  void conv(const onnx::NodeProto& n, const OnnxAttrs& a);
  void gemm(const onnx::NodeProto& n, const OnnxAttrs& a);
  void matmul(const onnx::NodeProto& n, const OnnxAttrs& a);
  void batch_normalization(const onnx::NodeProto& n, const OnnxAttrs& a);
  template <EltwiseKind kKind>
  void eltwise(const onnx::NodeProto& n, const OnnxAttrs& a);
  template <EltwiseKind kKind>
  void clip(const onnx::NodeProto& n, const OnnxAttrs& a);
  template <BinaryKind kKind>
  void binary(const onnx::NodeProto& n, const OnnxAttrs& a);
  template <EltwiseKind kKind>
  void pow(const onnx::NodeProto& n, const OnnxAttrs& a);
  template <BinaryKind kKind>
  void variadic(const onnx::NodeProto& n, const OnnxAttrs& a);
  void mean(const onnx::NodeProto& n, const OnnxAttrs& a);
  template <ReduceKind kKind>
  void reduce(const onnx::NodeProto& n, const OnnxAttrs& a);
  void prelu(const onnx::NodeProto& n, const OnnxAttrs& a);
  void max_pool(const onnx::NodeProto& n, const OnnxAttrs& a);
  void average_pool(const onnx::NodeProto& n, const OnnxAttrs& a);
  void global_average_pool(const onnx::NodeProto& n, const OnnxAttrs& a);
  void global_max_pool(const onnx::NodeProto& n, const OnnxAttrs& a);
  void flatten(const onnx::NodeProto& n, const OnnxAttrs& a);
  void reshape(const onnx::NodeProto& n, const OnnxAttrs& a);
  void squeeze(const onnx::NodeProto& n, const OnnxAttrs& a);
  void unsqueeze(const onnx::NodeProto& n, const OnnxAttrs& a);
  void transpose(const onnx::NodeProto& n, const OnnxAttrs& a);
  void concat(const onnx::NodeProto& n, const OnnxAttrs& a);
  void softmax(const onnx::NodeProto& n, const OnnxAttrs& a);
  void cast(const onnx::NodeProto& n, const OnnxAttrs& a);
  void lrn(const onnx::NodeProto& n, const OnnxAttrs& a);
  void pad(const onnx::NodeProto& n, const OnnxAttrs& a);
  void identity(const onnx::NodeProto& n, const OnnxAttrs& a);
  void dropout(const onnx::NodeProto& n, const OnnxAttrs& a);

 private:
  // A constant's bytes move into the graph when a node first reads it at runtime; from
  // then on the graph's value holds them. Aliases (Identity, Dropout) share the constant,
  // so materialisation is keyed on the constant itself.
  struct Sym {
    ValueId id = kNoValue;
    std::shared_ptr<Value> constant;
  };
  const Value* constant_of(const Sym& s) const {
    if (!s.constant) return nullptr;
    auto m = materialized_.find(s.constant.get());
    return m != materialized_.end() ? &g_.value(m->second) : s.constant.get();
  }

  void bind_inputs(const ImportOptions& options);
  // Binds a new name; ONNX graphs are single-assignment, so a name defined twice is an error.
  void define(const std::string& name, Sym s, const std::string& where);
  // A runtime tensor's dims must fit the memory limit and hold at least one element.
  void check_runtime_tensor(const Dims& dims, const std::string& name, const std::string& where) const;
  ValueId output_value(const std::string& name);
  void convert(const onnx::NodeProto& node);
  void convert_runtime(const onnx::NodeProto& node, const OnnxAttrs& a);

  const Sym& sym(const std::string& name, const OnnxAttrs& a) const;
  const Value* constant(const onnx::NodeProto& node, int i) const;
  const Dims& dims(const onnx::NodeProto& node, int i, const OnnxAttrs& a) const;
  ValueId runtime(const onnx::NodeProto& node, int i, const OnnxAttrs& a);
  ValueId optional_runtime(const onnx::NodeProto& node, int i, const OnnxAttrs& a);
  const Value& required_constant(const onnx::NodeProto& node, int i, const OnnxAttrs& a, const char* role) const;
  // Adds the node; its op is the one whose parameters `params` holds.
  void emit(const onnx::NodeProto& node, std::vector<ValueId> inputs, OpParams params,
            const Dims* reshape_to = nullptr);
  // The output names the input's value (or constant): no node.
  void alias(const onnx::NodeProto& n, const OnnxAttrs& a);
  // Input i as a float32 runtime value: a constant of another numeric type is converted
  // (a Pow exponent, a Max operand), a runtime one must already be float32 (emit checks).
  ValueId float_operand(const onnx::NodeProto& node, int i, const OnnxAttrs& a);
  // One node of several that `node` becomes: the last defines node's output, the others a
  // value of their own named after it ("<output>#<part>"). Returns the node's output.
  ValueId emit_part(const onnx::NodeProto& node, bool last, int part, std::vector<ValueId> inputs, OpParams params);
  // A float32 scalar constant of the graph.
  ValueId scalar_constant(const std::string& name, float value);
  // Binary `kind` folded over `operands` left to right; the last node defines node's output.
  void binary_chain(const onnx::NodeProto& node, BinaryKind kind, const std::vector<ValueId>& operands,
                    bool then_more = false);

  void pool(const onnx::NodeProto& n, const OnnxAttrs& a, PoolKind kind, bool global);
  void squeeze_or_unsqueeze(const onnx::NodeProto& n, const OnnxAttrs& a, bool squeeze);
  void reshape_like(const onnx::NodeProto& n, const OnnxAttrs& a, const Dims& to);

  const onnx::ModelProto& model_;
  int opset_;
  std::string source_;
  MemoryBudget budget_;
  Graph g_;
  std::map<std::string, Sym> syms_;
  std::map<const Value*, ValueId> materialized_;
};

const Importer::Sym& Importer::sym(const std::string& name, const OnnxAttrs& a) const {
  auto it = syms_.find(name);
  if (it == syms_.end()) throw Error(ErrorCode::kBadModel, a.where() + ": input '" + name + "' is never defined");
  return it->second;
}

void Importer::define(const std::string& name, Sym s, const std::string& where) {
  if (name.empty()) return;  // an optional output left out
  if (!syms_.emplace(name, std::move(s)).second)
    throw Error(ErrorCode::kBadModel, where + ": '" + name + "' is defined twice (ONNX graphs assign each name once)");
}

void Importer::check_runtime_tensor(const Dims& dims, const std::string& name, const std::string& where) const {
  if (element_count(dims, name) == 0)
    throw Error(ErrorCode::kUnsupported, where + ": tensor '" + name + "' " + dims_to_string(dims) +
                                             " has no elements; teeinfer does not run on empty tensors");
  budget_.check(DType::kF32, dims, name);
}

const Value* Importer::constant(const onnx::NodeProto& node, int i) const {
  if (i >= node.input_size() || node.input(i).empty()) return nullptr;
  auto it = syms_.find(node.input(i));
  return it == syms_.end() ? nullptr : constant_of(it->second);
}

const Dims& Importer::dims(const onnx::NodeProto& node, int i, const OnnxAttrs& a) const {
  if (i >= node.input_size() || node.input(i).empty())
    throw Error(ErrorCode::kBadModel, a.where() + ": missing input " + std::to_string(i));
  const Sym& s = sym(node.input(i), a);
  return s.constant ? s.constant->dims : g_.value(s.id).dims;
}

ValueId Importer::runtime(const onnx::NodeProto& node, int i, const OnnxAttrs& a) {
  if (i >= node.input_size() || node.input(i).empty())
    throw Error(ErrorCode::kBadModel, a.where() + ": missing input " + std::to_string(i));
  Sym& s = syms_[node.input(i)];
  if (s.id == kNoValue && s.constant) {
    if (auto m = materialized_.find(s.constant.get()); m != materialized_.end()) s.id = m->second;
  }
  if (s.id == kNoValue) {
    if (!s.constant) throw Error(ErrorCode::kBadModel, a.where() + ": input '" + node.input(i) + "' is never defined");
    Value v;
    v.name = node.input(i);
    v.dtype = s.constant->dtype;
    v.dims = s.constant->dims;
    v.is_constant = true;
    v.data = std::move(s.constant->data);  // weights are large: move, never copy
    s.id = g_.add_value(std::move(v));
    materialized_[s.constant.get()] = s.id;
  }
  return s.id;
}

ValueId Importer::optional_runtime(const onnx::NodeProto& node, int i, const OnnxAttrs& a) {
  if (i >= node.input_size() || node.input(i).empty()) return kNoValue;
  return runtime(node, i, a);
}

const Value& Importer::required_constant(const onnx::NodeProto& node, int i, const OnnxAttrs& a,
                                         const char* role) const {
  const Value* v = constant(node, i);
  if (!v) throw Error(ErrorCode::kUnsupported, a.where() + ": " + role + " must be a constant (initializer)");
  return *v;
}

void Importer::emit(const onnx::NodeProto& node, std::vector<ValueId> inputs, OpParams params, const Dims* reshape_to) {
  if (node.output_size() < 1 || node.output(0).empty())
    throw Error(ErrorCode::kBadModel, node.op_type() + " node '" + node.name() + "' has no output");
  Node n;
  n.name = node.name().empty() ? node.output(0) : node.name();
  n.onnx_op = node.op_type();
  n.op = op_of(params);
  n.inputs = std::move(inputs);
  n.params = std::move(params);
  Value out;
  out.name = node.output(0);
  out.dtype = DType::kF32;
  if (reshape_to) out.dims = *reshape_to;
  ValueId id = g_.add_value(out);
  n.outputs = {id};
  if (!reshape_to)
    g_.value(id).dims = infer_output_dims(g_, n);
  else
    infer_output_dims(g_, n);  // checks the element count
  const std::string where = n.onnx_op + " node '" + n.name + "'";
  check_runtime_tensor(g_.value(id).dims, out.name, where);
  for (ValueId in : n.inputs)
    if (in != kNoValue && g_.value(in).dtype != DType::kF32 && n.op != OpKind::kCast)
      throw Error(ErrorCode::kUnsupported, where + ": input '" + g_.value(in).name + "' is " +
                                               dtype_name(g_.value(in).dtype) + "; runtime tensors must be float32");
  g_.nodes.push_back(std::move(n));
  define(node.output(0), Sym{id, nullptr}, where);
}

// Pads from auto_pad / pads for `spatial` dims of `x`; returns {begin, end}.
// The window parameters are checked first (check_window_params): no zero divisor, no
// overflow in the arithmetic below.
std::pair<Dims, Dims> window_pads(const OnnxAttrs& a, const Dims& x, const Dims& kernel, const Dims& strides,
                                  const Dims& dilations) {
  size_t sp = kernel.size();
  check_window_params(a.where(), x.size() - 2, kernel, strides, dilations, {}, {});
  std::string auto_pad = a.s("auto_pad", "NOTSET");
  Dims begin(sp, 0), end(sp, 0);
  if (auto_pad == "NOTSET") {
    Dims pads = a.ints("pads", Dims(2 * sp, 0));
    if (pads.size() != 2 * sp)
      throw Error(ErrorCode::kBadModel, a.where() + ": pads must have 2 values per spatial dim");
    for (size_t i = 0; i < sp; ++i) begin[i] = pads[i], end[i] = pads[i + sp];
    check_window_params(a.where(), sp, kernel, strides, dilations, begin, end);
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    for (size_t i = 0; i < sp; ++i) {
      int64_t in = x[i + 2], out = (in + strides[i] - 1) / strides[i];
      int64_t total = std::max<int64_t>((out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - in, 0);
      begin[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      end[i] = total - begin[i];
    }
  } else if (auto_pad != "VALID") {
    throw Error(ErrorCode::kBadModel, a.where() + ": unknown auto_pad '" + auto_pad + "'");
  }
  return {begin, end};
}

void Importer::conv(const onnx::NodeProto& n, const OnnxAttrs& a) {
  const Dims& x = dims(n, 0, a);
  const Value& w = required_constant(n, 1, a, "weight");
  if (x.size() < 3 || w.dims.size() != x.size())
    throw Error(ErrorCode::kBadModel, a.where() + ": input " + dims_to_string(x) + " and weight " +
                                          dims_to_string(w.dims) + " ranks do not fit");
  size_t sp = x.size() - 2;
  ConvParams p;
  p.kernel = a.ints("kernel_shape", Dims(w.dims.begin() + 2, w.dims.end()));
  p.strides = a.ints("strides", Dims(sp, 1));
  p.dilations = a.ints("dilations", Dims(sp, 1));
  p.groups = a.i("group", 1);
  std::tie(p.pads_begin, p.pads_end) = window_pads(a, x, p.kernel, p.strides, p.dilations);
  emit(n, {runtime(n, 0, a), runtime(n, 1, a), optional_runtime(n, 2, a)}, p);
}

void Importer::pool(const onnx::NodeProto& n, const OnnxAttrs& a, PoolKind kind, bool global) {
  const Dims& x = dims(n, 0, a);
  if (x.size() < 3) throw Error(ErrorCode::kBadModel, a.where() + ": input must have spatial dims");
  size_t sp = x.size() - 2;
  if (n.output_size() > 1) throw Error(ErrorCode::kUnsupported, a.where() + ": the Indices output is not supported");
  if (a.i("storage_order", 0) != 0) throw Error(ErrorCode::kUnsupported, a.where() + ": storage_order=1");
  PoolParams p;
  p.kind = kind;
  if (global) {
    p.kernel = Dims(x.begin() + 2, x.end());
    p.strides = p.dilations = Dims(sp, 1);
    p.pads_begin = p.pads_end = p.declared_pads_end = Dims(sp, 0);
    emit(n, {runtime(n, 0, a)}, p);
    return;
  }
  p.kernel = a.ints("kernel_shape", {});
  p.strides = a.ints("strides", Dims(sp, 1));
  p.dilations = a.ints("dilations", Dims(sp, 1));
  p.count_include_pad = a.i("count_include_pad", 0) != 0;
  std::tie(p.pads_begin, p.pads_end) = window_pads(a, x, p.kernel, p.strides, p.dilations);
  p.declared_pads_end = p.pads_end;
  if (a.i("ceil_mode", 0) != 0) {
    // Grow the end padding so floor division yields the ceil-mode output size; a last
    // window must still start inside the input or left padding (ONNX/PyTorch rule).
    for (size_t i = 0; i < sp; ++i) {
      int64_t span = (p.kernel[i] - 1) * p.dilations[i] + 1;
      int64_t padded = x[i + 2] + p.pads_begin[i] + p.pads_end[i];
      int64_t out = (padded - span + p.strides[i] - 1) / p.strides[i] + 1;
      if ((out - 1) * p.strides[i] >= x[i + 2] + p.pads_begin[i]) --out;
      p.pads_end[i] = std::max<int64_t>(p.pads_end[i], (out - 1) * p.strides[i] + span - x[i + 2] - p.pads_begin[i]);
    }
  }
  emit(n, {runtime(n, 0, a)}, p);
}

void Importer::reshape_like(const onnx::NodeProto& n, const OnnxAttrs& a, const Dims& to) {
  emit(n, {runtime(n, 0, a)}, ReshapeParams{}, &to);
}

float scalar_or(const Value* v, float fallback) {
  if (!v) return fallback;
  if (v->dtype != DType::kF32 || v->data.size() != 4)
    throw Error(ErrorCode::kBadModel, "'" + v->name + "' must be a float32 scalar");
  float f;
  std::memcpy(&f, v->data.data(), 4);
  return f;
}

void Importer::gemm(const onnx::NodeProto& n, const OnnxAttrs& a) {
  GemmParams p;
  p.alpha = a.f("alpha", 1.f);
  p.beta = a.f("beta", 1.f);
  p.trans_a = a.i("transA", 0) != 0;
  p.trans_b = a.i("transB", 0) != 0;
  emit(n, {runtime(n, 0, a), runtime(n, 1, a), optional_runtime(n, 2, a)}, p);
}

void Importer::matmul(const onnx::NodeProto& n, const OnnxAttrs& a) {
  emit(n, {runtime(n, 0, a), runtime(n, 1, a)}, MatMulParams{});
}

void Importer::batch_normalization(const onnx::NodeProto& n, const OnnxAttrs& a) {
  if (a.i("training_mode", 0) != 0 || n.output_size() > 1)
    throw Error(ErrorCode::kUnsupported, a.where() + ": training-mode BatchNormalization");
  if (a.i("spatial", 1) == 0) throw Error(ErrorCode::kUnsupported, a.where() + ": spatial=0 (per-element statistics)");
  for (int i = 1; i <= 4; ++i) required_constant(n, i, a, "scale/bias/mean/var");
  emit(n, {runtime(n, 0, a), runtime(n, 1, a), runtime(n, 2, a), runtime(n, 3, a), runtime(n, 4, a)},
       BatchNormParams{a.f("epsilon", 1e-5f)});
}

// The element-wise function's parameters from its ONNX attributes (common/eltwise_ops.def).
EltwiseParams eltwise_params(EltwiseKind kind, const OnnxAttrs& a) {
  const EltwiseInfo& info = eltwise_info(kind);
  auto value = [&a](const EltwiseAttribute& attr) {
    return attr.onnx_name ? a.f(attr.onnx_name, attr.default_value) : attr.default_value;
  };
  return EltwiseParams{kind, value(info.alpha), value(info.beta)};
}

template <EltwiseKind kKind>
void Importer::eltwise(const onnx::NodeProto& n, const OnnxAttrs& a) {
  emit(n, {runtime(n, 0, a)}, eltwise_params(kKind, a));
}

// Clip's bounds are attributes before opset 11, optional constant inputs from then on.
// Bounds computed at run time make it Max(x, min) then Min(., max), Binary nodes.
template <EltwiseKind kKind>
void Importer::clip(const onnx::NodeProto& n, const OnnxAttrs& a) {
  if (opset_ < 11) return eltwise<kKind>(n, a);
  const EltwiseInfo& info = eltwise_info(kKind);
  bool has_min = n.input_size() > 1 && !n.input(1).empty(), has_max = n.input_size() > 2 && !n.input(2).empty();
  if ((has_min && !constant(n, 1)) || (has_max && !constant(n, 2))) {
    for (int i = 1; i <= 2; ++i)
      if (i < n.input_size() && !n.input(i).empty() && !dims(n, i, a).empty() && dims(n, i, a) != Dims{1})
        throw Error(ErrorCode::kBadModel,
                    a.where() + ": min and max must be scalars, got " + dims_to_string(dims(n, i, a)));
    ValueId x = runtime(n, 0, a);
    if (has_min) x = emit_part(n, !has_max, 1, {x, float_operand(n, 1, a)}, BinaryParams{BinaryKind::kMax});
    if (has_max) emit_part(n, true, 2, {x, float_operand(n, 2, a)}, BinaryParams{BinaryKind::kMin});
    return;
  }
  EltwiseParams p{kKind, info.alpha.default_value, info.beta.default_value};
  if (has_min) p.alpha = scalar_or(&required_constant(n, 1, a, "min"), p.alpha);
  if (has_max) p.beta = scalar_or(&required_constant(n, 2, a, "max"), p.beta);
  emit(n, {runtime(n, 0, a)}, p);
}

ValueId Importer::float_operand(const onnx::NodeProto& node, int i, const OnnxAttrs& a) {
  const Value* c = constant(node, i);
  if (!c || c->dtype == DType::kF32) return runtime(node, i, a);
  Value v = convert_constant(*c, DType::kF32, node.input(i) + "#f32", budget_);
  v.is_constant = true;
  return g_.add_value(std::move(v));
}

ValueId Importer::emit_part(const onnx::NodeProto& node, bool last, int part, std::vector<ValueId> inputs,
                            OpParams params) {
  if (node.output_size() < 1 || node.output(0).empty())
    throw Error(ErrorCode::kBadModel, node.op_type() + " node '" + node.name() + "' has no output");
  if (last) {
    emit(node, std::move(inputs), std::move(params));
  } else {
    onnx::NodeProto step = node;
    std::string suffix = "#" + std::to_string(part);
    step.set_name((node.name().empty() ? node.output(0) : node.name()) + suffix);
    step.set_output(0, node.output(0) + suffix);
    emit(step, std::move(inputs), std::move(params));
  }
  return g_.nodes.back().outputs[0];
}

ValueId Importer::scalar_constant(const std::string& name, float value) {
  Value v;
  v.name = name;
  v.dtype = DType::kF32;
  v.is_constant = true;
  v.data.assign(budget_.allocate(DType::kF32, v.dims, name), 0);
  std::memcpy(v.data.data(), &value, sizeof value);
  return g_.add_value(std::move(v));
}

void Importer::binary_chain(const onnx::NodeProto& node, BinaryKind kind, const std::vector<ValueId>& operands,
                            bool then_more) {
  ValueId acc = operands.at(0);
  for (size_t i = 1; i < operands.size(); ++i)
    acc = emit_part(node, !then_more && i + 1 == operands.size(), static_cast<int>(i), {acc, operands[i]},
                    BinaryParams{kind});
}

// A constant scalar exponent (of any numeric type) is the element-wise function Pow (x ^
// beta, a oneDNN eltwise, fusable as a post-op); any other exponent a broadcasting Binary Pow.
template <EltwiseKind kKind>
void Importer::pow(const onnx::NodeProto& n, const OnnxAttrs& a) {
  const Value* e = constant(n, 1);
  const Dims& x = dims(n, 0, a);
  if (e && element_count(e->dims, e->name) == 1 && e->dims.size() <= x.size()) {
    float exponent = scalar_or(e->dtype == DType::kF32 ? e : nullptr, 0.f);
    if (e->dtype != DType::kF32) {
      Value f = convert_constant(*e, DType::kF32, e->name, budget_);
      exponent = scalar_or(&f, 0.f);
    }
    emit(n, {runtime(n, 0, a)}, EltwiseParams{kKind, 0.f, exponent});
    return;
  }
  emit(n, {runtime(n, 0, a), float_operand(n, 1, a)}, BinaryParams{BinaryKind::kPow});
}

template <BinaryKind kKind>
void Importer::binary(const onnx::NodeProto& n, const OnnxAttrs& a) {
  emit(n, {runtime(n, 0, a), runtime(n, 1, a)}, BinaryParams{kKind});
}

// Max, Min, Sum of one or more operands (numpy broadcasting): a chain of Binary nodes; of
// one, an alias of it.
template <BinaryKind kKind>
void Importer::variadic(const onnx::NodeProto& n, const OnnxAttrs& a) {
  if (n.input_size() < 1) throw Error(ErrorCode::kBadModel, a.where() + ": needs at least one input");
  if (n.input_size() == 1) return alias(n, a);
  std::vector<ValueId> operands;
  for (int i = 0; i < n.input_size(); ++i) operands.push_back(float_operand(n, i, a));
  binary_chain(n, kKind, operands);
}

// Mean of one or more operands: their sum (a chain of Binary Adds) times 1/count.
void Importer::mean(const onnx::NodeProto& n, const OnnxAttrs& a) {
  if (n.input_size() < 1) throw Error(ErrorCode::kBadModel, a.where() + ": needs at least one input");
  if (n.input_size() == 1) return alias(n, a);
  std::vector<ValueId> operands;
  for (int i = 0; i < n.input_size(); ++i) operands.push_back(float_operand(n, i, a));
  binary_chain(n, BinaryKind::kAdd, operands, true);
  ValueId sum = g_.nodes.back().outputs[0];
  ValueId scale = scalar_constant(n.output_size() > 0 ? n.output(0) + "#scale" : "mean#scale",
                                  1.f / static_cast<float>(n.input_size()));
  emit(n, {sum, scale}, BinaryParams{BinaryKind::kMul});
}

// ReduceSum/Mean/...: axes an attribute before opset 18 (ReduceSum: 13), then an optional
// constant input; none (or an empty list) means all axes, unless noop_with_empty_axes.
template <ReduceKind kKind>
void Importer::reduce(const onnx::NodeProto& n, const OnnxAttrs& a) {
  const Dims& x = dims(n, 0, a);
  const int64_t rank = static_cast<int64_t>(x.size());
  const bool axes_input = opset_ >= 18 || (kKind == ReduceKind::kSum && opset_ >= 13);
  std::vector<int64_t> axes;
  if (axes_input) {
    if (n.input_size() > 1 && !n.input(1).empty())
      axes = int_list(required_constant(n, 1, a, "axes"), kMaxRank, a.where(), "axes");
  } else {
    Dims d = a.ints("axes", {});
    axes.assign(d.begin(), d.end());
  }
  if (axes.empty()) {
    if (axes_input && a.i("noop_with_empty_axes", 0) != 0) {
      // ONNX: the input unreduced, each element through the reduction's own function.
      switch (kKind) {
        case ReduceKind::kSum:
        case ReduceKind::kMean:
        case ReduceKind::kMax:
        case ReduceKind::kMin:
        case ReduceKind::kProd:
          return alias(n, a);
        default:
          throw Error(ErrorCode::kUnsupported, a.where() + ": noop_with_empty_axes with empty axes");
      }
    }
    for (int64_t i = 0; i < rank; ++i) axes.push_back(i);
  }
  if (rank == 0) throw Error(ErrorCode::kUnsupported, a.where() + ": reducing a 0-D tensor");
  for (int64_t& axis : axes) axis = normalize_axis(axis, rank, a.where());
  std::sort(axes.begin(), axes.end());
  if (std::adjacent_find(axes.begin(), axes.end()) != axes.end())
    throw Error(ErrorCode::kBadModel, a.where() + ": an axis is listed twice");
  emit(n, {runtime(n, 0, a)}, ReduceParams{kKind, Dims(axes.begin(), axes.end()), a.i("keepdims", 1) != 0});
}

void Importer::prelu(const onnx::NodeProto& n, const OnnxAttrs& a) {
  const Dims& x = dims(n, 0, a);
  const Dims& s = dims(n, 1, a);
  if (opset_ < 7 && s.size() == 1 && x.size() > 2 && s[0] == x[1] && s[0] != 1) {
    // Before opset 7 a slope of C values is per channel (dim 1): {C, 1, ..., 1}.
    const Value& c = required_constant(n, 1, a, "slope (per channel, opset < 7)");
    Value v = convert_constant(c, DType::kF32, n.input(1) + "#per_channel", budget_);
    v.dims = Dims(x.size() - 1, 1);
    v.dims[0] = s[0];
    v.is_constant = true;
    ValueId xv = runtime(n, 0, a);
    emit(n, {xv, g_.add_value(std::move(v))}, PReluParams{});
    return;
  }
  emit(n, {runtime(n, 0, a), float_operand(n, 1, a)}, PReluParams{});
}

void Importer::max_pool(const onnx::NodeProto& n, const OnnxAttrs& a) {
  pool(n, a, PoolKind::kMax, false);
}

void Importer::average_pool(const onnx::NodeProto& n, const OnnxAttrs& a) {
  pool(n, a, PoolKind::kAverage, false);
}

void Importer::global_average_pool(const onnx::NodeProto& n, const OnnxAttrs& a) {
  pool(n, a, PoolKind::kAverage, true);
}

void Importer::global_max_pool(const onnx::NodeProto& n, const OnnxAttrs& a) {
  pool(n, a, PoolKind::kMax, true);
}

void Importer::flatten(const onnx::NodeProto& n, const OnnxAttrs& a) {
  reshape_like(n, a, flatten_dims(dims(n, 0, a), a.i("axis", 1), a.where()));
}

void Importer::reshape(const onnx::NodeProto& n, const OnnxAttrs& a) {
  std::vector<int64_t> shape;
  if (opset_ < 5) {  // the target shape was an attribute before opset 5
    Dims d = a.ints("shape", {});
    shape.assign(d.begin(), d.end());
  } else {
    shape = int_list(required_constant(n, 1, a, "shape"), kMaxRank, a.where(), "shape");
  }
  reshape_like(n, a, reshape_dims(dims(n, 0, a), shape, a.i("allowzero", 0) != 0, a.where()));
}

void Importer::squeeze_or_unsqueeze(const onnx::NodeProto& n, const OnnxAttrs& a, bool squeeze) {
  std::vector<int64_t> axes;
  if (opset_ >= 13) {
    if (n.input_size() > 1 && !n.input(1).empty())
      axes = int_list(required_constant(n, 1, a, "axes"), kMaxRank, a.where(), "axes");
  } else {
    Dims d = a.ints("axes", {});
    axes.assign(d.begin(), d.end());
  }
  const Dims& x = dims(n, 0, a);
  reshape_like(n, a, squeeze ? squeeze_dims(x, axes, a.where()) : unsqueeze_dims(x, axes, a.where()));
}

void Importer::squeeze(const onnx::NodeProto& n, const OnnxAttrs& a) {
  squeeze_or_unsqueeze(n, a, true);
}

void Importer::unsqueeze(const onnx::NodeProto& n, const OnnxAttrs& a) {
  squeeze_or_unsqueeze(n, a, false);
}

void Importer::transpose(const onnx::NodeProto& n, const OnnxAttrs& a) {
  int64_t rank = static_cast<int64_t>(dims(n, 0, a).size());
  TransposeParams p{a.ints("perm", {})};
  if (p.perm.empty())
    for (int64_t i = rank - 1; i >= 0; --i) p.perm.push_back(i);
  emit(n, {runtime(n, 0, a)}, p);
}

void Importer::concat(const onnx::NodeProto& n, const OnnxAttrs& a) {
  std::vector<ValueId> ins;
  for (int i = 0; i < n.input_size(); ++i) ins.push_back(runtime(n, i, a));
  int64_t rank = static_cast<int64_t>(dims(n, 0, a).size());
  emit(n, ins, ConcatParams{normalize_axis(a.i("axis", 0), rank, a.where())});
}

void Importer::softmax(const onnx::NodeProto& n, const OnnxAttrs& a) {
  int64_t rank = static_cast<int64_t>(dims(n, 0, a).size());
  SoftmaxParams p;
  p.coerce_2d = opset_ < 13;
  p.axis = normalize_axis(a.i("axis", opset_ < 13 ? 1 : -1), rank, a.where());
  emit(n, {runtime(n, 0, a)}, p);
}

// A runtime Cast (of a constant it is folded): integer and bool graph inputs become
// float32, the one type the kernels compute in; a float32 input is its own result.
void Importer::cast(const onnx::NodeProto& n, const OnnxAttrs& a) {
  DType to = dtype_from_onnx(static_cast<int>(a.i("to", 0)), a.where() + " 'to'");
  if (to != DType::kF32)
    throw Error(ErrorCode::kUnsupported, a.where() + ": Cast to " + dtype_name(to) +
                                             " at run time (teeinfer computes in float32; only casts to float32 "
                                             "of runtime tensors are supported)");
  ValueId x = runtime(n, 0, a);
  if (g_.value(x).dtype == DType::kF32) return alias(n, a);
  emit(n, {x}, CastParams{});
}

void Importer::lrn(const onnx::NodeProto& n, const OnnxAttrs& a) {
  LrnParams p{a.f("alpha", 1e-4f), a.f("beta", 0.75f), a.f("bias", 1.f), a.i("size", 0)};
  emit(n, {runtime(n, 0, a)}, p);
}

void Importer::pad(const onnx::NodeProto& n, const OnnxAttrs& a) {
  if (a.s("mode", "constant") != "constant")
    throw Error(ErrorCode::kUnsupported, a.where() + ": mode '" + a.s("mode", "") + "' (only constant padding)");
  const Dims& x = dims(n, 0, a);
  std::vector<int64_t> pads;
  float value = 0.f;
  if (opset_ < 11) {
    Dims d = a.ints("pads", {});
    pads.assign(d.begin(), d.end());
    value = a.f("value", 0.f);
  } else {
    pads = int_list(required_constant(n, 1, a, "pads"), 2 * kMaxRank, a.where(), "pads");
    if (n.input_size() > 2 && !n.input(2).empty())
      value = scalar_or(&required_constant(n, 2, a, "constant_value"), 0.f);
    if (n.input_size() > 3 && !n.input(3).empty()) throw Error(ErrorCode::kUnsupported, a.where() + ": the axes input");
  }
  if (pads.size() != 2 * x.size()) throw Error(ErrorCode::kBadModel, a.where() + ": pads must have 2 values per dim");
  PadParams p{Dims(pads.begin(), pads.begin() + x.size()), Dims(pads.begin() + x.size(), pads.end()), value};
  for (int64_t v : pads)
    if (v < 0) throw Error(ErrorCode::kUnsupported, a.where() + ": negative pads (cropping)");
  if (std::all_of(pads.begin(), pads.end(), [](int64_t v) { return v == 0; })) {
    if (n.output_size() < 1) throw Error(ErrorCode::kBadModel, a.where() + ": has no output");
    define(n.output(0), sym(n.input(0), a), a.where());  // nothing to pad: an alias
    return;
  }
  emit(n, {runtime(n, 0, a)}, p);
}

void Importer::alias(const onnx::NodeProto& n, const OnnxAttrs& a) {
  if (n.output_size() < 1 || n.input_size() < 1)
    throw Error(ErrorCode::kBadModel, a.where() + ": needs an input and an output");
  define(n.output(0), sym(n.input(0), a), a.where());
}

void Importer::identity(const onnx::NodeProto& n, const OnnxAttrs& a) {
  alias(n, a);
}

void Importer::dropout(const onnx::NodeProto& n, const OnnxAttrs& a) {
  if (n.input_size() > 2 && !n.input(2).empty()) {
    const Value* training = constant(n, 2);
    if (!training || element_count(training->dims, training->name) != 1 || to_i64s(*training)[0] != 0)
      throw Error(ErrorCode::kUnsupported, a.where() + ": training_mode must be a constant false");
  }
  alias(n, a);
  if (n.output_size() > 1 && !n.output(1).empty()) {
    // At inference Dropout keeps everything: the mask is all true.
    auto mask = std::make_shared<Value>();
    mask->name = n.output(1);
    mask->dtype = DType::kBool;
    mask->dims = dims(n, 0, a);
    mask->is_constant = true;
    mask->data.assign(budget_.allocate(DType::kBool, mask->dims, mask->name), 1);
    define(n.output(1), Sym{kNoValue, mask}, a.where());
  }
}

// Every ONNX op type converted at run time, with its converter: host/onnx_ops.def, then
// the element-wise functions of common/eltwise_ops.def (each keeps channel c at c).
struct OnnxOpEntry {
  RuntimeOnnxOp op;
  Importer::Converter convert;
};
// What each converter of common/eltwise_ops.def makes besides kEltwise nodes, and the
// pruning role that follows: Clip with computed bounds becomes Binary Max/Min nodes (of
// scalars: still channel-wise); Pow with a tensor exponent a Binary Pow (the exponent may
// be per channel: the pruner stops there).
struct EltwiseConverter {
  PruningRole pruning_role;
  std::optional<OpKind> other_ir_op;
};
constexpr EltwiseConverter kEltwiseConverter_eltwise{PruningRole::kChannelwise, std::nullopt};
constexpr EltwiseConverter kEltwiseConverter_clip{PruningRole::kChannelwise, OpKind::kBinary};
constexpr EltwiseConverter kEltwiseConverter_pow{PruningRole::kOther, OpKind::kBinary};
const OnnxOpEntry kOnnxOps[] = {
#define TEEINFER_ONNX_OP(op_type, converter, ir_op, pruning_role) \
  {{op_type, ir_op, PruningRole::pruning_role}, &Importer::converter},
#include "host/onnx_ops.def"
#define TEEINFER_ELTWISE(kind, onnx_op, alpha, beta, converter, ...)                                                   \
  {{onnx_op, OpKind::kEltwise, kEltwiseConverter_##converter.pruning_role, kEltwiseConverter_##converter.other_ir_op}, \
   &Importer::converter<EltwiseKind::kind>},
#include "common/eltwise_ops.def"
};

const OnnxOpEntry* find_onnx_op(std::string_view op_type) {
  for (const OnnxOpEntry& e : kOnnxOps)
    if (e.op.op_type == op_type) return &e;
  return nullptr;
}

void Importer::convert_runtime(const onnx::NodeProto& n, const OnnxAttrs& a) {
  const OnnxOpEntry* entry = find_onnx_op(n.op_type());
  if (!entry)
    throw Error(ErrorCode::kUnsupported,
                a.where() + ": operator '" + n.op_type() + "' is not supported by teeinfer" +
                    (is_foldable(n.op_type()) ? " on runtime tensors (only on constants)" : ""));
  (this->*entry->convert)(n, a);
}

void Importer::convert(const onnx::NodeProto& node) {
  OnnxAttrs a(node);
  if (!node.domain().empty() && node.domain() != "ai.onnx")
    throw Error(ErrorCode::kUnsupported, a.where() + ": custom domain '" + node.domain() + "' is not supported");
  // Fold when every input is a constant (Shape needs only the dims).
  bool all_const = true;
  std::vector<const Value*> ins;
  std::vector<std::shared_ptr<Value>> holders;
  for (int i = 0; i < node.input_size(); ++i) {
    if (node.input(i).empty()) {
      ins.push_back(nullptr);
      continue;
    }
    const Sym& s = sym(node.input(i), a);
    if (s.constant) {
      ins.push_back(constant_of(s));
    } else if (node.op_type() == "Shape" && i == 0) {
      auto shell = std::make_shared<Value>();
      shell->dims = g_.value(s.id).dims;
      holders.push_back(shell);
      ins.push_back(shell.get());
    } else {
      all_const = false;
      ins.push_back(nullptr);
    }
  }
  // Identity and Dropout are never folded: convert_runtime aliases them, constant or not,
  // copying nothing.
  bool alias = node.op_type() == "Identity" || node.op_type() == "Dropout";
  if (all_const && !alias && is_foldable(node.op_type())) {
    std::vector<Value> outs = fold_node(node, ins, opset_, budget_);
    for (size_t i = 0; i < outs.size() && static_cast<int>(i) < node.output_size(); ++i)
      define(node.output(static_cast<int>(i)), Sym{kNoValue, std::make_shared<Value>(std::move(outs[i]))}, a.where());
    return;
  }
  convert_runtime(node, a);
}

void Importer::bind_inputs(const ImportOptions& options) {
  const auto& graph = model_.graph();
  for (const auto& init : graph.initializer())
    define(init.name(), Sym{kNoValue, std::make_shared<Value>(value_from_tensor_proto(init, init.name(), &budget_))},
           "initializer '" + init.name() + "'");
  std::set<std::string> inits;
  for (const auto& init : graph.initializer()) inits.insert(init.name());
  for (const auto& in : graph.input()) {
    if (inits.count(in.name())) continue;  // an initializer listed as an input (old exporters)
    if (auto c = options.constant_inputs.find(in.name()); c != options.constant_inputs.end()) {
      define(in.name(), Sym{kNoValue, std::make_shared<Value>(c->second)}, "graph input");
      continue;
    }
    if (!in.type().has_tensor_type())
      throw Error(ErrorCode::kUnsupported,
                  "input '" + in.name() + "' is not a tensor (sequence/optional/map inputs are not supported)");
    const auto& tt = in.type().tensor_type();
    Value v;
    v.name = in.name();
    v.dtype = dtype_from_onnx(tt.elem_type(), in.name());
    if (auto d = options.input_dims.find(in.name()); d != options.input_dims.end()) {
      v.dims = d->second;
      if (tt.has_shape() && tt.shape().dim_size() != static_cast<int>(v.dims.size()))
        throw Error(ErrorCode::kBadInput, "input '" + in.name() + "' must have rank " +
                                              std::to_string(tt.shape().dim_size()) + ", got " +
                                              dims_to_string(v.dims));
      // Dim 0 (the batch) may differ from a fixed declared value: exporters often fix it at
      // 1 while the graph takes any batch. If it does not, shape inference says where.
      for (int i = 1; tt.has_shape() && i < tt.shape().dim_size(); ++i)
        if (tt.shape().dim(i).has_dim_value() && tt.shape().dim(i).dim_value() != v.dims[i])
          throw Error(ErrorCode::kBadInput, "input '" + in.name() + "' must have dim " + std::to_string(i) + " = " +
                                                std::to_string(tt.shape().dim(i).dim_value()) + ", got " +
                                                dims_to_string(v.dims));
    } else {
      if (!tt.has_shape())
        throw Error(ErrorCode::kBadInput, "input '" + in.name() + "' has no declared shape; give its dims");
      for (const auto& d : tt.shape().dim()) {
        if (!d.has_dim_value())
          throw Error(ErrorCode::kBadInput,
                      "input '" + in.name() + "' has a dynamic dim '" + d.dim_param() + "'; give the input's dims");
        v.dims.push_back(d.dim_value());
      }
    }
    check_runtime_tensor(v.dims, v.name, "input '" + v.name + "'");
    ValueId id = g_.add_value(v);
    g_.inputs.push_back(id);
    define(in.name(), Sym{id, nullptr}, "graph input");
  }
}

// A graph output's value; a fully folded one becomes a float32 constant of its own
// (outputs are float32, and not empty), its bytes counted against the budget.
ValueId Importer::output_value(const std::string& name) {
  auto it = syms_.find(name);
  if (it == syms_.end()) throw Error(ErrorCode::kBadModel, "graph output '" + name + "' is never computed");
  if (it->second.id != kNoValue) return it->second.id;
  check_runtime_tensor(constant_of(it->second)->dims, name, "graph output");  // sessions return outputs
  Value v = convert_constant(*constant_of(it->second), DType::kF32, name, budget_);
  return g_.add_value(std::move(v));
}

Graph Importer::run(const ImportOptions& options) {
  g_.name = model_.graph().name();
  bind_inputs(options);
  for (const auto& node : model_.graph().node()) convert(node);
  for (const auto& out : model_.graph().output()) g_.outputs.push_back(output_value(out.name()));
  validate_graph(g_);
  if (options.value_dims)
    for (const auto& [name, s] : syms_)
      (*options.value_dims)[name] = s.constant ? s.constant->dims : g_.value(s.id).dims;
  return std::move(g_);
}

}  // namespace

std::vector<RuntimeOnnxOp> runtime_onnx_ops() {
  std::vector<RuntimeOnnxOp> ops;
  for (const OnnxOpEntry& e : kOnnxOps) ops.push_back(e.op);
  return ops;
}

const RuntimeOnnxOp* find_runtime_onnx_op(std::string_view op_type) {
  const OnnxOpEntry* e = find_onnx_op(op_type);
  return e ? &e->op : nullptr;
}

bool is_runtime_onnx_op(std::string_view op_type) {
  return find_onnx_op(op_type) != nullptr;
}

onnx::ModelProto read_onnx_proto(const std::string& path) {
  // Map the file and parse straight from the mapping: no separate read buffer.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorCode::kIo, "cannot open model '" + path + "'");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(ErrorCode::kIo, "'" + path + "' is not a regular file");
  }
  size_t size = static_cast<size_t>(st.st_size);
  if (size == 0 || size > static_cast<size_t>(INT32_MAX)) {
    ::close(fd);
    throw Error(ErrorCode::kBadModel, "'" + path + "' is not a valid ONNX model (" + std::to_string(size) + " bytes)");
  }
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) throw Error(ErrorCode::kIo, "cannot map '" + path + "'");
  try {
    onnx::ModelProto m = parse_model(std::string_view(static_cast<const char*>(p), size), path);
    ::munmap(p, size);
    return m;
  } catch (...) {
    ::munmap(p, size);
    throw;
  }
}

std::vector<std::pair<std::string, Dims>> declared_inputs_of(const onnx::ModelProto& model) {
  std::set<std::string> inits;
  for (const auto& i : model.graph().initializer()) inits.insert(i.name());
  std::vector<std::pair<std::string, Dims>> out;
  for (const auto& in : model.graph().input()) {
    if (inits.count(in.name())) continue;
    Dims d;
    for (const auto& dim : in.type().tensor_type().shape().dim())
      d.push_back(dim.has_dim_value() ? dim.dim_value() : -1);
    out.emplace_back(in.name(), d);
  }
  return out;
}

Graph import_onnx(const std::string& bytes, const std::string& source, const ImportOptions& options) {
  onnx::ModelProto model = parse_model(bytes, source);
  int opset = default_opset(model, source);
  uint64_t limit = options.max_memory ? options.max_memory : default_memory_limit(bytes.size());
  return Importer(model, opset, source, limit).run(options);
}

Graph import_onnx_proto(const onnx::ModelProto& model, const std::string& source, const ImportOptions& options) {
  int opset = default_opset(model, source);
  uint64_t limit = options.max_memory ? options.max_memory : default_memory_limit(model.ByteSizeLong());
  return Importer(model, opset, source, limit).run(options);
}

struct OnnxModel::Impl {
  onnx::ModelProto proto;
  std::string path;
  uint64_t file_bytes = 0;
};

OnnxModel::OnnxModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OnnxModel::OnnxModel(OnnxModel&&) noexcept = default;
OnnxModel::~OnnxModel() = default;

OnnxModel OnnxModel::open(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  impl->proto = read_onnx_proto(path);
  impl->path = path;
  impl->file_bytes = impl->proto.ByteSizeLong();
  return OnnxModel(std::move(impl));
}

std::vector<std::pair<std::string, Dims>> OnnxModel::declared_inputs() const {
  return declared_inputs_of(impl_->proto);
}

OnnxModel OnnxModel::from_bytes(std::string_view bytes, const std::string& source) {
  auto impl = std::make_unique<Impl>();
  impl->proto = parse_model(bytes, source);
  impl->path = source;
  impl->file_bytes = bytes.size();
  return OnnxModel(std::move(impl));
}

const onnx::ModelProto& OnnxModel::proto() const {
  return impl_->proto;
}

uint64_t OnnxModel::memory_limit(uint64_t max_memory) const {
  return max_memory ? max_memory : default_memory_limit(impl_->file_bytes);
}

Graph OnnxModel::import(const ImportOptions& options) {
  int opset = default_opset(impl_->proto, impl_->path);
  return Importer(impl_->proto, opset, impl_->path, memory_limit(options.max_memory)).run(options);
}

}  // namespace teeinfer
