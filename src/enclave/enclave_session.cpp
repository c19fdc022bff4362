#include "enclave/enclave_session.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "common/error.h"
#include "enclave/budget_planner.h"
#include "enclave/loader_thread.h"
#include "enclave/lowering/descriptors.h"
#include "enclave/lowering/lowered_plan.h"
#include "enclave/op_lowering/conv_dilated_phases.h"
#include "enclave/spill_store.h"

namespace teeinfer {

struct EnclaveSession::Impl {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  std::unique_ptr<LoweredPlan> lowering;
  std::unique_ptr<SecureRegion> region;
  std::unique_ptr<SecureArena> arena;
  std::vector<std::byte*> buffer_ptrs;
  std::vector<std::unordered_map<int, dnnl::memory>> step_args;
  std::vector<std::vector<void*>> step_ptrs;
  std::vector<TensorInfo> input_specs;
  std::vector<TensorInfo> output_specs;
  size_t weight_bytes = 0;
  std::unique_ptr<InlineConstants> inline_constants;
  WeightSource* weights = nullptr;
  TeePlatform* platform = nullptr;
  BudgetPlan plan;  // its lowering has moved to `lowering`
  std::unique_ptr<LoaderThread> loader;
  std::unique_ptr<SpillStore> spill;  // sealed activations in host memory, if the plan spills
  // By graph output: the host's buffer of an output written out in bands (OutputStep),
  // outside the secure region (it leaves in plaintext anyway); null for one in the arena.
  std::vector<std::unique_ptr<std::byte[]>> host_outputs;
  dnnl::stream loader_stream{engine};

