// Conv: {N,C,*spatial} x {OC,C/G,*k} (+ residual {N,OC,*out}) -> {N,OC,*out}.
// Channels-last activations, weights in the layout oneDNN picks (reordered once, at
// load), a fused residual as the sum post-op, fused activations after it.
//
// Y-plane partitioning: with LoweringOptions::conv_band_rows set for the node, the
// output is computed in bands of that many rows of the first spatial dim (rows of an
// image), each by its own oneDNN convolution over just the input rows it needs (its
// rows plus the halo of the window), with the vertical padding only where a band meets
// the image border. In channels-last order a band of rows is one contiguous slab, so
// bands are plain views into the input and output: no copies.
#include <map>
#include <optional>
#include <tuple>

#include "enclave/kernels/kernels.h"

namespace teeinfer {

using dnnl::memory;

namespace {

struct ConvShapes {
  Dims x, w, y;
  bool has_bias;
  memory::dims wdims;  // oneDNN's: {G, OC/G, IC/G, k...} when grouped
};

ConvShapes shapes_of(const Lowering& l, const Node& n) {
  const auto& p = std::get<ConvParams>(n.params);
  const Graph& g = l.graph();
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

dnnl::primitive_attr conv_attr(const ConvParams& p) {
  dnnl::primitive_attr attr = attr_with({});
  dnnl::post_ops po;
  if (p.fused_sum) po.append_sum(1.f);  // dst already holds the residual
  for (const auto& e : p.post_ops) append_eltwise(po, e);
  attr.set_post_ops(po);
  return attr;
}

dnnl::convolution_forward::primitive_desc conv_pd(const Lowering& l, const ConvShapes& s, const ConvParams& p,
                                                  const memory::desc& src, const memory::desc& weights,
                                                  const memory::desc& dst, const Dims& pads_begin,
                                                  const Dims& pads_end) {
  DnnlWindow win = dnnl_window(p.strides, p.dilations, pads_begin, pads_end);
  memory::desc b_md =
      s.has_bias ? memory::desc({s.w[0]}, memory::data_type::f32, memory::format_tag::a) : memory::desc();
  dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src,
                                    weights, b_md, dst, win.strides, win.dilations, win.pads_begin, win.pads_end);
  return dnnl::convolution_forward::primitive_desc(d, conv_attr(p), l.engine());
}

// The output slot; with a fused residual, the residual's buffer (in place) or a copy of it.
Slot output_slot(Lowering& l, const Node& n, const memory::desc& dst_md) {
  const auto& p = std::get<ConvParams>(n.params);
  if (!p.fused_sum) return l.output(n.outputs[0], dst_md);
  ValueId residual = n.inputs[3];
  if (std::optional<Slot> in_place = l.reuse_for_output(residual, n.outputs[0], dst_md)) return *in_place;
  Slot r = l.input(residual, Layout::kChannelsLast);  // still needed elsewhere: copy it
  Slot dst = l.output(n.outputs[0], dst_md);
  auto copy = dnnl::reorder::primitive_desc(l.engine(), r.md, l.engine(), dst.md);
  l.add_primitive(n.name + " (residual copy)", dnnl::reorder(copy), copy, {{DNNL_ARG_FROM, r}, {DNNL_ARG_TO, dst}});
  return dst;
}

void lower_conv_whole(Lowering& l, const Node& n, const ConvShapes& s, const ConvParams& p, const Slot& dst) {
  memory::desc w_any(s.wdims, memory::data_type::f32, memory::format_tag::any);
  auto pd = conv_pd(l, s, p, layout_md(s.x, Layout::kChannelsLast), w_any, layout_md(s.y, Layout::kChannelsLast),
                    p.pads_begin, p.pads_end);
  Slot src = l.input(n.inputs[0], Layout::kChannelsLast);
  std::vector<std::pair<int, Slot>> args{{DNNL_ARG_SRC, src},
                                         {DNNL_ARG_WEIGHTS, l.constant(n.inputs[1], pd.weights_desc())}};
  if (s.has_bias) args.emplace_back(DNNL_ARG_BIAS, l.constant(n.inputs[2], pd.bias_desc()));
  args.emplace_back(DNNL_ARG_DST, dst);
  l.add_primitive(n.name, dnnl::convolution_forward(pd), pd, std::move(args));
}

// One band: output rows [first, first + rows) of one image, from the input rows its
// windows cover.
struct Band {
  int64_t out_first, out_rows, in_first, in_rows, pad_top, pad_bottom;
};

Band band_of(int64_t out_first, int64_t out_rows, int64_t in_height, int64_t stride, int64_t dilation, int64_t kernel,
             int64_t pad) {
  int64_t top = out_first * stride - pad;  // first row of the first window
  int64_t bottom = (out_first + out_rows - 1) * stride - pad + (kernel - 1) * dilation;  // last row of the last
  int64_t in_first = std::max<int64_t>(top, 0), in_last = std::min(bottom, in_height - 1);
  return {out_first,
          out_rows,
          in_first,
          in_last - in_first + 1,
          std::max<int64_t>(-top, 0),
          std::max<int64_t>(bottom - (in_height - 1), 0)};
}

// Bands of `rows` output rows; a band at the top or bottom whose windows would see only
// padding (pads larger than the window) is merged into its neighbour, so every band
// reads at least one real row.
std::vector<Band> split_rows(int64_t out_h, int64_t rows, int64_t in_h, const ConvParams& p) {
  auto band = [&](int64_t first, int64_t count) {
    return band_of(first, count, in_h, p.strides[0], p.dilations[0], p.kernel[0], p.pads_begin[0]);
  };
  std::vector<std::pair<int64_t, int64_t>> spans;  // (first, count)
  for (int64_t first = 0; first < out_h; first += rows) spans.emplace_back(first, std::min(rows, out_h - first));
  while (spans.size() > 1 && band(spans[0].first, spans[0].second).in_rows < 1) {
    spans[1] = {0, spans[0].second + spans[1].second};
    spans.erase(spans.begin());
  }
  while (spans.size() > 1 && band(spans.back().first, spans.back().second).in_rows < 1) {
    spans[spans.size() - 2].second += spans.back().second;
    spans.pop_back();
  }
  std::vector<Band> out;
  for (auto [first, count] : spans) out.push_back(band(first, count));
  return out;
}

void lower_conv_banded(Lowering& l, const Node& n, const ConvShapes& s, const ConvParams& p, const Slot& dst,
                       int64_t band_rows) {
  const int64_t images = s.x[0], in_h = s.x[2], out_h = s.y[2];
  auto slab = [](const Dims& d, int64_t rows) {  // one image, `rows` rows of the first spatial dim
    Dims b = d;
    b[0] = 1;
    b[2] = rows;
    return layout_md(b, Layout::kChannelsLast);
  };
  auto row_floats = [](const Dims& d) {  // floats in one row of one image, channels-last
    int64_t f = d[1];
    for (size_t i = 3; i < d.size(); ++i) f *= d[i];
    return f;
  };
  Slot src = l.input(n.inputs[0], Layout::kChannelsLast);
  // Every band must use the same weights layout: the first band picks it.
  std::optional<memory::desc> weights_md;
  Slot weights, bias;
  std::map<std::tuple<int64_t, int64_t, int64_t, int64_t>, dnnl::convolution_forward::primitive_desc> pds;
  std::vector<Band> bands = split_rows(out_h, band_rows, in_h, p);
  for (int64_t img = 0; img < images; ++img)
    for (const Band& b : bands) {
      int64_t first = b.out_first;
      auto key = std::make_tuple(b.out_rows, b.in_rows, b.pad_top, b.pad_bottom);
      if (!pds.count(key)) {
        Dims pb = p.pads_begin, pe = p.pads_end;
        pb[0] = b.pad_top;
        pe[0] = b.pad_bottom;
        memory::desc w =
            weights_md ? *weights_md : memory::desc(s.wdims, memory::data_type::f32, memory::format_tag::any);
        pds.emplace(key, conv_pd(l, s, p, slab(s.x, b.in_rows), w, slab(s.y, b.out_rows), pb, pe));
      }
      const auto& pd = pds.at(key);
      if (!weights_md) {
        weights_md = pd.weights_desc();
        weights = l.constant(n.inputs[1], *weights_md);
        if (s.has_bias) bias = l.constant(n.inputs[2], pd.bias_desc());
      }
      auto view = [](const Slot& base, const memory::desc& md, int64_t floats) {
        return Slot{base.buffer, md, base.offset + static_cast<size_t>(floats) * sizeof(float)};
      };
      std::vector<std::pair<int, Slot>> args{
          {DNNL_ARG_SRC, view(src, pd.src_desc(), (img * in_h + b.in_first) * row_floats(s.x))},
          {DNNL_ARG_WEIGHTS, weights}};
      if (s.has_bias) args.emplace_back(DNNL_ARG_BIAS, bias);
      args.emplace_back(DNNL_ARG_DST, view(dst, pd.dst_desc(), (img * out_h + first) * row_floats(s.y)));
      l.add_primitive(n.name + " (rows " + std::to_string(first) + "+" + std::to_string(b.out_rows) +
                          (images > 1 ? ", image " + std::to_string(img) : "") + ")",
                      dnnl::convolution_forward(pd), pd, std::move(args));
    }
}

// True when some output row or column sees only padding (a pad at least the window's
// extent). oneDNN 2.6.3's brgconv crashes on those with a sum post-op (found by the
// banded-conv sweep), so such convs add their residual in a separate binary step.
bool has_padding_only_outputs(const ConvParams& p) {
  for (size_t i = 0; i < p.kernel.size(); ++i) {
    int64_t extent = (p.kernel[i] - 1) * p.dilations[i];
    if (p.pads_begin[i] > extent || p.pads_end[i] > extent) return true;
  }
  return false;
}

void lower_conv_into(Lowering& l, const Node& n, const ConvShapes& s, const ConvParams& p, const Slot& dst) {
  int64_t rows = l.conv_band_rows(n);
  if (rows > 0 && s.y.size() >= 3 && rows < s.y[2]) return lower_conv_banded(l, n, s, p, dst, rows);
  lower_conv_whole(l, n, s, p, dst);
}

}  // namespace

void lower_conv(Lowering& l, const Node& n) {
  const auto& p = std::get<ConvParams>(n.params);
  ConvShapes s = shapes_of(l, n);
  memory::desc y_md = layout_md(s.y, Layout::kChannelsLast);
  if (!p.fused_sum || !has_padding_only_outputs(p)) return lower_conv_into(l, n, s, p, output_slot(l, n, y_md));
  ConvParams bare = p;  // conv alone into scratch, then residual + activations in one binary
  bare.fused_sum = false;
  bare.post_ops.clear();
  Slot conv = l.scratch(y_md, n.name + " (before residual)");
  lower_conv_into(l, n, s, bare, conv);
  ValueId residual = n.inputs[3];
  std::optional<Slot> in_place = l.reuse_for_output(residual, n.outputs[0], y_md);
  Slot r = in_place ? *in_place : l.input(residual, Layout::kChannelsLast);
  Slot dst = in_place ? *in_place : l.output(n.outputs[0], y_md);
  dnnl::binary::primitive_desc pd(dnnl::binary::desc(dnnl::algorithm::binary_add, r.md, y_md, y_md),
                                  attr_with(p.post_ops), l.engine());
  l.add_primitive(n.name + " (residual)", dnnl::binary(pd), pd,
                  {{DNNL_ARG_SRC_0, r}, {DNNL_ARG_SRC_1, conv}, {DNNL_ARG_DST, dst}});
}

}  // namespace teeinfer
