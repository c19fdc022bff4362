#pragma once

#include <type_traits>

#include "common/error.h"

namespace teeinfer {

template <class T>
constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, float>)
    return DType::kF32;
  else if constexpr (std::is_same_v<T, int64_t>)
    return DType::kI64;
  else if constexpr (std::is_same_v<T, int32_t>)
    return DType::kI32;
  else if constexpr (std::is_same_v<T, uint8_t>)
    return DType::kU8;
  else if constexpr (std::is_same_v<T, int8_t>)
    return DType::kS8;
  else
    static_assert(sizeof(T) == 0, "no DType for this C++ type");
}

template <class T>
T* TensorView::data_as() const {
  if (dtype != dtype_of<T>())
    throw Error(ErrorCode::kBadInput,
                "tensor '" + name + "' has dtype " + dtype_name(dtype) + ", expected " + dtype_name(dtype_of<T>()));
  return static_cast<T*>(data);
}

}  // namespace teeinfer
