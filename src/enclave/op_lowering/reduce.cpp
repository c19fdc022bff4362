// Reduce (ONNX ReduceSum/Mean/Max/Min/Prod/L1/L2/SumSquare/LogSum/LogSumExp) with oneDNN's
// reduction primitive over the plain tensor, and PRelu with oneDNN's prelu primitive.
//
// A hand-written reduction runs instead for LogSumExp (oneDNN 2.6 has no such algorithm,
// and exp-then-sum overflows where ONNX's max-shifted definition does not), where every
// reduced dim is 1 (oneDNN refuses those), and wherever oneDNN would pick its slow
// reference implementation for the shapes at hand.
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

// The input split into the kept dims (one output element each) and the reduced dims, with
// the input's element strides along each.
struct ReduceGeometry {
  Dims kept, kept_strides, reduced, reduced_strides;
  int64_t outputs = 1, per_output = 1;
};

ReduceGeometry geometry(const Dims& x, const Dims& axes) {
  ReduceGeometry r;
  int64_t stride = 1;
  Dims strides(x.size());
  for (size_t i = x.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= x[i];
  }
  for (size_t i = 0; i < x.size(); ++i) {
    bool reduced = std::find(axes.begin(), axes.end(), static_cast<int64_t>(i)) != axes.end();
    (reduced ? r.reduced : r.kept).push_back(x[i]);
    (reduced ? r.reduced_strides : r.kept_strides).push_back(strides[i]);
    (reduced ? r.per_output : r.outputs) *= x[i];
  }
  return r;
}

// Calls f(offset) for every element offset of an odometer over `dims` with `strides`.
template <class F>
void for_each_offset(const Dims& dims, const Dims& strides, int64_t count, F f) {
  std::array<int64_t, kMaxRank> idx{};
  int64_t off = 0;
  for (int64_t e = 0; e < count; ++e) {
    f(off);
    for (size_t k = dims.size(); k-- > 0;) {
      off += strides[k];
      if (++idx[k] < dims[k]) break;
      off -= strides[k] * dims[k];
      idx[k] = 0;
    }
  }
}

float reduce_one(ReduceKind kind, const float* x, const ReduceGeometry& r) {
  const Dims &d = r.reduced, &s = r.reduced_strides;
  const int64_t n = r.per_output;
  switch (kind) {
    case ReduceKind::kMax:
    case ReduceKind::kMin: {
      float m = kind == ReduceKind::kMax ? -INFINITY : INFINITY;
      for_each_offset(d, s, n, [&](int64_t o) {  // NaN propagates (numpy's maximum.reduce)
        float v = x[o];
        if (std::isnan(v) || (kind == ReduceKind::kMax ? v > m : v < m)) m = std::isnan(m) ? m : v;
      });
      return m;
    }
    case ReduceKind::kProd: {
      double p = 1;
      for_each_offset(d, s, n, [&](int64_t o) { p *= x[o]; });
      return static_cast<float>(p);
    }
    case ReduceKind::kLogSumExp: {
      float m = -INFINITY;
      for_each_offset(d, s, n, [&](int64_t o) { m = std::max(m, x[o]); });
      if (std::isinf(m)) return m;  // all -inf (or one +inf): the sum is 0 (inf)
      double sum = 0;
      for_each_offset(d, s, n, [&](int64_t o) { sum += std::exp(static_cast<double>(x[o]) - m); });
      return static_cast<float>(m + std::log(sum));
    }
    case ReduceKind::kSum:
    case ReduceKind::kMean:
    case ReduceKind::kL1:
    case ReduceKind::kL2:
    case ReduceKind::kSumSquare:
    case ReduceKind::kLogSum: {
      double sum = 0;
      for_each_offset(d, s, n, [&](int64_t o) {
        double v = x[o];
        sum += kind == ReduceKind::kL1                                     ? std::fabs(v)
               : kind == ReduceKind::kL2 || kind == ReduceKind::kSumSquare ? v * v
                                                                           : v;
      });
      if (kind == ReduceKind::kMean) sum /= static_cast<double>(n);
      if (kind == ReduceKind::kL2) sum = std::sqrt(sum);
      if (kind == ReduceKind::kLogSum) sum = std::log(sum);
      return static_cast<float>(sum);
    }
  }
  return NAN;
}

CustomKernel hand_written_reduce(ReduceKind kind, const ReduceGeometry& r) {
  return [kind, r](const std::vector<void*>& p) {
    const float* x = static_cast<const float*>(p[0]);
    float* y = static_cast<float*>(p[1]);
    int64_t o = 0;
    for_each_offset(r.kept, r.kept_strides, r.outputs, [&](int64_t base) { y[o++] = reduce_one(kind, x + base, r); });
  };
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
  l.add_custom(n.name, "hand_written_reduce", hand_written_reduce(p.kind, geometry(x, p.axes)), {src, dst});
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
