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

#include "host/cli/commands.h"
#include "host/cli/option_checks.h"
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

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Indices and values of the k largest entries, largest first.
std::vector<std::pair<int, float>> top_k(const std::vector<float>& v, int k) {
  std::vector<int> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  k = std::min<int>(k, static_cast<int>(v.size()));
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int a, int b) { return v[a] > v[b]; });
  std::vector<std::pair<int, float>> out;
  for (int i = 0; i < k; ++i) out.emplace_back(idx[i], v[idx[i]]);
  return out;
}

Normalization normalization(const ModelOptions& o, int64_t channels) {
  Normalization n = Normalization::for_channels(channels);
  if (!o.mean.empty()) n.mean = o.mean;
  if (!o.std.empty()) n.std = o.std;
  for (float s : n.std)
    if (s == 0.f) throw Error(ErrorCode::kBadArgument, "--std values must be non-zero");
  return n;
}

// One line per class name; a short file only (it is an input like any other).
std::vector<std::string> read_class_names(const std::string& path) {
  std::vector<std::string> names;
  if (path.empty()) return names;
  std::ifstream f(path);
  if (!f) throw Error(ErrorCode::kIo, "cannot read the class names file '" + path + "'");
  for (std::string line; std::getline(f, line) && names.size() < 1000000;) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    names.push_back(line.substr(0, 200));
  }
  return names;
}

// A single-input model's input: its declared info (the CLI feeds exactly one).
const TensorInfo& only_input(const Model& m, const std::string& path) {
  if (m.inputs().size() != 1)
    throw Error(ErrorCode::kUnsupported, "'" + path + "' has " + std::to_string(m.inputs().size()) +
                                             " inputs; the CLI feeds models with exactly one");
  return m.inputs()[0];
}

// An .npy of K > 1 inputs stacked along dim 0 (each shaped as the model's input).
bool is_sample_stack(const Dims& got, const Dims& want) {
  return !want.empty() && got.size() == want.size() && want[0] > 0 && got[0] > want[0] && got[0] % want[0] == 0 &&
         std::equal(got.begin() + 1, got.end(), want.begin() + 1);
}

