// NumPy .npy files (format versions 1-3), C order, little-endian. Reads float32/float64,
// int8/16/32/64, uint8/16/32/64 and bool arrays as float32; writes float32.
//
//   HostTensor x = read_npy("x.npy");  write_npy("y.npy", y.dims, y.data.data());
//
// The reader takes untrusted files: the header is parsed by a strict parser of the dict
// NumPy writes, and every size is checked (against the bytes present and kMaxNpyElements)
// before anything is allocated.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "host/host_tensor.h"

namespace teeinfer {

// The most elements an .npy file may hold: 2^27 (512 MiB as float32).
constexpr uint64_t kMaxNpyElements = uint64_t{1} << 27;

// Throws Error(kBadInput / kIo) naming the file.
HostTensor read_npy(const std::string& path);
// The same array as exact int64 values (for integer and bool inputs): throws kBadInput if a
// value is not a whole number in range. `dims` gets its dims.
std::vector<int64_t> read_npy_integers(const std::string& path, Dims& dims);
std::vector<int64_t> parse_npy_integers(std::string_view bytes, const std::string& what, Dims& dims);
// `bytes` is a whole .npy file; `what` names it in errors.
HostTensor parse_npy(std::string_view bytes, const std::string& what);
// Writes to `path` through AtomicFileWriter (host/file_io.h).
void write_npy(const std::string& path, const Dims& dims, const float* data);
// An array of `dtype` (int64: ArgMax's indices), its bytes row-major.
void write_npy(const std::string& path, const Dims& dims, const void* data, DType dtype);
// The header (magic, version 1.0, dict, padding) of a C-order array of `dims` and `dtype`.
std::string npy_header(const Dims& dims, DType dtype = DType::kF32);

}  // namespace teeinfer
