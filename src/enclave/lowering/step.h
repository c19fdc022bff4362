// What a lowered plan runs: Steps over Slots of planned arena buffers. A step is one of five
// kinds (StepAction); the session's executor visits it.
#pragma once

#include <dnnl.hpp>
#include <functional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "common/graph.h"

namespace teeinfer {

// Where a value lives: a planned buffer, the memory descriptor over it, and where in the
// buffer the descriptor starts (non-zero for per-group views).
struct Slot {
  int buffer = -1;
  dnnl::memory::desc md;
  size_t offset = 0;  // bytes
};

// A oneDNN primitive over its arguments (DNNL_ARG_* -> slot).
struct PrimitiveStep {
  dnnl::primitive primitive;
  std::vector<std::pair<int, Slot>> args;
};

// A hand-written kernel: gets the base pointers of its slots, in the order given.
using CustomKernel = std::function<void(const std::vector<void*>&)>;
struct CustomStep {
  CustomKernel kernel;
  std::vector<Slot> slots;
};

// Rows of a constant read from the WeightSource at every run (decrypted, for a sealed
// model) into `target`: how the budget planner streams weights.
struct StreamReadStep {
  ValueId value = kNoValue;
  int64_t first_row = 0, rows = 0;
  Slot target;
};

// Rows of a spilled activation sealed out of `band` to host memory, or unsealed back into
// it (SpillStore): one block per image row, each stored as its ciphertext and tag from
// `host_offset` on, one after another.
struct SpillStep {
  bool seal = false;  // arena -> host; false: host -> arena
  uint64_t first_block = 0;
  int64_t blocks = 0;
  size_t block_bytes = 0;
  Slot band;
  size_t host_offset = 0;  // bytes into the store's host memory
};

// Rows of a graph output copied out of `band` (channels-last, in the arena) into the
// host's buffer for that output, in the plain row-major order outputs leave in, as soon
// as they are computed (LoweringOptions::outputs_in_bands): `reorder` writes `band` into
// `rows_md`, a strided view of the output's rows starting `offset` bytes into the buffer.
struct OutputStep {
  size_t output = 0;  // index in the graph's outputs
  dnnl::primitive reorder;
  dnnl::memory::desc rows_md;
  size_t offset = 0;
  Slot band;
};

using StepAction = std::variant<PrimitiveStep, CustomStep, StreamReadStep, SpillStep, OutputStep>;

// What a step's time is spent on, for profiles: the layers' own work, reading streamed
// weights (copy-in, decrypt, decode), putting streamed weights into a kernel's layout,
// moving activations between layouts (channels-last, plain, Winograd's blocked; also the
// rows of graph outputs copied out in plain order), and sealing activations out to host
// memory and back.
enum class StepKind { kCompute, kWeightRead, kWeightReorder, kLayout, kSpill };
const char* step_kind_name(StepKind k);  // "compute", "weight read", ...

struct Step {
  std::string name;  // node name (or "reorder <value>")
  std::string impl;  // oneDNN implementation, or "teeinfer:<kernel>"
  StepAction action;
  // Weight reads, and the reorders of what they read, run on the loader thread when
  // prefetching: it may start this step once main-thread step `loader_start` has begun
  // (see schedule_loader()). -1: a main-thread step.
  int loader_start = -1;
  StepKind kind = StepKind::kCompute;
};

// Every slot a step reads or writes: a primitive's arguments, a custom kernel's slots (in
// its order), a stream's target, a spill's or an output's band.
std::vector<Slot> slots_of(const Step& step);

}  // namespace teeinfer
