// Element types, shapes and a non-owning tensor view shared by host and enclave.
//
// TensorView never owns its bytes: whoever created the view (the arena, a Graph
// constant, a host buffer) keeps them alive for as long as the view is used.
//
//   TensorView v{DType::kF32, {1, 3, 224, 224}, ptr, "input"};
//   float* p = v.data_as<float>();   // checks the dtype
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "teeinfer/teeinfer.h"  // DType, Dims, dtype_size, dtype_name

namespace teeinfer {

// At most this many dims; every dim at most kMaxDim.
constexpr size_t kMaxRank = 32;
constexpr int64_t kMaxDim = int64_t{1} << 62;

// Product of dims; throws Error(kBadModel) naming `what` on a rank above kMaxRank, a
// negative dim, or when the product of the non-zero dims exceeds 2^62 elements. The last
// rule holds for empty tensors too, so any partial product of a valid shape (a stride,
// the outer or inner size around an axis) fits in int64.
int64_t element_count(const Dims& dims, const std::string& what);
// element_count * dtype size, overflow-checked the same way.
size_t byte_size(DType t, const Dims& dims, const std::string& what);
std::string dims_to_string(const Dims& dims);

struct TensorView {
  DType dtype = DType::kF32;
  Dims dims;
  void* data = nullptr;  // not owned
  std::string name;

  int64_t elements() const { return element_count(dims, name); }
  size_t bytes() const { return byte_size(dtype, dims, name); }
  template <class T>
  T* data_as() const;
};

}  // namespace teeinfer

#include "common/tensor_inl.h"
