// Cast: an integer or bool graph input (token ids, a sample rate) to float32. Hand-written:
// oneDNN has no 64-bit integer type, and the conversion is one pass over a small tensor.
#include <cstring>

#include "common/error.h"
#include "enclave/op_lowering/op_lowering.h"

namespace teeinfer {
namespace {

template <class T>
CustomKernel convert_to_float(int64_t count) {
  return [count](const std::vector<void*>& ptr) {
    const auto* in = static_cast<const unsigned char*>(ptr[0]);
    float* out = static_cast<float*>(ptr[1]);
    for (int64_t i = 0; i < count; ++i) {
      T v;
      std::memcpy(&v, in + i * static_cast<int64_t>(sizeof(T)), sizeof(T));
      out[i] = static_cast<float>(v);
    }
  };
}

CustomKernel kernel_for(DType from, int64_t count) {
  switch (from) {
    case DType::kF32:
      return convert_to_float<float>(count);
    case DType::kI64:
      return convert_to_float<int64_t>(count);
    case DType::kI32:
      return convert_to_float<int32_t>(count);
    case DType::kU8:
    case DType::kBool:  // stored as one byte, 0 or 1
      return convert_to_float<uint8_t>(count);
    case DType::kS8:
      return convert_to_float<int8_t>(count);
  }
  throw Error(ErrorCode::kBadModel, "Cast: unknown input dtype");
}

}  // namespace

void lower_cast(LoweringContext& l, const Node& n) {
  const Value& x = l.graph().value(n.inputs[0]);
  const Value& y = l.graph().value(n.outputs[0]);
  Slot src = x.dtype == DType::kF32 ? l.input(n.inputs[0], Layout::kPlain) : l.input_as_is(n.inputs[0]);
  Slot dst = l.output(n.outputs[0], layout_md(y.dims, Layout::kPlain));
  l.add_custom(n.name, std::string("cast_") + dtype_name(x.dtype), kernel_for(x.dtype, element_count(y.dims, y.name)),
               {src, dst});
}

}  // namespace teeinfer
