#include "host/graph_passes.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>

#include "common/error.h"
#include "common/shape_inference.h"
#include "enclave/lowering/post_ops.h"
#include "host/activation_patterns.h"
#include "host/layer_norm_pattern.h"

namespace teeinfer {
namespace {

std::vector<float> floats_of(const Value& v) {
  std::vector<float> f(v.data.size() / 4);
  if (!f.empty()) std::memcpy(f.data(), v.data.data(), f.size() * 4);
  return f;
}

Value float_constant(const std::string& name, Dims dims, const std::vector<float>& f) {
  Value v;
  v.name = name;
  v.dtype = DType::kF32;
  v.dims = std::move(dims);
  v.is_constant = true;
  v.data.resize(f.size() * 4);
  if (!f.empty()) std::memcpy(v.data.data(), f.data(), v.data.size());  // memcpy(nullptr, ...) is UB
  return v;
}

// What the passes know about the graph, kept up to date as nodes merge so that every
// step costs time in proportion to the nodes it touches (the passes are linear overall).
struct PassState {
  explicit PassState(const Graph& g) : prod(g.values.size(), -1), uses(g.use_counts()), dead(g.nodes.size(), false) {
    for (size_t i = 0; i < g.nodes.size(); ++i) prod[g.nodes[i].outputs[0]] = static_cast<int>(i);
    output.assign(g.values.size(), false);
    for (ValueId o : g.outputs) output[o] = true;
  }
  bool is_graph_output(ValueId v) const { return static_cast<size_t>(v) < output.size() && output[v]; }
  // A node's reads are dropped before it is rewritten and counted again after.
  void release(const Node& n) {
    for (ValueId v : n.inputs)
      if (v != kNoValue) --uses[v];
  }
  void acquire(const Graph& g, const Node& n) {
    uses.resize(g.values.size(), 0);
    prod.resize(g.values.size(), -1);
    for (ValueId v : n.inputs)
      if (v != kNoValue) ++uses[v];
  }

