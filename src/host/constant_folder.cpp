#include "host/constant_folder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <type_traits>

#include "common/error.h"
#include "common/shape_inference.h"
#include "host/onnx_attrs.h"
#include "host/onnx_tensor.h"
#include "host/quantize_linear.h"

namespace teeinfer {
namespace {

// A constant's bytes must be exactly what its dims and dtype say before anything reads them.
void check_data_size(const Value& v, const std::string& where) {
  size_t bytes = byte_size(v.dtype, v.dims, v.name);
  if (v.data.size() != bytes)
    throw Error(ErrorCode::kBadModel, where + ": constant '" + v.name + "' holds " + std::to_string(v.data.size()) +
                                          " bytes, its dims " + dims_to_string(v.dims) + " need " +
                                          std::to_string(bytes));
}

template <class T>
T load(const Value& v, int64_t i) {
  T x;
  std::memcpy(&x, v.data.data() + static_cast<size_t>(i) * sizeof(T), sizeof(T));
  return x;
}

// An integer of type T from a double: NaN is 0, out-of-range values saturate (a plain
// cast is undefined behaviour there).
template <class T>
T saturate(double x) {
  if (std::isnan(x)) return 0;
  constexpr double lo = static_cast<double>(std::numeric_limits<T>::min());
  constexpr double hi = static_cast<double>(std::numeric_limits<T>::max());
  if (x <= lo) return std::numeric_limits<T>::min();
  if (x >= hi) return std::numeric_limits<T>::max();  // hi may round up past max: >= catches it
  return static_cast<T>(x);
}

bool is_integer(DType t) {
  return t != DType::kF32;
}

int64_t load_as_i64(const Value& v, int64_t i) {
  switch (v.dtype) {
    case DType::kI64:
      return load<int64_t>(v, i);
    case DType::kI32:
      return load<int32_t>(v, i);
    case DType::kF32:
      return saturate<int64_t>(load<float>(v, i));
    case DType::kU8:
    case DType::kBool:
      return v.data[static_cast<size_t>(i)];
    case DType::kS8:
      return static_cast<int8_t>(v.data[static_cast<size_t>(i)]);
  }
  return 0;
}

}  // namespace

int64_t normalize_axis(int64_t axis, int64_t rank, const std::string& what) {
  if (axis < -rank || axis >= rank)
    throw Error(ErrorCode::kBadModel,
                what + ": axis " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

std::vector<int64_t> to_i64s(const Value& v) {
  check_data_size(v, "'" + v.name + "'");
  size_t n = static_cast<size_t>(element_count(v.dims, v.name));
  std::vector<int64_t> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = load_as_i64(v, static_cast<int64_t>(i));
  return out;
}

std::vector<int64_t> int_list(const Value& v, size_t max_count, const std::string& where, const char* role) {
  if (v.dtype != DType::kI64 && v.dtype != DType::kI32)
    throw Error(ErrorCode::kBadModel, where + ": " + role + " must be int64, got " + dtype_name(v.dtype));
  if (v.dims.size() > 1)
    throw Error(ErrorCode::kBadModel, where + ": " + role + " must be 1-D, got dims " + dims_to_string(v.dims));
  if (static_cast<uint64_t>(element_count(v.dims, v.name)) > max_count)
    throw Error(ErrorCode::kBadModel, where + ": " + role + " has " + std::to_string(element_count(v.dims, v.name)) +
                                          " values, at most " + std::to_string(max_count) + " make sense");
  return to_i64s(v);
}

// ONNX Slice: negative starts/ends count from the end, then clamp to the dim ([0, dim]
// stepping forward; [0, dim-1] for starts and [-1, dim-1] for ends stepping back).
SliceSpec slice_spec(const OnnxAttrs& a, const Dims& data, const std::vector<const Value*>& in, int opset) {
  int64_t rank = static_cast<int64_t>(data.size());
  size_t most = data.size();
  std::vector<int64_t> starts, ends, axes, steps;
  auto operand = [&](size_t i) -> const Value& {
    if (i >= in.size() || !in[i]) throw Error(ErrorCode::kBadModel, a.where() + ": missing input " + std::to_string(i));
    return *in[i];
  };
  if (opset < 10) {
    starts = a.ints("starts", {});
    ends = a.ints("ends", {});
    axes = a.ints("axes", {});
  } else {
    starts = int_list(operand(1), most, a.where(), "starts");
    ends = int_list(operand(2), most, a.where(), "ends");
    if (in.size() > 3 && in[3]) axes = int_list(*in[3], most, a.where(), "axes");
    if (in.size() > 4 && in[4]) steps = int_list(*in[4], most, a.where(), "steps");
  }
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size() ||
      starts.size() > most)
    throw Error(ErrorCode::kBadModel, a.where() + ": starts/ends/axes/steps differ in length or exceed the rank");
  SliceSpec spec{Dims(data.size(), 0), Dims(data.size(), 1), data};
  std::set<int64_t> seen;
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t ax = normalize_axis(axes[i], rank, a.where());
    if (!seen.insert(ax).second) throw Error(ErrorCode::kBadModel, a.where() + ": repeated axis " + std::to_string(ax));
    int64_t dim = data[static_cast<size_t>(ax)];
    if (steps[i] == 0) throw Error(ErrorCode::kBadModel, a.where() + ": step 0");
    // A step longer than any dim takes one element, as a longer one would.
    int64_t st = std::clamp(steps[i], -kMaxDim, kMaxDim);
    int64_t b = starts[i] < 0 ? std::max(starts[i], -kMaxDim) + dim : std::min(starts[i], kMaxDim);
    int64_t e = ends[i] < 0 ? std::max(ends[i], -kMaxDim) + dim : std::min(ends[i], kMaxDim);
    int64_t len = 0;
    if (st > 0) {
      b = std::clamp<int64_t>(b, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      len = e > b ? (e - b - 1) / st + 1 : 0;
    } else if (dim > 0) {
      b = std::clamp<int64_t>(b, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      len = b > e ? (b - e - 1) / -st + 1 : 0;
    }
    spec.starts[static_cast<size_t>(ax)] = len > 0 ? b : 0;
    spec.steps[static_cast<size_t>(ax)] = len > 1 ? st : 1;
    spec.sizes[static_cast<size_t>(ax)] = len;
  }
  return spec;
}

std::vector<int64_t> split_sizes(const OnnxAttrs& a, const Dims& data, const Value* split, int outputs, int opset,
                                 int64_t* axis_out) {
  int64_t rank = static_cast<int64_t>(data.size());
  int64_t axis = normalize_axis(a.i("axis", 0), rank, a.where());
  int64_t dim = data[static_cast<size_t>(axis)];
  *axis_out = axis;
  std::vector<int64_t> sizes;
  if (opset < 13 && a.has("split")) {
    Dims d = a.ints("split", {});
    sizes.assign(d.begin(), d.end());
  } else if (opset >= 13 && split) {
    sizes = int_list(*split, kMaxSplitOutputs, a.where(), "split");
  } else if (opset >= 18 && a.has("num_outputs")) {
    int64_t n = a.i("num_outputs", 0);
    if (n < 1 || n > kMaxSplitOutputs || n != outputs)
      throw Error(ErrorCode::kBadModel, a.where() + ": num_outputs must be the number of outputs");
    int64_t each = (dim + n - 1) / n;
    for (int64_t k = 0; k < n; ++k) sizes.push_back(std::clamp<int64_t>(dim - k * each, 0, each));
  } else {
    if (outputs < 1 || dim % outputs != 0)
      throw Error(ErrorCode::kBadModel, a.where() + ": dim " + std::to_string(dim) + " does not split into " +
                                            std::to_string(outputs) + " equal parts");
    sizes.assign(static_cast<size_t>(outputs), dim / outputs);
  }
  if (sizes.size() != static_cast<size_t>(outputs))
    throw Error(ErrorCode::kBadModel, a.where() + ": split has " + std::to_string(sizes.size()) + " values for " +
                                          std::to_string(outputs) + " outputs");
  int64_t total = 0;
  for (int64_t s : sizes) {
    if (s < 0 || s > dim - total)
      throw Error(ErrorCode::kBadModel, a.where() + ": split sizes do not add up to dim " + std::to_string(dim));
    total += s;
  }
  if (total != dim)
    throw Error(ErrorCode::kBadModel, a.where() + ": split sizes do not add up to dim " + std::to_string(dim));
  return sizes;
}

Dims reshape_dims(const Dims& in, const std::vector<int64_t>& shape, bool allowzero, const std::string& what) {
  if (shape.size() > kMaxRank) throw Error(ErrorCode::kBadModel, what + ": the target shape has too many dims");
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
      if (out[i] != 0 && known > kMaxDim / out[i])  // checked before multiplying: no overflow
        throw Error(ErrorCode::kBadModel, what + ": the target shape " + dims_to_string(out) + " is absurdly large");
      known *= out[i];
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
  Dims out{element_count(outer, what), element_count(inner, what)};
  element_count(out, what);
  return out;
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
  if (in.size() + axes.size() > kMaxRank)
    throw Error(ErrorCode::kBadModel, what + ": the result would have rank " + std::to_string(in.size() + axes.size()) +
                                          ", teeinfer supports at most " + std::to_string(kMaxRank));
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

// Row-major strides of a valid shape (element_count bounds every partial product).
Dims strides_of(const Dims& d) {
  Dims s(d.size(), 1);
  for (size_t i = d.size(); i-- > 1;) s[i - 1] = s[i] * d[i];
  return s;
}

// The linear offset, in a source tensor, of each element of an `out_dims` result walked
// in row-major order: offset = base + sum(index[k] * delta[k]). Each step is amortised
// O(1) whatever the rank. Every offset it produces lies inside the source when the
// caller's start/step/stride describe elements of it, so nothing overflows.
class StridedOffsets {
 public:
  StridedOffsets(const Dims& out_dims, const Dims& delta, int64_t base)
      : dims_(out_dims), delta_(delta), index_(out_dims.size(), 0), offset_(base) {
    for (size_t k = 0; k < dims_.size(); ++k)
      if (dims_[k] <= 1) delta_[k] = 0;  // never stepped along: no product to form
  }
  int64_t offset() const { return offset_; }
  void advance() {
    for (size_t k = dims_.size(); k-- > 0;) {
      if (++index_[k] < dims_[k]) {
        offset_ += delta_[k];
        return;
      }
      index_[k] = 0;
      offset_ -= (dims_[k] - 1) * delta_[k];
    }
  }

 private:
  Dims dims_, delta_, index_;
  int64_t offset_;
};

// Copies element offsets.offset() of `src` to each element of `out` in turn.
void gather_elements(const Value& src, Value& out, StridedOffsets offsets) {
  size_t es = dtype_size(src.dtype);
  int64_t n = element_count(out.dims, out.name);
  for (int64_t o = 0; o < n; ++o, offsets.advance())
    std::memcpy(out.data.data() + static_cast<size_t>(o) * es,
                src.data.data() + static_cast<size_t>(offsets.offset()) * es, es);
}

Value make_value(MemoryBudget& budget, const std::string& name, DType t, Dims dims) {
  Value v;
  v.name = name;
  v.dtype = t;
  v.dims = std::move(dims);
  v.is_constant = true;
  v.data.resize(budget.allocate(t, v.dims, name));
  return v;
}

Value make_i64(MemoryBudget& budget, const std::string& name, const std::vector<int64_t>& vals) {
  Value v = make_value(budget, name, DType::kI64, {static_cast<int64_t>(vals.size())});
  if (!vals.empty()) std::memcpy(v.data.data(), vals.data(), vals.size() * 8);
  return v;
}

// A copy of `in` with new dims (same element count, checked by the caller).
Value with_dims(MemoryBudget& budget, const Value& in, const std::string& name, Dims dims) {
  Value v = make_value(budget, name, in.dtype, std::move(dims));
  if (v.data.size() != in.data.size())
    throw Error(ErrorCode::kBadModel, "'" + name + "': the new dims do not hold the same number of elements");
  if (!v.data.empty()) std::memcpy(v.data.data(), in.data.data(), v.data.size());
  return v;
}

// Input `i`, present, with bytes that match its dims.
const Value& need(const std::vector<const Value*>& in, size_t i, const OnnxAttrs& a) {
  if (i >= in.size() || !in[i]) throw Error(ErrorCode::kBadModel, a.where() + ": missing input " + std::to_string(i));
  check_data_size(*in[i], a.where());
  return *in[i];
}

Value fold_gather(const OnnxAttrs& a, const Value& data, const Value& indices, const std::string& name,
                  MemoryBudget& budget) {
  if (indices.dtype != DType::kI64 && indices.dtype != DType::kI32)
    throw Error(ErrorCode::kBadModel, a.where() + ": indices must be int64 or int32, got " + dtype_name(indices.dtype));
  int64_t rank = static_cast<int64_t>(data.dims.size());
  int64_t axis = normalize_axis(a.i("axis", 0), rank, a.where());
  int64_t extent = data.dims[static_cast<size_t>(axis)], count = element_count(indices.dims, indices.name);
  for (int64_t j = 0; j < count; ++j) {
    int64_t k = load_as_i64(indices, j);
    if (k < -extent || k >= extent)
      throw Error(ErrorCode::kBadModel,
                  a.where() + ": index " + std::to_string(k) + " out of range for dim " + std::to_string(extent));
  }
  Dims out_dims(data.dims.begin(), data.dims.begin() + axis);
  out_dims.insert(out_dims.end(), indices.dims.begin(), indices.dims.end());
  out_dims.insert(out_dims.end(), data.dims.begin() + axis + 1, data.dims.end());
  Value out = make_value(budget, name, data.dtype, out_dims);
  if (out.data.empty()) return out;  // also: no loop over the huge dims of an empty tensor
  int64_t outer = element_count(Dims(data.dims.begin(), data.dims.begin() + axis), name);
  int64_t inner = element_count(Dims(data.dims.begin() + axis + 1, data.dims.end()), name);
  size_t block = static_cast<size_t>(inner) * dtype_size(data.dtype);
  uint8_t* dst = out.data.data();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < count; ++j, dst += block) {
      int64_t k = load_as_i64(indices, j);
      if (k < 0) k += extent;
      std::memcpy(dst, data.data.data() + static_cast<size_t>(o * extent + k) * block, block);
    }
  return out;
}

Value fold_slice(const OnnxAttrs& a, const std::vector<const Value*>& in, int opset, const std::string& name,
                 MemoryBudget& budget) {
  const Value& data = need(in, 0, a);
  for (size_t i = 1; i < in.size(); ++i)
    if (in[i]) need(in, i, a);
  SliceSpec spec = slice_spec(a, data.dims, in, opset);
  Value out = make_value(budget, name, data.dtype, spec.sizes);
  if (out.data.empty()) return out;
  Dims strides = strides_of(data.dims), delta(strides.size());
  int64_t base = 0;
  for (size_t k = 0; k < strides.size(); ++k) {
    base += spec.starts[k] * strides[k];
    if (spec.sizes[k] > 1) delta[k] = spec.steps[k] * strides[k];  // |step| < dim here: in range
  }
  gather_elements(data, out, StridedOffsets(spec.sizes, delta, base));
  return out;
}

Value fold_transpose(const OnnxAttrs& a, const Value& data, const std::string& name, MemoryBudget& budget) {
  size_t rank = data.dims.size();
  Dims perm = a.ints("perm", {});
  if (perm.empty())
    for (size_t i = rank; i-- > 0;) perm.push_back(static_cast<int64_t>(i));
  if (perm.size() != rank)
    throw Error(ErrorCode::kBadModel,
                a.where() + ": perm " + dims_to_string(perm) + " does not match rank " + std::to_string(rank));
  Dims in_strides = strides_of(data.dims), out_dims(rank), strides(rank);
  std::vector<bool> seen(rank, false);
  for (size_t i = 0; i < rank; ++i) {
    int64_t p = perm[i];
    if (p < 0 || p >= static_cast<int64_t>(rank) || seen[static_cast<size_t>(p)])
      throw Error(ErrorCode::kBadModel, a.where() + ": perm " + dims_to_string(perm) + " is not a permutation");
    seen[static_cast<size_t>(p)] = true;
    out_dims[i] = data.dims[static_cast<size_t>(p)];
    strides[i] = in_strides[static_cast<size_t>(p)];
  }
  Value out = make_value(budget, name, data.dtype, out_dims);
  if (!out.data.empty()) gather_elements(data, out, StridedOffsets(out_dims, strides, 0));
  return out;
}

Value fold_concat(const OnnxAttrs& a, const std::vector<const Value*>& in, const std::string& name,
                  MemoryBudget& budget) {
  const Value& first = need(in, 0, a);
  size_t axis = static_cast<size_t>(normalize_axis(a.i("axis", 0), static_cast<int64_t>(first.dims.size()), a.where()));
  Dims out_dims = first.dims;
  out_dims[axis] = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    const Value& v = need(in, i, a);
    if (v.dtype != first.dtype || v.dims.size() != first.dims.size())
      throw Error(ErrorCode::kBadModel, a.where() + ": input " + std::to_string(i) + " differs in type or rank");
    for (size_t k = 0; k < v.dims.size(); ++k)
      if (k != axis && v.dims[k] != first.dims[k])
        throw Error(ErrorCode::kBadModel, a.where() + ": inputs " + dims_to_string(first.dims) + " and " +
                                              dims_to_string(v.dims) + " differ off the axis");
    if (out_dims[axis] > kMaxDim - v.dims[axis])
      throw Error(ErrorCode::kBadModel, a.where() + ": the concatenated dim exceeds 2^62");
    out_dims[axis] += v.dims[axis];
  }
  Value out = make_value(budget, name, first.dtype, out_dims);
  if (out.data.empty()) return out;
  int64_t outer = element_count(Dims(first.dims.begin(), first.dims.begin() + static_cast<int64_t>(axis)), name);
  // Each input contributes one block of its axis slice per outer index; empty ones none.
  std::vector<std::pair<const uint8_t*, size_t>> blocks;
  for (const Value* v : in)
    if (!v->data.empty()) blocks.emplace_back(v->data.data(), v->data.size() / static_cast<size_t>(outer));
  uint8_t* dst = out.data.data();
  for (int64_t o = 0; o < outer; ++o)
    for (const auto& [src, block] : blocks) {
      std::memcpy(dst, src + static_cast<size_t>(o) * block, block);
      dst += block;
    }
  return out;
}

// kMod: the sign of the divisor (Python's %), kFmod: the dividend's (C's fmod; Mod's fmod=1).
enum class Arith { kAdd, kSub, kMul, kDiv, kMod, kFmod };

// Integer arithmetic wraps around (two's complement), as numpy's does; x / 0 is an error
// and INT_MIN / -1 wraps to INT_MIN instead of trapping.
template <class T>
T apply(Arith op, T x, T y, const OnnxAttrs& a) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    switch (op) {
      case Arith::kAdd:
        return static_cast<T>(static_cast<U>(x) + static_cast<U>(y));
      case Arith::kSub:
        return static_cast<T>(static_cast<U>(x) - static_cast<U>(y));
      case Arith::kMul:
        return static_cast<T>(static_cast<U>(x) * static_cast<U>(y));
      case Arith::kDiv:
        if (y == 0) throw Error(ErrorCode::kBadModel, a.where() + ": integer division by zero");
        if constexpr (std::is_signed_v<T>)
          if (y == -1) return static_cast<T>(U{0} - static_cast<U>(x));
        return static_cast<T>(x / y);
      case Arith::kMod:
      case Arith::kFmod: {
        if (y == 0) throw Error(ErrorCode::kBadModel, a.where() + ": integer modulo by zero");
        T r = 0;
        if constexpr (std::is_signed_v<T>) {
          if (y == -1) return 0;  // INT_MIN % -1 would trap
          r = static_cast<T>(x % y);
          if (op == Arith::kMod && r != 0 && ((r < 0) != (y < 0))) r = static_cast<T>(r + y);
        } else {
          r = static_cast<T>(x % y);
        }
        return r;
      }
    }
  } else {
    switch (op) {
      case Arith::kAdd:
        return x + y;
      case Arith::kSub:
        return x - y;
      case Arith::kMul:
        return x * y;
      case Arith::kDiv:
        return x / y;
      case Arith::kMod:
      case Arith::kFmod: {
        T r = std::fmod(x, y);
        if (op == Arith::kMod && r != 0 && ((r < 0) != (y < 0))) r += y;
        return r;
      }
    }
  }
  return T{};
}

