// The one writer of a LoweredPlan while a graph is lowered: new buffers and their
// lifetimes, steps appended in order, constant loads, strategies. The lowering context,
// the weight streamer and the spill plan all append through it.
#pragma once

#include <dnnl.hpp>
#include <memory>
#include <string>
#include <vector>

#include "common/graph.h"
#include "enclave/lowering/lowered_plan.h"

namespace teeinfer {

class PlanBuilder {
 public:
  PlanBuilder(const Graph& g, const dnnl::engine& engine, LoweringOptions options);

  const Graph& graph() const { return g_; }
  const dnnl::engine& engine() const { return engine_; }
  const LoweringOptions& options() const { return plan_->options(); }

  // Buffers: a new one lives from the step being built; touch() extends it to that step.
  int new_buffer(const dnnl::memory::desc& md, const std::string& name, bool persistent);
  Slot scratch(const dnnl::memory::desc& md, const std::string& what);
  bool is_persistent(int buffer) const { return persistent_[static_cast<size_t>(buffer)]; }
  void touch(const Slot& s);
  void grow(int buffer, size_t bytes) { plan_->planner_.grow(buffer, bytes); }
  // The index the next step gets.
  int current_step() const { return static_cast<int>(plan_->steps_.size()); }

  // Steps: a primitive gets a scratchpad buffer if it needs one; every slot is touched.
  // Refuses (kKernel) a primitive whose post-op chain repeats an eltwise algorithm with
  // other parameters: oneDNN 2.6 would compute it wrongly (see split_post_ops).
  void add_primitive(const std::string& name, const dnnl::primitive& prim, const dnnl::primitive_desc_base& pd,
                     std::vector<std::pair<int, Slot>> args, StepKind kind = StepKind::kCompute);
  void add_custom(const std::string& name, const std::string& impl, CustomKernel kernel, std::vector<Slot> slots);
  // Appends a step whose slots the caller has touched.
  void push(Step step) { plan_->steps_.push_back(std::move(step)); }
  Step& last_step() { return plan_->steps_.back(); }

  void add_load(ConstantLoad load) { plan_->loads_.push_back(std::move(load)); }
  void note_strategy(size_t node, const std::string& how) { plan_->strategies_[node] = how; }
  void add_input(ValueId v, const Slot& s) { plan_->inputs_.emplace_back(v, s); }
  void add_output(ValueId v, std::optional<Slot> s) { plan_->outputs_.push_back({v, std::move(s)}); }
  const std::vector<std::pair<ValueId, Slot>>& inputs() const { return plan_->inputs_; }

  // Completes the plan after the last step: lifetimes of outputs, constants and (unmodified
  // mode) everything; the loader schedule; the load-phase buffers; the spill totals.
  std::unique_ptr<LoweredPlan> finish(size_t load_scratch_bytes, bool staged, bool streams, uint64_t spill_blocks,
                                      size_t spill_host_bytes);

 private:
  const Graph& g_;
  dnnl::engine engine_;
  std::unique_ptr<LoweredPlan> plan_;
  std::vector<bool> persistent_;
};

}  // namespace teeinfer
