#include "op_harness/reference.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace teeinfer::op_harness {

namespace {

using Inputs = std::vector<const RefTensor*>;

int64_t count(const Dims& d) {
  int64_t n = 1;
  for (int64_t x : d) n *= x;
  return n;
}

std::vector<int64_t> strides(const Dims& d) {
  std::vector<int64_t> s(d.size(), 1);
  for (size_t i = d.size(); i-- > 1;) s[i - 1] = s[i] * d[i];
  return s;
}

// Calls f(index) for every index of `dims`, row-major.
template <class F>
void for_each_index(const Dims& dims, F f) {
  std::vector<int64_t> idx(dims.size(), 0);
  for (int64_t t = count(dims); t > 0; --t) {
    f(idx);
    for (size_t k = dims.size(); k-- > 0;) {
      if (++idx[k] < dims[k]) break;
      idx[k] = 0;
    }
  }
}

// Offset in a tensor of dims `d` broadcast (numpy rules) to an index of rank idx.size().
int64_t broadcast_offset(const Dims& d, const std::vector<int64_t>& idx) {
  size_t lead = idx.size() - d.size();
  int64_t off = 0, stride = 1;
  for (size_t i = d.size(); i-- > 0;) {
    if (d[i] != 1) off += idx[lead + i] * stride;
    stride *= d[i];
  }
  return off;
}

Dims broadcast(const Dims& a, const Dims& b) {
  size_t r = std::max(a.size(), b.size());
  Dims y(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1) throw std::runtime_error("reference: shapes do not broadcast");
    y[i] = da == 1 ? db : da;
  }
  return y;
}

double activation(const EltwiseParams& e, double x) {
  switch (e.kind) {
    case EltwiseKind::kRelu:
      return x > 0 ? x : 0;
    case EltwiseKind::kLeakyRelu:
      return x > 0 ? x : e.alpha * x;
    case EltwiseKind::kClip:
      return std::min(std::max(x, static_cast<double>(e.alpha)), static_cast<double>(e.beta));
    case EltwiseKind::kSigmoid:
      return 1 / (1 + std::exp(-x));
    case EltwiseKind::kHardSigmoid:
      return std::max(0.0, std::min(1.0, e.alpha * x + e.beta));
    case EltwiseKind::kHardSwish:
      return x * std::max(0.0, std::min(1.0, x / 6 + 0.5));
    case EltwiseKind::kNeg:
      return -x;
    case EltwiseKind::kSqrt:
      return std::sqrt(x);
    case EltwiseKind::kTanh:
      return std::tanh(x);
    case EltwiseKind::kExp:
      return std::exp(x);
    case EltwiseKind::kLog:
      return std::log(x);
    case EltwiseKind::kErf:
      return std::erf(x);
    case EltwiseKind::kAbs:
      return std::fabs(x);
    case EltwiseKind::kReciprocal:
      return 1 / x;
    case EltwiseKind::kSoftplus:
      return std::log1p(std::exp(-std::fabs(x))) + std::max(x, 0.0);
    case EltwiseKind::kElu:
      return x > 0 ? x : e.alpha * std::expm1(x);
    case EltwiseKind::kSelu:
      return e.beta * (x > 0 ? x : e.alpha * std::expm1(x));
    case EltwiseKind::kFloor:
      return std::floor(x);
    case EltwiseKind::kCeil:
      return std::ceil(x);
    case EltwiseKind::kRound:
      return std::nearbyint(x);
    case EltwiseKind::kPow:
      return std::pow(x, static_cast<double>(e.beta));
    case EltwiseKind::kGelu:
      return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case EltwiseKind::kGeluTanh:
      return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case EltwiseKind::kSin:
      return std::sin(x);
    case EltwiseKind::kCos:
      return std::cos(x);
    case EltwiseKind::kSign:
      return x > 0 ? 1 : x < 0 ? -1 : x;
    case EltwiseKind::kSoftsign:
      return x / (1 + std::fabs(x));
    case EltwiseKind::kThresholdedRelu:
      return x > e.alpha ? x : 0;
    case EltwiseKind::kMish:
      return x * std::tanh(std::log1p(std::exp(-std::fabs(x))) + std::max(x, 0.0));
    case EltwiseKind::kSwish:
      return x / (1 + std::exp(-e.alpha * x));
  }
  throw std::runtime_error("reference: unknown activation");
}

double post_ops(const PostOps& ops, double x) {
  for (const EltwiseParams& e : ops) x = activation(e, x);
  return x;
}

// A full-int8 node's input: rounded to u8 steps of `scale` (round to nearest even,
// saturating), computed in float32 as the engine's quantizing reorder does.
RefTensor quantized_u8(const RefTensor& x, float scale) {
  RefTensor q = x;
  float inverse = 1.f / scale;
  for (double& v : q.data) {
    float steps = std::nearbyint(static_cast<float>(v) * inverse);
    v = static_cast<double>(std::clamp(steps, 0.f, 255.f)) * scale;
  }
  return q;
}

int64_t window_out(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe) {
  return (in + pb + pe - ((k - 1) * d + 1)) / s + 1;
}

// For one output position of a conv/pool window: the kernel offsets and input spatial
// offsets of the window's elements inside the input (padding left out).
struct Tap {
  int64_t kernel, input;
};
std::vector<Tap> window_taps(const Dims& in_sp, const Dims& kernel, const Dims& strides_, const Dims& dilations,
                             const Dims& pads_begin, const std::vector<int64_t>& out_idx) {
  std::vector<Tap> taps;
  std::vector<int64_t> in_strides = strides(in_sp), k_strides = strides(kernel);
  for_each_index(kernel, [&](const std::vector<int64_t>& k) {
    int64_t in_off = 0, k_off = 0;
    for (size_t i = 0; i < kernel.size(); ++i) {
      int64_t pos = out_idx[i] * strides_[i] - pads_begin[i] + k[i] * dilations[i];
      if (pos < 0 || pos >= in_sp[i]) return;
      in_off += pos * in_strides[i];
      k_off += k[i] * k_strides[i];
    }
    taps.push_back({k_off, in_off});
  });
  return taps;
}

Dims window_dims(const Dims& x, int64_t channels, const Dims& kernel, const Dims& s, const Dims& d, const Dims& pb,
                 const Dims& pe) {
  Dims y{x[0], channels};
  for (size_t i = 0; i + 2 < x.size(); ++i) y.push_back(window_out(x[i + 2], kernel[i], s[i], d[i], pb[i], pe[i]));
  return y;
}

