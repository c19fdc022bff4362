#include "host/onnx_import.h"

#include <fcntl.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <onnx/onnx_pb.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include "common/error.h"
#include "common/shape_inference.h"
#include "host/constant_folder.h"
#include "host/onnx_attrs.h"
#include "host/onnx_node_order.h"
#include "host/onnx_ops.h"
#include "host/onnx_tensor.h"
#include "host/quantize_linear.h"
#include "host/recurrent_weights.h"

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
  template <BinaryKind kKind>
  void compare(const onnx::NodeProto& n, const OnnxAttrs& a);
  template <EltwiseKind kKind>
  void pow(const onnx::NodeProto& n, const OnnxAttrs& a);
  template <EltwiseKind kKind>
  void gelu(const onnx::NodeProto& n, const OnnxAttrs& a);
  void layer_normalization(const onnx::NodeProto& n, const OnnxAttrs& a);
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
  void log_softmax(const onnx::NodeProto& n, const OnnxAttrs& a);
  void instance_normalization(const onnx::NodeProto& n, const OnnxAttrs& a);
  void hardmax(const onnx::NodeProto& n, const OnnxAttrs& a);
  // A constant of C values (InstanceNormalization's scale, B) as float32 of dims {C, 1, ...,
  // 1} (rank - 1 dims), which broadcasts per channel against a tensor of rank `rank`.
  ValueId per_channel_constant(const onnx::NodeProto& n, int i, const OnnxAttrs& a, size_t rank, const char* role);
  template <ArgKind kKind>
  void arg_max_min(const onnx::NodeProto& n, const OnnxAttrs& a);
  void cast(const onnx::NodeProto& n, const OnnxAttrs& a);
  void logical_not(const onnx::NodeProto& n, const OnnxAttrs& a);
  template <BinaryKind kKind>
  void logical(const onnx::NodeProto& n, const OnnxAttrs& a);
  void logical_xor(const onnx::NodeProto& n, const OnnxAttrs& a);
  void lrn(const onnx::NodeProto& n, const OnnxAttrs& a);
  void pad(const onnx::NodeProto& n, const OnnxAttrs& a);
  void identity(const onnx::NodeProto& n, const OnnxAttrs& a);
  void dropout(const onnx::NodeProto& n, const OnnxAttrs& a);
  void if_branch(const onnx::NodeProto& n, const OnnxAttrs& a);
  void slice(const onnx::NodeProto& n, const OnnxAttrs& a);
  void split(const onnx::NodeProto& n, const OnnxAttrs& a);
  void gather(const onnx::NodeProto& n, const OnnxAttrs& a);
  void tile(const onnx::NodeProto& n, const OnnxAttrs& a);
  void expand(const onnx::NodeProto& n, const OnnxAttrs& a);
  void resize(const onnx::NodeProto& n, const OnnxAttrs& a);
  void upsample(const onnx::NodeProto& n, const OnnxAttrs& a);
  void conv_transpose(const onnx::NodeProto& n, const OnnxAttrs& a);
  void depth_to_space(const onnx::NodeProto& n, const OnnxAttrs& a);
  void space_to_depth(const onnx::NodeProto& n, const OnnxAttrs& a);
  void where(const onnx::NodeProto& n, const OnnxAttrs& a);
  void rnn(const onnx::NodeProto& n, const OnnxAttrs& a);
  void gru(const onnx::NodeProto& n, const OnnxAttrs& a);
  void lstm(const onnx::NodeProto& n, const OnnxAttrs& a);
  void quantize_linear(const onnx::NodeProto& n, const OnnxAttrs& a);
  void dequantize_linear(const onnx::NodeProto& n, const OnnxAttrs& a);
  void dynamic_quantize_linear(const onnx::NodeProto& n, const OnnxAttrs& a);
  void conv_integer(const onnx::NodeProto& n, const OnnxAttrs& a);
  void matmul_integer(const onnx::NodeProto& n, const OnnxAttrs& a);
  void qlinear_conv(const onnx::NodeProto& n, const OnnxAttrs& a);
  void qlinear_matmul(const onnx::NodeProto& n, const OnnxAttrs& a);

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

  ValueId materialize(Sym& s, const std::string& name);
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
  // `output` is the ONNX output it defines (Split makes one node per output).
  void emit(const onnx::NodeProto& node, std::vector<ValueId> inputs, OpParams params, const Dims* reshape_to = nullptr,
            int output = 0);
  // The constant inputs from `first` on (nullptr where absent); a runtime one is unsupported.
  std::vector<const Value*> constant_operands(const onnx::NodeProto& node, int first, const OnnxAttrs& a) const;
  void resize_to(const onnx::NodeProto& n, const OnnxAttrs& a, ResizeParams p, const std::vector<float>& scales,
                 const std::vector<int64_t>& sizes, const std::vector<float>& roi, const Dims& axes,
                 const std::string& policy);
  // The output names the input's value (or constant): no node.
  void alias(const onnx::NodeProto& n, const OnnxAttrs& a);
  ValueId named_output(ValueId id, const std::string& name);
  // Input i as a float32 runtime value: a constant of another numeric type is converted
  // (a Pow exponent, a Max operand), a runtime one must already be float32 (emit checks).
  ValueId float_operand(const onnx::NodeProto& node, int i, const OnnxAttrs& a);
  // One node of several that `node` becomes: the last defines node's output, the others a
  // value of their own named after it ("<output>#<part>"). Returns the node's output.
  ValueId emit_part(const onnx::NodeProto& node, bool last, int part, std::vector<ValueId> inputs, OpParams params,
                    const Dims* reshape_to = nullptr);
  // A float32 scalar constant of the graph.
  ValueId scalar_constant(const std::string& name, float value);
  // Binary `kind` folded over `operands` left to right; the last node defines node's output.
  void binary_chain(const onnx::NodeProto& node, BinaryKind kind, const std::vector<ValueId>& operands,
                    bool then_more = false);

  // One node of several that `node` becomes, named `name`, defining `output` (an output of
  // `node`, or a value of its own); returns that value.
  ValueId emit_as(const onnx::NodeProto& node, const std::string& name, const std::string& output,
                  std::vector<ValueId> inputs, OpParams params, const Dims* reshape_to = nullptr);
  void recurrent(const onnx::NodeProto& n, const OnnxAttrs& a, RecurrentCell cell);
  // Direction `d` of RNN/GRU/LSTM input `i` (initial_h, initial_c): N*H values, zeros when absent.
  ValueId recurrent_state(const onnx::NodeProto& n, const OnnxAttrs& a, int i, int64_t d, int64_t dirs,
                          bool batch_first, const Dims& state_dims, const std::string& name);
  // Quantized ops (host/quantize_linear.h). A scale or zero point as a float32 operand
  // broadcasting against the tensor of dims `x` it applies to (per axis: along `axis`);
  // kNoValue for an absent or all-zero zero point (nothing to subtract).
  ValueId quant_operand(const onnx::NodeProto& n, int i, const OnnxAttrs& a, const Dims& x, int64_t axis,
                        const char* role);
  // A constant quantized tensor minus its zero point (per axis along `axis`), as float32.
  // With `int8`, a Conv weight whose shifted values fit int8 stays int8 (weight-only
  // Int8Weights, scale 1 per output channel: dequantized exactly inside).
  ValueId shifted_constant(const onnx::NodeProto& n, int i, int zero_point, const OnnxAttrs& a, int64_t axis,
                           Int8Weights* int8 = nullptr);
  // Input i minus zero point input `zero_point` (absent or zero: input i as it is), float32.
  ValueId shifted(const onnx::NodeProto& n, int i, int zero_point, const OnnxAttrs& a, int64_t axis, int part);
  // saturate(round(acc * multiplier) + zero point) in float32, the last node defining n's output.
  void requantize(const onnx::NodeProto& n, const OnnxAttrs& a, ValueId acc, ValueId multiplier, int zero_point,
                  int first_part);
  ValueId float_constant(const std::string& name, Dims dims, const std::vector<float>& values);
  // LayerNormalization's scale or bias (input i) with one value per normalized element:
  // as it is when its dims are {D} or the normalized dims, else a constant viewed as {D}.
  ValueId layer_norm_parameter(const onnx::NodeProto& n, int i, const OnnxAttrs& a, const Dims& normalized);

  void pool(const onnx::NodeProto& n, const OnnxAttrs& a, PoolKind kind, bool global);
  void squeeze_or_unsqueeze(const onnx::NodeProto& n, const OnnxAttrs& a, bool squeeze);
  void reshape_like(const onnx::NodeProto& n, const OnnxAttrs& a, const Dims& to);

  // Runtime bools (float32 masks of 1 and 0, see compare()).
  bool is_mask(ValueId id) const { return masks_.count(id) || g_.value(id).dtype == DType::kBool; }
  // Input i as a mask operand: a constant as float32, a runtime bool (a graph input)
  // through a Cast to float32 the importer adds, a runtime float32 as it is (a mask: ONNX
  // types the operand bool, and every runtime bool is one); a runtime integer is refused.
  ValueId mask_operand(const onnx::NodeProto& node, int i, const OnnxAttrs& a);
  // Not(m) as Equal(m, 0): the last node defines node's output unless `part` > 0.
  ValueId logical_not_of(const onnx::NodeProto& node, ValueId m, bool last, int part);
  // A node the importer adds for `node` (a Cast or Reshape of its input), of ONNX type
  // `op_type`, named "<node>#<suffix>", its output "<output 0>#<suffix>".
  ValueId implied_node(const onnx::NodeProto& node, const std::string& op_type, const std::string& suffix,
                       std::vector<ValueId> inputs, OpParams params, const Dims* reshape_to = nullptr);
  // ArgMax/ArgMin's int64 indices (or a reshape of them) as float32 for an op that
  // computes with them: one Cast node per value, made on first use (exact: an axis is
  // at most 2^24 long, arg_max_min checks).
  ValueId indices_as_float(ValueId v);
  // Whether `v` is such indices: int64 computed by a node (not a graph input, not a constant).
  bool is_indices(ValueId v) const {
    return g_.value(v).dtype == DType::kI64 && !g_.value(v).is_constant &&
           std::find(g_.inputs.begin(), g_.inputs.end(), v) == g_.inputs.end();
  }

  // If: the branch `attr` ("then_branch"), checked against the node.
  const onnx::GraphProto& checked_branch(const onnx::NodeProto& n, const OnnxAttrs& a, const char* attr) const;
  void if_known_at_import(const onnx::NodeProto& n, const OnnxAttrs& a, const Value& cond);
  void if_at_run_time(const onnx::NodeProto& n, const OnnxAttrs& a);
  // Imports branch `attr` in a scope of its own; returns its outputs as float32 values.
  std::vector<ValueId> import_branch_beside(const onnx::NodeProto& n, const OnnxAttrs& a, bool then);
  // The If's one-value condition reshaped to rank `rank` when its own is higher (a Where
  // broadcasts it to the output's dims, which a higher rank would change).
  ValueId condition_of_rank(const onnx::NodeProto& n, ValueId cond, size_t rank);

  const onnx::ModelProto& model_;
  int opset_;
  std::string source_;
  MemoryBudget budget_;
  Graph g_;
  std::map<std::string, Sym> syms_;
  std::map<const Value*, ValueId> materialized_;
  int subgraph_depth_ = 0;                       // If branches being imported
  std::set<ValueId> masks_;                      // runtime float32 values that hold a bool (1 and 0)
  std::map<ValueId, ValueId> indices_as_float_;  // int64 index values' float32 copies
  // Inside a branch of an If whose condition is computed at run time: the prefix of the IR
  // names of its nodes and values ("<If>/then/"), so that both branches' stay distinct.
  std::string scope_;
  // The symbols of branches imported in a scope of their own, kept alive after it closes:
  // materialized_ is keyed on their constants' addresses, which must not be reused.
  std::vector<std::map<std::string, Sym>> closed_scopes_;
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
  if (s.id == kNoValue && !s.constant)
    throw Error(ErrorCode::kBadModel, a.where() + ": input '" + node.input(i) + "' is never defined");
  return materialize(s, node.input(i));
}

