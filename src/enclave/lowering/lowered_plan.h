// The result of lowering a graph: the steps to run, the constants to load, every buffer's
// size and lifetime (its MemoryPlanner), where the graph's inputs and outputs live, the
// host memory spilled activations need, and how each node was lowered. What EnclaveSession
// runs, the budget planner measures and `teeinfer plan` reports. Built by lower_graph().
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "enclave/lowering/constant_load.h"
#include "enclave/lowering/lowering_options.h"
#include "enclave/lowering/step.h"
#include "enclave/memory_planner.h"

namespace teeinfer {

// A graph output after the last step: whole in the arena, or (arena empty) already in the
// host's buffer for it, written there band by band by OutputSteps.
struct PlanOutput {
  ValueId value = kNoValue;
  std::optional<Slot> arena;
};

class LoweredPlan {
 public:
  explicit LoweredPlan(LoweringOptions options) : options_(std::move(options)) {}

  const std::vector<Step>& steps() const { return steps_; }
  const std::vector<ConstantLoad>& loads() const { return loads_; }
  const std::vector<std::pair<ValueId, Slot>>& inputs() const { return inputs_; }
  const std::vector<PlanOutput>& outputs() const { return outputs_; }
  // Buffers: sizes and lifetimes (plan() places them), and a name for each.
  MemoryPlanner& planner() { return planner_; }
  const MemoryPlanner& planner() const { return planner_; }
  const std::vector<std::string>& buffer_names() const { return buffer_names_; }
  // Load-phase buffers: staging for reordered constants, and the weight source's scratch
  // (-1 when not needed).
  int staging_buffer() const { return staging_buffer_; }
  int load_scratch_buffer() const { return load_scratch_buffer_; }
  // The host memory spilled activations need: blocks, and bytes (sealed rows and tags).
  uint64_t spill_blocks() const { return spill_blocks_; }
  size_t spill_host_bytes() const { return spill_host_bytes_; }
  // Whether any step runs on the loader thread (prefetched weights).
  bool uses_loader() const { return uses_loader_; }
  // How a node was lowered when not simply whole ("bands of 8 rows", ...), by node index.
  const std::map<size_t, std::string>& strategies() const { return strategies_; }
  // What it was lowered with.
  const LoweringOptions& options() const { return options_; }
  ExecutionMode mode() const { return options_.mode; }
  bool is_streamed(ValueId v) const {
    return v >= 0 && static_cast<size_t>(v) < options_.streamed.size() && options_.streamed[v];
  }

 private:
  friend class PlanBuilder;  // the only writer

  LoweringOptions options_;
  std::vector<Step> steps_;
  std::vector<ConstantLoad> loads_;
  std::vector<std::pair<ValueId, Slot>> inputs_;
  std::vector<PlanOutput> outputs_;
  MemoryPlanner planner_;
  std::vector<std::string> buffer_names_;
  int staging_buffer_ = -1, load_scratch_buffer_ = -1;
  uint64_t spill_blocks_ = 0;
  size_t spill_host_bytes_ = 0;
  bool uses_loader_ = false;
  std::map<size_t, std::string> strategies_;
};

}  // namespace teeinfer
