// teeinfer command-line interface (untrusted host side).
//
//   teeinfer run  model.onnx --input x.npy|image.png [--output y.npy] [--json] [--threads N]
//   teeinfer eval model.onnx [--images idx.gz --labels idx.gz] [--limit N]
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

#include "common/error.h"
#include "enclave/session.h"
#include "host/file_io.h"
#include "host/idx_dataset.h"
#include "host/image.h"
#include "host/model_loader.h"
#include "host/npy.h"
#include "host/runner.h"
#include "tee/none/native_platform.h"

using namespace teeinfer;
using json = nlohmann::json;

namespace {

const char* kFashionDir = "/usr/share/datasets/fashion-mnist";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

struct CommonOptions {
  std::string model;
  int threads = 1;
  std::string input_shape;
  std::vector<float> mean, std;
  bool json = false;
};

void add_common(CLI::App* cmd, CommonOptions& o) {
  cmd->add_option("model", o.model, "ONNX model file")->required();
  cmd->add_option("--threads", o.threads, "kernel threads (1 is often fastest on small machines)")
      ->check(CLI::Range(1, 256))->capture_default_str();
  cmd->add_option("--input-shape", o.input_shape, "input dims, e.g. 1x3x224x224 (default: the model's, batch 1)");
  cmd->add_option("--mean", o.mean, "image normalisation means (default: ImageNet for RGB, 0.5 for grey)");
  cmd->add_option("--std", o.std, "image normalisation std devs");
  cmd->add_flag("--json", o.json, "print machine-readable JSON");
}

std::pair<std::string, Dims> single_input(const CommonOptions& o) {
  auto specs = declared_inputs(o.model);
  if (specs.size() != 1)
    throw Error(ErrorCode::kUnsupported, "'" + o.model + "' has " + std::to_string(specs.size()) +
                                             " inputs; the CLI feeds models with exactly one");
  if (!o.input_shape.empty()) return {specs[0].first, parse_dims(o.input_shape, "--input-shape")};
  return {specs[0].first, specs[0].second};
}

Normalization normalization(const CommonOptions& o, int64_t channels) {
  Normalization n = default_normalization(channels);
  if (!o.mean.empty()) n.mean = o.mean;
  if (!o.std.empty()) n.std = o.std;
  for (float s : n.std)
    if (s == 0.f) throw Error(ErrorCode::kBadArgument, "--std values must be non-zero");
  return n;
}

// One class name per line; an empty list when no file is given.
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

struct RunOptions {
  std::string input, output, class_names;
  int repeat = 10, warmup = 2, top = 5;
  bool verbose = false, profile = false;
};

int cmd_run(const CommonOptions& o, const RunOptions& r) {
  set_threads(o.threads);
  auto [name, declared] = single_input(o);
  HostTensor x;
  if (ends_with(r.input, ".npy")) {
    x = read_npy(r.input);
  } else {
    Dims dims = resolve_input_dims(name, declared);
    x = load_image(r.input, dims, normalization(o, dims.size() > 1 ? dims[1] : 3));
  }
  PassStats passes;
  Graph g = load_onnx_model(o.model, {{name, x.dims}}, &passes);
  NativePlatform platform;
  Session session(g, platform);
  std::vector<TensorView> inputs{x.view(name)};
  std::vector<OutputTensor> y = session.run(inputs);
  Timing t = time_runs(session, inputs, r.warmup, r.repeat);
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
    j["latency_ms"] = {{"median", t.median_ms()}, {"min", t.min_ms()}, {"runs", r.repeat}, {"threads", o.threads},
                       {"samples", t.samples_ms}};
    j["arena_bytes"] = session.arena_bytes();
    j["arena_peak_bytes"] = session.peak_bytes();
    j["weight_bytes"] = session.weight_bytes();
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("model   %s  (%zu kernels; %d BatchNorm folded, %d activations fused)\n", o.model.c_str(),
              session.steps().size(), passes.batchnorms_folded, passes.activations_fused);
  std::printf("input   %s %s   output %s %s\n", name.c_str(), dims_to_string(x.dims).c_str(), y[0].name.c_str(),
              dims_to_string(y[0].dims).c_str());
  std::printf("top-%d:\n", static_cast<int>(best.size()));
  for (auto [i, v] : best) std::printf("  class %4d  score %9.5g  %s\n", i, v, label(i).c_str());
  std::printf("latency median %.3f ms, min %.3f ms over %d runs, %d thread(s)\n", t.median_ms(), t.min_ms(), r.repeat,
              o.threads);
  std::printf("secure arena %.2f MiB (weights %.2f MiB)\n", session.arena_bytes() / 1048576.0,
              session.weight_bytes() / 1048576.0);
  if (r.verbose || r.profile) {
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
  if (!r.output.empty()) std::printf("wrote %s\n", r.output.c_str());
  return 0;
}

struct EvalOptions {
  std::string images = std::string(kFashionDir) + "/t10k-images-idx3-ubyte.gz";
  std::string labels = std::string(kFashionDir) + "/t10k-labels-idx1-ubyte.gz";
  int64_t limit = 0;
};

int cmd_eval(const CommonOptions& o, const EvalOptions& e) {
  set_threads(o.threads);
  IdxImages images = read_idx_images(e.images);
  std::vector<uint8_t> labels = read_idx_labels(e.labels);
  if (static_cast<int64_t>(labels.size()) != images.count)
    throw Error(ErrorCode::kBadInput, "'" + e.labels + "' has " + std::to_string(labels.size()) + " labels for " +
                                          std::to_string(images.count) + " images");
  auto [name, declared] = single_input(o);
  Dims dims = resolve_input_dims(name, declared);
  if (dims != Dims{1, 1, images.rows, images.cols})
    throw Error(ErrorCode::kBadInput, "the model input " + dims_to_string(dims) + " does not take " +
                                          std::to_string(images.rows) + "x" + std::to_string(images.cols) + " grey images");
  Normalization norm = normalization(o, 1);
  Graph g = load_onnx_model(o.model, {{name, dims}});
  NativePlatform platform;
  Session session(g, platform);
  int64_t n = e.limit > 0 ? std::min(e.limit, images.count) : images.count;
  HostTensor x{dims, std::vector<float>(static_cast<size_t>(images.rows * images.cols))};
  std::vector<TensorView> inputs{x.view(name)};
  int64_t correct = 0;
  Timing t;
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* px = images.pixels.data() + i * images.rows * images.cols;
    for (size_t k = 0; k < x.data.size(); ++k) x.data[k] = (px[k] / 255.f - norm.mean[0]) / norm.std[0];
    double t0 = now_ms();
    auto y = session.run(inputs);
    t.samples_ms.push_back(now_ms() - t0);
    correct += top_k(y[0].data, 1)[0].first == labels[i];
    if (!o.json && ((i + 1) % 1000 == 0 || i + 1 == n))
      std::fprintf(stderr, "\r  %lld/%lld images, accuracy so far %.2f%%", static_cast<long long>(i + 1),
                   static_cast<long long>(n), 100.0 * correct / (i + 1));
  }
  if (!o.json) std::fprintf(stderr, "\n");
  double acc = n ? 100.0 * correct / n : 0;
  if (o.json) {
    json j{{"model", o.model}, {"images", n}, {"correct", correct}, {"accuracy_percent", acc},
           {"latency_ms", {{"median", t.median_ms()}, {"min", t.min_ms()}, {"threads", o.threads}}},
           {"arena_bytes", session.arena_bytes()}};
    std::cout << j.dump(2) << "\n";
  } else {
    std::printf("accuracy %.2f%% (%lld/%lld) on %s\n", acc, static_cast<long long>(correct), static_cast<long long>(n),
                e.images.c_str());
    std::printf("latency per image: median %.3f ms, min %.3f ms, %d thread(s); secure arena %.2f MiB\n", t.median_ms(),
                t.min_ms(), o.threads, session.arena_bytes() / 1048576.0);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"teeinfer: DNN inference for trusted execution environments with tiny secure memory"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "teeinfer 0.1.0");

  CommonOptions common;
  RunOptions run_opts;
  CLI::App* run = app.add_subcommand("run", "run a model on one input; print top classes and latency");
  add_common(run, common);
  run->add_option("--input", run_opts.input, "input tensor (.npy, float32 C order) or image (PNG, JPEG, BMP)")
      ->required();
  run->add_option("--output", run_opts.output, "write the first output tensor as .npy (float32)");
  run->add_option("--repeat", run_opts.repeat, "timed runs")->check(CLI::Range(1, 100000))->capture_default_str();
  run->add_option("--warmup", run_opts.warmup, "untimed runs first")->check(CLI::Range(0, 100000))->capture_default_str();
  run->add_option("--top", run_opts.top, "classes to print")->check(CLI::Range(1, 1000))->capture_default_str();
  run->add_option("--class-names", run_opts.class_names, "text file with one class name per line");
  run->add_flag("--verbose", run_opts.verbose, "list every kernel and its implementation");
  run->add_flag("--profile", run_opts.profile, "time every kernel (mean over --repeat runs)");

  CommonOptions eval_common;
  EvalOptions eval_opts;
  CLI::App* eval = app.add_subcommand("eval", "accuracy and latency on an IDX image set (default: Fashion-MNIST test)");
  add_common(eval, eval_common);
  eval->add_option("--images", eval_opts.images, "IDX images file (.gz ok)")->capture_default_str();
  eval->add_option("--labels", eval_opts.labels, "IDX labels file (.gz ok)")->capture_default_str();
  eval->add_option("--limit", eval_opts.limit, "evaluate only the first N images")->check(CLI::NonNegativeNumber);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (run->parsed()) return cmd_run(common, run_opts);
    if (eval->parsed()) return cmd_eval(eval_common, eval_opts);
  } catch (const Error& e) {
    std::fprintf(stderr, "teeinfer: %s: %s\n", error_code_name(e.code()), e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "teeinfer: internal error: %s\n", e.what());
    return 3;
  }
  return 0;
}