RefTensor conv(const Node& n, const Inputs& in) {
  const auto& p = std::get<ConvParams>(n.params);
  const RefTensor x = p.int8.full() ? quantized_u8(*in[0], p.int8.input_scale) : *in[0];
  const RefTensor& w = *in[1];
  const RefTensor* bias = in.size() > 2 ? in[2] : nullptr;
  const RefTensor* residual = p.fused_sum ? in[3] : nullptr;
  const int64_t images = x.dims[0], channels = x.dims[1], out_channels = w.dims[0];
  const int64_t group_in = channels / p.groups, group_out = out_channels / p.groups;
  Dims in_sp(x.dims.begin() + 2, x.dims.end());
  RefTensor y{window_dims(x.dims, out_channels, p.kernel, p.strides, p.dilations, p.pads_begin, p.pads_end), {}};
  Dims out_sp(y.dims.begin() + 2, y.dims.end());
  const int64_t in_plane = count(in_sp), out_plane = count(out_sp), taps_per_filter = count(p.kernel);
  y.data.assign(static_cast<size_t>(count(y.dims)), 0.0);
  int64_t o = 0;  // output spatial offset
  for_each_index(out_sp, [&](const std::vector<int64_t>& out_idx) {
    std::vector<Tap> taps = window_taps(in_sp, p.kernel, p.strides, p.dilations, p.pads_begin, out_idx);
    for (int64_t img = 0; img < images; ++img)
      for (int64_t oc = 0; oc < out_channels; ++oc) {
        int64_t group = oc / group_out;
        double acc = bias ? bias->data[static_cast<size_t>(oc)] : 0.0;
        for (int64_t ci = 0; ci < group_in; ++ci) {
          const double* xs = x.data.data() + (img * channels + group * group_in + ci) * in_plane;
          const double* ws = w.data.data() + (oc * group_in + ci) * taps_per_filter;
          for (const Tap& t : taps) acc += xs[t.input] * ws[t.kernel];
        }
        size_t at = static_cast<size_t>((img * out_channels + oc) * out_plane + o);
        if (residual) acc += residual->data[at];
        y.scale = std::max(y.scale, std::fabs(acc));
        y.data[at] = post_ops(p.post_ops, acc);
      }
    ++o;
  });
  return y;
}

RefTensor pool(const Node& n, const Inputs& in) {
  const auto& p = std::get<PoolParams>(n.params);
  const RefTensor& x = *in[0];
  Dims in_sp(x.dims.begin() + 2, x.dims.end());
  RefTensor y{window_dims(x.dims, x.dims[1], p.kernel, p.strides, p.dilations, p.pads_begin, p.pads_end), {}};
  Dims out_sp(y.dims.begin() + 2, y.dims.end());
  const int64_t planes = x.dims[0] * x.dims[1], in_plane = count(in_sp), out_plane = count(out_sp);
  y.data.assign(static_cast<size_t>(count(y.dims)), 0.0);
  int64_t o = 0;
  for_each_index(out_sp, [&](const std::vector<int64_t>& out_idx) {
    std::vector<Tap> taps = window_taps(in_sp, p.kernel, p.strides, p.dilations, p.pads_begin, out_idx);
    if (taps.empty()) throw std::runtime_error("reference: a pooling window sees only padding");
    for (int64_t plane = 0; plane < planes; ++plane) {
      const double* xs = x.data.data() + plane * in_plane;
      double v;
      if (p.kind == PoolKind::kMax) {
        v = -std::numeric_limits<double>::infinity();
        for (const Tap& t : taps) v = std::max(v, xs[t.input]);
      } else {
        double sum = 0;
        for (const Tap& t : taps) sum += xs[t.input];
        // count_include_pad divides by the whole window (padding counted), else by the
        // elements inside the input.
        v = sum / static_cast<double>(p.count_include_pad ? count(p.kernel) : static_cast<int64_t>(taps.size()));
      }
      y.data[static_cast<size_t>(plane * out_plane + o)] = v;
    }
    ++o;
  });
  return y;
}

// Element (r, c) of a 2-D matrix stored {rows, cols}, or {cols, rows} when transposed.
double at2(const RefTensor& m, bool transposed, int64_t r, int64_t c) {
  return transposed ? m.data[static_cast<size_t>(c * m.dims[1] + r)] : m.data[static_cast<size_t>(r * m.dims[1] + c)];
}

RefTensor gemm(const Node& n, const Inputs& in) {
  const auto& p = std::get<GemmParams>(n.params);
  const RefTensor a = p.int8.full() ? quantized_u8(*in[0], p.int8.input_scale) : *in[0];
  const RefTensor& b = *in[1];
  const RefTensor* c = in.size() > 2 && in[2] && p.beta != 0.f ? in[2] : nullptr;
  const int64_t m = p.trans_a ? a.dims[1] : a.dims[0], k = p.trans_a ? a.dims[0] : a.dims[1];
  const int64_t nn = p.trans_b ? b.dims[0] : b.dims[1];
  RefTensor y{{m, nn}, std::vector<double>(static_cast<size_t>(m * nn))};
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < nn; ++j) {
      double acc = 0;
      for (int64_t q = 0; q < k; ++q) acc += at2(a, p.trans_a, i, q) * at2(b, p.trans_b, q, j);
      double cij = c ? c->data[static_cast<size_t>(broadcast_offset(c->dims, {i, j}))] : 0.0;
      // A prescaled C already holds (beta / alpha) * C: Y = alpha * (AB + C').
      double v = p.c_prescaled ? p.alpha * (acc + cij) : p.alpha * acc + p.beta * cij;
      y.scale = std::max(y.scale, std::fabs(v));
      y.data[static_cast<size_t>(i * nn + j)] = post_ops(p.post_ops, v);
    }
  return y;
}

RefTensor matmul(const Node& n, const Inputs& in) {
  const auto& p = std::get<MatMulParams>(n.params);
  Dims a = in[0]->dims, b = in[1]->dims;
  bool a_vector = a.size() == 1, b_vector = b.size() == 1;
  if (a_vector) a.insert(a.begin(), 1);
  if (b_vector) b.push_back(1);
  const int64_t m = a[a.size() - 2], k = a.back(), nn = b.back();
  Dims batch = broadcast(Dims(a.begin(), a.end() - 2), Dims(b.begin(), b.end() - 2));
  Dims a_batch(a.begin(), a.end() - 2), b_batch(b.begin(), b.end() - 2);
  Dims full = batch;
  full.push_back(m);
  full.push_back(nn);
  std::vector<double> out;
  double scale = 0;
  for_each_index(batch, [&](const std::vector<int64_t>& bi) {
    int64_t a_off = broadcast_offset(a_batch, bi) * m * k, b_off = broadcast_offset(b_batch, bi) * k * nn;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < nn; ++j) {
        double acc = 0;
        for (int64_t q = 0; q < k; ++q)
          acc += in[0]->data[static_cast<size_t>(a_off + i * k + q)] *
                 in[1]->data[static_cast<size_t>(b_off + q * nn + j)];
        scale = std::max(scale, std::fabs(acc));
        out.push_back(post_ops(p.post_ops, acc));
      }
  });
  Dims y = batch;  // numpy drops the dims a 1-D operand was given
  if (!a_vector) y.push_back(m);
  if (!b_vector) y.push_back(nn);
  return {y, std::move(out), scale};
}

