#include "enclave/budget_planner.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <optional>

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

// Row windows for streamed FC weights, largest (fastest matmuls) first. Both the
// minimum and the plan for a budget try exactly these, so a budget below the reported
// minimum never fits and one at it always does.
constexpr size_t kWindowBytes[] = {size_t{1} << 20, size_t{256} << 10, size_t{64} << 10};

class Prober {
 public:
  Prober(const Graph& g, const dnnl::engine& e, const WeightSource& w, const BudgetOptions& o, size_t window)
      : g_(g), engine_(e), weights_(w), options_(o), window_(window), candidates_(streamable_constants(g)) {}

  size_t candidates() const { return candidates_.size(); }

  // Lowers and plans with the k largest constants streamed.
  BudgetPlan probe(size_t k) {
    LoweringOptions lo;
    lo.mode = options_.mode;
    lo.prefetch = options_.prefetch;
    lo.stream_window_bytes = window_;
    lo.conv_band_rows = options_.conv_band_rows;
    lo.reorder_slice_bytes = options_.reorder_slice_bytes;
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
  size_t window_;
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

}  // namespace

size_t minimum_budget(const Graph& g, const dnnl::engine& engine, const WeightSource& weights,
                      const BudgetOptions& options) {
  if (options.mode == ExecutionMode::kUnmodified)
    return Prober(g, engine, weights, options, kWindowBytes[0]).probe(0).arena_bytes;
  size_t best = SIZE_MAX;
  for (size_t window : kWindowBytes) {
    Prober prober(g, engine, weights, options, window);
    for (size_t k = 0; k <= prober.candidates(); ++k) best = std::min(best, prober.probe(k).arena_bytes);
  }
  return best;
}

namespace {

// The fewest streamed tensors that fit, found fast: up the ladder to the first rung that
// fits, then bisection below it (any fitting probe found is kept).
std::optional<BudgetPlan> search_ladder(Prober& p, size_t budget) {
  auto ladder = probe_ladder(p);
  auto fits = std::find_if(ladder.begin(), ladder.end(), [&](const auto& r) { return r.second <= budget; });
  if (fits == ladder.end() || fits == ladder.begin()) return std::nullopt;
  size_t lo = std::prev(fits)->first, hi = fits->first;
  BudgetPlan best = p.probe(hi);
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

// Every k: for budgets near the minimum, where the ladder can step over the few sets
// that fit (the arena is not monotone in k).
std::optional<BudgetPlan> search_all(Prober& p, size_t budget) {
  for (size_t k = 1; k <= p.candidates(); ++k)
    if (BudgetPlan plan = p.probe(k); plan.arena_bytes <= budget) return plan;
  return std::nullopt;
}

}  // namespace

BudgetPlan plan_for_budget(const Graph& g, const dnnl::engine& engine, const WeightSource& weights,
                           const BudgetOptions& options) {
  Prober prober(g, engine, weights, options, kWindowBytes[0]);
  BudgetPlan all_resident = prober.probe(0);
  size_t budget = options.budget_bytes;
  if (!budget || all_resident.arena_bytes <= budget) return all_resident;
  if (options.mode == ExecutionMode::kUnmodified)
    throw Error(ErrorCode::kBudgetExceeded, "unmodified mode needs " + format_bytes(all_resident.arena_bytes) +
                                                " of secure memory; the budget is " + format_bytes(budget));
  for (auto search : {search_ladder, search_all})
    for (size_t window : kWindowBytes) {
      Prober p(g, engine, weights, options, window);
      if (std::optional<BudgetPlan> plan = search(p, budget)) return std::move(*plan);
    }
  size_t min_budget = minimum_budget(g, engine, weights, options);
  throw Error(ErrorCode::kBudgetExceeded, "the model needs at least " + format_bytes(min_budget) + " (" +
                                              std::to_string(min_budget) + " bytes) of secure memory; the budget is " +
                                              format_bytes(budget));
}

}  // namespace teeinfer
