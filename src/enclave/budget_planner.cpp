#include "enclave/budget_planner.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <map>
#include <optional>

#include "common/error.h"
#include "common/units.h"
#include "enclave/analysis/fusable_chains.h"
#include "enclave/analysis/row_windows.h"
#include "enclave/analysis/spillable_activations.h"
#include "enclave/lowering/lower_graph.h"

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

// Streaming modes that lower every streamed tensor alike on this graph give the same
// plans, so only the first of each kind is probed. A window of at least twice the largest
// streamable tensor (as fp32, the widest a window holds it) takes every tensor whole: no
// row windows, slices or output-channel tiles, whatever the window.
std::vector<Streaming> distinct_streamings(const Graph& g) {
  size_t largest = 0;
  for (const Candidate& c : streamable_constants(g))
    largest = std::max(largest, byte_size(DType::kF32, g.value(c.value).dims, g.value(c.value).name));
  std::vector<Streaming> out;
  std::vector<std::pair<size_t, bool>> kinds;
  for (Streaming s : kStreaming) {
    auto kind = s.window >= 2 * largest ? std::make_pair(size_t{0}, false) : std::make_pair(s.window, s.conv_tiles);
    if (std::find(kinds.begin(), kinds.end(), kind) != kinds.end()) continue;
    kinds.push_back(kind);
    out.push_back(s);
  }
  return out;
}

class Prober {
 public:
  Prober(const Graph& g, const dnnl::engine& e, const WeightSource& w, const BudgetOptions& o, Streaming s,
         SearchStats* stats)
      : g_(g),
        engine_(e),
        weights_(w),
        options_(o),
        streaming_(s),
        stats_(stats),
        candidates_(streamable_constants(g)) {}

  size_t candidates() const { return candidates_.size(); }
  // The fewest k that streams every constant in `values` (all of them among the k largest).
  size_t streaming_all_of(const std::vector<ValueId>& values) const {
    size_t k = 0;
    for (size_t i = 0; i < candidates_.size(); ++i)
      if (std::find(values.begin(), values.end(), candidates_[i].value) != values.end()) k = i + 1;
    return k;
  }

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
    p.lowering = lower_graph(g_, engine_, lo, options_.load_scratch_bytes, options_.staged);
    p.lowering->planner().plan();
    p.arena_bytes = p.lowering->planner().arena_size();
    for (const ConstantLoad& c : p.lowering->loads()) p.resident_weight_bytes += c.target.md.get_size();
    for (const Step& s : p.lowering->steps()) {
      if (const auto* io = std::get_if<SpillStep>(&s.action); io && io->seal)
        p.spilled_bytes += static_cast<size_t>(io->blocks) * io->block_bytes;
      if (const auto* out = std::get_if<OutputStep>(&s.action)) p.output_bytes_in_bands += out->rows_md.get_size();
    }
    if (stats_) {
      ++stats_->probes;
      stats_->lowered_steps += p.lowering->steps().size();
    }
    return p;
  }

 private:
  const Graph& g_;
  const dnnl::engine& engine_;
  const WeightSource& weights_;
  BudgetOptions options_;
  Streaming streaming_;
  SearchStats* stats_;
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

// Up to this many streamable constants, layer-by-layer plans try every k (the exact
// minimum over them); past it (deep graphs: a 2,000-layer chain has 4,000), only the
// ladder, so that planning stays near-linear in the graph's size: O(log n) probes of
// O(n) each per configuration. ResNet-50 has 161, DenseNet-121 362.
constexpr size_t kExhaustiveCandidates = 512;

