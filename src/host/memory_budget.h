// The memory an untrusted model may make the host spend while it is imported.
//
// An ONNX file is small; the tensors it declares or computes need not be (a 137-byte
// ConstantOfShape can ask for gigabytes). Every tensor the import creates or declares is
// checked against `limit` *before* its bytes are allocated, and the bytes constant folding
// allocates are counted against the same limit in total.
//
//   MemoryBudget budget(default_memory_limit(file_bytes));
//   budget.check(DType::kF32, dims, "x");      // a declared input: nothing allocated yet
//   budget.allocate(DType::kF32, dims, "c");   // a folded constant: checked and counted
#pragma once

#include <cstdint>
#include <string>

#include "common/tensor.h"

namespace teeinfer {

// The default limit for a model file of `model_bytes`: 8 x the file, at least 1 GiB.
// Legitimate models compute only small constants (shapes, masks) and their largest
// tensor is far below 8 x their weights unless the input is huge (then: --max-memory).
uint64_t default_memory_limit(uint64_t model_bytes);

class MemoryBudget {
 public:
  explicit MemoryBudget(uint64_t limit_bytes) : limit_(limit_bytes) {}

  uint64_t limit() const { return limit_; }
  uint64_t allocated() const { return allocated_; }

  // The bytes of a tensor of `dims`; throws Error(kBudgetExceeded) naming `what` and the
  // limit when they exceed it (kBadModel when the dims are invalid).
  size_t check(DType dtype, const Dims& dims, const std::string& what) const;
  // check(), then counts the bytes as allocated; throws when the total passes the limit.
  size_t allocate(DType dtype, const Dims& dims, const std::string& what);

 private:
  uint64_t limit_;
  uint64_t allocated_ = 0;
};

}  // namespace teeinfer
