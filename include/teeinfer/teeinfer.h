// teeinfer: deep neural network inference inside trusted execution environments whose
// secure memory is small (SGX enclaves, TrustZone, confidential runtimes).
//
// A Model is an ONNX file, or a sealed `.tee` model whose weights stay encrypted outside
// the trusted core and are decrypted only inside it, with a key a KeyProvider supplies. A
// Session plans the model into a secure-memory budget (weights streamed and decrypted
// just before use, convolutions in bands of rows, activations spilled sealed) and runs
// it: its arena never exceeds the budget. With Platform::kSim the arena lives in an
// emulated SGX EPC that pages (encrypted) like the real one, and the counters say so.
//
//   #include <teeinfer/teeinfer.h>
//
//   teeinfer::KeyFile key("k.bin");                                 // teeinfer keygen -o k.bin
//   teeinfer::Model model = teeinfer::Model::open("model.tee", &key);  // teeinfer pack ...
//   teeinfer::Session session(model, {.budget_bytes = 1 << 20, .platform = teeinfer::Platform::kSim});
//   std::vector<float> pixels(28 * 28, 0.5f);
//   std::vector<teeinfer::Tensor> y = session.run({teeinfer::Tensor::f32("image", {1, 1, 28, 28}, pixels)});
//   std::printf("%s: %lld values; arena %zu bytes, minimum %zu\n", y[0].name.c_str(),
//               (long long)y[0].elements(), session.plan().arena_bytes, session.plan().min_budget_bytes);
//
// Errors: every call reports failure by throwing teeinfer::Error, whose code says what
// kind of failure and whose one-line message names the file, tensor, node or option at
// fault. Threads: a Model and the Sessions made from it are used by one thread at a time.
// This header uses only the C++ standard library; link with teeinfer::teeinfer (CMake:
// find_package(teeinfer)) or `pkg-config --libs teeinfer`.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace teeinfer {

// "0.2.0": the library's version.
const char* version();

// ---- Errors -----------------------------------------------------------------------------

enum class ErrorCode {
  kBadArgument,     // an option or API argument is wrong
  kIo,              // a file could not be read or written
  kBadModel,        // a model file is corrupt, truncated or inconsistent
  kUnsupported,     // a valid model uses something teeinfer does not implement
  kBadInput,        // an input tensor/image has the wrong shape, type or content
  kBudgetExceeded,  // the plan does not fit in the secure-memory budget (or a memory limit)
  kKernel,          // the kernel library refused a primitive
  kTampered,        // data kept in untrusted memory failed authentication at run time
};

// "bad argument", "I/O error", ...
const char* error_code_name(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

// ---- Tensors ----------------------------------------------------------------------------

enum class DType : uint8_t { kF32, kI64, kI32, kU8, kS8, kBool };
size_t dtype_size(DType t);
const char* dtype_name(DType t);  // "float32", "int64", ...

using Dims = std::vector<int64_t>;

std::string to_string(const Dims& dims);  // "{1,3,224,224}"

// A model input or output: its name, element type and dims (-1 where a dim is dynamic).
struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  Dims dims;
};

// A named tensor that owns its bytes (row-major).
struct Tensor {
  std::string name;
  DType dtype = DType::kF32;
  Dims dims;
  std::vector<uint8_t> bytes;

  // A float32 tensor; throws kBadInput if `values` does not hold exactly the dims' count.
  static Tensor f32(std::string name, Dims dims, const std::vector<float>& values);
  // An int64 tensor (token ids, a sample rate), the same way.
  static Tensor i64(std::string name, Dims dims, const std::vector<int64_t>& values);
  int64_t elements() const;
  // Its bytes, checked to be exactly what dtype and dims need (throws kBadInput).
  const void* data() const;
  // The values of a float32 tensor (throws kBadInput for another dtype).
  std::vector<float> to_floats() const;
  const float* f32_data() const;
};

// ---- Keys -------------------------------------------------------------------------------