// y = relu?(f(x, channel)) for every element; the channel is dim 1.
template <class F>
RefTensor per_channel(const RefTensor& x, bool relu, F f) {
  RefTensor y = x;
  int64_t inner = 1;
  for (size_t i = 2; i < x.dims.size(); ++i) inner *= x.dims[i];
  for (size_t e = 0; e < y.data.size(); ++e) {
    int64_t channel = (static_cast<int64_t>(e) / inner) % x.dims[1];
    double v = f(y.data[e], static_cast<size_t>(channel));
    y.scale = std::max(y.scale, std::fabs(v));
    y.data[e] = relu ? std::max(v, 0.0) : v;
  }
  return y;
}

RefTensor batchnorm(const Node& n, const Inputs& in) {
  const auto& p = std::get<BatchNormParams>(n.params);
  const auto &scale = in[1]->data, &bias = in[2]->data, &mean = in[3]->data, &var = in[4]->data;
  return per_channel(*in[0], p.fused_relu, [&](double x, size_t c) {
    return (x - mean[c]) / std::sqrt(var[c] + p.epsilon) * scale[c] + bias[c];
  });
}

RefTensor eltwise(const Node& n, const Inputs& in) {
  RefTensor y = *in[0];
  const EltwiseParams& e = std::get<EltwiseParams>(n.params);
  // GELU is x * Phi(x): oneDNN's error is that of Phi times x (about 1.5e-7 |x| in the
  // tail, where the result is far smaller than x), so x is a magnitude on the way.
  const bool product_with_x = e.kind == EltwiseKind::kGelu || e.kind == EltwiseKind::kGeluTanh;
  for (double& v : y.data) {
    if (product_with_x) y.scale = std::max(y.scale, std::fabs(v));
    v = activation(e, v);
  }
  return y;
}

RefTensor binary(const Node& n, const Inputs& in) {
  const auto& p = std::get<BinaryParams>(n.params);
  RefTensor y{broadcast(in[0]->dims, in[1]->dims), {}};
  for_each_index(y.dims, [&](const std::vector<int64_t>& idx) {
    double a = in[0]->data[static_cast<size_t>(broadcast_offset(in[0]->dims, idx))];
    double b = in[1]->data[static_cast<size_t>(broadcast_offset(in[1]->dims, idx))];
    double v = 0;
    switch (p.kind) {
      case BinaryKind::kAdd:
        v = a + b;
        break;
      case BinaryKind::kSub:
        v = a - b;
        break;
      case BinaryKind::kMul:
        v = a * b;
        break;
      case BinaryKind::kDiv:
        v = a / b;
        break;
      case BinaryKind::kMax:
        v = std::max(a, b);
        break;
      case BinaryKind::kMin:
        v = std::min(a, b);
        break;
      case BinaryKind::kPow:
        v = std::pow(a, b);
        break;
      case BinaryKind::kEqual:
        v = a == b;
        break;
      case BinaryKind::kGreater:
        v = a > b;
        break;
      case BinaryKind::kGreaterOrEqual:
        v = a >= b;
        break;
      case BinaryKind::kLess:
        v = a < b;
        break;
      case BinaryKind::kLessOrEqual:
        v = a <= b;
        break;
    }
    y.data.push_back(v);
  });
  return y;
}

RefTensor transpose(const Node& n, const Inputs& in) {
  const auto& p = std::get<TransposeParams>(n.params);
  const RefTensor& x = *in[0];
  std::vector<int64_t> xs = strides(x.dims);
  RefTensor y;
  for (int64_t a : p.perm) y.dims.push_back(x.dims[static_cast<size_t>(a)]);
  for_each_index(y.dims, [&](const std::vector<int64_t>& idx) {
    int64_t off = 0;
    for (size_t i = 0; i < idx.size(); ++i) off += idx[i] * xs[static_cast<size_t>(p.perm[i])];
    y.data.push_back(x.data[static_cast<size_t>(off)]);
  });
  return y;
}

RefTensor concat(const Node& n, const Inputs& in) {
  const auto& p = std::get<ConcatParams>(n.params);
  size_t parts = in.size() - (p.fused_batchnorm ? 2 : 0);
  auto axis = static_cast<size_t>(p.axis);
  RefTensor y{in[0]->dims, {}};
  y.dims[axis] = 0;
  for (size_t i = 0; i < parts; ++i) y.dims[axis] += in[i]->dims[axis];
  for_each_index(y.dims, [&](const std::vector<int64_t>& idx) {
    std::vector<int64_t> at = idx;
    size_t part = 0;
    while (at[axis] >= in[part]->dims[axis]) at[axis] -= in[part++]->dims[axis];
    int64_t off = 0;
    std::vector<int64_t> s = strides(in[part]->dims);
    for (size_t k = 0; k < at.size(); ++k) off += at[k] * s[k];
    y.data.push_back(in[part]->data[static_cast<size_t>(off)]);
  });
  if (!p.fused_batchnorm) return y;
  const auto &scale = in[parts]->data, &shift = in[parts + 1]->data;
  return per_channel(y, p.fused_relu, [&](double x, size_t c) { return x * scale[c] + shift[c]; });
}

