// What the budget planner (or a caller) chooses about a lowering: execution mode, which
// constants stream, which convolutions run in bands or fused chains, which activations
// spill, which graph outputs leave in bands, and the sizes of windows, slices and bands.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "enclave/execution_mode.h"
#include "enclave/weight_source.h"

namespace teeinfer {

struct LoweringOptions {
  ExecutionMode mode = ExecutionMode::kPlanned;
  // By ValueId: constants read at every run, just before use, instead of held resident.
  std::vector<bool> streamed = {};
  // Streamed weights of fully-connected layers (rows) and convolutions (output-channel
  // tiles) come through windows of about this size.
  size_t stream_window_bytes = size_t{1} << 20;
  // Streamed conv weights larger than the window come in output-channel tiles.
  bool conv_tiles = true;
  // By node index: compute this convolution in bands of this many output rows (y-plane
  // partitioning; absent or 0: whole).
  std::map<size_t, int64_t> conv_band_rows = {};
  // By first node index: fuse nodes [first, last] band-wise, `rows` rows of the last
  // node's output per band (bands/band_chain.cpp).
  std::map<size_t, std::pair<size_t, int64_t>> fused_bands = {};
  // By node index: Convs computed with oneDNN's Winograd implementation of this name when
  // their weights are resident and they run whole (conv_algorithm.h, conv_winograd.h).
  std::map<size_t, std::string> winograd = {};
  // By node index: dilated Convs computed as phases (op_lowering/conv_dilated_phases.h)
  // when their weights are resident and they run whole. Like winograd, only the planner's
  // first configuration has them: the phase copies are two more activation-sized buffers.
  std::set<size_t> dilated_phases = {};
  // Staged constants reorder through slices of about this many bytes (see ConstantLoad).
  size_t reorder_slice_bytes = size_t{1} << 20;
  // By ValueId: activations kept sealed in host memory instead of the arena (encrypted
  // activation spill); the Conv/Pool nodes that produce and read them run in bands of
  // about spill_band_bytes of output rows (bands/spilled_bands.cpp).
  std::vector<bool> spilled = {};
  size_t spill_band_bytes = size_t{256} << 10;
  // By ValueId: graph outputs that leave the enclave band by band: the node making one
  // runs in bands (as next to a spilled activation) and each band's rows are copied to the
  // host's output buffer as soon as they are computed, so the output is never whole in
  // the arena. One that later nodes read must be spilled too (they read it back in bands).
  std::vector<bool> outputs_in_bands = {};
  // Streamed weights are read by a loader thread one main step ahead of their use, so
  // decryption overlaps compute; the plan reserves their buffers for that step too.
  bool prefetch = false;
  // Chunking of streamed constants (row_granularity); required when any is streamed.
  const WeightSource* weights = nullptr;
};

}  // namespace teeinfer