using Key = std::array<uint8_t, 32>;    // an AES-256 key-encryption key (KEK)
using KeyId = std::array<uint8_t, 16>;  // the first 16 bytes of SHA-256(KEK)
using ModelId = std::array<uint8_t, 16>;

// Supplies the key-encryption key a sealed model was sealed for. A key file for
// development (KeyFile); attested key release in production, where the key never exists
// outside the trusted core.
class KeyProvider {
 public:
  virtual ~KeyProvider() = default;
  // The KEK whose id is `kek_id`; false if this provider does not hold it. Must not throw.
  virtual bool key_encryption_key(const KeyId& kek_id, Key& out) noexcept = 0;
  // What the trusted core asks when it opens a sealed model: the KEK for the model id and
  // version its (authenticated) header states. By default the key id decides alone; a
  // provider that releases keys per model (Enclave::key_provider) refuses another model or
  // a version below the one its key broker allows, inside the trusted core.
  virtual bool key_for_model(const KeyId& kek_id, const ModelId& model_id, uint64_t model_version, Key& out) noexcept {
    (void)model_id;
    (void)model_version;
    return key_encryption_key(kek_id, out);
  }
};

// A 32-byte key file (mode 0600; a warning on stderr if group or others can read it; an
// all-zero key is refused). The key is wiped when the object is destroyed.
class KeyFile : public KeyProvider {
 public:
  explicit KeyFile(const std::string& path);
  ~KeyFile() override;
  KeyFile(const KeyFile&) = delete;
  KeyFile& operator=(const KeyFile&) = delete;
  bool key_encryption_key(const KeyId& kek_id, Key& out) noexcept override;
  KeyId id() const;
  const Key& key() const { return key_; }

  // Writes a fresh random key to `path` (mode 0600). Refuses an existing file unless
  // `overwrite`, and then replaces only an old key file. Returns its id.
  static KeyId generate(const std::string& path, bool overwrite = false);

 private:
  Key key_{};
};

std::string to_hex(const std::array<uint8_t, 16>& id);
// 32 hex digits; throws kBadArgument naming `what`.
std::array<uint8_t, 16> id_from_hex(const std::string& hex, const std::string& what);

// ---- Models -----------------------------------------------------------------------------

struct OpenOptions {
  // Sealed: refuse models older than this version, or with another id (checked on the
  // header, before the key is asked for).
  uint64_t min_version = 0;
  std::optional<ModelId> model_id;
  // ONNX: the most bytes any tensor or folded constant may take when the model is
  // instantiated (0: the default limit, 8x the file size and at least 1 GiB).
  size_t max_memory_bytes = 0;
};

// What a sealed model's plaintext header says (readable without the key).
struct SealedInfo {
  uint32_t format_version = 0;
  ModelId model_id{};
  uint64_t model_version = 0;
  KeyId kek_id{};
  uint64_t file_bytes = 0, manifest_bytes = 0;
  uint32_t chunks = 0;
  // SHA-256 of the plaintext manifest (the graphs and tensor table) as the trusted core
  // decrypted it: what receipts name. Zero from read_sealed_info (no key).
  std::array<uint8_t, 32> manifest_sha256{};
};

// True if the file starts like a sealed model (else it is treated as ONNX).
bool is_sealed_model(const std::string& path);
// The header of a sealed model, checked for consistency with the file (no key needed).
SealedInfo read_sealed_info(const std::string& path);

// A model as stored: an ONNX model is instantiated for concrete input dims by each
// Session (or plan) that uses it; a sealed model was instantiated when it was packed.
class Model {
 public:
  // An ONNX file or a sealed .tee (told apart by content). `keys` is needed for a sealed
  // model and must outlive the Model.
  static Model open(const std::string& path, KeyProvider* keys = nullptr, const OpenOptions& options = {});
  // An ONNX model from memory; `name` names it in errors.
  static Model from_onnx(std::string_view bytes, const std::string& name, const OpenOptions& options = {});