// Strides of `d` broadcast to rank `r` (0 along broadcast dims).
Dims broadcast_strides(const Dims& d, size_t r) {
  Dims padded(r - d.size(), 1);
  padded.insert(padded.end(), d.begin(), d.end());
  Dims s = strides_of(padded);
  for (size_t k = 0; k < r; ++k)
    if (padded[k] == 1) s[k] = 0;
  return s;
}

template <class T>
Value fold_binary_typed(const OnnxAttrs& a, Arith op, const Value& x, const Value& y, const std::string& name,
                        MemoryBudget& budget) {
  Dims out_dims = broadcast_dims(x.dims, y.dims, name);
  Value out = make_value(budget, name, x.dtype, out_dims);
  if (out.data.empty()) return out;
  size_t r = out_dims.size();
  StridedOffsets xi(out_dims, broadcast_strides(x.dims, r), 0), yi(out_dims, broadcast_strides(y.dims, r), 0);
  int64_t n = element_count(out_dims, name);
  for (int64_t o = 0; o < n; ++o, xi.advance(), yi.advance()) {
    T v = apply<T>(op, load<T>(x, xi.offset()), load<T>(y, yi.offset()), a);
    std::memcpy(out.data.data() + static_cast<size_t>(o) * sizeof(T), &v, sizeof(T));
  }
  return out;
}

