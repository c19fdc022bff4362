#include "common/shape_inference.h"

#include <algorithm>
#include <cmath>
#include <iterator>

#include "common/error.h"

namespace teeinfer {

bool is_row_bias(const Dims& c, const Dims& y) {
  if (c.empty() || y.empty() || c.size() > y.size() || c.back() != y.back()) return false;
  return std::all_of(c.begin(), c.end() - 1, [](int64_t d) { return d == 1; });
}

namespace {

[[noreturn]] void bad(const Node& n, const std::string& why) {
  throw Error(ErrorCode::kBadModel, n.onnx_op + " node '" + n.name + "': " + why);
}

const Dims& in_dims(const Graph& g, const Node& n, size_t i) {
  if (i >= n.inputs.size() || n.inputs[i] == kNoValue) bad(n, "missing input " + std::to_string(i));
  return g.value(n.inputs[i]).dims;
}

void check_window(const Node& n, size_t spatial, const Dims& kernel, const Dims& strides, const Dims& dilations,
                  const Dims& pb, const Dims& pe) {
  if (pb.size() != spatial || pe.size() != spatial)
    bad(n, "window attributes do not match " + std::to_string(spatial) + " spatial dims");
  check_window_params(n.onnx_op + " node '" + n.name + "'", spatial, kernel, strides, dilations, pb, pe);
}

// a + b, or an error naming the node when the sum leaves the valid dims.
int64_t add_dims(const Node& n, int64_t a, int64_t b) {
  if (a > kMaxDim - b) bad(n, "dims add up to more than 2^62");
  return a + b;
}

Dims window_out(const Node& n, const Dims& x, const Dims& kernel, const Dims& strides, const Dims& dilations,
                const Dims& pb, const Dims& pe) {
  Dims y = x;
  for (size_t i = 0; i + 2 < x.size(); ++i) {
    y[i + 2] = window_output_size(x[i + 2], kernel[i], strides[i], dilations[i], pb[i], pe[i]);
    if (y[i + 2] < 1) bad(n, "window larger than the padded input " + dims_to_string(x));
  }
  return y;
}

Dims conv_output_dims(const Graph& g, const Node& n) {
  const auto& p = std::get<ConvParams>(n.params);
  const Dims& x = in_dims(g, n, 0);
  const Dims& w = in_dims(g, n, 1);
  if (x.size() < 3 || x.size() > 5) bad(n, "input must be 3-D to 5-D, got " + dims_to_string(x));
  if (w.size() != x.size()) bad(n, "weight rank differs from input rank");
  check_window(n, x.size() - 2, p.kernel, p.strides, p.dilations, p.pads_begin, p.pads_end);
  if (p.groups < 1 || x[1] % p.groups != 0 || w[0] % p.groups != 0 || w[1] != x[1] / p.groups)
    bad(n, "channels " + std::to_string(x[1]) + " and weight " + dims_to_string(w) +
               " do not match groups=" + std::to_string(p.groups));
  for (size_t i = 2; i < w.size(); ++i)
    if (w[i] != p.kernel[i - 2]) bad(n, "weight dims do not match kernel_shape");
  if (n.inputs.size() > 2 && n.inputs[2] != kNoValue) {
    const Dims& b = in_dims(g, n, 2);
    if (b.size() != 1 || b[0] != w[0]) bad(n, "bias must be {" + std::to_string(w[0]) + "}");
  }
  Dims y = window_out(n, x, p.kernel, p.strides, p.dilations, p.pads_begin, p.pads_end);
  y[1] = w[0];
  if (p.fused_sum && (n.inputs.size() != 4 || in_dims(g, n, 3) != y))
    bad(n, "the fused residual must have the output's dims " + dims_to_string(y));
  if (!p.fused_sum && n.inputs.size() > 3) bad(n, "too many inputs");
  return y;
}

Dims gemm_output_dims(const Graph& g, const Node& n) {
  const auto& p = std::get<GemmParams>(n.params);
  const Dims& a = in_dims(g, n, 0);
  const Dims& b = in_dims(g, n, 1);
  if (a.size() != 2 || b.size() != 2) bad(n, "A and B must be 2-D");
  int64_t m = p.trans_a ? a[1] : a[0], k = p.trans_a ? a[0] : a[1];
  int64_t kb = p.trans_b ? b[1] : b[0], nn = p.trans_b ? b[0] : b[1];
  if (k != kb) bad(n, "inner dimensions differ: A " + dims_to_string(a) + ", B " + dims_to_string(b));
  Dims y{m, nn};
  if (n.inputs.size() > 2 && n.inputs[2] != kNoValue) {
    if (broadcast_dims(y, in_dims(g, n, 2), n.name) != y) bad(n, "C does not broadcast to Y");
  }
  return y;
}

Dims matmul_output_dims(const Graph& g, const Node& n) {
  Dims a = in_dims(g, n, 0), b = in_dims(g, n, 1);
  if (a.empty() || b.empty()) bad(n, "scalar operands are not supported");
  bool a1 = a.size() == 1, b1 = b.size() == 1;
  if (a1) a.insert(a.begin(), 1);
  if (b1) b.push_back(1);
  if (a.back() != b[b.size() - 2]) bad(n, "inner dimensions differ: " + dims_to_string(a) + " x " + dims_to_string(b));
  Dims batch = broadcast_dims(Dims(a.begin(), a.end() - 2), Dims(b.begin(), b.end() - 2), n.name);
  Dims y = batch;
  if (!a1) y.push_back(a[a.size() - 2]);
  if (!b1) y.push_back(b.back());
  // A bias (graph_passes.h: a fused Add of a Linear layer's bias): a float row of y.
  if (n.inputs.size() > 3) bad(n, "too many inputs");
  if (n.inputs.size() == 3) {
    if (b1 || !is_row_bias(in_dims(g, n, 2), y))
      bad(n, "the bias " + dims_to_string(in_dims(g, n, 2)) + " is not a row of the output " + dims_to_string(y));
    if (g.value(n.inputs[2]).dtype != DType::kF32) bad(n, "the bias is not float32");
  }
  return y;
}

Dims concat_output_dims(const Graph& g, const Node& n) {
  const auto& p = std::get<ConcatParams>(n.params);
  Dims y = in_dims(g, n, 0);
  if (p.axis < 0 || p.axis >= static_cast<int64_t>(y.size())) bad(n, "axis out of range");
  size_t data = n.inputs.size() - (p.fused_batchnorm ? 2 : 0);
  if (data < 1 || data > n.inputs.size()) bad(n, "no data inputs");
  for (size_t i = 1; i < data; ++i) {
    const Dims& d = in_dims(g, n, i);
    if (d.size() != y.size()) bad(n, "inputs differ in rank");
    for (size_t k = 0; k < d.size(); ++k)
      if (static_cast<int64_t>(k) != p.axis && d[k] != y[k]) bad(n, "inputs differ off the axis");
    y[p.axis] = add_dims(n, y[p.axis], d[p.axis]);
  }
  if (p.fused_batchnorm) {
    if (p.axis != 1) bad(n, "a fused BatchNorm needs a channel concat");
    for (size_t i = data; i < n.inputs.size(); ++i)
      if (in_dims(g, n, i) != Dims{y[1]}) bad(n, "fused BatchNorm parameters must be {" + std::to_string(y[1]) + "}");
  }
  return y;
}

Dims transpose_output_dims(const Graph& g, const Node& n) {
  const auto& p = std::get<TransposeParams>(n.params);
  const Dims& x = in_dims(g, n, 0);
  if (p.perm.size() != x.size()) bad(n, "perm rank differs from input rank");
  Dims y(x.size());
  std::vector<bool> seen(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    int64_t a = p.perm[i];
    if (a < 0 || a >= static_cast<int64_t>(x.size()) || seen[a]) bad(n, "perm is not a permutation");
    seen[a] = true;
    y[i] = x[a];
  }
  return y;
}

Dims pool_output_dims(const Graph& g, const Node& n) {
  const auto& p = std::get<PoolParams>(n.params);
  const Dims& x = in_dims(g, n, 0);
  if (x.size() < 3 || x.size() > 5) bad(n, "input must be 3-D to 5-D, got " + dims_to_string(x));
  check_window(n, x.size() - 2, p.kernel, p.strides, p.dilations, p.pads_begin, p.pads_end);
  return window_out(n, x, p.kernel, p.strides, p.dilations, p.pads_begin, p.pads_end);
}

void check_per_channel(const Graph& g, const Node& n, size_t first, size_t last) {
  const Dims& x = in_dims(g, n, 0);
  if (x.size() < 2) bad(n, "input must have a channel dimension");
  for (size_t i = first; i <= last; ++i)
    if (in_dims(g, n, i) != Dims{x[1]})
      bad(n, "per-channel input " + std::to_string(i) + " must be {" + std::to_string(x[1]) + "}");
}

Dims batchnorm_output_dims(const Graph& g, const Node& n) {
  check_per_channel(g, n, 1, 4);
  return in_dims(g, n, 0);
}

Dims eltwise_output_dims(const Graph& g, const Node& n) {
  return in_dims(g, n, 0);
}

Dims binary_output_dims(const Graph& g, const Node& n) {
  return broadcast_dims(in_dims(g, n, 0), in_dims(g, n, 1), n.name);
}

Dims reshape_output_dims(const Graph& g, const Node& n) {
  // The output dims are the node's own; only the element count must agree.
  const Dims& y = g.value(n.outputs.at(0)).dims;
  if (element_count(y, n.name) != element_count(in_dims(g, n, 0), n.name)) bad(n, "reshape changes the element count");
  return y;
}

// Softmax and LogSoftmax (whose params derive from Softmax's).
Dims softmax_output_dims(const Graph& g, const Node& n) {
  const Dims& x = in_dims(g, n, 0);
  int64_t axis = std::visit(
      [&](const auto& p) -> int64_t {
        if constexpr (std::is_base_of_v<SoftmaxParams, std::decay_t<decltype(p)>>)
          return p.axis;
        else
          bad(n, "carries no softmax parameters");
      },
      n.params);
  if (axis < 0 || axis >= static_cast<int64_t>(x.size())) bad(n, "axis out of range");
  return x;
}

Dims arg_max_min_output_dims(const Graph& g, const Node& n) {
  Dims y = in_dims(g, n, 0);
  const auto& p = std::get<ArgMaxMinParams>(n.params);
  if (p.kind != ArgKind::kMax && p.kind != ArgKind::kMin) bad(n, "unknown kind");
  if (p.axis < 0 || p.axis >= static_cast<int64_t>(y.size())) bad(n, "axis out of range");
  if (p.keepdims)
    y[static_cast<size_t>(p.axis)] = 1;
  else
    y.erase(y.begin() + p.axis);
  return y;
}

Dims lrn_output_dims(const Graph& g, const Node& n) {
  const Dims& x = in_dims(g, n, 0);
  if (x.size() < 3) bad(n, "input must be at least 3-D");
  int64_t size = std::get<LrnParams>(n.params).size;
  if (size < 1 || size > kMaxWindowParam) bad(n, "size " + std::to_string(size) + " is out of range (1 to 2^20)");
  return x;
}

Dims cast_output_dims(const Graph& g, const Node& n) {
  return in_dims(g, n, 0);
}

Dims pad_output_dims(const Graph& g, const Node& n) {
  const auto& p = std::get<PadParams>(n.params);
  Dims y = in_dims(g, n, 0);
  if (p.pads_begin.size() != y.size() || p.pads_end.size() != y.size()) bad(n, "pads must have 2 values per dim");
  if (p.mode > PadMode::kEdge) bad(n, "unknown mode");
  for (size_t i = 0; i < y.size(); ++i) {
    if (p.pads_begin[i] < 0 || p.pads_end[i] < 0 || p.pads_begin[i] > kMaxWindowParam ||
        p.pads_end[i] > kMaxWindowParam)
      bad(n, "pads must be between 0 and 2^20");
    // reflect mirrors without repeating the border: pads up to dim - 1 per side
    if (p.mode == PadMode::kReflect && (p.pads_begin[i] > y[i] - 1 || p.pads_end[i] > y[i] - 1))
      bad(n, "reflect pads must be smaller than the dim");
    y[i] = add_dims(n, y[i], p.pads_begin[i] + p.pads_end[i]);
  }
  return y;
}

Dims slice_output_dims(const Graph& g, const Node& n) {
  const auto& p = std::get<SliceParams>(n.params);
  const Dims& x = in_dims(g, n, 0);
  if (p.starts.size() != x.size() || p.steps.size() != x.size() || p.sizes.size() != x.size())
    bad(n, "starts, steps and sizes must have one value per dim");
  for (size_t i = 0; i < x.size(); ++i) {
    int64_t st = p.steps[i], b = p.starts[i], len = p.sizes[i];
    if (st == 0 || st < -kMaxDim || st > kMaxDim) bad(n, "step " + std::to_string(st) + " is out of range");
    if (len < 1 || len > x[i])
      bad(n, "slice length " + std::to_string(len) + " does not fit dim " + std::to_string(x[i]));
    if (b < 0 || b >= x[i]) bad(n, "slice start " + std::to_string(b) + " outside dim " + std::to_string(x[i]));
    // the last index read, start + (len - 1) * step, must lie in [0, dim): no overflow, as
    // len - 1 < dim and |step| <= 2^62 are checked against the room left before the product.
    int64_t room = st > 0 ? x[i] - 1 - b : b;
    int64_t mag = st > 0 ? st : -st;
    if (len > 1 && (mag > room || (len - 1) > room / mag)) bad(n, "slice reads past dim " + std::to_string(i));
  }
  return p.sizes;
}

Dims gather_output_dims(const Graph& g, const Node& n) {
  const auto& p = std::get<GatherParams>(n.params);
  const Dims& x = in_dims(g, n, 0);
  if (p.axis < 0 || p.axis >= static_cast<int64_t>(x.size())) bad(n, "axis out of range");
  if (x.size() - 1 + p.indices_dims.size() > kMaxRank) bad(n, "the output has too many dims");
  if (element_count(p.indices_dims, n.name) != static_cast<int64_t>(p.indices.size()))
    bad(n, "the indices do not fill their dims " + dims_to_string(p.indices_dims));
  for (int64_t k : p.indices)
    if (k < 0 || k >= x[static_cast<size_t>(p.axis)]) bad(n, "index " + std::to_string(k) + " out of range");
  Dims y(x.begin(), x.begin() + p.axis);
  y.insert(y.end(), p.indices_dims.begin(), p.indices_dims.end());
  y.insert(y.end(), x.begin() + p.axis + 1, x.end());
  element_count(y, n.name);
  return y;
}

Dims tile_output_dims(const Graph& g, const Node& n) {
  const auto& p = std::get<TileParams>(n.params);
  const Dims& x = in_dims(g, n, 0);
  if (p.repeats.size() < x.size() || p.repeats.size() > kMaxRank)
    bad(n, "repeats must have one value per output dim, at least the input's rank");
  Dims y(p.repeats.size());
  size_t lead = p.repeats.size() - x.size();
  for (size_t i = 0; i < y.size(); ++i) {
    int64_t d = i < lead ? 1 : x[i - lead], r = p.repeats[i];
    if (r < 1 || r > kMaxDim) bad(n, "repeats must be positive");
    if (d > kMaxDim / r) bad(n, "the output dims exceed 2^62");
    y[i] = d * r;
  }
  element_count(y, n.name);
  return y;
}

Dims resize_output_dims(const Graph& g, const Node& n) {
  const auto& p = std::get<ResizeParams>(n.params);
  const Dims& x = in_dims(g, n, 0);
  if (p.sizes.size() != x.size() || p.scales.size() != x.size()) bad(n, "sizes and scales need one value per dim");
  if (p.coordinates == ResizeCoordinates::kTfCropAndResize ? p.roi.size() != 2 * x.size() : !p.roi.empty())
    bad(n, "roi must have 2 values per dim (tf_crop_and_resize only)");
  for (size_t i = 0; i < x.size(); ++i) {
    if (p.sizes[i] < 1) bad(n, "output dims must be positive");
    if (!(p.scales[i] > 0.f) || !std::isfinite(p.scales[i])) bad(n, "scales must be positive and finite");
  }
  for (float r : p.roi)
    if (!std::isfinite(r)) bad(n, "roi must be finite");
  if (!std::isfinite(p.cubic_a) || !std::isfinite(p.extrapolation_value)) bad(n, "non-finite parameters");
  if (p.mode > ResizeMode::kCubic || p.coordinates > ResizeCoordinates::kTfHalfPixelForNn ||
      p.nearest > ResizeNearest::kSimple)
    bad(n, "unknown mode");
  element_count(p.sizes, n.name);
  return p.sizes;
}

Dims conv_transpose_output_dims(const Graph& g, const Node& n) {
  const auto& p = std::get<ConvTransposeParams>(n.params);
  const Dims& x = in_dims(g, n, 0);
  const Dims& w = in_dims(g, n, 1);
  if (x.size() < 3 || x.size() > 5) bad(n, "input must be 3-D to 5-D, got " + dims_to_string(x));
  if (w.size() != x.size()) bad(n, "weight rank differs from input rank");
  size_t sp = x.size() - 2;
  check_window(n, sp, p.kernel, p.strides, p.dilations, p.pads_begin, p.pads_end);
  if (p.output_padding.size() != sp) bad(n, "output_padding needs one value per spatial dim");
  if (p.groups < 1 || x[1] % p.groups != 0 || w[0] != x[1]) bad(n, "channels do not match the weight and groups");
  for (size_t i = 2; i < w.size(); ++i)
    if (w[i] != p.kernel[i - 2]) bad(n, "weight dims do not match kernel_shape");
  Dims y = x;
  if (w[1] > kMaxDim / p.groups) bad(n, "too many output channels");
  y[1] = w[1] * p.groups;
  for (size_t i = 0; i < sp; ++i) {
    int64_t op = p.output_padding[i];
    if (op < 0 || op > kMaxWindowParam * 64) bad(n, "output_padding out of range");
    if (x[i + 2] > kMaxDim / p.strides[i] / 4) bad(n, "the output is absurdly large");
    int64_t full = (x[i + 2] - 1) * p.strides[i] + (p.kernel[i] - 1) * p.dilations[i] + 1 + op;
    y[i + 2] = full - p.pads_begin[i] - p.pads_end[i];
    if (y[i + 2] < 1) bad(n, "pads larger than the output");
  }
  if (n.inputs.size() > 2 && n.inputs[2] != kNoValue && in_dims(g, n, 2) != Dims{y[1]})
    bad(n, "bias must be {" + std::to_string(y[1]) + "}");
  if (n.inputs.size() > 3) bad(n, "too many inputs");
  element_count(y, n.name);
  return y;
}

Dims depth_to_space_output_dims(const Graph& g, const Node& n) {
  const auto& p = std::get<DepthToSpaceParams>(n.params);
  const Dims& x = in_dims(g, n, 0);
  if (x.size() != 4) bad(n, "input must be 4-D");
  if (p.block < 1 || p.block > kMaxWindowParam) bad(n, "blocksize out of range");
  int64_t bb = p.block * p.block;
  if (p.space_to_depth) {
    if (x[2] % p.block != 0 || x[3] % p.block != 0) bad(n, "height and width must be multiples of blocksize");
    if (x[1] > kMaxDim / bb) bad(n, "too many channels");
    return {x[0], x[1] * bb, x[2] / p.block, x[3] / p.block};
  }
  if (x[1] % bb != 0) bad(n, "channels must be a multiple of blocksize^2");
  if (x[2] > kMaxDim / p.block || x[3] > kMaxDim / p.block) bad(n, "the output is absurdly large");
  Dims y{x[0], x[1] / bb, x[2] * p.block, x[3] * p.block};
  element_count(y, n.name);
  return y;
}

Dims where_output_dims(const Graph& g, const Node& n) {
  if (n.inputs.size() != 3) bad(n, "needs a condition, X and Y");
  Dims y = broadcast_dims(in_dims(g, n, 0), in_dims(g, n, 1), n.name);
  return broadcast_dims(y, in_dims(g, n, 2), n.name);
}

Dims reduce_output_dims(const Graph& g, const Node& n) {
  const auto& p = std::get<ReduceParams>(n.params);
  const Dims& x = in_dims(g, n, 0);
  if (p.axes.empty()) bad(n, "no axes to reduce");
  for (size_t i = 0; i < p.axes.size(); ++i)
    if (p.axes[i] < 0 || p.axes[i] >= static_cast<int64_t>(x.size()) || (i > 0 && p.axes[i] <= p.axes[i - 1]))
      bad(n, "axes must be distinct, ascending and within the input's rank " + std::to_string(x.size()));
  Dims y;
  for (size_t i = 0; i < x.size(); ++i) {
    bool reduced = std::find(p.axes.begin(), p.axes.end(), static_cast<int64_t>(i)) != p.axes.end();
    if (!reduced)
      y.push_back(x[i]);
    else if (p.keepdims)
      y.push_back(1);
  }
  return y;
}

Dims prelu_output_dims(const Graph& g, const Node& n) {
  const Dims& x = in_dims(g, n, 0);
  const Dims& slope = in_dims(g, n, 1);
  if (n.inputs.size() != 2) bad(n, "needs X and slope");
  // Unidirectional broadcasting: the slope broadcasts to X, X stays as it is.
  if (slope.size() > x.size() || broadcast_dims(x, slope, n.name) != x)
    bad(n, "slope " + dims_to_string(slope) + " does not broadcast to X " + dims_to_string(x));
  return x;
}

// Checks every input of a Recurrent node against X's T, N, I and the hidden size (see
// RecurrentParams); the output packs Y, Y_h (and Y_c): (T + S) * N * H values.
Dims recurrent_output_dims(const Graph& g, const Node& n) {
  const auto& p = std::get<RecurrentParams>(n.params);
  if (p.cell > kLastRecurrentCell || p.activation > kLastRnnActivation) bad(n, "unknown cell or activation");
  if (p.activation != RnnActivation::kTanh && p.cell != RecurrentCell::kRnn)
    bad(n, "only an RNN cell takes another activation");
  const bool lstm = p.cell == RecurrentCell::kLstm;
  const size_t least = lstm ? 6 : 5, most = lstm ? 7 : 5;
  if (n.inputs.size() < least || n.inputs.size() > most) bad(n, "wrong number of inputs");
  const Dims& x = in_dims(g, n, 0);
  if (x.size() != 3) bad(n, "X must be 3-D");
  const int64_t h = p.hidden_size, steps = p.batch_first ? x[1] : x[0], batch = p.batch_first ? x[0] : x[1];
  if (h < 1 || h > (int64_t{1} << 24)) bad(n, "hidden_size out of range");
  const int64_t gates = recurrent_gates(p.cell);
  auto expect = [&](size_t i, const Dims& want, const char* what) {
    if (in_dims(g, n, i) != want) bad(n, std::string(what) + " must be " + dims_to_string(want));
  };
  expect(1, {gates * h, x[2]}, "W");
  expect(2, {gates * h, h}, "R");
  expect(3, {recurrent_bias_gates(p.cell) * h}, "B");
  element_count(x, n.name);
  const int64_t state = element_count({batch, h}, n.name);
  for (size_t i = 4; i < (lstm ? 6 : 5); ++i)
    if (element_count(in_dims(g, n, i), n.name) != state || in_dims(g, n, i).size() > 3)
      bad(n, "initial states must hold N*H = " + std::to_string(state) + " values");
  if (n.inputs.size() == 7) expect(6, {3 * h}, "P");
  return {element_count({steps + recurrent_states(p.cell), batch, h}, n.name)};
}

// X normalized over its dims [axis, rank); a scale and a bias, each optional, hold one
// value per normalized element, as {D} or as those dims.
Dims layer_norm_output_dims(const Graph& g, const Node& n) {
  const auto& p = std::get<LayerNormParams>(n.params);
  const Dims& x = in_dims(g, n, 0);
  if (n.inputs.size() > 3) bad(n, "too many inputs");
  if (p.axis < 0 || p.axis >= static_cast<int64_t>(x.size())) bad(n, "axis out of range");
  if (!(p.epsilon >= 0.f) || std::isinf(p.epsilon)) bad(n, "epsilon must be finite and not negative");
  Dims normalized(x.begin() + p.axis, x.end());
  const Dims flat{element_count(normalized, n.name)};
  for (size_t i = 1; i < n.inputs.size(); ++i) {
    if (n.inputs[i] == kNoValue) continue;
    const Dims& d = in_dims(g, n, i);
    if (d != flat && d != normalized)
      bad(n, std::string(i == 1 ? "scale" : "bias") + " must be " + dims_to_string(flat) + " or " +
                 dims_to_string(normalized) + ", got " + dims_to_string(d));
  }
  return x;
}

// Each op's shape function (common/ops.def), indexed by OpKind. Callers check first that
// the node's params are its op's (check_op_params), so the functions may std::get them.
using ShapeFunction = Dims (*)(const Graph&, const Node&);
constexpr ShapeFunction kShapeFunctions[] = {
#define TEEINFER_OP(kind, name, Params, shape_function, ...) &shape_function,
#include "common/ops.def"
};
static_assert(std::size(kShapeFunctions) == kOpCount);

}  // namespace

void check_window_params(const std::string& where, size_t spatial, const Dims& kernel, const Dims& strides,
                         const Dims& dilations, const Dims& pads_begin, const Dims& pads_end) {
  auto check = [&](const Dims& values, const char* name, int64_t lowest, size_t count) {
    if (values.size() != count)
      throw Error(ErrorCode::kBadModel, where + ": " + name + " has " + std::to_string(values.size()) + " values for " +
                                            std::to_string(spatial) + " spatial dims");
    for (size_t i = 0; i < values.size(); ++i)
      if (values[i] < lowest || values[i] > kMaxWindowParam)
        throw Error(ErrorCode::kBadModel, where + ": " + name + "[" + std::to_string(i) +
                                              "] = " + std::to_string(values[i]) + " is out of range (" +
                                              std::to_string(lowest) + " to 2^20)");
  };
  check(kernel, "kernel_shape", 1, spatial);
  check(strides, "strides", 1, spatial);
  check(dilations, "dilations", 1, spatial);
  if (!pads_begin.empty() || !pads_end.empty()) {
    check(pads_begin, "pads (begin)", 0, spatial);
    check(pads_end, "pads (end)", 0, spatial);
  }
}

int64_t window_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t dilation, int64_t pad_begin,
                           int64_t pad_end) {
  int64_t span = (kernel - 1) * dilation + 1;
  int64_t padded = in + pad_begin + pad_end;
  if (padded < span) return 0;
  return (padded - span) / stride + 1;
}

Dims broadcast_dims(const Dims& a, const Dims& b, const std::string& what) {
  size_t r = std::max(a.size(), b.size());
  Dims y(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1)
      throw Error(ErrorCode::kBadModel,
                  "'" + what + "': shapes " + dims_to_string(a) + " and " + dims_to_string(b) + " do not broadcast");
    y[i] = da == 1 ? db : da;
  }
  return y;
}

Dims infer_output_dims(const Graph& g, const Node& n) {
  check_op_params(n);
  return kShapeFunctions[static_cast<size_t>(n.op)](g, n);
}

}  // namespace teeinfer
