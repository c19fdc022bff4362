// The public PlanReport (include/teeinfer/teeinfer.h) of a plan the budget planner made.
#pragma once

#include "common/graph.h"
#include "enclave/budget_planner.h"
#include "teeinfer/teeinfer.h"

namespace teeinfer {

// Steps with the bytes alive during each, per-layer strategies and weights, and totals.
// `min_budget` is the smallest feasible budget, computed by the caller (minimum_budget).
PlanReport plan_report(const Graph& g, const LoweredPlan& lowering, const BudgetPlan& plan, size_t budget,
                       size_t min_budget);

}  // namespace teeinfer
