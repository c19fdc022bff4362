// MaxPool / AveragePool / GlobalAveragePool / GlobalMaxPool in the activation layout.
#include "common/error.h"
#include "enclave/op_lowering/op_lowering.h"

namespace teeinfer {

using dnnl::memory;

namespace {

dnnl::algorithm pool_algorithm(const Node& n) {
  const auto& p = std::get<PoolParams>(n.params);
  if (p.kind != PoolKind::kAverage) return dnnl::algorithm::pooling_max;
  // oneDNN would count ceil_mode's extra padding in the divisor; ONNX does not.
  if (p.count_include_pad && p.pads_end != p.declared_pads_end)
    throw Error(ErrorCode::kUnsupported,
                n.onnx_op + " node '" + n.name + "': ceil_mode with count_include_pad is not supported");
  return p.count_include_pad ? dnnl::algorithm::pooling_avg_include_padding
                             : dnnl::algorithm::pooling_avg_exclude_padding;
}

dnnl::pooling_v2_forward::primitive_desc pool_pd(const LoweringContext& l, const Node& n, const memory::desc& src,
                                                 const memory::desc& dst, const Dims& pads_begin,
                                                 const Dims& pads_end) {
  const auto& p = std::get<PoolParams>(n.params);
  DnnlWindow win = dnnl_window(p.strides, p.dilations, pads_begin, pads_end);
  dnnl::pooling_v2_forward::desc d(dnnl::prop_kind::forward_inference, pool_algorithm(n), src, dst, win.strides,
                                   memory::dims(p.kernel.begin(), p.kernel.end()), win.dilations, win.pads_begin,
                                   win.pads_end);
  return dnnl::pooling_v2_forward::primitive_desc(d, attr_with({}), l.engine());
}

}  // namespace

void lower_pool(LoweringContext& l, const Node& n) {
  const auto& p = std::get<PoolParams>(n.params);
  const Graph& g = l.graph();
  const Dims& x = g.value(n.inputs[0]).dims;
  const Dims& y = g.value(n.outputs[0]).dims;
  auto pd =
      pool_pd(l, n, layout_md(x, l.activation_layout()), layout_md(y, l.activation_layout()), p.pads_begin, p.pads_end);
  Slot src = l.input(n.inputs[0], l.activation_layout());
  Slot dst = l.output(n.outputs[0], pd.dst_desc());
  l.add_primitive(n.name, dnnl::pooling_v2_forward(pd), pd, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
}

void add_pool_band(LoweringContext& l, const Node& n, const Slot& src, const Slot& dst, const Band& b) {
  const auto& p = std::get<PoolParams>(n.params);
  Dims pb = p.pads_begin, pe = p.pads_end;
  pb[0] = b.pad_top;
  pe[0] = b.pad_bottom;
  auto pd = pool_pd(l, n, src.md, dst.md, pb, pe);
  l.add_primitive(n.name + " (rows " + std::to_string(b.out_first) + "+" + std::to_string(b.out_rows) + ")",
                  dnnl::pooling_v2_forward(pd), pd,
                  {{DNNL_ARG_SRC, Slot{src.buffer, pd.src_desc(), src.offset}},
                   {DNNL_ARG_DST, Slot{dst.buffer, pd.dst_desc(), dst.offset}}});
}

}  // namespace teeinfer
