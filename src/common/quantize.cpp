#include "common/quantize.h"

#include <algorithm>
#include <cmath>

namespace teeinfer {

QuantizedRows quantize_rows(const float* w, int64_t rows, int64_t cols) {
  QuantizedRows q;
  q.values.resize(static_cast<size_t>(rows * cols));
  q.scales.resize(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = w + r * cols;
    float peak = 0;
    for (int64_t c = 0; c < cols; ++c) peak = std::max(peak, std::fabs(row[c]));
    float scale = peak > 0 ? peak / 127.f : 1.f;
    q.scales[static_cast<size_t>(r)] = scale;
    for (int64_t c = 0; c < cols; ++c)
      q.values[static_cast<size_t>(r * cols + c)] =
          static_cast<int8_t>(std::clamp(std::nearbyint(row[c] / scale), -127.f, 127.f));
  }
  return q;
}

void dequantize_rows(const int8_t* values, const float* scales, int64_t rows, int64_t cols, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float s = scales[r];
    const int8_t* in = values + r * cols;
    float* o = out + r * cols;
    for (int64_t c = 0; c < cols; ++c) o[c] = static_cast<float>(in[c]) * s;  // vectorised by the compiler
  }
}

}  // namespace teeinfer
