// Image files (PNG, JPEG, BMP) → a {1,C,H,W} float32 input tensor.
//
// The format is chosen by the file's first bytes, not its name. The image is converted to C
// channels (1 = grey, 3 = RGB; alpha is dropped, 16-bit samples keep their high byte),
// resized (bilinear) to H×W, scaled to [0,1], then normalised per channel:
// (x - mean[c]) / std[c].
//
//   HostTensor x = load_image("cat.png", {1, 3, 224, 224}, Normalization::imagenet());
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "host/host_tensor.h"

namespace teeinfer {

// Limits checked on an image's header before any pixel is allocated.
constexpr int64_t kMaxImageSide = 16384;
constexpr int64_t kMaxImagePixels = int64_t{1} << 26;  // 64 Mpixels
constexpr uint64_t kMaxImageFileBytes = uint64_t{512} << 20;
// The largest model input an image is resized to (H x W): 16 Mpixels, 192 MiB as RGB float32.
constexpr int64_t kMaxModelImagePixels = int64_t{1} << 24;

// Normalization (mean, std per channel) is the public API's (teeinfer/teeinfer.h):
// Normalization::imagenet(), ::half(), ::for_channels(C).

// Decoded 8-bit pixels, interleaved, 1 (grey) or 3 (RGB) channels per pixel.
struct ImagePixels {
  int64_t width = 0, height = 0;
  int channels = 0;
  std::vector<uint8_t> data;
};

// Decodes a whole PNG, JPEG or BMP file held in memory to `channels` (1 or 3), before any
// resize. Throws Error(kBadInput) naming `what`.
ImagePixels decode_image_pixels(std::string_view bytes, const std::string& what, int channels);

// `dims` is {1, C, H, W} with C in {1, 3}. Throws Error(kBadInput) naming the file.
HostTensor load_image(const std::string& path, const Dims& dims, const Normalization& norm);
// The same from a whole image file held in memory; `what` names it in errors.
HostTensor decode_image(std::string_view bytes, const std::string& what, const Dims& dims, const Normalization& norm);

}  // namespace teeinfer
