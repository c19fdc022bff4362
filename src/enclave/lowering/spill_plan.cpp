#include "enclave/lowering/spill_plan.h"

#include <algorithm>
#include <string>

#include "common/aes_gcm.h"
#include "common/error.h"
#include "enclave/analysis/banded_ops.h"
#include "enclave/bands/band.h"

namespace teeinfer {

bool SpillPlan::is_spilled(ValueId v) const {
  const auto& spilled = plan_.options().spilled;
  return v != kNoValue && static_cast<size_t>(v) < spilled.size() && spilled[v];
}

bool SpillPlan::is_written_out(ValueId v) const {
  const auto& out = plan_.options().outputs_in_bands;
  return v != kNoValue && static_cast<size_t>(v) < out.size() && out[v];
}

bool SpillPlan::spills_at(const Node& n) const {
  const Graph& g = plan_.graph();
  if (is_banded_reduce(g, n)) return is_spilled(n.inputs[0]);
  if (is_row_aligned(g, n) || is_banded_resize(g, n))
    return leaves_in_bands(n.outputs[0]) ||
           std::any_of(n.inputs.begin(), n.inputs.end(), [&](ValueId v) { return is_spilled(v); });
  if (n.op != OpKind::kConv && n.op != OpKind::kPool) return false;
  bool residual = n.op == OpKind::kConv && std::get<ConvParams>(n.params).fused_sum && is_spilled(n.inputs[3]);
  return is_spilled(n.inputs[0]) || residual || leaves_in_bands(n.outputs[0]);
}

int64_t SpillPlan::band_rows(const Node& n) const {
  // Bytes per output row: of the output's row, or of the input rows it reads, whichever
  // is larger (a 64-channel input to a 1-channel conv: IS-Net's side outputs).
  const Graph& g = plan_.graph();
  const Dims& y = g.value(n.outputs[0]).dims;
  auto bytes_per_row = static_cast<double>(row_floats(y) * static_cast<int64_t>(sizeof(float)));
  for (ValueId v : n.inputs) {
    if (v == kNoValue || g.value(v).is_constant || g.value(v).dims.size() != 4) continue;
    const Dims& x = g.value(v).dims;
    double rows_read = std::max(static_cast<double>(x[2]) / static_cast<double>(y[2]), 1.0);
    bytes_per_row = std::max(bytes_per_row, rows_read * static_cast<double>(row_floats(x)) * sizeof(float));
  }
  return std::max<int64_t>(static_cast<int64_t>(static_cast<double>(plan_.options().spill_band_bytes) / bytes_per_row),
                           1);
}

void SpillPlan::add_spill(ValueId v, bool seal, int64_t image, int64_t first_row, int64_t rows, const Slot& band) {
  const Dims& d = plan_.graph().value(v).dims;  // channels-last {N, C, H, W}: a block is one row of one image
  size_t block_bytes = static_cast<size_t>(row_floats(d)) * sizeof(float);
  auto [it, fresh] = base_.emplace(v, Placement{blocks_, host_bytes_});
  if (fresh) {
    blocks_ += static_cast<uint64_t>(d[0] * d[2]);
    host_bytes_ += static_cast<size_t>(d[0] * d[2]) * (block_bytes + kTagBytes);
  }
  const auto row = static_cast<uint64_t>(image * d[2] + first_row);
  plan_.touch(band);
  std::string name = std::string(seal ? "spill " : "unspill ") + plan_.graph().value(v).name + " rows " +
                     std::to_string(first_row) + "+" + std::to_string(rows) +
                     (d[0] > 1 ? ", image " + std::to_string(image) : "");
  plan_.push(Step{std::move(name), seal ? "teeinfer:seal" : "teeinfer:unseal",
                  SpillStep{seal, it->second.first_block + row, rows, block_bytes, band,
                            it->second.host_offset + static_cast<size_t>(row) * (block_bytes + kTagBytes)},
                  -1, StepKind::kSpill});
}

void SpillPlan::add_band_out(ValueId v, int64_t image, int64_t first_row, int64_t rows, const Slot& band) {
  if (is_spilled(v)) add_spill(v, true, image, first_row, rows, band);
  if (!is_written_out(v)) return;
  const Graph& g = plan_.graph();
  const Value& val = g.value(v);
  const Dims& d = val.dims;  // {N, C, H, W}; the host's buffer is plain row-major
  auto output = static_cast<size_t>(std::find(g.outputs.begin(), g.outputs.end(), v) - g.outputs.begin());
  if (output == g.outputs.size() || d.size() != 4)
    throw Error(ErrorCode::kKernel, "value '" + val.name + "' is written out in bands but is not a 4-D graph output");
  dnnl::memory::desc rows_md = plain_rows_md(d, rows);
  size_t offset = static_cast<size_t>(plain_rows_offset(d, image, first_row)) * sizeof(float);
  auto pd = dnnl::reorder::primitive_desc(plan_.engine(), band.md, plan_.engine(), rows_md);
  written_out_.insert(v);
  plan_.touch(band);
  plan_.push(Step{"output " + val.name + " rows " + std::to_string(first_row) + "+" + std::to_string(rows) +
                      (d[0] > 1 ? ", image " + std::to_string(image) : ""),
                  pd.impl_info_str(), OutputStep{output, dnnl::reorder(pd), rows_md, offset, band}, -1,
                  StepKind::kLayout});
}

}  // namespace teeinfer
