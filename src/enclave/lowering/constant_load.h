// Constants brought into the arena once, at load time (before step 0).
#pragma once

#include <cstdint>
#include <vector>

#include "enclave/lowering/step.h"

namespace teeinfer {

// One slice of a reordered constant: rows [first_row, first_row + rows) of its plain
// bytes (described by `source` over the staging buffer) land in `target`, a sub-block of
// the constant's buffer.
struct ReorderSlice {
  int64_t first_row = 0, rows = 0;
  dnnl::memory::desc source, target;
};

// A constant's plain row-major bytes (described by source_md) land in `target`, through
// the staging buffer and a reorder when target's layout differs.
struct ConstantLoad {
  ValueId value;
  dnnl::memory::desc source_md;
  Slot target;
  // A constant that needs a layout change comes through the staging buffer in these
  // slices (one, the whole tensor, when it cannot be sliced); empty: no layout change.
  std::vector<ReorderSlice> slices = {};
  // One per row (dim 0): the reorder multiplies each row by its scale (dequantizes int8
  // weights, prescales an int8 kernel's bias). Empty: a plain copy.
  std::vector<float> scales = {};
};

// The load phase happens before step 0: only persistent buffers and load scratch live then.
constexpr int kLoadStep = -1;

}  // namespace teeinfer