  std::vector<int> prod;  // index of the node producing each value, or -1
  std::vector<int> uses;  // readers of each value (graph outputs count as one)
  std::vector<bool> dead, output;
};

// The live node producing `v`, if `v` has one reader and is not a graph output.
std::optional<size_t> sole_producer_of(ValueId v, const PassState& st) {
  if (st.prod[v] < 0 || st.uses[v] != 1 || st.is_graph_output(v) || st.dead[st.prod[v]]) return std::nullopt;
  return static_cast<size_t>(st.prod[v]);
}

// The node producing `n`'s first input, if that value feeds only `n`.
std::optional<size_t> sole_producer(const Node& n, const PassState& st) {
  return sole_producer_of(n.inputs.at(0), st);
}

bool fold_batchnorm(Graph& g, Node& conv, const Node& bn) {
  const auto& bp = std::get<BatchNormParams>(bn.params);
  for (int i = 1; i <= 4; ++i)
    if (!g.value(bn.inputs[i]).is_constant) return false;
  if (!g.value(conv.inputs[1]).is_constant) return false;
  if (conv.inputs.size() > 2 && conv.inputs[2] != kNoValue && !g.value(conv.inputs[2]).is_constant) return false;
  auto gamma = floats_of(g.value(bn.inputs[1])), beta = floats_of(g.value(bn.inputs[2]));
  auto mean = floats_of(g.value(bn.inputs[3])), var = floats_of(g.value(bn.inputs[4]));
  const Value& wv = g.value(conv.inputs[1]);
  if (wv.dims.empty() || wv.dims[0] < 1) return false;
  auto w = floats_of(wv);
  size_t oc = static_cast<size_t>(wv.dims[0]), per = w.size() / oc;
  if (gamma.size() != oc || beta.size() != oc || mean.size() != oc || var.size() != oc) return false;
  std::vector<float> bias(oc, 0.f);
  if (conv.inputs.size() > 2 && conv.inputs[2] != kNoValue) bias = floats_of(g.value(conv.inputs[2]));
  for (size_t o = 0; o < oc; ++o) {
    // Folding in double keeps the folded weights within float rounding of the original.
    double s = gamma[o] / std::sqrt(static_cast<double>(var[o]) + bp.epsilon);
    for (size_t k = 0; k < per; ++k) w[o * per + k] = static_cast<float>(w[o * per + k] * s);
    bias[o] = static_cast<float>((bias[o] - mean[o]) * s + beta[o]);
  }
  std::string base = conv.name;
  Dims wdims = wv.dims;
  ValueId wid = g.add_value(float_constant(base + ".weight_bn_folded", wdims, w));
  ValueId bid = g.add_value(float_constant(base + ".bias_bn_folded", {static_cast<int64_t>(oc)}, bias));
  conv.inputs.resize(3);
  conv.inputs[1] = wid;
  conv.inputs[2] = bid;
  return true;
}

// Folds zero-padding of spatial dims into the sole consumer's own padding: a Conv, or an
// AveragePool whose divisor counts padding (or that has no padding of its own).
bool fold_pad(Graph& g, Node& pad, Node& consumer) {
  const auto& p = std::get<PadParams>(pad.params);
  if (p.mode != PadMode::kConstant || p.value != 0.f || consumer.inputs[0] != pad.outputs[0]) return false;
  if (p.pads_begin.size() < 3 || p.pads_begin[0] || p.pads_begin[1] || p.pads_end[0] || p.pads_end[1]) return false;
  Dims *begin = nullptr, *end = nullptr;
  if (auto* c = std::get_if<ConvParams>(&consumer.params)) {
    begin = &c->pads_begin, end = &c->pads_end;
  } else if (auto* pool = std::get_if<PoolParams>(&consumer.params)) {
    bool own_pads = std::any_of(pool->pads_begin.begin(), pool->pads_begin.end(), [](int64_t v) { return v; }) ||
                    std::any_of(pool->pads_end.begin(), pool->pads_end.end(), [](int64_t v) { return v; });
    if (pool->kind != PoolKind::kAverage || (!pool->count_include_pad && own_pads) ||
        pool->pads_end != pool->declared_pads_end)
      return false;
    pool->count_include_pad = true;  // the explicit zeros were real elements of the window
    begin = &pool->pads_begin, end = &pool->pads_end;
    for (size_t i = 0; i < end->size(); ++i) pool->declared_pads_end[i] += p.pads_end[i + 2];
  } else {
    return false;
  }
  for (size_t i = 0; i < begin->size(); ++i) {
    (*begin)[i] += p.pads_begin[i + 2];
    (*end)[i] += p.pads_end[i + 2];
  }
  consumer.inputs[0] = pad.inputs[0];
  (void)g;
  return true;
}

// The producer of `v` if it is a Conv that can absorb a residual Add: sole reader, not a
// graph output, no activation yet (the sum must come first), no residual yet.
std::optional<size_t> fusable_conv(const Graph& g, ValueId v, const PassState& st) {
  auto i = sole_producer_of(v, st);
  if (!i || g.nodes[*i].op != OpKind::kConv) return std::nullopt;
  const auto& p = std::get<ConvParams>(g.nodes[*i].params);
  if (p.fused_sum || !p.post_ops.empty()) return std::nullopt;
  return i;
}

// DenseNet's pre-activation: Concat -> BatchNorm (-> Relu). One kernel then writes the
// normalised concat, sparing a full read and write of the tensor.
bool fuse_batchnorm_into_concat(Graph& g, Node& concat, const Node& bn) {
  auto& p = std::get<ConcatParams>(concat.params);
  if (p.fused_batchnorm || p.axis != 1 || g.value(concat.outputs[0]).dims.size() < 3) return false;
  for (int i = 1; i <= 4; ++i)
    if (!g.value(bn.inputs[i]).is_constant) return false;
  auto gamma = floats_of(g.value(bn.inputs[1])), beta = floats_of(g.value(bn.inputs[2]));
  auto mean = floats_of(g.value(bn.inputs[3])), var = floats_of(g.value(bn.inputs[4]));
  double eps = std::get<BatchNormParams>(bn.params).epsilon;
  std::vector<float> scale(gamma.size()), shift(gamma.size());
  for (size_t c = 0; c < gamma.size(); ++c) {
    double s = gamma[c] / std::sqrt(static_cast<double>(var[c]) + eps);
    scale[c] = static_cast<float>(s);
    shift[c] = static_cast<float>(beta[c] - mean[c] * s);
  }
  Dims dims{static_cast<int64_t>(scale.size())};
  ValueId s_id = g.add_value(float_constant(bn.name + ".scale", dims, scale));
  ValueId t_id = g.add_value(float_constant(bn.name + ".shift", dims, shift));
  p.fused_batchnorm = true;
  p.fused_relu = std::get<BatchNormParams>(bn.params).fused_relu;
  concat.inputs.push_back(s_id);
  concat.inputs.push_back(t_id);
  return true;
}

// Gemm with a constant C: store (beta/alpha)*C so the kernel adds it as its bias.
bool prescale_gemm_bias(Graph& g, Node& n) {
  auto& p = std::get<GemmParams>(n.params);
  if (p.c_prescaled || n.inputs.size() < 3 || n.inputs[2] == kNoValue || p.alpha == 0.f || p.beta == 0.f) return false;
  const Value& c = g.value(n.inputs[2]);
  if (!c.is_constant || c.dtype != DType::kF32) return false;
  std::vector<float> f = floats_of(c);
  for (float& x : f) x = static_cast<float>(static_cast<double>(x) * p.beta / p.alpha);
  Dims dims = c.dims;
  n.inputs[2] = g.add_value(float_constant(n.name + ".c_prescaled", dims, f));
  p.c_prescaled = true;
  return true;
}

// Graph outputs that folded to non-float constants (e.g. Dropout's mask) leave as float32.
void float_outputs(Graph& g) {
  for (ValueId& o : g.outputs) {
    const Value& v = g.value(o);
    if (!v.is_constant || v.dtype == DType::kF32) continue;
    size_t n = static_cast<size_t>(element_count(v.dims, v.name)), es = dtype_size(v.dtype);
    std::vector<float> f(n);
    for (size_t i = 0; i < n; ++i) {
      const uint8_t* b = v.data.data() + i * es;
      switch (v.dtype) {
        case DType::kI64: {
          int64_t x;
          std::memcpy(&x, b, 8);
          f[i] = static_cast<float>(x);
          break;
        }
        case DType::kI32: {
          int32_t x;
          std::memcpy(&x, b, 4);
          f[i] = static_cast<float>(x);
          break;
        }
        case DType::kS8:
          f[i] = static_cast<int8_t>(*b);
          break;
        default:
          f[i] = *b;
          break;
      }
    }
    std::string name = v.name;
    Dims dims = v.dims;
    o = g.add_value(float_constant(name, dims, f));
  }
}

PostOps* post_ops_of(Node& n) {
  if (auto* c = std::get_if<ConvParams>(&n.params)) return &c->post_ops;
  if (auto* m = std::get_if<GemmParams>(&n.params)) return &m->post_ops;
  if (auto* m = std::get_if<MatMulParams>(&n.params)) return &m->post_ops;
  return nullptr;
}

// The oneDNN eltwise post-ops a Gemm puts ahead of its activations (matmul.cpp): a C it
// adds itself (not prescaled by prescale_gemm_bias, which runs after fusion) is scaled by
// beta with eltwise_linear.
dnnl::post_ops gemm_leading_post_ops(const Graph& g, const Node& n) {
  dnnl::post_ops po;
  const auto* p = std::get_if<GemmParams>(&n.params);
  if (!p || n.inputs.size() < 3 || n.inputs[2] == kNoValue || p->beta == 0.f || p->beta == 1.f) return po;
  const Value& c = g.value(n.inputs[2]);
  bool prescaled = p->c_prescaled || (c.is_constant && c.dtype == DType::kF32 && p->alpha != 0.f);
  if (!prescaled) po.append_eltwise(1.f, dnnl::algorithm::eltwise_linear, p->beta, 0.f);
  return po;
}

// Whether activation `e` can join `producer`'s fused activations: not when oneDNN 2.6
// would compute the chain wrongly, as it repeats an eltwise algorithm with other
// parameters (split_post_ops, enclave/lowering/post_ops.h; e.g. HardSigmoid then Clip, LeakyRelu
// then LeakyRelu). It then stays an Eltwise node of its own.
bool joins_fused_chain(const Graph& g, Node& producer, const EltwiseParams& e) {
  if (!eltwise_fusible(e.kind)) return false;  // a hand-written kernel (Log, Erf, ...): no post-op
  PostOps chain = *post_ops_of(producer);
  chain.push_back(e);
  return split_post_ops(chain, gemm_leading_post_ops(g, producer)).rest.empty();
}

// Add(conv(x), r) -> conv(x) with a sum post-op reading r. The conv moves to the Add's
// place in the node order: r may be computed after the conv (ResNet's downsample
// branch), and the conv's only reader was the Add, so nothing between needs it.
bool fuse_residual_add(Graph& g, size_t add_index, PassState& st) {
  Node& add = g.nodes[add_index];
  const Dims& y = g.value(add.outputs[0]).dims;
  for (int side = 0; side < 2; ++side) {
    ValueId conv_out = add.inputs[side], residual = add.inputs[1 - side];
    auto c = fusable_conv(g, conv_out, st);
    if (!c || g.value(residual).dims != y || g.value(conv_out).dims != y || g.value(residual).is_constant) continue;
    st.release(g.nodes[*c]);
    st.release(add);
    Node conv = std::move(g.nodes[*c]);
    st.dead[*c] = true;
    conv.inputs.resize(3, kNoValue);
    conv.inputs.push_back(residual);
    std::get<ConvParams>(conv.params).fused_sum = true;
    conv.outputs = add.outputs;
    g.nodes[add_index] = std::move(conv);
    st.prod[g.nodes[add_index].outputs[0]] = static_cast<int>(add_index);
    st.acquire(g, g.nodes[add_index]);
    return true;
  }
  return false;
}

// Add(MatMul(a, b), c) with a constant float c that only varies along the last axis (a
// Linear layer's bias: {N} or {1, ..., 1, N}) -> MatMul(a, b, c): oneDNN's matmul adds it
// as its bias, and an activation after the Add can then fuse into the MatMul as well.
bool fuse_matmul_bias(Graph& g, size_t add_index, PassState& st) {
  Node& add = g.nodes[add_index];
  for (int side = 0; side < 2; ++side) {
    ValueId mm_out = add.inputs[side], c = add.inputs[1 - side];
    const auto mm_index = sole_producer_of(mm_out, st);
    if (!mm_index) continue;
    Node& mm = g.nodes[*mm_index];
    if (mm.op != OpKind::kMatMul || mm.inputs.size() != 2 || !std::get<MatMulParams>(mm.params).post_ops.empty())
      continue;
    const Value& cv = g.value(c);
    const Dims& y = g.value(mm_out).dims;
    if (!cv.is_constant || cv.dtype != DType::kF32 || g.value(mm.inputs[1]).dims.size() < 2 || y.empty() ||
        g.value(add.outputs[0]).dims != y || !is_row_bias(cv.dims, y))
      continue;
    st.release(mm);
    st.release(add);
    mm.inputs.push_back(c);
    mm.outputs = add.outputs;
    st.prod[mm.outputs[0]] = static_cast<int>(*mm_index);
    st.dead[add_index] = true;
    st.acquire(g, mm);
    return true;
  }
  return false;
}

// Merges node `i` into the producer of its input when a pass applies; returns whether it did.
bool merge_into_producer(Graph& g, size_t i, PassState& st, PassStats& stats) {
  Node& n = g.nodes[i];
  auto p = sole_producer(n, st);
  if (!p) return false;
  Node& src = g.nodes[*p];
  st.release(src);
  st.release(n);
  bool merged = false;
  if (n.op == OpKind::kBatchNorm && src.op == OpKind::kConv && post_ops_of(src)->empty()) {
    merged = fold_batchnorm(g, src, n);
    stats.batchnorms_folded += merged;
  } else if (n.op == OpKind::kBatchNorm && src.op == OpKind::kConcat) {
    merged = fuse_batchnorm_into_concat(g, src, n);
    stats.batchnorms_into_concat += merged;
  } else if (n.op == OpKind::kEltwise && src.op == OpKind::kConcat &&
             std::get<EltwiseParams>(n.params).kind == EltwiseKind::kRelu &&
             std::get<ConcatParams>(src.params).fused_batchnorm && !std::get<ConcatParams>(src.params).fused_relu) {
    std::get<ConcatParams>(src.params).fused_relu = true;
    merged = true;
    ++stats.activations_fused;
  } else if (n.op == OpKind::kEltwise && src.op == OpKind::kBatchNorm &&
             std::get<EltwiseParams>(n.params).kind == EltwiseKind::kRelu &&
             !std::get<BatchNormParams>(src.params).fused_relu) {
    std::get<BatchNormParams>(src.params).fused_relu = true;
    merged = true;
    ++stats.activations_fused;
  } else if (n.op == OpKind::kEltwise && post_ops_of(src) &&
             joins_fused_chain(g, src, std::get<EltwiseParams>(n.params))) {
    post_ops_of(src)->push_back(std::get<EltwiseParams>(n.params));
    merged = true;
    ++stats.activations_fused;
  }
  st.acquire(g, src);
  if (!merged) {
    st.acquire(g, n);
    return false;
  }
  // The producer now writes the merged node's output; the merged node disappears.
  src.outputs = n.outputs;
  st.prod[n.outputs[0]] = static_cast<int>(*p);
  st.dead[i] = true;
  return true;
}

// Pad feeding a single Conv/AveragePool: fold into the consumer (the Pad comes first).
void fold_pads(Graph& g, PassState& st, PassStats& stats) {
  std::vector<int> reader(g.values.size(), -1);  // the first live node reading each value
  for (size_t j = g.nodes.size(); j-- > 0;)
    if (!st.dead[j])
      for (ValueId v : g.nodes[j].inputs)
        if (v != kNoValue) reader[v] = static_cast<int>(j);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (st.dead[i] || g.nodes[i].op != OpKind::kPad) continue;
    ValueId out = g.nodes[i].outputs[0];
    if (st.uses[out] != 1 || st.is_graph_output(out) || reader[out] <= static_cast<int>(i)) continue;
    if (fold_pad(g, g.nodes[i], g.nodes[reader[out]])) {
      st.dead[i] = true;
      ++stats.pads_folded;
    }
  }
}

}  // namespace