// A constant symbol's value in the graph, added on first use.
ValueId Importer::materialize(Sym& s, const std::string& name) {
  if (s.id == kNoValue && s.constant) {
    if (auto m = materialized_.find(s.constant.get()); m != materialized_.end()) s.id = m->second;
  }
  if (s.id == kNoValue) {
    Value v;
    v.name = name;
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

void Importer::emit(const onnx::NodeProto& node, std::vector<ValueId> inputs, OpParams params, const Dims* reshape_to,
                    int output) {
  if (node.output_size() <= output || node.output(output).empty())
    throw Error(ErrorCode::kBadModel,
                node.op_type() + " node '" + node.name() + "' has no output " + std::to_string(output));
  Node n;
  n.name = scope_ + (node.name().empty() ? node.output(output) : node.name());
  if (node.output_size() > 1) n.name.append(":").append(std::to_string(output));
  n.onnx_op = node.op_type();
  n.op = op_of(params);
  n.inputs = std::move(inputs);
  n.params = std::move(params);
  if (n.op != OpKind::kCast && n.op != OpKind::kReshape)  // the two that read int64 indices as they are
    for (ValueId& in : n.inputs)
      if (in != kNoValue && is_indices(in)) in = indices_as_float(in);
  Value out;
  out.name = scope_ + node.output(output);
  out.dtype = node_output_dtype(g_, n);
  if (reshape_to) out.dims = *reshape_to;
  ValueId id = g_.add_value(out);
  n.outputs = {id};
  if (!reshape_to)
    g_.value(id).dims = infer_output_dims(g_, n);
  else
    infer_output_dims(g_, n);  // checks the element count
  const std::string where = n.onnx_op + " node '" + n.name + "'";
  check_runtime_tensor(g_.value(id).dims, out.name, where);
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    ValueId in = n.inputs[i];
    bool int8_weight = i == 1 && int8_weights_of(n);  // a quantized model's weight (validate_graph checks it)
    bool viewed_indices = in != kNoValue && n.op == OpKind::kReshape && is_indices(in);
    if (in != kNoValue && g_.value(in).dtype != DType::kF32 && n.op != OpKind::kCast && !int8_weight && !viewed_indices)
      throw Error(ErrorCode::kUnsupported, where + ": input '" + g_.value(in).name + "' is " +
                                               dtype_name(g_.value(in).dtype) + "; runtime tensors must be float32");
  }
  g_.nodes.push_back(std::move(n));
  define(node.output(output), Sym{id, nullptr}, where);
}

std::vector<const Value*> Importer::constant_operands(const onnx::NodeProto& node, int first,
                                                      const OnnxAttrs& a) const {
  std::vector<const Value*> out(static_cast<size_t>(std::max(node.input_size(), first)), nullptr);
  for (int i = first; i < node.input_size(); ++i) {
    if (node.input(i).empty()) continue;
    sym(node.input(i), a);  // defined at all
    out[static_cast<size_t>(i)] = constant(node, i);
    if (!out[static_cast<size_t>(i)])
      throw Error(ErrorCode::kUnsupported, a.where() + ": input " + std::to_string(i) + " ('" + node.input(i) +
                                               "') must be a constant (initializer or folded)");
  }
  return out;
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

// A Conv's (ConvInteger's, QLinearConv's) parameters for input dims x and weight dims w.
ConvParams conv_params(const OnnxAttrs& a, const Dims& x, const Dims& w) {
  if (x.size() < 3 || w.size() != x.size())
    throw Error(ErrorCode::kBadModel,
                a.where() + ": input " + dims_to_string(x) + " and weight " + dims_to_string(w) + " ranks do not fit");
  size_t sp = x.size() - 2;
  ConvParams p;
  p.kernel = a.ints("kernel_shape", Dims(w.begin() + 2, w.end()));
  p.strides = a.ints("strides", Dims(sp, 1));
  p.dilations = a.ints("dilations", Dims(sp, 1));
  p.groups = a.i("group", 1);
  std::tie(p.pads_begin, p.pads_end) = window_pads(a, x, p.kernel, p.strides, p.dilations);
  return p;
}

void Importer::conv(const onnx::NodeProto& n, const OnnxAttrs& a) {
  ConvParams p = conv_params(a, dims(n, 0, a), required_constant(n, 1, a, "weight").dims);
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
                            OpParams params, const Dims* reshape_to) {
  if (node.output_size() < 1 || node.output(0).empty())
    throw Error(ErrorCode::kBadModel, node.op_type() + " node '" + node.name() + "' has no output");
  if (last) {
    emit(node, std::move(inputs), std::move(params), reshape_to);
  } else {
    onnx::NodeProto step = node;
    std::string suffix = std::to_string(part);
    suffix.insert(suffix.begin(), '#');
    step.set_name((node.name().empty() ? node.output(0) : node.name()) + suffix);
    step.set_output(0, node.output(0) + suffix);
    emit(step, std::move(inputs), std::move(params), reshape_to);
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

// Gelu (opset 20): approximate="none" is the erf form, "tanh" its tanh approximation.
template <EltwiseKind kKind>
void Importer::gelu(const onnx::NodeProto& n, const OnnxAttrs& a) {
  std::string approximate = a.s("approximate", "none");
  EltwiseKind kind = kKind;
  if (approximate == "none")
    kind = EltwiseKind::kGelu;
  else if (approximate == "tanh")
    kind = EltwiseKind::kGeluTanh;
  else
    throw Error(ErrorCode::kBadModel,
                a.where() + ": approximate must be \"none\" or \"tanh\", got \"" + approximate + "\"");
  emit(n, {runtime(n, 0, a)}, EltwiseParams{kind, 0.f, 0.f});
}

// LayerNormalization (opset 17): Y only. Mean and InvStdDev (training's saved statistics)
// are refused when named. stash_type sets the precision of the statistics; oneDNN's
// kernel keeps them in float32, which is the default.
void Importer::layer_normalization(const onnx::NodeProto& n, const OnnxAttrs& a) {
  for (int i = 1; i < n.output_size(); ++i)
    if (!n.output(i).empty())
      throw Error(ErrorCode::kUnsupported, a.where() + ": output " + std::to_string(i) + " ('" + n.output(i) + "', " +
                                               (i == 1 ? "Mean" : "InvStdDev") +
                                               ") is not supported: only Y is computed");
  const Dims& x = dims(n, 0, a);
  LayerNormParams p;
  p.axis = normalize_axis(a.i("axis", -1), static_cast<int64_t>(x.size()), a.where());
  p.epsilon = a.f("epsilon", 1e-5f);
  Dims normalized(x.begin() + p.axis, x.end());
  ValueId xv = runtime(n, 0, a);
  ValueId scale = n.input_size() > 1 && !n.input(1).empty() ? layer_norm_parameter(n, 1, a, normalized) : kNoValue;
  ValueId bias = n.input_size() > 2 && !n.input(2).empty() ? layer_norm_parameter(n, 2, a, normalized) : kNoValue;
  emit(n, {xv, scale, bias}, p);
}

ValueId Importer::layer_norm_parameter(const onnx::NodeProto& n, int i, const OnnxAttrs& a, const Dims& normalized) {
  const Dims& d = dims(n, i, a);
  const int64_t count = element_count(normalized, a.where());
  if (d == normalized || d == Dims{count}) return float_operand(n, i, a);
  const Value* c = constant(n, i);
  if (!c || element_count(d, a.where()) != count)
    throw Error(ErrorCode::kUnsupported, a.where() + ": " + (i == 1 ? "Scale " : "B ") + dims_to_string(d) +
                                             " must have the normalized dims " + dims_to_string(normalized));
  Value v = convert_constant(*c, DType::kF32, n.input(i) + "#flat", budget_);
  v.dims = {count};
  v.is_constant = true;
  return g_.add_value(std::move(v));
}

template <BinaryKind kKind>
void Importer::binary(const onnx::NodeProto& n, const OnnxAttrs& a) {
  // (A constant of another type, as with ArgMax's int64 indices + 1, computes as float32.)
  emit(n, {float_operand(n, 0, a), float_operand(n, 1, a)}, BinaryParams{kKind});
}

// Equal/Greater/GreaterOrEqual/Less/LessOrEqual with a runtime operand: a float32 mask of
// 1 and 0 (the bool result as the float a Cast or Mul after it reads). Constant operands of
// another type compare as float32; runtime tensors are float32.
template <BinaryKind kKind>
void Importer::compare(const onnx::NodeProto& n, const OnnxAttrs& a) {
  emit(n, {float_operand(n, 0, a), float_operand(n, 1, a)}, BinaryParams{kKind});
  masks_.insert(g_.nodes.back().outputs[0]);
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

void Importer::log_softmax(const onnx::NodeProto& n, const OnnxAttrs& a) {
  int64_t rank = static_cast<int64_t>(dims(n, 0, a).size());
  LogSoftmaxParams p;
  p.coerce_2d = opset_ < 13;
  p.axis = normalize_axis(a.i("axis", opset_ < 13 ? 1 : -1), rank, a.where());
  emit(n, {runtime(n, 0, a)}, p);
}

// The node's first output's name (the names of the values a converter adds derive from it).
const std::string& first_output(const onnx::NodeProto& node) {
  if (node.output_size() < 1 || node.output(0).empty())
    throw Error(ErrorCode::kBadModel, node.op_type() + " node '" + node.name() + "' has no output");
  return node.output(0);
}

ValueId Importer::per_channel_constant(const onnx::NodeProto& n, int i, const OnnxAttrs& a, size_t rank,
                                       const char* role) {
  const Value& c = required_constant(n, i, a, role);
  const int64_t channels = dims(n, 0, a)[1];
  if (element_count(c.dims, c.name) != channels)
    throw Error(ErrorCode::kBadModel, a.where() + ": " + role + " has " + dims_to_string(c.dims) + ", not " +
                                          std::to_string(channels) + " values (one per channel)");
  Value v = convert_constant(c, DType::kF32, n.input(i) + "#per_channel", budget_);
  v.dims = Dims(rank - 1, 1);
  v.dims[0] = channels;
  v.is_constant = true;
  return g_.add_value(std::move(v));
}

// InstanceNormalization: y = scale * (x - mean) / sqrt(var + epsilon) + B, mean and var
// (biased) over the spatial dims of each (n, c), built from existing IR ops (Reduce Mean,
// Binary, Sqrt) rather than a primitive of its own: oneDNN's batch normalization would take
// its statistics over N as well unless the tensor were viewed as {1, N*C, ...} and scale
// and B repeated per image; these nodes are exact to the definition and plan like any
// others (the full-size temporaries, x - mean and (x - mean) * gain, are ordinary
// activations; the variance comes from a sum of squares, with no tensor of squares).
void Importer::instance_normalization(const onnx::NodeProto& n, const OnnxAttrs& a) {
  const Dims x = dims(n, 0, a);
  if (x.size() < 3)
    throw Error(ErrorCode::kBadModel, a.where() + ": input " + dims_to_string(x) + " must be {N, C, D1, ...}");
  const float epsilon = a.f("epsilon", 1e-5f);
  ReduceParams spatial_mean{ReduceKind::kMean, {}, true};
  for (size_t d = 2; d < x.size(); ++d) spatial_mean.axes.push_back(static_cast<int64_t>(d));
  ValueId xv = runtime(n, 0, a);
  ValueId scale = per_channel_constant(n, 1, a, x.size(), "scale");
  ValueId bias = per_channel_constant(n, 2, a, x.size(), "B");
  ValueId mean = emit_part(n, false, 1, {xv}, spatial_mean);
  ValueId centred = emit_part(n, false, 2, {xv, mean}, BinaryParams{BinaryKind::kSub});
  // The variance as the spatial sum of squares / count: no full-size tensor of squares.
  ReduceParams spatial_sum_square = spatial_mean;
  spatial_sum_square.kind = ReduceKind::kSumSquare;
  ValueId sum_square = emit_part(n, false, 3, {centred}, spatial_sum_square);
  const int64_t count = element_count(Dims(x.begin() + 2, x.end()), a.where());
  ValueId inverse_count = scalar_constant(first_output(n) + "#inverse_count", 1.f / static_cast<float>(count));
  ValueId var = emit_part(n, false, 4, {sum_square, inverse_count}, BinaryParams{BinaryKind::kMul});
  ValueId eps = scalar_constant(first_output(n) + "#epsilon", epsilon);
  ValueId var_eps = emit_part(n, false, 5, {var, eps}, BinaryParams{BinaryKind::kAdd});
  ValueId sd = emit_part(n, false, 6, {var_eps}, EltwiseParams{EltwiseKind::kSqrt});
  ValueId gain = emit_part(n, false, 7, {scale, sd}, BinaryParams{BinaryKind::kDiv});  // scale / sd, {N, C, 1...}
  ValueId scaled = emit_part(n, false, 8, {centred, gain}, BinaryParams{BinaryKind::kMul});
  emit_part(n, true, 0, {scaled, bias}, BinaryParams{BinaryKind::kAdd});
}

// Hardmax: 1 at the first largest element along the axis, 0 elsewhere (before opset 13
// along the dims flattened from `axis`). As ArgMax (keepdims) compared with the indices
// 0..K-1 along that axis: Equal(iota, ArgMax(x)), exact. Before opset 13 the input is
// viewed as {outer, K} and the result viewed back.
void Importer::hardmax(const onnx::NodeProto& n, const OnnxAttrs& a) {
  const Dims x = dims(n, 0, a);
  const int64_t rank = static_cast<int64_t>(x.size());
  const int64_t axis = normalize_axis(a.i("axis", opset_ < 13 ? 1 : -1), rank, a.where());
  ValueId xv = runtime(n, 0, a);
  Dims shape = x;  // what the ArgMax reads
  int64_t along = axis;
  if (opset_ < 13) {
    Dims outer(x.begin(), x.begin() + axis), inner(x.begin() + axis, x.end());
    shape = {element_count(outer, a.where()), element_count(inner, a.where())};
    along = 1;
    if (shape != x) xv = emit_part(n, false, 1, {xv}, ReshapeParams{}, &shape);
  }
  const int64_t k = shape[static_cast<size_t>(along)];
  if (k > (int64_t{1} << 24))
    throw Error(ErrorCode::kUnsupported, a.where() + ": axis of " + std::to_string(k) + " elements; at most 2^24");
  ValueId index = emit_part(n, false, 2, {xv}, ArgMaxMinParams{ArgKind::kMax, along, true, false});
  Dims iota_dims(shape.size(), 1);
  iota_dims[static_cast<size_t>(along)] = k;
  std::vector<float> iota(static_cast<size_t>(k));
  for (int64_t i = 0; i < k; ++i) iota[static_cast<size_t>(i)] = static_cast<float>(i);
  ValueId positions = float_constant(first_output(n) + "#positions", iota_dims, iota);
  const bool view_back = shape != x;
  ValueId one_hot = emit_part(n, !view_back, 3, {positions, index}, BinaryParams{BinaryKind::kEqual});
  if (view_back) emit_part(n, true, 4, {one_hot}, ReshapeParams{}, &x);
}

template <ArgKind kKind>
void Importer::arg_max_min(const onnx::NodeProto& n, const OnnxAttrs& a) {
  const Dims& x = dims(n, 0, a);
  ArgMaxMinParams p;
  p.kind = kKind;
  p.axis = normalize_axis(a.i("axis", 0), static_cast<int64_t>(x.size()), a.where());
  p.keepdims = a.i("keepdims", 1) != 0;
  p.select_last_index = a.i("select_last_index", 0) != 0;
  // Indices a later op computes with become float32 (indices_as_float): exact up to 2^24.
  if (x[static_cast<size_t>(p.axis)] > (int64_t{1} << 24))
    throw Error(ErrorCode::kUnsupported, a.where() + ": axis of " + std::to_string(x[static_cast<size_t>(p.axis)]) +
                                             " elements; at most 2^24 (indices must be exact in float32)");
  emit(n, {runtime(n, 0, a)}, p);
}

ValueId Importer::indices_as_float(ValueId v) {
  if (auto it = indices_as_float_.find(v); it != indices_as_float_.end()) return it->second;
  const std::string name = g_.value(v).name + "#as_float";
  Value out{name, DType::kF32, g_.value(v).dims, false, {}};
  ValueId id = g_.add_value(std::move(out));
  Node cast;
  cast.name = name;
  cast.onnx_op = "Cast";
  cast.op = OpKind::kCast;
  cast.params = CastParams{};
  cast.inputs = {v};
  cast.outputs = {id};
  g_.nodes.push_back(std::move(cast));
  indices_as_float_[v] = id;
  return id;
}

// ONNX element types a runtime mask (1 and 0) casts to unchanged: the numeric ones.
bool holds_one_and_zero(int onnx_type) {
  switch (onnx_type) {
    case onnx::TensorProto::FLOAT:
    case onnx::TensorProto::UINT8:
    case onnx::TensorProto::INT8:
    case onnx::TensorProto::UINT16:
    case onnx::TensorProto::INT16:
    case onnx::TensorProto::INT32:
    case onnx::TensorProto::INT64:
    case onnx::TensorProto::FLOAT16:
    case onnx::TensorProto::DOUBLE:
    case onnx::TensorProto::UINT32:
    case onnx::TensorProto::UINT64:
    case onnx::TensorProto::BFLOAT16:
      return true;
    default:
      return false;
  }
}

// A runtime Cast (of a constant it is folded). Runtime tensors are float32 and a runtime
// bool is a float32 mask of 1 and 0 (see compare()), so:
//   * to float32: integer and bool graph inputs are converted (a bool one becomes a mask),
//     a float32 tensor is its own result;
//   * to bool: the mask x != 0 (NaN is true, as in numpy and ONNX Runtime); a mask is its
//     own result;
//   * a mask to any numeric type is its own result (1 and 0 are exact in every type).
void Importer::cast(const onnx::NodeProto& n, const OnnxAttrs& a) {
  const int to_onnx = static_cast<int>(a.i("to", 0));
  ValueId x = runtime(n, 0, a);
  const bool bool_input = g_.value(x).dtype == DType::kBool;
  if (to_onnx == onnx::TensorProto::BOOL || (is_mask(x) && holds_one_and_zero(to_onnx))) {
    if (bool_input) {
      emit(n, {x}, CastParams{});
      masks_.insert(g_.nodes.back().outputs[0]);
    } else if (is_mask(x)) {
      alias(n, a);
    } else {
      // x != 0 as Not(Equal(x, 0)): the IR's Binary kinds are ONNX's comparisons, which
      // have no NotEqual; both are exact oneDNN binary_eq primitives.
      if (g_.value(x).dtype != DType::kF32) x = emit_part(n, false, 1, {x}, CastParams{});
      ValueId zero = scalar_constant(first_output(n) + "#zero", 0.f);
      ValueId is_zero = emit_part(n, false, 2, {x, zero}, BinaryParams{BinaryKind::kEqual});
      masks_.insert(logical_not_of(n, is_zero, true, 0));
    }
    return;
  }
  DType to = dtype_from_onnx(to_onnx, a.where() + " 'to'");
  if (to == g_.value(x).dtype) return alias(n, a);
  // ArgMax's indices cast to int32 (as TensorFlow exports do) stay the same int64 values:
  // teeinfer writes no int32, and an index (at most 2^24) fits either.
  if (to == DType::kI32 && is_indices(x)) return alias(n, a);
  if (to != DType::kF32)
    throw Error(ErrorCode::kUnsupported, a.where() + ": Cast to " + dtype_name(to) +
                                             " at run time (teeinfer computes in float32; only casts to float32 "
                                             "of runtime tensors, and casts of bools, are supported)");
  if (g_.value(x).dtype == DType::kF32) return alias(n, a);
  emit(n, {x}, CastParams{});
}

ValueId Importer::logical_not_of(const onnx::NodeProto& node, ValueId m, bool last, int part) {
  ValueId zero = scalar_constant(first_output(node) + "#zero" + std::to_string(part), 0.f);
  return emit_part(node, last, part, {m, zero}, BinaryParams{BinaryKind::kEqual});
}

ValueId Importer::mask_operand(const onnx::NodeProto& node, int i, const OnnxAttrs& a) {
  if (constant(node, i)) return float_operand(node, i, a);
  ValueId v = runtime(node, i, a);
  if (g_.value(v).dtype == DType::kF32) return v;
  if (g_.value(v).dtype != DType::kBool)
    throw Error(ErrorCode::kBadModel, a.where() + ": input " + std::to_string(i) + " ('" + node.input(i) + "') is " +
                                          dtype_name(g_.value(v).dtype) + "; it must be bool");
  ValueId m = implied_node(node, "Cast", "input" + std::to_string(i) + "_as_float", {v}, CastParams{});
  masks_.insert(m);
  return m;
}

ValueId Importer::implied_node(const onnx::NodeProto& node, const std::string& op_type, const std::string& suffix,
                               std::vector<ValueId> inputs, OpParams params, const Dims* reshape_to) {
  first_output(node);
  onnx::NodeProto implied;
  implied.set_op_type(op_type);
  implied.set_name((node.name().empty() ? node.output(0) : node.name()) + "#" + suffix);
  implied.add_output(node.output(0) + "#" + suffix);
  emit(implied, std::move(inputs), std::move(params), reshape_to);
  return g_.nodes.back().outputs[0];
}

// Logic on runtime bools (masks of 1 and 0), through exact Binary kinds: Not(m) = (m == 0),
// And = m1 * m2, Or = max(m1, m2), Xor = Not(m1 == m2). Of constants they fold.
void Importer::logical_not(const onnx::NodeProto& n, const OnnxAttrs& a) {
  masks_.insert(logical_not_of(n, mask_operand(n, 0, a), true, 0));
}

template <BinaryKind kKind>
void Importer::logical(const onnx::NodeProto& n, const OnnxAttrs& a) {
  emit(n, {mask_operand(n, 0, a), mask_operand(n, 1, a)}, BinaryParams{kKind});
  masks_.insert(g_.nodes.back().outputs[0]);
}

void Importer::logical_xor(const onnx::NodeProto& n, const OnnxAttrs& a) {
  ValueId same =
      emit_part(n, false, 1, {mask_operand(n, 0, a), mask_operand(n, 1, a)}, BinaryParams{BinaryKind::kEqual});
  masks_.insert(logical_not_of(n, same, true, 2));
}

void Importer::lrn(const onnx::NodeProto& n, const OnnxAttrs& a) {
  LrnParams p{a.f("alpha", 1e-4f), a.f("beta", 0.75f), a.f("bias", 1.f), a.i("size", 0)};
  emit(n, {runtime(n, 0, a)}, p);
}

void Importer::pad(const onnx::NodeProto& n, const OnnxAttrs& a) {
  std::string mode = a.s("mode", "constant");
  PadParams p;
  if (mode == "reflect")
    p.mode = PadMode::kReflect;
  else if (mode == "edge")
    p.mode = PadMode::kEdge;
  else if (mode != "constant")
    throw Error(ErrorCode::kUnsupported,
                a.where() + ": mode '" + mode + "' (constant, reflect and edge are supported)");
  const Dims x = dims(n, 0, a);
  int64_t rank = static_cast<int64_t>(x.size());
  std::vector<int64_t> pads;
  if (opset_ < 11) {
    Dims d = a.ints(opset_ < 2 ? "paddings" : "pads", {});
    pads.assign(d.begin(), d.end());
    p.value = a.f("value", 0.f);
  } else {
    pads = int_list(required_constant(n, 1, a, "pads"), 2 * kMaxRank, a.where(), "pads");
    if (n.input_size() > 2 && !n.input(2).empty())
      p.value = scalar_or(&required_constant(n, 2, a, "constant_value"), 0.f);
    if (n.input_size() > 3 && !n.input(3).empty()) {  // opset 18: pads for these axes only
      std::vector<int64_t> axes = int_list(required_constant(n, 3, a, "axes"), kMaxRank, a.where(), "axes");
      if (pads.size() != 2 * axes.size())
        throw Error(ErrorCode::kBadModel, a.where() + ": pads must have 2 values per axis");
      std::vector<int64_t> full(2 * x.size(), 0);
      std::set<int64_t> seen;
      for (size_t k = 0; k < axes.size(); ++k) {
        int64_t ax = normalize_axis(axes[k], rank, a.where());
        if (!seen.insert(ax).second) throw Error(ErrorCode::kBadModel, a.where() + ": repeated axis");
        full[static_cast<size_t>(ax)] = pads[k];
        full[x.size() + static_cast<size_t>(ax)] = pads[axes.size() + k];
      }
      pads = full;
    }
  }
  if (pads.size() != 2 * x.size()) throw Error(ErrorCode::kBadModel, a.where() + ": pads must have 2 values per dim");
  p.pads_begin = Dims(pads.begin(), pads.begin() + rank);
  p.pads_end = Dims(pads.begin() + rank, pads.end());
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

// If. A condition known at import (a constant, or computed from shapes or from a bound
// input) selects the branch imported in place. A condition computed at run time imports
// both branches and selects each output with a Where (if_at_run_time).
void Importer::if_branch(const onnx::NodeProto& n, const OnnxAttrs& a) {
  if (n.input_size() < 1 || n.input(0).empty()) throw Error(ErrorCode::kBadModel, a.where() + ": has no condition");
  if (element_count(dims(n, 0, a), a.where()) != 1)
    throw Error(ErrorCode::kBadModel,
                a.where() + ": the condition must be one value, got dims " + dims_to_string(dims(n, 0, a)));
  if (const Value* cond = constant(n, 0)) return if_known_at_import(n, a, *cond);
  if_at_run_time(n, a);
}

const onnx::GraphProto& Importer::checked_branch(const onnx::NodeProto& n, const OnnxAttrs& a, const char* attr) const {
  const onnx::GraphProto* branch = a.graph(attr);
  if (!branch) throw Error(ErrorCode::kBadModel, a.where() + ": has no " + attr);
  if (branch->output_size() != n.output_size())
    throw Error(ErrorCode::kBadModel, a.where() + ": its " + attr + " has " + std::to_string(branch->output_size()) +
                                          " outputs, the node " + std::to_string(n.output_size()));
  return *branch;
}

void Importer::if_known_at_import(const onnx::NodeProto& n, const OnnxAttrs& a, const Value& cond) {
  const onnx::GraphProto& branch = checked_branch(n, a, to_i64s(cond)[0] != 0 ? "then_branch" : "else_branch");
  if (++subgraph_depth_ > kMaxSubgraphDepth)
    throw Error(ErrorCode::kBadModel,
                a.where() + ": subgraphs nested more than " + std::to_string(kMaxSubgraphDepth) + " deep");
  for (const auto& init : branch.initializer())
    define(init.name(), Sym{kNoValue, std::make_shared<Value>(value_from_tensor_proto(init, init.name(), &budget_))},
           "initializer '" + init.name() + "' of " + a.where());
  for (const onnx::NodeProto* node : topological_order(branch)) convert(*node);
  for (int i = 0; i < n.output_size(); ++i)
    if (!n.output(i).empty()) define(n.output(i), sym(branch.output(i).name(), a), a.where());
  --subgraph_depth_;
}

// A condition computed at run time: both branches are imported, each in a scope of its own
// (its names visible only inside it; its IR names prefixed "<If>/then/" or "<If>/else/"), and
// output i is Where(condition, then's output i, else's output i). Both branches therefore
// run on every inference, and the planner plans them both: the budget guarantee holds as
// for any graph. The two outputs must have the same dims (a Where cannot give one output
// the dims of whichever branch runs).
void Importer::if_at_run_time(const onnx::NodeProto& n, const OnnxAttrs& a) {
  first_output(n);  // names the branches' scopes
  const ValueId cond = mask_operand(n, 0, a);
  const std::vector<ValueId> then_out = import_branch_beside(n, a, true);
  const std::vector<ValueId> else_out = import_branch_beside(n, a, false);
  std::map<size_t, ValueId> cond_of_rank;  // the condition reshaped for outputs of lower rank
  for (int i = 0; i < n.output_size(); ++i) {
    if (n.output(i).empty()) continue;
    const Value& t = g_.value(then_out[static_cast<size_t>(i)]);
    const Value& e = g_.value(else_out[static_cast<size_t>(i)]);
    if (t.dims != e.dims)
      throw Error(ErrorCode::kUnsupported,
                  a.where() + ": its condition is computed at run time and output " + std::to_string(i) + " is " +
                      dims_to_string(t.dims) + " in then_branch ('" + t.name + "') but " + dims_to_string(e.dims) +
                      " in else_branch ('" + e.name +
                      "'); teeinfer selects between both branches' outputs, which needs the same dims");
    const size_t rank = t.dims.size();
    if (!cond_of_rank.count(rank)) cond_of_rank[rank] = condition_of_rank(n, cond, rank);
    ValueId c = cond_of_rank[rank];
    emit(n, {c, then_out[static_cast<size_t>(i)], else_out[static_cast<size_t>(i)]}, WhereParams{}, nullptr, i);
    if (is_mask(then_out[static_cast<size_t>(i)]) && is_mask(else_out[static_cast<size_t>(i)]))
      masks_.insert(g_.nodes.back().outputs[0]);
  }
}

std::vector<ValueId> Importer::import_branch_beside(const onnx::NodeProto& n, const OnnxAttrs& a, bool then) {
  const onnx::GraphProto& branch = checked_branch(n, a, then ? "then_branch" : "else_branch");
  if (++subgraph_depth_ > kMaxSubgraphDepth)
    throw Error(ErrorCode::kBadModel,
                a.where() + ": subgraphs nested more than " + std::to_string(kMaxSubgraphDepth) + " deep");
  std::map<std::string, Sym> outer = syms_;
  const std::string outer_scope = scope_;
  scope_ += (n.name().empty() ? n.output(0) : n.name()) + (then ? "/then/" : "/else/");
  for (const auto& init : branch.initializer())
    define(init.name(), Sym{kNoValue, std::make_shared<Value>(value_from_tensor_proto(init, init.name(), &budget_))},
           "initializer '" + init.name() + "' of " + a.where());
  for (const onnx::NodeProto* node : topological_order(branch)) convert(*node);
  std::vector<ValueId> out;
  for (int i = 0; i < branch.output_size(); ++i) {
    const std::string& name = branch.output(i).name();
    sym(name, a);  // defined
    Sym& s = syms_[name];
    const Value* c = constant_of(s);
    if (c && c->dtype != DType::kF32) {  // a constant output (a bool or integer one) as float32
      out.push_back(g_.add_value(convert_constant(*c, DType::kF32, scope_ + name, budget_)));
      if (c->dtype == DType::kBool) masks_.insert(out.back());
    } else {
      out.push_back(materialize(s, scope_ + name));
    }
  }
  closed_scopes_.push_back(std::exchange(syms_, std::move(outer)));
  scope_ = outer_scope;
  --subgraph_depth_;
  return out;
}

ValueId Importer::condition_of_rank(const onnx::NodeProto& n, ValueId cond, size_t rank) {
  if (g_.value(cond).dims.size() <= rank) return cond;
  const Dims ones(rank, 1);
  return implied_node(n, "Reshape", "condition_rank" + std::to_string(rank), {cond}, ReshapeParams{}, &ones);
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

// Slice of a runtime tensor: starts/ends/axes/steps are attributes (opset < 10) or constants.
void Importer::slice(const onnx::NodeProto& n, const OnnxAttrs& a) {
  const Dims x = dims(n, 0, a);
  SliceSpec spec = slice_spec(a, x, constant_operands(n, 1, a), opset_);
  if (element_count(spec.sizes, a.where()) == 0)
    throw Error(ErrorCode::kUnsupported, a.where() + ": the slice is empty; teeinfer does not run on empty tensors");
  emit(n, {runtime(n, 0, a)}, SliceParams{spec.starts, spec.steps, spec.sizes});
}

// Split of a runtime tensor: one Slice node per output.
void Importer::split(const onnx::NodeProto& n, const OnnxAttrs& a) {
  const Dims x = dims(n, 0, a);
  std::vector<const Value*> ops = constant_operands(n, 1, a);
  int64_t axis = 0;
  std::vector<int64_t> sizes = split_sizes(a, x, ops.size() > 1 ? ops[1] : nullptr, n.output_size(), opset_, &axis);
  ValueId in = runtime(n, 0, a);
  int64_t first = 0;
  for (size_t k = 0; k < sizes.size(); ++k) {
    if (sizes[k] == 0)
      throw Error(ErrorCode::kUnsupported,
                  a.where() + ": output " + std::to_string(k) + " is empty; teeinfer does not run on empty tensors");
    SliceParams p{Dims(x.size(), 0), Dims(x.size(), 1), x};
    p.starts[static_cast<size_t>(axis)] = first;
    p.sizes[static_cast<size_t>(axis)] = sizes[k];
    first += sizes[k];
    if (!n.output(static_cast<int>(k)).empty()) emit(n, {in}, p, nullptr, static_cast<int>(k));
  }
}

// Gather from a runtime tensor at constant indices.
void Importer::gather(const onnx::NodeProto& n, const OnnxAttrs& a) {
  const Dims x = dims(n, 0, a);
  const Value& idx = required_constant(n, 1, a, "indices");
  if (idx.dtype != DType::kI64 && idx.dtype != DType::kI32)
    throw Error(ErrorCode::kBadModel, a.where() + ": indices must be int64 or int32, got " + dtype_name(idx.dtype));
  GatherParams p;
  p.axis = normalize_axis(a.i("axis", 0), static_cast<int64_t>(x.size()), a.where());
  if (element_count(idx.dims, idx.name) > (int64_t{1} << 24))
    throw Error(ErrorCode::kUnsupported, a.where() + ": more than 2^24 indices");
  p.indices_dims = idx.dims;
  p.indices = to_i64s(idx);
  int64_t extent = x[static_cast<size_t>(p.axis)];
  for (int64_t& k : p.indices) {
    if (k < -extent || k >= extent)
      throw Error(ErrorCode::kBadModel,
                  a.where() + ": index " + std::to_string(k) + " out of range for dim " + std::to_string(extent));
    if (k < 0) k += extent;
  }
  if (p.indices.empty())
    throw Error(ErrorCode::kUnsupported, a.where() + ": no indices; teeinfer does not run on empty tensors");
  emit(n, {runtime(n, 0, a)}, std::move(p));
}

void Importer::tile(const onnx::NodeProto& n, const OnnxAttrs& a) {
  if (opset_ < 6) throw Error(ErrorCode::kUnsupported, a.where() + ": Tile before opset 6 (tiles/axis inputs)");
  const Dims x = dims(n, 0, a);
  std::vector<int64_t> reps = int_list(required_constant(n, 1, a, "repeats"), kMaxRank, a.where(), "repeats");
  if (reps.size() != x.size()) throw Error(ErrorCode::kBadModel, a.where() + ": repeats needs one value per dim");
  for (int64_t r : reps) {
    if (r < 0) throw Error(ErrorCode::kBadModel, a.where() + ": negative repeats");
    if (r == 0) throw Error(ErrorCode::kUnsupported, a.where() + ": repeats 0 makes an empty tensor");
  }
  emit(n, {runtime(n, 0, a)}, TileParams{Dims(reps.begin(), reps.end())});
}

// Expand: numpy broadcasting of x and the shape; a Tile repeating x's dims of 1.
void Importer::expand(const onnx::NodeProto& n, const OnnxAttrs& a) {
  const Dims x = dims(n, 0, a);
  std::vector<int64_t> shape = int_list(required_constant(n, 1, a, "shape"), kMaxRank, a.where(), "shape");
  for (int64_t d : shape)
    if (d < 0) throw Error(ErrorCode::kBadModel, a.where() + ": negative dim in the shape");
  Dims y = broadcast_dims(x, Dims(shape.begin(), shape.end()), a.where());
  Dims reps(y.size(), 1);
  size_t lead = y.size() - x.size();
  for (size_t k = 0; k < y.size(); ++k) {
    int64_t d = k < lead ? 1 : x[k - lead];
    if (y[k] == 0) throw Error(ErrorCode::kUnsupported, a.where() + ": the output is empty");
    reps[k] = y[k] / d;
  }
  emit(n, {runtime(n, 0, a)}, TileParams{reps});
}

namespace {

ResizeCoordinates resize_coordinates(const std::string& s, const OnnxAttrs& a) {
  if (s == "half_pixel") return ResizeCoordinates::kHalfPixel;
  if (s == "half_pixel_symmetric") return ResizeCoordinates::kHalfPixelSymmetric;
  if (s == "pytorch_half_pixel") return ResizeCoordinates::kPytorchHalfPixel;
  if (s == "align_corners") return ResizeCoordinates::kAlignCorners;
  if (s == "asymmetric") return ResizeCoordinates::kAsymmetric;
  if (s == "tf_crop_and_resize") return ResizeCoordinates::kTfCropAndResize;
  if (s == "tf_half_pixel_for_nn") return ResizeCoordinates::kTfHalfPixelForNn;
  throw Error(ErrorCode::kBadModel, a.where() + ": unknown coordinate_transformation_mode '" + s + "'");
}

ResizeMode resize_mode(const std::string& s, const OnnxAttrs& a) {
  if (s == "nearest") return ResizeMode::kNearest;
  if (s == "linear" || s == "bilinear") return ResizeMode::kLinear;  // Upsample-7 also says bilinear
  if (s == "cubic") return ResizeMode::kCubic;
  throw Error(ErrorCode::kBadModel, a.where() + ": unknown mode '" + s + "'");
}

ResizeNearest resize_nearest(const std::string& s, const OnnxAttrs& a) {
  if (s == "round_prefer_floor") return ResizeNearest::kRoundPreferFloor;
  if (s == "round_prefer_ceil") return ResizeNearest::kRoundPreferCeil;
  if (s == "floor") return ResizeNearest::kFloor;
  if (s == "ceil") return ResizeNearest::kCeil;
  throw Error(ErrorCode::kBadModel, a.where() + ": unknown nearest_mode '" + s + "'");
}

std::vector<float> float_list(const Value& v, size_t most, const std::string& where, const char* role) {
  if (v.dtype != DType::kF32)
    throw Error(ErrorCode::kBadModel, where + ": " + role + " must be float32, got " + dtype_name(v.dtype));
  if (v.dims.size() > 1 || static_cast<uint64_t>(element_count(v.dims, v.name)) > most)
    throw Error(ErrorCode::kBadModel,
                where + ": " + role + " must be 1-D with at most " + std::to_string(most) + " values");
  if (v.data.size() != byte_size(v.dtype, v.dims, v.name))
    throw Error(ErrorCode::kBadModel, where + ": " + role + " holds the wrong number of bytes");
  std::vector<float> out(v.data.size() / 4);
  if (!out.empty()) std::memcpy(out.data(), v.data.data(), v.data.size());
  return out;
}

}  // namespace

// Resize/Upsample to fixed dims: `scales` or `sizes` (one per axis of `axes`, or per dim),
// roi for tf_crop_and_resize (2 per axis), keep_aspect_ratio_policy (opset 18).
void Importer::resize_to(const onnx::NodeProto& n, const OnnxAttrs& a, ResizeParams p, const std::vector<float>& scales,
                         const std::vector<int64_t>& sizes, const std::vector<float>& roi, const Dims& axes_in,
                         const std::string& policy) {
  const Dims x = dims(n, 0, a);
  size_t rank = x.size();
  Dims axes = axes_in;
  if (axes.empty())
    for (size_t i = 0; i < rank; ++i) axes.push_back(static_cast<int64_t>(i));
  std::set<int64_t> seen;
  for (int64_t& ax : axes) {
    ax = normalize_axis(ax, static_cast<int64_t>(rank), a.where());
    if (!seen.insert(ax).second) throw Error(ErrorCode::kBadModel, a.where() + ": repeated axis");
  }
  bool by_sizes = !sizes.empty();
  if (by_sizes == !scales.empty())
    throw Error(ErrorCode::kBadModel, a.where() + ": exactly one of scales and sizes must be given");
  if ((by_sizes ? sizes.size() : scales.size()) != axes.size())
    throw Error(ErrorCode::kBadModel,
                a.where() + ": scales/sizes need one value per axis (" + std::to_string(axes.size()) + ")");
  p.scales.assign(rank, 1.f);
  p.sizes = x;
  std::vector<double> roi_full(2 * rank);
  for (size_t i = 0; i < rank; ++i) roi_full[i] = 0, roi_full[rank + i] = 1;
  if (p.coordinates == ResizeCoordinates::kTfCropAndResize) {
    if (roi.size() != 2 * axes.size())
      throw Error(ErrorCode::kBadModel, a.where() + ": tf_crop_and_resize needs roi with 2 values per axis");
    for (size_t k = 0; k < axes.size(); ++k) {
      roi_full[static_cast<size_t>(axes[k])] = roi[k];
      roi_full[rank + static_cast<size_t>(axes[k])] = roi[axes.size() + k];
    }
    for (double r : roi_full)
      if (!std::isfinite(r)) throw Error(ErrorCode::kBadModel, a.where() + ": roi must be finite");
    p.roi.assign(roi_full.begin(), roi_full.end());
  }
  if (by_sizes) {
    for (int64_t s : sizes)
      if (s < 1) throw Error(ErrorCode::kUnsupported, a.where() + ": output sizes must be positive (no empty tensors)");
    if (policy == "stretch") {
      for (size_t k = 0; k < axes.size(); ++k) {
        size_t ax = static_cast<size_t>(axes[k]);
        p.sizes[ax] = sizes[k];
        p.scales[ax] = static_cast<float>(static_cast<double>(sizes[k]) / static_cast<double>(x[ax]));
      }
    } else if (policy == "not_larger" || policy == "not_smaller") {
      double scale = policy == "not_larger" ? INFINITY : 0;
      for (size_t k = 0; k < axes.size(); ++k) {
        double r = static_cast<double>(sizes[k]) / static_cast<double>(x[static_cast<size_t>(axes[k])]);
        scale = policy == "not_larger" ? std::min(scale, r) : std::max(scale, r);
      }
      for (int64_t ax : axes) {
        p.scales[static_cast<size_t>(ax)] = static_cast<float>(scale);
        double sz = std::nearbyint(scale * static_cast<double>(x[static_cast<size_t>(ax)]));
        if (!(sz >= 1) || sz > 1e15) throw Error(ErrorCode::kUnsupported, a.where() + ": output dims out of range");
        p.sizes[static_cast<size_t>(ax)] = static_cast<int64_t>(sz);
      }
    } else {
      throw Error(ErrorCode::kBadModel, a.where() + ": unknown keep_aspect_ratio_policy '" + policy + "'");
    }
  } else {
    for (size_t k = 0; k < axes.size(); ++k) {
      size_t ax = static_cast<size_t>(axes[k]);
      float sc = scales[k];
      if (!(sc > 0.f) || !std::isfinite(sc)) throw Error(ErrorCode::kBadModel, a.where() + ": scales must be positive");
      double extent = p.coordinates == ResizeCoordinates::kTfCropAndResize ? roi_full[rank + ax] - roi_full[ax] : 1.0;
      double sz = std::floor(static_cast<double>(x[ax]) * extent * static_cast<double>(sc));
      if (!(sz >= 1))
        throw Error(ErrorCode::kUnsupported,
                    a.where() + ": the output is empty; teeinfer does not run on empty tensors");
      if (sz > 1e15) throw Error(ErrorCode::kBadModel, a.where() + ": the output is absurdly large");
      p.sizes[ax] = static_cast<int64_t>(sz);
      p.scales[ax] = sc;
    }
  }
  emit(n, {runtime(n, 0, a)}, std::move(p));
}

void Importer::resize(const onnx::NodeProto& n, const OnnxAttrs& a) {
  ResizeParams p;
  p.mode = resize_mode(a.s("mode", "nearest"), a);
  if (a.i("antialias", 0) != 0) throw Error(ErrorCode::kUnsupported, a.where() + ": antialias");
  std::vector<const Value*> ops = constant_operands(n, 1, a);
  size_t rank = dims(n, 0, a).size();
  std::vector<float> scales, roi;
  std::vector<int64_t> sizes;
  if (opset_ < 11) {  // X, scales; asymmetric coordinates (Resize-10 is Upsample-9)
    p.coordinates = ResizeCoordinates::kAsymmetric;
    p.nearest = ResizeNearest::kSimple;
    if (ops.size() < 2 || !ops[1]) throw Error(ErrorCode::kBadModel, a.where() + ": missing scales");
    scales = float_list(*ops[1], kMaxRank, a.where(), "scales");
    return resize_to(n, a, p, scales, sizes, roi, {}, "stretch");
  }
  p.coordinates = resize_coordinates(a.s("coordinate_transformation_mode", "half_pixel"), a);
  p.nearest = resize_nearest(a.s("nearest_mode", "round_prefer_floor"), a);
  p.cubic_a = a.f("cubic_coeff_a", -0.75f);
  p.exclude_outside = a.i("exclude_outside", 0) != 0;
  p.extrapolation_value = a.f("extrapolation_value", 0.f);
  Dims axes = opset_ >= 18 ? a.ints("axes", {}) : Dims{};
  size_t most = axes.empty() ? rank : axes.size();
  if (ops.size() > 1 && ops[1] && p.coordinates == ResizeCoordinates::kTfCropAndResize)
    roi = float_list(*ops[1], 2 * most, a.where(), "roi");
  if (ops.size() > 2 && ops[2]) scales = float_list(*ops[2], most, a.where(), "scales");
  if (ops.size() > 3 && ops[3]) sizes = int_list(*ops[3], most, a.where(), "sizes");
  if (!sizes.empty() && !scales.empty())
    throw Error(ErrorCode::kBadModel, a.where() + ": scales and sizes are both given");
  resize_to(n, a, p, scales, sizes, roi, axes, opset_ >= 18 ? a.s("keep_aspect_ratio_policy", "stretch") : "stretch");
}

// Upsample (opset 7: scales attribute; 9: scales input): asymmetric coordinates, nearest or
// (bi)linear.
void Importer::upsample(const onnx::NodeProto& n, const OnnxAttrs& a) {
  ResizeParams p;
  p.mode = resize_mode(a.s("mode", "nearest"), a);
  if (p.mode == ResizeMode::kCubic) throw Error(ErrorCode::kBadModel, a.where() + ": Upsample has no cubic mode");
  p.coordinates = ResizeCoordinates::kAsymmetric;
  p.nearest = ResizeNearest::kSimple;
  std::vector<float> scales;
  if (opset_ < 9) {
    scales = a.floats("scales");
  } else {
    std::vector<const Value*> ops = constant_operands(n, 1, a);
    if (ops.size() < 2 || !ops[1]) throw Error(ErrorCode::kBadModel, a.where() + ": missing scales");
    scales = float_list(*ops[1], kMaxRank, a.where(), "scales");
  }
  for (float s : scales)
    if (s < 1.f) throw Error(ErrorCode::kBadModel, a.where() + ": Upsample scales must be >= 1");
  resize_to(n, a, p, scales, {}, {}, {}, "stretch");
}

// ONNX RNN, GRU and LSTM (opsets 7-14): one Recurrent node per direction (the IR's gate
// order and summed biases are made here: host/recurrent_weights.h), then the outputs the
// model uses sliced from its packed output (common/graph.h, RecurrentParams), reshaped to
// ONNX's dims and, for a bidirectional node, concatenated over the direction axis.
// oneDNN's cells are the ONNX defaults: LSTM sigmoid/tanh/tanh, GRU sigmoid/tanh, RNN
// tanh, relu or sigmoid; clip, input_forget and sequences of different lengths have no
// oneDNN equivalent and are refused by name.
void Importer::rnn(const onnx::NodeProto& n, const OnnxAttrs& a) {
  recurrent(n, a, RecurrentCell::kRnn);
}

void Importer::gru(const onnx::NodeProto& n, const OnnxAttrs& a) {
  recurrent(n, a, a.i("linear_before_reset", 0) != 0 ? RecurrentCell::kGruLinearBeforeReset : RecurrentCell::kGru);
}

void Importer::lstm(const onnx::NodeProto& n, const OnnxAttrs& a) {
  recurrent(n, a, RecurrentCell::kLstm);
}

ValueId Importer::emit_as(const onnx::NodeProto& node, const std::string& name, const std::string& output,
                          std::vector<ValueId> inputs, OpParams params, const Dims* reshape_to) {
  onnx::NodeProto step;
  step.set_op_type(node.op_type());
  step.set_name(name);
  step.add_output(output);
  emit(step, std::move(inputs), std::move(params), reshape_to);
  return g_.nodes.back().outputs[0];
}

namespace {

bool same_name(std::string a, std::string b) {  // activation names, case-insensitively
  auto lower = [](std::string& s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  };
  lower(a);
  lower(b);
  return a == b;
}

// The activation of direction `d`: ONNX's list (per direction, f, g[, h]) must name the
// cell's defaults, except an RNN's one function.
RnnActivation recurrent_activation(const OnnxAttrs& a, RecurrentCell cell, int64_t d, int64_t dirs) {
  std::vector<std::string> given = a.strings("activations");
  const std::vector<std::string> defaults = cell == RecurrentCell::kLstm
                                                ? std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"}
                                            : cell == RecurrentCell::kRnn ? std::vector<std::string>{"Tanh"}
                                                                          : std::vector<std::string>{"Sigmoid", "Tanh"};
  if (given.empty()) return RnnActivation::kTanh;
  const size_t per = defaults.size();
  if (given.size() != per * static_cast<size_t>(dirs))
    throw Error(ErrorCode::kBadModel, a.where() + ": activations must name " + std::to_string(per * dirs) +
                                          " functions (" + std::to_string(per) + " per direction)");
  if (cell == RecurrentCell::kRnn) {
    const std::string& f = given[static_cast<size_t>(d)];
    if (same_name(f, "Tanh")) return RnnActivation::kTanh;
    if (same_name(f, "Relu")) return RnnActivation::kRelu;
    if (same_name(f, "Sigmoid")) return RnnActivation::kSigmoid;
    throw Error(ErrorCode::kUnsupported,
                a.where() + ": activation '" + f + "' (oneDNN's RNN cell takes Tanh, Relu or Sigmoid)");
  }
  for (size_t k = 0; k < per; ++k)
    if (!same_name(given[static_cast<size_t>(d) * per + k], defaults[k]))
      throw Error(ErrorCode::kUnsupported, a.where() + ": activation '" + given[static_cast<size_t>(d) * per + k] +
                                               "' in place of " + defaults[k] +
                                               " (oneDNN's cells compute the ONNX defaults only)");
  return RnnActivation::kTanh;
}

}  // namespace

ValueId Importer::recurrent_state(const onnx::NodeProto& n, const OnnxAttrs& a, int i, int64_t d, int64_t dirs,
                                  bool batch_first, const Dims& state_dims, const std::string& name) {
  const int64_t batch = batch_first ? state_dims[0] : state_dims[1], hidden = state_dims[2];
  if (i >= n.input_size() || n.input(i).empty())
    return g_.add_value(recurrent_zero_state(batch, hidden, name, budget_));
  if (dims(n, i, a) != state_dims)
    throw Error(ErrorCode::kBadModel, a.where() + ": input " + std::to_string(i) + " ('" + n.input(i) + "') must be " +
                                          dims_to_string(state_dims) + ", is " + dims_to_string(dims(n, i, a)));
  ValueId all = float_operand(n, i, a);
  if (dirs == 1) return all;
  SliceParams p{Dims(3, 0), Dims(3, 1), state_dims};
  const size_t axis = batch_first ? 1 : 0;
  p.starts[axis] = d;
  p.sizes[axis] = 1;
  return emit_as(n, name, name, {all}, p);
}

void Importer::recurrent(const onnx::NodeProto& n, const OnnxAttrs& a, RecurrentCell cell) {
  const bool lstm = cell == RecurrentCell::kLstm;
  const Dims x = dims(n, 0, a);
  const Value& w = required_constant(n, 1, a, "W");
  const Value& r = required_constant(n, 2, a, "R");
  const Value* b = n.input_size() > 3 && !n.input(3).empty() ? &required_constant(n, 3, a, "B") : nullptr;
  const Value* peepholes =
      lstm && n.input_size() > 7 && !n.input(7).empty() ? &required_constant(n, 7, a, "P") : nullptr;
  const std::string direction = a.s("direction", "forward");
  if (direction != "forward" && direction != "reverse" && direction != "bidirectional")
    throw Error(ErrorCode::kBadModel, a.where() + ": unknown direction '" + direction + "'");
  const int64_t dirs = direction == "bidirectional" ? 2 : 1, layout = a.i("layout", 0), gates = recurrent_gates(cell);
  if (layout != 0 && layout != 1) throw Error(ErrorCode::kBadModel, a.where() + ": layout must be 0 or 1");
  const bool batch_first = layout == 1;
  if (x.size() != 3) throw Error(ErrorCode::kBadModel, a.where() + ": X must be 3-D, is " + dims_to_string(x));
  if (w.dims.size() != 3 || w.dims[0] != dirs || w.dims[1] % gates != 0 || w.dims[2] != x[2])
    throw Error(ErrorCode::kBadModel, a.where() + ": W " + dims_to_string(w.dims) + " does not fit X " +
                                          dims_to_string(x) + " and " + std::to_string(dirs) + " direction(s)");
  const int64_t hidden = a.i("hidden_size", w.dims[1] / gates);
  if (hidden < 1 || hidden > (int64_t{1} << 24) || w.dims[1] != gates * hidden)
    throw Error(ErrorCode::kBadModel,
                a.where() + ": hidden_size " + std::to_string(hidden) + " does not fit W " + dims_to_string(w.dims));
  if (a.has("clip"))
    throw Error(ErrorCode::kUnsupported, a.where() + ": clip (oneDNN's RNN cells do not clip their inputs)");
  if (lstm && a.i("input_forget", 0) != 0)
    throw Error(ErrorCode::kUnsupported, a.where() + ": input_forget (oneDNN's LSTM has no coupled gates)");
  const int64_t steps = batch_first ? x[1] : x[0], batch = batch_first ? x[0] : x[1];
  if (const Value* lens =
          n.input_size() > 4 && !n.input(4).empty() ? &required_constant(n, 4, a, "sequence_lens") : nullptr) {
    std::vector<int64_t> v = to_i64s(*lens);
    if (static_cast<int64_t>(v.size()) != batch ||
        std::any_of(v.begin(), v.end(), [steps](int64_t len) { return len != steps; }))
      throw Error(ErrorCode::kUnsupported, a.where() + ": sequence_lens other than the full length " +
                                               std::to_string(steps) + " for every batch entry");
  }
  const Dims state_dims = batch_first ? Dims{batch, dirs, hidden} : Dims{dirs, batch, hidden};
  const std::string stem = n.name().empty() ? n.output(0).empty() ? n.output(1) : n.output(0) : n.name();
  const int outputs = lstm ? 3 : 2;
  auto part_name = [&](int64_t d) { return dirs == 1 ? stem : stem + (d == 0 ? "#forward" : "#backward"); };
  // Every direction's weights first: w, r, b and peepholes may point into the graph's
  // values, which adding values moves.
  std::vector<std::vector<Value>> weights(static_cast<size_t>(dirs));
  for (int64_t d = 0; d < dirs; ++d) {
    auto& wd = weights[static_cast<size_t>(d)];
    wd.push_back(recurrent_gate_rows(w, d, cell, hidden, part_name(d) + "#W", budget_));
    wd.push_back(recurrent_gate_rows(r, d, cell, hidden, part_name(d) + "#R", budget_));
    wd.push_back(recurrent_bias(b, d, cell, hidden, part_name(d) + "#B", budget_));
    if (peepholes) wd.push_back(recurrent_peepholes(*peepholes, d, hidden, part_name(d) + "#P", budget_));
  }
  std::vector<std::vector<ValueId>> parts(static_cast<size_t>(outputs));
  for (int64_t d = 0; d < dirs; ++d) {
    const std::string part = part_name(d);
    auto& wd = weights[static_cast<size_t>(d)];
    std::vector<ValueId> in{runtime(n, 0, a), g_.add_value(std::move(wd[0])), g_.add_value(std::move(wd[1])),
                            g_.add_value(std::move(wd[2])),
                            recurrent_state(n, a, 5, d, dirs, batch_first, state_dims, part + "#initial_h")};
    if (lstm) in.push_back(recurrent_state(n, a, 6, d, dirs, batch_first, state_dims, part + "#initial_c"));
    if (peepholes) in.push_back(g_.add_value(std::move(wd[3])));
    RecurrentParams p{cell, recurrent_activation(a, cell, d, dirs), hidden, direction == "reverse" || d == 1,
                      batch_first};
    ValueId packed = emit_as(n, part, part + "#packed", std::move(in), p);
    // Y, Y_h, Y_c of this direction: a slice of the packed output, in ONNX's dims for one direction.
    const int64_t state = batch * hidden;
    for (int k = 0; k < outputs; ++k) {
      if (k >= n.output_size() || n.output(k).empty()) continue;
      const int64_t count = k == 0 ? steps * state : state, start = k == 0 ? 0 : (steps + k - 1) * state;
      const Dims one = k == 0 ? (batch_first ? Dims{batch, steps, 1, hidden} : Dims{steps, 1, batch, hidden})
                              : (batch_first ? Dims{batch, 1, hidden} : Dims{1, batch, hidden});
      const std::string piece = part + "#" + std::to_string(k);
      ValueId sliced = emit_as(n, piece + "#slice", piece + "#slice", {packed}, SliceParams{{start}, {1}, {count}});
      parts[static_cast<size_t>(k)].push_back(
          emit_as(n, piece, dirs == 1 ? n.output(k) : piece, {sliced}, ReshapeParams{}, &one));
    }
  }
  if (dirs == 1) return;
  for (int k = 0; k < outputs; ++k) {
    if (k >= n.output_size() || n.output(k).empty()) continue;
    const int64_t axis = k == 0 ? (batch_first ? 2 : 1) : (batch_first ? 1 : 0);
    emit_as(n, stem + "#" + std::to_string(k), n.output(k), parts[static_cast<size_t>(k)], ConcatParams{axis});
  }
}

void Importer::conv_transpose(const onnx::NodeProto& n, const OnnxAttrs& a) {
  const Dims x = dims(n, 0, a);
  const Value& w = required_constant(n, 1, a, "weight");
  if (x.size() < 3 || w.dims.size() != x.size())
    throw Error(ErrorCode::kBadModel, a.where() + ": input " + dims_to_string(x) + " and weight " +
                                          dims_to_string(w.dims) + " ranks do not fit");
  size_t sp = x.size() - 2;
  ConvTransposeParams p;
  p.kernel = a.ints("kernel_shape", Dims(w.dims.begin() + 2, w.dims.end()));
  p.strides = a.ints("strides", Dims(sp, 1));
  p.dilations = a.ints("dilations", Dims(sp, 1));
  p.groups = a.i("group", 1);
  p.output_padding = a.ints("output_padding", Dims(sp, 0));
  check_window_params(a.where(), sp, p.kernel, p.strides, p.dilations, {}, {});
  if (p.output_padding.size() != sp)
    throw Error(ErrorCode::kBadModel, a.where() + ": output_padding needs one value per spatial dim");
  for (int64_t v : p.output_padding)
    if (v < 0 || v > kMaxWindowParam) throw Error(ErrorCode::kBadModel, a.where() + ": output_padding out of range");
  for (size_t i = 0; i < sp; ++i)
    if (x[i + 2] > kMaxWindowParam * 64) throw Error(ErrorCode::kUnsupported, a.where() + ": input too large");
  // The full output, before pads: (x - 1) * stride + (kernel - 1) * dilation + 1 + output_padding.
  Dims full(sp);
  for (size_t i = 0; i < sp; ++i)
    full[i] = (x[i + 2] - 1) * p.strides[i] + (p.kernel[i] - 1) * p.dilations[i] + 1 + p.output_padding[i];
  std::string auto_pad = a.s("auto_pad", "NOTSET");
  p.pads_begin.assign(sp, 0);
  p.pads_end.assign(sp, 0);
  if (a.has("output_shape")) {
    // The pads that give this output: total = full - output, split as the spec says
    // (SAME_UPPER puts an odd one at the end; SAME_LOWER and NOTSET at the beginning, as
    // ONNX's reference does; ONNX Runtime splits NOTSET the other way round).
    Dims out = a.ints("output_shape", {});
    if (out.size() == sp + 2) out.erase(out.begin(), out.begin() + 2);
    if (out.size() != sp) throw Error(ErrorCode::kBadModel, a.where() + ": output_shape needs the spatial dims");
    for (size_t i = 0; i < sp; ++i) {
      if (out[i] < 1 || out[i] > kMaxWindowParam * 64)
        throw Error(ErrorCode::kBadModel, a.where() + ": output_shape " + dims_to_string(out) + " out of range");
      int64_t total = full[i] - out[i];
      if (total < 0) {  // a larger output: the extra positions at the end see only the bias
        p.output_padding[i] -= total;
        continue;
      }
      p.pads_begin[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      p.pads_end[i] = total - p.pads_begin[i];
    }
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    for (size_t i = 0; i < sp; ++i) {  // output = input * stride
      int64_t total = std::max<int64_t>(full[i] - x[i + 2] * p.strides[i], 0);
      p.pads_begin[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      p.pads_end[i] = total - p.pads_begin[i];
    }
  } else if (auto_pad == "NOTSET") {
    Dims pads = a.ints("pads", Dims(2 * sp, 0));
    if (pads.size() != 2 * sp)
      throw Error(ErrorCode::kBadModel, a.where() + ": pads must have 2 values per spatial dim");
    for (size_t i = 0; i < sp; ++i) p.pads_begin[i] = pads[i], p.pads_end[i] = pads[i + sp];
  } else if (auto_pad != "VALID") {
    throw Error(ErrorCode::kBadModel, a.where() + ": unknown auto_pad '" + auto_pad + "'");
  }
  emit(n, {runtime(n, 0, a), runtime(n, 1, a), optional_runtime(n, 2, a)}, p);
}

void Importer::depth_to_space(const onnx::NodeProto& n, const OnnxAttrs& a) {
  DepthToSpaceParams p;
  p.block = a.i("blocksize", 0);
  std::string mode = opset_ >= 11 ? a.s("mode", "DCR") : "DCR";
  if (mode != "DCR" && mode != "CRD") throw Error(ErrorCode::kBadModel, a.where() + ": unknown mode '" + mode + "'");
  p.crd = mode == "CRD";
  emit(n, {runtime(n, 0, a)}, p);
}

void Importer::space_to_depth(const onnx::NodeProto& n, const OnnxAttrs& a) {
  DepthToSpaceParams p;
  p.block = a.i("blocksize", 0);
  p.space_to_depth = true;
  emit(n, {runtime(n, 0, a)}, p);
}

// Where of float32 tensors. The condition: a bool constant (as a float32 one of 1 and 0),
// or at run time a mask (a comparison's, a Cast to bool's, a bool graph input's).
void Importer::where(const onnx::NodeProto& n, const OnnxAttrs& a) {
  ValueId cv = kNoValue;
  if (const Value* c = n.input_size() > 0 ? constant(n, 0) : nullptr) {
    if (c->dtype != DType::kBool)
      throw Error(ErrorCode::kBadModel, a.where() + ": the condition must be bool, got " + dtype_name(c->dtype));
    if (c->data.size() != byte_size(c->dtype, c->dims, c->name))
      throw Error(ErrorCode::kBadModel, a.where() + ": the condition holds the wrong number of bytes");
    cv = g_.add_value(convert_constant(*c, DType::kF32, n.input(0) + " (as float)", budget_));
  } else {
    cv = mask_operand(n, 0, a);
  }
  ValueId x = runtime(n, 1, a), y = runtime(n, 2, a);
  emit(n, {cv, x, y}, WhereParams{});
}

// Linear quantization on runtime tensors (host/quantize_linear.h). A quantized runtime
// tensor is a float32 tensor holding its integers exactly; every op below computes in
// float32 with existing IR ops (Binary, Eltwise, Reduce, Conv, MatMul), so they need no
// kernel and no sealed-format change of their own, and their constants fold at import.

ValueId Importer::float_constant(const std::string& name, Dims dims, const std::vector<float>& values) {
  Value v;
  v.name = name;
  v.dtype = DType::kF32;
  v.dims = std::move(dims);
  v.is_constant = true;
  v.data.assign(budget_.allocate(DType::kF32, v.dims, name), 0);
  if (v.data.size() != values.size() * sizeof(float))
    throw Error(ErrorCode::kBadModel,
                "'" + name + "': " + std::to_string(values.size()) + " values for dims " + dims_to_string(v.dims));
  std::memcpy(v.data.data(), values.data(), v.data.size());
  return g_.add_value(std::move(v));
}

ValueId Importer::quant_operand(const onnx::NodeProto& n, int i, const OnnxAttrs& a, const Dims& x, int64_t axis,
                                const char* role) {
  if (i >= n.input_size() || n.input(i).empty()) return kNoValue;
  const bool zero_point = std::string_view(role).find("zero_point") != std::string_view::npos;
  const Value* c = constant(n, i);
  if (!c) {  // DynamicQuantizeLinear's scale and zero point: scalars computed at run time
    const Dims& d = dims(n, i, a);
    if (d.size() > 1 || element_count(d, n.input(i)) != 1)
      throw Error(ErrorCode::kUnsupported,
                  a.where() + ": " + role + " " + dims_to_string(d) + " computed at run time (only a scalar may be)");
    return runtime(n, i, a);
  }
  QuantParam q = quant_param(*c, x, axis, a.where(), role);
  if (zero_point && std::all_of(q.values.begin(), q.values.end(), [](float v) { return v == 0.f; })) return kNoValue;
  return float_constant(n.input(i) + "#f32", q.broadcast_dims(static_cast<int64_t>(x.size())), q.values);
}

ValueId Importer::shifted_constant(const onnx::NodeProto& n, int i, int zero_point, const OnnxAttrs& a, int64_t axis,
                                   Int8Weights* int8) {
  const Value& x = required_constant(n, i, a, "a quantized weight");
  const Value* zp = nullptr;
  if (zero_point < n.input_size() && !n.input(zero_point).empty())
    zp = &required_constant(n, zero_point, a, "the weight's zero point");
  Value one;
  one.name = n.input(i) + "#one";
  one.dtype = DType::kF32;
  one.data.resize(4);
  const float unit = 1.f;
  std::memcpy(one.data.data(), &unit, 4);
  // (x - zp) * 1: integers of at most 9 bits, exact in float32.
  Value v = fold_dequantize_linear(x, one, zp, axis, n.input(i) + "#shifted", a.where(), budget_);
  if (int8 && !v.dims.empty() && narrow_to_int8(v)) int8->weight_scales.assign(static_cast<size_t>(v.dims[0]), 1.f);
  return g_.add_value(std::move(v));
}

// The part numbers of Casts of integer graph inputs, apart from the ops' own parts.
constexpr int kCastPart = 100;

ValueId Importer::shifted(const onnx::NodeProto& n, int i, int zero_point, const OnnxAttrs& a, int64_t axis, int part) {
  bool zp_known = zero_point >= n.input_size() || n.input(zero_point).empty() || constant(n, zero_point);
  if (constant(n, i) && zp_known) return shifted_constant(n, i, zero_point, a, axis);
  const Dims x = dims(n, i, a);
  ValueId v = float_operand(n, i, a);
  // A uint8/int8 graph input (the runtime tensors made inside are float32 already).
  if (g_.value(v).dtype != DType::kF32) v = emit_part(n, false, kCastPart + part, {v}, CastParams{});
  ValueId z = quant_operand(n, zero_point, a, x, axis, "zero_point");
  if (z == kNoValue) return v;
  return emit_part(n, false, part, {v, z}, BinaryParams{BinaryKind::kSub});
}

void Importer::requantize(const onnx::NodeProto& n, const OnnxAttrs& a, ValueId acc, ValueId multiplier, int zero_point,
                          int first_part) {
  const Value* zp = nullptr;
  if (zero_point < n.input_size() && !n.input(zero_point).empty())
    zp = &required_constant(n, zero_point, a, "y_zero_point");
  QuantRange r = quant_range(zp ? zp->dtype : DType::kU8, a.where());
  ValueId v = emit_part(n, false, first_part, {acc, multiplier}, BinaryParams{BinaryKind::kMul});
  v = emit_part(n, false, first_part + 1, {v}, EltwiseParams{EltwiseKind::kRound, 0.f, 0.f});
  if (zp) {
    QuantParam z = quant_param(*zp, g_.value(v).dims, 0, a.where(), "y_zero_point");
    if (z.axis >= 0) throw Error(ErrorCode::kUnsupported, a.where() + ": a y_zero_point per axis");
    if (z.values[0] != 0.f)
      v = emit_part(n, false, first_part + 2, {v, float_constant(n.input(zero_point) + "#f32", {}, z.values)},
                    BinaryParams{BinaryKind::kAdd});
  }
  emit(n, {v}, EltwiseParams{EltwiseKind::kClip, r.lo, r.hi});
}

// y = saturate(round(x / y_scale) + y_zero_point); its type (uint8 unless the zero point
// says int8) sets the range, so the zero point must be a constant.
void Importer::quantize_linear(const onnx::NodeProto& n, const OnnxAttrs& a) {
  const Dims x = dims(n, 0, a);
  const int64_t axis = a.i("axis", 1);
  const Value* zp = nullptr;
  if (n.input_size() > 2 && !n.input(2).empty()) zp = &required_constant(n, 2, a, "y_zero_point");
  QuantRange r = quant_range(zp ? zp->dtype : DType::kU8, a.where());
  ValueId scale = quant_operand(n, 1, a, x, axis, "y_scale");
  if (scale == kNoValue) throw Error(ErrorCode::kBadModel, a.where() + ": no y_scale");
  ValueId q = emit_part(n, false, 1, {runtime(n, 0, a), scale}, BinaryParams{BinaryKind::kDiv});
  q = emit_part(n, false, 2, {q}, EltwiseParams{EltwiseKind::kRound, 0.f, 0.f});
  if (ValueId z = quant_operand(n, 2, a, x, axis, "y_zero_point"); z != kNoValue)
    q = emit_part(n, false, 3, {q, z}, BinaryParams{BinaryKind::kAdd});
  emit(n, {q}, EltwiseParams{EltwiseKind::kClip, r.lo, r.hi});
}

// y = (x - x_zero_point) * x_scale.
void Importer::dequantize_linear(const onnx::NodeProto& n, const OnnxAttrs& a) {
  const Dims x = dims(n, 0, a);
  const int64_t axis = a.i("axis", 1);
  ValueId scale = quant_operand(n, 1, a, x, axis, "x_scale");
  if (scale == kNoValue) throw Error(ErrorCode::kBadModel, a.where() + ": no x_scale");
  emit(n, {shifted(n, 0, 2, a, axis, 1), scale}, BinaryParams{BinaryKind::kMul});
}

// y, y_scale, y_zero_point of x (uint8): min and max over the whole tensor (Reduce nodes,
// widened to include 0), then the scalars of dynamic_quant() and QuantizeLinear's
// arithmetic, each a node, so the three outputs are values of their own.
void Importer::dynamic_quantize_linear(const onnx::NodeProto& n, const OnnxAttrs& a) {
  const Dims& d = dims(n, 0, a);
  if (d.empty()) throw Error(ErrorCode::kUnsupported, a.where() + ": a 0-D input");
  Dims all(d.size());
  for (size_t k = 0; k < all.size(); ++k) all[k] = static_cast<int64_t>(k);
  const std::string out = n.output_size() > 0 ? n.output(0) : n.name();
  ValueId x = runtime(n, 0, a), zero = scalar_constant(out + "#0", 0.f);
  auto output = [&](int k, int part, std::vector<ValueId> in, OpParams p) {
    if (k < n.output_size() && !n.output(k).empty()) {
      emit(n, std::move(in), std::move(p), nullptr, k);
      return g_.nodes.back().outputs[0];
    }
    return emit_part(n, false, part, std::move(in), std::move(p));
  };
  ValueId lo = emit_part(n, false, 1, {x}, ReduceParams{ReduceKind::kMin, all, false});
  ValueId hi = emit_part(n, false, 2, {x}, ReduceParams{ReduceKind::kMax, all, false});
  lo = emit_part(n, false, 3, {lo, zero}, BinaryParams{BinaryKind::kMin});
  hi = emit_part(n, false, 4, {hi, zero}, BinaryParams{BinaryKind::kMax});
  ValueId scale = emit_part(n, false, 5, {hi, lo}, BinaryParams{BinaryKind::kSub});
  scale = emit_part(n, false, 6, {scale, scalar_constant(out + "#255", 255.f)}, BinaryParams{BinaryKind::kDiv});
  // A zero range (x all zeros) gets scale 1 (scale + (scale == 0)), as ONNX Runtime does.
  ValueId is_zero = emit_part(n, false, 7, {scale, zero}, BinaryParams{BinaryKind::kEqual});
  scale = output(1, 8, {scale, is_zero}, BinaryParams{BinaryKind::kAdd});
  ValueId zp = emit_part(n, false, 9, {lo}, EltwiseParams{EltwiseKind::kNeg, 0.f, 0.f});
  zp = emit_part(n, false, 10, {zp, scale}, BinaryParams{BinaryKind::kDiv});
  zp = emit_part(n, false, 11, {zp}, EltwiseParams{EltwiseKind::kClip, 0.f, 255.f});
  zp = output(2, 12, {zp}, EltwiseParams{EltwiseKind::kRound, 0.f, 0.f});
  ValueId q = emit_part(n, false, 13, {x, scale}, BinaryParams{BinaryKind::kDiv});
  q = emit_part(n, false, 14, {q}, EltwiseParams{EltwiseKind::kRound, 0.f, 0.f});
  q = emit_part(n, false, 15, {q, zp}, BinaryParams{BinaryKind::kAdd});
  output(0, 16, {q}, EltwiseParams{EltwiseKind::kClip, 0.f, 255.f});
}

// Conv(x - x_zero_point, w - w_zero_point), the int32 result as float32 (the padding is
// x_zero_point, real 0, as in the ONNX reference and ONNX Runtime). w_zero_point may be
// per output channel.
void Importer::conv_integer(const onnx::NodeProto& n, const OnnxAttrs& a) {
  ConvParams p = conv_params(a, dims(n, 0, a), required_constant(n, 1, a, "weight").dims);
  ValueId x = shifted(n, 0, 2, a, 1, 1);
  ValueId w = shifted_constant(n, 1, 3, a, 0, &p.int8);
  emit(n, {x, w, kNoValue}, p);
}

// MatMul(a - a_zero_point, b - b_zero_point); a's zero point may be per row, b's per column.
void Importer::matmul_integer(const onnx::NodeProto& n, const OnnxAttrs& a) {
  ValueId lhs = shifted(n, 0, 2, a, -2, 1);
  ValueId rhs = shifted(n, 1, 3, a, -1, 2);
  emit(n, {lhs, rhs}, MatMulParams{});
}

namespace {

QuantParam per_tensor(const Value& v, const OnnxAttrs& a, const char* role) {
  QuantParam q = quant_param(v, {}, 0, a.where(), role);
  if (q.values.size() != 1)
    throw Error(ErrorCode::kBadModel, a.where() + ": " + role + " must be a scalar, got " + dims_to_string(v.dims));
  return q;
}

}  // namespace

// y = saturate(round((Conv(x - x_zp, w - w_zp) + B) * x_scale * w_scale / y_scale) + y_zp):
// the accumulation of integers as float32, then the per-channel multiplier (a constant).
void Importer::qlinear_conv(const onnx::NodeProto& n, const OnnxAttrs& a) {
  const Dims x = dims(n, 0, a);
  const Value& w = required_constant(n, 3, a, "w");
  ConvParams p = conv_params(a, x, w.dims);
  float x_scale = per_tensor(required_constant(n, 1, a, "x_scale"), a, "x_scale").values[0];
  float y_scale = per_tensor(required_constant(n, 6, a, "y_scale"), a, "y_scale").values[0];
  QuantParam w_scale = quant_param(required_constant(n, 4, a, "w_scale"), w.dims, 0, a.where(), "w_scale");
  ValueId xv = shifted(n, 0, 2, a, 1, 1);
  ValueId bias = n.input_size() > 8 && !n.input(8).empty() ? float_operand(n, 8, a) : kNoValue;
  ValueId wv = shifted_constant(n, 3, 5, a, 0, &p.int8);
  ValueId acc = emit_part(n, false, 2, {xv, wv, bias}, p);
  std::vector<float> m(w_scale.values.size());
  for (size_t c = 0; c < m.size(); ++c) m[c] = x_scale * w_scale.values[c] / y_scale;
  Dims m_dims = w_scale.axis < 0 ? Dims{} : Dims(x.size() - 1, 1);
  if (!m_dims.empty()) m_dims[0] = static_cast<int64_t>(m.size());
  requantize(n, a, acc, float_constant(n.output_size() ? n.output(0) + "#multiplier" : "m", m_dims, m), 7, 3);
}

// y = saturate(round(MatMul(a - a_zp, b - b_zp) * a_scale * b_scale / y_scale) + y_zp);
// a's scale may be per row, b's per column.
void Importer::qlinear_matmul(const onnx::NodeProto& n, const OnnxAttrs& a) {
  const Dims ad = dims(n, 0, a), bd = dims(n, 3, a);
  QuantParam as = quant_param(required_constant(n, 1, a, "a_scale"), ad, -2, a.where(), "a_scale");
  QuantParam bs = quant_param(required_constant(n, 4, a, "b_scale"), bd, -1, a.where(), "b_scale");
  float y_scale = per_tensor(required_constant(n, 6, a, "y_scale"), a, "y_scale").values[0];
  ValueId lhs = shifted(n, 0, 2, a, -2, 1);
  ValueId rhs = shifted(n, 3, 5, a, -1, 2);
  ValueId acc = emit_part(n, false, 3, {lhs, rhs}, MatMulParams{});
  size_t rows = as.values.size(), cols = bs.values.size();
  std::vector<float> m(rows * cols);
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < cols; ++c) m[r * cols + c] = as.values[r] * bs.values[c] / y_scale;
  Dims m_dims;
  if (as.axis >= 0)
    m_dims = {static_cast<int64_t>(rows), static_cast<int64_t>(cols)};
  else if (bs.axis >= 0)
    m_dims = {static_cast<int64_t>(cols)};
  requantize(n, a, acc, float_constant(n.output_size() ? n.output(0) + "#multiplier" : "m", m_dims, m), 7, 4);
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
  uint64_t other_ir_ops;
};
constexpr EltwiseConverter kEltwiseConverter_eltwise{PruningRole::kChannelwise, 0};
constexpr EltwiseConverter kEltwiseConverter_clip{PruningRole::kChannelwise, ir_op_bits({OpKind::kBinary})};
constexpr EltwiseConverter kEltwiseConverter_pow{PruningRole::kOther, ir_op_bits({OpKind::kBinary})};
constexpr EltwiseConverter kEltwiseConverter_gelu{PruningRole::kChannelwise, 0};
// What converters of host/onnx_ops.def make besides their table's IR op:
// * Cast to bool of a runtime tensor: Binary Equal nodes (the mask x != 0);
// * If with a condition computed at run time: a Where per output (the nodes of its
//   branches are their own ops');
// * RNN/GRU/LSTM: the outputs sliced from the Recurrent node's packed one (Slice, Reshape,
//   and Concat of a bidirectional node's directions);
// * the quantized ops, float32 nodes (host/quantize_linear.h): the arithmetic of scales and
//   zero points (Binary), rounding and saturation (Eltwise), DynamicQuantizeLinear's min
//   and max (Reduce), an integer graph input made float32 (Cast).
// * Hardmax: ArgMaxMin, the Cast of its indices to float32, and (opset < 13) Reshapes;
// * InstanceNormalization: Binary nodes (its last, the + B) around two Reduce Means and a
//   Sqrt (Eltwise).
constexpr uint64_t other_ir_ops_of(std::string_view op_type) {
  if (op_type == "Cast") return ir_op_bits({OpKind::kBinary});
  if (op_type == "If") return ir_op_bits({OpKind::kWhere});
  if (op_type == "InstanceNormalization") return ir_op_bits({OpKind::kReduce, OpKind::kEltwise});
  if (op_type == "Hardmax") return ir_op_bits({OpKind::kReshape, OpKind::kArgMaxMin, OpKind::kCast});
  if (op_type == "RNN" || op_type == "GRU" || op_type == "LSTM")
    return ir_op_bits({OpKind::kSlice, OpKind::kReshape, OpKind::kConcat});
  for (std::string_view q : {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "ConvInteger",
                             "MatMulInteger", "QLinearConv", "QLinearMatMul"})
    if (op_type == q) return ir_op_bits({OpKind::kBinary, OpKind::kEltwise, OpKind::kReduce, OpKind::kCast});
  return 0;
}
const OnnxOpEntry kOnnxOps[] = {
#define TEEINFER_ONNX_OP(op_type, converter, ir_op, pruning_role) \
  {{op_type, ir_op, PruningRole::pruning_role, other_ir_ops_of(op_type)}, &Importer::converter},
#include "host/onnx_ops.def"
#define ELTWISE_ENTRY(kind, onnx_op, converter)                            \
  {{onnx_op, OpKind::kEltwise, kEltwiseConverter_##converter.pruning_role, \
    kEltwiseConverter_##converter.other_ir_ops},                           \
   &Importer::converter<EltwiseKind::kind>},
// One per converter of common/eltwise_ops.def; `none` makes no entry (another entry's
// converter makes the function).
#define ELTWISE_ENTRY_eltwise(kind, onnx_op) ELTWISE_ENTRY(kind, onnx_op, eltwise)
#define ELTWISE_ENTRY_clip(kind, onnx_op) ELTWISE_ENTRY(kind, onnx_op, clip)
#define ELTWISE_ENTRY_pow(kind, onnx_op) ELTWISE_ENTRY(kind, onnx_op, pow)
#define ELTWISE_ENTRY_gelu(kind, onnx_op) ELTWISE_ENTRY(kind, onnx_op, gelu)
#define ELTWISE_ENTRY_none(kind, onnx_op)
#define TEEINFER_ELTWISE(kind, onnx_op, alpha, beta, converter, ...) ELTWISE_ENTRY_##converter(kind, onnx_op)
#include "common/eltwise_ops.def"
#undef ELTWISE_ENTRY_eltwise
#undef ELTWISE_ENTRY_clip
#undef ELTWISE_ENTRY_pow
#undef ELTWISE_ENTRY_gelu
#undef ELTWISE_ENTRY_none
#undef ELTWISE_ENTRY
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
    } else if ((node.op_type() == "Shape" || node.op_type() == "Size") && i == 0) {
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
// A graph output is returned under its own name, also when it names another value (an
// alias: Identity, an If's branch output, a Cast to float16). That value is renamed, or,
// when it is a graph input or another output too, copied by a Reshape view of its own.
ValueId Importer::named_output(ValueId id, const std::string& name) {
  if (g_.value(id).name == name) return id;
  auto is = [&](const std::vector<ValueId>& ids) { return std::find(ids.begin(), ids.end(), id) != ids.end(); };
  if (!is(g_.inputs) && !is(g_.outputs)) {
    g_.value(id).name = name;
    return id;
  }
  Value copy = g_.value(id);
  copy.name = name;
  ValueId out = g_.add_value(std::move(copy));
  g_.nodes.push_back(Node{name + " (output)", "Reshape", OpKind::kReshape, {id}, {out}, ReshapeParams{}});
  return out;
}

ValueId Importer::output_value(const std::string& name) {
  auto it = syms_.find(name);
  if (it == syms_.end()) throw Error(ErrorCode::kBadModel, "graph output '" + name + "' is never computed");
  if (it->second.id != kNoValue) return named_output(it->second.id, name);
  check_runtime_tensor(constant_of(it->second)->dims, name, "graph output");  // sessions return outputs
  Value v = convert_constant(*constant_of(it->second), DType::kF32, name, budget_);
  return g_.add_value(std::move(v));
}

Graph Importer::run(const ImportOptions& options) {
  g_.name = model_.graph().name();
  bind_inputs(options);
  for (const onnx::NodeProto* node : topological_order(model_.graph())) convert(*node);
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
