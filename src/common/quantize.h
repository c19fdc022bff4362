// Symmetric per-row int8 quantization of weight matrices (one scale per output feature),
// shared by the packer (quantize) and the enclave (dequantize a window of rows).
//
//   QuantizedRows q = quantize_rows(w, rows, cols);        // w ≈ q.values[r][c] * q.scales[r]
//   dequantize_rows(q.values.data(), q.scales.data(), rows, cols, out);
#pragma once

#include <cstdint>
#include <vector>

namespace teeinfer {

struct QuantizedRows {
  std::vector<int8_t> values;  // rows x cols, in [-127, 127]
  std::vector<float> scales;   // per row: max |w| / 127 (1 for an all-zero row)
};

// |w - values * scale| <= scale / 2 for every element.
QuantizedRows quantize_rows(const float* w, int64_t rows, int64_t cols);
void dequantize_rows(const int8_t* values, const float* scales, int64_t rows, int64_t cols, float* out);

}  // namespace teeinfer