PassStats optimize_graph(Graph& g) {
  for (const Node& n : g.nodes) check_op_params(n);  // the passes read params by op
  PassStats stats;
  // First: the ops they make fuse as post-ops below.
  stats.layer_norm_patterns_fused = fuse_layer_norm_patterns(g);
  ActivationPatternCounts patterns = fuse_activation_patterns(g);
  stats.activation_patterns_fused = patterns.hard_swish;
  stats.gelu_patterns_fused = patterns.gelu;
  stats.swish_patterns_fused = patterns.swish;
  stats.mish_patterns_fused = patterns.mish;
  stats.max_min_clips = patterns.max_min;
  for (const Node& n : g.nodes) stats.runtime_if_outputs += n.onnx_op == "If" && n.op == OpKind::kWhere;
  PassState st(g);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& n = g.nodes[i];
    if (n.op == OpKind::kBinary && std::get<BinaryParams>(n.params).kind == BinaryKind::kAdd &&
        fuse_residual_add(g, i, st)) {
      ++stats.residual_adds_fused;
      continue;
    }
    if (n.op == OpKind::kBinary && std::get<BinaryParams>(n.params).kind == BinaryKind::kAdd &&
        fuse_matmul_bias(g, i, st)) {
      ++stats.matmul_biases_fused;
      continue;
    }
    merge_into_producer(g, i, st, stats);
  }
  fold_pads(g, st, stats);
  for (Node& n : g.nodes)
    if (n.op == OpKind::kGemm) prescale_gemm_bias(g, n);
  float_outputs(g);
  std::vector<Node> kept;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (!st.dead[i]) kept.push_back(std::move(g.nodes[i]));
  // Order stays topological: a merged node only absorbs its sole input producer (which
  // came earlier), and a conv absorbing a residual Add moved to the Add's later place.
  g.nodes = std::move(kept);
  compact_graph(g);
  return stats;
}

