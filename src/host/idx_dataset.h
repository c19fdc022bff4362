// IDX datasets (MNIST / Fashion-MNIST format) of uint8 data, optionally gzip-compressed.
//
//   IdxImages x = read_idx_images("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz");
//   std::vector<uint8_t> y = read_idx_labels(".../t10k-labels-idx1-ubyte.gz");
//
// The header is read first (inflating only its bytes) and its dims are checked, with an
// overflow-checked product against kMaxIdxDataBytes and what the file can hold, before the
// data is allocated; then exactly that many bytes are inflated and the file must end there.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "teeinfer/teeinfer.h"

namespace teeinfer {

// IdxImages is the public API's (teeinfer/teeinfer.h).

// The most data bytes an IDX file may hold (uncompressed): 512 MiB.
constexpr uint64_t kMaxIdxDataBytes = uint64_t{512} << 20;
// One IDX image: at most this many pixels a side, and in all.
constexpr int64_t kMaxIdxImageSide = 16384;
constexpr int64_t kMaxIdxImagePixels = int64_t{1} << 24;

// Throw Error(kBadInput / kIo) naming the file.
IdxImages read_idx_images(const std::string& path);
std::vector<uint8_t> read_idx_labels(const std::string& path);
// The same from a whole file (plain or gzip) in memory; `what` names it in errors.
IdxImages parse_idx_images(std::string_view file, const std::string& what);
std::vector<uint8_t> parse_idx_labels(std::string_view file, const std::string& what);

}  // namespace teeinfer