Value fold_binary(const OnnxAttrs& a, const std::string& op_type, const Value& x, const Value& y,
                  const std::string& name, MemoryBudget& budget) {
  if (x.dtype != y.dtype)
    throw Error(ErrorCode::kBadModel,
                a.where() + ": operand types differ (" + dtype_name(x.dtype) + " and " + dtype_name(y.dtype) + ")");
  Arith op = op_type == "Add"   ? Arith::kAdd
             : op_type == "Sub" ? Arith::kSub
             : op_type == "Mul" ? Arith::kMul
             : op_type == "Div" ? Arith::kDiv
             : a.i("fmod", 0)   ? Arith::kFmod
                                : Arith::kMod;
  switch (x.dtype) {
    case DType::kF32:
      return fold_binary_typed<float>(a, op, x, y, name, budget);
    case DType::kI64:
      return fold_binary_typed<int64_t>(a, op, x, y, name, budget);
    case DType::kI32:
      return fold_binary_typed<int32_t>(a, op, x, y, name, budget);
    case DType::kU8:
      return fold_binary_typed<uint8_t>(a, op, x, y, name, budget);
    case DType::kS8:
      return fold_binary_typed<int8_t>(a, op, x, y, name, budget);
    default:
      throw Error(ErrorCode::kUnsupported, a.where() + ": arithmetic on " + dtype_name(x.dtype));
  }
}

