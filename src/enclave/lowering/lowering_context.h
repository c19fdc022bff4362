// What a per-op lowering function (op_lowering/, bands/) gets: the node's graph, where its
// inputs live and where its outputs go, scratch buffers, constants, and the steps it adds.
// Streaming details (windows, stream steps) are behind weights(), spilled activations
// behind spills(). Building the whole plan (lower_graph), scheduling the loader and the
// result (LoweredPlan) are not part of it.
#pragma once

#include <dnnl.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/graph.h"
#include "enclave/lowering/descriptors.h"
#include "enclave/lowering/lower_graph.h"
#include "enclave/lowering/lowered_plan.h"
#include "enclave/lowering/plan_builder.h"
#include "enclave/lowering/post_ops.h"
#include "enclave/lowering/spill_plan.h"
#include "enclave/lowering/weight_streamer.h"

namespace teeinfer {

class LoweringContext {
 public:
  LoweringContext(PlanBuilder& plan, WeightStreamer& weights, SpillPlan& spills);

  // What is being lowered, and how.
  const Graph& graph() const { return plan_.graph(); }
  const dnnl::engine& engine() const { return plan_.engine(); }
  ExecutionMode mode() const { return plan_.options().mode; }
  // The layout convolutions and pools keep activations in.
  Layout activation_layout() const;
  // Output rows per band of a banded convolution (0: whole).
  int64_t conv_band_rows(const Node& n) const;
  // The Winograd implementation a whole Conv runs ("": direct): chosen for it, and its
  // weights are resident (a streamed weight would be transformed again at every run).
  std::string winograd_impl(const Node& n) const;
  // True when n is a dilated conv the options compute as phases and its weights are resident.
  bool dilated_phases(const Node& n) const;

  // The value as consumed by the step being built, in `layout` (reordered if needed).
  Slot input(ValueId v, Layout layout);
  // The value in whatever layout it already has.
  Slot input_as_is(ValueId v);
  // A fresh buffer for a node's output.
  Slot output(ValueId v, const dnnl::memory::desc& md);
  // The output shares `base`'s buffer with another descriptor (zero-copy reshape).
  void alias_output(ValueId v, const Slot& base, const dnnl::memory::desc& md);
  // The output takes over `donor`'s buffer when the node being lowered is donor's last
  // reader, nothing else shares the buffer, and the layouts match (in-place residual sum).
  // Returns the output slot, or nullopt (then the caller allocates and copies).
  std::optional<Slot> reuse_for_output(ValueId donor, ValueId out, const dnnl::memory::desc& md);
  // A buffer that only lives during the step being built.
  Slot scratch(const dnnl::memory::desc& md, const std::string& what);
  // The one workspace all layers share (unmodified mode's im2col buffer): sized for the
  // largest request, alive for the whole run. The slot views its first md.get_size() bytes.
  Slot shared_workspace(const dnnl::memory::desc& md);

  // Constants (see WeightStreamer::constant); weights() for streaming in windows.
  Slot constant(ValueId v, const dnnl::memory::desc& md, const dnnl::memory::desc* source_md = nullptr,
                std::vector<float> scales = {});
  Slot constant_bytes(ValueId v);
  WeightStreamer& weights() { return weights_; }
  const WeightStreamer& weights() const { return weights_; }
  // Spilled activations, read and written in bands.
  SpillPlan& spills() { return spills_; }
  const SpillPlan& spills() const { return spills_; }

  // The steps of the node.
  void add_primitive(const std::string& name, const dnnl::primitive& prim, const dnnl::primitive_desc_base& pd,
                     std::vector<std::pair<int, Slot>> args, StepKind kind = StepKind::kCompute);
  // A oneDNN reorder step copying `from` into `to` (any layouts and strides of the same dims).
  void add_reorder(const std::string& name, const Slot& from, const Slot& to, StepKind kind = StepKind::kCompute);
  // Applies activations `ops` to `dst` in place, one eltwise step per oneDNN op: the
  // activations a primitive could not fuse (split_post_ops' rest), after the step `name`.
  void add_eltwise_steps(const std::string& name, const PostOps& ops, const Slot& dst);
  // One element-wise function as oneDNN eltwise steps named `name`: the first reads `src`
  // and writes `dst`, any further one (HardSigmoid is two) runs in place on `dst`.
  void add_eltwise(const std::string& name, const EltwiseParams& e, const Slot& src, const Slot& dst);
  void add_custom(const std::string& name, const std::string& impl, CustomKernel kernel, std::vector<Slot> slots);
  // How a node was lowered when not simply whole ("bands of 8 rows", ...): for `teeinfer plan`.
  void note_strategy(const Node& n, const std::string& how);

 private:
  friend std::unique_ptr<LoweredPlan> lower_graph(const Graph& g, const dnnl::engine& engine, LoweringOptions options,
                                                  size_t load_scratch_bytes, bool staged);
  size_t index_of(const Node& n) const { return static_cast<size_t>(&n - graph().nodes.data()); }
  // Before the first node: the graph inputs' buffers and each value's last reader.
  void begin_graph();

  PlanBuilder& plan_;
  WeightStreamer& weights_;
  SpillPlan& spills_;
  int current_node_ = 0;
  int shared_workspace_ = -1;
  std::map<int, int> values_per_buffer_;               // primary slots sharing each buffer (views count)
  std::vector<int> last_reader_;                       // node index of each value's last reader
  std::map<ValueId, Slot> slots_;                      // primary home of each value
  std::map<std::pair<ValueId, int>, Slot> converted_;  // reordered copies by layout
};

}  // namespace teeinfer
