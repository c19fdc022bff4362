// Add/Sub/Mul/Div/Max/Min/Pow and the comparisons (a 0/1 float32 mask) with numpy broadcasting. oneDNN binary needs
// src0 shaped like the output; when only src1 is (Add/Mul/Max/Min), the operands swap. Otherwise a plain C++ kernel
// runs (rare in CNNs: e.g. {C,1,1} - {N,C,H,W}); Pow always runs it (oneDNN 2.6's binary has no pow; a constant scalar
// exponent is the eltwise function Pow instead).
#include <cmath>

#include "common/error.h"
#include "enclave/op_lowering/op_lowering.h"

namespace teeinfer {

using dnnl::memory;

namespace {

dnnl::algorithm algorithm_of(BinaryKind k) {
  switch (k) {
    case BinaryKind::kAdd:
      return dnnl::algorithm::binary_add;
    case BinaryKind::kSub:
      return dnnl::algorithm::binary_sub;
    case BinaryKind::kMul:
      return dnnl::algorithm::binary_mul;
    case BinaryKind::kDiv:
      return dnnl::algorithm::binary_div;
    case BinaryKind::kMax:
      return dnnl::algorithm::binary_max;
    case BinaryKind::kMin:
      return dnnl::algorithm::binary_min;
    case BinaryKind::kEqual:
      return dnnl::algorithm::binary_eq;
    case BinaryKind::kGreater:
      return dnnl::algorithm::binary_gt;
    case BinaryKind::kGreaterOrEqual:
      return dnnl::algorithm::binary_ge;
    case BinaryKind::kLess:
      return dnnl::algorithm::binary_lt;
    case BinaryKind::kLessOrEqual:
      return dnnl::algorithm::binary_le;
    case BinaryKind::kPow:
      break;  // no oneDNN algorithm: the hand-written kernel
  }
  throw Error(ErrorCode::kUnsupported, "binary op " + std::to_string(static_cast<int>(k)) + " has no oneDNN algorithm");
}

}  // namespace

bool has_onednn_algorithm(BinaryKind k) {
  return k != BinaryKind::kPow;
}

dnnl::algorithm onednn_binary_algorithm(BinaryKind k) {
  return algorithm_of(k);
}

namespace {

float apply(BinaryKind kind, float u, float v) {
  switch (kind) {
    case BinaryKind::kAdd:
      return u + v;
    case BinaryKind::kSub:
      return u - v;
    case BinaryKind::kMul:
      return u * v;
    case BinaryKind::kDiv:
      return u / v;
    case BinaryKind::kMax:  // NaN propagates, as in ONNX (numpy.maximum)
      return std::isnan(u) || std::isnan(v) ? NAN : std::max(u, v);
    case BinaryKind::kMin:
      return std::isnan(u) || std::isnan(v) ? NAN : std::min(u, v);
    case BinaryKind::kPow:
      return std::pow(u, v);
    case BinaryKind::kEqual:
      return u == v ? 1.f : 0.f;
    case BinaryKind::kGreater:
      return u > v ? 1.f : 0.f;
    case BinaryKind::kGreaterOrEqual:
      return u >= v ? 1.f : 0.f;
    case BinaryKind::kLess:
      return u < v ? 1.f : 0.f;
    case BinaryKind::kLessOrEqual:
      return u <= v ? 1.f : 0.f;
  }
  return NAN;
}

Dims pad_front(Dims d, size_t rank) {
  d.insert(d.begin(), rank - d.size(), 1);
  return d;
}

// Element strides of a plain tensor broadcast to `out` (0 along broadcast dims).
std::vector<int64_t> broadcast_strides(const Dims& d, const Dims& out) {
  Dims p = pad_front(d, out.size());
  std::vector<int64_t> s(out.size(), 0);
  int64_t stride = 1;
  for (size_t i = out.size(); i-- > 0;) {
    s[i] = p[i] == 1 ? 0 : stride;
    stride *= p[i];
  }
  return s;
}

// Hand-written because oneDNN binary cannot broadcast its first operand.
CustomKernel broadcast_kernel(BinaryKind kind, const Dims& a, const Dims& b, const Dims& y) {
  auto sa = broadcast_strides(a, y), sb = broadcast_strides(b, y);
  int64_t total = element_count(y, "binary");
  return [=](const std::vector<void*>& p) {
    const float* x0 = static_cast<const float*>(p[0]);
    const float* x1 = static_cast<const float*>(p[1]);
    float* out = static_cast<float*>(p[2]);
    std::vector<int64_t> idx(y.size(), 0);
    int64_t ia = 0, ib = 0;
    for (int64_t o = 0; o < total; ++o) {
      out[o] = apply(kind, x0[ia], x1[ib]);
      for (size_t k = y.size(); k-- > 0;) {  // odometer increment, keeping offsets in step
        ia += sa[k];
        ib += sb[k];
        if (++idx[k] < y[k]) break;
        ia -= sa[k] * y[k];
        ib -= sb[k] * y[k];
        idx[k] = 0;
      }
    }
  };
}

}  // namespace

void lower_binary(LoweringContext& l, const Node& n) {
  const auto& p = std::get<BinaryParams>(n.params);
  const Graph& g = l.graph();
  ValueId a = n.inputs[0], b = n.inputs[1];
  const Dims& y = g.value(n.outputs[0]).dims;
  bool commutative = p.kind == BinaryKind::kAdd || p.kind == BinaryKind::kMul || p.kind == BinaryKind::kMax ||
                     p.kind == BinaryKind::kMin;
  if (g.value(a).dims != y && g.value(b).dims == y && commutative) std::swap(a, b);
  if (g.value(a).dims != y || !has_onednn_algorithm(p.kind)) {
    Slot sa = l.input(a, Layout::kPlain), sb = l.input(b, Layout::kPlain);
    Slot out = l.output(n.outputs[0], layout_md(y, Layout::kPlain));
    l.add_custom(n.name, "broadcast_binary", broadcast_kernel(p.kind, g.value(a).dims, g.value(b).dims, y),
                 {sa, sb, out});
    return;
  }
  Slot s0 = l.input_as_is(a);
  Slot s1;
  if (g.value(b).dims.size() == y.size()) {
    s1 = l.input_as_is(b);
  } else {
    Slot plain = l.input(b, Layout::kPlain);
    s1 = Slot{plain.buffer, layout_md(pad_front(g.value(b).dims, y.size()), Layout::kPlain)};
  }
  dnnl::binary::desc d(algorithm_of(p.kind), s0.md, s1.md, s0.md);
  dnnl::binary::primitive_desc pd(d, attr_with({}), l.engine());
  Slot dst = l.output(n.outputs[0], pd.dst_desc());
  l.add_primitive(n.name, dnnl::binary(pd), pd, {{DNNL_ARG_SRC_0, s0}, {DNNL_ARG_SRC_1, s1}, {DNNL_ARG_DST, dst}});
}

}  // namespace teeinfer