// Stores integer `x` into element i of `out` (wrapping to its width) or float `f` for float32.
void store_number(Value& out, int64_t i, int64_t x, double f) {
  size_t at = static_cast<size_t>(i);
  auto put = [&](auto val) { std::memcpy(out.data.data() + at * sizeof(val), &val, sizeof(val)); };
  uint64_t bits = static_cast<uint64_t>(x);
  switch (out.dtype) {
    case DType::kF32:
      return put(static_cast<float>(f));
    case DType::kI64:
      return put(static_cast<int64_t>(bits));
    case DType::kI32:
      return put(static_cast<int32_t>(static_cast<uint32_t>(bits)));
    case DType::kU8:
      return put(static_cast<uint8_t>(bits));
    case DType::kS8:
      return put(static_cast<int8_t>(static_cast<uint8_t>(bits)));
    case DType::kBool:
      return put(static_cast<uint8_t>(x != 0));
  }
}

// Element i of `x` converted to `out`'s type: integers to integers wrap (two's complement),
// floats to integers saturate (NaN is 0), bool is x != 0.
void convert_element(const Value& x, Value& out, int64_t i) {
  size_t at = static_cast<size_t>(i);
  auto put = [&](auto val) { std::memcpy(out.data.data() + at * sizeof(val), &val, sizeof(val)); };
  if (out.dtype == DType::kBool) {
    put(static_cast<uint8_t>(x.dtype == DType::kF32 ? load<float>(x, i) != 0.f : load_as_i64(x, i) != 0));
    return;
  }
  if (out.dtype == DType::kF32) {
    put(x.dtype == DType::kF32 ? load<float>(x, i) : static_cast<float>(load_as_i64(x, i)));
    return;
  }
  if (is_integer(x.dtype)) return store_number(out, i, load_as_i64(x, i), 0);  // (wraps)
  double f = load<float>(x, i);
  switch (out.dtype) {
    case DType::kI64:
      return put(saturate<int64_t>(f));
    case DType::kI32:
      return put(saturate<int32_t>(f));
    case DType::kU8:
      return put(saturate<uint8_t>(f));
    case DType::kS8:
      return put(saturate<int8_t>(f));
    default:
      return;
  }
}