// Softmax, or with `log` LogSoftmax: x - max - log(sum(exp(x - max))).
RefTensor softmax(const Node& n, const Inputs& in, bool log = false) {
  const SoftmaxParams& p = log ? std::get<LogSoftmaxParams>(n.params) : std::get<SoftmaxParams>(n.params);
  RefTensor y = *in[0];
  const Dims& d = y.dims;
  auto axis = static_cast<size_t>(p.axis);
  // The softmax runs over `len` elements `stride` apart: dim `axis`, or with coerce_2d
  // the flattened dims [axis, rank).
  int64_t inner = 1;
  for (size_t i = axis + 1; i < d.size(); ++i) inner *= d[i];
  int64_t len = p.coerce_2d ? d[axis] * inner : d[axis], stride = p.coerce_2d ? 1 : inner;
  int64_t outer = count(d) / len;
  for (int64_t o = 0; o < outer; ++o) {
    int64_t base = p.coerce_2d ? o * len : (o / inner) * len * inner + o % inner;
    double top = -std::numeric_limits<double>::infinity(), sum = 0;
    for (int64_t i = 0; i < len; ++i) top = std::max(top, y.data[static_cast<size_t>(base + i * stride)]);
    for (int64_t i = 0; i < len; ++i) sum += std::exp(y.data[static_cast<size_t>(base + i * stride)] - top);
    for (int64_t i = 0; i < len; ++i) {
      double& v = y.data[static_cast<size_t>(base + i * stride)];
      v = log ? v - top - std::log(sum) : std::exp(v - top) / sum;
    }
  }
  return y;
}

// ArgMax/ArgMin as numpy computes them: a NaN wins, ties go to the first index (the last
// with select_last_index).
RefTensor arg_max_min(const Node& n, const Inputs& in) {
  const auto& p = std::get<ArgMaxMinParams>(n.params);
  const RefTensor& x = *in[0];
  auto axis = static_cast<size_t>(p.axis);
  int64_t inner = 1;
  for (size_t i = axis + 1; i < x.dims.size(); ++i) inner *= x.dims[i];
  const int64_t len = x.dims[axis], outer = count(x.dims) / (len * inner);
  RefTensor y{x.dims, {}};
  if (p.keepdims)
    y.dims[axis] = 1;
  else
    y.dims.erase(y.dims.begin() + p.axis);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      int64_t best = 0;
      for (int64_t k = 1; k < len; ++k) {
        double v = x.data[static_cast<size_t>((o * len + k) * inner + i)];
        double b = x.data[static_cast<size_t>((o * len + best) * inner + i)];
        bool better = std::isnan(v)             ? !std::isnan(b) || p.select_last_index
                      : std::isnan(b)           ? false
                      : p.kind == ArgKind::kMax ? (v > b || (p.select_last_index && v == b))
                                                : (v < b || (p.select_last_index && v == b));
        if (better) best = k;
      }
      y.data.push_back(static_cast<double>(best));
    }
  return y;
}

RefTensor lrn(const Node& n, const Inputs& in) {
  const auto& p = std::get<LrnParams>(n.params);
  const RefTensor& x = *in[0];
  const int64_t channels = x.dims[1];
  int64_t inner = 1;
  for (size_t i = 2; i < x.dims.size(); ++i) inner *= x.dims[i];
  RefTensor y = x;
  // ONNX: the sum of squares over channels [c - floor((size-1)/2), c + ceil((size-1)/2)].
  int64_t before = (p.size - 1) / 2, after = p.size - 1 - before;
  for (size_t e = 0; e < x.data.size(); ++e) {
    int64_t c = (static_cast<int64_t>(e) / inner) % channels;
    double sum = 0;
    for (int64_t k = std::max<int64_t>(c - before, 0); k <= std::min(c + after, channels - 1); ++k) {
      double v = x.data[static_cast<size_t>(static_cast<int64_t>(e) + (k - c) * inner)];
      sum += v * v;
    }
    y.data[e] = x.data[e] / std::pow(p.bias + p.alpha / static_cast<double>(p.size) * sum, p.beta);
  }
  return y;
}

RefTensor pad(const Node& n, const Inputs& in) {
  const auto& p = std::get<PadParams>(n.params);
  const RefTensor& x = *in[0];
  RefTensor y{x.dims, {}};
  for (size_t i = 0; i < y.dims.size(); ++i) y.dims[i] += p.pads_begin[i] + p.pads_end[i];
  std::vector<int64_t> xs = strides(x.dims);
  for_each_index(y.dims, [&](const std::vector<int64_t>& idx) {
    int64_t off = 0;
    for (size_t i = 0; i < idx.size(); ++i) {
      int64_t at = idx[i] - p.pads_begin[i], d = x.dims[i];
      if (p.mode == PadMode::kEdge) at = std::clamp<int64_t>(at, 0, d - 1);
      if (p.mode == PadMode::kReflect) at = at < 0 ? -at : at >= d ? 2 * d - 2 - at : at;
      if (at < 0 || at >= d) {
        y.data.push_back(p.value);
        return;
      }
      off += at * xs[i];
    }
    y.data.push_back(x.data[static_cast<size_t>(off)]);
  });
  return y;
}

RefTensor slice(const Node& n, const Inputs& in) {
  const auto& p = std::get<SliceParams>(n.params);
  const RefTensor& x = *in[0];
  RefTensor y{p.sizes, {}};
  std::vector<int64_t> xs = strides(x.dims);
  for_each_index(y.dims, [&](const std::vector<int64_t>& idx) {
    int64_t off = 0;
    for (size_t i = 0; i < idx.size(); ++i) off += (p.starts[i] + idx[i] * p.steps[i]) * xs[i];
    y.data.push_back(x.data.at(static_cast<size_t>(off)));
  });
  return y;
}

RefTensor gather(const Node& n, const Inputs& in) {
  const auto& p = std::get<GatherParams>(n.params);
  const RefTensor& x = *in[0];
  size_t ax = static_cast<size_t>(p.axis), q = p.indices_dims.size();
  Dims yd(x.dims.begin(), x.dims.begin() + p.axis);
  yd.insert(yd.end(), p.indices_dims.begin(), p.indices_dims.end());
  yd.insert(yd.end(), x.dims.begin() + p.axis + 1, x.dims.end());
  RefTensor y{yd, {}};
  std::vector<int64_t> xs = strides(x.dims), is = strides(p.indices_dims);
  for_each_index(yd, [&](const std::vector<int64_t>& idx) {
    int64_t j = 0;
    for (size_t k = 0; k < q; ++k) j += idx[ax + k] * is[k];
    int64_t off = 0;
    for (size_t k = 0; k < x.dims.size(); ++k)
      off += (k < ax ? idx[k] : k == ax ? p.indices[static_cast<size_t>(j)] : idx[k + q - 1]) * xs[k];
    y.data.push_back(x.data.at(static_cast<size_t>(off)));
  });
  return y;
}

