// SecureArena: all trusted working memory of one EnclaveSession, carved from one region that
// the TEE platform hands over, under a hard byte budget.
//
// The arena never calls malloc. Buffers are reserved at planned offsets (see
// MemoryPlanner); the arena checks each against the region and the budget and records
// the peak (highest byte ever reserved), which is what `run --json` reports.
//
//   SecureArena arena(region.data(), region.size(), budget);
//   std::byte* w = arena.reserve(offset, bytes, "conv1.weight");  // throws if over budget
//   arena.peak_bytes();
#pragma once

#include <cstddef>
#include <string>

namespace teeinfer {

class SecureArena {
 public:
  // `base` is owned by the caller and must outlive the arena.
  SecureArena(std::byte* base, size_t region_bytes, size_t budget_bytes);

  std::byte* reserve(size_t offset, size_t bytes, const std::string& what);
  size_t peak_bytes() const { return peak_; }
  size_t budget_bytes() const { return budget_; }
  std::byte* base() const { return base_; }

 private:
  std::byte* base_;
  size_t region_bytes_, budget_, peak_ = 0;
};

}  // namespace teeinfer
