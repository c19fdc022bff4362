// NumPy .npy files (format versions 1-3), C order. Reads float32/float64/int64/int32/
// uint8 arrays as float32; writes float32.
//
//   HostTensor x = read_npy("x.npy");  write_npy("y.npy", y.dims, y.data.data());
#pragma once

#include <string>

#include "host/host_tensor.h"

namespace teeinfer {

HostTensor read_npy(const std::string& path);
HostTensor parse_npy(const std::string& bytes, const std::string& what);
// Writes to `path` through AtomicFileWriter (host/file_io.h).
void write_npy(const std::string& path, const Dims& dims, const float* data);

}  // namespace teeinfer