RefTensor tile(const Node& n, const Inputs& in) {
  const auto& p = std::get<TileParams>(n.params);
  const RefTensor& x = *in[0];
  size_t lead = p.repeats.size() - x.dims.size();
  Dims xd(lead, 1);
  xd.insert(xd.end(), x.dims.begin(), x.dims.end());
  Dims yd(xd.size());
  for (size_t k = 0; k < yd.size(); ++k) yd[k] = xd[k] * p.repeats[k];
  RefTensor y{yd, {}};
  std::vector<int64_t> xs = strides(xd);
  for_each_index(yd, [&](const std::vector<int64_t>& idx) {
    int64_t off = 0;
    for (size_t k = 0; k < idx.size(); ++k) off += (idx[k] % xd[k]) * xs[k];
    y.data.push_back(x.data.at(static_cast<size_t>(off)));
  });
  return y;
}

// ONNX's reference resize (onnx/backend/test/case/node/resize.py), one dim: the original
// coordinate, then the n nearest indices of the edge-padded input and their coefficients.
// Returns false for tf_crop_and_resize outside the input (extrapolation).
bool resize_1d(const ResizeParams& p, size_t dim, int64_t o, int64_t in, int64_t out,
               std::vector<std::pair<int64_t, double>>& taps) {
  double s = p.scales[dim], x = static_cast<double>(o), w = static_cast<double>(in);
  double len = std::fabs(s * w - static_cast<double>(out)) <= 1e-5 * static_cast<double>(out)
                   ? static_cast<double>(out)
                   : s * w;  // the reference's output_width = scale * input (sizes: exactly out)
  if (len == static_cast<double>(out)) s = static_cast<double>(out) / w;  // sizes: the reference's float64 scale
  double xo = 0;
  switch (p.coordinates) {
    case ResizeCoordinates::kHalfPixel:
      xo = (x + 0.5) / s - 0.5;
      break;
    case ResizeCoordinates::kHalfPixelSymmetric: {
      double adj = static_cast<double>(out) / len, center = w / 2;
      xo = center * (1 - adj) + (x + 0.5) / s - 0.5;
      break;
    }
    case ResizeCoordinates::kPytorchHalfPixel:
      xo = len != 1 ? (x + 0.5) / s - 0.5 : 0;
      break;
    case ResizeCoordinates::kAlignCorners:
      xo = len == 1 ? 0 : x * (w - 1) / (len - 1);
      break;
    case ResizeCoordinates::kAsymmetric:
      xo = x / s;
      break;
    case ResizeCoordinates::kTfHalfPixelForNn:
      xo = (x + 0.5) / s;
      break;
    case ResizeCoordinates::kTfCropAndResize: {
      double a = p.roi[dim], b = p.roi[p.roi.size() / 2 + dim];
      xo = len == 1 ? (b - a) * (w - 1) / 2 : x * (b - a) * (w - 1) / (len - 1);
      xo += a * (w - 1);
      if (xo < 0 || xo > w - 1) return false;
      break;
    }
  }
  int64_t fl = static_cast<int64_t>(std::floor(xo));
  double ratio = xo == std::floor(xo) ? 1.0 : xo - static_cast<double>(fl);
  std::vector<double> c;
  if (p.mode == ResizeMode::kNearest) {
    if (ratio == 1.0) {
      c = {0, 1};
    } else {
      switch (p.nearest) {
        case ResizeNearest::kRoundPreferFloor:
          c = {ratio <= 0.5 ? 1.0 : 0.0, ratio > 0.5 ? 1.0 : 0.0};
          break;
        case ResizeNearest::kRoundPreferCeil:
          c = {ratio < 0.5 ? 1.0 : 0.0, ratio >= 0.5 ? 1.0 : 0.0};
          break;
        case ResizeNearest::kFloor:
          c = {1, 0};
          break;
        case ResizeNearest::kCeil:
          c = {0, 1};
          break;
        case ResizeNearest::kSimple:
          c = s < 1 ? std::vector<double>{0, 1} : std::vector<double>{1, 0};
          break;
      }
    }
  } else if (p.mode == ResizeMode::kLinear) {
    c = {1 - ratio, ratio};
  } else {
    double A = p.cubic_a, r = ratio;
    c = {((A * (r + 1) - 5 * A) * (r + 1) + 8 * A) * (r + 1) - 4 * A, ((A + 2) * r - (A + 3)) * r * r + 1,
         ((A + 2) * (1 - r) - (A + 3)) * (1 - r) * (1 - r) + 1,
         ((A * ((1 - r) + 1) - 5 * A) * ((1 - r) + 1) + 8 * A) * ((1 - r) + 1) - 4 * A};
  }
  // the n indices closest to xo (ties: the smaller), among the input padded by ceil(n/2) per side
  int64_t n = static_cast<int64_t>(c.size()), pad = (n + 1) / 2;
  std::vector<int64_t> cand;
  for (int64_t i = -pad; i < in + pad; ++i) cand.push_back(i);
  std::stable_sort(cand.begin(), cand.end(), [&](int64_t a, int64_t b) {
    double da = std::fabs(xo - static_cast<double>(a)), db = std::fabs(xo - static_cast<double>(b));
    return da < db || (da == db && a < b);
  });
  cand.resize(static_cast<size_t>(n));
  std::sort(cand.begin(), cand.end());
  if (p.exclude_outside) {
    double sum = 0;
    for (int64_t k = 0; k < n; ++k) {
      if (cand[static_cast<size_t>(k)] < 0 || cand[static_cast<size_t>(k)] >= in) c[static_cast<size_t>(k)] = 0;
      sum += c[static_cast<size_t>(k)];
    }
    for (double& v : c) v /= sum;
  }
  taps.clear();
  for (int64_t k = 0; k < n; ++k)
    taps.emplace_back(std::clamp<int64_t>(cand[static_cast<size_t>(k)], 0, in - 1), c[static_cast<size_t>(k)]);
  return true;
}

RefTensor resize(const Node& n, const Inputs& in) {
  const auto& p = std::get<ResizeParams>(n.params);
  const RefTensor& x = *in[0];
  RefTensor y{p.sizes, {}};
  std::vector<int64_t> xs = strides(x.dims);
  size_t r = x.dims.size();
  for_each_index(y.dims, [&](const std::vector<int64_t>& idx) {
    std::vector<std::vector<std::pair<int64_t, double>>> taps(r);
    for (size_t k = 0; k < r; ++k)
      if (!resize_1d(p, k, idx[k], x.dims[k], p.sizes[k], taps[k])) {
        y.data.push_back(p.extrapolation_value);
        return;
      }
    double acc = 0;
    std::vector<size_t> at(r, 0);  // one tap per dim, every combination
    while (true) {
      double w = 1;
      int64_t off = 0;
      for (size_t k = 0; k < r; ++k) {
        w *= taps[k][at[k]].second;
        off += taps[k][at[k]].first * xs[k];
      }
      acc += w * x.data.at(static_cast<size_t>(off));
      size_t k = r;
      while (k-- > 0) {
        if (++at[k] < taps[k].size()) break;
        at[k] = 0;
      }
      if (k == static_cast<size_t>(-1)) break;
    }
    y.data.push_back(acc);
  });
  return y;
}

