// Softmax (oneDNN's softmax_accurate), in the layout its input already has, except over
// flattened dims (opset < 13), which views the plain row-major tensor as 2-D; and
// LogSoftmax, hand-written (below).
#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "enclave/op_lowering/op_lowering.h"

namespace teeinfer {

using dnnl::memory;

namespace {

// Each group g of `len` elements `stride` apart (group g starts at (g / stride) * len *
// stride + g % stride, as a softmax axis of a row-major tensor does).
void log_softmax_rows(const float* in, float* out, int64_t len, int64_t stride, int64_t groups) {
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t base = (g / stride) * len * stride + g % stride;
    float top = -INFINITY;
    for (int64_t k = 0; k < len; ++k) top = std::max(top, in[base + k * stride]);
    double sum = 0;
    for (int64_t k = 0; k < len; ++k) sum += std::exp(in[base + k * stride] - top);  // (expf: within 1 ulp)
    const double shift = static_cast<double>(top) + std::log(sum);
    for (int64_t k = 0; k < len; ++k)
      out[base + k * stride] = static_cast<float>(static_cast<double>(in[base + k * stride]) - shift);
  }
}

}  // namespace

void lower_softmax(LoweringContext& l, const Node& n) {
  const auto& p = std::get<SoftmaxParams>(n.params);
  const Dims& x = l.graph().value(n.inputs[0]).dims;
  int64_t rank = static_cast<int64_t>(x.size());
  if (p.coerce_2d && p.axis != rank - 1) {
    // Softmax over the flattened dims [axis, rank): view the plain tensor as 2-D.
    Dims outer(x.begin(), x.begin() + p.axis), inner(x.begin() + p.axis, x.end());
    Dims flat{element_count(outer, n.name), element_count(inner, n.name)};
    Slot src = l.input(n.inputs[0], Layout::kPlain);
    memory::desc md2 = layout_md(flat, Layout::kPlain);
    dnnl::softmax_v2_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::softmax_accurate, md2, md2,
                                     1);
    dnnl::softmax_v2_forward::primitive_desc pd(d, attr_with({}), l.engine());
    Slot dst = l.output(n.outputs[0], layout_md(x, Layout::kPlain));
    l.add_primitive(n.name, dnnl::softmax_v2_forward(pd), pd,
                    {{DNNL_ARG_SRC, Slot{src.buffer, md2}}, {DNNL_ARG_DST, Slot{dst.buffer, md2}}});
    return;
  }
  Slot src = l.input_as_is(n.inputs[0]);
  dnnl::softmax_v2_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::softmax_accurate, src.md,
                                   src.md, static_cast<int>(p.axis));
  dnnl::softmax_v2_forward::primitive_desc pd(d, attr_with({}), l.engine());
  Slot dst = l.output(n.outputs[0], pd.dst_desc());
  l.add_primitive(n.name, dnnl::softmax_v2_forward(pd), pd, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
}

// LogSoftmax is hand-written: oneDNN 2.6's softmax_log computes its log with the same
// approximation as eltwise_log (log(1) comes out as 1.4e-6, not 0, where ONNX's tests allow
// 1e-7), so it is x - max - log(sum(exp(x - max))) here, the sum and log in double, over `len`
// elements `stride` apart in the plain tensor.
void lower_log_softmax(LoweringContext& l, const Node& n) {
  const auto& p = std::get<LogSoftmaxParams>(n.params);
  const Value& y = l.graph().value(n.outputs[0]);
  const Dims& x = y.dims;
  int64_t inner = 1;
  for (size_t d = static_cast<size_t>(p.axis) + 1; d < x.size(); ++d) inner *= x[d];
  const int64_t len = p.coerce_2d ? x[static_cast<size_t>(p.axis)] * inner : x[static_cast<size_t>(p.axis)];
  const int64_t stride = p.coerce_2d ? 1 : inner, groups = element_count(x, y.name) / len;
  Slot src = l.input(n.inputs[0], Layout::kPlain);
  Slot dst = l.output(n.outputs[0], layout_md(x, Layout::kPlain));
  l.add_custom(n.name, "log_softmax",
               [len, stride, groups](const std::vector<void*>& ptr) {
                 log_softmax_rows(static_cast<const float*>(ptr[0]), static_cast<float*>(ptr[1]), len, stride, groups);
               },
               {src, dst});
}

}  // namespace teeinfer
