#include "op_harness/generators.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "common/shape_inference.h"
#include "op_harness/op_kinds.h"

namespace teeinfer::op_harness {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
// The smallest stream window the budget planner tries (budget_planner.cpp): weights of
// several such windows stream in output-channel tiles or row windows.
constexpr int64_t kWindowBytes = 64 << 10;
// Elements of a constant whose streaming saves memory: well above the arena's alignment and
// a sealed model's chunk window.
constexpr int64_t kLargeConstant = 4096;

Dims random_dims(std::mt19937& rng, size_t rank, int64_t hi) {
  Dims d(rank);
  for (int64_t& x : d) x = pick(rng, 1, hi);
  return d;
}

// Functions picked for random fused chains: oneDNN computes them (a post-op), over inputs of
// either sign, continuously and well-conditioned (not Floor/Ceil/Round: a rounding
// difference in the conv flips a step; not Reciprocal or Pow near 0; not Exp: exp(x)'s
// relative error is x's absolute one, and a large conv's outputs reach 40).
bool suits_random_chains(EltwiseKind kind) {
  switch (kind) {
    case EltwiseKind::kExp:
    case EltwiseKind::kReciprocal:
    case EltwiseKind::kPow:
    case EltwiseKind::kFloor:
    case EltwiseKind::kCeil:
    case EltwiseKind::kRound:
      return false;
    default:
      return eltwise_fusible(kind) && defined_for_negative_inputs(kind);
  }
}

// Activations fused into a Conv/Gemm/MatMul: 0-2 of any kinds, repeats included (oneDNN
// 2.6 computes a repeated algorithm with the first's parameters; the lowering splits such
// chains, see split_post_ops in enclave/lowering/post_ops.h).
PostOps random_post_ops(std::mt19937& rng) {
  PostOps ops;
  for (int64_t i = pick(rng, 0, 2); i > 0; --i) {
    EltwiseKind kind;
    do {
      kind = kEltwiseKinds[static_cast<size_t>(pick(rng, 0, kEltwiseKinds.size() - 1))];
    } while (!suits_random_chains(kind));
    ops.push_back(random_eltwise(rng, kind));
  }
  return ops;
}

// ---- Conv ------------------------------------------------------------------------------

// One spatial dim of a window: kernel, stride, dilation, pads, and an input size whose
// output has at least `min_out` elements.
struct WindowDim {
  int64_t kernel, stride, dilation, pad_begin, pad_end, in;
};

WindowDim random_window_dim(std::mt19937& rng, int64_t kernel, bool no_padding_only, int64_t min_out,
                            int64_t max_extra) {
  WindowDim w{kernel, pick(rng, 1, 3), pick(rng, 1, 2), pick(rng, 0, 2), pick(rng, 0, 2), 0};
  int64_t extent = (w.kernel - 1) * w.dilation;
  if (no_padding_only) {
    w.pad_begin = std::min(w.pad_begin, extent);
    w.pad_end = std::min(w.pad_end, extent);
  }
  int64_t least = std::max<int64_t>(extent + 1 - w.pad_begin - w.pad_end, 1);
  w.in = pick(rng, least, least + max_extra);
  while (window_output_size(w.in, w.kernel, w.stride, w.dilation, w.pad_begin, w.pad_end) < min_out) ++w.in;
  return w;
}

OpCase conv_case(const CaseNeeds& needs, std::mt19937& rng) {
  GraphBuilder b(rng);
  const size_t spatial =
      needs.four_d ? 2 : static_cast<size_t>(pick(rng, 1, needs.large_weights ? 2 : needs.max_spatial));
  const int64_t images = needs.single_image ? 1 : pick(rng, 1, 2);
  int64_t groups = 1, channels, out_channels;
  Dims kernel(spatial);
  if (needs.large_weights) {
    // Filters of 2-4 KiB, and at least six 64 KiB windows of them: tiles of 16-32
    // output channels, so the planner must stream the weight in tiles to save memory.
    for (int64_t& k : kernel) k = spatial == 1 ? pick(rng, 1, 3) * 3 : std::vector<int64_t>{1, 3}[pick(rng, 0, 1)];
    int64_t taps = std::accumulate(kernel.begin(), kernel.end(), int64_t{1}, std::multiplies<>());
    channels = (pick(rng, 512, 1024) + taps - 1) / taps;
    int64_t tile = std::max<int64_t>(kWindowBytes / (channels * taps * 4) / 16, 1) * 16;
    out_channels = pick(rng, 6 * tile, 8 * tile);  // two windows of tiles when prefetching
  } else {
    for (int64_t& k : kernel) k = needs.winograd ? 3 : pick(rng, 1, spatial == 3 ? 2 : 3);
    if (needs.winograd)  // oneDNN's Winograd kernels take whole blocks of 16 channels
      channels = 16 * pick(rng, 1, 2), out_channels = 16 * pick(rng, 1, 3);
    else
      switch (pick(rng, 0, needs.large_constant ? 2 : 3)) {  // a large depthwise weight has thousands of groups
        case 0:
        case 1:
          channels = pick(rng, 1, 6), out_channels = pick(rng, 1, 8);
          break;
        case 2:
          groups = pick(rng, 2, 3), channels = groups * pick(rng, 1, 3), out_channels = groups * pick(rng, 1, 3);
          break;
        default:  // depthwise, with a channel multiplier
          channels = groups = pick(rng, 2, 8), out_channels = channels * pick(rng, 1, 2);
          break;
      }
    // A weight of >= 16 KiB: more channels, the same groups.
    int64_t taps = std::accumulate(kernel.begin(), kernel.end(), int64_t{1}, std::multiplies<>());
    while (needs.large_constant && out_channels * (channels / groups) * taps < kLargeConstant)
      channels *= 2, out_channels *= 2;
  }
  ConvParams p;
  p.groups = groups;
  Dims x{images, channels}, y{images, out_channels};
  for (size_t i = 0; i < spatial; ++i) {
    int64_t max_extra = needs.large_weights || needs.large_constant ? 4 : spatial == 3 ? 3 : 8;
    WindowDim w = random_window_dim(rng, kernel[i], needs.no_padding_only, needs.two_rows && i == 0 ? 2 : 1, max_extra);
    if (needs.large_weights) w.stride = 1;
    if (needs.winograd) {  // its kernels: stride 1, no dilation, at most one row or column of padding
      w.stride = w.dilation = 1;
      w.pad_begin = std::min<int64_t>(w.pad_begin, 1);
      w.pad_end = std::min<int64_t>(w.pad_end, 1);
    }
    if (needs.two_rows && i == 0) w.in = std::max<int64_t>(w.in, 2);  // a chain's producer has 2 rows too
    while (window_output_size(w.in, w.kernel, w.stride, w.dilation, w.pad_begin, w.pad_end) < 1) ++w.in;
    p.kernel.push_back(w.kernel);
    p.strides.push_back(w.stride);
    p.dilations.push_back(w.dilation);
    p.pads_begin.push_back(w.pad_begin);
    p.pads_end.push_back(w.pad_end);
    x.push_back(w.in);
    y.push_back(window_output_size(w.in, w.kernel, w.stride, w.dilation, w.pad_begin, w.pad_end));
  }
  p.post_ops = random_post_ops(rng);
  p.fused_sum = !needs.no_residual && chance(rng, 0.3);
  ValueId xin = needs.nonnegative_input ? b.input("x", x, 0.f, 1.f) : b.input("x", x);
  Dims w_dims{out_channels, channels / groups};
  w_dims.insert(w_dims.end(), kernel.begin(), kernel.end());
  std::vector<ValueId> inputs{xin, b.constant("w", w_dims)};
  bool bias = chance(rng, 0.6);
  inputs.push_back(bias ? b.constant("b", {out_channels}) : kNoValue);
  if (p.fused_sum) inputs.push_back(b.input("residual", y));
  if (!bias && !p.fused_sum) inputs.pop_back();
  b.output(b.node(OpKind::kConv, "Conv", p, inputs));
  return b.take();
}

// ---- Gemm, MatMul ----------------------------------------------------------------------

OpCase gemm_case(const CaseNeeds& needs, std::mt19937& rng) {
  GraphBuilder b(rng);
  GemmParams p;
  int64_t m, k, n;
  if (needs.large_weights) {
    // B {N, K} (transB) of four to six 64 KiB row windows.
    m = pick(rng, 1, 4), k = pick(rng, 128, 256);
    int64_t rows = kWindowBytes / (k * 4);
    n = pick(rng, 4 * rows, 6 * rows);
    p.trans_b = true;
  } else if (needs.large_constant) {  // B of >= 16 KiB
    m = pick(rng, 1, 8), k = pick(rng, 64, 128), n = pick(rng, 64, 96);
    p.trans_b = chance(rng, 0.5);
  } else {
    m = pick(rng, 1, 8), k = pick(rng, 1, 48), n = pick(rng, 1, 48);
    p.trans_b = needs.int8 || chance(rng, 0.5);
  }
  p.trans_a = chance(rng, 0.5);
  p.alpha = chance(rng, 0.5) ? 1.f : uniform(rng, 0.25f, 2.f);
  double beta_kind = uniform(rng, 0.f, 1.f);
  p.beta = beta_kind < 0.4 ? 1.f : beta_kind < 0.6 ? 0.f : uniform(rng, 0.25f, 2.f) * (chance(rng, 0.5) ? 1 : -1);
  Dims a_dims = p.trans_a ? Dims{k, m} : Dims{m, k}, b_dims = p.trans_b ? Dims{n, k} : Dims{k, n};
  ValueId a = needs.nonnegative_input ? b.input("a", a_dims, 0.f, 1.f) : b.input("a", a_dims);
  bool b_constant = needs.int8 || needs.large_weights || needs.large_constant || chance(rng, 0.85);
  ValueId bv = b_constant ? b.constant("b", b_dims) : b.input("b", b_dims);
  std::vector<ValueId> inputs{a, bv};
  // C: absent, a graph input, a constant, or a constant prescaled by the packer (the
  // kernel adds it as a bias); broadcast from any shape numpy allows.
  enum { kNone, kInput, kConstant, kPrescaled } c = static_cast<decltype(kNone)>(pick(rng, 0, 3));
  bool bias_only = needs.int8 || needs.large_weights;  // what int8 and row windows take: none or prescaled
  if (bias_only && (c == kInput || c == kConstant)) c = p.beta == 0.f ? c : kPrescaled;
  if (c == kPrescaled && p.beta == 0.f) p.beta = 1.f;  // the packer prescales only a used C
  if (c != kNone) {
    std::vector<Dims> shapes{{n}, {1, n}, {}, {1}, {m, 1}, {m, n}};
    Dims c_dims = shapes[static_cast<size_t>(pick(rng, 0, static_cast<int64_t>(shapes.size()) - 1))];
    inputs.push_back(c == kInput ? b.input("c", c_dims) : b.constant("c", c_dims));
    p.c_prescaled = c == kPrescaled;
  }
  p.post_ops = random_post_ops(rng);
  b.output(b.node(OpKind::kGemm, "Gemm", p, inputs));
  return b.take();
}

OpCase matmul_case(const CaseNeeds& needs, std::mt19937& rng) {
  GraphBuilder b(rng);
  size_t rank_a = static_cast<size_t>(pick(rng, 1, 4)), rank_b = static_cast<size_t>(pick(rng, 1, 4));
  int64_t m = pick(rng, 1, 12), k = pick(rng, 1, 24), n = pick(rng, 1, 12);
  if (needs.large_constant) {  // B {K, N} of >= 16 KiB, in many rows (sealed chunks)
    rank_b = 2;
    k = pick(rng, 64, 128), n = pick(rng, 64, 96);
  }
  Dims batch = random_dims(rng, std::max(rank_a, rank_b) > 2 ? std::max(rank_a, rank_b) - 2 : 0, 3);
  // An operand's batch dims: the trailing ones of `batch`, some broadcast (1).
  auto batch_of = [&](size_t rank) {
    Dims d(batch.end() - static_cast<std::ptrdiff_t>(rank), batch.end());
    for (int64_t& x : d)
      if (chance(rng, 0.3)) x = 1;
    return d;
  };
  Dims a = rank_a == 1 ? Dims{k} : batch_of(rank_a - 2), bd = rank_b == 1 ? Dims{k} : batch_of(rank_b - 2);
  if (rank_a > 1) a.insert(a.end(), {m, k});
  if (rank_b > 1) bd.insert(bd.end(), {k, n});
  MatMulParams p;
  p.post_ops = random_post_ops(rng);
  ValueId av = b.input("a", a);
  ValueId bv = needs.large_constant || chance(rng, 0.6) ? b.constant("b", bd) : b.input("b", bd);
  b.output(b.node(OpKind::kMatMul, "MatMul", p, {av, bv}));
  return b.take();
}

// ---- Per-channel and element-wise ops ---------------------------------------------------

// Dims of rank [lo, hi] with about `elements` elements at most, channel (dim 1) up to `channels`.
Dims activation_dims(std::mt19937& rng, size_t lo, size_t hi, int64_t channels = 6) {
  Dims d = random_dims(rng, static_cast<size_t>(pick(rng, static_cast<int64_t>(lo), static_cast<int64_t>(hi))), 5);
  if (d.size() > 1) d[1] = pick(rng, 1, channels);
  if (d.size() > 4) d[0] = pick(rng, 1, 2);
  return d;
}

OpCase batchnorm_case(const CaseNeeds& needs, std::mt19937& rng) {
  GraphBuilder b(rng);
  Dims x = activation_dims(rng, 2, needs.large_constant ? 3 : 5, 16);
  if (needs.large_constant) x[1] = pick(rng, kLargeConstant, 2 * kLargeConstant);  // per-channel vectors of >= 16 KiB
  int64_t c = x[1];
  BatchNormParams p;
  p.epsilon = std::vector<float>{1e-5f, 1e-3f, uniform(rng, 1e-5f, 0.1f)}[static_cast<size_t>(pick(rng, 0, 2))];
  p.fused_relu = chance(rng, 0.5);
  ValueId xv = b.input("x", x, -2.f, 2.f);
  ValueId scale = b.constant("scale", {c}, 0.5f, 1.5f), bias = b.constant("bias", {c}), mean = b.constant("mean", {c}),
          var = b.constant("var", {c}, 0.1f, 2.f);
  b.output(b.node(OpKind::kBatchNorm, "BatchNormalization", p, {xv, scale, bias, mean, var}));
  return b.take();
}

OpCase eltwise_case(EltwiseKind kind, const CaseNeeds& needs, std::mt19937& rng) {
  GraphBuilder b(rng);
  // Past HardSwish's and HardSigmoid's knees; within the function's domain.
  const float lo = defined_for_negative_inputs(kind) ? -4.f : kind == EltwiseKind::kSqrt ? 0.f : 0.25f;
  Dims dims = activation_dims(rng, needs.four_d ? 4 : 1, needs.four_d ? 4 : 5);
  if (needs.two_rows && dims.size() == 4) dims[2] = std::max<int64_t>(dims[2], 2);
  std::vector<float> data(static_cast<size_t>(element_count(dims, "x")));
  for (float& v : data) {
    v = uniform(rng, lo, 4.f);
    if (kind == EltwiseKind::kReciprocal) v = (v < 0 ? -0.25f : 0.25f) + v;  // away from 0: +-[0.25, 4.25)
  }
  ValueId x = b.input("x", dims, data);
  EltwiseParams p = random_eltwise(rng, kind);
  b.output(b.node(OpKind::kEltwise, eltwise_name(kind), p, {x}));
  return b.take();
}

OpCase binary_case(BinaryKind kind, const CaseNeeds& needs, std::mt19937& rng) {
  GraphBuilder b(rng);
  // Two operands broadcasting to `out`: each keeps a random number of its trailing dims,
  // some of them 1; sometimes one is a scalar. A large constant operand has all of `out`.
  // In bands (spills): two activations of the output's dims.
  Dims out = needs.large_constant ? Dims{pick(rng, 16, 32), pick(rng, 16, 24), pick(rng, 16, 24)}
             : needs.four_d       ? Dims{pick(rng, 1, 2), pick(rng, 1, 6), pick(rng, 2, 9), pick(rng, 1, 9)}
                                  : random_dims(rng, static_cast<size_t>(pick(rng, 1, 5)), 4);
  int constant = needs.large_constant || (!needs.four_d && chance(rng, 0.3)) ? static_cast<int>(pick(rng, 0, 1)) : -1;
  auto operand = [&](int index) {
    if ((needs.large_constant && index == constant) || needs.four_d) return out;
    if (chance(rng, 0.1)) return Dims{};
    Dims d(out.end() - pick(rng, 1, static_cast<int64_t>(out.size())), out.end());
    for (int64_t& x : d)
      if (chance(rng, 0.3)) x = 1;
    return d;
  };
  Dims a = operand(0), bd = operand(1);
  // Divisors away from zero: +-[0.5, 2).
  std::vector<float> divisor(static_cast<size_t>(element_count(bd, "b")));
  for (float& v : divisor) v = uniform(rng, 0.5f, 2.f) * (chance(rng, 0.5) ? 1.f : -1.f);
  // Pow: positive bases (a negative one has a real power only for whole exponents).
  const float a_lo = kind == BinaryKind::kPow ? 0.25f : -1.f, a_hi = kind == BinaryKind::kPow ? 2.f : 1.f;
  ValueId av = constant == 0 ? b.constant("a", a, a_lo, a_hi) : b.input("a", a, a_lo, a_hi);
  ValueId bv;
  if (kind == BinaryKind::kDiv)
    bv = constant == 1 ? b.constant("b", bd, divisor) : b.input("b", bd, divisor);
  else
    bv = constant == 1
             ? b.constant("b", bd, kind == BinaryKind::kPow ? -2.f : -1.f, kind == BinaryKind::kPow ? 3.f : 1.f)
             : b.input("b", bd, kind == BinaryKind::kPow ? -2.f : -1.f, kind == BinaryKind::kPow ? 3.f : 1.f);
  b.output(b.node(OpKind::kBinary, binary_kind_name(kind), BinaryParams{kind}, {av, bv}));
  return b.take();
}

// ---- Pool ------------------------------------------------------------------------------

OpCase pool_case(PoolKind kind, const CaseNeeds& needs, std::mt19937& rng) {
  GraphBuilder b(rng);
  const size_t spatial = needs.four_d ? 2 : static_cast<size_t>(pick(rng, 1, needs.max_spatial));
  Dims x{needs.single_image ? 1 : pick(rng, 1, 2), pick(rng, 1, 6)};
  PoolParams p;
  p.kind = kind;
  p.count_include_pad = kind == PoolKind::kAverage && chance(rng, 0.5);
  bool global = !needs.two_rows && chance(rng, 0.1);
  bool ceil_mode = !global && chance(rng, 0.4);
  for (size_t i = 0; i < spatial; ++i) {
    // Pads never wider than the window's extent: no window sees only padding.
    WindowDim w = random_window_dim(rng, pick(rng, 1, 3), true, needs.two_rows && i == 0 ? 2 : 1, spatial == 3 ? 3 : 7);
    if (global) w = {w.in, 1, 1, 0, 0, w.in};
    // An input at least as long as the dilation: no window straddles it and sees only padding
    // (oneDNN 2.6 refuses a whole average pool with fewer rows, see op-harness.md; a band of
    // one may have fewer).
    w.in = std::max(w.in, w.dilation);
    if (needs.two_rows && i == 0) w.in = std::max<int64_t>(w.in, 2);  // a chain's producer has 2 rows too
    while (window_output_size(w.in, w.kernel, w.stride, w.dilation, w.pad_begin, w.pad_end) < (needs.two_rows ? 2 : 1))
      ++w.in;
    p.kernel.push_back(w.kernel);
    p.strides.push_back(w.stride);
    p.dilations.push_back(w.dilation);
    p.pads_begin.push_back(w.pad_begin);
    p.pads_end.push_back(w.pad_end);
    x.push_back(w.in);
  }
  p.declared_pads_end = p.pads_end;
  if (ceil_mode) {
    // As the importer does: grow the end padding so floor division gives the ceil-mode
    // size, with the last window starting inside the input or the left padding.
    for (size_t i = 0; i < spatial; ++i) {
      int64_t span = (p.kernel[i] - 1) * p.dilations[i] + 1, in = x[i + 2];
      int64_t padded = in + p.pads_begin[i] + p.pads_end[i];
      int64_t out = (padded - span + p.strides[i] - 1) / p.strides[i] + 1;
      if ((out - 1) * p.strides[i] >= in + p.pads_begin[i]) --out;
      p.pads_end[i] = std::max<int64_t>(p.pads_end[i], (out - 1) * p.strides[i] + span - in - p.pads_begin[i]);
    }
    // The engine rejects ceil_mode's extra padding with count_include_pad (see op-harness.md).
    if (p.count_include_pad) p.pads_end = p.declared_pads_end;
  }
  ValueId xv = b.input("x", x);
  b.output(b.node(OpKind::kPool, kind == PoolKind::kMax ? "MaxPool" : "AveragePool", p, {xv}));
  return b.take();
}

// ---- Shape ops ---------------------------------------------------------------------------

OpCase reshape_case(std::mt19937& rng) {
  GraphBuilder b(rng);
  Dims x = random_dims(rng, static_cast<size_t>(pick(rng, 1, 5)), 4);
  // The same elements in a random rank: x's dims factored and dealt out.
  std::vector<int64_t> factors;
  for (int64_t d : x)
    for (int64_t f = 2; d > 1; ++f)
      while (d % f == 0) {
        factors.push_back(f);
        d /= f;
      }
  Dims y(static_cast<size_t>(pick(rng, 1, 5)), 1);
  for (int64_t f : factors) y[static_cast<size_t>(pick(rng, 0, static_cast<int64_t>(y.size()) - 1))] *= f;
  ValueId xv = b.input("x", x);
  b.output(b.node(OpKind::kReshape, "Reshape", ReshapeParams{}, {xv}, y));
  return b.take();
}

OpCase transpose_case(std::mt19937& rng) {
  GraphBuilder b(rng);
  Dims x = random_dims(rng, static_cast<size_t>(pick(rng, 1, 5)), 4);
  TransposeParams p;
  p.perm.resize(x.size());
  std::iota(p.perm.begin(), p.perm.end(), 0);
  std::shuffle(p.perm.begin(), p.perm.end(), rng);
  ValueId xv = b.input("x", x);
  b.output(b.node(OpKind::kTranspose, "Transpose", p, {xv}));
  return b.take();
}

OpCase concat_case(const CaseNeeds& needs, std::mt19937& rng) {
  GraphBuilder b(rng);
  Dims base = needs.large_constant ? Dims{pick(rng, 8, 16), pick(rng, 8, 16), pick(rng, 8, 16)}
              : needs.four_d       ? Dims{pick(rng, 1, 2), 1, pick(rng, 2, 9), pick(rng, 1, 9)}
                                   : random_dims(rng, static_cast<size_t>(pick(rng, 1, 5)), 4);
  ConcatParams p;
  // In bands (spills): channels of activations, no fused BatchNorm, no constant part.
  p.axis = needs.four_d ? 1 : pick(rng, 0, static_cast<int64_t>(base.size()) - 1);
  p.fused_batchnorm = !needs.four_d && base.size() >= 2 && p.axis == 1 && chance(rng, 0.3);
  p.fused_relu = p.fused_batchnorm && chance(rng, 0.5);
  int64_t parts = pick(rng, 1, 4), total = 0;
  // Sometimes one part is a constant (always a large one when the strategy needs it); at
  // least one part stays a graph input.
  int64_t constant_part = -1;
  if (needs.large_constant || (!needs.four_d && chance(rng, 0.2))) {
    parts = std::max<int64_t>(parts, 2);
    constant_part = pick(rng, 0, parts - 1);
  }
  std::vector<ValueId> inputs;
  for (int64_t i = 0; i < parts; ++i) {
    Dims d = base;
    int64_t& along = d[static_cast<size_t>(p.axis)];
    along = pick(rng, 1, 4);
    while (needs.large_constant && i == constant_part && element_count(d, "part") < kLargeConstant) along *= 2;
    total += along;
    std::string name = std::string("x").append(std::to_string(i));
    inputs.push_back(i == constant_part ? b.constant(name, d) : b.input(name, d));
  }
  if (p.fused_batchnorm) {
    inputs.push_back(b.constant("scale", {total}, 0.5f, 1.5f));
    inputs.push_back(b.constant("shift", {total}));
  }
  b.output(b.node(OpKind::kConcat, "Concat", p, inputs));
  return b.take();
}

OpCase softmax_case(std::mt19937& rng) {
  GraphBuilder b(rng);
  Dims x = random_dims(rng, static_cast<size_t>(pick(rng, 1, 5)), 6);
  SoftmaxParams p;
  p.axis = pick(rng, 0, static_cast<int64_t>(x.size()) - 1);
  p.coerce_2d = chance(rng, 0.5);
  ValueId xv = b.input("x", x, -3.f, 3.f);
  b.output(b.node(OpKind::kSoftmax, "Softmax", p, {xv}));
  return b.take();
}

OpCase log_softmax_case(std::mt19937& rng) {
  GraphBuilder b(rng);
  Dims x = random_dims(rng, static_cast<size_t>(pick(rng, 1, 5)), 6);
  LogSoftmaxParams p;
  p.axis = pick(rng, 0, static_cast<int64_t>(x.size()) - 1);
  p.coerce_2d = chance(rng, 0.5);
  ValueId xv = b.input("x", x, -3.f, 3.f);
  b.output(b.node(OpKind::kLogSoftmax, "LogSoftmax", p, {xv}));
  return b.take();
}

// ArgMax/ArgMin over values drawn from a few levels, so that ties (first or last index)
// happen. NaNs only in 1-D and 2-D cases: the resident strategy may feed a 3-D to 5-D input
// through an identity MaxPool (to make it channels-last, which the kernel reads in place),
// and what a max pool makes of a NaN is not this op's to test.
OpCase arg_max_min_case(std::mt19937& rng) {
  GraphBuilder b(rng);
  Dims x = random_dims(rng, static_cast<size_t>(pick(rng, 1, 5)), 6);
  ArgMaxMinParams p;
  p.kind = chance(rng, 0.5) ? ArgKind::kMax : ArgKind::kMin;
  p.axis = pick(rng, 0, static_cast<int64_t>(x.size()) - 1);
  p.keepdims = chance(rng, 0.5);
  p.select_last_index = chance(rng, 0.5);
  const bool nans = x.size() <= 2 && chance(rng, 0.5);
  std::vector<float> data(static_cast<size_t>(element_count(x, "x")));
  for (float& v : data) v = nans && chance(rng, 0.1) ? NAN : static_cast<float>(pick(rng, -3, 3)) * 0.5f;
  ValueId xv = b.input("x", x, data);
  b.output(b.node(OpKind::kArgMaxMin, p.kind == ArgKind::kMax ? "ArgMax" : "ArgMin", p, {xv}));
  return b.take();
}

OpCase lrn_case(std::mt19937& rng) {
  GraphBuilder b(rng);
  Dims x = activation_dims(rng, 3, 5, 12);
  LrnParams p;
  p.size = 2 * pick(rng, 0, 3) + 1;
  p.alpha = uniform(rng, 1e-4f, 1.f);
  p.beta = uniform(rng, 0.5f, 1.f);
  p.bias = uniform(rng, 1.f, 2.f);
  ValueId xv = b.input("x", x, -2.f, 2.f);
  b.output(b.node(OpKind::kLrn, "LRN", p, {xv}));
  return b.take();
}

OpCase pad_case(std::mt19937& rng) {
  GraphBuilder b(rng);
  Dims x = random_dims(rng, static_cast<size_t>(pick(rng, 1, 5)), 4);
  PadParams p;
  p.mode = static_cast<PadMode>(pick(rng, 0, 2));
  for (size_t i = 0; i < x.size(); ++i) {
    int64_t most = p.mode == PadMode::kReflect ? std::min<int64_t>(2, x[i] - 1) : 2;  // reflect: below the dim
    p.pads_begin.push_back(pick(rng, 0, most));
    p.pads_end.push_back(pick(rng, 0, most));
  }
  p.value = chance(rng, 0.5) ? 0.f : uniform(rng, -2.f, 2.f);
  ValueId xv = b.input("x", x);
  b.output(b.node(OpKind::kPad, "Pad", p, {xv}));
  return b.take();
}

OpCase reduce_case(const CaseNeeds& needs, std::mt19937& rng) {
  GraphBuilder b(rng);
  Dims x = needs.four_d ? activation_dims(rng, 4, 4) : random_dims(rng, static_cast<size_t>(pick(rng, 1, 5)), 5);
  ReduceParams p;
  p.kind = static_cast<ReduceKind>(pick(rng, 0, static_cast<int64_t>(kLastReduceKind)));
  for (int64_t i = 0; i < static_cast<int64_t>(x.size()); ++i)
    if (chance(rng, 0.5)) p.axes.push_back(i);
  if (p.axes.empty()) p.axes.push_back(pick(rng, 0, static_cast<int64_t>(x.size()) - 1));
  p.keepdims = chance(rng, 0.5);
  // LogSum needs a positive sum; Prod stays near 1 (magnitudes around 1).
  float lo = p.kind == ReduceKind::kLogSum ? 0.1f : p.kind == ReduceKind::kProd ? 0.5f : -2.f;
  float hi = p.kind == ReduceKind::kProd ? 1.5f : 2.f;
  ValueId xv = b.input("x", x, lo, hi);
  b.output(b.node(OpKind::kReduce, "ReduceSum", p, {xv}));
  return b.take();
}

OpCase prelu_case(const CaseNeeds& needs, std::mt19937& rng) {
  GraphBuilder b(rng);
  Dims x = activation_dims(rng, needs.four_d ? 4 : 1, needs.four_d ? 4 : 5, 8);
  if (needs.large_constant) {  // a per-channel slope of >= 16 KiB
    x = {1, pick(rng, kLargeConstant, 2 * kLargeConstant), pick(rng, 1, 3)};
  }
  // The slope: per channel ({C, 1, ...}), of the trailing dims, or a scalar.
  Dims slope;
  int64_t shape = needs.large_constant ? 0 : pick(rng, 0, 2);
  if (shape == 0 && x.size() >= 2) {
    slope = Dims(x.begin() + 1, x.end());
    for (size_t i = 1; i < slope.size(); ++i) slope[i] = 1;
  } else if (shape == 1) {
    slope = Dims(x.end() - pick(rng, 1, static_cast<int64_t>(x.size())), x.end());
  } else {
    slope = {1};
  }
  ValueId xv = b.input("x", x, -2.f, 2.f);
  bool constant = needs.large_constant || chance(rng, 0.7);
  ValueId sv = constant ? b.constant("slope", slope, 0.f, 0.5f) : b.input("slope", slope, 0.f, 0.5f);
  b.output(b.node(OpKind::kPRelu, "PRelu", PReluParams{}, {xv, sv}));
  return b.take();
}

// LayerNorm over random trailing dims; scale and bias each present or not, constant or an
// input, as {D} or the normalized dims. A large scale for streaming.
OpCase layer_norm_case(const CaseNeeds& needs, std::mt19937& rng) {
  GraphBuilder b(rng);
  Dims x = needs.large_constant ? Dims{pick(rng, 1, 3), pick(rng, kLargeConstant, 2 * kLargeConstant)}
                                : random_dims(rng, static_cast<size_t>(pick(rng, 1, 4)), 9);
  LayerNormParams p;
  p.axis = needs.large_constant ? 1 : pick(rng, 0, static_cast<int64_t>(x.size()) - 1);
  p.epsilon = chance(rng, 0.5) ? 1e-5f : uniform(rng, 1e-3f, 0.5f);
  Dims normalized(x.begin() + p.axis, x.end());
  Dims flat{element_count(normalized, "x")};
  std::vector<ValueId> in{b.input("x", x, -3.f, 3.f)};
  for (const char* name : {"scale", "bias"}) {
    bool present = needs.large_constant || chance(rng, 0.7);
    Dims d = chance(rng, 0.5) ? flat : normalized;
    bool constant = needs.large_constant || chance(rng, 0.7);
    in.push_back(!present ? kNoValue : constant ? b.constant(name, d, -2.f, 2.f) : b.input(name, d, -2.f, 2.f));
  }
  while (in.back() == kNoValue) in.pop_back();
  b.output(b.node(OpKind::kLayerNorm, "LayerNorm", p, in));
  return b.take();
}

// One direction of an RNN, GRU or LSTM: random cell, activation, direction and layout;
// initial states as inputs or constants, in any of their accepted dims; LSTM peepholes
// half the time. Streaming needs R of >= 16 KiB.
OpCase recurrent_case(const CaseNeeds& needs, std::mt19937& rng) {
  GraphBuilder b(rng);
  RecurrentParams p;
  p.cell = static_cast<RecurrentCell>(pick(rng, 0, static_cast<int64_t>(kLastRecurrentCell)));
  if (p.cell == RecurrentCell::kRnn)
    p.activation = static_cast<RnnActivation>(pick(rng, 0, static_cast<int64_t>(kLastRnnActivation)));
  p.reverse = chance(rng, 0.5);
  p.batch_first = chance(rng, 0.5);
  const int64_t gates = recurrent_gates(p.cell), steps = pick(rng, 1, 5), batch = pick(rng, 1, 3);
  const int64_t features = pick(rng, 1, 6);
  p.hidden_size = pick(rng, 1, 8);
  while (needs.large_constant && gates * p.hidden_size * p.hidden_size < kLargeConstant) p.hidden_size += 4;
  const int64_t h = p.hidden_size;
  ValueId x = b.input("x", p.batch_first ? Dims{batch, steps, features} : Dims{steps, batch, features});
  // Weights small enough that the gates do not all saturate.
  const float spread = 1.f / static_cast<float>(std::max<int64_t>(h, features));
  std::vector<ValueId> in{x, b.constant("W", {gates * h, features}, -spread, spread),
                          b.constant("R", {gates * h, h}, -spread, spread),
                          b.constant("B", {recurrent_bias_gates(p.cell) * h}, -0.5f, 0.5f)};
  const Dims state_dims[] = {{batch, h}, {1, batch, h}, {batch, 1, h}};
  auto state = [&](const std::string& name) {
    const Dims& d = state_dims[pick(rng, 0, 2)];
    return chance(rng, 0.5) ? b.input(name, d) : b.constant(name, d);
  };
  in.push_back(state("initial_h"));
  if (p.cell == RecurrentCell::kLstm) {
    in.push_back(state("initial_c"));
    if (chance(rng, 0.5)) in.push_back(b.constant("P", {3 * h}, -0.5f, 0.5f));
  }
  const char* onnx_op = p.cell == RecurrentCell::kLstm ? "LSTM" : p.cell == RecurrentCell::kRnn ? "RNN" : "GRU";
  b.output(b.node(OpKind::kRecurrent, onnx_op, p, in));
  return b.take();
}

// An input of any dtype the engine takes, with values in its range (float32 too: a copy).
OpCase cast_case(std::mt19937& rng) {
  GraphBuilder b(rng);
  Dims x = random_dims(rng, static_cast<size_t>(pick(rng, 1, 4)), 5);
  const DType types[] = {DType::kI64, DType::kI32, DType::kU8, DType::kS8, DType::kBool, DType::kF32};
  DType t = types[pick(rng, 0, 5)];
  int64_t lo = 0, hi = 1;
  if (t == DType::kI64 || t == DType::kI32) lo = -(1 << 20), hi = 1 << 20;  // exact in float32
  if (t == DType::kU8) hi = 255;
  if (t == DType::kS8) lo = -128, hi = 127;
  std::vector<float> values(static_cast<size_t>(element_count(x, "x")));
  for (float& v : values) v = t == DType::kF32 ? uniform(rng, -2.f, 2.f) : static_cast<float>(pick(rng, lo, hi));
  ValueId xv = b.typed_input("x", t, x, values);
  b.output(b.node(OpKind::kCast, "Cast", CastParams{}, {xv}));
  return b.take();
}

// Any dims, any axes sliced with steps of either sign (one element at least per dim).
OpCase slice_case(std::mt19937& rng) {
  GraphBuilder b(rng);
  Dims x = random_dims(rng, static_cast<size_t>(pick(rng, 1, 5)), 6);
  SliceParams p{Dims(x.size(), 0), Dims(x.size(), 1), x};
  for (size_t k = 0; k < x.size(); ++k) {
    if (chance(rng, 0.3)) continue;  // the whole dim
    int64_t step = pick(rng, 1, 3) * (chance(rng, 0.3) ? -1 : 1);
    int64_t first = pick(rng, 0, x[k] - 1);
    int64_t room = step > 0 ? x[k] - 1 - first : first;
    p.starts[k] = first;
    p.steps[k] = step;
    p.sizes[k] = pick(rng, 1, room / std::abs(step) + 1);
  }
  ValueId xv = b.input("x", x);
  b.output(b.node(OpKind::kSlice, "Slice", p, {xv}));
  return b.take();
}

OpCase gather_case(std::mt19937& rng) {
  GraphBuilder b(rng);
  Dims x = random_dims(rng, static_cast<size_t>(pick(rng, 1, 4)), 6);
  GatherParams p;
  p.axis = pick(rng, 0, static_cast<int64_t>(x.size()) - 1);
  p.indices_dims = random_dims(rng, static_cast<size_t>(pick(rng, 0, 2)), 4);
  int64_t n = 1;
  for (int64_t d : p.indices_dims) n *= d;
  for (int64_t i = 0; i < n; ++i) p.indices.push_back(pick(rng, 0, x[static_cast<size_t>(p.axis)] - 1));
  ValueId xv = b.input("x", x);
  b.output(b.node(OpKind::kGather, "Gather", p, {xv}));
  return b.take();
}

// Tile (repeats of any dim) or Expand (dims of 1 broadcast, leading dims added).
OpCase tile_case(std::mt19937& rng) {
  GraphBuilder b(rng);
  Dims x = random_dims(rng, static_cast<size_t>(pick(rng, 1, 4)), 4);
  bool expand = chance(rng, 0.5);
  TileParams p;
  if (expand) {
    for (int64_t& d : x)
      if (chance(rng, 0.5)) d = 1;
    p.repeats.assign(static_cast<size_t>(pick(rng, 0, 2)), 1);
    for (int64_t& r : p.repeats) r = pick(rng, 1, 3);
    for (int64_t d : x) p.repeats.push_back(d == 1 ? pick(rng, 1, 4) : 1);
  } else {
    for (size_t k = 0; k < x.size(); ++k) p.repeats.push_back(pick(rng, 1, 3));
  }
  ValueId xv = b.input("x", x);
  b.output(b.node(OpKind::kTile, expand ? "Expand" : "Tile", p, {xv}));
  return b.take();
}

// Every mode and coordinate transformation, scales up and down on any dims (mostly the
// spatial ones), from sizes (scale = output / input) or from scales.
// In bands (spills): 4-D, N and C kept, at least two output rows.
OpCase resize_case(const CaseNeeds& needs, std::mt19937& rng) {
  GraphBuilder b(rng);
  Dims x = needs.four_d       ? activation_dims(rng, 4, 4)
           : chance(rng, 0.7) ? activation_dims(rng, 3, 5)
                              : random_dims(rng, static_cast<size_t>(pick(rng, 1, 4)), 5);
  ResizeParams p;
  p.mode = static_cast<ResizeMode>(pick(rng, 0, 2));
  // In bands, not tf_half_pixel_for_nn (the last): it samples N and C at o + 0.5, so a
  // Resize keeping their dims still moves them and runs whole.
  p.coordinates = static_cast<ResizeCoordinates>(pick(rng, 0, needs.four_d ? 5 : 6));
  p.nearest = static_cast<ResizeNearest>(pick(rng, 0, 4));
  p.cubic_a = chance(rng, 0.5) ? -0.75f : -0.5f;
  p.exclude_outside = p.mode == ResizeMode::kCubic && chance(rng, 0.3);  // nearest: its weights could all be 0
  p.extrapolation_value = uniform(rng, -1.f, 1.f);
  p.sizes = x;
  p.scales.assign(x.size(), 1.f);
  bool by_sizes = chance(rng, 0.5);
  for (size_t k = 0; k < x.size(); ++k) {
    if (x.size() >= 3 && k < 2 && (needs.four_d || chance(rng, 0.8))) continue;  // N, C mostly kept
    if (chance(rng, 0.2)) continue;
    if (by_sizes) {
      p.sizes[k] = pick(rng, 1, 2 * x[k] + 2);
      p.scales[k] = static_cast<float>(p.sizes[k]) / static_cast<float>(x[k]);
    } else {
      const float scales[] = {0.5f, 0.6f, 0.75f, 1.5f, 2.f, 3.f, 1.f / 3};
      p.scales[k] = scales[pick(rng, 0, 6)];
      p.sizes[k] = static_cast<int64_t>(std::floor(static_cast<double>(x[k]) * static_cast<double>(p.scales[k])));
      if (p.sizes[k] < 1) p.sizes[k] = x[k], p.scales[k] = 1.f;
    }
  }
  if (needs.two_rows && p.sizes[2] < 2) p.sizes[2] = 2 * x[2], p.scales[2] = 2.f;
  if (p.coordinates == ResizeCoordinates::kTfCropAndResize) {
    for (size_t k = 0; k < x.size(); ++k) p.roi.push_back(needs.four_d && k < 2 ? 0.f : uniform(rng, -0.2f, 0.5f));
    for (size_t k = 0; k < x.size(); ++k) p.roi.push_back(needs.four_d && k < 2 ? 1.f : uniform(rng, 0.6f, 1.2f));
  }
  ValueId xv = b.input("x", x);
  b.output(b.node(OpKind::kResize, "Resize", p, {xv}));
  return b.take();
}

// A constant condition of 0 and 1 and two operands, all broadcasting to the output; X is an
// input, Y an input or a constant. A large condition has all of the output.
OpCase where_case(const CaseNeeds& needs, std::mt19937& rng) {
  GraphBuilder b(rng);
  Dims out = needs.large_constant ? Dims{pick(rng, 16, 32), pick(rng, 16, 24), pick(rng, 16, 24)}
                                  : random_dims(rng, static_cast<size_t>(pick(rng, 1, 4)), 4);
  auto operand = [&](bool whole) {
    if (whole) return out;
    if (chance(rng, 0.1)) return Dims{};
    Dims d(out.end() - pick(rng, 1, static_cast<int64_t>(out.size())), out.end());
    for (int64_t& x : d)
      if (chance(rng, 0.3)) x = 1;
    return d;
  };
  Dims cd = operand(needs.large_constant), xd = operand(false), yd = operand(false);
  std::vector<float> mask(static_cast<size_t>(element_count(cd, "c")));
  for (float& m : mask) m = chance(rng, 0.5) ? 1.f : 0.f;
  ValueId c = b.constant("c", cd, mask);
  ValueId x = b.input("x", xd);
  ValueId y = chance(rng, 0.5) ? b.constant("y", yd) : b.input("y", yd);
  b.output(b.node(OpKind::kWhere, "Where", WhereParams{}, {c, x, y}));
  return b.take();
}

OpCase depth_to_space_case(std::mt19937& rng) {
  GraphBuilder b(rng);
  DepthToSpaceParams p;
  p.block = pick(rng, 1, 3);
  p.space_to_depth = chance(rng, 0.4);
  p.crd = !p.space_to_depth && chance(rng, 0.5);
  Dims x{pick(rng, 1, 2), pick(rng, 1, 3), pick(rng, 1, 3), pick(rng, 1, 3)};
  if (p.space_to_depth) {
    x[2] *= p.block;
    x[3] *= p.block;
  } else {
    x[1] *= p.block * p.block;
  }
  ValueId xv = b.input("x", x);
  b.output(b.node(OpKind::kDepthToSpace, p.space_to_depth ? "SpaceToDepth" : "DepthToSpace", p, {xv}));
  return b.take();
}

OpCase conv_transpose_case(const CaseNeeds& needs, std::mt19937& rng) {
  GraphBuilder b(rng);
  size_t spatial = needs.large_constant ? 2 : static_cast<size_t>(pick(rng, 1, 2));
  int64_t groups = chance(rng, 0.3) ? 2 : 1;
  int64_t ic = groups * pick(rng, 1, 3), oc_g = pick(rng, 1, 3);
  if (needs.large_constant) ic = groups * 32, oc_g = 32;  // weights of >= kLargeConstant elements
  ConvTransposeParams p;
  p.groups = groups;
  Dims x{pick(rng, 1, 2), ic}, w{ic, oc_g};
  for (size_t i = 0; i < spatial; ++i) {
    int64_t k = needs.large_constant ? 3 : pick(rng, 1, 3);
    p.kernel.push_back(k);
    p.strides.push_back(pick(rng, 1, 3));
    p.dilations.push_back(pick(rng, 1, 2));
    p.output_padding.push_back(pick(rng, 0, std::max(p.strides[i], p.dilations[i]) - 1));
    x.push_back(pick(rng, 1, 5));
    w.push_back(k);
    int64_t full = (x.back() - 1) * p.strides[i] + (k - 1) * p.dilations[i] + 1 + p.output_padding[i];
    int64_t pb = pick(rng, 0, std::min<int64_t>(2, (full - 1) / 2));
    p.pads_begin.push_back(pb);
    p.pads_end.push_back(pick(rng, 0, std::min<int64_t>(2, full - 1 - pb)));
  }
  std::vector<ValueId> in{b.input("x", x), b.constant("w", w)};
  if (chance(rng, 0.7)) in.push_back(b.constant("b", {oc_g * groups}));
  b.output(b.node(OpKind::kConvTranspose, "ConvTranspose", p, in));
  return b.take();
}

}  // namespace

