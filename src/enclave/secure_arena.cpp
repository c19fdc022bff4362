#include "enclave/secure_arena.h"

#include <algorithm>

#include "common/error.h"

namespace teeinfer {

SecureArena::SecureArena(std::byte* base, size_t region_bytes, size_t budget_bytes)
    : base_(base), region_bytes_(region_bytes), budget_(budget_bytes) {}

std::byte* SecureArena::reserve(size_t offset, size_t bytes, const std::string& what) {
  size_t end = offset + bytes;
  if (end < offset || end > budget_)
    throw Error(ErrorCode::kBudgetExceeded, "buffer '" + what + "' ends at byte " + std::to_string(end) +
                                                ", past the secure-memory budget of " + std::to_string(budget_));
  if (end > region_bytes_) throw Error(ErrorCode::kBudgetExceeded, "buffer '" + what + "' ends past the secure region");
  peak_ = std::max(peak_, end);
  return base_ + offset;
}

}  // namespace teeinfer
