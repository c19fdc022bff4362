// The taps of ONNX Resize along one dim (which input indices, with which weights, make
// each output index), computed as ONNX's reference does for every mode and coordinate
// transformation, and the separable pass that applies them. Shared by the whole-tensor
// kernel (resize.cpp) and the banded one (bands/spilled_row_ops.cpp), so both compute
// the same sums in the same order.
#pragma once

#include <cstdint>
#include <vector>

#include "common/graph.h"

namespace teeinfer {

struct Tap {
  int64_t index;
  float weight;
};
// The taps of each output index along one dim; an empty list: the extrapolation value.
using DimTaps = std::vector<std::vector<Tap>>;

// The resized length the coordinate transformation divides by: scale * input, or the output
// dim itself when the scale is (up to float rounding) output / input, as in sizes mode.
double resized_length(int64_t in, int64_t out, float scale);
// The taps of every output index of dim `dim` (input length `in`, output length `out`).
DimTaps dim_taps(const ResizeParams& p, size_t dim, int64_t in, int64_t out);
// Whether the taps copy the dim unchanged.
bool is_identity(const DimTaps& taps, int64_t in);
// One pass: along a dim of `outer` x in x `inner` floats to outer x taps.size() x inner.
void resize_pass(const float* src, float* dst, int64_t outer, int64_t in, int64_t inner, const DimTaps& taps,
                 float extrapolation);

}  // namespace teeinfer
