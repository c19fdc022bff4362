// Image files (PNG, JPEG, BMP, ...) → a {1,C,H,W} float32 input tensor.
//
// The image is converted to C channels (1 = grey, 3 = RGB), resized (bilinear) to H×W,
// scaled to [0,1], then normalised per channel: (x - mean[c]) / std[c].
//
//   HostTensor x = load_image("cat.png", {1, 3, 224, 224}, imagenet_normalization());
#pragma once

#include <string>
#include <vector>

#include "host/host_tensor.h"

namespace teeinfer {

struct Normalization {
  std::vector<float> mean, std;  // one value, or one per channel
};

Normalization imagenet_normalization();  // mean {0.485,0.456,0.406}, std {0.229,0.224,0.225}
Normalization half_normalization();      // mean 0.5, std 0.5 (maps [0,1] to [-1,1])
// The usual choice for a model input of `channels` channels: ImageNet for 3, half for 1.
Normalization default_normalization(int64_t channels);

// `dims` is {1, C, H, W} with C in {1, 3}. Throws Error(kBadInput) naming the file.
HostTensor load_image(const std::string& path, const Dims& dims, const Normalization& norm);

}  // namespace teeinfer
