#include "common/tensor.h"

#include "common/error.h"

namespace teeinfer {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::kF32:
      return 4;
    case DType::kI64:
      return 8;
    case DType::kI32:
      return 4;
    case DType::kU8:
      return 1;
    case DType::kS8:
      return 1;
    case DType::kBool:
      return 1;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::kF32:
      return "float32";
    case DType::kI64:
      return "int64";
    case DType::kI32:
      return "int32";
    case DType::kU8:
      return "uint8";
    case DType::kS8:
      return "int8";
    case DType::kBool:
      return "bool";
  }
  return "?";
}

int64_t element_count(const Dims& dims, const std::string& what) {
  if (dims.size() > kMaxRank)
    throw Error(ErrorCode::kBadModel, "tensor '" + what + "' has rank " + std::to_string(dims.size()) +
                                          "; teeinfer supports at most " + std::to_string(kMaxRank) + " dims");
  int64_t nonzero = 1;  // product of the non-zero dims: bounded even when a dim is 0
  bool empty = false;
  for (int64_t d : dims) {
    if (d < 0)
      throw Error(ErrorCode::kBadModel, "tensor '" + what + "' has a negative dimension in " + dims_to_string(dims));
    if (d == 0) {
      empty = true;
      continue;
    }
    if (nonzero > kMaxDim / d)
      throw Error(ErrorCode::kBadModel, "tensor '" + what + "' is absurdly large: " + dims_to_string(dims));
    nonzero *= d;
  }
  return empty ? 0 : nonzero;
}

size_t byte_size(DType t, const Dims& dims, const std::string& what) {
  // element_count caps at 2^62 elements; 8-byte types could still overflow size_t math.
  int64_t n = element_count(dims, what);
  if (n > (int64_t{1} << 59))
    throw Error(ErrorCode::kBadModel, "tensor '" + what + "' is absurdly large: " + dims_to_string(dims));
  return static_cast<size_t>(n) * dtype_size(t);
}

std::string dims_to_string(const Dims& dims) {
  std::string s = "{";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(dims[i]);
  }
  return s + "}";
}

}  // namespace teeinfer
