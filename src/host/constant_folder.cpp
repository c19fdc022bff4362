#include "host/constant_folder.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <set>

#include "common/error.h"
#include "common/shape_inference.h"
#include "host/onnx_attrs.h"
#include "host/onnx_tensor.h"

namespace teeinfer {

int64_t normalize_axis(int64_t axis, int64_t rank, const std::string& what) {
  if (axis < -rank || axis >= rank)
    throw Error(ErrorCode::kBadModel,
                what + ": axis " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

std::vector<int64_t> to_i64s(const Value& v) {
  size_t n = static_cast<size_t>(element_count(v.dims, v.name));
  std::vector<int64_t> out(n);
  for (size_t i = 0; i < n; ++i) {
    switch (v.dtype) {
      case DType::kI64:
        std::memcpy(&out[i], v.data.data() + 8 * i, 8);
        break;
      case DType::kI32: {
        int32_t x;
        std::memcpy(&x, v.data.data() + 4 * i, 4);
        out[i] = x;
        break;
      }
      case DType::kF32: {
        float x;
        std::memcpy(&x, v.data.data() + 4 * i, 4);
        out[i] = static_cast<int64_t>(x);
        break;
      }
      case DType::kU8:
      case DType::kBool:
        out[i] = v.data[i];
        break;
      case DType::kS8:
        out[i] = static_cast<int8_t>(v.data[i]);
        break;
    }
  }
  return out;
}

Dims reshape_dims(const Dims& in, const std::vector<int64_t>& shape, bool allowzero, const std::string& what) {
  Dims out(shape.begin(), shape.end());
  int64_t known = 1, infer_at = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == 0 && !allowzero) {
      if (i >= in.size()) throw Error(ErrorCode::kBadModel, what + ": shape 0 refers past the input rank");
      out[i] = in[i];
    }
    if (out[i] == -1) {
      if (infer_at >= 0) throw Error(ErrorCode::kBadModel, what + ": more than one -1 in the shape");
      infer_at = static_cast<int64_t>(i);
    } else if (out[i] < 0) {
      throw Error(ErrorCode::kBadModel, what + ": negative dim in the shape");
    } else {
      known *= out[i];
      element_count({known}, what);
    }
  }
  int64_t total = element_count(in, what);
  if (infer_at >= 0) {
    if (known == 0 || total % known != 0)
      throw Error(ErrorCode::kBadModel, what + ": cannot infer -1 reshaping " + dims_to_string(in));
    out[infer_at] = total / known;
  }
  if (element_count(out, what) != total)
    throw Error(ErrorCode::kBadModel, what + ": cannot reshape " + dims_to_string(in) + " to " + dims_to_string(out));
  return out;
}

Dims flatten_dims(const Dims& in, int64_t axis, const std::string& what) {
  int64_t rank = static_cast<int64_t>(in.size());
  if (axis < -rank || axis > rank) throw Error(ErrorCode::kBadModel, what + ": axis out of range");
  if (axis < 0) axis += rank;
  Dims outer(in.begin(), in.begin() + axis), inner(in.begin() + axis, in.end());
  return {element_count(outer, what), element_count(inner, what)};
}

Dims squeeze_dims(const Dims& in, std::vector<int64_t> axes, const std::string& what) {
  std::set<int64_t> drop;
  for (int64_t a : axes) drop.insert(normalize_axis(a, static_cast<int64_t>(in.size()), what));
  Dims out;
  for (size_t i = 0; i < in.size(); ++i) {
    bool squeeze = axes.empty() ? in[i] == 1 : drop.count(static_cast<int64_t>(i)) > 0;
    if (squeeze && in[i] != 1) throw Error(ErrorCode::kBadModel, what + ": cannot squeeze a dim that is not 1");
    if (!squeeze) out.push_back(in[i]);
  }
  return out;
}

Dims unsqueeze_dims(const Dims& in, std::vector<int64_t> axes, const std::string& what) {
  int64_t rank = static_cast<int64_t>(in.size() + axes.size());
  std::set<int64_t> add;
  for (int64_t a : axes)
    if (!add.insert(normalize_axis(a, rank, what)).second) throw Error(ErrorCode::kBadModel, what + ": repeated axis");
  Dims out;
  size_t next = 0;
  for (int64_t i = 0; i < rank; ++i) out.push_back(add.count(i) ? 1 : in.at(next++));
  return out;
}

namespace {

Dims strides_of(const Dims& d) {
  Dims s(d.size(), 1);
  for (size_t i = d.size(); i-- > 1;) s[i - 1] = s[i] * d[i];
  return s;
}

// Calls fn(out_linear_index, in_linear_index) for every output element of a strided
// gather: out index multi-dim i maps to in offset sum(start[k] + i[k]*step[k]) * in_stride[k].
void for_each_strided(const Dims& out_dims, const Dims& in_strides, const Dims& start, const Dims& step,
                      const std::function<void(int64_t, int64_t)>& fn) {
  int64_t n = element_count(out_dims, "fold");
  Dims idx(out_dims.size(), 0);
  for (int64_t o = 0; o < n; ++o) {
    int64_t src = 0;
    for (size_t k = 0; k < idx.size(); ++k) src += (start[k] + idx[k] * step[k]) * in_strides[k];
    fn(o, src);
    for (size_t k = idx.size(); k-- > 0;) {
      if (++idx[k] < out_dims[k]) break;
      idx[k] = 0;
    }
  }
}

Value make_value(const std::string& name, DType t, Dims dims) {
  Value v;
  v.name = name;
  v.dtype = t;
  v.dims = std::move(dims);
  v.is_constant = true;
  v.data.resize(byte_size(t, v.dims, name));
  return v;
}

Value make_i64(const std::string& name, const std::vector<int64_t>& vals) {
  Value v = make_value(name, DType::kI64, {static_cast<int64_t>(vals.size())});
  if (!vals.empty()) std::memcpy(v.data.data(), vals.data(), vals.size() * 8);
  return v;
}

Value with_dims(const Value& in, const std::string& name, Dims dims) {
  Value v = in;
  v.name = name;
  v.dims = std::move(dims);
  return v;
}

const Value& need(const std::vector<const Value*>& in, size_t i, const OnnxAttrs& a) {
  if (i >= in.size() || !in[i]) throw Error(ErrorCode::kBadModel, a.where() + ": missing input " + std::to_string(i));
  return *in[i];
}

Value fold_gather(const OnnxAttrs& a, const Value& data, const Value& indices, const std::string& name) {
  int64_t rank = static_cast<int64_t>(data.dims.size());
  int64_t axis = normalize_axis(a.i("axis", 0), rank, a.where());
  std::vector<int64_t> idx = to_i64s(indices);
  Dims out_dims(data.dims.begin(), data.dims.begin() + axis);
  out_dims.insert(out_dims.end(), indices.dims.begin(), indices.dims.end());
  out_dims.insert(out_dims.end(), data.dims.begin() + axis + 1, data.dims.end());
  Value out = make_value(name, data.dtype, out_dims);
  int64_t outer = element_count(Dims(data.dims.begin(), data.dims.begin() + axis), name);
  int64_t inner = element_count(Dims(data.dims.begin() + axis + 1, data.dims.end()), name);
  size_t es = dtype_size(data.dtype), block = static_cast<size_t>(inner) * es;
  int64_t extent = data.dims[axis];
  for (int64_t o = 0; o < outer; ++o) {
    for (size_t j = 0; j < idx.size(); ++j) {
      int64_t k = idx[j] < 0 ? idx[j] + extent : idx[j];
      if (k < 0 || k >= extent) throw Error(ErrorCode::kBadModel, a.where() + ": index out of range");
      std::memcpy(out.data.data() + (o * idx.size() + j) * block, data.data.data() + (o * extent + k) * block, block);
    }
  }
  return out;
}

Value fold_slice(const OnnxAttrs& a, const std::vector<const Value*>& in, int opset, const std::string& name) {
  const Value& data = need(in, 0, a);
  int64_t rank = static_cast<int64_t>(data.dims.size());
  std::vector<int64_t> starts, ends, axes, steps;
  if (opset < 10) {
    starts = a.ints("starts", {});
    ends = a.ints("ends", {});
    axes = a.ints("axes", {});
  } else {
    starts = to_i64s(need(in, 1, a));
    ends = to_i64s(need(in, 2, a));
    if (in.size() > 3 && in[3]) axes = to_i64s(*in[3]);
    if (in.size() > 4 && in[4]) steps = to_i64s(*in[4]);
  }
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    throw Error(ErrorCode::kBadModel, a.where() + ": starts/ends/axes/steps differ in length");
  Dims start(rank, 0), step(rank, 1), out_dims = data.dims;
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t ax = normalize_axis(axes[i], rank, a.where());
    int64_t dim = data.dims[ax], st = steps[i];
    if (st == 0) throw Error(ErrorCode::kBadModel, a.where() + ": step 0");
    auto clampi = [&](int64_t v, int64_t lo, int64_t hi) {
      if (v < 0) v += dim;
      return std::clamp(v, lo, hi);
    };
    int64_t b = st > 0 ? clampi(starts[i], 0, dim) : clampi(starts[i], -1, dim - 1);
    int64_t e = st > 0 ? clampi(ends[i], 0, dim) : clampi(ends[i], -1, dim - 1);
    // Huge sentinels (INT64_MAX / INT64_MIN) clamp correctly without overflow:
    if (starts[i] < -dim) b = st > 0 ? 0 : -1;
    if (ends[i] < -dim) e = st > 0 ? 0 : -1;
    int64_t len = st > 0 ? (e - b + st - 1) / st : (b - e - st - 1) / (-st);
    start[ax] = b;
    step[ax] = st;
    out_dims[ax] = std::max<int64_t>(len, 0);
  }
  Value out = make_value(name, data.dtype, out_dims);
  size_t es = dtype_size(data.dtype);
  for_each_strided(out_dims, strides_of(data.dims), start, step,
                   [&](int64_t o, int64_t s) { std::memcpy(out.data.data() + o * es, data.data.data() + s * es, es); });
  return out;
}

Value fold_transpose(const OnnxAttrs& a, const Value& data, const std::string& name) {
  int64_t rank = static_cast<int64_t>(data.dims.size());
  Dims perm = a.ints("perm", {});
  if (perm.empty())
    for (int64_t i = rank - 1; i >= 0; --i) perm.push_back(i);
  if (static_cast<int64_t>(perm.size()) != rank) throw Error(ErrorCode::kBadModel, a.where() + ": bad perm");
  Dims in_strides = strides_of(data.dims), out_dims(rank), strides(rank), zero(rank, 0), one(rank, 1);
  for (int64_t i = 0; i < rank; ++i) {
    int64_t p = normalize_axis(perm[i], rank, a.where());
    out_dims[i] = data.dims[p];
    strides[i] = in_strides[p];
  }
  Value out = make_value(name, data.dtype, out_dims);
  size_t es = dtype_size(data.dtype);
  for_each_strided(out_dims, strides, zero, one,
                   [&](int64_t o, int64_t s) { std::memcpy(out.data.data() + o * es, data.data.data() + s * es, es); });
  return out;
}

Value fold_concat(const OnnxAttrs& a, const std::vector<const Value*>& in, const std::string& name) {
  const Value& first = need(in, 0, a);
  int64_t axis = normalize_axis(a.i("axis", 0), static_cast<int64_t>(first.dims.size()), a.where());
  Dims out_dims = first.dims;
  out_dims[axis] = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    const Value& v = need(in, i, a);
    if (v.dtype != first.dtype || v.dims.size() != first.dims.size())
      throw Error(ErrorCode::kBadModel, a.where() + ": inputs differ in type or rank");
    out_dims[axis] += v.dims[axis];
  }
  Value out = make_value(name, first.dtype, out_dims);
  int64_t outer = element_count(Dims(first.dims.begin(), first.dims.begin() + axis), name);
  size_t es = dtype_size(first.dtype), pos = 0;
  for (int64_t o = 0; o < outer; ++o)
    for (const Value* v : in) {
      size_t block = v->data.size() / static_cast<size_t>(std::max<int64_t>(outer, 1));
      if (block == 0) continue;
      std::memcpy(out.data.data() + pos, v->data.data() + o * block, block);
      pos += block;
    }
  (void)es;
  return out;
}

