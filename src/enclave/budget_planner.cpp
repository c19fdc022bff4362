#include "enclave/budget_planner.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <map>
#include <optional>

#include "common/error.h"
#include "common/units.h"
#include "enclave/kernels/kernels.h"

namespace teeinfer {

namespace {

struct Candidate {
  ValueId value;
  size_t bytes;
};

// Constants consumed by some node, largest first.
std::vector<Candidate> streamable_constants(const Graph& g) {
  std::vector<bool> consumed(g.values.size(), false);
  for (const Node& n : g.nodes)
    for (ValueId v : n.inputs)
      if (v != kNoValue) consumed[v] = true;
  std::vector<Candidate> out;
  for (size_t v = 0; v < g.values.size(); ++v)
    if (consumed[v] && g.values[v].is_constant && (g.values[v].dtype == DType::kF32 || g.values[v].dtype == DType::kS8))
      out.push_back({static_cast<ValueId>(v), byte_size(g.values[v].dtype, g.values[v].dims, g.values[v].name)});
  std::stable_sort(out.begin(), out.end(), [](const Candidate& a, const Candidate& b) { return a.bytes > b.bytes; });
  return out;
}

// How weights stream, fastest first: windows for FC rows and conv output-channel tiles
// (largest: fastest kernels). Both the minimum and the plan for a budget try exactly
// these, so a budget below the reported minimum never fits and one at it always does.
// Conv weights stream whole first: output-channel tiles cost speed (each tile's conv
// re-reads the input and has fewer channels to block over; measured on ResNet-50 at
// 32 MiB: 2.10x native with tiles against 1.73x whole), so they are the fallback.
struct Streaming {
  size_t window;
  bool conv_tiles;
};
constexpr Streaming kStreaming[] = {
    {size_t{1} << 20, false}, {size_t{1} << 20, true}, {size_t{256} << 10, true}, {size_t{64} << 10, true}};

class Prober {
 public:
  Prober(const Graph& g, const dnnl::engine& e, const WeightSource& w, const BudgetOptions& o, Streaming s)
      : g_(g), engine_(e), weights_(w), options_(o), streaming_(s), candidates_(streamable_constants(g)) {}

  size_t candidates() const { return candidates_.size(); }

  // Lowers and plans with the k largest constants streamed.
  BudgetPlan probe(size_t k) {
    LoweringOptions lo = options_.lowering;
    lo.stream_window_bytes = streaming_.window;
    lo.conv_tiles = streaming_.conv_tiles;
    // Staged reorders of streamed weights need no bigger slices than the window.
    lo.reorder_slice_bytes = std::min(lo.reorder_slice_bytes, streaming_.window);
    lo.weights = &weights_;
    lo.streamed.assign(g_.values.size(), false);
    BudgetPlan p;
    for (size_t i = 0; i < k; ++i) {
      lo.streamed[candidates_[i].value] = true;
      p.streamed_bytes += candidates_[i].bytes;
    }
    p.streamed_constants = static_cast<int>(k);
    p.lowering = std::make_unique<Lowering>(g_, engine_, lo);
    p.lowering->lower_all(options_.load_scratch_bytes, options_.staged);
    p.lowering->planner().plan();
    p.arena_bytes = p.lowering->planner().arena_size();
    for (const ConstantLoad& c : p.lowering->loads()) p.resident_weight_bytes += c.target.md.get_size();
    for (const Step& s : p.lowering->steps())
      if (s.spill && s.spill->seal) p.spilled_bytes += static_cast<size_t>(s.spill->blocks) * s.spill->block_bytes;
    return p;
  }