Value fold_cast(const OnnxAttrs& a, const Value& x, const std::string& name, MemoryBudget& budget) {
  if (!a.has("to")) throw Error(ErrorCode::kBadModel, a.where() + ": no 'to' type");
  return convert_constant(x, dtype_from_onnx(static_cast<int>(a.i("to", 0)), name), name, budget);
}

Value fold_constant(const OnnxAttrs& a, const std::string& name, MemoryBudget& budget) {
  if (const onnx::TensorProto* t = a.tensor("value")) return value_from_tensor_proto(*t, name, &budget);
  if (a.has("value_int")) {
    Value v = make_i64(budget, name, {a.i("value_int", 0)});
    v.dims = {};
    return v;
  }
  if (a.has("value_ints")) return make_i64(budget, name, a.ints("value_ints", {}));
  if (a.has("value_float")) {
    Value v = make_value(budget, name, DType::kF32, {});
    float f = a.f("value_float", 0);
    std::memcpy(v.data.data(), &f, 4);
    return v;
  }
  if (a.has("value_floats")) {
    std::vector<float> f = a.floats("value_floats");
    Value v = make_value(budget, name, DType::kF32, {static_cast<int64_t>(f.size())});
    if (!f.empty()) std::memcpy(v.data.data(), f.data(), f.size() * 4);
    return v;
  }
  throw Error(ErrorCode::kUnsupported, a.where() + ": only tensor, int(s) and float(s) constants are supported");
}

Value fold_constant_of_shape(const OnnxAttrs& a, const Value& shape, const std::string& name, MemoryBudget& budget) {
  std::vector<int64_t> dims = int_list(shape, kMaxRank, a.where(), "shape");
  Value fill;
  if (const onnx::TensorProto* t = a.tensor("value")) {
    fill = value_from_tensor_proto(*t, name, &budget);
    if (element_count(fill.dims, name) != 1)
      throw Error(ErrorCode::kBadModel,
                  a.where() + ": value must hold exactly one element, it has dims " + dims_to_string(fill.dims));
  } else {
    fill = make_value(budget, name, DType::kF32, {1});  // zeros
  }
  Value out = make_value(budget, name, fill.dtype, Dims(dims.begin(), dims.end()));
  if (out.data.empty()) return out;
  // One element, then double the filled prefix: a few large copies, not one per element.
  size_t filled = dtype_size(fill.dtype);
  std::memcpy(out.data.data(), fill.data.data(), filled);
  while (filled < out.data.size()) {
    size_t n = std::min(filled, out.data.size() - filled);
    std::memcpy(out.data.data() + filled, out.data.data(), n);
    filled += n;
  }
  return out;
}

std::vector<int64_t> axes_input_or_attr(const OnnxAttrs& a, const std::vector<const Value*>& in, int opset) {
  if (opset >= 13) return in.size() > 1 && in[1] ? int_list(need(in, 1, a), kMaxRank, a.where(), "axes") : Dims{};
  return a.ints("axes", {});
}

std::vector<Value> fold_shape(const OnnxAttrs& a, const std::vector<const Value*>& in, const std::string& name,
                              MemoryBudget& budget) {
  if (in.empty() || !in[0]) throw Error(ErrorCode::kBadModel, a.where() + ": missing input 0");
  const Dims& d = in[0]->dims;  // only the dims: a runtime tensor's shell has no data
  element_count(d, in[0]->name);
  int64_t rank = static_cast<int64_t>(d.size());
  auto clamp_end = [&](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + rank : v, 0, rank); };
  int64_t b = clamp_end(a.i("start", 0)), e = clamp_end(a.i("end", rank));
  return {make_i64(budget, name, std::vector<int64_t>(d.begin() + b, d.begin() + std::max(b, e)))};
}

std::vector<Value> fold_identity(const onnx::NodeProto& node, const OnnxAttrs& a, const std::vector<const Value*>& in,
                                 const std::string& name, MemoryBudget& budget) {
  const Value& x = need(in, 0, a);
  std::vector<Value> out{with_dims(budget, x, name, x.dims)};
  if (node.op_type() == "Dropout") {
    if (in.size() > 2 && in[2]) {
      const Value& training = need(in, 2, a);
      if (element_count(training.dims, training.name) != 1 || to_i64s(training)[0] != 0)
        throw Error(ErrorCode::kUnsupported, a.where() + ": training_mode must be a constant false");
    }
    if (node.output_size() > 1 && !node.output(1).empty()) {
      Value mask = make_value(budget, node.output(1), DType::kBool, x.dims);
      std::fill(mask.data.begin(), mask.data.end(), 1);
      out.push_back(std::move(mask));
    }
  }
  return out;
}

// --- Logic, comparisons, element-wise math, Where, Range, Expand, Tile, Split, Size: what
// exported shape code computes on constants. Integers stay exact (int64), floats compute in
// double and are stored in the output's type.

double load_as_double(const Value& v, int64_t i) {
  return v.dtype == DType::kF32 ? static_cast<double>(load<float>(v, i)) : static_cast<double>(load_as_i64(v, i));
}

