// Softmax, in the layout its input already has, except over flattened dims (opset < 13),
// which views the plain row-major tensor as 2-D.
#include "common/error.h"
#include "enclave/op_lowering/op_lowering.h"

namespace teeinfer {

using dnnl::memory;

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

}  // namespace teeinfer