  void* ptr(const Slot& s) const { return buffer_ptrs.at(static_cast<size_t>(s.buffer)) + s.offset; }
  dnnl::memory mem(const Slot& s) const { return dnnl::memory(s.md, engine, ptr(s)); }
  void load_constants(WeightSource& weights);
  void bind_steps();
  void start_loader();
  void execute(size_t step, dnnl::stream& on);
  void run_steps(StepObserver* observer);
};

// Runs step s on stream `on`: a primitive is queued; anything else waits for the stream,
// then runs on the calling thread over the step's bound pointers (slots_of order).
void EnclaveSession::Impl::execute(size_t s, dnnl::stream& on) {
  const std::vector<void*>& ptrs = step_ptrs[s];
  struct Run {
    Impl& self;
    dnnl::stream& on;
    size_t s;
    const std::vector<void*>& ptrs;
    void operator()(const PrimitiveStep& step) const { step.primitive.execute(on, self.step_args[s]); }
    void operator()(const CustomStep& step) const {
      on.wait();
      step.kernel(ptrs);
    }
    void operator()(const StreamReadStep& read) const {
      on.wait();
      self.weights->read_rows(read.value, read.first_row, read.rows, static_cast<std::byte*>(ptrs[0]));
    }
    void operator()(const OutputStep& out) const { out.reorder.execute(on, self.step_args[s]); }
    void operator()(const SpillStep& io) const {
      on.wait();
      auto* rows = static_cast<std::byte*>(ptrs[0]);
      for (int64_t i = 0; i < io.blocks; ++i) {
        std::byte* row = rows + static_cast<size_t>(i) * io.block_bytes;
        size_t at = io.host_offset + static_cast<size_t>(i) * (io.block_bytes + kTagBytes);
        if (io.seal)
          self.spill->seal(io.first_block + static_cast<uint64_t>(i), at, row, io.block_bytes);
        else
          self.spill->unseal(io.first_block + static_cast<uint64_t>(i), at, row, io.block_bytes);
      }
    }
  };
  std::visit(Run{*this, on, s, ptrs}, lowering->steps()[s].action);
}

void EnclaveSession::Impl::start_loader() {
  std::vector<int> steps, starts;
  const auto& all = lowering->steps();
  for (size_t s = 0; s < all.size(); ++s)
    if (all[s].loader_start >= 0) {
      steps.push_back(static_cast<int>(s));
      starts.push_back(all[s].loader_start);
    }
  if (steps.empty()) return;
  loader = std::make_unique<LoaderThread>(std::move(steps), std::move(starts), [this](int s) {
    platform->prepare_threads();
    execute(static_cast<size_t>(s), loader_stream);
    loader_stream.wait();
  });
}

void EnclaveSession::Impl::run_steps(StepObserver* observer) {
  const auto& steps = lowering->steps();
  if (spill) spill->begin_run();
  if (loader) loader->begin_run();
  try {
    for (size_t s = 0; s < steps.size(); ++s) {
      if (loader && steps[s].loader_start >= 0) continue;
      if (loader) loader->before_main_step(static_cast<int>(s));
      execute(s, stream);
      if (observer) {
        stream.wait();
        observer->after_step(s);
      }
    }
    stream.wait();
  } catch (...) {
    if (loader) try {
        loader->end_run();
      } catch (...) {  // the first error is the one to report
      }
    throw;
  }
  if (loader) loader->end_run();
}

void EnclaveSession::Impl::load_constants(WeightSource& weights) {
  int staging = lowering->staging_buffer(), scratch = lowering->load_scratch_buffer();
  if (scratch >= 0) weights.set_scratch(buffer_ptrs[static_cast<size_t>(scratch)]);
  for (const ConstantLoad& c : lowering->loads()) {
    size_t bytes = c.source_md.get_size();
    if (const std::byte* plain = weights.in_place(c.value)) {  // an unsealed model: reorder from it
      dnnl::memory src(c.source_md, engine, const_cast<std::byte*>(plain)), dst = mem(c.target);
      dnnl::reorder(scaled_reorder(engine, c.source_md, c.target.md, c.scales)).execute(stream, src, dst);
      stream.wait();
    } else if (c.slices.empty()) {  // already the kernel's layout: straight into place
      weights.read(c.value, static_cast<std::byte*>(ptr(c.target)), bytes);
    } else {  // through staging, a slice at a time
      std::byte* stage = buffer_ptrs.at(static_cast<size_t>(staging));
      for (const ReorderSlice& sl : c.slices) {
        weights.read_rows(c.value, sl.first_row, sl.rows, stage);
        dnnl::memory src(sl.source, engine, stage), dst(sl.target, engine, ptr(c.target));
        dnnl::reorder(scaled_reorder(engine, sl.source, sl.target, scale_rows(c.scales, sl.first_row, sl.rows)))
            .execute(stream, src, dst);
        stream.wait();
      }
    }
    weight_bytes += c.target.md.get_size();
  }
  // The load-phase buffers overlap activations: leave no plaintext weights behind there.
  for (int b : {staging, scratch})
    if (b >= 0) std::memset(buffer_ptrs[static_cast<size_t>(b)], 0, lowering->planner().bytes(b));
}

void EnclaveSession::Impl::bind_steps() {
  for (const Step& s : lowering->steps()) {
    std::unordered_map<int, dnnl::memory> args;
    std::vector<void*> ptrs;
    if (const auto* p = std::get_if<PrimitiveStep>(&s.action)) {
      for (const auto& [arg, slot] : p->args) args.emplace(arg, mem(slot));
    } else if (const auto* out = std::get_if<OutputStep>(&s.action)) {
      args.emplace(DNNL_ARG_FROM, mem(out->band));
      args.emplace(DNNL_ARG_TO, dnnl::memory(out->rows_md, engine, host_outputs.at(out->output).get() + out->offset));
    } else {
      for (const Slot& slot : slots_of(s)) ptrs.push_back(ptr(slot));
    }
    step_args.push_back(std::move(args));
    step_ptrs.push_back(std::move(ptrs));
  }
}

BudgetOptions budget_options(const Graph& graph, const dnnl::engine& engine, const WeightSource& weights,
                             const EnclaveOptions& options) {
  BudgetOptions bo{options.budget_bytes, weights.scratch_bytes(), weights.needs_staging(), {}};
  bo.lowering.mode = options.mode;
  if (options.mode == ExecutionMode::kPlanned) {
    bo.lowering.winograd = choose_winograd(graph, engine, options.winograd, options.clock, options.budget_bytes);
    bo.lowering.dilated_phases = dilated_phase_candidates(graph);
  }
  bo.lowering.prefetch = options.prefetch_weights;
  bo.lowering.conv_band_rows = options.conv_band_rows;
  bo.lowering.fused_bands = options.fused_bands;
  bo.lowering.reorder_slice_bytes = options.reorder_slice_bytes;
  bo.lowering.spill_band_bytes = options.spill_band_bytes;
  if (!options.spilled_activations.empty()) {
    bo.lowering.spilled.assign(graph.values.size(), false);
    for (const std::string& name : options.spilled_activations) {
      auto it = std::find_if(graph.values.begin(), graph.values.end(), [&](const Value& v) { return v.name == name; });
      if (it == graph.values.end())
        throw Error(ErrorCode::kBadArgument, "spilled activation '" + name + "' is not a value of the model");
      bo.lowering.spilled[static_cast<size_t>(it - graph.values.begin())] = true;
    }
  }
  return bo;
}

EnclaveSession::EnclaveSession(const Graph& graph, TeePlatform& platform, const EnclaveOptions& options,
                               WeightSource* weights)
    : impl_(std::make_unique<Impl>()) {
  // With an external source (a sealed model) the graph's constants carry no bytes.
  validate_graph(graph, /*constant_bytes_present=*/weights == nullptr);
  if (!weights) {
    impl_->inline_constants = std::make_unique<InlineConstants>(graph);
    weights = impl_->inline_constants.get();
  }
  impl_->weights = weights;
  for (ValueId v : graph.inputs)
    impl_->input_specs.push_back({graph.value(v).name, graph.value(v).dtype, graph.value(v).dims});
  for (ValueId v : graph.outputs)
    impl_->output_specs.push_back({graph.value(v).name, graph.value(v).dtype, graph.value(v).dims});
  BudgetOptions bo = budget_options(graph, impl_->engine, *weights, options);
  impl_->plan = plan_for_budget(graph, impl_->engine, *weights, bo);
  impl_->lowering = std::move(impl_->plan.lowering);
  MemoryPlanner& planner = impl_->lowering->planner();
  size_t need = planner.arena_size();
  size_t budget = options.budget_bytes ? options.budget_bytes : need;
  impl_->platform = &platform;
  impl_->region = platform.allocate_region(need);
  platform.prepare_threads();
  impl_->arena = std::make_unique<SecureArena>(impl_->region->data(), impl_->region->size(), budget);
  const auto& names = impl_->lowering->buffer_names();
  for (int b = 0; b < planner.buffer_count(); ++b)
    impl_->buffer_ptrs.push_back(impl_->arena->reserve(planner.offset(b), planner.bytes(b), names[b]));
  if (impl_->lowering->spill_blocks())
    impl_->spill =
        std::make_unique<SpillStore>(platform, impl_->lowering->spill_blocks(), impl_->lowering->spill_host_bytes());
  for (const PlanOutput& o : impl_->lowering->outputs())
    impl_->host_outputs.push_back(o.arena ? nullptr
                                          : platform.allocate_untrusted(byte_size(
                                                graph.value(o.value).dtype, graph.value(o.value).dims, "output")));
  impl_->load_constants(*weights);
  impl_->bind_steps();
  impl_->start_loader();
}

EnclaveSession::~EnclaveSession() = default;

std::vector<OutputTensor> EnclaveSession::run(const std::vector<TensorView>& inputs, StepObserver* observer) {
  Impl& m = *impl_;
  m.platform->prepare_threads();
  if (inputs.size() != m.input_specs.size())
    throw Error(ErrorCode::kBadInput, "the model takes " + std::to_string(m.input_specs.size()) + " input(s), got " +
                                          std::to_string(inputs.size()));
  const auto& in_slots = m.lowering->inputs();
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto& [name, dtype, dims] = m.input_specs[i];
    if (inputs[i].dtype != dtype || inputs[i].dims != dims)
      throw Error(ErrorCode::kBadInput, "input '" + name + "' must be " + dtype_name(dtype) + " " +
                                            dims_to_string(dims) + ", got " + dtype_name(inputs[i].dtype) + " " +
                                            dims_to_string(inputs[i].dims));
    std::memcpy(m.ptr(in_slots[i].second), inputs[i].data, inputs[i].bytes());
  }
  m.run_steps(observer);
  std::vector<OutputTensor> out;
  const auto& out_slots = m.lowering->outputs();
  for (size_t i = 0; i < out_slots.size(); ++i) {
    const auto& [name, dtype, dims] = m.output_specs[i];
    OutputTensor t{name, dims, {}, dtype, {}};
    const std::byte* from = out_slots[i].arena ? static_cast<const std::byte*>(m.ptr(*out_slots[i].arena))
                                               : m.host_outputs[i].get();  // written there band by band
    if (dtype == DType::kF32) {
      t.data.resize(static_cast<size_t>(element_count(t.dims, t.name)));
      std::memcpy(t.data.data(), from, t.data.size() * sizeof(float));
    } else {
      t.bytes.resize(byte_size(dtype, dims, name));
      std::memcpy(t.bytes.data(), from, t.bytes.size());
    }
    out.push_back(std::move(t));
  }
  return out;
}