template <class T>
T load(const Value& v, int64_t i) {
  T x;
  std::memcpy(&x, v.data.data() + i * sizeof(T), sizeof(T));
  return x;
}

template <class T>
T apply(const std::string& op, T x, T y, const OnnxAttrs& a) {
  if (op == "Add") return x + y;
  if (op == "Sub") return x - y;
  if (op == "Mul") return x * y;
  if constexpr (std::is_integral_v<T>)
    if (y == 0) throw Error(ErrorCode::kBadModel, a.where() + ": integer division by zero");
  return x / y;
}

template <class T>
Value fold_binary_typed(const OnnxAttrs& a, const std::string& op, const Value& x, const Value& y,
                        const std::string& name) {
  Dims out_dims = broadcast_dims(x.dims, y.dims, name);
  Value out = make_value(name, x.dtype, out_dims);
  size_t r = out_dims.size();
  auto bstrides = [&](const Dims& d) {
    Dims padded(r - d.size(), 1);
    padded.insert(padded.end(), d.begin(), d.end());
    Dims s = strides_of(padded);
    for (size_t k = 0; k < r; ++k)
      if (padded[k] == 1) s[k] = 0;
    return s;
  };
  Dims sx = bstrides(x.dims), sy = bstrides(y.dims), zero(r, 0), one(r, 1);
  std::vector<int64_t> xi;
  for_each_strided(out_dims, sx, zero, one, [&](int64_t, int64_t s) { xi.push_back(s); });
  for_each_strided(out_dims, sy, zero, one, [&](int64_t o, int64_t s) {
    T v = apply<T>(op, load<T>(x, xi[o]), load<T>(y, s), a);
    std::memcpy(out.data.data() + o * sizeof(T), &v, sizeof(T));
  });
  return out;
}

