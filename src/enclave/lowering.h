// Lowering: turns an IR Graph into a list of Steps (oneDNN primitives or plain C++
// kernels) over arena buffers, and records every buffer's size and lifetime for the
// MemoryPlanner. Kernel files (enclave/kernels/*.cpp) each expose one `lower_*`
// function that reads a Node and calls this context.
//
// Layout rule (measured, see DESIGN.md): activations of 3-D..5-D tensors stay
// channels-last between conv/pool layers; ops that depend on element order (Reshape,
// Transpose, Gemm/MatMul, Softmax over flattened dims) ask for plain row-major, and the
// context inserts one reorder per value and layout when needed.
#pragma once

#include <dnnl.hpp>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/graph.h"
#include "enclave/execution_mode.h"
#include "enclave/memory_planner.h"
#include "enclave/weight_source.h"

namespace teeinfer {

enum class Layout { kPlain, kChannelsLast };

// Where a value lives: a planned buffer, the memory descriptor over it, and where in the
// buffer the descriptor starts (non-zero for per-group views).
struct Slot {
  int buffer = -1;
  dnnl::memory::desc md;
  size_t offset = 0;  // bytes
};

// Rows of a constant read from the WeightSource at every run (decrypted, for a sealed
// model) into the step's first slot: how the budget planner streams weights.
struct StreamRead {
  ValueId value = kNoValue;
  int64_t first_row = 0, rows = 0;
};

// Rows of a spilled activation sealed out of the step's first slot to host memory, or
// unsealed back into it (SpillStore): one block per image row.
struct SpillIo {
  bool seal = false;  // arena -> host; false: host -> arena
  uint64_t first_block = 0;
  int64_t blocks = 0;
  size_t block_bytes = 0;
};

// A hand-written kernel: gets the base pointers of its slots, in the order given.
using CustomKernel = std::function<void(const std::vector<void*>&)>;

struct Step {
  std::string name;  // node name (or "reorder <value>")
  std::string impl;  // oneDNN implementation, or "teeinfer:<kernel>"
  dnnl::primitive primitive;
  std::vector<std::pair<int, Slot>> args;  // DNNL_ARG_* -> slot (primitive steps)
  CustomKernel custom;                     // set instead of primitive
  std::vector<Slot> custom_slots;
  std::optional<StreamRead> stream;  // set instead of both: a weight read
  std::optional<SpillIo> spill;      // or an activation spill
  // Weight reads, and the reorders of what they read, run on the loader thread when
  // prefetching: it may start this step once main-thread step `loader_start` has begun
  // (see Lowering::schedule_loader). -1: a main-thread step.
  int loader_start = -1;
};

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
  // node's output per band (kernels/band_chain.cpp).
  std::map<size_t, std::pair<size_t, int64_t>> fused_bands = {};
  // Staged constants reorder through slices of about this many bytes (see ConstantLoad).
  size_t reorder_slice_bytes = size_t{1} << 20;
  // By ValueId: activations kept sealed in host memory instead of the arena (encrypted
  // activation spill); the Conv/Pool nodes that produce and read them run in bands of
  // about spill_band_bytes of output rows (kernels/spilled_bands.cpp).
  std::vector<bool> spilled = {};
  size_t spill_band_bytes = size_t{256} << 10;
  // Streamed weights are read by a loader thread one main step ahead of their use, so
  // decryption overlaps compute; the plan reserves their buffers for that step too.
  bool prefetch = false;
  // Chunking of streamed constants (row_granularity); required when any is streamed.
  const WeightSource* weights = nullptr;
};

// A constant to bring into the arena once, at load time: its plain row-major bytes
// (described by source_md) land in `target`, through the staging buffer and a reorder
// when target's layout differs.
// One slice of a reordered constant: rows [first_row, first_row + rows) of its plain
// bytes (described by `source` over the staging buffer) land in `target`, a sub-block of
// the constant's buffer.
struct ReorderSlice {
  int64_t first_row = 0, rows = 0;
  dnnl::memory::desc source, target;
};

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

// A reorder from `from` to `to`, multiplying by `scales` (one per index of the leading
// dims whose product is scales.size(); empty: none).
dnnl::reorder::primitive_desc scaled_reorder(const dnnl::engine& engine, const dnnl::memory::desc& from,
                                             const dnnl::memory::desc& to, const std::vector<float>& scales);
// The scales of rows [first, first + count).
std::vector<float> scale_rows(const std::vector<float>& scales, int64_t first, int64_t count);

// The load phase happens before step 0: only persistent buffers and load scratch live then.
constexpr int kLoadStep = -1;