bool exhaustive(const Prober& p) {
  return p.candidates() <= kExhaustiveCandidates;
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

// Clears the values that fused chains make or read: the chains' band lowering neither
// spills nor writes out.
void drop_fused_chain_values(const Graph& g, const std::map<size_t, std::pair<size_t, int64_t>>& fused,
                             std::vector<bool>& values) {
  for (auto [first, range] : fused)
    for (size_t k = first; k <= range.first; ++k) {
      values[g.nodes[k].inputs[0]] = false;
      values[g.nodes[k].outputs[0]] = false;
    }
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
  drop_fused_chain_values(g, fused, out);
  for (size_t v = 0; v < out.size(); ++v) {
    if (!out[v]) continue;
    size_t bytes = byte_size(DType::kF32, g.values[v].dims, g.values[v].name);
    out[v] = bytes >= least && bytes >= weights[v];
  }
  return out;
}

// Whether bands of `rows` output rows through nodes [first, last] would recompute more
// input rows (the halo) than they advance by: then fusing costs more than it saves, and
// on small images deep chains of tiny bands make every probe lower thousands of steps.
bool halo_outweighs_band(const Graph& g, size_t first, size_t last, int64_t rows) {
  int64_t in_rows = rows, advance = rows;
  for (size_t k = last + 1; k-- > first;) {
    std::optional<RowWindow> w = row_window_of(g.nodes[k]);
    if (!w) return true;
    in_rows = (in_rows - 1) * w->stride + (w->kernel - 1) * w->dilation + 1;
    advance *= w->stride;
  }
  return in_rows > 2 * advance;
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
      int64_t rows = std::max<int64_t>((out_h + bands - 1) / bands, 1);
      if (halo_outweighs_band(g, first, last, rows)) continue;  // that chain stays layer by layer
      o.lowering.fused_bands[first] = {last, rows};
    }
    return o;
  };
  // Few rows, or chains that stay unfused, can make two variants the same: keep the first.
  auto add = [&](BudgetOptions o) {
    bool seen = std::any_of(out.begin(), out.end(), [&](const BudgetOptions& x) {
      return x.lowering.fused_bands == o.lowering.fused_bands && x.lowering.spilled == o.lowering.spilled &&
             x.lowering.outputs_in_bands == o.lowering.outputs_in_bands;
    });
    if (!seen) out.push_back(std::move(o));
  };
  for (const auto& chains : chain_sets)
    for (int64_t bands : kBandsPerChain) add(fused(chains, bands));
  // spills or outputs in bands forced by the caller
  if (!options.lowering.spilled.empty() || !options.lowering.outputs_in_bands.empty()) return out;
  std::vector<BudgetOptions> bases{options};
  for (const auto& chains : chain_sets) bases.push_back(fused(chains, kBandsPerChain[2]));
  auto any = [](const std::vector<bool>& values) {
    return std::find(values.begin(), values.end(), true) != values.end();
  };
  // Graph outputs that no node reads leave band by band, copied to the host's buffer as
  // they are computed instead of whole after the last step: next to nothing per run.
  std::vector<bool> read(g.values.size(), false);
  for (const Node& n : g.nodes)
    for (ValueId v : n.inputs)
      if (v != kNoValue) read[v] = true;
  auto leaving = [&](const BudgetOptions& base) {
    std::vector<bool> out = outputs_leaving_in_bands(g);
    drop_fused_chain_values(g, base.lowering.fused_bands, out);
    return out;
  };
  for (const BudgetOptions& base : bases) {
    std::vector<bool> unread = leaving(base);
    for (size_t v = 0; v < unread.size(); ++v) unread[v] = unread[v] && !read[v];
    if (!any(unread)) continue;
    BudgetOptions o = base;
    o.lowering.outputs_in_bands = std::move(unread);
    add(std::move(o));
  }
  // Last resort, since it costs encryption at every run: spill activations to host memory.
  // Every graph output that can leave in bands does, and those later nodes read are
  // spilled too (they read them back in bands).
  for (const BudgetOptions& base : bases)
    for (size_t least : kSpillAtLeast) {
      std::vector<bool> spilled = spill_candidates(g, base.lowering.fused_bands, least);
      std::vector<bool> outputs = leaving(base);
      for (size_t v = 0; v < outputs.size(); ++v)
        if (outputs[v] && read[v]) spilled[v] = true;
      if (!any(spilled)) continue;
      BudgetOptions o = base;
      o.lowering.spilled = std::move(spilled);
      if (any(outputs)) o.lowering.outputs_in_bands = std::move(outputs);
      add(std::move(o));
    }
  return out;
}

// The configurations a plan may take, in the order plans are preferred: each variant
// (layer by layer first), each distinct streaming mode, and k streamed constants (layer
// by layer: every k when exhaustive, else the ladder; fused and spilled variants: the
// ladder, since each of their probes lowers many band steps). The minimum budget and the
// plan for a budget enumerate exactly these, so a budget fits exactly when it is at least
// the minimum. Arena sizes are remembered: the fallback and the minimum reuse the fast
// search's probes.
class Search {
 public:
  Search(const Graph& g, const dnnl::engine& engine, const WeightSource& weights, const BudgetOptions& options,
         SearchStats* stats) {
    BudgetOptions direct = options;
    direct.lowering.winograd.clear();
    direct.lowering.dilated_phases.clear();
    std::vector<BudgetOptions> all = variants(g, direct);
    size_t layer_by_layer = 0;  // the variant the caller gave (its first)
    // Winograd first, layer by layer: where its larger weights fit, it is faster; as the
    // budget tightens and more weights stream, fewer convolutions keep it.
    if (!options.lowering.winograd.empty() || !options.lowering.dilated_phases.empty()) {
      all.insert(all.begin(), options);
      layer_by_layer = 1;
    }
    std::vector<Streaming> streamings = distinct_streamings(g);
    for (size_t v = 0; v < all.size(); ++v)
      for (Streaming streaming : streamings)
        configs_.push_back(
            {v <= layer_by_layer, std::make_unique<Prober>(g, engine, weights, all[v], streaming, stats), {}});
    // A Winograd configuration that streams every weight it would transform lowers
    // exactly as its direct twin (streamed weights never use Winograd): its arena is the
    // twin's, without a probe of its own.
    if (layer_by_layer == 1) {
      std::vector<ValueId> winograd_weights;
      for (const auto& chosen : options.lowering.winograd) winograd_weights.push_back(g.nodes[chosen.first].inputs[1]);
      for (size_t node : options.lowering.dilated_phases) winograd_weights.push_back(g.nodes[node].inputs[1]);
      for (size_t s = 0; s < streamings.size(); ++s) {
        configs_[s].twin = s + streamings.size();
        configs_[s].twin_from_k = configs_[s].prober->streaming_all_of(winograd_weights);
      }
    }
  }