Value fold_binary(const OnnxAttrs& a, const std::string& op, const Value& x, const Value& y, const std::string& name) {
  if (x.dtype != y.dtype) throw Error(ErrorCode::kBadModel, a.where() + ": operand types differ");
  switch (x.dtype) {
    case DType::kF32:
      return fold_binary_typed<float>(a, op, x, y, name);
    case DType::kI64:
      return fold_binary_typed<int64_t>(a, op, x, y, name);
    case DType::kI32:
      return fold_binary_typed<int32_t>(a, op, x, y, name);
    default:
      throw Error(ErrorCode::kUnsupported, a.where() + ": arithmetic on " + dtype_name(x.dtype));
  }
}

double load_as_double(const Value& v, int64_t i) {
  switch (v.dtype) {
    case DType::kF32:
      return load<float>(v, i);
    case DType::kI64:
      return static_cast<double>(load<int64_t>(v, i));
    case DType::kI32:
      return load<int32_t>(v, i);
    case DType::kU8:
      return v.data[i];
    case DType::kS8:
      return static_cast<int8_t>(v.data[i]);
    case DType::kBool:
      return v.data[i] != 0;
  }
  return 0;
}

void store_from_double(Value& v, int64_t i, double x) {
  auto put = [&](auto val) { std::memcpy(v.data.data() + i * sizeof(val), &val, sizeof(val)); };
  switch (v.dtype) {
    case DType::kF32:
      put(static_cast<float>(x));
      break;
    case DType::kI64:
      put(static_cast<int64_t>(x));
      break;
    case DType::kI32:
      put(static_cast<int32_t>(x));
      break;
    case DType::kU8:
      put(static_cast<uint8_t>(x));
      break;
    case DType::kS8:
      put(static_cast<int8_t>(x));
      break;
    case DType::kBool:
      put(static_cast<uint8_t>(x != 0));
      break;
  }
}