dnnl::memory::dims to_dnnl_dims(const Dims& d);
dnnl::memory::desc layout_md(const Dims& dims, Layout layout);
bool is_layout(const dnnl::memory::desc& md, Layout layout);
// Strides of a strided (non-blocked) md, in elements.
dnnl::memory::dims strides_of(const dnnl::memory::desc& md);
// A conv/pool window in oneDNN's terms (dilation counts the gaps: ONNX d -> d - 1).
struct DnnlWindow {
  dnnl::memory::dims strides, dilations, pads_begin, pads_end;
};
DnnlWindow dnnl_window(const Dims& strides, const Dims& dilations, const Dims& pads_begin, const Dims& pads_end);
// Appends the oneDNN eltwise ops implementing `p` (HardSigmoid needs two).
void append_eltwise(dnnl::post_ops& po, const EltwiseParams& p);
dnnl::primitive_attr attr_with(const PostOps& post_ops);

// oneDNN 2.6's jit kernels (brgconv, jit depthwise conv, brgemm matmul, ...) make one
// eltwise injector per algorithm of a post-op chain, with the parameters of that
// algorithm's first op: a chain using an algorithm twice with different parameters
// computes both with the first's (LeakyRelu(0.5) then LeakyRelu(0.2) gives slope 0.25;
// see FusedActivations.OneDnnComputesARepeatedAlgorithmWithItsFirstParameters in
// test_graph_passes). ReLU and LeakyRelu share eltwise_relu, Clip and HardSigmoid
// eltwise_clip_v2, HardSigmoid and Gemm's beta scaling eltwise_linear. So a primitive
// fuses `fused`, the longest prefix of its activations `ops` that, after the post-ops it
// puts first (`leading`), repeats no algorithm with other parameters; `rest` runs as
// separate in-place eltwise steps (Lowering::add_eltwise_steps) on its output.
struct PostOpSplit {
  PostOps fused, rest;
};
PostOpSplit split_post_ops(const PostOps& ops, const dnnl::post_ops& leading = dnnl::post_ops());
// The first oneDNN eltwise algorithm that `po` uses twice with different parameters, as
// "eltwise_relu (alpha 0.5, beta 0 then alpha 0.2, beta 0)"; "" when none does.
std::string repeated_eltwise_algorithm(const dnnl::post_ops& po);

class Lowering {
 public:
  Lowering(const Graph& g, const dnnl::engine& engine, LoweringOptions options = {});

  // Builds all steps; afterwards buffers(), steps(), loads() and outputs() are final.
  // `load_scratch_bytes`: extra arena the weight source needs while loading.
  // `staged`: constants needing a layout change come through an arena staging buffer
  // (sealed weights); otherwise they are reordered from where the source holds them.
  void lower_all(size_t load_scratch_bytes = 0, bool staged = false);
  // Load-phase buffers: staging for reordered constants, and the weight source's scratch
  // (-1 when not needed).
  int staging_buffer() const { return staging_buffer_; }
  int load_scratch_buffer() const { return load_scratch_buffer_; }

  const Graph& graph() const { return g_; }
  const dnnl::engine& engine() const { return engine_; }
  ExecutionMode mode() const { return options_.mode; }
  bool is_streamed(ValueId v) const {
    return static_cast<size_t>(v) < options_.streamed.size() && options_.streamed[v];
  }
  const LoweringOptions& options() const { return options_; }
  int64_t conv_band_rows(const Node& n) const {
    auto it = options_.conv_band_rows.find(static_cast<size_t>(&n - g_.nodes.data()));
    return it == options_.conv_band_rows.end() ? 0 : it->second;
  }
  // The layout convolutions and pools keep activations in.
  Layout activation_layout() const {
    return options_.mode == ExecutionMode::kUnmodified ? Layout::kPlain : Layout::kChannelsLast;
  }

