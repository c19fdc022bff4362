#include "enclave/budget_planner.h"

#include <algorithm>
#include <cstdint>
#include <iterator>

#include "common/error.h"
#include "common/units.h"

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
    if (consumed[v] && g.values[v].is_constant && g.values[v].dtype == DType::kF32)
      out.push_back({static_cast<ValueId>(v), byte_size(g.values[v].dtype, g.values[v].dims, g.values[v].name)});
  std::stable_sort(out.begin(), out.end(), [](const Candidate& a, const Candidate& b) { return a.bytes > b.bytes; });
  return out;
}

class Prober {
 public:
  Prober(const Graph& g, const dnnl::engine& e, const WeightSource& w, const BudgetOptions& o)
      : g_(g), engine_(e), weights_(w), options_(o), candidates_(streamable_constants(g)) {}

  size_t candidates() const { return candidates_.size(); }

  // Lowers and plans with the k largest constants streamed.
  BudgetPlan probe(size_t k) {
    LoweringOptions lo;
    lo.mode = options_.mode;
    lo.prefetch = options_.prefetch;
    lo.conv_band_rows = options_.conv_band_rows;
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
    return p;
  }

 private:
  const Graph& g_;
  const dnnl::engine& engine_;
  const WeightSource& weights_;
  BudgetOptions options_;
  std::vector<Candidate> candidates_;
};

// Plans with the k largest streamed, for k = 0, 1, 2, 4, ..., n. Streaming is not
// monotone (a streamed tensor needs staging next to the activations of its step), so the
// minimum is taken over all of them.
std::vector<std::pair<size_t, size_t>> probe_ladder(Prober& prober) {
  std::vector<std::pair<size_t, size_t>> out;  // (k, arena bytes)
  size_t n = prober.candidates();
  for (size_t k = 0;; k = k ? std::min(2 * k, n) : 1) {
    out.emplace_back(k, prober.probe(k).arena_bytes);
    if (k >= n) break;
  }
  return out;
}

size_t minimum_of(const std::vector<std::pair<size_t, size_t>>& ladder) {
  size_t best = SIZE_MAX;
  for (const auto& [k, bytes] : ladder) best = std::min(best, bytes);
  return best;
}

}  // namespace

size_t minimum_budget(const Graph& g, const dnnl::engine& engine, const WeightSource& weights,
                      const BudgetOptions& options) {
  Prober prober(g, engine, weights, options);
  if (options.mode == ExecutionMode::kUnmodified) return prober.probe(0).arena_bytes;
  return minimum_of(probe_ladder(prober));
}

BudgetPlan plan_for_budget(const Graph& g, const dnnl::engine& engine, const WeightSource& weights,
                           const BudgetOptions& options) {
  Prober prober(g, engine, weights, options);
  BudgetPlan all_resident = prober.probe(0);
  size_t budget = options.budget_bytes;
  if (!budget || all_resident.arena_bytes <= budget) return all_resident;
  if (options.mode == ExecutionMode::kUnmodified)
    throw Error(ErrorCode::kBudgetExceeded, "unmodified mode needs " + format_bytes(all_resident.arena_bytes) +
                                                " of secure memory; the budget is " + format_bytes(budget));
  auto ladder = probe_ladder(prober);
  auto fits = std::find_if(ladder.begin(), ladder.end(), [&](const auto& p) { return p.second <= budget; });
  size_t min_budget = minimum_of(ladder);
  if (fits == ladder.end())
    throw Error(ErrorCode::kBudgetExceeded, "the model needs at least " + format_bytes(min_budget) + " (" +
                                                std::to_string(min_budget) +
                                                " bytes) of secure memory; the budget is " + format_bytes(budget));
  // The first rung that fits, then the fewest streamed tensors between it and the rung
  // below (bisection; any fitting probe found is kept).
  size_t lo = std::prev(fits)->first, hi = fits->first;
  BudgetPlan best = prober.probe(hi);
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    BudgetPlan p = prober.probe(mid);
    if (p.arena_bytes <= budget) {
      hi = mid;
      best = std::move(p);
    } else {
      lo = mid;
    }
  }
  best.min_budget_bytes = min_budget;
  return best;
}

}  // namespace teeinfer