bool defined_for_negative_inputs(EltwiseKind kind) {
  switch (kind) {
    case EltwiseKind::kSqrt:
    case EltwiseKind::kLog:
    case EltwiseKind::kPow:  // a real power of a negative base only for whole exponents
      return false;
    case EltwiseKind::kTanh:
    case EltwiseKind::kExp:
    case EltwiseKind::kErf:
    case EltwiseKind::kAbs:
    case EltwiseKind::kReciprocal:
    case EltwiseKind::kSoftplus:
    case EltwiseKind::kElu:
    case EltwiseKind::kSelu:
    case EltwiseKind::kFloor:
    case EltwiseKind::kCeil:
    case EltwiseKind::kRound:
    case EltwiseKind::kRelu:
    case EltwiseKind::kLeakyRelu:
    case EltwiseKind::kClip:
    case EltwiseKind::kSigmoid:
    case EltwiseKind::kHardSigmoid:
    case EltwiseKind::kHardSwish:
    case EltwiseKind::kNeg:
    case EltwiseKind::kGelu:
    case EltwiseKind::kGeluTanh:
    case EltwiseKind::kSin:
    case EltwiseKind::kCos:
    case EltwiseKind::kSign:
    case EltwiseKind::kSoftsign:
    case EltwiseKind::kThresholdedRelu:
    case EltwiseKind::kMish:
    case EltwiseKind::kSwish:
      return true;
  }
  return true;
}