bool all_known(const Dims& d) {
  return std::all_of(d.begin(), d.end(), [](int64_t x) { return x > 0; });
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
    if (!o.input_shape.empty())
      throw Error(ErrorCode::kBadArgument, "--input-shape is fixed when a model is packed; it cannot change at run");
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

// The input tensor: an .npy as it is, or an image decoded into the input's dims (ONNX:
// --input-shape or the declared dims, a dynamic batch as 1). For ONNX the session is then
// instantiated for the tensor's dims (a fixed-batch model runs a stack batch by batch).
Tensor load_input(const ModelOptions& o, const std::string& path, const Model& m, SessionOptions& s) {
  const TensorInfo& in = only_input(m, o.model);
  Dims dims = in.dims;
  if (!o.input_shape.empty()) dims = parse_dims(o.input_shape, "--input-shape");
  Tensor x;
  if (ends_with(path, ".npy")) {
    x = read_npy(path, in.name);
  } else {
    if (!dims.empty() && dims[0] < 0) dims[0] = 1;
    if (!all_known(dims))
      throw Error(ErrorCode::kBadInput, "input '" + in.name + "' has dynamic dims " + to_string(dims) +
                                            ": give --input-shape to decode an image into it");
    x = load_image(path, in.name, dims, normalization(o, dims.size() > 1 ? dims[1] : 3));
  }
  if (!m.sealed()) s.input_dims[in.name] = all_known(dims) && is_sample_stack(x.dims, dims) ? dims : x.dims;
  return x;
}

// Runs each input of a stack in turn and writes the outputs stacked the same way.
int run_stack(Session& session, const Tensor& x, const std::string& output, bool as_json) {
  const Dims want = session.inputs()[0].dims;
  const int64_t count = x.dims[0] / want[0];
  const std::vector<float> all = x.to_floats();
  const size_t each = all.size() / static_cast<size_t>(count);
  std::vector<float> ys;
  Dims y_dims;
  const bool show_progress = count >= 20 && ::isatty(STDERR_FILENO);
  for (int64_t i = 0; i < count; ++i) {
    auto first = all.begin() + static_cast<long>(each * static_cast<size_t>(i));
    Tensor one = Tensor::f32(x.name, want, std::vector<float>(first, first + static_cast<long>(each)));
    Tensor y = session.run({one})[0];
    std::vector<float> v = y.to_floats();
    ys.insert(ys.end(), v.begin(), v.end());
    y_dims = y.dims;
    if (show_progress && (i + 1) % (count / 10) == 0)
      std::fprintf(stderr, "\r%lld/%lld inputs", static_cast<long long>(i + 1), static_cast<long long>(count));
  }
  if (show_progress) std::fprintf(stderr, "\n");
  if (!y_dims.empty()) y_dims[0] *= count;
  if (!output.empty()) write_npy(output, Tensor::f32("output", y_dims, ys));
  if (as_json) {
    std::cout << json{{"inputs", count}, {"input_dims", want}, {"output_dims", y_dims}, {"output", output}}.dump(2)
              << "\n";
    return 0;
  }
  std::printf("ran %lld inputs of %s; outputs %s%s\n", static_cast<long long>(count), to_string(want).c_str(),
              to_string(y_dims).c_str(), output.empty() ? " (give --output to keep them)" : (" -> " + output).c_str());
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
  if (!r.output.empty())
    refuse_output_onto_inputs(r.output, "--output",
                              {{o.model, "the model"},
                               {o.key, "the key file"},
                               {r.input, "the input"},
                               {r.class_names, "the class names file"}});
  OpenedModel opened = open_model(o);
  const Model& model = *opened.model;
  SessionOptions so = session_options(o);
  Tensor x = load_input(o, r.input, model, so);
  Session session(model, so);
  if (is_sample_stack(x.dims, session.inputs()[0].dims)) return run_stack(session, x, r.output, o.json);
  std::vector<Tensor> inputs{x};
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
  if (!r.output.empty()) write_npy(r.output, y[0]);
  // Top-k over the last axis of the first batch item.
  std::vector<float> all = y[0].to_floats();
  std::vector<float> scores(all.begin(), all.begin() + (y[0].dims.empty() ? 1 : y[0].dims.back()));
  auto best = top_k(scores, r.top);
  std::vector<std::string> names = read_class_names(r.class_names);
  auto label = [&](int i) { return i < static_cast<int>(names.size()) ? names[i] : std::string(); };
  const PlanReport& plan = session.plan();
  auto per_run = [&](uint64_t v) { return static_cast<double>(v) / std::max(r.repeat, 1); };
  if (o.json) {
    json j;
    j["model"] = o.model;
    j["input"] = {{"name", x.name}, {"dims", x.dims}};
    j["output"] = {{"name", y[0].name}, {"dims", y[0].dims}};
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
  std::printf("input   %s %s   output %s %s\n", x.name.c_str(), to_string(x.dims).c_str(), y[0].name.c_str(),
              to_string(y[0].dims).c_str());
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
  if (!r.output.empty()) std::printf("wrote %s\n", r.output.c_str());
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
  if (!model.sealed())
    so.input_dims[in.name] = o.input_shape.empty() ? dims : parse_dims(o.input_shape, "--input-shape");
  Session session(model, so);
  if (session.inputs()[0].dims != dims)
    throw Error(ErrorCode::kBadInput, "the model does not take " + std::to_string(images.rows) + "x" +
                                          std::to_string(images.cols) + " grey images " + to_string(dims));
  Normalization norm = normalization(o, 1);
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
  cmd->add_option("--input-shape", o.input_shape, "ONNX input dims, e.g. 1x3x224x224 (default: the model's, batch 1)");
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
  run->add_option(
         "--input", r->input,
         "input tensor (.npy, float32 C order) or image (PNG, JPEG, BMP); an .npy of K inputs stacked along dim 0 "
         "runs each and writes K outputs stacked the same way")
      ->required();
  run->add_option("--output", r->output, "write the first output tensor as .npy (float32)");
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
