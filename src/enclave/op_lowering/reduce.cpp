// Reduce (ONNX ReduceSum/Mean/Max/Min/Prod/L1/L2/SumSquare/LogSum/LogSumExp) with oneDNN's
// reduction primitive over the plain tensor, and PRelu with oneDNN's prelu primitive.
//
// A hand-written reduction runs instead for LogSumExp (oneDNN 2.6 has no such algorithm,
// and exp-then-sum overflows where ONNX's max-shifted definition does not), where every
// reduced dim is 1 (oneDNN refuses those), and wherever oneDNN would pick its slow
// reference implementation for the shapes at hand.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "common/error.h"
#include "enclave/op_lowering/op_lowering.h"

namespace teeinfer {

using dnnl::memory;

namespace {

// oneDNN's algorithm, power and the eltwise post-op of each reduction; nullopt: none.
struct OneDnnReduction {
  dnnl::algorithm algorithm;
  float p = 0.f;
  bool log_after = false;
};

std::optional<OneDnnReduction> onednn_reduction(ReduceKind k) {
  switch (k) {
    case ReduceKind::kSum:
      return OneDnnReduction{dnnl::algorithm::reduction_sum};
    case ReduceKind::kMean:
      return OneDnnReduction{dnnl::algorithm::reduction_mean};
    case ReduceKind::kMax:
      return OneDnnReduction{dnnl::algorithm::reduction_max};
    case ReduceKind::kMin:
      return OneDnnReduction{dnnl::algorithm::reduction_min};
    case ReduceKind::kProd:
      return OneDnnReduction{dnnl::algorithm::reduction_mul};
    case ReduceKind::kL1:
      return OneDnnReduction{dnnl::algorithm::reduction_norm_lp_power_p_sum, 1.f};
    case ReduceKind::kL2:
      return OneDnnReduction{dnnl::algorithm::reduction_norm_lp_sum, 2.f};
    case ReduceKind::kSumSquare:
      return OneDnnReduction{dnnl::algorithm::reduction_norm_lp_power_p_sum, 2.f};
    case ReduceKind::kLogSum:
      return OneDnnReduction{dnnl::algorithm::reduction_sum, 0.f, true};
    case ReduceKind::kLogSumExp:
      return std::nullopt;
  }
  return std::nullopt;
}

// The input's dims and, along each, the output's element stride (0 along a reduced dim).
struct ReduceGeometry {
  Dims x, out_strides;
  int64_t per_output = 1;  // input elements per output element
};

ReduceGeometry geometry(const Dims& x, const Dims& axes) {
  ReduceGeometry r{x, Dims(x.size(), 0)};
  int64_t stride = 1;
  for (size_t i = x.size(); i-- > 0;) {
    if (std::find(axes.begin(), axes.end(), static_cast<int64_t>(i)) != axes.end()) {
      r.per_output *= x[i];
    } else {
      r.out_strides[i] = stride;
      stride *= x[i];
    }
  }
  return r;
}

// Calls f(x_row, y_offset) for each row (the last dim) of the input, in memory order, with
// the output offset of the row's first element.
template <class F>
void for_each_row(const ReduceGeometry& r, const float* x, F f) {
  const size_t outer = r.x.size() - 1;
  const int64_t last = r.x.back();
  std::array<int64_t, kMaxRank> idx{};
  int64_t rows = 1;
  for (size_t k = 0; k < outer; ++k) rows *= r.x[k];
  int64_t off = 0;
  for (int64_t row = 0; row < rows; ++row) {
    f(x + row * last, off);
    for (size_t k = outer; k-- > 0;) {  // odometer over the outer dims
      off += r.out_strides[k];
      if (++idx[k] < r.x[k]) break;
      off -= r.out_strides[k] * r.x[k];
      idx[k] = 0;
    }
  }
}

// acc = op(acc, v) over the input in memory order: each row either folds into one output
// element (the last dim reduced) or runs along a row of outputs (kept), so the inner loops
// are contiguous whatever the axes.
template <class Op>
void accumulate(const ReduceGeometry& r, const float* x, float* y, Op op) {
  const int64_t last = r.x.back();
  const bool last_reduced = r.out_strides.back() == 0;
  for_each_row(r, x, [&](const float* row, int64_t off) {
    float* out = y + off;
    if (last_reduced) {
      float acc = *out;
      for (int64_t i = 0; i < last; ++i) acc = op(acc, row[i]);
      *out = acc;
    } else {
      for (int64_t i = 0; i < last; ++i) out[i] = op(out[i], row[i]);
    }
  });
}

// Multiversioned so the contiguous loops vectorise for AVX2/AVX-512 without -march flags.
// `max` (LogSumExp only) is a scratch buffer of the output's size.
__attribute__((target_clones("avx512f", "avx2", "default"))) void reduce_kernel(ReduceKind kind,
                                                                                const ReduceGeometry& r, const float* x,
                                                                                float* y, float* max, int64_t outputs) {
  auto fill = [&](float* v, float value) { std::fill(v, v + outputs, value); };
  auto plus = [](float a, float b) { return a + b; };
  auto larger = [](float a, float b) {
    return b > a || std::isnan(b) ? b : a;  // NaN propagates
  };
  auto smaller = [](float a, float b) { return b < a || std::isnan(b) ? b : a; };
  switch (kind) {
    case ReduceKind::kSum:
    case ReduceKind::kMean:
    case ReduceKind::kLogSum:
      fill(y, 0.f);
      accumulate(r, x, y, plus);
      break;
    case ReduceKind::kL1:
      fill(y, 0.f);
      accumulate(r, x, y, [](float a, float b) { return a + std::fabs(b); });
      break;
    case ReduceKind::kL2:
    case ReduceKind::kSumSquare:
      fill(y, 0.f);
      accumulate(r, x, y, [](float a, float b) { return a + b * b; });
      break;
    case ReduceKind::kMax:
      fill(y, -INFINITY);
      accumulate(r, x, y, larger);
      break;
    case ReduceKind::kMin:
      fill(y, INFINITY);
      accumulate(r, x, y, smaller);
      break;
    case ReduceKind::kProd:
      fill(y, 1.f);
      accumulate(r, x, y, [](float a, float b) { return a * b; });
      break;
    case ReduceKind::kLogSumExp: {  // max + log(sum(exp(x - max))): no overflow
      fill(max, -INFINITY);
      accumulate(r, x, max, larger);
      fill(y, 0.f);
      const int64_t last = r.x.back();
      const bool last_reduced = r.out_strides.back() == 0;
      for_each_row(r, x, [&](const float* row, int64_t off) {
        if (last_reduced) {
          float m = max[off], acc = y[off];
          for (int64_t i = 0; i < last; ++i) acc += std::exp(row[i] - m);
          y[off] = acc;
        } else {
          for (int64_t i = 0; i < last; ++i) y[off + i] += std::exp(row[i] - max[off + i]);
        }
      });
      for (int64_t o = 0; o < outputs; ++o) y[o] = std::isinf(max[o]) ? max[o] : max[o] + std::log(y[o]);
      return;
    }
  }
  const float scale = 1.f / static_cast<float>(r.per_output);
  for (int64_t o = 0; o < outputs; ++o) {
    if (kind == ReduceKind::kMean) y[o] *= scale;
    if (kind == ReduceKind::kL2) y[o] = std::sqrt(y[o]);
    if (kind == ReduceKind::kLogSum) y[o] = std::log(y[o]);
  }
}

bool is_reference(const std::string& impl) {
  return impl.rfind("ref", 0) == 0;
}

}  // namespace

void lower_reduce(LoweringContext& l, const Node& n) {
  const auto& p = std::get<ReduceParams>(n.params);
  const Graph& g = l.graph();
  const Dims& x = g.value(n.inputs[0]).dims;
  const Dims& y = g.value(n.outputs[0]).dims;
  Dims kept = x;  // the output with the reduced dims kept (as 1): what oneDNN writes
  for (int64_t a : p.axes) kept.at(static_cast<size_t>(a)) = 1;
  Slot src = l.input(n.inputs[0], Layout::kPlain);
  Slot dst = l.output(n.outputs[0], layout_md(y, Layout::kPlain));
  Slot dst_kept{dst.buffer, layout_md(kept, Layout::kPlain), dst.offset};
  // oneDNN refuses a reduction that reduces nothing (every reduced dim is 1).
  if (auto r = onednn_reduction(p.kind); r && kept != x) {
    memory::desc src_md = layout_md(x, Layout::kPlain);
    if (x.empty()) src_md = layout_md({1}, Layout::kPlain), dst_kept.md = src_md;
    dnnl::primitive_attr attr = attr_with({});
    if (r->log_after) {
      dnnl::post_ops po;
      po.append_eltwise(1.f, dnnl::algorithm::eltwise_log, 0.f, 0.f);
      attr.set_post_ops(po);
    }
    dnnl::reduction::desc d(r->algorithm, src_md, dst_kept.md, r->p, 0.f);
    dnnl::reduction::primitive_desc pd(d, attr, l.engine());
    if (!is_reference(pd.impl_info_str())) {
      l.add_primitive(n.name, dnnl::reduction(pd), pd,
                      {{DNNL_ARG_SRC, Slot{src.buffer, src_md, src.offset}}, {DNNL_ARG_DST, dst_kept}});
      return;
    }
  }
  ReduceGeometry r = geometry(x, p.axes);
  const int64_t outputs = element_count(y, n.name);
  const ReduceKind kind = p.kind;
  std::vector<Slot> slots{src, dst};
  if (kind == ReduceKind::kLogSumExp) slots.push_back(l.scratch(layout_md(y, Layout::kPlain), "running maxima"));
  l.add_custom(
      n.name, "hand_written_reduce",
      [kind, r, outputs](const std::vector<void*>& ptr) {
        reduce_kernel(kind, r, static_cast<const float*>(ptr[0]), static_cast<float*>(ptr[1]),
                      ptr.size() > 2 ? static_cast<float*>(ptr[2]) : nullptr, outputs);
      },
      slots);
}

void lower_prelu(LoweringContext& l, const Node& n) {
  const Graph& g = l.graph();
  const Dims& x = g.value(n.inputs[0]).dims;
  Dims slope = g.value(n.inputs[1]).dims;
  slope.insert(slope.begin(), x.size() - slope.size(), 1);  // the shape function checked the rank
  Slot w = l.input(n.inputs[1], Layout::kPlain);
  Slot weights{w.buffer, layout_md(slope, Layout::kPlain), w.offset};
  auto make = [&](const Slot& src) {
    dnnl::prelu_forward::desc d(dnnl::prop_kind::forward_inference, src.md, weights.md);
    return dnnl::prelu_forward::primitive_desc(d, attr_with({}), l.engine());
  };
  Slot src = l.input_as_is(n.inputs[0]);
  auto pd = make(src);
  if (is_reference(pd.impl_info_str()) && !(src.md == layout_md(x, Layout::kPlain))) {
    src = l.input(n.inputs[0], Layout::kPlain);  // oneDNN's jit prelu takes plain layouts
    pd = make(src);
  }
  Slot dst = l.output(n.outputs[0], src.md);
  l.add_primitive(n.name, dnnl::prelu_forward(pd), pd,
                  {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}});
}

}  // namespace teeinfer