EltwiseParams random_eltwise(std::mt19937& rng, EltwiseKind kind) {
  EltwiseParams p{kind, 0.f, 0.f};
  switch (kind) {
    case EltwiseKind::kRelu:
    case EltwiseKind::kSigmoid:
    case EltwiseKind::kHardSwish:
    case EltwiseKind::kNeg:
    case EltwiseKind::kSqrt:
    case EltwiseKind::kTanh:
    case EltwiseKind::kExp:
    case EltwiseKind::kLog:
    case EltwiseKind::kErf:
    case EltwiseKind::kAbs:
    case EltwiseKind::kReciprocal:
    case EltwiseKind::kSoftplus:
    case EltwiseKind::kFloor:
    case EltwiseKind::kCeil:
    case EltwiseKind::kRound:
    case EltwiseKind::kGelu:
    case EltwiseKind::kGeluTanh:
    case EltwiseKind::kSin:
    case EltwiseKind::kCos:
    case EltwiseKind::kSign:
    case EltwiseKind::kSoftsign:
    case EltwiseKind::kMish:
      break;
    case EltwiseKind::kThresholdedRelu:
      p.alpha = uniform(rng, -0.5f, 1.f);
      break;
    case EltwiseKind::kSwish:
      p.alpha = uniform(rng, 0.5f, 2.f);
      break;
    case EltwiseKind::kElu:
      p.alpha = uniform(rng, 0.1f, 2.f);
      break;
    case EltwiseKind::kSelu:
      p.alpha = uniform(rng, 0.5f, 2.f);
      p.beta = uniform(rng, 0.5f, 1.5f);
      break;
    case EltwiseKind::kPow:  // whole, fractional and negative exponents (oneDNN special-cases some)
      p.beta = std::vector<float>{2.f, 3.f, 0.5f, -1.f, uniform(rng, -2.f, 3.f)}[static_cast<size_t>(pick(rng, 0, 4))];
      break;
    case EltwiseKind::kLeakyRelu:
      p.alpha = uniform(rng, 0.01f, 0.5f);
      break;
    case EltwiseKind::kClip:
      p.alpha = chance(rng, 0.15) ? -kInf : uniform(rng, -1.5f, 0.f);
      p.beta = chance(rng, 0.15) ? kInf : uniform(rng, 0.f, 1.5f);
      break;
    case EltwiseKind::kHardSigmoid:
      p.alpha = uniform(rng, 0.1f, 0.5f);
      p.beta = uniform(rng, 0.2f, 0.8f);
      break;
  }
  return p;
}

