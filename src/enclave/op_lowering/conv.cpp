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
//
// Output-channel tiles: a streamed weight larger than the stream window is read and
// applied a tile of output channels at a time (lower_conv_oc_tiles).
//
// Dilated convolutions whose direct kernel would be oneDNN's GEMM run as one undilated
// convolution over the dilation's phases (conv_dilated_phases.h).
#include <map>
#include <numeric>
#include <optional>
#include <tuple>

#include "enclave/analysis/row_windows.h"
#include "enclave/bands/band.h"
#include "enclave/cpu_adaptation.h"
#include "enclave/op_lowering/conv_descriptors.h"
#include "enclave/op_lowering/conv_dilated_phases.h"
#include "enclave/op_lowering/conv_winograd.h"
#include "enclave/op_lowering/op_lowering.h"

namespace teeinfer {

using dnnl::memory;

namespace {

// The bias as the primitive adds it: divided by the output scales for full int8.
Slot conv_bias(LoweringContext& l, const Node& n, const ConvParams& p, const memory::desc& md) {
  return l.constant(n.inputs[2], md, nullptr,
                    computes_full_int8(p.int8) ? int8_bias_scales(p.int8) : std::vector<float>{});
}

// The conv's source: the f32 activation, or its u8 copy for full int8.
Slot conv_source(LoweringContext& l, const Node& n, const ConvParams& p, const Slot& src,
                 const std::string& label = "") {
  return computes_full_int8(p.int8) ? quantize_activation(l, src, p.int8.input_scale, n.name + label) : src;
}

// The output slot; with a fused residual, the residual's buffer (in place) or a copy of it.
Slot output_slot(LoweringContext& l, const Node& n, const memory::desc& dst_md) {
  const auto& p = std::get<ConvParams>(n.params);
  if (!p.fused_sum) return l.output(n.outputs[0], dst_md);
  ValueId residual = n.inputs[3];
  if (std::optional<Slot> in_place = l.reuse_for_output(residual, n.outputs[0], dst_md)) return *in_place;
  Slot r = l.input(residual, Layout::kChannelsLast);  // still needed elsewhere: copy it
  Slot dst = l.output(n.outputs[0], dst_md);
  l.add_reorder(n.name + " (residual copy)", r, dst);
  return dst;
}

void lower_conv_whole(LoweringContext& l, const Node& n, const ConvShapes& s, const ConvParams& p, const Slot& dst) {
  if (std::string impl = l.winograd_impl(n); !impl.empty() && lower_conv_winograd(l, n, p, impl, dst)) return;
  auto pd = conv_pd(l.engine(), s, p, layout_md(s.x, Layout::kChannelsLast), any_weights(s, p),
                    layout_md(s.y, Layout::kChannelsLast), p.pads_begin, p.pads_end);
  if (l.dilated_phases(n) && lower_conv_dilated_phases(l, n, s, p, pd.impl_info_str(), dst)) return;
  Slot src = conv_source(l, n, p, l.input(n.inputs[0], Layout::kChannelsLast));
  std::vector<std::pair<int, Slot>> args{{DNNL_ARG_SRC, src},
                                         {DNNL_ARG_WEIGHTS, l.constant(n.inputs[1], pd.weights_desc())}};
  if (s.has_bias) args.emplace_back(DNNL_ARG_BIAS, conv_bias(l, n, p, pd.bias_desc()));
  args.emplace_back(DNNL_ARG_DST, dst);
  l.add_primitive(n.name, dnnl::convolution_forward(pd), pd, std::move(args));
  l.add_eltwise_steps(n.name, split_post_ops(p.post_ops).rest, dst);
}

}  // namespace

void add_conv_band(LoweringContext& l, const Node& n, const ConvParams& p, const Slot& src, const Slot& dst,
                   const Band& b, ConvBandState& state, const std::string& label) {
  ConvShapes s = conv_shapes(l.graph(), n);
  auto key = std::make_tuple(b.out_rows, b.in_rows, b.pad_top, b.pad_bottom);
  auto it = state.pds.find(key);
  if (it == state.pds.end()) {
    Dims pb = p.pads_begin, pe = p.pads_end;
    pb[0] = b.pad_top;
    pe[0] = b.pad_bottom;
    memory::desc w = state.weights_md ? *state.weights_md : any_weights(s, p);
    it = state.pds.emplace(key, conv_pd(l.engine(), s, p, src.md, w, dst.md, pb, pe)).first;
  }
  const auto& pd = it->second;
  if (!state.weights_md) {  // every band uses the layout the first one picked
    state.weights_md = pd.weights_desc();
    state.weights = l.constant(n.inputs[1], *state.weights_md);
    if (s.has_bias) state.bias = conv_bias(l, n, p, pd.bias_desc());
  }
  std::string band = " (rows " + std::to_string(b.out_first) + "+" + std::to_string(b.out_rows) + label + ")";
  Slot x = conv_source(l, n, p, src, band);
  std::vector<std::pair<int, Slot>> args{{DNNL_ARG_SRC, Slot{x.buffer, pd.src_desc(), x.offset}},
                                         {DNNL_ARG_WEIGHTS, state.weights}};
  if (s.has_bias) args.emplace_back(DNNL_ARG_BIAS, state.bias);
  Slot y{dst.buffer, pd.dst_desc(), dst.offset};
  args.emplace_back(DNNL_ARG_DST, y);
  l.add_primitive(n.name + band, dnnl::convolution_forward(pd), pd, std::move(args));
  l.add_eltwise_steps(n.name + band, split_post_ops(p.post_ops).rest, y);
}

namespace {

void lower_conv_banded(LoweringContext& l, const Node& n, const ConvShapes& s, const ConvParams& p, const Slot& dst,
                       int64_t band_rows) {
  const int64_t images = s.x[0], in_h = s.x[2], out_h = s.y[2];
  Slot src = l.input(n.inputs[0], Layout::kChannelsLast);
  ConvBandState state;
  std::vector<Band> bands =
      split_bands(out_h, band_rows, in_h, p.strides[0], p.dilations[0], p.kernel[0], p.pads_begin[0]);
  for (int64_t img = 0; img < images; ++img)
    for (const Band& b : bands)
      add_conv_band(l, n, p, view_at(src, slab_md(s.x, b.in_rows), (img * in_h + b.in_first) * row_floats(s.x)),
                    view_at(dst, slab_md(s.y, b.out_rows), (img * out_h + b.out_first) * row_floats(s.y)), b, state,
                    images > 1 ? ", image " + std::to_string(img) : "");
}

// Output-channel tiles for a streamed weight: rows (output channels) per tile, whole
// sealed chunks and whole 16-channel blocks, about one stream window; 0 when the weight
// is resident, grouped, or fits one window anyway.
int64_t oc_tile_rows(const LoweringContext& l, const Node& n, const ConvShapes& s, const ConvParams& p) {
  ValueId w = n.inputs[1];
  if (!l.weights().conv_tiles() || !l.weights().is_streamed(w) || p.groups != 1 || s.y.size() < 3 ||
      l.conv_band_rows(n) > 0)
    return 0;
  constexpr int64_t kChannelBlock = 16;  // oneDNN's output-channel block for f32 on AVX-512
  int64_t step = std::lcm(kChannelBlock, std::max<int64_t>(l.weights().row_granularity(w), 1));
  auto row_bytes = static_cast<int64_t>(byte_size(DType::kF32, s.w, n.name)) / s.w[0];
  int64_t rows = std::max<int64_t>(static_cast<int64_t>(l.weights().window_bytes()) / row_bytes / step, 1) * step;
  return rows < s.w[0] ? rows : 0;
}

// Output rows per band of a tile's convolution: all of them, unless its scratchpad
// outweighs the stream window. Where oneDNN has only its gemm convolution (a dilated conv
// on channels-last AVX2: IS-Net's RSU-4F blocks), the scratchpad is the im2col of the
// whole output (18 MiB for 512 channels at 32x32), and a band's is that of its rows.
int64_t tile_band_rows(const LoweringContext& l, const ConvParams& p, const ConvShapes& s,
                       const dnnl::convolution_forward::primitive_desc& pd) {
  const size_t pad = pd.scratchpad_desc().get_size(), window = l.weights().window_bytes();
  const int64_t out_h = s.y[2];
  if (pad <= window || computes_full_int8(p.int8)) return out_h;
  return std::max<int64_t>(
      static_cast<int64_t>(static_cast<double>(out_h) * static_cast<double>(window) / static_cast<double>(pad)), 1);
}

// A tile's convolution in bands of output rows (tile_band_rows), each over the input rows
// its windows cover, into the rows of the tile's dense output; the weights keep the
// layout the whole tile's convolution chose.
void add_tile_bands(LoweringContext& l, const Node& n, const ConvShapes& part, const ConvParams& p,
                    const dnnl::convolution_forward::primitive_desc& tile_pd, const Slot& src, const Slot& weights,
                    const std::optional<Slot>& bias, const Slot& out, int64_t rows, const std::string& label) {
  const int64_t in_h = part.x[2], out_h = part.y[2];
  std::map<std::tuple<int64_t, int64_t, int64_t, int64_t>, dnnl::convolution_forward::primitive_desc> pds;
  for (int64_t img = 0; img < part.x[0]; ++img)
    for (const Band& b : split_bands(out_h, rows, in_h, p.strides[0], p.dilations[0], p.kernel[0], p.pads_begin[0])) {
      Slot x = view_at(src, slab_md(part.x, b.in_rows), (img * in_h + b.in_first) * row_floats(part.x));
      Slot y = view_at(out, slab_md(part.y, b.out_rows), (img * out_h + b.out_first) * row_floats(part.y));
      auto key = std::make_tuple(b.out_rows, b.in_rows, b.pad_top, b.pad_bottom);
      if (!pds.count(key)) {
        Dims pb = p.pads_begin, pe = p.pads_end;
        pb[0] = b.pad_top;
        pe[0] = b.pad_bottom;
        pds.emplace(key, conv_pd(l.engine(), part, p, x.md, tile_pd.weights_desc(), y.md, pb, pe));
      }
      const auto& pd = pds.at(key);
      std::vector<std::pair<int, Slot>> args{{DNNL_ARG_SRC, x}, {DNNL_ARG_WEIGHTS, weights}};
      if (bias) args.emplace_back(DNNL_ARG_BIAS, *bias);
      args.emplace_back(DNNL_ARG_DST, y);
      l.add_primitive(n.name + label + " rows " + std::to_string(b.out_first) + "+" + std::to_string(b.out_rows) +
                          (part.x[0] > 1 ? ", image " + std::to_string(img) : ""),
                      dnnl::convolution_forward(pd), pd, std::move(args));
    }
}

// A streamed weight too large for one window never lies whole in the arena: each tile of
// output channels is read, reordered and convolved on its own into a dense scratch (a
// oneDNN conv writing a strided channel slice falls back to its reference kernel), which
// is then copied into its channels of Y, or added to the residual Y already holds. A
// tile whose convolution's scratchpad outweighs the window runs in bands of rows.
void lower_conv_oc_tiles(LoweringContext& l, const Node& n, const ConvShapes& s, const ConvParams& p, int64_t tile) {
  l.note_strategy(n, "weights in output-channel tiles of " + std::to_string(tile));
  auto f32 = memory::data_type::f32;
  const std::string& wname = l.graph().value(n.inputs[1]).name;
  memory::desc y_md = layout_md(s.y, Layout::kChannelsLast);
  Slot src_f32 = l.input(n.inputs[0], Layout::kChannelsLast);
  Slot dst = output_slot(l, n, y_md);  // holds the residual when one is fused
  Slot bias = s.has_bias ? conv_bias(l, n, p, memory::desc({s.w[0]}, f32, memory::format_tag::a)) : Slot{};
  Slot src = conv_source(l, n, p, src_f32);
  const Value& weight = l.graph().value(n.inputs[1]);
  const bool int8 = weight.dtype == DType::kS8;
  // A residual is copied into each tile's dense output first and added by the conv's sum
  // post-op (oneDNN 2.6 has only its reference binary for a channel slice). Where brgconv
  // cannot take a sum post-op (outputs that see only padding), a binary adds it instead,
  // and the residual and what follows it are applied there.
  const bool sum_in_conv = p.fused_sum && !has_padding_only_outputs(l.graph(), n);
  ConvParams conv_p = p;
  if (p.fused_sum && !sum_in_conv) {
    conv_p.fused_sum = false;
    conv_p.post_ops.clear();
  }
  const auto filter_bytes = static_cast<int64_t>(byte_size(weight.dtype, s.w, n.name)) / s.w[0];
  // By tile width, and first channel when full int8 (the output scales differ per tile).
  std::map<std::pair<int64_t, int64_t>, dnnl::convolution_forward::primitive_desc> pds;
  auto pd_for = [&](int64_t first, int64_t r) -> const dnnl::convolution_forward::primitive_desc& {
    auto key = std::make_pair(computes_full_int8(p.int8) ? first : 0, r);
    if (!pds.count(key)) {
      ConvShapes part = s;
      part.w[0] = part.y[1] = r;
      part.wdims = to_dnnl_dims(part.w);
      pds.emplace(key, conv_pd(l.engine(), part, conv_p, src_f32.md, any_weights(part, p),
                               layout_md(part.y, Layout::kChannelsLast), p.pads_begin, p.pads_end, first));
    }
    return pds.at(key);
  };
  struct Buffers {
    Slot staging, weights, out;
  };
  std::vector<Buffers> windows;  // two when prefetching: one is filled while the other is read
  for (int w = 0; w < l.weights().window_count(); ++w) {
    const auto& pd = pd_for(0, tile);
    std::string k = " (tile window " + std::to_string(w) + ")";
    windows.push_back({l.scratch(memory::desc({tile * filter_bytes}, memory::data_type::u8, memory::format_tag::a),
                                 wname + k + " staging"),
                       l.scratch(pd.weights_desc(), wname + k), l.scratch(pd.dst_desc(), n.name + k + " output")});
  }
  memory::dims y_strides = strides_of(y_md);
  for (int64_t first = 0; first < s.w[0]; first += tile) {
    int64_t r = std::min(tile, s.w[0] - first);
    const auto& pd = pd_for(first, r);
    const Buffers& b = windows[static_cast<size_t>(first / tile) % windows.size()];
    std::string label = " channels " + std::to_string(first) + "+" + std::to_string(r);
    Dims part_w = s.w;
    part_w[0] = r;
    memory::desc plain_md = layout_md(part_w, Layout::kPlain);
    if (int8) plain_md = memory::desc(plain_md.dims(), memory::data_type::s8, strides_of(plain_md));
    Slot plain{b.staging.buffer, plain_md};
    l.weights().add_stream(n.inputs[1], first, r, plain);
    Slot weights = view_at(b.weights, pd.weights_desc(), 0);
    // Weight-only int8 dequantizes in this reorder; full int8 keeps s8.
    bool dequantize = int8 && !computes_full_int8(p.int8);
    l.weights().add_weight_reorder("reorder " + wname + label, plain, weights,
                                   dequantize ? scale_rows(p.int8.weight_scales, first, r) : std::vector<float>{});
    Slot out = view_at(b.out, pd.dst_desc(), 0);
    memory::dims part_dims = pd.dst_desc().dims();
    Slot channels = view_at(dst, memory::desc(part_dims, f32, y_strides), first);
    if (sum_in_conv) l.add_reorder(n.name + label + " (residual in)", channels, out);
    std::optional<Slot> tile_bias;
    if (s.has_bias) tile_bias = view_at(bias, memory::desc({r}, f32, memory::format_tag::a), first);
    if (int64_t rows = tile_band_rows(l, p, s, pd); rows < s.y[2]) {
      ConvShapes part = s;
      part.w[0] = part.y[1] = r;
      part.wdims = to_dnnl_dims(part.w);
      add_tile_bands(l, n, part, conv_p, pd, src, weights, tile_bias, out, rows, label);
    } else {
      std::vector<std::pair<int, Slot>> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}};
      if (tile_bias) args.emplace_back(DNNL_ARG_BIAS, *tile_bias);
      args.emplace_back(DNNL_ARG_DST, out);
      l.add_primitive(n.name + label, dnnl::convolution_forward(pd), pd, std::move(args));
    }
    l.add_eltwise_steps(n.name + label, split_post_ops(conv_p.post_ops).rest, out);
    if (!p.fused_sum || sum_in_conv) {
      l.add_reorder(n.name + label + " (copy out)", out, channels);
      continue;
    }
    // Only where brgconv cannot take the sum (outputs that see only padding): oneDNN 2.6
    // runs this binary on a channel slice with its reference kernel.
    PostOpSplit activations = split_post_ops(p.post_ops);
    dnnl::binary::primitive_desc add(dnnl::binary::desc(dnnl::algorithm::binary_add, channels.md, out.md, channels.md),
                                     attr_with(activations.fused), l.engine());
    l.add_primitive(n.name + label + " (residual)", dnnl::binary(add), add,
                    {{DNNL_ARG_SRC_0, channels}, {DNNL_ARG_SRC_1, out}, {DNNL_ARG_DST, channels}});
    l.add_eltwise_steps(n.name + label + " (residual)", activations.rest, channels);
  }
}

