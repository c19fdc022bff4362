#include "common/graph.h"

#include <algorithm>
#include <cmath>
#include <iterator>

#include "common/error.h"
#include "common/shape_inference.h"

namespace teeinfer {

ValueId Graph::add_value(Value v) {
  values.push_back(std::move(v));
  return static_cast<ValueId>(values.size() - 1);
}

std::vector<int> Graph::use_counts() const {
  std::vector<int> uses(values.size(), 0);
  for (const Node& n : nodes)
    for (ValueId v : n.inputs)
      if (v != kNoValue) ++uses[v];
  for (ValueId v : outputs) ++uses[v];
  return uses;
}

namespace {

constexpr const char* kOpNames[] = {
#define TEEINFER_OP(kind, name, ...) name,
#include "common/ops.def"
};
static_assert(std::size(kOpNames) == kOpCount);

bool known(OpKind op) {
  return static_cast<size_t>(op) < kOpCount;
}

}  // namespace

const char* op_name(OpKind op) {
  return known(op) ? kOpNames[static_cast<size_t>(op)] : "?";
}

int64_t recurrent_gates(RecurrentCell cell) {
  switch (cell) {
    case RecurrentCell::kRnn:
      return 1;
    case RecurrentCell::kGru:
    case RecurrentCell::kGruLinearBeforeReset:
      return 3;
    case RecurrentCell::kLstm:
      return 4;
  }
  return 1;
}

int64_t recurrent_bias_gates(RecurrentCell cell) {
  return cell == RecurrentCell::kGruLinearBeforeReset ? 4 : recurrent_gates(cell);
}

int64_t recurrent_states(RecurrentCell cell) {
  return cell == RecurrentCell::kLstm ? 2 : 1;
}

DType node_output_dtype(const Graph& g, const Node& n) {
  if (n.op == OpKind::kArgMaxMin) return DType::kI64;
  if (n.op == OpKind::kReshape && !n.inputs.empty() && g.value(n.inputs[0]).dtype == DType::kI64) return DType::kI64;
  return DType::kF32;
}

void check_op_params(const Node& n) {
  if (!known(n.op))
    throw Error(ErrorCode::kBadModel,
                "node '" + n.name + "' has an unknown op (" + std::to_string(static_cast<int>(n.op)) + ")");
  if (op_of(n.params) != n.op)
    throw Error(ErrorCode::kBadModel, "node '" + n.name + "' is a " + op_name(n.op) + " but carries " +
                                          op_name(op_of(n.params)) + " parameters");
}

namespace {

// The Int8Weights member of a Conv or Gemm node, const when the node is.
// (By the params alone: never throws, even on a node whose op disagrees.)
template <class N>
auto* int8_member(N& n) {
  using Result = decltype(&std::get<ConvParams>(n.params).int8);
  if (auto* conv = std::get_if<ConvParams>(&n.params)) return &conv->int8;
  if (auto* gemm = std::get_if<GemmParams>(&n.params)) return &gemm->int8;
  return Result{nullptr};
}

}  // namespace

Int8Weights* int8_params_of(Node& n) {
  return int8_member(n);
}

const Int8Weights* int8_weights_of(const Node& n) {
  const Int8Weights* q = int8_member(n);
  return q && q->active() ? q : nullptr;
}

namespace {

// An int8 node's weight is a constant int8 tensor with one positive finite scale per
// output channel; a Gemm's B must be read transposed ({N, K}, PyTorch's Linear layout).
void validate_int8(const Graph& g, const Node& n, const Int8Weights& q) {
  auto bad = [&](const std::string& why) {
    throw Error(ErrorCode::kBadModel, "node '" + n.name + "' has int8 weights but " + why);
  };
  if (n.inputs.size() < 2 || n.inputs[1] == kNoValue) bad("no weight input");
  const Value& w = g.value(n.inputs[1]);
  if (!w.is_constant || w.dtype != DType::kS8 || w.dims.empty()) bad("'" + w.name + "' is not a constant int8 tensor");
  const auto* gemm = std::get_if<GemmParams>(&n.params);
  if (gemm && (!gemm->trans_b || w.dims.size() != 2)) bad("its B is not a transposed 2-D constant");
  if (static_cast<int64_t>(q.weight_scales.size()) != w.dims[0])
    bad(std::to_string(q.weight_scales.size()) + " weight scales for " + std::to_string(w.dims[0]) +
        " output channels");
  for (float s : q.weight_scales)
    if (!std::isfinite(s) || s <= 0.f) bad("a weight scale is not a positive finite number");
  if (!std::isfinite(q.input_scale) || q.input_scale < 0.f) bad("its input scale is not a finite number >= 0");
}

}  // namespace

void validate_graph(const Graph& g, bool constant_bytes_present) {
  auto in_range = [&](ValueId v) { return v >= 0 && static_cast<size_t>(v) < g.values.size(); };
  std::vector<bool> ready(g.values.size(), false);
  for (size_t i = 0; i < g.values.size(); ++i) {
    const Value& v = g.values[i];
    size_t bytes = byte_size(v.dtype, v.dims, v.name);
    if (v.is_constant) {
      if (constant_bytes_present && v.data.size() != bytes)
        throw Error(ErrorCode::kBadModel, "constant '" + v.name + "' holds " + std::to_string(v.data.size()) +
                                              " bytes, its dims " + dims_to_string(v.dims) + " need " +
                                              std::to_string(bytes));
      ready[i] = true;
    }
  }
  for (ValueId v : g.inputs) {
    if (!in_range(v)) throw Error(ErrorCode::kBadModel, "graph input id out of range");
    ready[v] = true;
  }
  for (const Node& n : g.nodes) check_op_params(n);  // first: everything below reads params
  for (const Node& n : g.nodes) {
    if (n.outputs.size() != 1 || !in_range(n.outputs[0]))
      throw Error(ErrorCode::kBadModel, "node '" + n.name + "' must have exactly one valid output");
    for (ValueId v : n.inputs) {
      if (v == kNoValue) continue;
      if (!in_range(v) || !ready[v])
        throw Error(ErrorCode::kBadModel, "node '" + n.name + "' reads a value not yet computed");
    }
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      ValueId v = n.inputs[i];
      if (v == kNoValue || g.value(v).dtype == DType::kF32) continue;
      if (i == 1 && int8_weights_of(n)) continue;
      if (n.op == OpKind::kCast && !g.value(v).is_constant) continue;  // what Cast is for
      if (n.op == OpKind::kReshape && g.value(v).dtype == DType::kI64 && !g.value(v).is_constant) continue;  // a view
      throw Error(ErrorCode::kBadModel, "node '" + n.name + "' reads '" + g.value(v).name + "', which is not float32");
    }
    if (const Int8Weights* q = int8_weights_of(n)) validate_int8(g, n, *q);
    // Fused activations must be oneDNN post-ops (not the hand-written functions: Log, Erf, ...).
    const PostOps* post_ops = std::visit(
        [](const auto& p) -> const PostOps* {
          if constexpr (requires { p.post_ops; })
            return &p.post_ops;
          else
            return nullptr;
        },
        n.params);
    for (size_t k = 0; post_ops && k < post_ops->size(); ++k)
      if (const EltwiseParams& e = (*post_ops)[k]; !eltwise_fusible(e.kind))
        throw Error(ErrorCode::kBadModel, "node '" + n.name + "' fuses " + eltwise_name(e.kind) +
                                              ", which has no oneDNN post-op (it runs only as a node of its own)");
    const Value& out = g.value(n.outputs[0]);
    if (out.dtype != node_output_dtype(g, n))
      throw Error(ErrorCode::kBadModel, "node '" + n.name + "' writes " + dtype_name(out.dtype) + ", not the " +
                                            dtype_name(node_output_dtype(g, n)) + " its op writes");
    if (ready[n.outputs[0]]) throw Error(ErrorCode::kBadModel, "value '" + out.name + "' is written twice");
    Dims expect = infer_output_dims(g, n);
    if (expect != out.dims)
      throw Error(ErrorCode::kBadModel, "node '" + n.name + "' declares output " + dims_to_string(out.dims) +
                                            " but its inputs give " + dims_to_string(expect));
    ready[n.outputs[0]] = true;
  }
  for (ValueId v : g.outputs) {
    if (!in_range(v) || !ready[v]) throw Error(ErrorCode::kBadModel, "graph output is never computed");
    // What the session reads back: float32, or the int64 indices a node computed (ArgMaxMin).
    const bool is_input = std::find(g.inputs.begin(), g.inputs.end(), v) != g.inputs.end();
    if (g.value(v).dtype != DType::kF32 && (g.value(v).dtype != DType::kI64 || is_input || g.value(v).is_constant))
      throw Error(ErrorCode::kBadModel, "graph output '" + g.value(v).name + "' is " + dtype_name(g.value(v).dtype) +
                                            "; outputs must be float32, or int64 computed by a node");
  }
}

}  // namespace teeinfer