Value fold_cast(const OnnxAttrs& a, const Value& x, const std::string& name) {
  DType to = dtype_from_onnx(static_cast<int>(a.i("to", 0)), name);
  Value out = make_value(name, to, x.dims);
  int64_t n = element_count(x.dims, name);
  for (int64_t i = 0; i < n; ++i) store_from_double(out, i, load_as_double(x, i));
  return out;
}

Value fold_constant(const OnnxAttrs& a, const std::string& name) {
  if (const onnx::TensorProto* t = a.tensor("value"))
    return with_dims(value_from_tensor_proto(*t, name), name, Dims(t->dims().begin(), t->dims().end()));
  if (a.has("value_int")) {
    Value v = make_i64(name, {a.i("value_int", 0)});
    v.dims = {};
    return v;
  }
  if (a.has("value_ints")) return make_i64(name, a.ints("value_ints", {}));
  if (a.has("value_float")) {
    Value v = make_value(name, DType::kF32, {});
    float f = a.f("value_float", 0);
    std::memcpy(v.data.data(), &f, 4);
    return v;
  }
  if (a.has("value_floats")) {
    std::vector<float> f = a.floats("value_floats");
    Value v = make_value(name, DType::kF32, {static_cast<int64_t>(f.size())});
    if (!f.empty()) std::memcpy(v.data.data(), f.data(), f.size() * 4);
    return v;
  }
  throw Error(ErrorCode::kUnsupported, a.where() + ": only tensor, int(s) and float(s) constants are supported");
}

