// Budget planner: decides which weights stay resident in secure memory and which are
// streamed (read and decrypted again at every run, just before use), so that the whole
// plan fits a byte budget, and proves it by planning every buffer's offset.
//
//   BudgetPlan p = plan_for_budget(graph, engine, weights, {.budget_bytes = 16 << 20});
//   p.lowering->steps();  p.arena_bytes;  p.min_budget_bytes;
//
// Policy: keep everything resident when it fits (no per-run cost). Otherwise stream the
// largest constants first: every streamed byte costs the same decryption time per run,
// and large tensors free the most memory per step added. Each probe "stream the k
// largest" lowers and plans the whole graph; k runs up a ladder 1, 2, 4, ..., n to the
// first rung that fits, then bisects down to the fewest tensors that still fit.
// Fully-connected weights stream in row windows (1 MiB, 256 KiB or 64 KiB: the largest
// that fits), so no whole matrix is ever resident. The arena is not monotone in k (a
// streamed tensor may need a staging copy next to its step's activations), so when the
// ladder finds nothing every k is tried; the minimum budget is the least over all k and
// windows, and a budget fits exactly when it is at least that. Deep graphs (more than
// 512 streamable constants) try the ladder's k only, and chains are fused at most 8 nodes
// deep with bands no thinner than their halo, so planning stays near-linear in the number
// of layers (a 2,000-layer conv chain: tens of probes). With Winograd chosen for some
// convolutions (LoweringOptions::winograd), a Winograd layer-by-layer configuration is
// tried before all the direct ones; streamed weights never use Winograd, so from the k
// that streams all of its weights it lowers as its direct twin and reuses that arena.
#pragma once

#include <memory>

#include "enclave/lowering/lowered_plan.h"

namespace teeinfer {

struct BudgetOptions {
  size_t budget_bytes = 0;        // 0: no limit (everything resident)
  size_t load_scratch_bytes = 0;  // the weight source's chunk window
  bool staged = false;            // constants come decrypted through staging (sealed)
  // The base of every probe: mode, prefetch, and any layout forced by the caller (band
  // rows, fused chains, spills). The planner sets what it decides: streamed constants,
  // the stream window, the weight source, and fusion and spills when not forced.
  LoweringOptions lowering = {};
};

struct BudgetPlan {
  std::unique_ptr<LoweredPlan> lowering;  // lowered and planned
  size_t arena_bytes = 0;
  size_t min_budget_bytes = 0;  // 0: not computed here (minimum_budget() computes it)
  size_t streamed_bytes = 0;    // read from the weight source at every run
  size_t resident_weight_bytes = 0;
  size_t spilled_bytes = 0;          // activation bytes sealed out to host memory per run
  size_t output_bytes_in_bands = 0;  // graph output bytes copied to the host band by band
  int streamed_constants = 0;
};

// How much work a search did: plans lowered (probes) and the steps they lowered in all.
struct SearchStats {
  size_t probes = 0;
  size_t lowered_steps = 0;
};

// The smallest arena any plan of this graph needs (enumerates every configuration: for
// `teeinfer plan` and error messages).
size_t minimum_budget(const Graph& g, const dnnl::engine& engine, const WeightSource& weights,
                      const BudgetOptions& options, SearchStats* stats = nullptr);

// Throws Error(kBudgetExceeded) naming the smallest budget that would work.
BudgetPlan plan_for_budget(const Graph& g, const dnnl::engine& engine, const WeightSource& weights,
                           const BudgetOptions& options, SearchStats* stats = nullptr);

}  // namespace teeinfer