  bool sealed() const;
  // As declared: -1 where a dim is dynamic (and, for ONNX outputs, wherever the file does
  // not say).
  const std::vector<TensorInfo>& inputs() const;
  const std::vector<TensorInfo>& outputs() const;
  // "ONNX, 32 nodes" or "sealed, version 2, 19 chunks".
  const std::string& description() const;
  // Sealed models only (throws kBadArgument otherwise).
  const SealedInfo& sealed_info() const;
  // The shape profiles a sealed model was packed for (the input and output dims of each, in
  // packing order; a Session runs the one its input dims match, the first by default).
  // Empty for ONNX, which is instantiated for whatever dims a Session asks.
  struct ShapeProfile {
    std::vector<TensorInfo> inputs, outputs;
  };
  const std::vector<ShapeProfile>& shape_profiles() const;
  // The inputs a sealed model was packed with bound to values (PackOptions::input_values);
  // not among inputs(). Empty for ONNX.
  const std::vector<Tensor>& bound_inputs() const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  friend class Session;
  explicit Model(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

// ---- Planning and running ---------------------------------------------------------------

enum class Platform { kNone, kSim };        // plain memory, or an emulated SGX EPC
enum class Mode { kPlanned, kUnmodified };  // teeinfer's planner, or a naive baseline
// 3×3 stride-1 fp32 convolutions with resident weights: Winograd where it measured faster
// in this process (kAuto), never (kDirect), or wherever oneDNN has a Winograd kernel.
enum class ConvAlgorithm { kAuto, kDirect, kWinograd };

struct SessionOptions {
  // ONNX: the dims of the inputs, by name (default: as declared, a dynamic leading dim as
  // 1; other dynamic dims must be given). Sealed: they choose the shape profile (default:
  // the first); dims that match no profile are refused (kBadInput) naming the profiles.
  std::map<std::string, Dims> input_dims;
  // Secure memory the plan must fit (0: no limit; with kSim and kPlanned: the EPC size).
  size_t budget_bytes = 0;
  Platform platform = Platform::kNone;
  size_t epc_bytes = size_t{128} << 20;  // kSim: how much of the arena may be resident
  Mode mode = Mode::kPlanned;
  int threads = 1;  // kernel threads (oneDNN scratch memory, and so the plan, depends on it)
  // Decrypt streamed weights on a second thread a step ahead (slower on 2 vCPUs).
  bool prefetch = false;
  ConvAlgorithm conv_algorithm = ConvAlgorithm::kAuto;
  // ONNX: integer or bool inputs bound to these values for the session's life, as if they
  // were constants, so that what they select folds at import (If branches, shapes): a
  // voice model's sample rate, say. run() needs no tensor for them, and one given must
  // equal its value (kBadInput). Sealed models are bound when packed (PackOptions).
  std::vector<Tensor> input_values;
};

// How the planner laid a model out.
struct PlanReport {
  struct Step {
    std::string name, impl;  // kernel and its implementation
    size_t live_bytes = 0;   // arena bytes alive during the step
    // What its time goes to: "compute", "weight read" (streamed: copy-in, decrypt,
    // decode), "weight reorder" (a streamed weight into its kernel's layout), "layout"
    // (activations between layouts), "spill" (activations sealed out and back).
    std::string kind;
  };
  struct Layer {
    std::string node, op, strategy;  // "whole", "bands of 8 rows", "weights streamed ...", ...
    size_t weights_resident_bytes = 0, weights_streamed_bytes = 0;
  };
  size_t budget_bytes = 0;
  size_t arena_bytes = 0;
  // The smallest budget any plan of this model fits with the same options (a search over
  // budgets: computed when the report is made).
  size_t min_budget_bytes = 0;
  size_t load_live_bytes = 0;  // alive while weights load
  size_t resident_weight_bytes = 0, streamed_bytes = 0, spilled_bytes = 0;
  int streamed_constants = 0;
  std::vector<Step> steps;
  std::vector<Layer> layers;
};

// The plan a Session with these options would run, without allocating its arena (the
// minimum budget included).
PlanReport plan(const Model& model, const SessionOptions& options = {});

// Cumulative counters of a session since it was made (or since reset_counters()).
struct Counters {
  uint64_t runs = 0;
  // Sealed models: bytes decrypted, chunks, time copying ciphertext in, decrypting,
  // decoding, and reads through the host (OCALLs in SGX).
  uint64_t bytes_decrypted = 0, chunks = 0, copy_in_ns = 0, decrypt_ns = 0, decode_ns = 0, host_reads = 0;
  // Spilled activation blocks sealed out plus unsealed back (host calls in the SGX model).
  uint64_t spill_blocks_moved = 0;
  // Platform::kSim: the emulated EPC's pager.
  uint64_t faults = 0, first_touches = 0, evictions = 0, reloads = 0;
  uint64_t epc_bytes_encrypted = 0, epc_bytes_decrypted = 0, peak_resident_bytes = 0, pager_ns = 0;
  std::string pager;  // "userfaultfd" or "mprotect" (kSim), "" otherwise
  // The highest arena byte ever in use (measured; at most the plan's arena).
  uint64_t arena_peak_bytes = 0;
};

// Called after each step of Session::run (for per-kernel timing).
using StepCallback = std::function<void(size_t step)>;

class Session {
 public:
  Session(const Model& model, const SessionOptions& options = {});
  ~Session();
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;

  // Inputs by name (any order), each of the dtype and dims inputs() says (float32, or
  // int64/int32/uint8/int8/bool for an input the model casts). Outputs (float32; int64
  // for ArgMax/ArgMin's indices) in the model's output order. Throws kBadInput for a wrong input, kTampered if
  // sealed data in host memory was altered.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs, const StepCallback& after_step = {});

  // The inputs and outputs with concrete dims, as planned.
  std::vector<TensorInfo> inputs() const;
  std::vector<TensorInfo> outputs() const;
  // "ONNX, 3 BatchNorm folded, 5 activations and 0 residual adds fused", or the sealed
  // model's description.
  const std::string& description() const;
  // The plan it runs.
  const PlanReport& plan() const;
  // The smallest budget this model fits with these options (the same number plan()
  // reports); computed on first call.
  size_t minimum_budget() const;
  Counters counters() const;
  void reset_counters();

  // Platform::kSim only: one run's compute time with no page faults, in ms (the same
  // session timed `repeat` times, median, while its whole region may be resident; the
  // EPC limit is restored afterwards), and the faults seen while timing (0 unless the
  // host could not hold the region).
  struct FaultFree {
    double median_ms = 0;
    uint64_t faults = 0;
  };
  FaultFree time_fault_free(const std::vector<Tensor>& inputs, int repeat);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The modelled SGX latency of one run: the fault-free compute time plus faults and enclave
// exits at SGX's cycle costs, converted at this machine's time-stamp counter rate.
struct SgxCosts {
  uint64_t fault_cycles = 40000;      // one EPC fault: EWB + ELDU + AEX/ERESUME
  uint64_t transition_cycles = 8000;  // one OCALL
};
struct SgxLatency {
  double compute_ms = 0, fault_ms = 0, transition_ms = 0, modelled_ms = 0;
  double cycles_per_second = 0;
};
SgxLatency model_sgx_latency(double compute_ms, double faults_per_run, double host_calls_per_run,
                             const SgxCosts& costs = {});

// ---- Packing, pruning -------------------------------------------------------------------

enum class Quantize { kNone, kFullyConnected, kAll };
// Weight chunks compressed before encryption; kAuto: per tensor, a codec only where it is
// measured to pay here.
enum class Compression { kNone, kZstd, kLz4, kPalette4, kAuto };

struct PackOptions {
  // The dims to instantiate the model for, by input name ("" names a model's only input);
  // default: as declared, a dynamic leading dim as 1.
  std::map<std::string, Dims> input_dims;
  // Or several shape profiles (at most 64), each a set of input dims as above: the model
  // is instantiated for each, the weights they share are sealed once, and a Session runs
  // the profile its input dims match (parse_shape_profiles reads "1x3x48x{192,320}").
  std::vector<std::map<std::string, Dims>> shape_profiles;
  uint64_t model_version = 1;
  std::optional<ModelId> model_id;             // default: random
  uint64_t chunk_bytes = uint64_t{256} << 10;  // largest weight chunk (whole rows)
  Quantize quantize = Quantize::kNone;
  // Calibration inputs for full int8 (an .npy of samples, or a directory of images).
  std::string calibration;
  int calibration_samples = 64;
  Compression compression = Compression::kNone;
  int cluster = 0;           // snap int8 weights to this many shared values (0: off)
  bool cluster_all = false;  // also conv weights (default: fully-connected only)
  size_t max_memory_bytes = 0;
  // Integer or bool inputs bound to values, as SessionOptions::input_values; recorded in
  // the sealed file (Model::bound_inputs), so a run giving another value is refused.
  std::vector<Tensor> input_values;
  std::function<void(uint64_t done, uint64_t total)> progress;  // weight bytes sealed
};

struct PackResult {
  uint32_t profiles = 1;  // shape profiles sealed
  uint64_t file_bytes = 0, weight_bytes = 0, stored_weight_bytes = 0;
  uint32_t tensors = 0, chunks = 0, compressed_tensors = 0;
  uint32_t quantized_fc = 0, quantized_conv = 0, full_int8 = 0;  // layers
  ModelId model_id{};
  std::string description;  // of the optimised model
};

// Seals an ONNX model with `key` into `output` (written atomically; never onto an input
// or the key file).
PackResult pack(const std::string& onnx_path, const std::string& output, const KeyFile& key,
                const PackOptions& options = {});

// Mean-shift channel pruning of an ONNX model with BatchNorm (no pruning ratio to
// choose): |gamma| of each Conv+BN layer (or VGG-style block) clustered by 1-D mean shift,
// channels at or below the lowest centre removed structurally. The result passes the
// ONNX checker and is written atomically to `output`.
struct PruneOptions {
  bool by_block = false;                   // cluster per block of layers up to a pool, not per layer
  double quantile = 0.3;                   // of nearest-neighbour distances, for the bandwidth
  std::map<std::string, Dims> input_dims;  // for FLOPs (default: declared, batch 1; dynamic dims: no FLOPs)
  size_t max_memory_bytes = 0;
};
struct PruneResult {
  struct Unit {  // one Conv + BatchNorm layer
    std::string conv, bn, bn_scale;
    int64_t channels = 0;
    bool prunable = false;
    std::string kept_because;  // why it was kept whole
    int group = -1;
    double bandwidth = 0, threshold = 0;
    std::vector<int64_t> removed;  // channel indices, ascending
  };
  struct Layer {  // parameters and FLOPs of every layer, before and after
    std::string name;
    int64_t params_before = 0, params_after = 0, flops_before = 0, flops_after = 0;
  };
  std::vector<Unit> units;
  std::vector<Layer> layers;
  int64_t params_before = 0, params_after = 0, flops_before = 0, flops_after = 0;  // saturating
  // False when the model has dynamic spatial dims and no input_dims were given: channels
  // are chosen all the same (they do not depend on the size), FLOPs are 0 (not counted).
  bool flops_counted = true;
  uint64_t bytes_before = 0, bytes_after = 0;
};
PruneResult prune(const std::string& onnx_path, const std::string& output, const PruneOptions& options = {});

// Everything in a sealed model, for its key holder: every chunk is authenticated (throws
// kBadModel at the first that is not).
struct SealedContents {
  SealedInfo info;
  std::vector<TensorInfo> inputs, outputs;  // of the first shape profile
  std::vector<Model::ShapeProfile> profiles;
  std::map<std::string, int> op_counts;  // IR op name -> nodes
  struct Weight {
    std::string name;
    DType dtype = DType::kF32;
    Dims dims;
    uint64_t bytes = 0, stored_bytes = 0;  // plain, and as stored (compressed)
    std::string codec;
    uint32_t chunks = 0;
  };
  std::vector<Weight> weights;
};
SealedContents inspect_sealed(const std::string& path, KeyProvider& keys);

// ---- Input files and sizes ----------------------------------------------------------------

// Image normalisation: (pixel / 255 - mean[c]) / std[c], one value or one per channel.
struct Normalization {
  std::vector<float> mean, std;
  static Normalization imagenet();                      // mean {0.485, 0.456, 0.406}, std {0.229, 0.224, 0.225}
  static Normalization half();                          // mean 0.5, std 0.5
  static Normalization for_channels(int64_t channels);  // ImageNet for 3, half for 1
};
// How an image input's dims are ordered: channels first {1, C, H, W} (PyTorch's) or
// channels last {1, H, W, C} (TensorFlow's).
enum class ImageLayout { kNCHW, kNHWC };
// A PNG, JPEG or BMP file (told apart by content) as a float32 tensor `name` of `dims`
// ({1, C, H, W}, or {1, H, W, C} with kNHWC; C = 1 or 3): decoded, converted, resized
// (bilinear), normalised.
Tensor load_image(const std::string& path, const std::string& name, const Dims& dims, const Normalization& norm,
                  ImageLayout layout = ImageLayout::kNCHW);
// The layout a model input's dims imply for an image: NCHW when dim 1 is 1 or 3, else NHWC
// when the last dim is; nullopt when neither (or not rank 4).
std::optional<ImageLayout> image_layout_of(const Dims& dims);
// A .npy file as float32 (any numeric dtype is converted); `name` names the tensor.
Tensor read_npy(const std::string& path, const std::string& name);
// The same as `as`: float32 as above; an integer type or bool exactly (throws kBadInput for
// a value that is not a whole number, or out of the type's range; bool takes 0 and 1).
Tensor read_npy(const std::string& path, const std::string& name, DType as);
// Every array of an .npz (numpy.savez or savez_compressed), named by its member, in archive
// order: float32, or exactly the dtype `as` gives for that name. Throws kBadInput naming
// the file and member (sizes are checked before anything is inflated).
std::vector<Tensor> read_npz(const std::string& path, const std::map<std::string, DType>& as = {});
// A tensor as .npy, in its dtype (float32; int64 for ArgMax's indices; written atomically).
void write_npy(const std::string& path, const Tensor& t);
// Tensors as one .npz, each in its dtype (numpy.load(path)[name]; written atomically). Throws
// kBadArgument for a name that cannot be a member (empty, with '/', or twice).
void write_npz(const std::string& path, const std::vector<Tensor>& tensors);

// IDX files (MNIST format, plain or gzip) of uint8 images and labels.
struct IdxImages {
  int64_t count = 0, rows = 0, cols = 0;
  std::vector<uint8_t> pixels;  // count * rows * cols
};
IdxImages read_idx_images(const std::string& path);
std::vector<uint8_t> read_idx_labels(const std::string& path);

// "1x3x224x224" (or "1,3,224,224"); throws kBadArgument naming `what`.
Dims parse_dims(const std::string& text, const std::string& what);
// Shape profiles from `pack --input-shape` values: each "[NAME=]DIMS", where a dim may be a
// set ("1x3x48x{192,320,640}", "{1,8}x3x224x224") and every combination is a profile.
// Inputs with several shapes vary together (profile k takes the k-th shape of each); an
// input with one shape has it in every profile. Several inputs must be named. At most 64
// profiles; throws kBadArgument naming `what`.
std::vector<std::map<std::string, Dims>> parse_shape_profiles(const std::vector<std::string>& specs,
                                                              const std::string& what);
// "4096", "256KiB", "16MiB", "9.5MiB", "1GiB"; throws kBadArgument naming `what`.
uint64_t parse_size(const std::string& text, const std::string& what);
std::string format_size(uint64_t bytes);  // "1.50 MiB"

// Refuses (kBadArgument, naming `option`) to write `output` onto any of `inputs` ({path,
// what it is}): the same file by device and inode, or the same canonical path. Tools call
// it so that no output ever replaces an input or a key file.
void refuse_output_onto_inputs(const std::string& output, const std::string& option,
                               const std::vector<std::pair<std::string, std::string>>& inputs);

// ---- Attestation and key release (docs/attestation.md) ----------------------------------

using Digest = std::array<uint8_t, 32>;  // SHA-256
std::string to_hex(const uint8_t* bytes, size_t n);
// Exactly `n` bytes as 2n hex digits; throws kBadArgument naming `what`.
std::vector<uint8_t> bytes_from_hex(const std::string& hex, size_t n, const std::string& what);

// What the trusted core is (the emulated enclave's MRENCLAVE), fixed when it is built: a
// build of the same commit in any directory on the same system gives the same value.
struct Measurement {
  Digest value{};      // SHA-256 over what follows: what evidence carries and policies pin
  Digest code_hash{};  // the trusted libraries' objects, the shared libraries they run, build settings
  Digest signer{};     // MRSIGNER (the emulated enclave's signer)
  uint16_t product_id = 0, security_version = 0;  // ISV_PROD_ID, ISV_SVN
  std::string code_manifest;                      // one line per object, library and setting in code_hash
};
const Measurement& measurement();

// The public keys an enclave generated inside: HPKE (X25519) for what is sent to it
// (model keys, requests), ECDSA P-256 (x || y) for the receipts it signs.
struct EnclaveKeys {
  std::array<uint8_t, 32> hpke{};
  std::array<uint8_t, 64> receipt{};
};

// What a relying party (key broker, client) accepts.
struct EvidencePolicy {
  std::vector<Digest> measurements;   // allowed MRENCLAVE values (empty: none is)
  std::vector<Digest> signers;        // allowed MRSIGNER values (empty: any)
  uint16_t min_security_version = 0;  // lowest ISV_SVN
  bool allow_simulated = false;       // evidence of teeinfer's emulated TEE (anyone can forge it)
  bool allow_debug = false;           // enclaves with the DEBUG attribute
};
struct EvidenceClaims {  // as the evidence states them: trust them only when verified
  Digest measurement{}, signer{};
  uint16_t product_id = 0, security_version = 0;
  bool debug = false, simulated = false;
  std::array<uint8_t, 64> report_data{};
};
struct VerificationStep {
  std::string check;  // "quote format", "certification chain", ...
  bool passed = false;
  std::string detail;
};
struct Verification {
  bool ok = false;
  std::string reason;  // the first failed check's detail ("" when ok)
  EvidenceClaims claims;
  std::vector<VerificationStep> steps;  // in order, up to and including the first failure
};
// Verifies evidence (a quote in the SGX DCAP ECDSA v3 layout) against `policy`, and that its
// REPORT_DATA binds `keys` and `nonce`. Fails closed: a check that cannot be made fails.
Verification verify_evidence(const std::vector<uint8_t>& evidence, const EvidencePolicy& policy,
                             const EnclaveKeys& keys, const Digest& nonce);
// REPORT_DATA of evidence for these keys and nonce.
std::array<uint8_t, 64> report_data(const EnclaveKeys& keys, const Digest& nonce);

// This process's trusted core as a relying party sees it: key pairs generated inside
// (their private halves in a secure region of the platform), evidence that binds them, and
// the model keys a key broker released to it. Platform::kSim only (the emulated TEE has a
// simulated quoting enclave; kNone has no evidence).
class Enclave {
 public:
  explicit Enclave(Platform platform = Platform::kSim);
  ~Enclave();
  Enclave(Enclave&&) noexcept;
  Enclave& operator=(Enclave&&) noexcept;

  const EnclaveKeys& keys() const;
  // Evidence for a verifier's nonce (the quote's REPORT_DATA = report_data(keys(), nonce)).
  std::vector<uint8_t> evidence(const Digest& nonce) const;

  // A key broker's answer for (model_id, model_version): the model's key-encryption key
  // sealed to keys().hpke (HPKE `enc` || ciphertext). Opened inside; the key stays there.
  // Throws kTampered if it does not open, kBadInput if it grants another model.
  void accept_key_grant(const ModelId& model_id, uint64_t model_version, const std::vector<uint8_t>& grant);
  // The released keys, for Model::open.
  KeyProvider& key_provider();
  // Options that pin a model to its grant: its id, and the lowest version the broker
  // allows (Model::open refuses an older file). Throws kBadArgument if none was granted.
  OpenOptions open_options(const ModelId& model_id) const;

  // The trusted entry point of an end-to-end encrypted request (docs/attestation.md): the
  // body opened with this enclave's HPKE key (`path`, as the client addressed it, is the
  // associated data), decoded as an Open Inference Protocol request against `session`'s
  // inputs, run, and answered encrypted under a key exported from the request's context,
  // with a receipt signed by the receipt key. Every plaintext buffer it uses is wiped
  // before it returns. `host_time_ms` is the host's clock, marked untrusted in the receipt.
  // A body that does not open: status 400, opened false, a plaintext {"error"} body.
  struct Reply {
    int status = 200;
    bool opened = false;        // false: `body` is a plaintext error, not encrypted
    std::vector<uint8_t> body;  // the encrypted response
  };
  Reply answer(Session& session, const Model& model, const std::string& model_name, const std::string& model_version,
               const std::string& path, const std::string& encapsulated_key_hex, std::string_view sealed_body,
               uint64_t host_time_ms);

  struct Impl;
  Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};
// A receipt: what the enclave signed about one encrypted request and its response.
struct Receipt {
  ModelId model_id{};  // zero for an ONNX model
  uint64_t model_version = 0;
  Digest manifest_sha256{}, request_sha256{}, response_sha256{}, measurement{};
  int status = 200;
  uint64_t sequence = 0;                // receipts this enclave has signed before this one
  uint64_t host_time_untrusted_ms = 0;  // the host's clock: not to be trusted
  std::array<uint8_t, 64> signature{};  // ECDSA P-256 over signed_bytes(), r || s
  std::vector<uint8_t> signed_bytes() const;
};
// Parses a receipt's JSON (throws kBadInput naming the field).
Receipt parse_receipt(std::string_view json);
std::string receipt_json(const Receipt& receipt);
bool verify_receipt(const Receipt& receipt, const std::array<uint8_t, 64>& receipt_key);

// The client's side of one end-to-end encrypted request: the OIP body (`json_length` as
// its Inference-Header-Content-Length, if binary) sealed to a verified enclave's HPKE key
// for `path` ("/v2/models/<m>/infer"), and the response opened and its receipt checked.
class EncryptedRequest {
 public:
  EncryptedRequest(const EnclaveKeys& enclave, const Digest& measurement, const std::string& path,
                   std::string_view oip_body, std::optional<uint64_t> json_length);
  ~EncryptedRequest();
  EncryptedRequest(EncryptedRequest&&) noexcept;
  EncryptedRequest& operator=(EncryptedRequest&&) noexcept;

  const std::string& encapsulated_key_hex() const;  // the Teeinfer-Encapsulated-Key header
  const std::vector<uint8_t>& body() const;         // what to POST

  struct Response {
    std::string body;  // the OIP response body
    std::optional<uint64_t> json_length;
    Receipt receipt;
  };
  // Opens an encrypted response of HTTP status `status` and checks its receipt: signed by
  // the enclave's receipt key, for the verified measurement, this request and this
  // response, with this status. Throws kTampered for a response or receipt that fails.
  Response open_response(std::string_view sealed, int status) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// A key grant as a key broker makes it: `kek` for `model_id` (and the policy's
// `min_version`) sealed to an enclave's HPKE key for the version it asked for.
std::vector<uint8_t> seal_key_grant(const std::array<uint8_t, 32>& enclave_hpke_key, const ModelId& model_id,
                                    uint64_t model_version, uint64_t min_version, const Key& kek);

}  // namespace teeinfer