// Each input element scatters into the output: y[oc, o] += x[ic, i] * w[ic, oc', k] at
// o = i * stride + k * dilation - pad_begin.
RefTensor conv_transpose(const Node& n, const Inputs& in) {
  const auto& p = std::get<ConvTransposeParams>(n.params);
  const RefTensor& x = *in[0];
  const RefTensor& w = *in[1];
  const RefTensor* bias = in.size() > 2 ? in[2] : nullptr;
  size_t sp = x.dims.size() - 2;
  int64_t images = x.dims[0], ic = x.dims[1], oc_g = w.dims[1], ic_g = ic / p.groups, oc = oc_g * p.groups;
  Dims yd{images, oc};
  for (size_t i = 0; i < sp; ++i)
    yd.push_back((x.dims[i + 2] - 1) * p.strides[i] + (p.kernel[i] - 1) * p.dilations[i] + 1 + p.output_padding[i] -
                 p.pads_begin[i] - p.pads_end[i]);
  RefTensor y{yd, std::vector<double>(static_cast<size_t>(count(yd)), 0.0)};
  std::vector<int64_t> ys = strides(yd), xs = strides(x.dims), ws = strides(w.dims);
  for (int64_t b = 0; b < images; ++b)
    for (int64_t o = 0; o < oc; ++o)
      for (int64_t e = 0; e < ys[1]; ++e)
        y.data[static_cast<size_t>(b * ys[0] + o * ys[1] + e)] = bias ? bias->data[static_cast<size_t>(o)] : 0.0;
  Dims xsp(x.dims.begin() + 2, x.dims.end());
  for (int64_t b = 0; b < images; ++b)
    for (int64_t c = 0; c < ic; ++c) {
      int64_t g = c / ic_g;
      for_each_index(xsp, [&](const std::vector<int64_t>& xi) {
        double xv = x.data[static_cast<size_t>(b * xs[0] + c * xs[1] + [&] {
          int64_t off = 0;
          for (size_t i = 0; i < sp; ++i) off += xi[i] * xs[i + 2];
          return off;
        }())];
        for_each_index(p.kernel, [&](const std::vector<int64_t>& ki) {
          int64_t yoff = 0, woff = 0;
          for (size_t i = 0; i < sp; ++i) {
            int64_t at = xi[i] * p.strides[i] + ki[i] * p.dilations[i] - p.pads_begin[i];
            if (at < 0 || at >= yd[i + 2]) return;
            yoff += at * ys[i + 2];
            woff += ki[i] * ws[i + 2];
          }
          for (int64_t j = 0; j < oc_g; ++j) {
            double wv = w.data[static_cast<size_t>(c * ws[0] + j * ws[1] + woff)];
            y.data[static_cast<size_t>(b * ys[0] + (g * oc_g + j) * ys[1] + yoff)] += xv * wv;
          }
        });
      });
    }
  for (double v : y.data) y.scale = std::max(y.scale, std::fabs(v));
  return y;
}

RefTensor where(const Inputs& in) {
  const RefTensor &c = *in[0], &x = *in[1], &y = *in[2];
  RefTensor out{broadcast(broadcast(c.dims, x.dims), y.dims), {}};
  for_each_index(out.dims, [&](const std::vector<int64_t>& idx) {
    bool pick_x = c.data[static_cast<size_t>(broadcast_offset(c.dims, idx))] != 0;
    const RefTensor& from = pick_x ? x : y;
    out.data.push_back(from.data[static_cast<size_t>(broadcast_offset(from.dims, idx))]);
  });
  return out;
}

RefTensor depth_to_space(const Node& n, const Inputs& in) {
  const auto& p = std::get<DepthToSpaceParams>(n.params);
  const RefTensor& x = *in[0];
  int64_t b = p.block, C = x.dims[1];
  Dims yd = p.space_to_depth ? Dims{x.dims[0], C * b * b, x.dims[2] / b, x.dims[3] / b}
                             : Dims{x.dims[0], C / (b * b), x.dims[2] * b, x.dims[3] * b};
  RefTensor y{yd, {}};
  std::vector<int64_t> xs = strides(x.dims);
  for_each_index(yd, [&](const std::vector<int64_t>& o) {
    int64_t n_ = o[0], c, h, w;
    if (p.space_to_depth) {  // y[n, (i*b + j)*C + c, h, w] = x[n, c, h*b + i, w*b + j]
      int64_t blk = o[1] / C, i = blk / b, j = blk % b;
      c = o[1] % C, h = o[2] * b + i, w = o[3] * b + j;
    } else {
      int64_t i = o[2] % b, j = o[3] % b, cy = yd[1];
      c = p.crd ? o[1] * b * b + i * b + j : (i * b + j) * cy + o[1];
      h = o[2] / b, w = o[3] / b;
    }
    y.data.push_back(x.data.at(static_cast<size_t>(n_ * xs[0] + c * xs[1] + h * xs[2] + w * xs[3])));
  });
  return y;
}

RefTensor reduce(const Node& n, const Inputs& in) {
  const auto& p = std::get<ReduceParams>(n.params);
  const RefTensor& x = *in[0];
  auto reduced = [&](size_t i) {
    return std::find(p.axes.begin(), p.axes.end(), static_cast<int64_t>(i)) != p.axes.end();
  };
  Dims kept = x.dims;
  for (int64_t a : p.axes) kept[static_cast<size_t>(a)] = 1;
  // Every output element's inputs, gathered by the kept-dims index.
  std::vector<std::vector<double>> groups(static_cast<size_t>(count(kept)));
  std::vector<int64_t> ks = strides(kept);
  size_t e = 0;
  for_each_index(x.dims, [&](const std::vector<int64_t>& idx) {
    int64_t off = 0;
    for (size_t i = 0; i < idx.size(); ++i)
      if (!reduced(i)) off += idx[i] * ks[i];
    groups[static_cast<size_t>(off)].push_back(x.data[e++]);
  });
  RefTensor y;
  for (size_t i = 0; i < x.dims.size(); ++i)
    if (!reduced(i) || p.keepdims) y.dims.push_back(kept[i]);
  for (const auto& g : groups) {
    double sum = 0, sq = 0, abs = 0, prod = 1, top = -std::numeric_limits<double>::infinity(),
           low = std::numeric_limits<double>::infinity();
    for (double v : g)
      sum += v, sq += v * v, abs += std::fabs(v), prod *= v, top = std::max(top, v), low = std::min(low, v);
    double lse = 0;
    for (double v : g) lse += std::exp(v - top);
    double r = 0;
    switch (p.kind) {
      case ReduceKind::kSum:
        r = sum;
        break;
      case ReduceKind::kMean:
        r = sum / static_cast<double>(g.size());
        break;
      case ReduceKind::kMax:
        r = top;
        break;
      case ReduceKind::kMin:
        r = low;
        break;
      case ReduceKind::kProd:
        r = prod;
        break;
      case ReduceKind::kL1:
        r = abs;
        break;
      case ReduceKind::kL2:
        r = std::sqrt(sq);
        break;
      case ReduceKind::kSumSquare:
        r = sq;
        break;
      case ReduceKind::kLogSum:
        r = std::log(sum);
        break;
      case ReduceKind::kLogSumExp:
        r = top + std::log(lse);
        break;
    }
    y.data.push_back(r);
  }
  return y;
}

