// teeinfer command-line interface (untrusted host side): wires the subcommands of
// cli/commands.h to their options.
//
//   teeinfer keygen  -o k.bin
//   teeinfer pack    model.onnx -o model.tee --key k.bin [--model-version N] [--chunk-size 256KiB]
//   teeinfer run     model.onnx|model.tee [--key k.bin] --input x.npy|image.png [--json]
//   teeinfer eval    model.onnx|model.tee [--key k.bin] [--images idx.gz --labels idx.gz]
//   teeinfer inspect model.tee [--key k.bin]
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <string>

#include "host/cli/commands.h"
#include "host/cli/option_checks.h"
#include "teeinfer/teeinfer.h"

using namespace teeinfer;
using cli::finite_number;
using cli::whole_number;

namespace {

constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();
constexpr uint64_t kMaxI64 = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

// Large models mean hundreds of MB of fresh allocations; on these VMs first-touch page
// faults then dominate (packing VGG-16: 4.6 s, of which 2.4 s in the kernel). glibc's
// `glibc.malloc.hugetlb=1` tunable makes malloc use transparent huge pages for large
// blocks (VGG-16 pack: 1.0-2.8 s), but glibc reads tunables only at start-up, so the CLI
// re-executes itself once with it set. Failure to re-exec just carries on.
void use_huge_pages_for_malloc(char** argv) {
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  std::string value = tunables ? tunables : "";
  if (value.find("glibc.malloc.hugetlb") != std::string::npos) return;
  value += (value.empty() ? "" : ":") + std::string("glibc.malloc.hugetlb=1");
  if (::setenv("GLIBC_TUNABLES", value.c_str(), 1) != 0) return;
  ::execv("/proc/self/exe", argv);
}

constexpr const char* kMaxMemoryHelp =
    "host memory an ONNX model may take: the most for any one tensor, and for all its constants together, e.g. "
    "4GiB (default: 8x the model file, at least 1 GiB)";

// An error message on one line of printable text: messages quote names from untrusted
// files (a node name may hold a newline or a terminal escape), so control bytes are shown
// escaped, never sent to the terminal.
std::string printable(const char* message) {
  std::string out;
  for (const char* p = message; *p; ++p) {
    unsigned char c = static_cast<unsigned char>(*p);
    if (c >= 0x20 && c != 0x7f) {
      out += static_cast<char>(c);
    } else {
      static const char* hex = "0123456789abcdef";
      out += c == '\n' ? std::string("\\n") : std::string("\\x") + hex[c >> 4] + hex[c & 15];
    }
  }
  return out;
}

void add_model_options(CLI::App* cmd, cli::ModelOptions& o) {
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
  cmd->add_option("--max-memory", o.max_memory, kMaxMemoryHelp);
}

}  // namespace

