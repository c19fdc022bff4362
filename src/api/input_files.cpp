// Input files and sizes (include/teeinfer/teeinfer.h), over the host's readers.
#include "common/tensor.h"
#include "common/units.h"
#include "host/idx_dataset.h"
#include "host/image.h"
#include "host/npy.h"
#include "teeinfer/teeinfer.h"

namespace teeinfer {

Tensor load_image(const std::string& path, const std::string& name, const Dims& dims, const Normalization& norm) {
  HostTensor t = load_image(path, dims, norm);
  return Tensor::f32(name, t.dims, t.data);
}

Tensor read_npy(const std::string& path, const std::string& name) {
  HostTensor t = read_npy(path);
  return Tensor::f32(name, t.dims, t.data);
}

void write_npy(const std::string& path, const Tensor& t) {
  write_npy(path, t.dims, t.f32_data());
}

uint64_t parse_size(const std::string& text, const std::string& what) {
  return parse_bytes(text, what);
}

std::string format_size(uint64_t bytes) {
  return format_bytes(bytes);
}

std::string to_string(const Dims& dims) {
  return dims_to_string(dims);
}

}  // namespace teeinfer