  // The value as consumed by the step being built, in `layout` (reordered if needed).
  Slot input(ValueId v, Layout layout);
  // The value in whatever layout it already has.
  Slot input_as_is(ValueId v);
  // A constant reordered at load time into `md` (e.g. a weights layout oneDNN chose).
  // `source_md` describes the constant's bytes (default: plain over md's dims, in the
  // constant's dtype). A streamed constant is instead read (and reordered) by steps added
  // here, before the caller's. Rows are multiplied by `scales` when given; an int8 weight
  // asked for as float32 is dequantized with its node's weight scales.
  Slot constant(ValueId v, const dnnl::memory::desc& md, const dnnl::memory::desc* source_md = nullptr,
                std::vector<float> scales = {});
  // A constant of any dtype kept resident as its raw bytes (int8 weights), loaded as is.
  Slot constant_bytes(ValueId v);
  // Adds a step reading rows [first_row, first_row + rows) of constant v into `dst`.
  void add_stream(ValueId v, int64_t first_row, int64_t rows, const Slot& dst);
  // Adds the reorder of streamed weight bytes (from add_stream) into a kernel's layout,
  // times `scales` (see scaled_reorder): loader-thread work when prefetching.
  void add_weight_reorder(const std::string& name, const Slot& from, const Slot& to,
                          const std::vector<float>& scales = {});
  // The weight scales of the int8 constant v, from the node being lowered.
  const std::vector<float>& weight_scales(ValueId v) const;
  // Row windows for streamed weights: two alternating buffers when prefetching (one is
  // filled while the other is read), else one. Returns the window for chunk `index`.
  Slot stream_window(const std::vector<Slot>& windows, size_t index) const { return windows[index % windows.size()]; }
  int stream_window_count() const { return options_.prefetch ? 2 : 1; }
  bool uses_loader() const { return loader_steps_ > 0; }
  bool is_spilled(ValueId v) const {
    return v != kNoValue && static_cast<size_t>(v) < options_.spilled.size() && options_.spilled[v];
  }
  // Whether node n reads or writes a spilled activation (then it runs in bands).
  bool spills_at(const Node& n) const;
  // Output rows per band for a node next to a spilled activation.
  int64_t spill_band_rows(const Node& n) const;
  // Adds a step sealing rows [first_row, first_row + rows) of image `image` of spilled
  // activation v out of `band` (seal), or unsealing them into it.
  void add_spill(ValueId v, bool seal, int64_t image, int64_t first_row, int64_t rows, const Slot& band);
  // How a node was lowered when not simply whole ("bands of 8 rows", ...), by node index:
  // for `teeinfer plan`.
  void note_strategy(const Node& n, const std::string& how) {
    strategies_[static_cast<size_t>(&n - g_.nodes.data())] = how;
  }
  const std::map<size_t, std::string>& strategies() const { return strategies_; }
  // The host memory spilled activations need: blocks and the largest block.
  uint64_t spill_blocks() const { return spill_blocks_; }
  size_t spill_block_bytes() const { return spill_block_bytes_; }
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

  // Refuses (kKernel) a primitive whose post-op chain repeats an eltwise algorithm with
  // other parameters: oneDNN 2.6 would compute it wrongly (see split_post_ops).
  void add_primitive(const std::string& name, const dnnl::primitive& prim, const dnnl::primitive_desc_base& pd,
                     std::vector<std::pair<int, Slot>> args);
  // Applies activations `ops` to `dst` in place, one eltwise step per oneDNN op: the
  // activations a primitive could not fuse (split_post_ops' rest), after the step `name`.
  void add_eltwise_steps(const std::string& name, const PostOps& ops, const Slot& dst);
  void add_custom(const std::string& name, const std::string& impl, CustomKernel kernel, std::vector<Slot> slots);

  MemoryPlanner& planner() { return planner_; }
  const MemoryPlanner& planner() const { return planner_; }
  const std::vector<Step>& steps() const { return steps_; }
  const std::vector<ConstantLoad>& loads() const { return loads_; }
  const std::vector<std::pair<ValueId, Slot>>& inputs() const { return inputs_; }
  const std::vector<std::pair<ValueId, Slot>>& outputs() const { return outputs_; }
  const std::vector<std::string>& buffer_names() const { return buffer_names_; }

 private:
  int new_buffer(const dnnl::memory::desc& md, const std::string& name, bool persistent);
  void touch(const Slot& s);
  int current_step() const { return static_cast<int>(steps_.size()); }

  Slot streamed_constant(ValueId v, const dnnl::memory::desc& md, const dnnl::memory::desc& source_md,
                         const std::vector<float>& scales);
  std::vector<ReorderSlice> reorder_slices(ValueId v, const dnnl::memory::desc& source_md,
                                           const dnnl::memory::desc& target_md, const std::vector<float>& scales) const;
  // reorder_slices(), or the whole tensor as one slice.
  std::vector<ReorderSlice> reorder_plan(ValueId v, const dnnl::memory::desc& source_md,
                                         const dnnl::memory::desc& target_md, const std::vector<float>& scales) const;
  void schedule_loader();

  const Graph& g_;
  dnnl::engine engine_;
  LoweringOptions options_;
  bool streams_ = false;
  int loader_steps_ = 0;
  int shared_workspace_ = -1;
  MemoryPlanner planner_;
  std::vector<std::string> buffer_names_;
  std::vector<bool> persistent_;
  std::vector<int> values_per_buffer_;  // primary slots sharing each buffer (views count)
  std::vector<int> last_reader_;        // node index of each value's last reader
  int current_node_ = 0;
  std::vector<Step> steps_;
  std::vector<ConstantLoad> loads_;
  std::map<ValueId, Slot> slots_;                      // primary home of each value
  std::map<std::pair<ValueId, int>, Slot> converted_;  // reordered copies by layout
  std::vector<std::pair<ValueId, Slot>> inputs_, outputs_;
  int staging_buffer_ = -1, load_scratch_buffer_ = -1;
  std::map<size_t, std::string> strategies_;
  std::map<ValueId, uint64_t> spill_base_;  // first block of each spilled activation
  uint64_t spill_blocks_ = 0;
  size_t spill_block_bytes_ = 0;
};

}  // namespace teeinfer
