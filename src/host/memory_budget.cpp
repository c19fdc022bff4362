#include "host/memory_budget.h"

#include <algorithm>

#include "common/error.h"
#include "common/units.h"

namespace teeinfer {

uint64_t default_memory_limit(uint64_t model_bytes) {
  constexpr uint64_t kFloor = uint64_t{1} << 30;
  constexpr uint64_t kMultiple = 8;
  if (model_bytes > (uint64_t{1} << 56)) return UINT64_MAX;  // no overflow below
  return std::max(kFloor, model_bytes * kMultiple);
}

size_t MemoryBudget::check(DType dtype, const Dims& dims, const std::string& what) const {
  size_t bytes = byte_size(dtype, dims, what);
  if (bytes > limit_)
    throw Error(ErrorCode::kBudgetExceeded, "tensor '" + what + "' " + dims_to_string(dims) + " needs " +
                                                format_bytes(bytes) + ", more than the host memory limit of " +
                                                format_bytes(limit_) + " (raise it with --max-memory)");
  return bytes;
}

size_t MemoryBudget::allocate(DType dtype, const Dims& dims, const std::string& what) {
  size_t bytes = check(dtype, dims, what);
  if (bytes > limit_ - allocated_)
    throw Error(ErrorCode::kBudgetExceeded, "the model's constants reach " + format_bytes(allocated_ + bytes) +
                                                " at tensor '" + what + "', more than the host memory limit of " +
                                                format_bytes(limit_) + " (raise it with --max-memory)");
  allocated_ += bytes;
  return bytes;
}

}  // namespace teeinfer
