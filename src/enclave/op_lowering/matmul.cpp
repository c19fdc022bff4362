// Gemm (Y = alpha * A' B' + beta * C) and MatMul (numpy batched matmul) on oneDNN matmul.
// Constant B is reordered once at load into the layout oneDNN prefers.
#include <algorithm>
#include <map>

#include "common/error.h"
#include "common/quantize.h"
#include "enclave/cpu_adaptation.h"
#include "enclave/op_lowering/op_lowering.h"

namespace teeinfer {

using dnnl::memory;

namespace {

memory::desc strided_2d(memory::dim rows, memory::dim cols, bool transposed) {
  // Logical {rows, cols}; stored as {cols, rows} when transposed.
  return memory::desc({rows, cols}, memory::data_type::f32, transposed ? memory::dims{1, rows} : memory::dims{cols, 1});
}

memory::desc with_dims(const Dims& d) {
  return layout_md(d, Layout::kPlain);
}

Dims pad_front(Dims d, size_t rank) {
  d.insert(d.begin(), rank - d.size(), 1);
  return d;
}

// B as the weights argument: reordered constant, or a runtime tensor as it lies.
Slot weights_slot(LoweringContext& l, ValueId b, const memory::desc& logical, const memory::desc& chosen) {
  if (l.graph().value(b).is_constant) return l.constant(b, chosen, &logical);
  Slot s = l.input(b, Layout::kPlain);
  return Slot{s.buffer, logical};
}

// C (prescaled, see lower_gemm) as the matmul of a window of columns [first, first + r)
// reads it: {1 or M, 1 or r} of its {1 or M, 1 or N} (padded to 2-D), at `first` unless
// it is one column broadcast to all.
memory::desc c_window_md(const Dims& c, memory::dim r) {
  memory::dim rows = c[0], cols = c[1] == 1 ? 1 : r;
  return memory::desc({rows, cols}, memory::data_type::f32, memory::dims{rows == 1 ? cols : c[1], 1});
}

// A streamed or int8 B {N, K} (transB) never lies whole in the arena as fp32: rows of it
// (output features) come a window at a time, read from the weight source (streamed) or
// from the resident int8 tensor, and each window's matmul writes its columns of Y. With
// Y = A W' + C and elementwise post-ops, every column block is independent. Int8 rows
// are dequantized into an fp32 window (weight-only), or read as they are by an int8
// matmul of A's u8 copy (full int8). `c`: a prescaled C or none.
void lower_gemm_in_windows(LoweringContext& l, const Node& n, const memory::desc& a_md, memory::dim m, memory::dim k,
                           memory::dim nn, ValueId c) {
  ValueId b = n.inputs[1];
  auto f32 = memory::data_type::f32, s8 = memory::data_type::s8;
  const auto& p = std::get<GemmParams>(n.params);
  const bool int8 = int8_weights_of(n) != nullptr, full = computes_full_int8(p.int8),
             streamed = l.weights().is_streamed(b);
  // oneDNN adds the bias before the output scales: alpha * (A W' + (beta/alpha) C), and
  // full int8 divides it by each column's scale at load (int8_bias_scales), which only a
  // row of C can take. Full int8 adds any other C after the scales, by a binary post-op,
  // and then scales by alpha with a linear one.
  const Dims c_dims = c != kNoValue ? pad_front(l.graph().value(c).dims, 2) : Dims{};
  const bool c_binary = full && c != kNoValue && !(c_dims[0] == 1 && c_dims[1] == nn);
  const bool alpha_post_op = c_binary && p.alpha != 1.f;
  auto leading_post_ops = [&](memory::dim r) {
    dnnl::post_ops po;
    if (c_binary) po.append_binary(dnnl::algorithm::binary_add, c_window_md(c_dims, r));
    if (alpha_post_op) po.append_eltwise(1.f, dnnl::algorithm::eltwise_linear, p.alpha, 0.f);
    return po;
  };
  const PostOpSplit activations = split_post_ops(p.post_ops, leading_post_ops(1));
  int64_t granularity = streamed ? std::max<int64_t>(l.weights().row_granularity(b), 1) : 1;
  // A window holds fp32 rows, or int8 ones when they are used as they are (full int8).
  size_t row_bytes = static_cast<size_t>(k) * (full ? 1 : sizeof(float));
  int64_t by_window = static_cast<int64_t>(l.weights().window_bytes() / row_bytes);
  int64_t rows = std::min<int64_t>(nn, std::max<int64_t>(by_window / granularity, 1) * granularity);
  l.note_strategy(n, std::string(full   ? "int8 compute, weights"
                                 : int8 ? "int8 weights, dequantized"
                                        : "weights") +
                         (streamed ? " streamed" : "") + " in windows of " + std::to_string(rows) + " rows");
  Slot a = l.input(n.inputs[0], Layout::kPlain);
  a = Slot{a.buffer, a_md, a.offset};
  if (full) a = quantize_activation(l, a, p.int8.input_scale, n.name);
  Slot resident_int8 = int8 && !streamed ? l.constant_bytes(b) : Slot{};
  const std::string& bname = l.graph().value(b).name;
  std::vector<Slot> windows, int8_windows;
  // Two alternating windows only when a loader thread fills one ahead (streamed weights).
  for (int w = 0; w < (streamed ? l.weights().window_count() : 1); ++w) {
    std::string index = " (window " + std::to_string(w) + ")";
    if (!full) windows.push_back(l.scratch(memory::desc({rows * k}, f32, memory::format_tag::a), bname + index));
    if (int8 && streamed)
      int8_windows.push_back(l.scratch(memory::desc({rows * k}, s8, memory::format_tag::a), bname + " int8" + index));
  }
  Slot out = l.output(n.outputs[0], with_dims({m, nn}));
  Slot c_slot;
  if (c != kNoValue)
    c_slot = full && !c_binary ? l.constant(c, with_dims(l.graph().value(c).dims), nullptr, int8_bias_scales(p.int8))
                               : l.input_as_is(c);
  std::map<std::pair<int64_t, int64_t>, dnnl::matmul::primitive_desc> pds;  // by (first if full int8, width)
  for (int64_t first = 0; first < nn; first += rows) {
    int64_t r = std::min(rows, nn - first);
    size_t index = static_cast<size_t>(first / rows);
    memory::desc w_md({k, r}, full ? s8 : f32, memory::dims{1, k});    // window rows, transposed
    memory::desc y_md({m, r}, f32, memory::dims{m == 1 ? r : nn, 1});  // Y's columns [first, first + r)
    memory::desc c_md = c != kNoValue ? c_window_md(c_dims, r) : memory::desc();
    auto key = std::make_pair(full ? first : 0, r);
    if (!pds.count(key)) {
      dnnl::primitive_attr attr;
      attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
      if (full)  // per-column scales of this window
        attr.set_output_scales(1 << 1, int8_output_scales(p.int8, first, r, c_binary ? 1.f : p.alpha));
      else if (p.alpha != 1.f)
        attr.set_output_scales(0, {p.alpha});
      dnnl::post_ops po = leading_post_ops(r);
      for (const auto& e : activations.fused) append_eltwise(po, e);
      attr.set_post_ops(po);
      memory::desc bias_md = c_binary ? memory::desc() : c_md;
      pds.emplace(key, dnnl::matmul::primitive_desc(dnnl::matmul::desc(a.md, w_md, bias_md, y_md), attr, l.engine()));
    }
    const auto& pd = pds.at(key);
    std::string label = " rows " + std::to_string(first) + "+" + std::to_string(r);
    memory::desc q_md({r * k}, s8, memory::format_tag::a);
    Slot q = !int8      ? Slot{}
             : streamed ? Slot{l.weights().window(int8_windows, index).buffer, q_md}
                        : Slot{resident_int8.buffer, q_md, resident_int8.offset + static_cast<size_t>(first * k)};
    if (streamed)
      l.weights().add_stream(
          b, first, r,
          int8 ? q
               : Slot{l.weights().window(windows, index).buffer, memory::desc({r * k}, f32, memory::format_tag::a)});
    Slot weights = full ? Slot{q.buffer, w_md, q.offset} : view_at(l.weights().window(windows, index), w_md, 0);
    if (int8 && !full) {
      std::vector<float> scales = scale_rows(p.int8.weight_scales, first, r);
      l.add_custom("dequantize " + bname + label, "dequantize_int8",
                   [r, k, scales](const std::vector<void*>& ptrs) {
                     dequantize_rows(static_cast<const int8_t*>(ptrs[0]), scales.data(), r, k,
                                     static_cast<float*>(ptrs[1]));
                   },
                   {q, Slot{weights.buffer, memory::desc({r * k}, f32, memory::format_tag::a)}});
    }
    std::vector<std::pair<int, Slot>> args{
        {DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, view_at(out, y_md, first)}};
    if (c != kNoValue)
      args.emplace_back(c_binary ? DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1 : DNNL_ARG_BIAS,
                        view_at(c_slot, c_md, c_dims[1] == 1 ? 0 : first));
    l.add_primitive(n.name + label, dnnl::matmul(pd), pd, std::move(args));
  }
  l.add_eltwise_steps(n.name, activations.rest, out);
}

}  // namespace

void lower_gemm(LoweringContext& l, const Node& n) {
  const auto& p = std::get<GemmParams>(n.params);
  const Graph& g = l.graph();
  const Dims& a = g.value(n.inputs[0]).dims;
  const Dims& b = g.value(n.inputs[1]).dims;
  memory::dim m = p.trans_a ? a[1] : a[0], k = p.trans_a ? a[0] : a[1], nn = p.trans_b ? b[0] : b[1];
  memory::desc a_md = strided_2d(m, k, p.trans_a), b_md = strided_2d(k, nn, p.trans_b);
  memory::desc dst_md = with_dims({m, nn});
  // Constant weights in oneDNN's preferred layout, except in unmodified mode (a naive
  // framework decrypts them and uses them as they are).
  bool reorder_b = g.value(n.inputs[1]).is_constant && l.mode() == ExecutionMode::kPlanned;
  memory::desc w_md = reorder_b ? memory::desc({k, nn}, memory::data_type::f32, memory::format_tag::any) : b_md;

  ValueId c = n.inputs.size() > 2 && p.beta != 0.f ? n.inputs[2] : kNoValue;
  // A prescaled constant C is the matmul bias (oneDNN applies the alpha output scale to
  // the bias too, hence (beta/alpha)*C); any other C is added by a binary post-op.
  bool c_const = c != kNoValue && p.c_prescaled;
  memory::desc c_md = c != kNoValue ? with_dims(pad_front(g.value(c).dims, 2)) : memory::desc();

  bool quantized = int8_weights_of(n) != nullptr;
  if ((l.weights().is_streamed(n.inputs[1]) || quantized) && p.trans_b && (c == kNoValue || c_const))
    return lower_gemm_in_windows(l, n, a_md, m, k, nn, c);
  if (quantized)
    throw Error(ErrorCode::kUnsupported,
                "Gemm node '" + n.name + "': int8 weights need transB and no C or a prescaled constant one");

  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::post_ops po;
  float out_scale = p.alpha;
  if (c != kNoValue && !c_const) {
    // (alpha/beta * AB + C) * beta  ==  alpha*AB + beta*C, with C added as a post-op.
    out_scale = p.alpha / p.beta;
    po.append_binary(dnnl::algorithm::binary_add, c_md);
    if (p.beta != 1.f) po.append_eltwise(1.f, dnnl::algorithm::eltwise_linear, p.beta, 0.f);
  }
  PostOpSplit activations = split_post_ops(p.post_ops, po);
  for (const auto& e : activations.fused) append_eltwise(po, e);
  attr.set_post_ops(po);
  if (out_scale != 1.f) attr.set_output_scales(0, {out_scale});
  dnnl::matmul::desc d(a_md, w_md, c_const ? c_md : memory::desc(), dst_md);
  dnnl::matmul::primitive_desc pd(d, attr, l.engine());

  Slot a_slot = l.input(n.inputs[0], Layout::kPlain);
  std::vector<std::pair<int, Slot>> args{{DNNL_ARG_SRC, Slot{a_slot.buffer, a_md}},
                                         {DNNL_ARG_WEIGHTS, weights_slot(l, n.inputs[1], b_md, pd.weights_desc())}};
  if (c_const) {
    Slot cs = l.input_as_is(c);
    args.emplace_back(DNNL_ARG_BIAS, Slot{cs.buffer, c_md});
  } else if (c != kNoValue) {
    Slot cs = l.input_as_is(c);
    args.emplace_back(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, Slot{cs.buffer, c_md});
  }
  Slot out = l.output(n.outputs[0], dst_md);
  args.emplace_back(DNNL_ARG_DST, out);
  l.add_primitive(n.name, dnnl::matmul(pd), pd, std::move(args));
  l.add_eltwise_steps(n.name, activations.rest, out);
}

void lower_matmul(LoweringContext& l, const Node& n) {
  const auto& p = std::get<MatMulParams>(n.params);
  const Graph& g = l.graph();
  Dims a = g.value(n.inputs[0]).dims, b = g.value(n.inputs[1]).dims;
  if (a.size() == 1) a.insert(a.begin(), 1);
  if (b.size() == 1) b.push_back(1);
  size_t rank = std::max(a.size(), b.size());
  a = pad_front(a, rank);
  b = pad_front(b, rank);
  Dims y = a;
  for (size_t i = 0; i + 2 < rank; ++i) y[i] = std::max(a[i], b[i]);
  y[rank - 1] = b[rank - 1];
  if (rank > 12) throw Error(ErrorCode::kUnsupported, "MatMul node '" + n.name + "': rank above 12");
  memory::desc a_md = with_dims(a), b_md = with_dims(b), dst_md = with_dims(y);
  bool reorder_b = g.value(n.inputs[1]).is_constant && l.mode() == ExecutionMode::kPlanned;
  memory::desc w_md = reorder_b ? memory::desc(to_dnnl_dims(b), memory::data_type::f32, memory::format_tag::any) : b_md;
  // A fused bias (graph_passes.h), {N} or {1, ..., N}: oneDNN broadcasts a {1, ..., 1, N} bias.
  const bool has_bias = n.inputs.size() > 2 && n.inputs[2] != kNoValue;
  memory::desc bias_md = has_bias ? with_dims(pad_front(g.value(n.inputs[2]).dims, rank)) : memory::desc();
  dnnl::matmul::desc d(a_md, w_md, bias_md, dst_md);
  PostOpSplit activations = split_post_ops(p.post_ops);
  dnnl::matmul::primitive_desc pd(d, attr_with(activations.fused), l.engine());
  Slot a_slot = l.input(n.inputs[0], Layout::kPlain);
  Slot w = weights_slot(l, n.inputs[1], b_md, pd.weights_desc());
  Slot out = l.output(n.outputs[0], with_dims(g.value(n.outputs[0]).dims));
  std::vector<std::pair<int, Slot>> args{
      {DNNL_ARG_SRC, Slot{a_slot.buffer, a_md}}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, Slot{out.buffer, dst_md}}};
  if (has_bias) args.emplace_back(DNNL_ARG_BIAS, l.constant(n.inputs[2], bias_md));
  l.add_primitive(n.name, dnnl::matmul(pd), pd, std::move(args));
  l.add_eltwise_steps(n.name, activations.rest, Slot{out.buffer, dst_md});
}

}  // namespace teeinfer
