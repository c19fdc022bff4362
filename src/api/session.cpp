// teeinfer::Session and teeinfer::plan (include/teeinfer/teeinfer.h): a model on a TEE
// platform, planned into a budget and run by the trusted core's EnclaveSession.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <optional>

#include "api/model_impl.h"
#include "api/plan_report.h"
#include "common/error.h"
#include "enclave/budget_planner.h"
#include "enclave/enclave_session.h"
#include "host/runner.h"
#include "tee/none/native_platform.h"
#include "tee/sim/epc_region.h"
#include "tee/sim/sgx_latency_model.h"

namespace teeinfer {
namespace {

EnclaveOptions enclave_options(const SessionOptions& o) {
  if (o.threads < 1 || o.threads > 1024)
    throw Error(ErrorCode::kBadArgument, "threads: " + std::to_string(o.threads) + " is not in 1..1024");
  EnclaveOptions e;
  e.mode = o.mode == Mode::kUnmodified ? ExecutionMode::kUnmodified : ExecutionMode::kPlanned;
  e.prefetch_weights = o.prefetch;
  e.clock = [] {  // the host's clock, for measuring kernels (the enclave has none)
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count());
  };
  switch (o.conv_algorithm) {
    case ConvAlgorithm::kAuto:
      e.winograd = WinogradPolicy::kMeasured;
      break;
    case ConvAlgorithm::kDirect:
      e.winograd = WinogradPolicy::kNever;
      break;
    case ConvAlgorithm::kWinograd:
      e.winograd = WinogradPolicy::kWherePossible;
      break;
    default:
      throw Error(ErrorCode::kBadArgument, "SessionOptions.conv_algorithm: " +
                                               std::to_string(static_cast<int>(o.conv_algorithm)) + " is not one");
  }
  // The planned mode fits the emulated EPC unless told otherwise; the unmodified baseline
  // takes what it takes (that is the point of it).
  e.budget_bytes = o.budget_bytes;
  if (!e.budget_bytes && o.platform == Platform::kSim && o.mode == Mode::kPlanned) e.budget_bytes = o.epc_bytes;
  return e;
}

std::unique_ptr<TeePlatform> make_platform(const SessionOptions& o) {
  if (o.platform == Platform::kNone) return std::make_unique<NativePlatform>();
  if (o.epc_bytes < EpcRegion::kMinResidentBytes)
    throw Error(ErrorCode::kBadArgument, "SessionOptions.epc_bytes: the emulated EPC needs at least " +
                                             format_size(EpcRegion::kMinResidentBytes) + ", got " +
                                             std::to_string(o.epc_bytes) + " bytes");
  return std::make_unique<SimPlatform>(o.epc_bytes);
}

// The graph and weight source a session runs: the ONNX model instantiated for the
// session's input dims (the graph's own bytes), or the sealed model opened again.
struct Weights {
  std::shared_ptr<const Graph> onnx_graph;
  OpenedSealedModel sealed;
  std::unique_ptr<InlineConstants> inline_constants;
  const Graph* graph = nullptr;
  WeightSource* source = nullptr;
  std::string description;
};

Weights weights_for(const Model::Impl& m, const std::map<std::string, Dims>& input_dims,
                    const std::vector<Tensor>& input_values) {
  Weights w;
  if (m.sealed.model) {
    if (!input_values.empty())
      throw Error(ErrorCode::kBadArgument, "SessionOptions.input_values: '" + m.path +
                                               "' is sealed: its inputs were bound when it was packed (pack "
                                               "--input-value)");
    size_t profile = choose_profile(m, input_dims);
    w.sealed = open_sealed(m.path, *m.keys, m.options);
    w.sealed.model->select_profile(profile);
    w.graph = &w.sealed.model->graph();
    w.source = w.sealed.model.get();
    w.description = m.description;
  } else {
    w.onnx_graph = instantiate(m, input_dims, &w.description, bound_values(input_values, m.inputs, m.path));
    w.graph = w.onnx_graph.get();
    w.inline_constants = std::make_unique<InlineConstants>(*w.graph);
    w.source = w.inline_constants.get();
  }
  return w;
}

}  // namespace

