#include "enclave/lowering/plan_builder.h"

#include <algorithm>

#include "common/error.h"
#include "enclave/lowering/loader_schedule.h"
#include "enclave/lowering/post_ops.h"

namespace teeinfer {

using dnnl::memory;

PlanBuilder::PlanBuilder(const Graph& g, const dnnl::engine& engine, LoweringOptions options)
    : g_(g), engine_(engine), plan_(std::make_unique<LoweredPlan>(std::move(options))) {}

int PlanBuilder::new_buffer(const memory::desc& md, const std::string& name, bool persistent) {
  int id = plan_->planner_.add_buffer(md.get_size(), current_step(), current_step());
  plan_->buffer_names_.push_back(name);
  persistent_.push_back(persistent);
  return id;
}

Slot PlanBuilder::scratch(const memory::desc& md, const std::string& what) {
  return Slot{new_buffer(md, what, false), md};
}

void PlanBuilder::touch(const Slot& s) {
  plan_->planner_.extend_lifetime(s.buffer, current_step());
}

void PlanBuilder::add_primitive(const std::string& name, const dnnl::primitive& prim,
                                const dnnl::primitive_desc_base& pd, std::vector<std::pair<int, Slot>> args,
                                StepKind kind) {
  // The last defence against oneDNN 2.6's repeated-algorithm bug: every kernel splits its
  // activations with split_post_ops, so this never fires unless one forgot to.
  if (std::string repeated = repeated_eltwise_algorithm(pd.get_primitive_attr().get_post_ops()); !repeated.empty())
    throw Error(ErrorCode::kKernel, "step '" + name + "': its fused post-ops repeat " + repeated +
                                        ", which oneDNN 2.6 computes with the first parameters");
  memory::desc pad = pd.scratchpad_desc();
  if (pad.get_size() > 0) args.emplace_back(DNNL_ARG_SCRATCHPAD, scratch(pad, name + ".scratchpad"));
  for (const auto& a : args) touch(a.second);
  std::string impl = pd.impl_info_str() + describe_post_ops(pd.get_primitive_attr().get_post_ops());
  push(Step{name, std::move(impl), PrimitiveStep{prim, std::move(args)}, -1, kind});
}

void PlanBuilder::add_custom(const std::string& name, const std::string& impl, CustomKernel kernel,
                             std::vector<Slot> slots) {
  for (const auto& s : slots) touch(s);
  push(Step{name, "teeinfer:" + impl, CustomStep{std::move(kernel), std::move(slots)}});
}

std::unique_ptr<LoweredPlan> PlanBuilder::finish(size_t load_scratch_bytes, bool staged, bool streams,
                                                 uint64_t spill_blocks, size_t spill_host_bytes) {
  LoweredPlan& p = *plan_;
  MemoryPlanner& planner = p.planner_;
  // Everything read at the end, and all constants, stay alive across the whole run. The
  // outputs in the arena are read once more after the final step (copied out): that is
  // step `last`.
  int last = current_step();
  for (const PlanOutput& o : p.outputs_)
    if (o.arena) planner.extend_lifetime(o.arena->buffer, last);
  for (size_t b = 0; b < persistent_.size(); ++b) {
    if (persistent_[b]) planner.extend_lifetime(static_cast<int>(b), kLoadStep);
    // Unmodified mode frees nothing: every activation and scratchpad lives to the end.
    if (persistent_[b] || p.mode() == ExecutionMode::kUnmodified) planner.extend_lifetime(static_cast<int>(b), last);
  }
  p.uses_loader_ = schedule_loader(p.steps_, planner) > 0;
  // Load-phase buffers overlap activations freely: no step runs while weights load.
  size_t staging = 0;
  for (const ConstantLoad& c : p.loads_)
    if (staged)
      for (const ReorderSlice& sl : c.slices) staging = std::max(staging, sl.source.get_size());
  if (staging) {
    p.staging_buffer_ = planner.add_buffer(staging, kLoadStep, kLoadStep);
    p.buffer_names_.push_back("load staging");
  }
  if (load_scratch_bytes) {  // streamed weights need it at every run too
    p.load_scratch_buffer_ = planner.add_buffer(load_scratch_bytes, kLoadStep, streams ? last : kLoadStep);
    p.buffer_names_.push_back("load scratch");
  }
  for (auto& i : p.inputs_) planner.extend_lifetime(i.second.buffer, 0);
  p.spill_blocks_ = spill_blocks;
  p.spill_host_bytes_ = spill_host_bytes;
  return std::move(plan_);
}

}  // namespace teeinfer
