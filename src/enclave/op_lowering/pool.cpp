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

// The pool of `p`'s window (the node's, or a band's with other pads) from src to dst.
// A dim of kernel 1 ignores its dilation; it is left out, as oneDNN would refuse a
// dilation not below the input size.
dnnl::pooling_v2_forward::primitive_desc pool_pd(const LoweringContext& l, const Node& n, const PoolParams& p,
                                                 const memory::desc& src, const memory::desc& dst,
                                                 const Dims& pads_begin, const Dims& pads_end) {
  Dims dilations = p.dilations;
  for (size_t i = 0; i < dilations.size(); ++i)
    if (p.kernel[i] == 1) dilations[i] = 1;
  DnnlWindow win = dnnl_window(p.strides, dilations, pads_begin, pads_end);
  dnnl::pooling_v2_forward::desc d(dnnl::prop_kind::forward_inference, pool_algorithm(n), src, dst, win.strides,
                                   memory::dims(p.kernel.begin(), p.kernel.end()), win.dilations, win.pads_begin,
                                   win.pads_end);
  return dnnl::pooling_v2_forward::primitive_desc(d, attr_with({}), l.engine());
}

dnnl::pooling_v2_forward::primitive_desc pool_pd(const LoweringContext& l, const Node& n, const memory::desc& src,
                                                 const memory::desc& dst, const Dims& pads_begin,
                                                 const Dims& pads_end) {
  return pool_pd(l, n, std::get<PoolParams>(n.params), src, dst, pads_begin, pads_end);
}

// One row (of the first spatial dim) of a band's md, at the band's strides.
memory::desc one_row(const memory::desc& band) {
  memory::dims d = band.dims();
  d[2] = 1;
  return memory::desc(d, band.data_type(), strides_of(band));
}

// oneDNN 2.6 refuses an average pool without counted padding whose dilation - 1 is not
// below its input size along a dim (a window might see only padding: 0 / 0). A band of a
// dilated pool can have that few input rows where the whole layer does not. Then every
// window of the band sees exactly one of its input rows (taps are `dilation` rows apart,
// more than the band has; and at least one, as the whole layer's windows do), so each
// output row is the pool, with a kernel of one row, of the input row its window sees.
void add_pool_band_by_rows(LoweringContext& l, const Node& n, const Slot& src, const Slot& dst, const Band& b) {
  const auto& p = std::get<PoolParams>(n.params);
  PoolParams row = p;
  row.kernel[0] = row.strides[0] = row.dilations[0] = 1;
  Dims pb = p.pads_begin, pe = p.pads_end;
  pb[0] = pe[0] = 0;
  memory::desc src_row = one_row(src.md), dst_row = one_row(dst.md);
  auto pd = pool_pd(l, n, row, src_row, dst_row, pb, pe);
  const int64_t src_row_floats = strides_of(src.md)[2], dst_row_floats = strides_of(dst.md)[2];
  for (int64_t o = 0; o < b.out_rows; ++o) {
    int64_t top = (b.out_first + o) * p.strides[0] - p.pads_begin[0] - b.in_first;  // its first tap, in the band
    int64_t seen = -1;
    for (int64_t j = 0; j < p.kernel[0]; ++j)
      if (int64_t r = top + j * p.dilations[0]; r >= 0 && r < b.in_rows) seen = r;
    if (seen < 0)
      throw Error(ErrorCode::kUnsupported, n.onnx_op + " node '" + n.name + "': output row " +
                                               std::to_string(b.out_first + o) + " sees only padding");
    l.add_primitive(n.name + " (rows " + std::to_string(b.out_first + o) + "+1)", dnnl::pooling_v2_forward(pd), pd,
                    {{DNNL_ARG_SRC, view_at(src, pd.src_desc(), seen * src_row_floats)},
                     {DNNL_ARG_DST, view_at(dst, pd.dst_desc(), o * dst_row_floats)}});
  }
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
  bool dilated_rows = p.kernel[0] > 1 && p.dilations[0] - 1 >= b.in_rows;
  if (pool_algorithm(n) == dnnl::algorithm::pooling_avg_exclude_padding && dilated_rows)
    return add_pool_band_by_rows(l, n, src, dst, b);
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