// Per row of the dims before the axis: (x - mean) / sqrt(var + epsilon) * scale + bias,
// the variance the mean of squared deviations (ONNX LayerNormalization), in double.
RefTensor layer_norm(const Node& n, const Inputs& in) {
  const auto& p = std::get<LayerNormParams>(n.params);
  const RefTensor& x = *in[0];
  const RefTensor* scale = in.size() > 1 ? in[1] : nullptr;
  const RefTensor* bias = in.size() > 2 ? in[2] : nullptr;
  size_t d = 1;
  for (size_t i = static_cast<size_t>(p.axis); i < x.dims.size(); ++i) d *= static_cast<size_t>(x.dims[i]);
  RefTensor y = x;
  for (size_t row = 0; row < x.data.size() / d; ++row) {
    const double* v = x.data.data() + row * d;
    double mean = 0, var = 0;
    for (size_t i = 0; i < d; ++i) mean += v[i];
    mean /= static_cast<double>(d);
    for (size_t i = 0; i < d; ++i) var += (v[i] - mean) * (v[i] - mean);
    var /= static_cast<double>(d);
    for (size_t i = 0; i < d; ++i) {
      double r = (v[i] - mean) / std::sqrt(var + p.epsilon);
      if (scale) r *= scale->data[i];
      if (bias) r += bias->data[i];
      y.data[row * d + i] = r;
    }
  }
  return y;
}

RefTensor prelu(const Node&, const Inputs& in) {
  RefTensor y = *in[0];
  const RefTensor& slope = *in[1];
  size_t e = 0;
  for_each_index(y.dims, [&](const std::vector<int64_t>& idx) {
    double s = slope.data[static_cast<size_t>(broadcast_offset(slope.dims, idx))];
    double& v = y.data[e++];
    if (v < 0) v *= s;
  });
  return y;
}

double logistic(double v) {
  return 1.0 / (1.0 + std::exp(-v));
}

// One direction of ONNX RNN/GRU/LSTM, with the IR's gate order (LSTM i,f,c,o; GRU u,r,h)
// and summed biases; the output packs Y, Y_h[, Y_c] (common/graph.h, RecurrentParams).
RefTensor recurrent(const Node& n, const Inputs& in) {
  const auto& p = std::get<RecurrentParams>(n.params);
  const RefTensor& x = *in[0];
  const auto &w = in[1]->data, &r = in[2]->data, &bias = in[3]->data;
  const bool lstm = p.cell == RecurrentCell::kLstm, peephole = lstm && in.size() == 7;
  const int64_t steps = p.batch_first ? x.dims[1] : x.dims[0], batch = p.batch_first ? x.dims[0] : x.dims[1];
  const int64_t features = x.dims[2], hid = p.hidden_size, gates = recurrent_gates(p.cell);
  std::vector<double> h = in[4]->data, c = lstm ? in[5]->data : std::vector<double>{};
  const int64_t states = lstm ? 2 : 1;
  RefTensor y{{(steps + states) * batch * hid},
              std::vector<double>(static_cast<size_t>((steps + states) * batch * hid))};
  auto at = [](const std::vector<double>& v, int64_t i) { return v[static_cast<size_t>(i)]; };
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t t = p.reverse ? steps - 1 - s : s;
    std::vector<double> next_h(h.size()), next_c(c.size());
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t xrow = (p.batch_first ? b * steps + t : t * batch + b) * features;
      // Per gate row: W x, R h (kept apart: GRU's h gate treats them differently).
      std::vector<double> wx(static_cast<size_t>(gates * hid)), rh(wx.size());
      for (int64_t row = 0; row < gates * hid; ++row) {
        double a = 0, bsum = 0;
        for (int64_t i = 0; i < features; ++i) a += at(w, row * features + i) * at(x.data, xrow + i);
        for (int64_t j = 0; j < hid; ++j) bsum += at(r, row * hid + j) * at(h, b * hid + j);
        wx[static_cast<size_t>(row)] = a;
        rh[static_cast<size_t>(row)] = bsum;
        y.scale = std::max({y.scale, std::fabs(a), std::fabs(bsum)});
      }
      // GRU's reset gate of every unit: r * h reads all of them.
      std::vector<double> reset_gate(static_cast<size_t>(hid));
      if (gates == 3)
        for (int64_t j = 0; j < hid; ++j) {
          size_t row = static_cast<size_t>(hid + j);
          reset_gate[static_cast<size_t>(j)] = logistic(wx[row] + rh[row] + at(bias, hid + j));
        }
      for (int64_t o = 0; o < hid; ++o) {
        auto pre = [&](int64_t k) {
          size_t row = static_cast<size_t>(k * hid + o);
          return wx[row] + rh[row] + at(bias, k * hid + o);
        };
        const double hp = at(h, b * hid + o);
        double hn = 0;
        if (lstm) {
          const double cp = at(c, b * hid + o);
          auto peep = [&](int64_t k, double cell) { return peephole ? at(in[6]->data, k * hid + o) * cell : 0.0; };
          double ig = logistic(pre(0) + peep(0, cp)), fg = logistic(pre(1) + peep(1, cp)), cand = std::tanh(pre(2));
          double cn = fg * cp + ig * cand;
          double og = logistic(pre(3) + peep(2, cn));
          hn = og * std::tanh(cn);
          next_c[static_cast<size_t>(b * hid + o)] = cn;
        } else if (p.cell == RecurrentCell::kRnn) {
          double v = pre(0);
          hn = p.activation == RnnActivation::kTanh   ? std::tanh(v)
               : p.activation == RnnActivation::kRelu ? std::max(v, 0.0)
                                                      : logistic(v);
        } else {
          double u = logistic(pre(0)), reset = reset_gate[static_cast<size_t>(o)];
          double cand;
          if (p.cell == RecurrentCell::kGruLinearBeforeReset) {
            size_t row = static_cast<size_t>(2 * hid + o);
            cand = std::tanh(wx[row] + at(bias, 2 * hid + o) + reset * (rh[row] + at(bias, 3 * hid + o)));
          } else {
            double rs = 0;  // R_h (r * h)
            for (int64_t j = 0; j < hid; ++j)
              rs += at(r, (2 * hid + o) * hid + j) * reset_gate[static_cast<size_t>(j)] * at(h, b * hid + j);
            cand = std::tanh(wx[static_cast<size_t>(2 * hid + o)] + rs + at(bias, 2 * hid + o));
          }
          hn = u * hp + (1 - u) * cand;
        }
        next_h[static_cast<size_t>(b * hid + o)] = hn;
        const int64_t yat = (p.batch_first ? b * steps + t : t * batch + b) * hid + o;
        y.data[static_cast<size_t>(yat)] = hn;
      }
    }
    h = std::move(next_h);
    if (lstm) c = std::move(next_c);
  }
  const size_t last = static_cast<size_t>(steps * batch * hid);
  std::copy(h.begin(), h.end(), y.data.begin() + static_cast<std::ptrdiff_t>(last));
  if (lstm) std::copy(c.begin(), c.end(), y.data.begin() + static_cast<std::ptrdiff_t>(last + h.size()));
  return y;
}