size_t EnclaveSession::arena_bytes() const {
  return impl_->lowering->planner().arena_size();
}
size_t EnclaveSession::peak_bytes() const {
  return impl_->arena->peak_bytes();
}
size_t EnclaveSession::weight_bytes() const {
  return impl_->weight_bytes;
}
size_t EnclaveSession::streamed_bytes() const {
  return impl_->plan.streamed_bytes;
}
uint64_t EnclaveSession::spill_blocks_moved() const {
  return impl_->spill ? impl_->spill->blocks_moved() : 0;
}

size_t EnclaveSession::spilled_bytes() const {
  return impl_->plan.spilled_bytes;
}
int EnclaveSession::streamed_constants() const {
  return impl_->plan.streamed_constants;
}
const BudgetPlan& EnclaveSession::budget_plan() const {
  return impl_->plan;
}
const LoweredPlan& EnclaveSession::lowering() const {
  return *impl_->lowering;
}
const dnnl::engine& EnclaveSession::engine() const {
  return impl_->engine;
}
std::string EnclaveSession::memory_plan_ascii() const {
  return impl_->lowering->planner().to_ascii();
}
const std::vector<TensorInfo>& EnclaveSession::input_specs() const {
  return impl_->input_specs;
}

std::vector<StepInfo> EnclaveSession::steps() const {
  std::vector<StepInfo> out;
  for (const Step& s : impl_->lowering->steps()) out.push_back({s.name, s.impl, s.kind});
  return out;
}

}  // namespace teeinfer
