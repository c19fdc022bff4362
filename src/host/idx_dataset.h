// IDX datasets (MNIST / Fashion-MNIST format), optionally gzip-compressed.
//
//   IdxImages x = read_idx_images("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz");
//   std::vector<uint8_t> y = read_idx_labels(".../t10k-labels-idx1-ubyte.gz");
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace teeinfer {

struct IdxImages {
  int64_t count = 0, rows = 0, cols = 0;
  std::vector<uint8_t> pixels;  // count * rows * cols
};

IdxImages read_idx_images(const std::string& path);
std::vector<uint8_t> read_idx_labels(const std::string& path);

}  // namespace teeinfer
