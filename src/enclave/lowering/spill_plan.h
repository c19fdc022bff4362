// Encrypted activation spill (LoweringOptions::spilled): which activations live sealed in
// host memory, the seal/unseal steps that move one band of their rows, and the host blocks
// they need. The band-wise lowering that uses it is bands/spilled_bands.cpp (Conv/Pool)
// and bands/spilled_row_ops.cpp (Concat, Binary, Resize).
#pragma once

#include <cstdint>
#include <map>

#include "enclave/lowering/plan_builder.h"

namespace teeinfer {

class SpillPlan {
 public:
  explicit SpillPlan(PlanBuilder& plan) : plan_(plan) {}

  bool is_spilled(ValueId v) const;
  // Whether node n reads or writes a spilled activation (then it runs in bands).
  bool spills_at(const Node& n) const;
  // Output rows per band for a node next to a spilled activation.
  int64_t band_rows(const Node& n) const;
  // Adds a step sealing rows [first_row, first_row + rows) of image `image` of spilled
  // activation v out of `band` (seal), or unsealing them into it.
  void add_spill(ValueId v, bool seal, int64_t image, int64_t first_row, int64_t rows, const Slot& band);
  // The host memory spilled activations need: blocks and the largest block.
  uint64_t blocks() const { return blocks_; }
  size_t block_bytes() const { return block_bytes_; }

 private:
  PlanBuilder& plan_;
  std::map<ValueId, uint64_t> base_;  // first block of each spilled activation
  uint64_t blocks_ = 0;
  size_t block_bytes_ = 0;
};

}  // namespace teeinfer
