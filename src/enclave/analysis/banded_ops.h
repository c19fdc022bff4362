// Ops besides Conv/Pool that can run in bands of output rows next to a spilled activation
// (bands/spilled_row_ops.cpp), each output band reading a known range of rows of each
// activation input: a channel Concat, a same-shape Binary and an element-wise function
// read the band's own rows of every input; a Resize that keeps N and C reads the rows its
// row taps name.
#pragma once

#include <cstddef>

#include "common/graph.h"

namespace teeinfer {

// Concat along channels, a Binary whose first input has the output's dims and whose
// second has them too or broadcasts over rows (oneDNN kinds only), or an element-wise
// function oneDNN computes, of 4-D tensors: output row r is made from row r of every
// input (and all of a broadcast one).
bool is_row_aligned(const Graph& g, const Node& n);
// Input i of node n is the same for every row of the 4-D output: a scalar, or one value
// per channel ({C,1,1} or {1,C,1,1}: a quantization scale or zero point, a bias), of
// one image. A banded Binary reads it whole.
bool broadcasts_over_rows(const Graph& g, const Node& n, size_t i);
// A Resize of a 4-D tensor whose taps along N and C are the identity (any mode and
// coordinate transformation otherwise: its rows are computed from the taps of the H dim).
bool is_banded_resize(const Graph& g, const Node& n);
// A ReduceMax or ReduceMin over every axis of a 4-D activation: it can read its input a
// band of rows at a time (bands/banded_reduce.cpp), though its output is no band.
bool is_banded_reduce(const Graph& g, const Node& n);
// Any node that can run in bands next to a spilled activation: runs_in_bands()
// (Conv/Pool, analysis/row_windows.h) or one of the two above.
bool can_run_in_bands(const Graph& g, const Node& n);
// Whether node n, running in bands, reads input `i` a band of rows at a time (Conv/Pool:
// the data input and a fused residual; the ops above: every activation input but a
// Binary's operand that broadcasts over rows).
bool reads_in_bands(const Graph& g, const Node& n, size_t i);

}  // namespace teeinfer
