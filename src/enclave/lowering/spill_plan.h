// Values that leave the arena band by band. Encrypted activation spill
// (LoweringOptions::spilled): which activations live sealed in host memory, the
// seal/unseal steps that move one band of their rows, and the host blocks they need. And
// graph outputs written out in bands (LoweringOptions::outputs_in_bands): the steps that
// copy a band of their rows to the host's output buffer. The band-wise lowering that uses
// it is bands/spilled_bands.cpp (Conv/Pool) and bands/spilled_row_ops.cpp (Concat,
// Binary, Resize, Eltwise).
#pragma once

#include <cstdint>
#include <map>
#include <set>

#include "enclave/lowering/plan_builder.h"

namespace teeinfer {

class SpillPlan {
 public:
  explicit SpillPlan(PlanBuilder& plan) : plan_(plan) {}

  bool is_spilled(ValueId v) const;
  // A graph output written to the host band by band as it is computed.
  bool is_written_out(ValueId v) const;
  // Spilled or written out: the node making it computes it into a band buffer, band by
  // band, and add_band_out() moves each band on.
  bool leaves_in_bands(ValueId v) const { return is_spilled(v) || is_written_out(v); }
  // Whether node n reads or writes a spilled activation, or makes an output written out in
  // bands (then it runs in bands).
  bool spills_at(const Node& n) const;
  // Output rows per band for a node next to a spilled activation: about spill_band_bytes
  // of its output rows, or of the input rows they read when those are larger.
  int64_t band_rows(const Node& n) const;
  // About how many bytes of rows a band holds (LoweringOptions::spill_band_bytes).
  size_t band_bytes() const { return plan_.options().spill_band_bytes; }
  // Adds a step sealing rows [first_row, first_row + rows) of image `image` of spilled
  // activation v out of `band` (seal), or unsealing them into it.
  void add_spill(ValueId v, bool seal, int64_t image, int64_t first_row, int64_t rows, const Slot& band);
  // Rows [first_row, first_row + rows) of image `image` of v, just computed into `band`,
  // leave: sealed out if v is spilled, copied to the host's output buffer if it is written
  // out (both when a graph output is also read by later nodes).
  void add_band_out(ValueId v, int64_t image, int64_t first_row, int64_t rows, const Slot& band);
  // The outputs some band was written out for (lower_graph checks every one it was told of).
  bool was_written_out(ValueId v) const { return written_out_.count(v) > 0; }
  // The host memory spilled activations need: blocks, and bytes (each activation's rows
  // sealed at their own size, with a tag each).
  uint64_t blocks() const { return blocks_; }
  size_t host_bytes() const { return host_bytes_; }

 private:
  PlanBuilder& plan_;
  struct Placement {
    uint64_t first_block;
    size_t host_offset;
  };
  std::map<ValueId, Placement> base_;  // of each spilled activation
  uint64_t blocks_ = 0;
  size_t host_bytes_ = 0;
  std::set<ValueId> written_out_;
};

}  // namespace teeinfer
