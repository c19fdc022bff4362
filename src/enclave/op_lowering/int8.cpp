// Full int8 (Int8Weights::full): helpers the Conv and Gemm kernels share. oneDNN's int8
// kernels read u8 activations and s8 weights, accumulate in s32 and compute
//   dst = output_scale[oc] * (accumulator + bias[oc])   (then post-ops),
// so the output scale is input_scale * weight_scale[oc] and the f32 bias is divided by it.
#include "enclave/op_lowering/op_lowering.h"

namespace teeinfer {

using dnnl::memory;

Slot quantize_activation(LoweringContext& l, const Slot& src, float input_scale, const std::string& name) {
  memory::desc u8(src.md.dims(), memory::data_type::u8, strides_of(src.md));
  Slot q = l.scratch(u8, name + " (u8)");
  dnnl::primitive_attr attr;
  attr.set_output_scales(0, {1.f / input_scale});  // rounds to nearest, saturates to [0, 255]
  dnnl::reorder::primitive_desc pd(l.engine(), src.md, l.engine(), u8, attr);
  l.add_primitive("quantize " + name, dnnl::reorder(pd), pd, {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, q}});
  return q;
}

std::vector<float> int8_output_scales(const Int8Weights& q, int64_t first, int64_t count, float factor) {
  std::vector<float> out(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i)
    out[static_cast<size_t>(i)] = factor * q.input_scale * q.weight_scales[static_cast<size_t>(first + i)];
  return out;
}

std::vector<float> int8_bias_scales(const Int8Weights& q) {
  std::vector<float> out = int8_output_scales(q, 0, static_cast<int64_t>(q.weight_scales.size()), 1.f);
  for (float& s : out) s = 1.f / s;
  return out;
}

}  // namespace teeinfer
