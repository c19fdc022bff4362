// EnclaveSession: one model prepared for inference inside the enclave.
//
// Construction is the Prepare phase: lower the graph to kernels, plan every buffer's
// arena offset, take one secure region from the platform, and load (reorder) all
// weights into the arena. run() is the Invoke phase: it allocates nothing in the arena.
//
//   NativePlatform platform;
//   EnclaveSession s(graph, platform, {.budget_bytes = 64 << 20});
//   std::vector<OutputTensor> y = s.run({TensorView{DType::kF32, dims, data, "image"}});
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/graph.h"
#include "enclave/budget_planner.h"
#include "enclave/execution_mode.h"
#include "enclave/lowering/conv_algorithm.h"
#include "enclave/lowering/step.h"
#include "enclave/secure_arena.h"
#include "enclave/tee_platform.h"
#include "enclave/weight_source.h"

namespace teeinfer {

struct EnclaveOptions {
  // Secure memory the plan must fit; weights are streamed when needed (budget_planner.h).
  size_t budget_bytes = 0;  // 0: no limit, every weight resident
  ExecutionMode mode = ExecutionMode::kPlanned;
  // Streamed weights are read and decrypted on a second thread, overlapping compute
  // (loader_thread.h). Off by default: on this project's 2-vCPU machine it was slower
  // (docs/architecture.md, "Prefetching streamed weights").
  bool prefetch_weights = false;
  // By node index: compute that Conv in bands of this many output rows (y-plane
  // partitioning); for tests and experiments, the planner chooses otherwise.
  std::map<size_t, int64_t> conv_band_rows = {};
  // By first node index: fuse Conv/Pool nodes [first, last] band-wise with this many
  // output rows per band. For tests and experiments; the planner chooses otherwise.
  std::map<size_t, std::pair<size_t, int64_t>> fused_bands = {};
  // Decrypted weights that need a layout change pass through staging in slices of about
  // this size (whole sealed chunks and layout blocks), not whole.
  size_t reorder_slice_bytes = size_t{1} << 20;
  // By name: activations kept sealed in host memory (encrypted activation spill). For
  // tests and experiments; the planner chooses otherwise.
  std::vector<std::string> spilled_activations = {};
  // Output rows per band next to a spilled activation: about this many bytes.
  size_t spill_band_bytes = size_t{256} << 10;
  // Which 3×3 convolutions may use Winograd (lowering/conv_algorithm.h). Never by default
  // here, so that plans made directly (tests, experiments) do not depend on timings; the
  // public API measures by default (SessionOptions::conv_algorithm).
  WinogradPolicy winograd = WinogradPolicy::kNever;
  // The host's monotonic clock in ns, which kMeasured times kernels with (the enclave has
  // no clock of its own; in SGX an OCALL, like HostInterface::now_ns). Without one,
  // kMeasured chooses direct everywhere.
  std::function<uint64_t()> clock = {};
};

struct OutputTensor {
  std::string name;
  Dims dims;
  std::vector<float> data;  // a float32 output's values
  DType dtype = DType::kF32;
  std::vector<uint8_t> bytes;  // another dtype's (ArgMax's int64 indices), row-major
};

struct StepInfo {
  std::string name;
  std::string impl;  // oneDNN implementation or teeinfer kernel
  StepKind kind = StepKind::kCompute;
};

// Called after each step of run() (the host times steps with it; the enclave reads no
// clock itself).
class StepObserver {
 public:
  virtual ~StepObserver() = default;
  virtual void after_step(size_t step) = 0;
};

// The budget planner's options for a graph, its weight source and session options: what an
// EnclaveSession plans with (and what its minimum budget must be computed with).
BudgetOptions budget_options(const Graph& graph, const dnnl::engine& engine, const WeightSource& weights,
                             const EnclaveOptions& options);

class EnclaveSession {
 public:
  // `weights` supplies the constants' bytes at load, and at every run for streamed ones
  // (default: the Graph's own); it must outlive the EnclaveSession.
  EnclaveSession(const Graph& graph, TeePlatform& platform, const EnclaveOptions& options = {},
                 WeightSource* weights = nullptr);
  ~EnclaveSession();
  EnclaveSession(const EnclaveSession&) = delete;
  EnclaveSession& operator=(const EnclaveSession&) = delete;

  // Inputs in graph-input order, float32, dims exactly as the graph's. Throws kBadInput.
  // With an observer, each step completes before the next starts and is reported.
  std::vector<OutputTensor> run(const std::vector<TensorView>& inputs, StepObserver* observer = nullptr);

  size_t arena_bytes() const;           // planned size of the arena
  size_t peak_bytes() const;            // highest arena byte ever reserved
  size_t weight_bytes() const;          // bytes of constants held in the arena
  size_t streamed_bytes() const;        // bytes of constants read again at every run
  size_t spilled_bytes() const;         // activation bytes sealed out to host memory per run
  uint64_t spill_blocks_moved() const;  // spilled blocks sealed out + unsealed back, all runs so far
  int streamed_constants() const;
  std::vector<StepInfo> steps() const;
  std::string memory_plan_ascii() const;
  const std::vector<TensorInfo>& input_specs() const;
  // The plan it runs: the budget planner's result and the lowering (steps, buffers).
  const BudgetPlan& budget_plan() const;
  const LoweredPlan& lowering() const;
  const dnnl::engine& engine() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace teeinfer
