// Lowering a node, or a chain of nodes, band by band (y-plane partitioning).
#pragma once

#include <cstddef>
#include <cstdint>

#include "enclave/lowering/lowering_context.h"

namespace teeinfer {

// Nodes [first, last] (a chain from analysis/fusable_chains.h) computed band by band
// through all of them, `band_rows` rows of the last node's output per band.
void lower_band_chain(LoweringContext& l, size_t first, size_t last, int64_t band_rows);
// A Conv/Pool node that reads or writes a spilled activation (SpillPlan::spills_at).
void lower_spilled_bands(LoweringContext& l, const Node& n);
// A Concat, Binary or Resize node that reads or writes a spilled activation
// (analysis/banded_ops.h); lower_spilled_bands() hands them over.
void lower_spilled_row_op(LoweringContext& l, const Node& n);
// A ReduceMax/ReduceMin over every axis of a spilled activation (analysis/banded_ops.h),
// which lower_spilled_row_op() hands over.
void lower_banded_reduce(LoweringContext& l, const Node& n);

}  // namespace teeinfer