struct Session::Impl {
  std::shared_ptr<const Model::Impl> model;
  SessionOptions options;
  EnclaveOptions enclave;
  Weights weights;
  std::unique_ptr<TeePlatform> platform;
  std::unique_ptr<EnclaveSession> session;
  mutable std::optional<PlanReport> report;
  mutable std::optional<size_t> minimum;
  uint64_t runs = 0;
  SealedLoadStats sealed_base;  // at the last reset_counters()
  std::vector<Tensor> bound;    // inputs bound to values: not graph inputs
  uint64_t spill_base = 0;

  EpcRegion* epc() const {
    auto* sim = dynamic_cast<SimPlatform*>(platform.get());
    return sim ? sim->last_region() : nullptr;
  }
};

Session::Session(const Model& model, const SessionOptions& options) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.model = model.impl_;
  m.options = options;
  m.enclave = enclave_options(options);
  set_threads(options.threads);
  m.weights = weights_for(*m.model, options.input_dims, options.input_values);
  m.bound = m.model->sealed.model ? m.model->bound_inputs : options.input_values;
  m.platform = make_platform(options);
  m.session = std::make_unique<EnclaveSession>(*m.weights.graph, *m.platform, m.enclave, m.weights.source);
  reset_counters();
}

Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

std::vector<Tensor> Session::run(const std::vector<Tensor>& inputs, const StepCallback& after_step) {
  Impl& m = *impl_;
  const Graph& g = *m.weights.graph;
  auto bound = [&](const Tensor& t) {
    return std::find_if(m.bound.begin(), m.bound.end(), [&](const Tensor& b) { return b.name == t.name; });
  };
  for (const Tensor& t : inputs)
    if (auto b = bound(t); b != m.bound.end()) check_bound_input_given(*b, t);
  std::vector<TensorView> views;
  for (ValueId id : g.inputs) {
    const Value& want = g.value(id);
    auto given = std::find_if(inputs.begin(), inputs.end(), [&](const Tensor& t) { return t.name == want.name; });
    if (given == inputs.end())
      throw Error(ErrorCode::kBadInput,
                  "input '" + want.name + "' is missing (" + std::to_string(inputs.size()) + " tensors given)");
    if (given->dtype != want.dtype || given->dims != want.dims)
      throw Error(ErrorCode::kBadInput, "input '" + want.name + "' must be " + dtype_name(want.dtype) + " " +
                                            dims_to_string(want.dims) + ", got " + dtype_name(given->dtype) + " " +
                                            dims_to_string(given->dims));
    views.push_back(TensorView{want.dtype, want.dims, const_cast<void*>(given->data()), want.name});
  }
  for (const Tensor& t : inputs)
    if (bound(t) == m.bound.end() &&
        std::none_of(g.inputs.begin(), g.inputs.end(), [&](ValueId id) { return g.value(id).name == t.name; }))
      throw Error(ErrorCode::kBadInput, "the model has no input named '" + t.name + "'");
  struct Callback : StepObserver {
    const StepCallback* fn;
    void after_step(size_t step) override { (*fn)(step); }
  } callback;
  callback.fn = &after_step;
  std::vector<OutputTensor> outputs = m.session->run(views, after_step ? &callback : nullptr);
  ++m.runs;
  std::vector<Tensor> out;
  for (OutputTensor& y : outputs) {
    if (y.dtype == DType::kF32) {
      out.push_back(Tensor::f32(std::move(y.name), std::move(y.dims), y.data));
      wipe(y.data.data(), y.data.size() * sizeof(float));  // (plaintext: freed memory keeps what it held)
    } else {                                               // int64 indices (ArgMax): moved, no copy left behind
      out.push_back(Tensor{std::move(y.name), y.dtype, std::move(y.dims), std::move(y.bytes)});
    }
  }
  return out;
}

std::vector<TensorInfo> Session::inputs() const {
  return tensor_infos(*impl_->weights.graph, impl_->weights.graph->inputs);
}

std::vector<TensorInfo> Session::outputs() const {
  return tensor_infos(*impl_->weights.graph, impl_->weights.graph->outputs);
}

const std::string& Session::description() const {
  return impl_->weights.description;
}

const PlanReport& Session::plan() const {
  Impl& m = *impl_;
  if (!m.report) {
    // The same options the session planned with: the same minimum `teeinfer plan` reports.
    BudgetOptions bo = budget_options(*m.weights.graph, m.session->engine(), *m.weights.source, m.enclave);
    size_t least = teeinfer::minimum_budget(*m.weights.graph, m.session->engine(), *m.weights.source, bo);
    m.report =
        plan_report(*m.weights.graph, m.session->lowering(), m.session->budget_plan(), m.enclave.budget_bytes, least);
  }
  return *m.report;
}

