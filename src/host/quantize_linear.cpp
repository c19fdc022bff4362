#include "host/quantize_linear.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/error.h"
#include "host/constant_folder.h"

namespace teeinfer {
namespace {

Value new_value(MemoryBudget& budget, const std::string& name, DType dtype, Dims dims) {
  Value v;
  v.name = name;
  v.dtype = dtype;
  v.dims = std::move(dims);
  v.is_constant = true;
  v.data.assign(budget.allocate(dtype, v.dims, name), 0);
  return v;
}

void store(Value& v, size_t i, float f) {
  switch (v.dtype) {
    case DType::kU8:
      v.data[i] = static_cast<uint8_t>(f);
      return;
    case DType::kS8:
      v.data[i] = static_cast<uint8_t>(static_cast<int8_t>(f));
      return;
    default:
      std::memcpy(v.data.data() + 4 * i, &f, 4);
  }
}

// The index along `axis` of each element of a row-major tensor of `dims`: element i has
// index (i / inner) % dims[axis].
struct AxisIndexer {
  int64_t inner = 1, count = 1;
  AxisIndexer(const Dims& dims, int64_t axis) {
    if (axis < 0) return;
    count = dims[static_cast<size_t>(axis)];
    for (size_t k = static_cast<size_t>(axis) + 1; k < dims.size(); ++k) inner *= dims[k];
  }
  int64_t operator()(int64_t i) const { return (i / inner) % count; }
};

// The zero point's values (0 when absent). It may be per tensor while the scale is per axis
// or the reverse (a shifted weight's scale is 1); both per axis, they share the axis.
QuantParam zero_point_param(const Value* zp, const Dims& x, int64_t axis_attr, const std::string& where) {
  if (!zp) return QuantParam{{0.f}, -1};
  return quant_param(*zp, x, axis_attr, where, "zero point");
}

// The axis along which a scale or zero point varies (-1: neither does).
int64_t quant_axis(const QuantParam& s, const QuantParam& z) {
  return std::max(s.axis, z.axis);
}

}  // namespace

QuantRange quant_range(DType type, const std::string& where) {
  if (type == DType::kU8) return {0.f, 255.f};
  if (type == DType::kS8) return {-128.f, 127.f};
  throw Error(ErrorCode::kUnsupported,
              where + ": quantized type " + dtype_name(type) + " (uint8 and int8 are supported)");
}

Dims QuantParam::broadcast_dims(int64_t x_rank) const {
  if (axis < 0) return {};
  Dims d(static_cast<size_t>(x_rank - axis), 1);
  d[0] = static_cast<int64_t>(values.size());
  return d;
}

std::vector<float> float_values(const Value& v, const std::string& where) {
  size_t n = static_cast<size_t>(element_count(v.dims, v.name));
  if (v.data.size() != n * dtype_size(v.dtype))
    throw Error(ErrorCode::kBadModel, where + ": '" + v.name + "' holds " + std::to_string(v.data.size()) +
                                          " bytes, its dims need " + std::to_string(n * dtype_size(v.dtype)));
  std::vector<float> out(n);
  if (v.dtype == DType::kF32) {
    std::memcpy(out.data(), v.data.data(), 4 * n);
    return out;
  }
  if (v.dtype == DType::kBool) throw Error(ErrorCode::kBadModel, where + ": '" + v.name + "' is bool, not a number");
  std::vector<int64_t> ints = to_i64s(v);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(ints[i]);
  return out;
}

bool narrow_to_int8(Value& v) {
  std::vector<float> f = float_values(v, "'" + v.name + "'");
  if (v.dtype != DType::kF32 ||
      !std::all_of(f.begin(), f.end(), [](float x) { return x >= -128.f && x <= 127.f && x == std::nearbyint(x); }))
    return false;
  v.dtype = DType::kS8;
  v.data.resize(f.size());
  for (size_t i = 0; i < f.size(); ++i) v.data[i] = static_cast<uint8_t>(static_cast<int8_t>(f[i]));
  return true;
}

QuantParam quant_param(const Value& p, const Dims& x, int64_t axis_attr, const std::string& where, const char* role) {
  QuantParam q;
  q.values = float_values(p, where);
  if (p.dims.size() > 1)
    throw Error(ErrorCode::kBadModel, where + ": " + role + " must be a scalar or 1-D, got " + dims_to_string(p.dims));
  if (p.dims.empty() || q.values.size() == 1) return q;  // per tensor
  int64_t axis = normalize_axis(axis_attr, static_cast<int64_t>(x.size()), where);
  if (static_cast<int64_t>(q.values.size()) != x[static_cast<size_t>(axis)])
    throw Error(ErrorCode::kBadModel, where + ": " + role + " has " + std::to_string(q.values.size()) +
                                          " values, dim " + std::to_string(axis) + " of the input " +
                                          dims_to_string(x) + " needs one per index");
  q.axis = axis;
  return q;
}

float quantize_value(float x, float scale, float zero_point, QuantRange range) {
  // std::nearbyint rounds half to even in the default rounding mode, as ONNX specifies.
  float q = std::nearbyint(x / scale) + zero_point;
  if (std::isnan(q)) return zero_point;  // NaN input (or 0/0): ONNX Runtime gives the zero point
  return std::clamp(q, range.lo, range.hi);
}

DynamicQuant dynamic_quant(float min, float max) {
  min = std::min(min, 0.f);
  max = std::max(max, 0.f);
  float scale = (max - min) / 255.f;
  if (scale == 0.f) scale = 1.f;
  float zero_point = std::nearbyint(std::clamp(-min / scale, 0.f, 255.f));
  return {scale, zero_point};
}

Value fold_quantize_linear(const Value& x, const Value& scale, const Value* zero_point, int64_t axis,
                           const std::string& name, const std::string& where, MemoryBudget& budget) {
  DType type = zero_point ? zero_point->dtype : DType::kU8;
  QuantRange range = quant_range(type, where);
  QuantParam s = quant_param(scale, x.dims, axis, where, "y_scale");
  QuantParam z = zero_point_param(zero_point, x.dims, axis, where);
  std::vector<float> xs = float_values(x, where);
  Value out = new_value(budget, name, type, x.dims);
  AxisIndexer index(x.dims, quant_axis(s, z));
  for (size_t i = 0; i < xs.size(); ++i) {
    int64_t k = index(static_cast<int64_t>(i));
    store(out, i, quantize_value(xs[i], s.at(k), z.at(k), range));
  }
  return out;
}

Value fold_dequantize_linear(const Value& x, const Value& scale, const Value* zero_point, int64_t axis,
                             const std::string& name, const std::string& where, MemoryBudget& budget) {
  if (x.dtype != DType::kI32) quant_range(x.dtype, where);  // uint8, int8 or int32
  if (zero_point && zero_point->dtype != x.dtype)
    throw Error(ErrorCode::kBadModel,
                where + ": the zero point is " + dtype_name(zero_point->dtype) + ", the input " + dtype_name(x.dtype));
  QuantParam s = quant_param(scale, x.dims, axis, where, "x_scale");
  QuantParam z = zero_point_param(zero_point, x.dims, axis, where);
  std::vector<float> xs = float_values(x, where);
  Value out = new_value(budget, name, DType::kF32, x.dims);
  AxisIndexer index(x.dims, quant_axis(s, z));
  for (size_t i = 0; i < xs.size(); ++i) {
    int64_t k = index(static_cast<int64_t>(i));
    store(out, i, (xs[i] - z.at(k)) * s.at(k));
  }
  return out;
}

std::vector<Value> fold_dynamic_quantize_linear(const Value& x, const std::vector<std::string>& names,
                                                const std::string& where, MemoryBudget& budget) {
  if (x.dtype != DType::kF32) throw Error(ErrorCode::kBadModel, where + ": the input must be float32");
  std::vector<float> xs = float_values(x, where);
  auto [lo, hi] = std::minmax_element(xs.begin(), xs.end());
  DynamicQuant q = xs.empty() ? dynamic_quant(0.f, 0.f) : dynamic_quant(*lo, *hi);
  auto name = [&](size_t k) {
    return k < names.size() && !names[k].empty() ? names[k] : where + ":" + std::to_string(k);
  };
  std::vector<Value> out;
  out.push_back(new_value(budget, name(0), DType::kU8, x.dims));
  for (size_t i = 0; i < xs.size(); ++i) store(out[0], i, quantize_value(xs[i], q.scale, q.zero_point, {0.f, 255.f}));
  out.push_back(new_value(budget, name(1), DType::kF32, {}));
  store(out[1], 0, q.scale);
  out.push_back(new_value(budget, name(2), DType::kU8, {}));
  store(out[2], 0, q.zero_point);
  return out;
}

}  // namespace teeinfer
