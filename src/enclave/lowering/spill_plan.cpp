#include "enclave/lowering/spill_plan.h"

#include <algorithm>
#include <string>

#include "enclave/analysis/banded_ops.h"
#include "enclave/bands/band.h"

namespace teeinfer {

bool SpillPlan::is_spilled(ValueId v) const {
  const auto& spilled = plan_.options().spilled;
  return v != kNoValue && static_cast<size_t>(v) < spilled.size() && spilled[v];
}

bool SpillPlan::spills_at(const Node& n) const {
  const Graph& g = plan_.graph();
  if (is_row_aligned(g, n) || is_banded_resize(g, n))
    return is_spilled(n.outputs[0]) ||
           std::any_of(n.inputs.begin(), n.inputs.end(), [&](ValueId v) { return is_spilled(v); });
  if (n.op != OpKind::kConv && n.op != OpKind::kPool) return false;
  bool residual = n.op == OpKind::kConv && std::get<ConvParams>(n.params).fused_sum && is_spilled(n.inputs[3]);
  return is_spilled(n.inputs[0]) || residual || is_spilled(n.outputs[0]);
}

int64_t SpillPlan::band_rows(const Node& n) const {
  auto row_bytes = static_cast<int64_t>(row_floats(plan_.graph().value(n.outputs[0]).dims) * sizeof(float));
  return std::max<int64_t>(static_cast<int64_t>(plan_.options().spill_band_bytes) / row_bytes, 1);
}

void SpillPlan::add_spill(ValueId v, bool seal, int64_t image, int64_t first_row, int64_t rows, const Slot& band) {
  const Dims& d = plan_.graph().value(v).dims;  // channels-last {N, C, H, W}: a block is one row of one image
  size_t block_bytes = static_cast<size_t>(row_floats(d)) * sizeof(float);
  auto [it, fresh] = base_.emplace(v, blocks_);
  if (fresh) blocks_ += static_cast<uint64_t>(d[0] * d[2]);
  block_bytes_ = std::max(block_bytes_, block_bytes);
  plan_.touch(band);
  std::string name = std::string(seal ? "spill " : "unspill ") + plan_.graph().value(v).name + " rows " +
                     std::to_string(first_row) + "+" + std::to_string(rows) +
                     (d[0] > 1 ? ", image " + std::to_string(image) : "");
  plan_.push(
      Step{std::move(name), seal ? "teeinfer:seal" : "teeinfer:unseal",
           SpillStep{seal, it->second + static_cast<uint64_t>(image * d[2] + first_row), rows, block_bytes, band}, -1,
           StepKind::kSpill});
}

}  // namespace teeinfer
