#include "enclave/op_lowering/resize_taps.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace teeinfer {

namespace {

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

}  // namespace

double resized_length(int64_t in, int64_t out, float scale) {
  double l = static_cast<double>(scale) * static_cast<double>(in);
  return std::fabs(l - static_cast<double>(out)) <= 1e-5 * static_cast<double>(out) ? static_cast<double>(out) : l;
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

}  // namespace teeinfer
