// The teeinfer subcommands (untrusted host side). main.cpp wires them to CLI11.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace teeinfer::cli {

struct ModelOptions {
  std::string model;         // .onnx or sealed .tee
  std::string key;           // key file, for sealed models
  uint64_t min_version = 0;  // rollback protection for sealed models
  std::string model_id;      // sealed models: the expected model id (32 hex digits), if given
  int threads = 1;
  std::vector<std::string> input_shape;  // [NAME=]DIMS: ONNX instantiated for it; sealed: picks the profile
  std::vector<float> mean, std;
  bool json = false;
  std::string tee = "none";             // none | sim
  std::string epc = "128MiB";           // emulated EPC size with --tee sim
  uint64_t fault_cycles = 40000;        // modelled cost of one SGX page fault (EWB + ELDU)
  uint64_t ocall_cycles = 8000;         // modelled cost of one enclave exit to the host (OCALL)
  std::string mode = "planned";         // planned | unmodified (the naive baseline)
  std::string budget;                   // secure-memory budget; default: --epc with --tee sim, else none
  bool prefetch = false;                // stream weights on a loader thread, a step ahead of use
  std::string conv_algorithm = "auto";  // auto | direct | winograd
  std::string layout = "auto";          // image inputs: auto | nchw | nhwc
  std::string max_memory;               // host memory limit for an ONNX model's tensors ("": default)
};

struct RunOptions {
  std::vector<std::string> input, output;  // [NAME=]FILE each
  std::string class_names;
  int64_t batch = 0;  // samples per run of a stacked .npy (0: as many as the model takes)
  int repeat = 10, warmup = 2, top = 5;
  bool verbose = false, profile = false;
};

struct EvalOptions {
  std::string images = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
  std::string labels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
  int64_t limit = 0;
};

struct PackOptions {
  std::string onnx, output, key, chunk_size = "256KiB";
  std::vector<std::string> input_shape;  // [NAME=]DIMS with sets: the shape profiles
  std::vector<std::string> input_value;  // NAME=V[,V...]: integer inputs bound to values
  std::string quantize = "none";         // none | fc | all: which layers get int8 weights
  std::string calibrate;                 // .npy or image directory: full int8 where it can be
  int calibration_samples = 64;
  std::string compress = "none";      // none | zstd | lz4 | palette4 | auto
  int cluster = 0;                    // int8 weights snapped to this many shared values (0: off)
  std::string cluster_layers = "fc";  // fc | all
  uint64_t model_version = 1;
  std::string model_id;  // 32 hex digits; empty: random
  bool quiet = false;
  std::string max_memory;
};

struct PlanOptions {
  std::string model, key, budget, mode = "planned", max_memory;
  std::vector<std::string> input_shape;  // [NAME=]DIMS with sets: plan each shape
  uint64_t min_version = 0;
  std::string model_id;  // sealed models: the expected model id, if given
  int threads = 1;       // oneDNN's scratchpads grow with threads, and so does the minimum
  std::string conv_algorithm = "auto";
  bool json = false;
};

struct PruneOptions {
  std::string model, output, input_shape, group = "layer", max_memory;
  double quantile = 0.3;
  bool json = false;
};

struct KeygenOptions {
  std::string output;
  bool force = false;
};

struct InspectOptions {
  std::string model, key;
  bool json = false;
};

// A subcommand with its options registered, and what runs it once the command line has
// been parsed. Each command registers its own (cmd_*.cpp); main.cpp only collects them.
struct Command {
  CLI::App* app;
  std::function<int()> run;
};
Command add_run(CLI::App& app);        // cmd_run.cpp
Command add_eval(CLI::App& app);       // cmd_run.cpp
Command add_keygen(CLI::App& app);     // cmd_seal.cpp
Command add_pack(CLI::App& app);       // cmd_seal.cpp
Command add_inspect(CLI::App& app);    // cmd_seal.cpp
Command add_plan(CLI::App& app);       // cmd_plan.cpp
Command add_prune(CLI::App& app);      // cmd_prune.cpp
Command add_serve(CLI::App& app);      // cmd_serve.cpp
Command add_client(CLI::App& app);     // cmd_serve.cpp
Command add_keyserver(CLI::App& app);  // cmd_keyserver.cpp
Command add_measure(CLI::App& app);    // cmd_keyserver.cpp

int run(const ModelOptions& m, const RunOptions& r);
int prune(const PruneOptions& p);
int plan(const PlanOptions& p);
int eval(const ModelOptions& m, const EvalOptions& e);
int keygen(const std::string& path, bool force);
int pack(const PackOptions& p);
int inspect(const std::string& model, const std::string& key, bool json);

}  // namespace teeinfer::cli
