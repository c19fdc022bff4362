// teeinfer::Tensor (include/teeinfer/teeinfer.h).
#include "common/tensor.h"

#include <cstring>

#include "teeinfer/teeinfer.h"

namespace teeinfer {

namespace {

// A tensor of `dtype` holding exactly the dims' count of `values`.
template <class T>
Tensor from_values(std::string name, DType dtype, Dims dims, const std::vector<T>& values) {
  const int64_t n = element_count(dims, name);
  if (static_cast<size_t>(n) != values.size())
    throw Error(ErrorCode::kBadInput, "tensor '" + name + "' of dims " + dims_to_string(dims) + " needs " +
                                          std::to_string(n) + " values, got " + std::to_string(values.size()));
  Tensor t{std::move(name), dtype, std::move(dims), std::vector<uint8_t>(values.size() * sizeof(T))};
  if (!values.empty()) std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
  return t;
}

}  // namespace

Tensor Tensor::f32(std::string name, Dims dims, const std::vector<float>& values) {
  return from_values(std::move(name), DType::kF32, std::move(dims), values);
}

Tensor Tensor::i64(std::string name, Dims dims, const std::vector<int64_t>& values) {
  return from_values(std::move(name), DType::kI64, std::move(dims), values);
}

const void* Tensor::data() const {
  if (bytes.size() != byte_size(dtype, dims, name))
    throw Error(ErrorCode::kBadInput, "tensor '" + name + "' holds " + std::to_string(bytes.size()) +
                                          " bytes; its dims " + dims_to_string(dims) + " need " +
                                          std::to_string(byte_size(dtype, dims, name)));
  return bytes.data();
}

int64_t Tensor::elements() const {
  return element_count(dims, name);
}

const float* Tensor::f32_data() const {
  if (dtype != DType::kF32)
    throw Error(ErrorCode::kBadInput, "tensor '" + name + "' is " + dtype_name(dtype) + ", not float32");
  return static_cast<const float*>(data());
}

std::vector<float> Tensor::to_floats() const {
  const float* p = f32_data();
  return std::vector<float>(p, p + bytes.size() / sizeof(float));
}

}  // namespace teeinfer
