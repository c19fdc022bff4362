// Resize (and Upsample), ONNX semantics for every mode and coordinate transformation.
//
// oneDNN's resampling computes exactly two ONNX cases, and runs them: linear with half_pixel
// coordinates (also pytorch_half_pixel when no output dim is 1), and nearest with an
// integer scale per dim in asymmetric/floor (Upsample's) or half_pixel/round_prefer_*
// terms; both only over the spatial dims, with scales equal to output / input (oneDNN
// derives its scale from the dims). Everything else -- other coordinate transformations
// (align_corners, asymmetric linear, tf_crop_and_resize with extrapolation, ...), cubic,
// fractional nearest scales, resizing N or C -- runs in the hand-written separable kernel
// below: one pass per resized dim, each output row a weighted sum of at most four input
// rows, taps computed as the ONNX reference does.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/error.h"
#include "enclave/op_lowering/op_lowering.h"
#include "enclave/op_lowering/resize_taps.h"

namespace teeinfer {

using dnnl::memory;

namespace {

// The oneDNN algorithm that computes this node exactly, if any (see the top of the file).
std::optional<dnnl::algorithm> dnnl_resampling(const ResizeParams& p, const Dims& x, const Dims& y) {
  if (x.size() < 3 || x.size() > 5 || x[0] != y[0] || x[1] != y[1] || p.scales[0] != 1.f || p.scales[1] != 1.f)
    return std::nullopt;
  for (size_t k = 2; k < x.size(); ++k)
    if (resized_length(x[k], y[k], p.scales[k]) != static_cast<double>(y[k])) return std::nullopt;
  if (p.mode == ResizeMode::kLinear) {
    bool half_pixel = p.coordinates == ResizeCoordinates::kHalfPixel;
    if (p.coordinates == ResizeCoordinates::kPytorchHalfPixel)
      half_pixel = std::all_of(y.begin() + 2, y.end(), [](int64_t d) { return d > 1; });
    if (half_pixel) return dnnl::algorithm::resampling_linear;
    return std::nullopt;
  }
  if (p.mode != ResizeMode::kNearest) return std::nullopt;
  for (size_t k = 2; k < x.size(); ++k)
    if (y[k] % x[k] != 0) return std::nullopt;  // integer scales only: no ties to round
  bool floor_asym = p.coordinates == ResizeCoordinates::kAsymmetric &&
                    (p.nearest == ResizeNearest::kFloor || p.nearest == ResizeNearest::kSimple);
  bool round_half =
      (p.coordinates == ResizeCoordinates::kHalfPixel || p.coordinates == ResizeCoordinates::kPytorchHalfPixel) &&
      (p.nearest == ResizeNearest::kRoundPreferFloor || p.nearest == ResizeNearest::kRoundPreferCeil);
  if (floor_asym || round_half) return dnnl::algorithm::resampling_nearest;
  return std::nullopt;
}

}  // namespace

void lower_resize(LoweringContext& l, const Node& n) {
  const auto& p = std::get<ResizeParams>(n.params);
  const Dims& x = l.graph().value(n.inputs[0]).dims;
  const Dims& y = l.graph().value(n.outputs[0]).dims;
  if (auto alg = dnnl_resampling(p, x, y)) {
    Layout layout = l.activation_layout();
    dnnl::resampling_forward::desc d(dnnl::prop_kind::forward_inference, *alg, layout_md(x, layout),
                                     layout_md(y, layout));
    dnnl::resampling_forward::primitive_desc pd(d, l.engine());
    Slot src = l.input(n.inputs[0], layout);
    Slot dst = l.output(n.outputs[0], pd.dst_desc());
    l.add_primitive(n.name, dnnl::resampling_forward(pd), pd, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
    return;
  }
  struct Pass {
    int64_t outer, in, inner;
    DimTaps taps;
  };
  std::vector<Pass> passes;
  Dims cur = x;
  int64_t largest = 0;  // the largest intermediate, in floats
  for (size_t k = 0; k < x.size(); ++k) {
    DimTaps taps = dim_taps(p, k, x[k], y[k]);
    if (is_identity(taps, x[k])) continue;
    int64_t outer = element_count(Dims(cur.begin(), cur.begin() + static_cast<long>(k)), n.name);
    int64_t inner = element_count(Dims(cur.begin() + static_cast<long>(k) + 1, cur.end()), n.name);
    passes.push_back({outer, x[k], inner, std::move(taps)});
    cur[k] = y[k];
    largest = std::max(largest, element_count(cur, n.name));
  }
  Slot src = l.input(n.inputs[0], Layout::kPlain);
  Slot dst = l.output(n.outputs[0], layout_md(y, Layout::kPlain));
  if (passes.empty()) {
    l.add_reorder(n.name, src, dst);
    return;
  }
  std::vector<Slot> slots{src, dst};
  if (passes.size() > 1) {
    memory::desc md({static_cast<memory::dim>(largest)}, memory::data_type::f32, memory::format_tag::a);
    slots.push_back(l.scratch(md, n.name + " (pass a)"));
    if (passes.size() > 2) slots.push_back(l.scratch(md, n.name + " (pass b)"));
  }
  float extrapolation = p.extrapolation_value;
  auto kernel = [passes = std::move(passes), extrapolation](const std::vector<void*>& ptr) {
    const float* from = static_cast<const float*>(ptr[0]);
    for (size_t i = 0; i < passes.size(); ++i) {
      float* to = i + 1 == passes.size() ? static_cast<float*>(ptr[1]) : static_cast<float*>(ptr[2 + i % 2]);
      const Pass& ps = passes[i];
      resize_pass(from, to, ps.outer, ps.in, ps.inner, ps.taps, extrapolation);
      from = to;
    }
  };
  l.add_custom(n.name, "resize_separable", kernel, slots);
}

}  // namespace teeinfer
