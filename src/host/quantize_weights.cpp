#include "host/quantize_weights.h"

#include <cstring>

#include "common/quantize.h"

namespace teeinfer {

int quantize_fc_weights(Graph& g) {
  int count = 0;
  for (Node& n : g.nodes) {
    if (n.op != OpKind::kGemm || n.inputs.size() > 3) continue;
    const auto& p = std::get<GemmParams>(n.params);
    Value& b = g.value(n.inputs[1]);
    if (!p.trans_b || !b.is_constant || b.dtype != DType::kF32 || b.dims.size() != 2 || b.data.empty()) continue;
    int64_t rows = b.dims[0], cols = b.dims[1];
    QuantizedRows q = quantize_rows(reinterpret_cast<const float*>(b.data.data()), rows, cols);
    b.dtype = DType::kS8;
    b.data.assign(reinterpret_cast<const uint8_t*>(q.values.data()),
                  reinterpret_cast<const uint8_t*>(q.values.data()) + q.values.size());
    Value scales{b.name + ".scale", DType::kF32, {rows}, true, {}};
    scales.data.resize(q.scales.size() * sizeof(float));
    std::memcpy(scales.data.data(), q.scales.data(), scales.data.size());
    n.inputs.resize(3, kNoValue);
    n.inputs.push_back(g.add_value(std::move(scales)));
    ++count;
  }
  return count;
}

}  // namespace teeinfer