// The output dims of numpy broadcasting over every present input.
Dims broadcast_all(const std::vector<const Value*>& xs, const std::string& name) {
  Dims out;
  for (const Value* x : xs) out = broadcast_dims(out, x->dims, name);
  return out;
}

// Calls f(o, offsets) for each output element o with each input's element offset.
template <class F>
void for_each_broadcast(const std::vector<const Value*>& xs, const Dims& out_dims, const std::string& name, F f) {
  size_t r = out_dims.size();
  std::vector<StridedOffsets> it;
  for (const Value* x : xs) it.emplace_back(out_dims, broadcast_strides(x->dims, r), 0);
  int64_t n = element_count(out_dims, name);
  std::vector<int64_t> at(xs.size());
  for (int64_t o = 0; o < n; ++o) {
    for (size_t k = 0; k < xs.size(); ++k) at[k] = it[k].offset();
    f(o, at);
    for (auto& i : it) i.advance();
  }
}

Value fold_compare(const OnnxAttrs& a, const std::string& op, const Value& x, const Value& y, const std::string& name,
                   MemoryBudget& budget) {
  if (x.dtype != y.dtype)
    throw Error(ErrorCode::kBadModel,
                a.where() + ": operand types differ (" + dtype_name(x.dtype) + " and " + dtype_name(y.dtype) + ")");
  bool logic = op == "And" || op == "Or" || op == "Xor";
  if (logic && x.dtype != DType::kBool) throw Error(ErrorCode::kBadModel, a.where() + ": operands must be bool");
  Dims out_dims = broadcast_all({&x, &y}, name);
  Value out = make_value(budget, name, DType::kBool, out_dims);
  if (out.data.empty()) return out;
  bool ints = is_integer(x.dtype);
  for_each_broadcast({&x, &y}, out_dims, name, [&](int64_t o, const std::vector<int64_t>& at) {
    int c;  // -1, 0, 1; 2 when unordered (NaN)
    if (ints) {
      int64_t p = load_as_i64(x, at[0]), q = load_as_i64(y, at[1]);
      c = p < q ? -1 : p > q ? 1 : 0;
    } else {
      double p = load_as_double(x, at[0]), q = load_as_double(y, at[1]);
      c = p < q ? -1 : p > q ? 1 : p == q ? 0 : 2;
    }
    bool r = false;
    if (op == "Equal")
      r = c == 0;
    else if (op == "Less")
      r = c == -1;
    else if (op == "Greater")
      r = c == 1;
    else if (op == "LessOrEqual")
      r = c == -1 || c == 0;
    else if (op == "GreaterOrEqual")
      r = c == 1 || c == 0;
    else {
      bool p = load_as_i64(x, at[0]) != 0, q = load_as_i64(y, at[1]) != 0;
      r = op == "And" ? (p && q) : op == "Or" ? (p || q) : (p != q);
    }
    out.data[static_cast<size_t>(o)] = r;
  });
  return out;
}

Value fold_unary(const OnnxAttrs& a, const std::string& op, const Value& x, const std::string& name,
                 MemoryBudget& budget) {
  bool float_only = op == "Floor" || op == "Ceil" || op == "Sqrt";
  if (float_only && x.dtype != DType::kF32)
    throw Error(ErrorCode::kBadModel, a.where() + ": input must be float, got " + dtype_name(x.dtype));
  if (op == "Not" && x.dtype != DType::kBool) throw Error(ErrorCode::kBadModel, a.where() + ": input must be bool");
  if (op != "Not" && x.dtype == DType::kBool) throw Error(ErrorCode::kBadModel, a.where() + ": bool input");
  Value out = make_value(budget, name, x.dtype, x.dims);
  int64_t n = element_count(x.dims, name);
  for (int64_t i = 0; i < n; ++i) {
    if (x.dtype == DType::kF32) {
      double f = load<float>(x, i);
      if (op == "Neg")
        f = -f;
      else if (op == "Abs")
        f = std::fabs(f);
      else if (op == "Floor")
        f = std::floor(f);
      else if (op == "Ceil")
        f = std::ceil(f);
      else if (op == "Sqrt")
        f = std::sqrt(f);
      store_number(out, i, 0, f);
    } else {
      uint64_t v = static_cast<uint64_t>(load_as_i64(x, i));  // wraps as two's complement
      if (op == "Neg")
        v = 0 - v;
      else if (op == "Abs")
        v = static_cast<int64_t>(v) < 0 ? 0 - v : v;
      else if (op == "Not")
        v = v == 0;
      store_number(out, i, static_cast<int64_t>(v), 0);
    }
  }
  return out;
}

// Min / Max of one or more inputs of one type (NaN propagates, as numpy's minimum does).
Value fold_min_max(const OnnxAttrs& a, bool is_max, const std::vector<const Value*>& in, const std::string& name,
                   MemoryBudget& budget) {
  std::vector<const Value*> xs;
  for (size_t i = 0; i < in.size(); ++i) xs.push_back(&need(in, i, a));
  if (xs.empty()) throw Error(ErrorCode::kBadModel, a.where() + ": no inputs");
  for (const Value* x : xs)
    if (x->dtype != xs[0]->dtype || x->dtype == DType::kBool)
      throw Error(ErrorCode::kBadModel, a.where() + ": inputs must be numbers of one type");
  Dims out_dims = broadcast_all(xs, name);
  Value out = make_value(budget, name, xs[0]->dtype, out_dims);
  if (out.data.empty()) return out;
  bool ints = is_integer(xs[0]->dtype);
  for_each_broadcast(xs, out_dims, name, [&](int64_t o, const std::vector<int64_t>& at) {
    if (ints) {
      int64_t r = load_as_i64(*xs[0], at[0]);
      for (size_t k = 1; k < xs.size(); ++k) {
        int64_t v = load_as_i64(*xs[k], at[k]);
        r = is_max ? std::max(r, v) : std::min(r, v);
      }
      store_number(out, o, r, 0);
    } else {
      double r = load_as_double(*xs[0], at[0]);
      for (size_t k = 1; k < xs.size(); ++k) {
        double v = load_as_double(*xs[k], at[k]);
        if (std::isnan(v) || std::isnan(r))
          r = std::numeric_limits<double>::quiet_NaN();
        else
          r = is_max ? std::max(r, v) : std::min(r, v);
      }
      store_number(out, o, 0, r);
    }
  });
  return out;
}

