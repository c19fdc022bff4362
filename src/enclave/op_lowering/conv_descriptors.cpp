#include "enclave/op_lowering/conv_descriptors.h"

#include "enclave/cpu_adaptation.h"
#include "enclave/lowering/descriptors.h"
#include "enclave/lowering/post_ops.h"
#include "enclave/op_lowering/op_lowering.h"

namespace teeinfer {

using dnnl::memory;

ConvShapes conv_shapes(const Graph& g, const Node& n) {
  const auto& p = std::get<ConvParams>(n.params);
  ConvShapes s{g.value(n.inputs[0]).dims,
               g.value(n.inputs[1]).dims,
               g.value(n.outputs[0]).dims,
               n.inputs.size() > 2 && n.inputs[2] != kNoValue,
               {}};
  s.wdims = to_dnnl_dims(s.w);
  if (p.groups > 1) {  // the bytes are the same
    s.wdims[0] /= p.groups;
    s.wdims.insert(s.wdims.begin(), p.groups);
  }
  return s;
}

dnnl::primitive_attr conv_attr(const ConvParams& p, int64_t first_oc, int64_t channels) {
  dnnl::primitive_attr attr = attr_with({});
  if (computes_full_int8(p.int8)) attr.set_output_scales(1 << 1, int8_output_scales(p.int8, first_oc, channels));
  dnnl::post_ops po;
  if (p.fused_sum) po.append_sum(1.f);  // dst already holds the residual
  for (const auto& e : split_post_ops(p.post_ops).fused) append_eltwise(po, e);
  attr.set_post_ops(po);
  return attr;
}

memory::desc any_weights(const ConvShapes& s, const ConvParams& p) {
  return memory::desc(s.wdims, computes_full_int8(p.int8) ? memory::data_type::s8 : memory::data_type::f32,
                      memory::format_tag::any);
}

dnnl::convolution_forward::primitive_desc conv_pd(const dnnl::engine& engine, const ConvShapes& s, const ConvParams& p,
                                                  const memory::desc& src, const memory::desc& weights,
                                                  const memory::desc& dst, const Dims& pads_begin, const Dims& pads_end,
                                                  int64_t first_oc, dnnl::algorithm algorithm) {
  DnnlWindow win = dnnl_window(p.strides, p.dilations, pads_begin, pads_end);
  memory::desc b_md =
      s.has_bias ? memory::desc({s.w[0]}, memory::data_type::f32, memory::format_tag::a) : memory::desc();
  memory::desc x = computes_full_int8(p.int8) ? memory::desc(src.dims(), memory::data_type::u8, strides_of(src)) : src;
  dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, algorithm, x, weights, b_md, dst, win.strides,
                                    win.dilations, win.pads_begin, win.pads_end);
  return dnnl::convolution_forward::primitive_desc(d, conv_attr(p, first_oc, s.w[0]), engine);
}

}  // namespace teeinfer