  // Every k a configuration may stream, fewest first.
  std::vector<size_t> ks(size_t config) const {
    const Config& c = configs_[config];
    size_t n = c.prober->candidates();
    if (c.layer_by_layer && exhaustive(*c.prober)) {
      std::vector<size_t> all(n + 1);
      for (size_t k = 0; k <= n; ++k) all[k] = k;
      return all;
    }
    return ladder(n);
  }
  size_t configs() const { return configs_.size(); }
  bool bisects(size_t config) const { return configs_[config].layer_by_layer && exhaustive(*configs_[config].prober); }

  size_t arena(size_t config, size_t k) {
    const Config& c = configs_[config];
    if (c.twin && k >= c.twin_from_k) return arena(*c.twin, k);
    auto& known = configs_[config].arena;
    if (auto it = known.find(k); it != known.end()) return it->second;
    return plan(config, k).arena_bytes;
  }
  BudgetPlan plan(size_t config, size_t k) {
    BudgetPlan p = configs_[config].prober->probe(k);
    configs_[config].arena[k] = p.arena_bytes;
    return p;
  }

  size_t minimum() {
    size_t best = SIZE_MAX;
    for (size_t c = 0; c < configs(); ++c)
      for (size_t k : ks(c)) best = std::min(best, arena(c, k));
    return best;
  }

  // The first configuration (in preference order) with a plan that fits: up its ladder to
  // the first rung that fits, then (exhaustive layer-by-layer only) bisection below it for
  // the fewest streamed tensors. Near the minimum this can step over the few plans that
  // fit, so then every k is tried.
  std::optional<BudgetPlan> fit(size_t budget) {
    for (size_t c = 0; c < configs(); ++c)
      if (std::optional<BudgetPlan> p = fit_fast(c, budget)) return p;
    for (size_t c = 0; c < configs(); ++c)
      for (size_t k : ks(c))
        if (arena(c, k) <= budget) return plan(c, k);
    return std::nullopt;
  }

 private:
  struct Config {
    bool layer_by_layer;
    std::unique_ptr<Prober> prober;
    std::map<size_t, size_t> arena;   // k -> arena bytes, as probed
    std::optional<size_t> twin = {};  // Winograd: the direct config lowering alike from twin_from_k on
    size_t twin_from_k = 0;
  };

  std::optional<BudgetPlan> fit_fast(size_t c, size_t budget) {
    std::vector<size_t> rungs = ladder(configs_[c].prober->candidates());
    auto fits = std::find_if(rungs.begin(), rungs.end(), [&](size_t k) { return arena(c, k) <= budget; });
    if (fits == rungs.end()) return std::nullopt;
    size_t hi = *fits;
    if (!bisects(c) || fits == rungs.begin()) return plan(c, hi);
    size_t lo = *std::prev(fits);
    while (hi - lo > 1) {
      size_t mid = lo + (hi - lo) / 2;
      if (arena(c, mid) <= budget)
        hi = mid;
      else
        lo = mid;
    }
    return plan(c, hi);
  }

  std::vector<Config> configs_;
};

}  // namespace

size_t minimum_budget(const Graph& g, const dnnl::engine& engine, const WeightSource& weights,
                      const BudgetOptions& options, SearchStats* stats) {
  if (options.lowering.mode == ExecutionMode::kUnmodified)
    return Prober(g, engine, weights, options, kStreaming[0], stats).probe(0).arena_bytes;
  return Search(g, engine, weights, options, stats).minimum();
}

BudgetPlan plan_for_budget(const Graph& g, const dnnl::engine& engine, const WeightSource& weights,
                           const BudgetOptions& options, SearchStats* stats) {
  Prober prober(g, engine, weights, options, kStreaming[0], stats);
  BudgetPlan all_resident = prober.probe(0);
  size_t budget = options.budget_bytes;
  if (!budget || all_resident.arena_bytes <= budget) return all_resident;
  if (options.lowering.mode == ExecutionMode::kUnmodified)
    throw Error(ErrorCode::kBudgetExceeded, "unmodified mode needs " + format_bytes(all_resident.arena_bytes) +
                                                " of secure memory; the budget is " + format_bytes(budget));
  Search search(g, engine, weights, options, stats);
  if (std::optional<BudgetPlan> plan = search.fit(budget)) return std::move(*plan);
  size_t min_budget = search.minimum();
  throw Error(ErrorCode::kBudgetExceeded, "the model needs at least " + format_bytes(min_budget) + " (" +
                                              std::to_string(min_budget) + " bytes) of secure memory; the budget is " +
                                              format_bytes(budget));
}

}  // namespace teeinfer