Value fold_where(const OnnxAttrs& a, const Value& c, const Value& x, const Value& y, const std::string& name,
                 MemoryBudget& budget) {
  if (c.dtype != DType::kBool) throw Error(ErrorCode::kBadModel, a.where() + ": the condition must be bool");
  if (x.dtype != y.dtype) throw Error(ErrorCode::kBadModel, a.where() + ": X and Y types differ");
  Dims out_dims = broadcast_all({&c, &x, &y}, name);
  Value out = make_value(budget, name, x.dtype, out_dims);
  if (out.data.empty()) return out;
  size_t es = dtype_size(x.dtype);
  for_each_broadcast({&c, &x, &y}, out_dims, name, [&](int64_t o, const std::vector<int64_t>& at) {
    const Value& src = c.data[static_cast<size_t>(at[0])] ? x : y;
    int64_t from = c.data[static_cast<size_t>(at[0])] ? at[1] : at[2];
    std::memcpy(out.data.data() + static_cast<size_t>(o) * es, src.data.data() + static_cast<size_t>(from) * es, es);
  });
  return out;
}

Value fold_range(const OnnxAttrs& a, const Value& start, const Value& limit, const Value& delta,
                 const std::string& name, MemoryBudget& budget) {
  for (const Value* v : {&start, &limit, &delta}) {
    if (element_count(v->dims, v->name) != 1 || (!v->dims.empty() && v->dims != Dims{1}))
      throw Error(ErrorCode::kBadModel, a.where() + ": start, limit and delta must be scalars");
    if (v->dtype != start.dtype || v->dtype == DType::kBool)
      throw Error(ErrorCode::kBadModel, a.where() + ": start, limit and delta must be numbers of one type");
  }
  int64_t count = 0;
  if (is_integer(start.dtype)) {
    int64_t s = load_as_i64(start, 0), l = load_as_i64(limit, 0), d = load_as_i64(delta, 0);
    if (d == 0) throw Error(ErrorCode::kBadModel, a.where() + ": delta 0");
    // ceil((l - s) / d) in 128 bits: no overflow
    __int128 span = static_cast<__int128>(l) - s;
    __int128 c = span / d + ((span % d != 0) && ((span > 0) == (d > 0)) ? 1 : 0);
    if (c > kMaxDim) throw Error(ErrorCode::kBadModel, a.where() + ": the range is absurdly long");
    count = c > 0 ? static_cast<int64_t>(c) : 0;
    Value out = make_value(budget, name, start.dtype, {count});
    for (int64_t i = 0; i < count; ++i) store_number(out, i, static_cast<int64_t>(s + static_cast<__int128>(i) * d), 0);
    return out;
  }
  double s = load<float>(start, 0), l = load<float>(limit, 0), d = load<float>(delta, 0);
  double c = std::ceil((l - s) / d);
  if (!(d != 0) || std::isnan(c) || c > static_cast<double>(kMaxDim))
    throw Error(ErrorCode::kBadModel, a.where() + ": the range is not finite");
  count = c > 0 ? static_cast<int64_t>(c) : 0;
  Value out = make_value(budget, name, start.dtype, {count});
  for (int64_t i = 0; i < count; ++i) store_number(out, i, 0, s + static_cast<double>(i) * d);
  return out;
}

// Copies x to each element of out_dims, element index k of dim j reading x's dim j at k mod
// x's dim (x left-padded with 1s): Expand (x's dims 1 or equal) and Tile.
Value fold_repeat(const Value& x, const Dims& out_dims, const std::string& name, MemoryBudget& budget) {
  Value out = make_value(budget, name, x.dtype, out_dims);
  if (out.data.empty() || x.data.empty()) return out;
  size_t r = out_dims.size();
  Dims xd(r - x.dims.size(), 1);
  xd.insert(xd.end(), x.dims.begin(), x.dims.end());
  Dims xs = strides_of(xd), idx(r, 0);
  size_t es = dtype_size(x.dtype);
  int64_t n = element_count(out_dims, name), src = 0;
  for (int64_t o = 0; o < n; ++o) {
    std::memcpy(out.data.data() + static_cast<size_t>(o) * es, x.data.data() + static_cast<size_t>(src) * es, es);
    for (size_t k = r; k-- > 0;) {
      if (++idx[k] < out_dims[k]) {
        src += xs[k];
        if (idx[k] % xd[k] == 0) src -= xd[k] * xs[k];
        break;
      }
      src -= ((out_dims[k] - 1) % xd[k]) * xs[k];
      idx[k] = 0;
    }
  }
  return out;
}

std::vector<Value> fold_split(const onnx::NodeProto& node, const OnnxAttrs& a, const std::vector<const Value*>& in,
                              int opset, MemoryBudget& budget) {
  const Value& x = need(in, 0, a);
  const Value* split = in.size() > 1 && in[1] ? &need(in, 1, a) : nullptr;
  int64_t axis = 0;
  std::vector<int64_t> sizes = split_sizes(a, x.dims, split, node.output_size(), opset, &axis);
  Dims strides = strides_of(x.dims);
  std::vector<Value> outs;
  int64_t first = 0;
  for (size_t k = 0; k < sizes.size(); ++k) {
    Dims d = x.dims;
    d[static_cast<size_t>(axis)] = sizes[k];
    Value out = make_value(budget, node.output(static_cast<int>(k)), x.dtype, d);
    if (!out.data.empty()) {
      Dims delta(d.size(), 0);
      for (size_t j = 0; j < d.size(); ++j)
        if (d[j] > 1) delta[j] = strides[j];
      gather_elements(x, out, StridedOffsets(d, delta, first * strides[static_cast<size_t>(axis)]));
    }
    first += sizes[k];
    outs.push_back(std::move(out));
  }
  return outs;
}

}  // namespace