int main(int argc, char** argv) {
  use_huge_pages_for_malloc(argv);
  CLI::App app{"teeinfer: DNN inference for trusted execution environments with tiny secure memory"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("teeinfer ") + version());

  cli::ModelOptions run_model;
  cli::RunOptions run_opts;
  CLI::App* run = app.add_subcommand("run", "run a model on one input; print top classes and latency");
  add_model_options(run, run_model);
  run->add_option(
         "--input", run_opts.input,
         "input tensor (.npy, float32 C order) or image (PNG, JPEG, BMP); an .npy of K inputs stacked along dim 0 "
         "runs each and writes K outputs stacked the same way")
      ->required();
  run->add_option("--output", run_opts.output, "write the first output tensor as .npy (float32)");
  run->add_option("--repeat", run_opts.repeat, "timed runs")->transform(whole_number(1, 100000))->capture_default_str();
  run->add_option("--warmup", run_opts.warmup, "untimed runs first")
      ->transform(whole_number(0, 100000))
      ->capture_default_str();
  run->add_option("--top", run_opts.top, "classes to print")->transform(whole_number(1, 1000))->capture_default_str();
  run->add_option("--class-names", run_opts.class_names, "text file with one class name per line");
  run->add_flag("--verbose", run_opts.verbose, "list every kernel and its implementation");
  run->add_flag("--profile", run_opts.profile, "time every kernel (mean over --repeat runs)");

  cli::ModelOptions eval_model;
  cli::EvalOptions eval_opts;
  CLI::App* eval = app.add_subcommand("eval", "accuracy and latency on an IDX image set (default: Fashion-MNIST test)");
  add_model_options(eval, eval_model);
  eval->add_option("--images", eval_opts.images, "IDX images file (.gz ok)")->capture_default_str();
  eval->add_option("--labels", eval_opts.labels, "IDX labels file (.gz ok)")->capture_default_str();
  eval->add_option("--limit", eval_opts.limit, "evaluate only the first N images (0: all)")
      ->transform(whole_number(0, kMaxI64));

  std::string key_out;
  bool force = false;
  CLI::App* keygen = app.add_subcommand("keygen", "make a 256-bit key-encryption key file (mode 0600)");
  keygen->add_option("-o,--output", key_out, "key file to write")->required();
  keygen->add_flag("--force", force, "overwrite an existing file");

  cli::PackOptions pack_opts;
  CLI::App* pack = app.add_subcommand("pack", "seal an ONNX model: optimise, encrypt and authenticate it (.tee)");
  pack->add_option("model", pack_opts.onnx, "ONNX model")->required();
  pack->add_option("-o,--output", pack_opts.output, "sealed model to write")->required();
  pack->add_option("--key", pack_opts.key, "key file (teeinfer keygen)")->required();
  pack->add_option("--model-version", pack_opts.model_version, "version number, for --min-version checks")
      ->transform(whole_number(0, kMaxU64))
      ->capture_default_str();
  pack->add_option("--model-id", pack_opts.model_id,
                   "model id for the header (32 hex digits): keep one id across the versions of a model so runs "
                   "can pin it with --model-id (default: a random id)");
  pack->add_option("--chunk-size", pack_opts.chunk_size, "largest weight chunk (whole rows), e.g. 64KiB, 1MiB")
      ->capture_default_str();
  pack->add_option("--input-shape", pack_opts.input_shape, "input dims to instantiate the model for");
  pack->add_option("--quantize", pack_opts.quantize,
                   "int8 weights, one scale per output channel (4x fewer bytes to decrypt): fc = fully-connected "
                   "layers only, all = also convolutions. Without --calibrate the enclave dequantizes them and "
                   "computes in fp32 (weight-only)")
      ->check(CLI::IsMember({"none", "fc", "all"}))
      ->capture_default_str();
  pack->add_option("--calibrate", pack_opts.calibrate,
                   "calibration inputs (.npy of samples, or a directory of images): layers whose input is never "
                   "negative then compute in int8 (u8 activations x s8 weights); needs --quantize")
      ->check(CLI::ExistingPath);
  pack->add_option("--calibration-samples", pack_opts.calibration_samples, "use at most this many samples")
      ->transform(whole_number(1, 1'000'000))
      ->capture_default_str();
  pack->add_option("--compress", pack_opts.compress,
                   "weight chunks compressed before encryption: none, zstd, lz4, palette4 (4-bit indices for chunks "
                   "of at most 16 values, see --cluster), or auto: per tensor, a codec only where decrypting fewer "
                   "bytes and decoding them is measured faster here than decrypting them all")
      ->check(CLI::IsMember({"none", "zstd", "lz4", "palette4", "auto"}))
      ->capture_default_str();
  pack->add_option("--cluster", pack_opts.cluster,
                   "snap each int8 weight to this many shared values (k-means, Deep Compression style; 16 makes "
                   "palette4 pay); lossy, needs --quantize")
      ->transform(whole_number(2, 255));
  pack->add_option("--cluster-layers", pack_opts.cluster_layers,
                   "which int8 weights --cluster snaps: fc (fully-connected layers: most of the bytes, and they "
                   "tolerate it best) or all")
      ->check(CLI::IsMember({"fc", "all"}))
      ->capture_default_str();
  pack->add_flag("--quiet", pack_opts.quiet, "no progress bar");
  pack->add_option("--max-memory", pack_opts.max_memory, kMaxMemoryHelp);

  cli::PlanOptions plan_opts;
  CLI::App* plan =
      app.add_subcommand("plan", "show the memory plan for a secure-memory budget, and the minimum budget");
  plan->add_option("model", plan_opts.model, "ONNX model, or sealed .tee model")->required();
  plan->add_option("--key", plan_opts.key, "key file of a sealed model");
  plan->add_option("--min-version", plan_opts.min_version, "refuse sealed models older than this version")
      ->transform(whole_number(0, kMaxU64));
  plan->add_option("--model-id", plan_opts.model_id, "refuse a sealed model whose id is not this one");
  plan->add_option("--input-shape", plan_opts.input_shape, "ONNX input dims (default: the model's, batch 1)");
  plan->add_option("--budget,--epc", plan_opts.budget, "secure-memory budget, e.g. 16MiB (default: no limit)");
  plan->add_option("--mode", plan_opts.mode, "planned or unmodified")
      ->check(CLI::IsMember({"planned", "unmodified"}))
      ->capture_default_str();
  plan->add_option("--threads", plan_opts.threads,
                   "kernel threads the plan is for (kernels' scratch memory grows with threads)")
      ->transform(cli::whole_number(1, 256));
  plan->add_flag("--json", plan_opts.json, "print machine-readable JSON");
  plan->add_option("--max-memory", plan_opts.max_memory, kMaxMemoryHelp);

  cli::PruneOptions prune_opts;
  CLI::App* prune = app.add_subcommand(
      "prune", "mean-shift channel pruning of an ONNX model with BatchNorm (no pruning ratio to choose)");
  prune->add_option("model", prune_opts.model, "ONNX model with Conv + BatchNormalization layers")->required();
  prune->add_option("-o,--output", prune_opts.output, "pruned ONNX model to write")->required();
  prune
      ->add_option("--group", prune_opts.group,
                   "cluster |gamma| per layer, or per block of layers up to a pool (VGG-style nets)")
      ->check(CLI::IsMember({"layer", "block"}))
      ->capture_default_str();
  prune
      ->add_option(
          "--quantile", prune_opts.quantile,
          "quantile of nearest-neighbour distances for the mean-shift bandwidth (0.1 VGG, 0.3 ResNet/DenseNet)")
      ->transform(finite_number(1e-6, 1.0))
      ->capture_default_str();
  prune->add_option("--input-shape", prune_opts.input_shape,
                    "input dims for the FLOP count (default: the model's, batch 1)");
  prune->add_flag("--json", prune_opts.json, "print machine-readable JSON (the channels removed per layer)");
  prune->add_option("--max-memory", prune_opts.max_memory, kMaxMemoryHelp);

  std::string inspect_model, inspect_key;
  bool inspect_json = false;
  CLI::App* inspect = app.add_subcommand("inspect", "show a sealed model: sizes without the key, graph with it");
  inspect->add_option("model", inspect_model, "sealed .tee model")->required();
  inspect->add_option("--key", inspect_key, "key file: also show the graph and authenticate every chunk");
  inspect->add_flag("--json", inspect_json, "print machine-readable JSON");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // Like every other error: one line, exit status 1.
    std::fprintf(stderr, "teeinfer: bad argument: %s (see --help)\n", e.what());
    return 1;
  }
  try {
    if (run->parsed()) return cli::run(run_model, run_opts);
    if (plan->parsed()) return cli::plan(plan_opts);
    if (prune->parsed()) return cli::prune(prune_opts);
    if (eval->parsed()) return cli::eval(eval_model, eval_opts);
    if (keygen->parsed()) return cli::keygen(key_out, force);
    if (pack->parsed()) return cli::pack(pack_opts);
    if (inspect->parsed()) return cli::inspect(inspect_model, inspect_key, inspect_json);
  } catch (const Error& e) {
    std::fprintf(stderr, "teeinfer: %s: %s\n", error_code_name(e.code()),
                 printable(cli::with_flag_names(e.what()).c_str()).c_str());
    return 1;
  } catch (const std::bad_alloc&) {
    // A last resort: inputs are checked against --max-memory before anything large is
    // allocated, but the machine may still have less memory than the limit allows.
    std::fprintf(stderr,
                 "teeinfer: out of memory: the model or input needs more memory than this process can get "
                 "(a lower --max-memory refuses such models up front)\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "teeinfer: internal error: %s\n", printable(e.what()).c_str());
    return 3;
  }
  return 0;
}