Value fold_constant_of_shape(const OnnxAttrs& a, const Value& shape, const std::string& name) {
  Value fill =
      a.tensor("value") ? value_from_tensor_proto(*a.tensor("value"), name) : make_value(name, DType::kF32, {1});
  std::vector<int64_t> dims = to_i64s(shape);
  Value out = make_value(name, fill.dtype, Dims(dims.begin(), dims.end()));
  size_t es = dtype_size(fill.dtype);
  for (size_t off = 0; off < out.data.size(); off += es) std::memcpy(out.data.data() + off, fill.data.data(), es);
  return out;
}

std::vector<int64_t> axes_input_or_attr(const OnnxAttrs& a, const std::vector<const Value*>& in, int opset) {
  if (opset >= 13) return in.size() > 1 && in[1] ? to_i64s(*in[1]) : std::vector<int64_t>{};
  Dims axes = a.ints("axes", {});
  return std::vector<int64_t>(axes.begin(), axes.end());
}

}  // namespace

bool is_foldable(const std::string& op) {
  static const std::set<std::string> kOps = {
      "Shape", "Gather", "Unsqueeze", "Squeeze", "Cast",     "Slice",           "Concat",   "Reshape", "Flatten",
      "Add",   "Sub",    "Mul",       "Div",     "Constant", "ConstantOfShape", "Identity", "Dropout", "Transpose"};
  return kOps.count(op) > 0;
}

std::vector<Value> fold_node(const onnx::NodeProto& node, const std::vector<const Value*>& in, int opset) {
  OnnxAttrs a(node);
  const std::string& op = node.op_type();
  const std::string name = node.output_size() > 0 ? node.output(0) : node.name();
  if (op == "Constant") return {fold_constant(a, name)};
  if (op == "Shape") {
    const Dims& d = need(in, 0, a).dims;
    int64_t rank = static_cast<int64_t>(d.size());
    int64_t b = std::clamp<int64_t>(a.i("start", 0) < 0 ? a.i("start", 0) + rank : a.i("start", 0), 0, rank);
    int64_t e = std::clamp<int64_t>(a.i("end", rank) < 0 ? a.i("end", rank) + rank : a.i("end", rank), 0, rank);
    return {make_i64(name, std::vector<int64_t>(d.begin() + b, d.begin() + std::max(b, e)))};
  }
  if (op == "Identity" || op == "Dropout") {
    std::vector<Value> out{with_dims(need(in, 0, a), name, need(in, 0, a).dims)};
    if (op == "Dropout" && node.output_size() > 1) {
      Value mask = make_value(node.output(1), DType::kBool, out[0].dims);
      std::fill(mask.data.begin(), mask.data.end(), 1);
      out.push_back(mask);
    }
    return out;
  }
  if (op == "Gather") return {fold_gather(a, need(in, 0, a), need(in, 1, a), name)};
  if (op == "Slice") return {fold_slice(a, in, opset, name)};
  if (op == "Transpose") return {fold_transpose(a, need(in, 0, a), name)};
  if (op == "Concat") return {fold_concat(a, in, name)};
  if (op == "Cast") return {fold_cast(a, need(in, 0, a), name)};
  if (op == "ConstantOfShape") return {fold_constant_of_shape(a, need(in, 0, a), name)};
  if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div")
    return {fold_binary(a, op, need(in, 0, a), need(in, 1, a), name)};
  const Value& x = need(in, 0, a);
  if (op == "Reshape") {
    std::vector<int64_t> shape;
    if (opset < 5) {
      Dims d = a.ints("shape", {});
      shape.assign(d.begin(), d.end());
    } else {
      shape = to_i64s(need(in, 1, a));
    }
    return {with_dims(x, name, reshape_dims(x.dims, shape, a.i("allowzero", 0) != 0, a.where()))};
  }
  if (op == "Flatten") return {with_dims(x, name, flatten_dims(x.dims, a.i("axis", 1), a.where()))};
  if (op == "Squeeze") return {with_dims(x, name, squeeze_dims(x.dims, axes_input_or_attr(a, in, opset), a.where()))};
  if (op == "Unsqueeze")
    return {with_dims(x, name, unsqueeze_dims(x.dims, axes_input_or_attr(a, in, opset), a.where()))};
  throw Error(ErrorCode::kUnsupported, a.where() + ": cannot be folded");
}

}  // namespace teeinfer
