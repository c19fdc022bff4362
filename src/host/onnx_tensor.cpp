#include "host/onnx_tensor.h"

#include <cstring>

#include "common/error.h"
#include "common/weight_codec.h"

namespace teeinfer {

DType dtype_from_onnx(int onnx_type, const std::string& what) {
  switch (onnx_type) {
    case onnx::TensorProto::FLOAT:
    // float16 and bfloat16 models compute in float32: their values widen exactly (and a
    // Cast to either is a Cast to float32, which keeps more precision than the model asked).
    case onnx::TensorProto::FLOAT16:
    case onnx::TensorProto::BFLOAT16:
      return DType::kF32;
    case onnx::TensorProto::INT64:
      return DType::kI64;
    case onnx::TensorProto::INT32:
      return DType::kI32;
    case onnx::TensorProto::UINT8:
      return DType::kU8;
    case onnx::TensorProto::INT8:
      return DType::kS8;
    case onnx::TensorProto::BOOL:
      return DType::kBool;
    default:
      throw Error(
          ErrorCode::kUnsupported,
          "tensor '" + what + "' has ONNX element type " + std::to_string(onnx_type) +
              "; teeinfer supports float32, float16 and bfloat16 (computed in float32), int64, int32, uint8, int8 and "
              "bool");
  }
}

namespace {

template <class Src, class Dst>
void copy_converted(const Src& field, std::vector<uint8_t>& out, size_t n, const std::string& what) {
  if (static_cast<size_t>(field.size()) != n)
    throw Error(ErrorCode::kBadModel, "tensor '" + what + "' holds " + std::to_string(field.size()) +
                                          " values, its dims need " + std::to_string(n));
  out.resize(n * sizeof(Dst));
  Dst* dst = reinterpret_cast<Dst*>(out.data());
  for (size_t i = 0; i < n; ++i) dst[i] = static_cast<Dst>(field.Get(static_cast<int>(i)));
}

// A float16 or bfloat16 tensor's values widened to float32: 2-byte raw data, or int32_data
// holding each value's 16 bits (the ONNX spec's encoding for both).
void widen_halves(const onnx::TensorProto& t, std::vector<uint8_t>& out, size_t n, const std::string& what) {
  float (*widen)(uint16_t) = t.data_type() == onnx::TensorProto::FLOAT16 ? float_of_half : float_of_bfloat16;
  out.resize(n * sizeof(float));
  float* dst = reinterpret_cast<float*>(out.data());
  if (t.has_raw_data()) {
    if (t.raw_data().size() != n * 2)
      throw Error(ErrorCode::kBadModel, "tensor '" + what + "' has " + std::to_string(t.raw_data().size()) +
                                            " raw bytes, its dims need " + std::to_string(n * 2) + " (16-bit floats)");
    for (size_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, t.raw_data().data() + 2 * i, 2);
      dst[i] = widen(h);
    }
    return;
  }
  if (static_cast<size_t>(t.int32_data_size()) != n)
    throw Error(ErrorCode::kBadModel, "tensor '" + what + "' holds " + std::to_string(t.int32_data_size()) +
                                          " values, its dims need " + std::to_string(n));
  for (size_t i = 0; i < n; ++i) dst[i] = widen(static_cast<uint16_t>(t.int32_data(static_cast<int>(i))));
}

}  // namespace

Value value_from_tensor_proto(const onnx::TensorProto& t, const std::string& what, MemoryBudget* budget) {
  Value v;
  v.name = what;
  v.is_constant = true;
  v.dtype = dtype_from_onnx(t.data_type(), what);
  if (t.dims_size() > static_cast<int>(kMaxRank))
    throw Error(ErrorCode::kBadModel, "tensor '" + what + "' has " + std::to_string(t.dims_size()) +
                                          " dims; teeinfer supports at most " + std::to_string(kMaxRank));
  for (int64_t d : t.dims()) v.dims.push_back(d);
  if (t.data_location() == onnx::TensorProto::EXTERNAL || t.external_data_size() > 0)
    throw Error(ErrorCode::kUnsupported, "tensor '" + what +
                                             "' uses ONNX external data (weights in a separate file); save the "
                                             "model with its weights inside");
  if (t.has_segment()) throw Error(ErrorCode::kUnsupported, "tensor '" + what + "' is segmented");
  size_t bytes = budget ? budget->allocate(v.dtype, v.dims, what) : byte_size(v.dtype, v.dims, what);
  size_t n = bytes / dtype_size(v.dtype);
  if (t.data_type() == onnx::TensorProto::FLOAT16 || t.data_type() == onnx::TensorProto::BFLOAT16) {
    widen_halves(t, v.data, n, what);
    return v;
  }
  if (t.has_raw_data()) {
    if (t.raw_data().size() != bytes)
      throw Error(ErrorCode::kBadModel, "tensor '" + what + "' has " + std::to_string(t.raw_data().size()) +
                                            " raw bytes, its dims " + dims_to_string(v.dims) + " need " +
                                            std::to_string(bytes));
    v.data.assign(t.raw_data().begin(), t.raw_data().end());
    return v;
  }
  switch (v.dtype) {
    case DType::kF32:
      copy_converted<decltype(t.float_data()), float>(t.float_data(), v.data, n, what);
      break;
    case DType::kI64:
      copy_converted<decltype(t.int64_data()), int64_t>(t.int64_data(), v.data, n, what);
      break;
    case DType::kI32:
      copy_converted<decltype(t.int32_data()), int32_t>(t.int32_data(), v.data, n, what);
      break;
    case DType::kU8:
    case DType::kBool:
      copy_converted<decltype(t.int32_data()), uint8_t>(t.int32_data(), v.data, n, what);
      break;
    case DType::kS8:
      copy_converted<decltype(t.int32_data()), int8_t>(t.int32_data(), v.data, n, what);
      break;
  }
  return v;
}

}  // namespace teeinfer