 private:
  const Graph& g_;
  const dnnl::engine& engine_;
  const WeightSource& weights_;
  BudgetOptions options_;
  Streaming streaming_;
  std::vector<Candidate> candidates_;
};

// Plans with the k largest streamed, for k = 0, 1, 2, 4, ..., n. Streaming is not
// monotone (a streamed tensor needs staging next to the activations of its step), so the
// minimum is taken over all of them.
std::vector<size_t> ladder(size_t n) {
  std::vector<size_t> ks{0};
  for (size_t k = 1; ks.back() < n; k = std::min(2 * k, n)) ks.push_back(k);
  return ks;
}

std::vector<std::pair<size_t, size_t>> probe_ladder(Prober& prober) {
  std::vector<std::pair<size_t, size_t>> out;  // (k, arena bytes)
  for (size_t k : ladder(prober.candidates())) out.emplace_back(k, prober.probe(k).arena_bytes);
  return out;
}

// Ways to lower the graph, least intrusive first: layer by layer, then fusable Conv/Pool
// chains band-fused into more and more bands (smaller band buffers, more recomputed halo
// rows).
constexpr int64_t kBandsPerChain[] = {4, 8, 16, 32};
// Fusing keeps every weight of a chain in the arena for the whole chain, so it pays only
// where the intermediate activations it removes outweigh those weights (VGG's early
// blocks, not its 512-channel ones). Where they barely do, layer by layer with the
// weights streamed in output-channel tiles may need less: each chain is fused when its
// activations exceed its weights by one of these factors.
constexpr size_t kFusionGain[] = {1, 4};

// Spilling an activation keeps only a band of it in the arena, but the nodes next to it
// then run in bands with their whole weights resident (not in output-channel tiles), so
// it pays where the activation outweighs those weights (VGG's and ResNet's early layers).
// Each spill variant spills every such activation of at least one of these sizes.
constexpr size_t kSpillAtLeast[] = {size_t{2} << 20, size_t{512} << 10, size_t{128} << 10};

size_t weight_bytes_of(const Graph& g, const Node& n) {
  if (n.op != OpKind::kConv) return 0;
  const Value& w = g.value(n.inputs[1]);
  return byte_size(w.dtype, w.dims, w.name);
}

// By ValueId: the spillable activations of at least `least` bytes that outweigh the
// weights of the convolutions making and reading them, outside fused chains.
std::vector<bool> spill_candidates(const Graph& g, const std::map<size_t, std::pair<size_t, int64_t>>& fused,
                                   size_t least) {
  std::vector<bool> out = spillable_activations(g);
  std::vector<size_t> weights(g.values.size(), 0);  // the largest adjacent conv weight
  for (const Node& n : g.nodes)
    for (ValueId v : {n.inputs[0], n.outputs[0]}) weights[v] = std::max(weights[v], weight_bytes_of(g, n));
  for (const Node& n : g.nodes)
    if (n.op == OpKind::kConv && std::get<ConvParams>(n.params).fused_sum)
      weights[n.inputs[3]] = std::max(weights[n.inputs[3]], weight_bytes_of(g, n));
  for (auto [first, range] : fused)
    for (size_t k = first; k <= range.first; ++k) {
      out[g.nodes[k].inputs[0]] = false;
      out[g.nodes[k].outputs[0]] = false;
    }
  for (size_t v = 0; v < out.size(); ++v) {
    if (!out[v]) continue;
    size_t bytes = byte_size(DType::kF32, g.values[v].dims, g.values[v].name);
    out[v] = bytes >= least && bytes >= weights[v];
  }
  return out;
}

std::vector<BudgetOptions> variants(const Graph& g, const BudgetOptions& options) {
  std::vector<BudgetOptions> out{options};
  if (options.lowering.mode == ExecutionMode::kUnmodified) return out;
  struct Chain {
    size_t first, last, activations = 0, weights = 0;  // bytes of intermediate activations and weights
  };
  std::vector<Chain> costs;
  for (auto [first, last] : fusable_chains(g)) {
    Chain c{first, last};
    for (size_t k = first; k <= last; ++k) {
      const Node& n = g.nodes[k];
      if (k < last) c.activations += byte_size(DType::kF32, g.value(n.outputs[0]).dims, n.name);
      for (size_t i = 1; i < n.inputs.size(); ++i)
        if (n.inputs[i] != kNoValue && g.value(n.inputs[i]).is_constant)
          c.weights += byte_size(g.value(n.inputs[i]).dtype, g.value(n.inputs[i]).dims, n.name);
    }
    costs.push_back(c);
  }
  std::vector<std::vector<std::pair<size_t, size_t>>> chain_sets;
  for (size_t gain : kFusionGain) {
    std::vector<std::pair<size_t, size_t>> chains;
    for (const Chain& c : costs)
      if (c.activations > gain * c.weights) chains.emplace_back(c.first, c.last);
    if (!chains.empty() && std::find(chain_sets.begin(), chain_sets.end(), chains) == chain_sets.end())
      chain_sets.push_back(chains);
  }
  auto fused = [&](const std::vector<std::pair<size_t, size_t>>& chains, int64_t bands) {
    BudgetOptions o = options;
    for (auto [first, last] : chains) {
      int64_t out_h = g.value(g.nodes[last].outputs[0]).dims[2];
      o.lowering.fused_bands[first] = {last, std::max<int64_t>((out_h + bands - 1) / bands, 1)};
    }
    return o;
  };
  for (const auto& chains : chain_sets)
    for (int64_t bands : kBandsPerChain) out.push_back(fused(chains, bands));
  if (!options.lowering.spilled.empty()) return out;  // spills forced by the caller
  // Last resort, since it costs encryption at every run: spill activations to host memory.
  std::vector<BudgetOptions> bases{options};
  for (const auto& chains : chain_sets) bases.push_back(fused(chains, kBandsPerChain[2]));
  std::vector<std::vector<bool>> spill_sets;
  for (const BudgetOptions& base : bases)
    for (size_t least : kSpillAtLeast) {
      std::vector<bool> spilled = spill_candidates(g, base.lowering.fused_bands, least);
      if (std::find(spilled.begin(), spilled.end(), true) == spilled.end()) continue;
      BudgetOptions o = base;
      o.lowering.spilled = std::move(spilled);
      out.push_back(std::move(o));
    }
  return out;
}

// The configurations a plan may take: layer by layer with any k streamed, or fused with
// k on the ladder (each fused probe lowers many band steps; the ladder keeps it cheap).
template <class Visit>
bool for_each_configuration(const Graph& g, const dnnl::engine& engine, const WeightSource& weights,
                            const BudgetOptions& options, Visit visit) {
  auto all = variants(g, options);
  for (size_t v = 0; v < all.size(); ++v)
    for (Streaming streaming : kStreaming) {
      Prober p(g, engine, weights, all[v], streaming);
      if (v == 0) {
        for (size_t k = 0; k <= p.candidates(); ++k)
          if (visit(p, k)) return true;
      } else {
        for (size_t k : ladder(p.candidates()))
          if (visit(p, k)) return true;
      }
    }
  return false;
}

}  // namespace

size_t minimum_budget(const Graph& g, const dnnl::engine& engine, const WeightSource& weights,
                      const BudgetOptions& options) {
  if (options.lowering.mode == ExecutionMode::kUnmodified)
    return Prober(g, engine, weights, options, kStreaming[0]).probe(0).arena_bytes;
  size_t best = SIZE_MAX;
  for_each_configuration(g, engine, weights, options, [&](Prober& p, size_t k) {
    best = std::min(best, p.probe(k).arena_bytes);
    return false;
  });
  return best;
}

namespace {

// The fewest streamed tensors that fit, found fast: up the ladder to the first rung that
// fits, then (layer by layer only) bisection below it, keeping any fitting probe.
std::optional<BudgetPlan> search_ladder(Prober& p, size_t budget, bool bisect) {
  auto ladder = probe_ladder(p);
  auto fits = std::find_if(ladder.begin(), ladder.end(), [&](const auto& r) { return r.second <= budget; });
  if (fits == ladder.end()) return std::nullopt;
  size_t hi = fits->first;
  BudgetPlan best = p.probe(hi);
  if (!bisect || fits == ladder.begin()) return best;
  size_t lo = std::prev(fits)->first;
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    BudgetPlan candidate = p.probe(mid);
    if (candidate.arena_bytes <= budget) {
      hi = mid;
      best = std::move(candidate);
    } else {
      lo = mid;
    }
  }
  return best;
}

}  // namespace