Value convert_constant(const Value& x, DType to, const std::string& name, MemoryBudget& budget) {
  check_data_size(x, "'" + name + "'");
  Value out = make_value(budget, name, to, x.dims);
  int64_t n = element_count(x.dims, name);
  for (int64_t i = 0; i < n; ++i) convert_element(x, out, i);
  return out;
}

bool is_foldable(const std::string& op) {
  // clang-format off
  static const std::set<std::string> kOps = {
      "Shape", "Size", "Gather", "Unsqueeze", "Squeeze", "Cast", "Slice", "Split", "Concat", "Reshape", "Flatten",
      "Add", "Sub", "Mul", "Div", "Mod", "Constant", "ConstantOfShape", "Identity", "Dropout", "Transpose",
      "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Not", "Where",
      "Range", "Expand", "Tile", "Min", "Max", "Floor", "Ceil", "Neg", "Abs", "Sqrt",
      "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"};
  // clang-format on
  return kOps.count(op) > 0;
}

std::vector<Value> fold_node(const onnx::NodeProto& node, const std::vector<const Value*>& in, int opset,
                             MemoryBudget& budget) {
  OnnxAttrs a(node);
  const std::string& op = node.op_type();
  if (node.output_size() < 1 || node.output(0).empty())
    throw Error(ErrorCode::kBadModel, a.where() + ": has no output");
  const std::string name = node.output(0);
  if (op == "Constant") return {fold_constant(a, name, budget)};
  if (op == "Shape") return fold_shape(a, in, name, budget);
  if (op == "Size") {
    if (in.empty() || !in[0]) throw Error(ErrorCode::kBadModel, a.where() + ": missing input 0");
    Value v = make_i64(budget, name, {element_count(in[0]->dims, in[0]->name)});  // dims only, as Shape
    v.dims = {};
    return {std::move(v)};
  }
  if (op == "Split") return fold_split(node, a, in, opset, budget);
  if (op == "QuantizeLinear" || op == "DequantizeLinear") {
    const Value* zero_point = in.size() > 2 ? in[2] : nullptr;
    auto fold = op == "QuantizeLinear" ? fold_quantize_linear : fold_dequantize_linear;
    return {fold(need(in, 0, a), need(in, 1, a), zero_point, a.i("axis", 1), name, a.where(), budget)};
  }
  if (op == "DynamicQuantizeLinear") {
    std::vector<std::string> names(node.output().begin(), node.output().end());
    return fold_dynamic_quantize_linear(need(in, 0, a), names, a.where(), budget);
  }
  if (op == "Equal" || op == "Less" || op == "Greater" || op == "LessOrEqual" || op == "GreaterOrEqual" ||
      op == "And" || op == "Or" || op == "Xor")
    return {fold_compare(a, op, need(in, 0, a), need(in, 1, a), name, budget)};
  if (op == "Not" || op == "Neg" || op == "Abs" || op == "Floor" || op == "Ceil" || op == "Sqrt")
    return {fold_unary(a, op, need(in, 0, a), name, budget)};
  if (op == "Min" || op == "Max") return {fold_min_max(a, op == "Max", in, name, budget)};
  if (op == "Where") return {fold_where(a, need(in, 0, a), need(in, 1, a), need(in, 2, a), name, budget)};
  if (op == "Range") return {fold_range(a, need(in, 0, a), need(in, 1, a), need(in, 2, a), name, budget)};
  if (op == "Expand") {
    const Value& x = need(in, 0, a);
    std::vector<int64_t> shape = int_list(need(in, 1, a), kMaxRank, a.where(), "shape");
    return {fold_repeat(x, broadcast_dims(x.dims, Dims(shape.begin(), shape.end()), a.where()), name, budget)};
  }
  if (op == "Tile") {
    const Value& x = need(in, 0, a);
    std::vector<int64_t> reps = int_list(need(in, 1, a), kMaxRank, a.where(), "repeats");
    if (reps.size() != x.dims.size())
      throw Error(ErrorCode::kBadModel, a.where() + ": repeats needs one value per dim");
    Dims d = x.dims;
    for (size_t k = 0; k < d.size(); ++k) {
      if (reps[k] < 0) throw Error(ErrorCode::kBadModel, a.where() + ": negative repeats");
      if (reps[k] != 0 && d[k] > kMaxDim / reps[k]) throw Error(ErrorCode::kBadModel, a.where() + ": too large");
      d[k] *= reps[k];
    }
    element_count(d, name);
    return {fold_repeat(x, d, name, budget)};
  }
  if (op == "Identity" || op == "Dropout") return fold_identity(node, a, in, name, budget);
  if (op == "Gather") return {fold_gather(a, need(in, 0, a), need(in, 1, a), name, budget)};
  if (op == "Slice") return {fold_slice(a, in, opset, name, budget)};
  if (op == "Transpose") return {fold_transpose(a, need(in, 0, a), name, budget)};
  if (op == "Concat") return {fold_concat(a, in, name, budget)};
  if (op == "Cast") return {fold_cast(a, need(in, 0, a), name, budget)};
  if (op == "ConstantOfShape") return {fold_constant_of_shape(a, need(in, 0, a), name, budget)};
  if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div" || op == "Mod")
    return {fold_binary(a, op, need(in, 0, a), need(in, 1, a), name, budget)};
  const Value& x = need(in, 0, a);
  if (op == "Reshape") {
    std::vector<int64_t> shape =
        opset < 5 ? a.ints("shape", {}) : int_list(need(in, 1, a), kMaxRank, a.where(), "shape");
    return {with_dims(budget, x, name, reshape_dims(x.dims, shape, a.i("allowzero", 0) != 0, a.where()))};
  }
  if (op == "Flatten") return {with_dims(budget, x, name, flatten_dims(x.dims, a.i("axis", 1), a.where()))};
  if (op == "Squeeze")
    return {with_dims(budget, x, name, squeeze_dims(x.dims, axes_input_or_attr(a, in, opset), a.where()))};
  if (op == "Unsqueeze")
    return {with_dims(budget, x, name, unsqueeze_dims(x.dims, axes_input_or_attr(a, in, opset), a.where()))};
  throw Error(ErrorCode::kUnsupported, a.where() + ": cannot be folded");
}

}  // namespace teeinfer