size_t Session::minimum_budget() const {
  return plan().min_budget_bytes;
}

Counters Session::counters() const {
  const Impl& m = *impl_;
  Counters c;
  c.runs = m.runs;
  if (const SealedModel* s = m.weights.sealed.model.get()) {
    const SealedLoadStats& now = s->load_stats();
    c.bytes_decrypted = now.bytes - m.sealed_base.bytes;
    c.chunks = now.chunks - m.sealed_base.chunks;
    c.copy_in_ns = now.copy_in_ns - m.sealed_base.copy_in_ns;
    c.decrypt_ns = now.decrypt_ns - m.sealed_base.decrypt_ns;
    c.decode_ns = now.decode_ns - m.sealed_base.decode_ns;
    c.host_reads = now.host_calls - m.sealed_base.host_calls;
  }
  c.spill_blocks_moved = m.session->spill_blocks_moved() - m.spill_base;
  c.arena_peak_bytes = m.session->peak_bytes();
  if (const EpcRegion* epc = m.epc()) {
    EpcStats s = epc->stats();
    c.faults = s.faults;
    c.first_touches = s.first_touches;
    c.evictions = s.evictions;
    c.reloads = s.reloads;
    c.epc_bytes_encrypted = s.bytes_encrypted;
    c.epc_bytes_decrypted = s.bytes_decrypted;
    c.peak_resident_bytes = s.peak_resident_bytes;
    c.pager_ns = s.pager_ns;
    c.pager = epc->mechanism();
  }
  return c;
}

void Session::reset_counters() {
  Impl& m = *impl_;
  m.runs = 0;
  if (const SealedModel* s = m.weights.sealed.model.get()) m.sealed_base = s->load_stats();
  m.spill_base = m.session->spill_blocks_moved();
  if (EpcRegion* epc = m.epc()) epc->reset_stats();
}

Session::FaultFree Session::time_fault_free(const std::vector<Tensor>& inputs, int repeat) {
  Impl& m = *impl_;
  EpcRegion* epc = m.epc();
  if (!epc) throw Error(ErrorCode::kBadArgument, "fault-free timing needs the emulated EPC (Platform::kSim)");
  if (repeat < 1) throw Error(ErrorCode::kBadArgument, "repeat must be at least 1");
  // The same session, timed while the emulated EPC may hold every page of its region (one
  // untimed run brings them all in); the caller's counters are left as they were.
  const EpcStats before = epc->stats();
  const uint64_t runs = m.runs;
  const size_t limit = epc->resident_limit_bytes();
  epc->set_resident_limit(epc->size());
  run(inputs);
  epc->reset_stats();
  std::vector<double> ms;
  for (int i = 0; i < repeat; ++i) {
    double t0 = now_ms();
    run(inputs);
    ms.push_back(now_ms() - t0);
  }
  FaultFree f{median(ms), epc->stats().faults};
  epc->set_resident_limit(limit);
  epc->restore_stats(before);
  m.runs = runs;
  return f;
}

PlanReport plan(const Model& model, const SessionOptions& options) {
  const Model::Impl& m = model.impl();
  EnclaveOptions e = enclave_options(options);
  // Kernels' scratch memory depends on the thread count: plan for the threads a session
  // with these options runs on, whatever this process last used.
  set_threads(options.threads);
  Weights w = weights_for(m, options.input_dims, options.input_values);
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  BudgetOptions bo = budget_options(*w.graph, engine, *w.source, e);
  size_t least = minimum_budget(*w.graph, engine, *w.source, bo);
  BudgetPlan p = plan_for_budget(*w.graph, engine, *w.source, bo);
  return plan_report(*w.graph, *p.lowering, p, e.budget_bytes, least);
}

SgxLatency model_sgx_latency(double compute_ms, double faults_per_run, double host_calls_per_run,
                             const SgxCosts& costs) {
  return model_sgx_latency(SgxCostParams{.compute_ms = compute_ms,
                                         .faults_per_run = faults_per_run,
                                         .host_calls_per_run = host_calls_per_run,
                                         .fault_cycles = costs.fault_cycles,
                                         .transition_cycles = costs.transition_cycles,
                                         .cycles_per_second = measured_tsc_hz()});
}

}  // namespace teeinfer
