#include "host/image.h"

#include <memory>

#include "common/error.h"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#include <stb_image.h>
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#include <stb_image_resize.h>

namespace teeinfer {

Normalization imagenet_normalization() {
  return {{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
}
Normalization half_normalization() {
  return {{0.5f}, {0.5f}};
}
Normalization default_normalization(int64_t channels) {
  return channels == 3 ? imagenet_normalization() : half_normalization();
}

HostTensor load_image(const std::string& path, const Dims& dims, const Normalization& norm) {
  if (dims.size() != 4 || dims[0] != 1 || (dims[1] != 1 && dims[1] != 3) || dims[2] < 1 || dims[3] < 1 ||
      dims[2] > 16384 || dims[3] > 16384)
    throw Error(ErrorCode::kBadInput,
                "image input needs a {1,1|3,H,W} model input, the model wants " + dims_to_string(dims));
  int c = static_cast<int>(dims[1]), h = static_cast<int>(dims[2]), w = static_cast<int>(dims[3]);
  for (const auto* v : {&norm.mean, &norm.std})
    if (v->size() != 1 && v->size() != static_cast<size_t>(c))
      throw Error(ErrorCode::kBadArgument, "normalisation needs 1 or " + std::to_string(c) + " values per list");
  int iw = 0, ih = 0, ic = 0;
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(stbi_load(path.c_str(), &iw, &ih, &ic, c), stbi_image_free);
  if (!pixels) throw Error(ErrorCode::kBadInput, "cannot read image '" + path + "': " + stbi_failure_reason());
  std::vector<unsigned char> resized(static_cast<size_t>(w) * h * c);
  if (!stbir_resize_uint8(pixels.get(), iw, ih, 0, resized.data(), w, h, 0, c))
    throw Error(ErrorCode::kBadInput, "cannot resize image '" + path + "'");
  HostTensor t{dims, std::vector<float>(resized.size())};
  for (int ch = 0; ch < c; ++ch) {
    float mean = norm.mean.size() == 1 ? norm.mean[0] : norm.mean[ch];
    float sd = norm.std.size() == 1 ? norm.std[0] : norm.std[ch];
    for (int i = 0; i < h * w; ++i)  // interleaved HWC pixels -> planar CHW tensor
      t.data[static_cast<size_t>(ch) * h * w + i] = (resized[static_cast<size_t>(i) * c + ch] / 255.f - mean) / sd;
  }
  return t;
}

}  // namespace teeinfer
