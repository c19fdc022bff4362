// Row bands of channels-last activations (y-plane partitioning), shared by the banded
// convolution and the band-fused layer chains: which input rows an output band needs,
// and the descriptors of a band of rows, which is one contiguous slab per image.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "enclave/lowering/descriptors.h"
#include "enclave/lowering/step.h"

namespace teeinfer {

// Output rows [out_first, out_first + out_rows) of one image and the input rows their
// windows cover, with the vertical padding left where the band meets the border.
struct Band {
  int64_t out_first, out_rows, in_first, in_rows, pad_top, pad_bottom;
};

inline Band band_of(int64_t out_first, int64_t out_rows, int64_t in_height, int64_t stride, int64_t dilation,
                    int64_t kernel, int64_t pad) {
  int64_t top = out_first * stride - pad;  // first row of the first window
  int64_t bottom = (out_first + out_rows - 1) * stride - pad + (kernel - 1) * dilation;  // last of the last
  int64_t in_first = std::max<int64_t>(top, 0), in_last = std::min(bottom, in_height - 1);
  return {out_first,
          out_rows,
          in_first,
          in_last - in_first + 1,
          std::max<int64_t>(-top, 0),
          std::max<int64_t>(bottom - (in_height - 1), 0)};
}

// Bands of at most `rows` output rows covering all `out_h`, as even as they can be (28
// rows in bands of 27 are 14 + 14, not 27 + 1: a one-row band gets kernels of its own
// shape, and with the weight layout the first band chose oneDNN may have only its
// reference kernel for it). A band at the top or bottom whose windows would see only
// padding (pads larger than the window) is merged into its neighbour, so every band
// reads at least one real row.
inline std::vector<Band> split_bands(int64_t out_h, int64_t rows, int64_t in_h, int64_t stride, int64_t dilation,
                                     int64_t kernel, int64_t pad) {
  auto band = [&](int64_t first, int64_t count) { return band_of(first, count, in_h, stride, dilation, kernel, pad); };
  std::vector<std::pair<int64_t, int64_t>> spans;  // (first, count)
  const int64_t count = (out_h + rows - 1) / rows, base = out_h / count, longer = out_h % count;
  for (int64_t i = 0, first = 0; i < count; ++i) {
    int64_t n = base + (i < longer ? 1 : 0);
    spans.emplace_back(first, n);
    first += n;
  }
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

// One image, `rows` rows of the first spatial dim, channels-last.
inline dnnl::memory::desc slab_md(const Dims& d, int64_t rows) {
  Dims b = d;
  b[0] = 1;
  b[2] = rows;
  return layout_md(b, Layout::kChannelsLast);
}

// Floats in one row of one image, channels-last.
inline int64_t row_floats(const Dims& d) {
  int64_t f = d[1];
  for (size_t i = 3; i < d.size(); ++i) f *= d[i];
  return f;
}

inline Slot view_at(const Slot& base, const dnnl::memory::desc& md, int64_t floats) {
  return Slot{base.buffer, md, base.offset + static_cast<size_t>(floats) * sizeof(float)};
}

// Rows [first, first + rows) of image `image` of a plain (NCHW) {N, C, H, W} tensor: a
// strided view, each channel's rows apart from the next channel's.
inline dnnl::memory::desc plain_rows_md(const Dims& d, int64_t rows) {
  return dnnl::memory::desc({1, d[1], rows, d[3]}, dnnl::memory::data_type::f32,
                            {d[1] * d[2] * d[3], d[2] * d[3], d[3], 1});
}
inline int64_t plain_rows_offset(const Dims& d, int64_t image, int64_t first) {  // in floats
  return (image * d[1] * d[2] + first) * d[3];
}
// Those rows of the plain tensor `whole` holds, as a slot.
inline Slot plain_rows_at(const Slot& whole, const Dims& d, int64_t image, int64_t first, int64_t rows) {
  return Slot{whole.buffer, plain_rows_md(d, rows),
              whole.offset + static_cast<size_t>(plain_rows_offset(d, image, first)) * sizeof(float)};
}

}  // namespace teeinfer