std::string describe(const PassStats& s) {
  std::string out = std::to_string(s.batchnorms_folded) + " BatchNorm folded, " + std::to_string(s.activations_fused) +
                    " activations and " + std::to_string(s.residual_adds_fused) + " residual adds fused";
  if (s.activation_patterns_fused)
    out += ", " + std::to_string(s.activation_patterns_fused) + " hard-swish patterns made one op";
  if (s.gelu_patterns_fused || s.layer_norm_patterns_fused)
    out += ", " + std::to_string(s.gelu_patterns_fused) + " GELU patterns, " +
           std::to_string(s.layer_norm_patterns_fused) + " LayerNorm patterns fused";
  if (s.max_min_clips) out += ", " + std::to_string(s.max_min_clips) + " Max/Min with a constant made Clip";
  if (s.swish_patterns_fused) out += ", " + std::to_string(s.swish_patterns_fused) + " Swish patterns made one op";
  if (s.mish_patterns_fused) out += ", " + std::to_string(s.mish_patterns_fused) + " Mish patterns made one op";
  if (s.matmul_biases_fused) out += ", " + std::to_string(s.matmul_biases_fused) + " MatMul biases fused";
  if (s.runtime_if_outputs)
    out += ", " + std::to_string(s.runtime_if_outputs) + " If output" + (s.runtime_if_outputs > 1 ? "s" : "") +
           " selected at run time (both branches computed)";
  return out;
}

void compact_graph(Graph& g) {
  std::vector<bool> used(g.values.size(), false);
  for (ValueId v : g.inputs) used[v] = true;
  for (ValueId v : g.outputs) used[v] = true;
  for (const Node& n : g.nodes) {
    for (ValueId v : n.inputs)
      if (v != kNoValue) used[v] = true;
    for (ValueId v : n.outputs) used[v] = true;
  }
  std::vector<ValueId> remap(g.values.size(), kNoValue);
  std::vector<Value> kept;
  for (size_t i = 0; i < g.values.size(); ++i) {
    if (!used[i]) continue;
    remap[i] = static_cast<ValueId>(kept.size());
    kept.push_back(std::move(g.values[i]));
  }
  g.values = std::move(kept);
  auto fix = [&](ValueId& v) {
    if (v != kNoValue) v = remap[v];
  };
  for (ValueId& v : g.inputs) fix(v);
  for (ValueId& v : g.outputs) fix(v);
  for (Node& n : g.nodes) {
    for (ValueId& v : n.inputs) fix(v);
    for (ValueId& v : n.outputs) fix(v);
  }
}

}  // namespace teeinfer