RefTensor run_node(const Graph& g, const Node& n, const Inputs& in) {
  switch (n.op) {
    case OpKind::kConv:
      return conv(n, in);
    case OpKind::kGemm:
      return gemm(n, in);
    case OpKind::kMatMul:
      return matmul(n, in);
    case OpKind::kBatchNorm:
      return batchnorm(n, in);
    case OpKind::kEltwise:
      return eltwise(n, in);
    case OpKind::kBinary:
      return binary(n, in);
    case OpKind::kPool:
      return pool(n, in);
    case OpKind::kReshape:  // the output's declared dims define the op
      return {g.value(n.outputs[0]).dims, in[0]->data};
    case OpKind::kTranspose:
      return transpose(n, in);
    case OpKind::kConcat:
      return concat(n, in);
    case OpKind::kSoftmax:
      return softmax(n, in);
    case OpKind::kLrn:
      return lrn(n, in);
    case OpKind::kPad:
      return pad(n, in);
    case OpKind::kCast:  // integer values are exact in float32 here (the generator keeps them so)
      return *in[0];
    case OpKind::kSlice:
      return slice(n, in);
    case OpKind::kGather:
      return gather(n, in);
    case OpKind::kTile:
      return tile(n, in);
    case OpKind::kResize:
      return resize(n, in);
    case OpKind::kConvTranspose:
      return conv_transpose(n, in);
    case OpKind::kDepthToSpace:
      return depth_to_space(n, in);
    case OpKind::kWhere:
      return where(in);
    case OpKind::kReduce:
      return reduce(n, in);
    case OpKind::kPRelu:
      return prelu(n, in);
    case OpKind::kRecurrent:
      return recurrent(n, in);
    case OpKind::kLayerNorm:
      return layer_norm(n, in);
    case OpKind::kArgMaxMin:
      return arg_max_min(n, in);
    case OpKind::kLogSoftmax:
      return softmax(n, in, /*log=*/true);
  }
  throw std::runtime_error("reference: no reference for op " + std::string(op_name(n.op)));
}

// A constant's values; an int8 weight dequantized with its node's per-row scales.
RefTensor constant_values(const Graph& g, ValueId id) {
  const Value& v = g.value(id);
  RefTensor t{v.dims, {}};
  size_t elements = static_cast<size_t>(count(v.dims));
  if (v.dtype == DType::kF32) {
    std::vector<float> f(elements);
    std::memcpy(f.data(), v.data.data(), elements * sizeof(float));
    t.data.assign(f.begin(), f.end());
    return t;
  }
  if (v.dtype != DType::kS8) throw std::runtime_error("reference: constant '" + v.name + "' is neither f32 nor s8");
  for (const Node& n : g.nodes)
    if (const Int8Weights* q = int8_weights_of(n); q && n.inputs[1] == id) {
      size_t row = elements / static_cast<size_t>(v.dims[0]);
      for (size_t e = 0; e < elements; ++e)
        t.data.push_back(static_cast<float>(static_cast<int8_t>(v.data[e])) * q->weight_scales[e / row]);
      return t;
    }
  throw std::runtime_error("reference: int8 constant '" + v.name + "' has no int8 node");
}

}  // namespace

std::vector<RefTensor> reference_outputs(const Graph& g, const std::vector<std::vector<float>>& inputs) {
  std::vector<RefTensor> values(g.values.size());
  std::vector<bool> known(g.values.size(), false);
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    auto v = static_cast<size_t>(g.inputs[i]);
    values[v] = {g.values[v].dims, std::vector<double>(inputs[i].begin(), inputs[i].end())};
    known[v] = true;
  }
  for (size_t v = 0; v < g.values.size(); ++v)
    if (g.values[v].is_constant) {
      values[v] = constant_values(g, static_cast<ValueId>(v));
      known[v] = true;
    }
  for (const Node& n : g.nodes) {
    Inputs in;
    for (ValueId v : n.inputs) {
      if (v != kNoValue && !known[static_cast<size_t>(v)])
        throw std::runtime_error("reference: node '" + n.name + "' reads a value not yet computed");
      in.push_back(v == kNoValue ? nullptr : &values[static_cast<size_t>(v)]);
    }
    while (!in.empty() && !in.back()) in.pop_back();  // absent optional inputs at the end
    RefTensor y = run_node(g, n, in);
    for (const RefTensor* x : in)
      if (x) y.scale = std::max(y.scale, x->scale);  // rounding errors of the inputs carry through
    const Value& out = g.value(n.outputs[0]);
    if (y.dims != out.dims || y.data.size() != static_cast<size_t>(count(out.dims)))
      throw std::runtime_error("reference: node '" + n.name + "' gives " + dims_to_string(y.dims) +
                               ", the graph says " + dims_to_string(out.dims));
    values[static_cast<size_t>(n.outputs[0])] = std::move(y);
    known[static_cast<size_t>(n.outputs[0])] = true;
  }
  std::vector<RefTensor> out;
  for (ValueId v : g.outputs) out.push_back(values[static_cast<size_t>(v)]);
  return out;
}

}  // namespace teeinfer::op_harness