BudgetPlan plan_for_budget(const Graph& g, const dnnl::engine& engine, const WeightSource& weights,
                           const BudgetOptions& options) {
  Prober prober(g, engine, weights, options, kStreaming[0]);
  BudgetPlan all_resident = prober.probe(0);
  size_t budget = options.budget_bytes;
  if (!budget || all_resident.arena_bytes <= budget) return all_resident;
  if (options.lowering.mode == ExecutionMode::kUnmodified)
    throw Error(ErrorCode::kBudgetExceeded, "unmodified mode needs " + format_bytes(all_resident.arena_bytes) +
                                                " of secure memory; the budget is " + format_bytes(budget));
  auto all = variants(g, options);
  for (size_t v = 0; v < all.size(); ++v)
    for (Streaming streaming : kStreaming) {
      Prober p(g, engine, weights, all[v], streaming);
      if (std::optional<BudgetPlan> plan = search_ladder(p, budget, /*bisect=*/v == 0)) return std::move(*plan);
    }
  // Near the minimum the fast searches can step over the few plans that fit.
  std::optional<BudgetPlan> found;
  for_each_configuration(g, engine, weights, options, [&](Prober& p, size_t k) {
    BudgetPlan plan = p.probe(k);
    if (plan.arena_bytes > budget) return false;
    found = std::move(plan);
    return true;
  });
  if (found) return std::move(*found);
  size_t min_budget = minimum_budget(g, engine, weights, options);
  throw Error(ErrorCode::kBudgetExceeded, "the model needs at least " + format_bytes(min_budget) + " (" +
                                              std::to_string(min_budget) + " bytes) of secure memory; the budget is " +
                                              format_bytes(budget));
}

}  // namespace teeinfer
