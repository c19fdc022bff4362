// `teeinfer run` and `teeinfer eval`.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/units.h"
#include "enclave/enclave_session.h"
#include "host/cli/commands.h"
#include "host/cli/model_source.h"
#include "host/cli/option_checks.h"
#include "host/file_io.h"
#include "host/idx_dataset.h"
#include "host/image.h"
#include "host/model_loader.h"
#include "host/npy.h"
#include "host/runner.h"
#include "tee/none/native_platform.h"
#include "tee/sim/epc_region.h"
#include "tee/sim/sgx_latency_model.h"

namespace teeinfer::cli {
namespace {

using json = nlohmann::json;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The model's single input: its name and dims (ONNX: declared, -1 where dynamic).
std::pair<std::string, Dims> declared_input(const ModelOptions& o, const OnnxModel& model) {
  auto specs = model.declared_inputs();
  if (specs.size() != 1)
    throw Error(ErrorCode::kUnsupported, "'" + o.model + "' has " + std::to_string(specs.size()) +
                                             " inputs; the CLI feeds models with exactly one");
  if (!o.input_shape.empty()) return {specs[0].first, parse_dims(o.input_shape, "--input-shape")};
  return specs[0];
}

Normalization normalization(const ModelOptions& o, int64_t channels) {
  Normalization n = Normalization::for_channels(channels);
  if (!o.mean.empty()) n.mean = o.mean;
  if (!o.std.empty()) n.std = o.std;
  for (float s : n.std)
    if (s == 0.f) throw Error(ErrorCode::kBadArgument, "--std values must be non-zero");
  return n;
}

// `memory_limit` > 0: an image is decoded into the model's input dims only when a tensor of
// those dims fits the limit (a model may declare an input of any size).
HostTensor load_input(const ModelOptions& o, const std::string& path, const std::string& name, const Dims& dims,
                      uint64_t memory_limit = 0) {
  if (ends_with(path, ".npy")) return read_npy(path);
  Dims d = resolve_input_dims(name, dims);
  if (memory_limit) MemoryBudget(memory_limit).check(DType::kF32, d, name);
  return load_image(path, d, normalization(o, d.size() > 1 ? d[1] : 3));
}

// An .npy of K > 1 inputs stacked along dim 0 (each shaped as the model's input).
bool is_sample_stack(const Dims& got, const Dims& want) {
  return !want.empty() && got.size() == want.size() && want[0] > 0 && got[0] > want[0] && got[0] % want[0] == 0 &&
         std::equal(got.begin() + 1, got.end(), want.begin() + 1);
}

// Opens the model and reads the input it takes; the ONNX path instantiates the model for
// the input's dims, the sealed one has them fixed since packing.
ModelSource open_with_input(const ModelOptions& o, const std::string& input_path, HostTensor& x, std::string& name) {
  if (is_sealed_file(o.model)) {
    if (!o.input_shape.empty())
      throw Error(ErrorCode::kBadArgument, "--input-shape is fixed when a model is packed; it cannot change at run");
    ModelSource m = ModelSource::sealed(o.model, o.key, sealed_load_options(o.min_version, o.model_id));
    const Graph& g = m.graph();
    if (g.inputs.size() != 1) throw Error(ErrorCode::kUnsupported, "the CLI feeds models with exactly one input");
    name = g.value(g.inputs[0]).name;
    x = load_input(o, input_path, name, g.value(g.inputs[0]).dims);
    return m;
  }
  refuse_model_id_for_onnx(o.model, o.model_id);
  OnnxModel onnx = OnnxModel::open(o.model);
  auto [n, declared] = declared_input(o, onnx);
  name = n;
  uint64_t max_memory = parse_max_memory(o.max_memory);
  x = load_input(o, input_path, name, declared, onnx.memory_limit(max_memory));
  // A model with a fixed batch runs a stack of inputs one batch at a time.
  bool fixed = !declared.empty() && std::all_of(declared.begin(), declared.end(), [](int64_t d) { return d > 0; });
  return ModelSource::onnx(onnx, name, fixed && is_sample_stack(x.dims, declared) ? declared : x.dims, max_memory);
}

std::vector<std::string> read_class_names(const std::string& path) {
  std::vector<std::string> names;
  if (path.empty()) return names;
  std::string text = read_file(path), line;
  for (char c : text) {
    if (c == '\n') {
      names.push_back(line);
      line.clear();
    } else if (c != '\r') {
      line += c;
    }
  }
  if (!line.empty()) names.push_back(line);
  return names;
}

void print_steps(EnclaveSession& session, const std::vector<TensorView>& inputs, const RunOptions& r) {
  std::vector<double> ms = r.profile ? profile_steps(session, inputs, r.repeat) : std::vector<double>{};
  auto steps = session.steps();
  double total = 0;
  for (double v : ms) total += v;
  for (size_t i = 0; i < steps.size(); ++i) {
    if (r.profile)
      std::printf("  %8.3f ms %5.1f%%  %-50s %s\n", ms[i], 100 * ms[i] / total, steps[i].name.c_str(),
                  steps[i].impl.c_str());
    else
      std::printf("  %-50s %s\n", steps[i].name.c_str(), steps[i].impl.c_str());
  }
}

std::unique_ptr<TeePlatform> make_platform(const ModelOptions& o) {
  if (o.tee == "none") return std::make_unique<NativePlatform>();
  if (o.tee == "sim") {
    uint64_t epc = parse_bytes(o.epc, "--epc");
    if (epc < EpcRegion::kMinResidentBytes)
      throw Error(ErrorCode::kBadArgument,
                  "--epc " + o.epc + ": the emulated EPC needs at least " + format_bytes(EpcRegion::kMinResidentBytes));
    return std::make_unique<SimPlatform>(epc);
  }
  throw Error(ErrorCode::kBadArgument, "--tee: '" + o.tee + "' is not one of none, sim");
}

// Enclave exits so far: sealed-chunk reads through HostInterface and spilled blocks moved
// to or from host memory (each an OCALL in SGX).
uint64_t host_calls(const ModelSource& model, const EnclaveSession& session) {
  return (model.sealed_model() ? model.sealed_model()->load_stats().host_calls : 0) + session.spill_blocks_moved();
}

struct FaultFreeTiming {
  Timing timing;
  uint64_t faults = 0;  // during the timed runs: 0 unless the region could not hold the plan
};

// The compute time of the same plan without faults: the same session, timed while the
// emulated EPC may hold every page of its region (one untimed run brings them all in).
FaultFreeTiming time_fault_free(EnclaveSession& session, const std::vector<TensorView>& inputs, EpcRegion& region,
                                int repeat) {
  const size_t limit = region.resident_limit_bytes();
  region.set_resident_limit(region.size());
  session.run(inputs);
  region.reset_stats();
  FaultFreeTiming f{time_runs(session, inputs, 0, repeat), 0};
  f.faults = region.stats().faults;
  region.set_resident_limit(limit);
  return f;
}

// Pager counters per run, and the modelled SGX latency (tee/sim/sgx_latency_model.h) beside
// the emulated wall time and the fault-free compute time it is built on.
json epc_report(const EpcStats& s, int runs, double wall_median_ms, const FaultFreeTiming& compute,
                double host_calls_per_run, const ModelOptions& o, size_t epc_bytes, const char* mechanism) {
  const double per = 1.0 / std::max(runs, 1);
  const SgxLatency sgx = model_sgx_latency({.compute_ms = compute.timing.median_ms(),
                                            .faults_per_run = static_cast<double>(s.faults) * per,
                                            .host_calls_per_run = host_calls_per_run,
                                            .fault_cycles = o.fault_cycles,
                                            .transition_cycles = o.ocall_cycles,
                                            .cycles_per_second = measured_tsc_hz()});
  return json{{"epc_bytes", epc_bytes},
              {"pager", mechanism},
              {"per_run",
               {{"faults", s.faults * per},
                {"first_touches", s.first_touches * per},
                {"evictions", s.evictions * per},
                {"reloads", s.reloads * per},
                {"bytes_encrypted", s.bytes_encrypted * per},
                {"bytes_decrypted", s.bytes_decrypted * per},
                {"pager_ms", s.pager_ns * per / 1e6},
                {"host_calls", host_calls_per_run}}},
              {"peak_resident_bytes", s.peak_resident_bytes},
              {"fault_cycles", o.fault_cycles},
              {"ocall_cycles", o.ocall_cycles},
              {"cycles_per_second", measured_tsc_hz()},
              {"compute_faults_per_run", static_cast<double>(compute.faults) * per},
              {"compute_ms", sgx.compute_ms},
              {"fault_ms", sgx.fault_ms},
              {"transition_ms", sgx.transition_ms},
              {"modelled_sgx_latency_ms", sgx.modelled_ms},
              {"wall_latency_ms", wall_median_ms}};
}

// The planned mode fits the emulated EPC unless told otherwise; the unmodified baseline
// takes what it takes (that is the point of it).
EnclaveOptions session_options(const ModelOptions& o) {
  EnclaveOptions s;
  s.mode = o.mode == "unmodified" ? ExecutionMode::kUnmodified : ExecutionMode::kPlanned;
  s.prefetch_weights = o.prefetch;
  if (!o.budget.empty())
    s.budget_bytes = parse_nonzero_bytes(o.budget, "--budget");
  else if (o.tee == "sim" && s.mode == ExecutionMode::kPlanned)
    s.budget_bytes = parse_bytes(o.epc, "--epc");
  return s;
}

}  // namespace

namespace {

// Runs each input of a stack in turn and writes the outputs stacked the same way.
int run_stack(EnclaveSession& session, const HostTensor& x, const std::string& name, const Dims& want,
              const std::string& output, bool as_json) {
  const int64_t count = x.dims[0] / want[0];
  const size_t each = x.data.size() / static_cast<size_t>(count);
  std::vector<float> ys;
  Dims y_dims;
  const bool show_progress = count >= 20 && ::isatty(STDERR_FILENO);
  for (int64_t i = 0; i < count; ++i) {
    HostTensor one{want, std::vector<float>(x.data.begin() + static_cast<long>(each * static_cast<size_t>(i)),
                                            x.data.begin() + static_cast<long>(each * static_cast<size_t>(i + 1)))};
    OutputTensor y = session.run({one.view(name)})[0];
    ys.insert(ys.end(), y.data.begin(), y.data.end());
    y_dims = y.dims;
    if (show_progress && (i + 1) % (count / 10) == 0)
      std::fprintf(stderr, "\r%lld/%lld inputs", static_cast<long long>(i + 1), static_cast<long long>(count));
  }
  if (show_progress) std::fprintf(stderr, "\n");
  if (!y_dims.empty()) y_dims[0] *= count;
  if (!output.empty()) write_npy(output, y_dims, ys.data());
  if (as_json) {
    std::cout << json{{"inputs", count}, {"input_dims", want}, {"output_dims", y_dims}, {"output", output}}.dump(2)
              << "\n";
    return 0;
  }
  std::printf("ran %lld inputs of %s; outputs %s%s\n", static_cast<long long>(count), dims_to_string(want).c_str(),
              dims_to_string(y_dims).c_str(),
              output.empty() ? " (give --output to keep them)" : (" -> " + output).c_str());
  return 0;
}

}  // namespace

int run(const ModelOptions& o, const RunOptions& r) {
  if (!r.output.empty())
    refuse_output_onto_inputs(r.output, "--output",
                              {{o.model, "the model"},
                               {o.key, "the key file"},
                               {r.input, "the input"},
                               {r.class_names, "the class names file"}});
  set_threads(o.threads);
  HostTensor x;
  std::string name;
  ModelSource model = open_with_input(o, r.input, x, name);
  std::unique_ptr<TeePlatform> platform = make_platform(o);
  EnclaveSession session(model.graph(), *platform, session_options(o), model.weights());
  if (const Dims& want = model.graph().value(model.graph().inputs[0]).dims; is_sample_stack(x.dims, want))
    return run_stack(session, x, name, want, r.output, o.json);
  std::vector<TensorView> inputs{x.view(name)};
  std::vector<OutputTensor> y = session.run(inputs);
  for (int i = 0; i < r.warmup; ++i) session.run(inputs);
  auto* sim = dynamic_cast<SimPlatform*>(platform.get());
  if (sim) sim->last_region()->reset_stats();
  SealedLoadStats before = model.sealed_model() ? model.sealed_model()->load_stats() : SealedLoadStats{};
  const uint64_t calls_before = host_calls(model, session);
  Timing t = time_runs(session, inputs, 0, r.repeat);
  SealedLoadStats after = model.sealed_model() ? model.sealed_model()->load_stats() : SealedLoadStats{};
  auto per_run = [&](uint64_t a, uint64_t b) { return static_cast<double>(a - b) / std::max(r.repeat, 1); };
  json epc;
  if (sim) {
    EpcRegion& region = *sim->last_region();
    const EpcStats paged = region.stats();
    const double calls = per_run(host_calls(model, session), calls_before);
    const FaultFreeTiming compute = time_fault_free(session, inputs, region, r.repeat);
    epc =
        epc_report(paged, r.repeat, t.median_ms(), compute, calls, o, parse_bytes(o.epc, "--epc"), region.mechanism());
  }
  if (!r.output.empty()) write_npy(r.output, y[0].dims, y[0].data.data());
  // Top-k over the last axis of the first batch item.
  std::vector<float> scores(y[0].data.begin(), y[0].data.begin() + (y[0].dims.empty() ? 1 : y[0].dims.back()));
  auto best = top_k(scores, r.top);
  std::vector<std::string> names = read_class_names(r.class_names);
  auto label = [&](int i) { return i < static_cast<int>(names.size()) ? names[i] : std::string(); };
  if (o.json) {
    json j;
    j["model"] = o.model;
    j["input"] = {{"name", name}, {"dims", x.dims}};
    j["output"] = {{"name", y[0].name}, {"dims", y[0].dims}};
    for (auto [i, v] : best) j["top"].push_back({{"class", i}, {"name", label(i)}, {"score", v}});
    j["latency_ms"] = {{"median", t.median_ms()},
                       {"min", t.min_ms()},
                       {"runs", r.repeat},
                       {"threads", o.threads},
                       {"samples", t.samples_ms}};
    j["arena_bytes"] = session.arena_bytes();
    j["streamed_bytes_per_run"] = session.streamed_bytes();
    j["spilled_bytes_per_run"] = session.spilled_bytes();
    if (model.sealed_model())
      j["sealed_per_run"] = {{"bytes_decrypted", per_run(after.bytes, before.bytes)},
                             {"chunks", per_run(after.chunks, before.chunks)},
                             {"copy_in_ms", per_run(after.copy_in_ns, before.copy_in_ns) / 1e6},
                             {"decrypt_ms", per_run(after.decrypt_ns, before.decrypt_ns) / 1e6},
                             {"decode_ms", per_run(after.decode_ns, before.decode_ns) / 1e6}};
    j["prefetch"] = o.prefetch;
    j["arena_peak_bytes"] = session.peak_bytes();
    j["weight_bytes"] = session.weight_bytes();
    j["tee"] = o.tee;
    j["mode"] = o.mode;
    if (sim) j["epc"] = epc;
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("model   %s  (%s; %zu kernels)\n", o.model.c_str(), model.description.c_str(), session.steps().size());
  std::printf("input   %s %s   output %s %s\n", name.c_str(), dims_to_string(x.dims).c_str(), y[0].name.c_str(),
              dims_to_string(y[0].dims).c_str());
  std::printf("top-%d:\n", static_cast<int>(best.size()));
  for (auto [i, v] : best) std::printf("  class %4d  score %9.5g  %s\n", i, v, label(i).c_str());
  std::printf("latency median %.3f ms, min %.3f ms over %d runs, %d thread(s)\n", t.median_ms(), t.min_ms(), r.repeat,
              o.threads);
  std::printf("secure arena %s (weights %s resident, %s streamed per run; %s activations spilled), %s mode\n",
              format_bytes(session.arena_bytes()).c_str(), format_bytes(session.weight_bytes()).c_str(),
              format_bytes(session.streamed_bytes()).c_str(), format_bytes(session.spilled_bytes()).c_str(),
              o.mode.c_str());
  if (sim) {
    const json& p = epc["per_run"];
    std::printf(
        "emulated EPC %s (%s pager): per run %.0f faults (%.0f first touches), %.0f evictions, %.0f reloads, "
        "%.2f ms in the pager; peak resident %s\n",
        o.epc.c_str(), epc["pager"].get<std::string>().c_str(), p["faults"].get<double>(),
        p["first_touches"].get<double>(), p["evictions"].get<double>(), p["reloads"].get<double>(),
        p["pager_ms"].get<double>(), format_bytes(epc["peak_resident_bytes"].get<uint64_t>()).c_str());
    std::printf(
        "latency: wall %.3f ms (emulated EPC), compute %.3f ms (same plan, no faults), modelled SGX %.3f ms\n"
        "         = compute + %.0f faults x %llu cycles + %.0f host calls x %llu cycles at %.2f GHz\n",
        t.median_ms(), epc["compute_ms"].get<double>(), epc["modelled_sgx_latency_ms"].get<double>(),
        p["faults"].get<double>(), static_cast<unsigned long long>(o.fault_cycles), p["host_calls"].get<double>(),
        static_cast<unsigned long long>(o.ocall_cycles), epc["cycles_per_second"].get<double>() / 1e9);
  }
  if (r.verbose || r.profile) print_steps(session, inputs, r);
  if (!r.output.empty()) std::printf("wrote %s\n", r.output.c_str());
  return 0;
}

int eval(const ModelOptions& o, const EvalOptions& e) {
  set_threads(o.threads);
  IdxImages images = read_idx_images(e.images);
  std::vector<uint8_t> labels = read_idx_labels(e.labels);
  if (images.count == 0) throw Error(ErrorCode::kBadInput, "'" + e.images + "' holds no images");
  if (static_cast<int64_t>(labels.size()) != images.count)
    throw Error(ErrorCode::kBadInput, "'" + e.labels + "' has " + std::to_string(labels.size()) + " labels for " +
                                          std::to_string(images.count) + " images");
  Dims dims{1, 1, images.rows, images.cols};
  std::unique_ptr<ModelSource> model;
  std::string name;
  if (is_sealed_file(o.model)) {
    model = std::make_unique<ModelSource>(
        ModelSource::sealed(o.model, o.key, sealed_load_options(o.min_version, o.model_id)));
    name = model->graph().value(model->graph().inputs.at(0)).name;
  } else {
    refuse_model_id_for_onnx(o.model, o.model_id);
    OnnxModel onnx = OnnxModel::open(o.model);
    name = declared_input(o, onnx).first;
    model = std::make_unique<ModelSource>(ModelSource::onnx(onnx, name, dims, parse_max_memory(o.max_memory)));
  }
  const Graph& g = model->graph();
  if (g.inputs.size() != 1 || g.value(g.inputs[0]).dims != dims)
    throw Error(ErrorCode::kBadInput, "the model does not take " + std::to_string(images.rows) + "x" +
                                          std::to_string(images.cols) + " grey images " + dims_to_string(dims));
  Normalization norm = normalization(o, 1);
  std::unique_ptr<TeePlatform> platform = make_platform(o);
  EnclaveSession session(g, *platform, session_options(o), model->weights());
  int64_t n = e.limit > 0 ? std::min(e.limit, images.count) : images.count;
  HostTensor x{dims, std::vector<float>(static_cast<size_t>(images.rows * images.cols))};
  std::vector<TensorView> inputs{x.view(name)};
  int64_t correct = 0;
  Timing t;
  const bool show_progress = !o.json && ::isatty(STDERR_FILENO);  // a log file gets only the result
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* px = images.pixels.data() + i * images.rows * images.cols;
    for (size_t k = 0; k < x.data.size(); ++k) x.data[k] = (px[k] / 255.f - norm.mean[0]) / norm.std[0];
    double t0 = now_ms();
    auto y = session.run(inputs);
    t.samples_ms.push_back(now_ms() - t0);
    correct += top_k(y[0].data, 1)[0].first == labels[i];
    if (show_progress && ((i + 1) % 1000 == 0 || i + 1 == n))
      std::fprintf(stderr, "\r  %lld/%lld images, accuracy so far %.2f%%", static_cast<long long>(i + 1),
                   static_cast<long long>(n), 100.0 * correct / (i + 1));
  }
  if (show_progress) std::fprintf(stderr, "\n");
  double acc = n ? 100.0 * correct / n : 0;
  if (o.json) {
    json j{{"model", o.model},
           {"images", n},
           {"correct", correct},
           {"accuracy_percent", acc},
           {"latency_ms", {{"median", t.median_ms()}, {"min", t.min_ms()}, {"threads", o.threads}}},
           {"arena_bytes", session.arena_bytes()}};
    std::cout << j.dump(2) << "\n";
  } else {
    std::printf("accuracy %.2f%% (%lld/%lld) on %s\n", acc, static_cast<long long>(correct), static_cast<long long>(n),
                e.images.c_str());
    std::printf("latency per image: median %.3f ms, min %.3f ms, %d thread(s); secure arena %s\n", t.median_ms(),
                t.min_ms(), o.threads, format_bytes(session.arena_bytes()).c_str());
  }
  return 0;
}

}  // namespace teeinfer::cli
