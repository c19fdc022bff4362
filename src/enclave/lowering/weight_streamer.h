// Constants: resident ones are loaded once (a ConstantLoad, reordered through slices when
// their layout changes); streamed ones (LoweringOptions::streamed) are read at every run by
// stream steps, through row windows or a staging buffer, and reordered by loader-thread
// steps when prefetching.
#pragma once

#include <dnnl.hpp>
#include <string>
#include <vector>

#include "enclave/lowering/constant_load.h"
#include "enclave/lowering/plan_builder.h"

namespace teeinfer {

class WeightStreamer {
 public:
  explicit WeightStreamer(PlanBuilder& plan) : plan_(plan) {}

  // A constant reordered at load time into `md` (e.g. a weights layout oneDNN chose).
  // `source_md` describes the constant's bytes (default: plain over md's dims, in the
  // constant's dtype). A streamed constant is instead read (and reordered) by steps added
  // here, before the caller's. Rows are multiplied by `scales` when given; an int8 weight
  // asked for as float32 is dequantized with its node's weight scales.
  Slot constant(ValueId v, const dnnl::memory::desc& md, const dnnl::memory::desc* source_md = nullptr,
                std::vector<float> scales = {});
  // A constant of any dtype kept resident as its raw bytes (int8 weights), loaded as is.
  Slot constant_bytes(ValueId v);
  // The weight scales of the int8 constant v, from the node it is the weight of.
  const std::vector<float>& weight_scales(ValueId v) const;

  bool is_streamed(ValueId v) const;
  // Rows of v per sealed chunk: streamed windows hold whole chunks.
  int64_t row_granularity(ValueId v) const;
  // About how many bytes a window of streamed rows (or a conv's output-channel tile) holds.
  size_t window_bytes() const { return plan_.options().stream_window_bytes; }
  // Whether streamed conv weights larger than a window come in output-channel tiles.
  bool conv_tiles() const { return plan_.options().conv_tiles; }
  // Row windows for streamed weights: two alternating buffers when prefetching (one is
  // filled while the other is read), else one. Returns the window for chunk `index`.
  int window_count() const { return plan_.options().prefetch ? 2 : 1; }
  Slot window(const std::vector<Slot>& windows, size_t index) const { return windows[index % windows.size()]; }
  // Adds a step reading rows [first_row, first_row + rows) of constant v into `dst`.
  void add_stream(ValueId v, int64_t first_row, int64_t rows, const Slot& dst);
  // Adds the reorder of streamed weight bytes (from add_stream) into a kernel's layout,
  // times `scales` (see scaled_reorder): loader-thread work when prefetching.
  void add_weight_reorder(const std::string& name, const Slot& from, const Slot& to,
                          const std::vector<float>& scales = {});
  // Whether any stream step was added (the weight source's scratch then lives every run).
  bool streams() const { return streams_; }

 private:
  Slot streamed_constant(ValueId v, const dnnl::memory::desc& md, const dnnl::memory::desc& source_md,
                         const std::vector<float>& scales);
  std::vector<ReorderSlice> reorder_slices(ValueId v, const dnnl::memory::desc& source_md,
                                           const dnnl::memory::desc& target_md, const std::vector<float>& scales) const;
  // reorder_slices(), or the whole tensor as one slice.
  std::vector<ReorderSlice> reorder_plan(ValueId v, const dnnl::memory::desc& source_md,
                                         const dnnl::memory::desc& target_md, const std::vector<float>& scales) const;

  PlanBuilder& plan_;
  bool streams_ = false;
};

}  // namespace teeinfer
