// ConvTranspose: {N,C,*spatial} x W {C, OC/G, *k} (+ bias {OC}) -> {N,OC,*out}, one oneDNN
// deconvolution over channels-last activations. The weight is read in ONNX's order (input
// channels first) through a strided descriptor and reordered once, at load (or per run when
// streamed), into the layout oneDNN picks. output_padding lengthens the end of each
// spatial dim: oneDNN takes it as that much less end padding (negative when it exceeds the
// pads, where the extra outputs see only the bias, as in ONNX).
#include "common/error.h"
#include "enclave/op_lowering/op_lowering.h"

namespace teeinfer {

using dnnl::memory;

void lower_conv_transpose(LoweringContext& l, const Node& n) {
  const auto& p = std::get<ConvTransposeParams>(n.params);
  const Graph& g = l.graph();
  const Dims& x = g.value(n.inputs[0]).dims;
  const Dims& w = g.value(n.inputs[1]).dims;
  const Dims& y = g.value(n.outputs[0]).dims;
  bool has_bias = n.inputs.size() > 2 && n.inputs[2] != kNoValue;
  int64_t groups = p.groups, ic = x[1] / groups, oc = y[1] / groups;
  int64_t kernel = 1;
  for (size_t i = 2; i < w.size(); ++i) kernel *= w[i];
  // oneDNN's weight dims: [G,] OC/G, IC/G, *k. ONNX's bytes: G, IC/G, OC/G, *k.
  memory::dims wdims, wstrides;
  if (groups > 1) {
    wdims = {groups, oc, ic};
    wstrides = {ic * oc * kernel, kernel, oc * kernel};
  } else {
    wdims = {oc, ic};
    wstrides = {kernel, oc * kernel};
  }
  memory::dims kstrides(w.size() - 2);
  int64_t st = 1;
  for (size_t i = w.size(); i-- > 2;) {
    kstrides[i - 2] = st;
    st *= w[i];
  }
  for (size_t i = 2; i < w.size(); ++i) {
    wdims.push_back(w[i]);
    wstrides.push_back(kstrides[i - 2]);
  }
  memory::desc w_source(wdims, memory::data_type::f32, wstrides);
  memory::desc w_any(wdims, memory::data_type::f32, memory::format_tag::any);
  // oneDNN takes output_padding as less end padding, but no negative padding: where
  // output_padding exceeds pads_end, the deconvolution writes the smaller output `inner`
  // into a view of the output, whose remaining end positions hold only the bias.
  Dims pads_end = p.pads_end, inner = y;
  bool extra = false;
  for (size_t i = 0; i < pads_end.size(); ++i) {
    pads_end[i] -= p.output_padding[i];
    if (pads_end[i] < 0) {
      inner[i + 2] += pads_end[i];
      pads_end[i] = 0;
      extra = true;
    }
  }
  DnnlWindow win = dnnl_window(p.strides, p.dilations, p.pads_begin, pads_end);
  Layout layout = l.activation_layout();
  memory::desc b_md = has_bias ? memory::desc({y[1]}, memory::data_type::f32, memory::format_tag::a) : memory::desc();
  dnnl::deconvolution_forward::primitive_desc pd;
  try {
    dnnl::deconvolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct,
                                        layout_md(x, layout), w_any, b_md, layout_md(inner, layout), win.strides,
                                        win.dilations, win.pads_begin, win.pads_end);
    pd = dnnl::deconvolution_forward::primitive_desc(d, attr_with({}), l.engine());
  } catch (const dnnl::error& e) {
    throw Error(ErrorCode::kUnsupported,
                n.onnx_op + " node '" + n.name + "': oneDNN has no deconvolution for it (" + e.what() + ")");
  }
  Slot src = l.input(n.inputs[0], layout);
  std::vector<std::pair<int, Slot>> args{{DNNL_ARG_SRC, src},
                                         {DNNL_ARG_WEIGHTS, l.constant(n.inputs[1], pd.weights_desc(), &w_source)}};
  Slot bias;
  if (has_bias) {
    bias = l.constant(n.inputs[2], b_md);
    args.emplace_back(DNNL_ARG_BIAS, bias);
  }
  if (!extra) {
    args.emplace_back(DNNL_ARG_DST, l.output(n.outputs[0], pd.dst_desc()));
    l.add_primitive(n.name, dnnl::deconvolution_forward(pd), pd, std::move(args));
    return;
  }
  Slot part = l.scratch(pd.dst_desc(), n.name + " (before output_padding)");
  args.emplace_back(DNNL_ARG_DST, part);
  l.add_primitive(n.name, dnnl::deconvolution_forward(pd), pd, std::move(args));
  Slot dst = l.output(n.outputs[0], layout_md(y, layout));
  // The whole output: the bias of each channel (hand-written: a broadcast fill), then the
  // computed part over it.
  int64_t channels = y[1], plane = element_count(Dims(y.begin() + 2, y.end()), n.name), images = y[0];
  bool channels_last = layout == Layout::kChannelsLast;
  auto fill = [channels, plane, images, channels_last, has_bias](const std::vector<void*>& ptr) {
    float* out = static_cast<float*>(ptr[0]);
    const float* b = has_bias ? static_cast<const float*>(ptr[1]) : nullptr;
    for (int64_t i = 0; i < images; ++i)
      for (int64_t c = 0; c < channels; ++c)
        for (int64_t j = 0; j < plane; ++j) {
          int64_t at = channels_last ? (i * plane + j) * channels + c : (i * channels + c) * plane + j;
          out[at] = b ? b[c] : 0.f;
        }
  };
  std::vector<Slot> fill_slots{dst};
  if (has_bias) fill_slots.push_back(bias);
  l.add_custom(n.name + " (bias of the output_padding)", "bias_fill", fill, fill_slots);
  memory::dims zeros(y.size(), 0);
  l.add_reorder(n.name + " (into the output)", part,
                Slot{dst.buffer, dst.md.submemory_desc(to_dnnl_dims(inner), zeros), dst.offset});
}

}  // namespace teeinfer
