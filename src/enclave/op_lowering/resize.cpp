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

namespace teeinfer {

using dnnl::memory;

namespace {

struct Tap {
  int64_t index;
  float weight;
};
// The taps of each output index along one dim; an empty list: the extrapolation value.
using DimTaps = std::vector<std::vector<Tap>>;

// The resized length the coordinate transformation divides by: scale * input, or the output
// dim itself when the scale is (up to float rounding) output / input, as in sizes mode.
double resized_length(int64_t in, int64_t out, float scale) {
  double l = static_cast<double>(scale) * static_cast<double>(in);
  return std::fabs(l - static_cast<double>(out)) <= 1e-5 * static_cast<double>(out) ? static_cast<double>(out) : l;
}

double original_coordinate(const ResizeParams& p, size_t dim, int64_t o, int64_t in, int64_t out, bool* outside) {
  double x = static_cast<double>(o), len = resized_length(in, out, p.scales[dim]);
  // With sizes, the scale is output / input in double precision (as ONNX's reference has
  // it): a float32 scale would move coordinates that lie exactly halfway off their tie.
  double s = len == static_cast<double>(out) ? static_cast<double>(out) / static_cast<double>(in) : p.scales[dim];
  double in_d = static_cast<double>(in);
  switch (p.coordinates) {
    case ResizeCoordinates::kHalfPixel:
      return (x + 0.5) / s - 0.5;
    case ResizeCoordinates::kHalfPixelSymmetric: {
      double adjustment = static_cast<double>(out) / (s * in_d);
      double offset = in_d / 2 * (1 - adjustment);
      return offset + (x + 0.5) / s - 0.5;
    }
    case ResizeCoordinates::kPytorchHalfPixel:
      return len > 1 ? (x + 0.5) / s - 0.5 : 0.0;
    case ResizeCoordinates::kAlignCorners:
      return len == 1 ? 0.0 : x * (in_d - 1) / (len - 1);
    case ResizeCoordinates::kAsymmetric:
      return x / s;
    case ResizeCoordinates::kTfHalfPixelForNn:
      return (x + 0.5) / s;
    case ResizeCoordinates::kTfCropAndResize: {
      double start = p.roi[dim], end = p.roi[p.roi.size() / 2 + dim];
      double c = len == 1 ? (end - start) * (in_d - 1) / 2 : x * (end - start) * (in_d - 1) / (len - 1);
      c += start * (in_d - 1);
      *outside = c < 0 || c > in_d - 1;
      return c;
    }
  }
  return x;
}

void cubic_coefficients(double t, double a, double c[4]) {
  auto far = [a](double d) { return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a; };  // 1 < |d| < 2
  auto near = [a](double d) { return ((a + 2) * d - (a + 3)) * d * d + 1; };       // |d| <= 1
  c[0] = far(t + 1);
  c[1] = near(t);
  c[2] = near(1 - t);
  c[3] = far(2 - t);
}

DimTaps dim_taps(const ResizeParams& p, size_t dim, int64_t in, int64_t out) {
  DimTaps taps(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    bool outside = false;
    double x = original_coordinate(p, dim, o, in, out, &outside);
    std::vector<Tap>& t = taps[static_cast<size_t>(o)];
    if (outside) continue;  // tf_crop_and_resize outside the input: extrapolation_value
    double fl = std::floor(x), frac = x - fl;
    auto clamp = [in](double i) { return static_cast<int64_t>(std::clamp<double>(i, 0, static_cast<double>(in - 1))); };
    if (p.mode == ResizeMode::kNearest) {
      bool up = false;
      if (frac != 0) switch (p.nearest) {
          case ResizeNearest::kRoundPreferFloor:
            up = frac > 0.5;
            break;
          case ResizeNearest::kRoundPreferCeil:
            up = frac >= 0.5;
            break;
          case ResizeNearest::kFloor:
            break;
          case ResizeNearest::kCeil:
            up = true;
            break;
          case ResizeNearest::kSimple:  // ceil when downsampling this dim
            up = p.scales[dim] < 1.f;
            break;
        }
      t.push_back({clamp(up ? fl + 1 : fl), 1.f});
      continue;
    }
    std::vector<std::pair<double, double>> w;  // (index, weight), before clamping
    if (p.mode == ResizeMode::kLinear) {
      w = {{fl, 1 - frac}, {fl + 1, frac}};
    } else {
      double c[4];
      cubic_coefficients(frac, p.cubic_a, c);
      for (int k = 0; k < 4; ++k) w.emplace_back(fl - 1 + k, c[k]);
    }
    if (p.exclude_outside) {
      double sum = 0;
      for (auto& [i, wt] : w) {
        if (i < 0 || i > static_cast<double>(in - 1)) wt = 0;
        sum += wt;
      }
      if (sum != 0)
        for (auto& iw : w) iw.second /= sum;
    }
    for (auto [i, wt] : w)
      if (wt != 0) t.push_back({clamp(i), static_cast<float>(wt)});
    if (t.empty()) t.push_back({clamp(fl), 0.f});
  }
  return taps;
}

bool is_identity(const DimTaps& taps, int64_t in) {
  if (static_cast<int64_t>(taps.size()) != in) return false;
  for (size_t o = 0; o < taps.size(); ++o)
    if (taps[o].size() != 1 || taps[o][0].index != static_cast<int64_t>(o) || taps[o][0].weight != 1.f) return false;
  return true;
}

// One pass: along a dim of `outer` x in x `inner` floats to outer x taps.size() x inner.
__attribute__((target_clones("avx512f", "avx2", "default"))) void resize_pass(const float* src, float* dst,
                                                                              int64_t outer, int64_t in, int64_t inner,
                                                                              const DimTaps& taps,
                                                                              float extrapolation) {
  int64_t out = static_cast<int64_t>(taps.size());
  for (int64_t b = 0; b < outer; ++b) {
    const float* s = src + b * in * inner;
    float* d = dst + b * out * inner;
    for (int64_t o = 0; o < out; ++o, d += inner) {
      const std::vector<Tap>& t = taps[static_cast<size_t>(o)];
      if (t.empty()) {
        std::fill(d, d + inner, extrapolation);
        continue;
      }
      const float* r0 = s + t[0].index * inner;
      float w0 = t[0].weight;
#pragma omp simd
      for (int64_t i = 0; i < inner; ++i) d[i] = w0 * r0[i];
      for (size_t k = 1; k < t.size(); ++k) {
        const float* r = s + t[k].index * inner;
        float w = t[k].weight;
#pragma omp simd
        for (int64_t i = 0; i < inner; ++i) d[i] += w * r[i];
      }
    }
  }
}

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