void lower_conv_into(LoweringContext& l, const Node& n, const ConvShapes& s, const ConvParams& p, const Slot& dst) {
  int64_t rows = l.conv_band_rows(n);
  if (rows > 0 && s.y.size() >= 3 && rows < s.y[2]) {
    l.note_strategy(n, "bands of " + std::to_string(rows) + " rows");
    return lower_conv_banded(l, n, s, p, dst, rows);
  }
  lower_conv_whole(l, n, s, p, dst);
}

}  // namespace

void lower_conv(LoweringContext& l, const Node& n) {
  if (l.mode() == ExecutionMode::kUnmodified) return lower_conv_im2col(l, n);
  const auto& p = std::get<ConvParams>(n.params);
  ConvShapes s = conv_shapes(l.graph(), n);
  if (int64_t tile = oc_tile_rows(l, n, s, p)) return lower_conv_oc_tiles(l, n, s, p, tile);
  memory::desc y_md = layout_md(s.y, Layout::kChannelsLast);
  // oneDNN 2.6.3's brgconv crashes on a sum post-op when some output row or column sees
  // only padding (found by the banded-conv sweep), so such convs add their residual in a
  // separate binary step.
  if (!p.fused_sum || !has_padding_only_outputs(l.graph(), n))
    return lower_conv_into(l, n, s, p, output_slot(l, n, y_md));
  ConvParams bare = p;  // conv alone into scratch, then residual + activations in one binary
  bare.fused_sum = false;
  bare.post_ops.clear();
  Slot conv = l.scratch(y_md, n.name + " (before residual)");
  lower_conv_into(l, n, s, bare, conv);
  ValueId residual = n.inputs[3];
  std::optional<Slot> in_place = l.reuse_for_output(residual, n.outputs[0], y_md);
  Slot r = in_place ? *in_place : l.input(residual, Layout::kChannelsLast);
  Slot dst = in_place ? *in_place : l.output(n.outputs[0], y_md);
  PostOpSplit activations = split_post_ops(p.post_ops);
  dnnl::binary::primitive_desc pd(dnnl::binary::desc(dnnl::algorithm::binary_add, r.md, y_md, y_md),
                                  attr_with(activations.fused), l.engine());
  l.add_primitive(n.name + " (residual)", dnnl::binary(pd), pd,
                  {{DNNL_ARG_SRC_0, r}, {DNNL_ARG_SRC_1, conv}, {DNNL_ARG_DST, dst}});
  l.add_eltwise_steps(n.name + " (residual)", activations.rest, dst);
}

}  // namespace teeinfer
