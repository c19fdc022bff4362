// `teeinfer run` and `teeinfer eval`, on the public API (teeinfer/teeinfer.h) only.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>

#include "host/cli/class_scores.h"
#include "host/cli/commands.h"
#include "host/cli/option_checks.h"
#include "host/cli/run_inputs.h"
#include "teeinfer/teeinfer.h"

namespace teeinfer::cli {
namespace {

using json = nlohmann::json;

double now_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> s) {
  if (s.empty()) return 0;
  std::sort(s.begin(), s.end());
  size_t n = s.size();
  return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

// A single-input model's input (eval feeds exactly one).
const TensorInfo& only_input(const Model& m, const std::string& path) {
  if (m.inputs().size() != 1)
    throw Error(ErrorCode::kUnsupported, "'" + path + "' has " + std::to_string(m.inputs().size()) +
                                             " inputs; eval feeds models with exactly one");
  return m.inputs()[0];
}

struct OpenedModel {
  std::unique_ptr<KeyFile> key;
  std::optional<Model> model;
};

OpenedModel open_model(const ModelOptions& o) {
  OpenedModel m;
  OpenOptions open;
  open.min_version = o.min_version;
  if (!o.model_id.empty()) open.model_id = id_from_hex(o.model_id, "--model-id");
  open.max_memory_bytes = parse_max_memory(o.max_memory);
  if (is_sealed_model(o.model)) {
    if (o.key.empty())
      throw Error(ErrorCode::kBadArgument, "'" + o.model + "' is a sealed model: give its key with --key");
    m.key = std::make_unique<KeyFile>(o.key);
  }
  m.model = Model::open(o.model, m.key.get(), open);
  return m;
}

SessionOptions session_options(const ModelOptions& o) {
  SessionOptions s;
  s.platform = o.tee == "sim" ? Platform::kSim : Platform::kNone;
  s.epc_bytes = parse_size(o.epc, "--epc");
  s.mode = o.mode == "unmodified" ? Mode::kUnmodified : Mode::kPlanned;
  s.threads = o.threads;
  s.prefetch = o.prefetch;
  s.conv_algorithm = conv_algorithm(o.conv_algorithm);
  if (!o.budget.empty()) s.budget_bytes = parse_nonzero_bytes(o.budget, "--budget");
  return s;
}

// A stack of samples run in batches of `per_run[0]` (the last batch may be smaller: it
// gets a session of its own), outputs joined along dim 0; throughput reported.
int run_batches(const Model& model, SessionOptions so, const Tensor& x, const Dims& per_run,
                const std::vector<OutputFile>& outputs, const RunOptions& r, const ModelOptions& o) {
  const int64_t samples = x.dims[0], batch = per_run[0], rest = samples % batch;
  so.input_dims = {{x.name, per_run}};
  Session session(model, so);
  std::optional<Session> last;  // made before any work, so a shape no profile takes fails first
  if (rest) {
    Dims d = per_run;
    d[0] = rest;
    so.input_dims = {{x.name, d}};
    last.emplace(model, so);
  }
  std::vector<Tensor> ys;
  std::vector<double> ms;
  const bool show_progress = samples / batch >= 20 && ::isatty(STDERR_FILENO);
  for (int64_t begin = 0; begin < samples; begin += batch) {
    const int64_t n = std::min(batch, samples - begin);
    Session& s = n == batch ? session : *last;
    std::vector<Tensor> in{slice_samples(x, begin, n)};
    double t0 = now_ms();
    append_samples(ys, s.run(in));
    ms.push_back(now_ms() - t0);
    if (show_progress && (begin / batch + 1) % (samples / batch / 10) == 0)
      std::fprintf(stderr, "\r%lld/%lld inputs", static_cast<long long>(begin + n), static_cast<long long>(samples));
  }
  if (show_progress) std::fprintf(stderr, "\n");
  write_outputs(outputs, ys);
  const double total = std::accumulate(ms.begin(), ms.end(), 0.0);
  const double per_second = total > 0 ? 1000.0 * static_cast<double>(samples) / total : 0;
  if (o.json) {
    json j{{"inputs", samples}, {"batch", batch}, {"batches", ms.size()},           {"input_dims", per_run},
           {"total_ms", total}, {"batch_ms", ms}, {"images_per_second", per_second}};
    for (const Tensor& y : ys) j["outputs"].push_back({{"name", y.name}, {"dims", y.dims}});
    j["output_dims"] = ys.empty() ? Dims{} : ys[0].dims;
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("ran %lld inputs in %zu batch(es) of %lld %s: %.3f ms, %.1f inputs/s\n", static_cast<long long>(samples),
              ms.size(), static_cast<long long>(batch), to_string(per_run).c_str(), total, per_second);
  for (const Tensor& y : ys) std::printf("output  %s %s\n", y.name.c_str(), to_string(y.dims).c_str());
  if (r.output.empty()) std::printf("(give --output to keep the outputs)\n");
  for (const OutputFile& f : outputs) std::printf("wrote %s\n", f.path.c_str());
  return 0;
}

// Per-step time over `repeat` runs (after one warm-up run), in step order, and the
// session's counters over those runs.
struct StepProfile {
  std::vector<double> ms;
  Counters counters;
};

StepProfile profile_steps(Session& s, const std::vector<Tensor>& inputs, int repeat) {
  std::vector<double> total(s.plan().steps.size(), 0.0);
  double last = 0;
  s.run(inputs);
  s.reset_counters();
  for (int i = 0; i < repeat; ++i) {
    last = now_ms();
    s.run(inputs, [&](size_t step) {
      double t = now_ms();
      total[step] += t - last;
      last = t;
    });
  }
  for (double& t : total) t /= std::max(repeat, 1);
  return {total, s.counters()};
}

std::map<std::string, double> time_by_kind(const PlanReport& plan, const StepProfile& p) {
  std::map<std::string, double> by_kind{
      {"compute", 0.0}, {"weight read", 0.0}, {"weight reorder", 0.0}, {"layout", 0.0}, {"spill", 0.0}};
  for (size_t i = 0; i < plan.steps.size(); ++i) by_kind[plan.steps[i].kind] += p.ms[i];
  return by_kind;
}

// --json --profile: every step's time and kind, and the time by kind.
json profile_json(const PlanReport& plan, const StepProfile& p) {
  json j{{"by_kind_ms", time_by_kind(plan, p)}};
  for (size_t i = 0; i < plan.steps.size(); ++i)
    j["steps"].push_back(
        {{"name", plan.steps[i].name}, {"impl", plan.steps[i].impl}, {"kind", plan.steps[i].kind}, {"ms", p.ms[i]}});
  return j;
}

// Where a run's time goes, by step kind; the streamed weights' reads split further by the
// loader's counters (copy-in of ciphertext, decrypt + verify, decode, the rest).
void print_time_split(const PlanReport& plan, const StepProfile& p, int repeat) {
  std::map<std::string, double> by_kind = time_by_kind(plan, p);
  const double per = 1e-6 / std::max(repeat, 1);  // ns over all runs -> ms per run
  double copy_in = static_cast<double>(p.counters.copy_in_ns) * per;
  double decrypt = static_cast<double>(p.counters.decrypt_ns) * per;
  double decode = static_cast<double>(p.counters.decode_ns) * per;
  double read = by_kind["weight read"];
  std::printf("time per run by kind: compute %.3f ms, weight read %.3f ms", by_kind["compute"], read);
  if (p.counters.bytes_decrypted)
    std::printf(" (copy-in %.3f, decrypt + verify %.3f, decode %.3f, other %.3f)", copy_in, decrypt, decode,
                std::max(read - copy_in - decrypt - decode, 0.0));
  std::printf(", weight reorder %.3f ms, layout %.3f ms, spill %.3f ms\n", by_kind["weight reorder"], by_kind["layout"],
              by_kind["spill"]);
  if (p.counters.bytes_decrypted && p.counters.decrypt_ns)
    std::printf("streamed %s per run, decrypted at %.2f GB/s\n",
                format_size(p.counters.bytes_decrypted / static_cast<uint64_t>(std::max(repeat, 1))).c_str(),
                static_cast<double>(p.counters.bytes_decrypted) / static_cast<double>(p.counters.decrypt_ns));
}

void print_steps(Session& session, const std::vector<Tensor>& inputs, const RunOptions& r) {
  StepProfile p = r.profile ? profile_steps(session, inputs, r.repeat) : StepProfile{};
  const auto& steps = session.plan().steps;
  double total = std::accumulate(p.ms.begin(), p.ms.end(), 0.0);
  for (size_t i = 0; i < steps.size(); ++i) {
    if (r.profile)
      std::printf("  %8.3f ms %5.1f%%  %-50s %s\n", p.ms[i], 100 * p.ms[i] / total, steps[i].name.c_str(),
                  steps[i].impl.c_str());
    else
      std::printf("  %-50s %s\n", steps[i].name.c_str(), steps[i].impl.c_str());
  }
  if (r.profile) print_time_split(session.plan(), p, r.repeat);
}

// Pager counters per run, and the modelled SGX latency (wall, fault-free compute and
// modelled side by side).
json epc_report(const Counters& paged, int runs, double wall_ms, const Session::FaultFree& compute,
                const ModelOptions& o) {
  const double per = 1.0 / std::max(runs, 1);
  const double calls = static_cast<double>(paged.host_reads + paged.spill_blocks_moved) * per;
  const SgxLatency sgx = model_sgx_latency(compute.median_ms, static_cast<double>(paged.faults) * per, calls,
                                           {.fault_cycles = o.fault_cycles, .transition_cycles = o.ocall_cycles});
  return json{{"epc_bytes", parse_size(o.epc, "--epc")},
              {"pager", paged.pager},
              {"per_run",
               {{"faults", paged.faults * per},
                {"first_touches", paged.first_touches * per},
                {"evictions", paged.evictions * per},
                {"reloads", paged.reloads * per},
                {"bytes_encrypted", paged.epc_bytes_encrypted * per},
                {"bytes_decrypted", paged.epc_bytes_decrypted * per},
                {"pager_ms", paged.pager_ns * per / 1e6},
                {"host_calls", calls}}},
              {"peak_resident_bytes", paged.peak_resident_bytes},
              {"fault_cycles", o.fault_cycles},
              {"ocall_cycles", o.ocall_cycles},
              {"cycles_per_second", sgx.cycles_per_second},
              {"compute_faults_per_run", static_cast<double>(compute.faults) * per},
              {"compute_ms", sgx.compute_ms},
              {"fault_ms", sgx.fault_ms},
              {"transition_ms", sgx.transition_ms},
              {"modelled_sgx_latency_ms", sgx.modelled_ms},
              {"wall_latency_ms", wall_ms}};
}

}  // namespace

int run(const ModelOptions& o, const RunOptions& r) {
  OpenedModel opened = open_model(o);
  const Model& model = *opened.model;
  const std::vector<InputFile> files = input_files(r.input, model);
  std::vector<std::pair<std::string, std::string>> read_from{
      {o.model, "the model"}, {o.key, "the key file"}, {r.class_names, "the class names file"}};
  for (const InputFile& f : files) read_from.emplace_back(f.path, "the input '" + f.name + "'");
  const std::vector<OutputFile> outputs = output_files(r.output, model);
  for (const OutputFile& f : outputs) refuse_output_onto_inputs(f.path, "--output", read_from);
  SessionOptions so = session_options(o);
  std::vector<Tensor> inputs = load_inputs(files, model, o);
  // ONNX: integer and bool inputs of a few values (a sample rate, a mode) are bound for
  // this run, so what they select folds at import (If branches, shapes). At most 64
  // values can be bound; a sealed model's were bound when it was packed.
  if (!model.sealed())
    for (const Tensor& x : inputs)
      if (x.dtype != DType::kF32 && x.elements() >= 1 && x.elements() <= 64) so.input_values.push_back(x);
  if (inputs.size() == 1) {
    Dims per_run = per_run_dims(inputs[0], model, o, r.batch);
    if (per_run != inputs[0].dims) return run_batches(model, so, inputs[0], per_run, outputs, r, o);
  }
  for (const Tensor& x : inputs)
    if (std::any_of(model.inputs().begin(), model.inputs().end(),
                    [&](const TensorInfo& t) { return t.name == x.name; }))
      so.input_dims[x.name] = x.dims;  // (not a sealed model's bound inputs: the session checks those)
  Session session(model, so);
  std::vector<Tensor> y = session.run(inputs);
  for (int i = 0; i < r.warmup; ++i) session.run(inputs);
  session.reset_counters();
  std::vector<double> samples;
  for (int i = 0; i < r.repeat; ++i) {
    double t0 = now_ms();
    session.run(inputs);
    samples.push_back(now_ms() - t0);
  }
  const Counters c = session.counters();
  const double wall = median(samples), fastest = *std::min_element(samples.begin(), samples.end());
  const bool sim = so.platform == Platform::kSim;
  json epc = sim ? epc_report(c, r.repeat, wall, session.time_fault_free(inputs, r.repeat), o) : json();
  write_outputs(outputs, y);
  // Top-k over the last axis of the first batch item (of a float32 output: not of indices).
  std::vector<float> scores;
  if (y[0].dtype == DType::kF32) {
    std::vector<float> all = y[0].to_floats();
    scores.assign(all.begin(), all.begin() + (y[0].dims.empty() ? 1 : y[0].dims.back()));
  }
  auto best = top_k(scores, r.top);
  std::vector<std::string> names = read_class_names(r.class_names);
  auto label = [&](int i) { return i < static_cast<int>(names.size()) ? names[i] : std::string(); };
  const PlanReport& plan = session.plan();
  auto per_run = [&](uint64_t v) { return static_cast<double>(v) / std::max(r.repeat, 1); };
  if (o.json) {
    json j;
    j["model"] = o.model;
    j["input"] = {{"name", inputs[0].name}, {"dims", inputs[0].dims}};
    for (const Tensor& x : inputs) j["inputs"].push_back({{"name", x.name}, {"dims", x.dims}});
    j["output"] = {{"name", y[0].name}, {"dims", y[0].dims}};
    for (const Tensor& t : y)
      j["outputs"].push_back({{"name", t.name}, {"dims", t.dims}, {"dtype", dtype_name(t.dtype)}});
    const int64_t batch = inputs[0].dims.empty() ? 1 : std::max<int64_t>(inputs[0].dims[0], 1);
    j["batch"] = batch;
    j["images_per_second"] = wall > 0 ? 1000.0 * static_cast<double>(batch) / wall : 0;
    for (auto [i, v] : best) j["top"].push_back({{"class", i}, {"name", label(i)}, {"score", v}});
    j["latency_ms"] = {
        {"median", wall}, {"min", fastest}, {"runs", r.repeat}, {"threads", o.threads}, {"samples", samples}};
    j["arena_bytes"] = plan.arena_bytes;
    j["streamed_bytes_per_run"] = plan.streamed_bytes;
    j["spilled_bytes_per_run"] = plan.spilled_bytes;
    if (model.sealed())
      j["sealed_per_run"] = {{"bytes_decrypted", per_run(c.bytes_decrypted)},
                             {"chunks", per_run(c.chunks)},
                             {"copy_in_ms", per_run(c.copy_in_ns) / 1e6},
                             {"decrypt_ms", per_run(c.decrypt_ns) / 1e6},
                             {"decode_ms", per_run(c.decode_ns) / 1e6}};
    j["prefetch"] = o.prefetch;
    j["conv_algorithm"] = o.conv_algorithm;
    j["arena_peak_bytes"] = c.arena_peak_bytes;
    j["weight_bytes"] = plan.resident_weight_bytes;
    j["tee"] = o.tee;
    j["mode"] = o.mode;
    if (sim) j["epc"] = epc;
    if (r.profile) j["profile"] = profile_json(plan, profile_steps(session, inputs, r.repeat));
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("model   %s  (%s; %zu kernels)\n", o.model.c_str(), session.description().c_str(), plan.steps.size());
  for (const Tensor& x : inputs) std::printf("input   %s %s\n", x.name.c_str(), to_string(x.dims).c_str());
  for (const Tensor& t : y)
    std::printf("output  %s %s%s\n", t.name.c_str(), to_string(t.dims).c_str(),
                t.dtype == DType::kF32 ? "" : (std::string(" ") + dtype_name(t.dtype)).c_str());
  std::printf("top-%d:\n", static_cast<int>(best.size()));
  for (auto [i, v] : best) std::printf("  class %4d  score %9.5g  %s\n", i, v, label(i).c_str());
  std::printf("latency median %.3f ms, min %.3f ms over %d runs, %d thread(s)\n", wall, fastest, r.repeat, o.threads);
  std::printf("secure arena %s (weights %s resident, %s streamed per run; %s activations spilled), %s mode\n",
              format_size(plan.arena_bytes).c_str(), format_size(plan.resident_weight_bytes).c_str(),
              format_size(plan.streamed_bytes).c_str(), format_size(plan.spilled_bytes).c_str(), o.mode.c_str());
  if (sim) {
    const json& p = epc["per_run"];
    std::printf(
        "emulated EPC %s (%s pager): per run %.0f faults (%.0f first touches), %.0f evictions, %.0f reloads, "
        "%.2f ms in the pager; peak resident %s\n",
        o.epc.c_str(), c.pager.c_str(), p["faults"].get<double>(), p["first_touches"].get<double>(),
        p["evictions"].get<double>(), p["reloads"].get<double>(), p["pager_ms"].get<double>(),
        format_size(c.peak_resident_bytes).c_str());
    std::printf(
        "latency: wall %.3f ms (emulated EPC), compute %.3f ms (same plan, no faults), modelled SGX %.3f ms\n"
        "         = compute + %.0f faults x %llu cycles + %.0f host calls x %llu cycles at %.2f GHz\n",
        wall, epc["compute_ms"].get<double>(), epc["modelled_sgx_latency_ms"].get<double>(), p["faults"].get<double>(),
        static_cast<unsigned long long>(o.fault_cycles), p["host_calls"].get<double>(),
        static_cast<unsigned long long>(o.ocall_cycles), epc["cycles_per_second"].get<double>() / 1e9);
  }
  if (r.verbose || r.profile) print_steps(session, inputs, r);
  for (const OutputFile& f : outputs) std::printf("wrote %s\n", f.path.c_str());
  return 0;
}

int eval(const ModelOptions& o, const EvalOptions& e) {
  IdxImages images = read_idx_images(e.images);
  std::vector<uint8_t> labels = read_idx_labels(e.labels);
  if (images.count == 0) throw Error(ErrorCode::kBadInput, "'" + e.images + "' holds no images");
  if (static_cast<int64_t>(labels.size()) != images.count)
    throw Error(ErrorCode::kBadInput, "'" + e.labels + "' has " + std::to_string(labels.size()) + " labels for " +
                                          std::to_string(images.count) + " images");
  const Dims dims{1, 1, images.rows, images.cols};
  OpenedModel opened = open_model(o);
  const Model& model = *opened.model;
  const TensorInfo& in = only_input(model, o.model);
  SessionOptions so = session_options(o);
  auto shape = one_shape(o.input_shape);
  so.input_dims[in.name] = shape.empty() ? dims : shape.begin()->second;
  Session session(model, so);
  if (session.inputs()[0].dims != dims)
    throw Error(ErrorCode::kBadInput, "the model does not take " + std::to_string(images.rows) + "x" +
                                          std::to_string(images.cols) + " grey images " + to_string(dims));
  Normalization norm = image_normalization(o, 1);
  int64_t n = e.limit > 0 ? std::min(e.limit, images.count) : images.count;
  std::vector<float> pixels(static_cast<size_t>(images.rows * images.cols));
  int64_t correct = 0;
  std::vector<double> samples;
  const bool show_progress = !o.json && ::isatty(STDERR_FILENO);  // a log file gets only the result
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* px = images.pixels.data() + i * images.rows * images.cols;
    for (size_t k = 0; k < pixels.size(); ++k) pixels[k] = (px[k] / 255.f - norm.mean[0]) / norm.std[0];
    Tensor x = Tensor::f32(in.name, dims, pixels);
    double t0 = now_ms();
    auto y = session.run({x});
    samples.push_back(now_ms() - t0);
    correct += top_k(y[0].to_floats(), 1)[0].first == labels[i];
    if (show_progress && ((i + 1) % 1000 == 0 || i + 1 == n))
      std::fprintf(stderr, "\r  %lld/%lld images, accuracy so far %.2f%%", static_cast<long long>(i + 1),
                   static_cast<long long>(n), 100.0 * correct / (i + 1));
  }
  if (show_progress) std::fprintf(stderr, "\n");
  const double acc = n ? 100.0 * correct / n : 0, wall = median(samples);
  const double fastest = *std::min_element(samples.begin(), samples.end());
  const size_t arena = session.plan().arena_bytes;
  if (o.json) {
    json j{{"model", o.model},
           {"images", n},
           {"correct", correct},
           {"accuracy_percent", acc},
           {"latency_ms", {{"median", wall}, {"min", fastest}, {"threads", o.threads}}},
           {"arena_bytes", arena}};
    std::cout << j.dump(2) << "\n";
  } else {
    std::printf("accuracy %.2f%% (%lld/%lld) on %s\n", acc, static_cast<long long>(correct), static_cast<long long>(n),
                e.images.c_str());
    std::printf("latency per image: median %.3f ms, min %.3f ms, %d thread(s); secure arena %s\n", wall, fastest,
                o.threads, format_size(arena).c_str());
  }
  return 0;
}

// The options of every command that opens and runs a model (run, eval).
void add_model_options(CLI::App* cmd, ModelOptions& o) {
  cmd->add_option("model", o.model, "ONNX model, or sealed .tee model")->required();
  cmd->add_option("--key", o.key, "key file of a sealed model (teeinfer keygen)");
  cmd->add_option("--min-version", o.min_version, "refuse sealed models older than this version (rollback)")
      ->transform(whole_number(0, kMaxU64));
  cmd->add_option("--model-id", o.model_id,
                  "refuse a sealed model whose id (32 hex digits, see inspect) is not this one");
  cmd->add_option("--threads", o.threads, "kernel threads (1 is often fastest on small machines)")
      ->transform(whole_number(1, 256))
      ->capture_default_str();
  cmd->add_option("--input-shape", o.input_shape,
                  "input dims, e.g. 1x3x224x224, or NAME=DIMS per input: an ONNX model is instantiated for them, a "
                  "sealed model runs the shape profile that has them (default: the input's own dims)");
  cmd->add_option("--layout", o.layout,
                  "how an image input's dims are ordered: auto (from the model's input dims: NCHW when dim 1 is 1 "
                  "or 3, else NHWC), nchw or nhwc")
      ->check(CLI::IsMember({"auto", "nchw", "nhwc"}))
      ->capture_default_str();
  cmd->add_option("--mean", o.mean, "image normalisation means (default: ImageNet for RGB, 0.5 for grey)")
      ->transform(finite_number(-1e6, 1e6));
  cmd->add_option("--std", o.std, "image normalisation std devs")->transform(finite_number(-1e6, 1e6));
  cmd->add_flag("--json", o.json, "print machine-readable JSON");
  cmd->add_option("--tee", o.tee, "where trusted memory lives: none (plain memory) or sim (emulated SGX EPC)")
      ->check(CLI::IsMember({"none", "sim"}))
      ->capture_default_str();
  cmd->add_option("--epc", o.epc, "emulated EPC size with --tee sim (e.g. 16MiB, 93MiB, 128MiB)")
      ->capture_default_str();
  cmd->add_option("--fault-cycles", o.fault_cycles, "modelled cycles per SGX page fault, for the modelled latency")
      ->transform(whole_number(0, 1'000'000'000))
      ->capture_default_str();
  cmd->add_option("--ocall-cycles", o.ocall_cycles,
                  "modelled cycles per enclave exit to the host (sealed-chunk read, spilled block), for the "
                  "modelled latency")
      ->transform(whole_number(0, 1'000'000'000))
      ->capture_default_str();
  cmd->add_option("--mode", o.mode,
                  "planned (the engine) or unmodified (baseline: im2col convolutions, one shared workspace, "
                  "no buffer reuse)")
      ->check(CLI::IsMember({"planned", "unmodified"}))
      ->capture_default_str();
  cmd->add_option("--budget", o.budget,
                  "secure memory the plan must fit, e.g. 8MiB; weights are streamed when needed "
                  "(default: the --epc size with --tee sim, no limit otherwise)");
  cmd->add_flag("--prefetch", o.prefetch,
                "decrypt streamed weights on a second thread, a step ahead of use (slower on 2 vCPUs here)");
  add_conv_algorithm_option(cmd, o.conv_algorithm);
  cmd->add_option("--max-memory", o.max_memory, kMaxMemoryHelp);
}

Command add_run(CLI::App& app) {
  auto m = std::make_shared<ModelOptions>();
  auto r = std::make_shared<RunOptions>();
  CLI::App* run = app.add_subcommand("run", "run a model on one input; print top classes and latency");
  add_model_options(run, *m);
  run->add_option("--input", r->input,
                  "input tensor (.npy) or image (PNG, JPEG, BMP); NAME=FILE for a model with several inputs "
                  "(repeat), or an .npz holding inputs by name. An .npy of K samples stacked along dim 0 runs as one "
                  "batch where the model takes "
                  "batch K, else in batches (--batch), outputs stacked the same way")
      ->required();
  run->add_option(
      "--output", r->output,
      "FILE.npy (the first output), FILE.npz (every output, by name) or NAME=FILE.npy (that output; repeat)");
  run->add_option("--batch", r->batch,
                  "run a stacked .npy in batches of this many samples (an ONNX model is instantiated for that batch; "
                  "a sealed model needs a shape profile with it); throughput reported")
      ->transform(whole_number(1, 1 << 20));
  run->add_option("--repeat", r->repeat, "timed runs")->transform(whole_number(1, 100000))->capture_default_str();
  run->add_option("--warmup", r->warmup, "untimed runs first")
      ->transform(whole_number(0, 100000))
      ->capture_default_str();
  run->add_option("--top", r->top, "classes to print")->transform(whole_number(1, 1000))->capture_default_str();
  run->add_option("--class-names", r->class_names, "text file with one class name per line");
  run->add_flag("--verbose", r->verbose, "list every kernel and its implementation");
  run->add_flag("--profile", r->profile,
                "time every kernel (mean over --repeat runs), and the time by kind: compute, weight read (copy-in, "
                "decrypt, decode), weight reorder, layout, spill");
  return {run, [m, r] { return cli::run(*m, *r); }};
}

Command add_eval(CLI::App& app) {
  auto m = std::make_shared<ModelOptions>();
  auto e = std::make_shared<EvalOptions>();
  CLI::App* eval = app.add_subcommand("eval", "accuracy and latency on an IDX image set (default: Fashion-MNIST test)");
  add_model_options(eval, *m);
  eval->add_option("--images", e->images, "IDX images file (.gz ok)")->capture_default_str();
  eval->add_option("--labels", e->labels, "IDX labels file (.gz ok)")->capture_default_str();
  eval->add_option("--limit", e->limit, "evaluate only the first N images (0: all)")
      ->transform(whole_number(0, kMaxI64));
  return {eval, [m, e] { return cli::eval(*m, *e); }};
}

}  // namespace teeinfer::cli
