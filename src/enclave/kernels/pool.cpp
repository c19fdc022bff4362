// MaxPool / AveragePool / GlobalAveragePool / GlobalMaxPool in the activation layout.
#include "common/error.h"
#include "enclave/kernels/kernels.h"

namespace teeinfer {

using dnnl::memory;

void lower_pool(Lowering& l, const Node& n) {
  const auto& p = std::get<PoolParams>(n.params);
  const Graph& g = l.graph();
  const Dims& x = g.value(n.inputs[0]).dims;
  const Dims& y = g.value(n.outputs[0]).dims;
  dnnl::algorithm alg = dnnl::algorithm::pooling_max;
  if (p.kind == PoolKind::kAverage) {
    alg = p.count_include_pad ? dnnl::algorithm::pooling_avg_include_padding
                              : dnnl::algorithm::pooling_avg_exclude_padding;
    // oneDNN would count ceil_mode's extra padding in the divisor; ONNX does not.
    if (p.count_include_pad && p.pads_end != p.declared_pads_end)
      throw Error(ErrorCode::kUnsupported,
                  n.onnx_op + " node '" + n.name + "': ceil_mode with count_include_pad is not supported");
  }
  DnnlWindow win = dnnl_window(p.strides, p.dilations, p.pads_begin, p.pads_end);
  memory::desc src_md = layout_md(x, l.activation_layout()), dst_md = layout_md(y, l.activation_layout());
  dnnl::pooling_v2_forward::desc d(dnnl::prop_kind::forward_inference, alg, src_md, dst_md, win.strides,
                                   memory::dims(p.kernel.begin(), p.kernel.end()), win.dilations, win.pads_begin,
                                   win.pads_end);
  dnnl::pooling_v2_forward::primitive_desc pd(d, attr_with({}), l.engine());
  Slot src = l.input(n.inputs[0], l.activation_layout());
  Slot dst = l.output(n.outputs[0], pd.dst_desc());
  l.add_primitive(n.name, dnnl::pooling_v2_forward(pd), pd, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
}

}  // namespace teeinfer