OpCase generate_case(const OpVariant& v, const CaseNeeds& needs, std::mt19937& rng) {
  switch (v.op) {
    case OpKind::kConv:
      return conv_case(needs, rng);
    case OpKind::kGemm:
      return gemm_case(needs, rng);
    case OpKind::kMatMul:
      return matmul_case(needs, rng);
    case OpKind::kBatchNorm:
      return batchnorm_case(needs, rng);
    case OpKind::kEltwise:
      return eltwise_case(v.eltwise, needs, rng);
    case OpKind::kBinary:
      return binary_case(v.binary, needs, rng);
    case OpKind::kPool:
      return pool_case(v.pool, needs, rng);
    case OpKind::kReshape:
      return reshape_case(rng);
    case OpKind::kTranspose:
      return transpose_case(rng);
    case OpKind::kConcat:
      return concat_case(needs, rng);
    case OpKind::kSoftmax:
      return softmax_case(rng);
    case OpKind::kLrn:
      return lrn_case(rng);
    case OpKind::kPad:
      return pad_case(rng);
    case OpKind::kCast:
      return cast_case(rng);
    case OpKind::kSlice:
      return slice_case(rng);
    case OpKind::kGather:
      return gather_case(rng);
    case OpKind::kTile:
      return tile_case(rng);
    case OpKind::kResize:
      return resize_case(needs, rng);
    case OpKind::kConvTranspose:
      return conv_transpose_case(needs, rng);
    case OpKind::kDepthToSpace:
      return depth_to_space_case(rng);
    case OpKind::kWhere:
      return where_case(needs, rng);
    case OpKind::kReduce:
      return reduce_case(needs, rng);
    case OpKind::kPRelu:
      return prelu_case(needs, rng);
    case OpKind::kRecurrent:
      return recurrent_case(needs, rng);
    case OpKind::kLayerNorm:
      return layer_norm_case(needs, rng);
    case OpKind::kArgMaxMin:
      return arg_max_min_case(rng);
    case OpKind::kLogSoftmax:
      return log_softmax_case(rng);
  }
  throw std::logic_error("no generator for " + v.name);
}

}  // namespace teeinfer::op_harness
