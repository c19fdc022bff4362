// teeinfer's graph IR: what the ONNX importer produces, the packer seals, and the
// enclave executes.
//
// A Graph is a list of Values (tensors with a dtype and concrete dims; weights carry
// their bytes) and a topologically ordered list of Nodes. Shapes are always concrete:
// a model is instantiated for one input shape at import, because the planner must know
// every buffer's size to keep a budget. Node parameters are typed structs, one per op
// (no integer-keyed attributes). common/ops.def lists the ops.
//
//   Graph g = load_onnx_model("m.onnx", {{"input", {1, 3, 224, 224}}});  // host/model_loader.h
//   for (const Node& n : g.nodes) std::cout << op_name(n.op) << " " << n.name << "\n";
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "common/eltwise_ops.h"
#include "common/tensor.h"

namespace teeinfer {

using ValueId = int32_t;
constexpr ValueId kNoValue = -1;

struct Value {
  std::string name;
  DType dtype = DType::kF32;
  Dims dims;
  bool is_constant = false;
  std::vector<uint8_t> data;  // the bytes of a constant (row-major); empty otherwise
};

// The IR's ops, one per line of common/ops.def (its order is the sealed manifest's op
// numbering). Each node's inputs:
//   Conv       X, W, [B], [residual if fused_sum]
//   Gemm       A, B, [C]
//   MatMul     A, B
//   BatchNorm  X, scale, bias, mean, var
//   Eltwise    X (EltwiseParams: common/eltwise_ops.h)
//   Binary     A, B (numpy broadcasting)
//   Pool       X (MaxPool, AveragePool, GlobalAveragePool)
//   Reshape    X (Reshape, Flatten, Squeeze, Unsqueeze): output dims say it all (of int64 indices: int64)
//   Transpose  X
//   Concat     X0..Xn [, scale, shift if fused_batchnorm]
//   Softmax    X
//   LRN        X
//   Pad        X (constant, reflect or edge mode)
//   Cast       X (any dtype; with Reshape of ArgMaxMin's indices, the only ops reading a non-float32 runtime tensor)
//   Slice      X (Slice, Split: one node per output)
//   Gather     X (the indices are constants, in the params)
//   Tile       X (Tile, Expand)
//   Resize     X (Resize, Upsample; scales/sizes/roi are constants, in the params)
//   ConvTranspose  X, W (C_in x C_out/groups x kernel, a constant), [B]
//   DepthToSpace   X (DepthToSpace, SpaceToDepth; 4-D)
//   Where      C, X, Y (numpy broadcasting; C a float32 constant of 0 and 1, from a bool one)
//   Reduce     X
//   PRelu      X, slope (unidirectional broadcasting to X)
//   Recurrent  X, W, R, B, initial_h [, initial_c [, P]] (LSTM: initial_c always, P for peepholes)
//   LayerNorm  X, [scale], [bias] (constants of {D}, D the element count of X's dims [axis, rank))
//   ArgMaxMin  X (writes int64 indices: the one op whose output is not float32, see node_output_dtype)
//   LogSoftmax X
enum class OpKind : uint8_t {
#define TEEINFER_OP(kind, ...) kind,
#include "common/ops.def"
};

inline constexpr size_t kOpCount = 0
#define TEEINFER_OP(...) +1
#include "common/ops.def"
    ;

// Activations fused into the producing Conv/Gemm/MatMul, applied in order.
using PostOps = std::vector<EltwiseParams>;

// Int8 weights (`pack --quantize`): the node's weight (Conv W, Gemm B read as transB) is
// int8, w ≈ q * weight_scales[output channel]. With input_scale > 0 the node also reads its
// input as u8 (x ≈ q * input_scale, from calibration; the input is never negative) and
// computes in int8 ("full int8"); otherwise the weight is dequantized and the node
// computes in fp32 ("weight-only"). The scales live in the manifest, not in tensors,
// because oneDNN's int8 kernels take them when the primitive is created.
struct Int8Weights {
  std::vector<float> weight_scales;  // one per output channel; empty: fp32 weights
  float input_scale = 0.f;           // 0: weight-only
  bool active() const { return !weight_scales.empty(); }
  bool full() const { return active() && input_scale > 0.f; }
};

struct ConvParams {
  Dims kernel, strides, dilations, pads_begin, pads_end;  // spatial only
  int64_t groups = 1;
  // A residual Add fused in: inputs[3] is added to conv+bias, before post_ops.
  bool fused_sum = false;
  PostOps post_ops;
  Int8Weights int8;
};

struct GemmParams {
  float alpha = 1.f, beta = 1.f;
  bool trans_a = false, trans_b = false;
  // inputs[2] already holds (beta/alpha)*C (a constant, scaled at pack time), so the
  // kernel can add it as a bias before its alpha output scale.
  bool c_prescaled = false;
  PostOps post_ops;
  Int8Weights int8;
};

struct MatMulParams {
  PostOps post_ops;
};

struct BatchNormParams {
  float epsilon = 1e-5f;
  bool fused_relu = false;  // a following Relu, applied by the same kernel
};

// Max, Min: ONNX Max/Min (two operands each; variadic ones become chains), Clip with bounds
// computed at run time. Pow: ONNX Pow with an exponent that is not a constant scalar (a
// constant scalar exponent is the element-wise function kPow).
// The comparisons compute 1.0 where true and 0.0 where false: a runtime bool tensor is a
// float32 mask (ONNX Equal/Greater/... on runtime tensors, then Cast to float or Mul).
enum class BinaryKind : uint8_t {
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMax,
  kMin,
  kPow,
  kEqual,
  kGreater,
  kGreaterOrEqual,
  kLess,
  kLessOrEqual
};
inline constexpr BinaryKind kLastBinaryKind = BinaryKind::kLessOrEqual;
struct BinaryParams {
  BinaryKind kind = BinaryKind::kAdd;
};

enum class PoolKind : uint8_t { kMax, kAverage };
struct PoolParams {
  PoolKind kind = PoolKind::kMax;
  Dims kernel, strides, dilations, pads_begin, pads_end;  // pads_end includes ceil_mode's extra
  bool count_include_pad = false;
  // Average pooling with ceil_mode: the extra end padding is never counted, even with
  // count_include_pad (ONNX/PyTorch semantics). Holds the pads as declared.
  Dims declared_pads_end;
};

struct TransposeParams {
  Dims perm;
};

struct ConcatParams {
  int64_t axis = 0;  // non-negative
  // A BatchNorm (and Relu) reading only this Concat, fused in: the last two inputs are
  // per-channel scale s and shift t (folded from the BatchNorm at pack time); the kernel
  // writes relu?(x*s + t) while concatenating.
  bool fused_batchnorm = false;
  bool fused_relu = false;
};

struct SoftmaxParams {
  int64_t axis = 1;        // non-negative
  bool coerce_2d = false;  // opset < 13: softmax over the flattened dims [axis, rank)
};

struct LrnParams {
  float alpha = 1e-4f, beta = 0.75f, bias = 1.f;
  int64_t size = 1;
};

enum class PadMode : uint8_t { kConstant, kReflect, kEdge };
struct PadParams {
  Dims pads_begin, pads_end;  // one per dim, non-negative
  float value = 0.f;          // constant mode only
  PadMode mode = PadMode::kConstant;
};

// y[i] = x[starts + i * steps] along every dim (steps non-zero, negative steps walk back);
// sizes are the output dims. Every index read lies inside x.
struct SliceParams {
  Dims starts, steps, sizes;  // one per dim
};

// y = x with dim `axis` replaced by the dims of a constant index tensor (indices_dims,
// row-major `indices`, each in [0, x.dims[axis])).
struct GatherParams {
  int64_t axis = 0;  // non-negative
  Dims indices_dims;
  std::vector<int64_t> indices;
};

// y[i] = x[i mod x.dims] per dim, x's dims left-padded with 1s to y's rank: y's dim k is
// x's (padded) dim k times repeats[k]. Expand is the case where repeated dims are 1.
struct TileParams {
  Dims repeats;  // one per output dim, >= 1
};

enum class ResizeMode : uint8_t { kNearest, kLinear, kCubic };
enum class ResizeCoordinates : uint8_t {
  kHalfPixel,
  kHalfPixelSymmetric,
  kPytorchHalfPixel,
  kAlignCorners,
  kAsymmetric,
  kTfCropAndResize,
  kTfHalfPixelForNn,
};
// kSimple: Resize/Upsample before opset 11 (floor when upsampling a dim, ceil when downsampling).
enum class ResizeNearest : uint8_t { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil, kSimple };
// ONNX Resize (and Upsample) of every dim: output dims `sizes`, coordinates mapped back with
// `scales` (one per dim: the scale of the coordinate transformation, not always
// sizes/input) and `roi` (2 per dim, starts then ends; tf_crop_and_resize only).
struct ResizeParams {
  ResizeMode mode = ResizeMode::kNearest;
  ResizeCoordinates coordinates = ResizeCoordinates::kHalfPixel;
  ResizeNearest nearest = ResizeNearest::kRoundPreferFloor;
  float cubic_a = -0.75f;
  bool exclude_outside = false;
  float extrapolation_value = 0.f;
  std::vector<float> scales, roi;
  Dims sizes;
};

// ONNX DepthToSpace (DCR or CRD order) and, with space_to_depth, SpaceToDepth, of a 4-D
// tensor with blocks of block x block.
struct DepthToSpaceParams {
  int64_t block = 1;
  bool crd = false;  // DepthToSpace's mode CRD (default DCR)
  bool space_to_depth = false;
};

// ONNX Where with a constant condition: y = C != 0 ? X : Y.
struct WhereParams {};

// ONNX ConvTranspose (a oneDNN deconvolution): y dim = (x - 1) * stride + (kernel - 1) *
// dilation + 1 - pads_begin - pads_end + output_padding, per spatial dim.
struct ConvTransposeParams {
  Dims kernel, strides, dilations, pads_begin, pads_end, output_padding;  // spatial only
  int64_t groups = 1;
};

struct ReshapeParams {};  // the output's dims are the new shape

// ONNX ReduceSum/Mean/Max/Min/Prod/L1/L2/SumSquare/LogSum/LogSumExp over `axes`.
enum class ReduceKind : uint8_t { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kSumSquare, kLogSum, kLogSumExp };
inline constexpr ReduceKind kLastReduceKind = ReduceKind::kLogSumExp;
struct ReduceParams {
  ReduceKind kind = ReduceKind::kSum;
  Dims axes;  // non-negative, ascending, distinct, not empty
  bool keepdims = true;
};

// y = x >= 0 ? x : slope * x, slope broadcast to x (ONNX PRelu).
struct PReluParams {};

// y = (x - mean) / sqrt(var + epsilon) * scale + bias, mean and var over the dims
// [axis, rank) of each index of the dims before (ONNX LayerNormalization's Y).
struct LayerNormParams {
  float epsilon = 1e-5f;
  int64_t axis = 0;  // non-negative: the first normalized dim
};

// An integer or bool tensor (a graph input: token ids, a sample rate; ArgMaxMin's indices)
// converted to float32, the only type the kernels compute in; float32 in is a copy.
struct CastParams {};

// ONNX RNN, GRU and LSTM: one direction of one layer over the whole sequence (a
// bidirectional ONNX node becomes two nodes and a Concat). Gates are in oneDNN's order, set
// at import: LSTM i,f,c,o (ONNX: i,o,f,c), GRU u(=z),r,h (ONNX's order). Inputs, H =
// hidden_size, G gates (RNN 1, GRU 3, LSTM 4), T steps, N the batch, I input features:
//   X [T,N,I] ([N,T,I] when batch_first); W [G*H, I]; R [G*H, H]; B [Gb*H] with the
//   input and recurrence biases summed (Gb = G, except GRU with linear_before_reset: 4,
//   the recurrence bias of h apart); initial_h and initial_c N*H values (ONNX's [1,N,H] or
//   [N,1,H]); P [3*H] LSTM peepholes in the order i,f,o.
// The output packs every ONNX output in one tensor of (T + S)*N*H values, S = 2 for LSTM
// (Y_h, Y_c), 1 otherwise (Y_h): first Y, [T,N,H] ([N,T,H] when batch_first), then Y_h
// [N,H], then Y_c [N,H]; the importer slices the outputs the model uses from it.
enum class RecurrentCell : uint8_t { kRnn, kGru, kGruLinearBeforeReset, kLstm };
inline constexpr RecurrentCell kLastRecurrentCell = RecurrentCell::kLstm;
enum class RnnActivation : uint8_t { kTanh, kRelu, kSigmoid };  // kRnn's only
inline constexpr RnnActivation kLastRnnActivation = RnnActivation::kSigmoid;
struct RecurrentParams {
  RecurrentCell cell = RecurrentCell::kLstm;
  RnnActivation activation = RnnActivation::kTanh;
  int64_t hidden_size = 1;
  bool reverse = false;
  bool batch_first = false;
};
int64_t recurrent_gates(RecurrentCell cell);       // G
int64_t recurrent_bias_gates(RecurrentCell cell);  // Gb
int64_t recurrent_states(RecurrentCell cell);      // S

// ONNX ArgMax and ArgMin: the index (int64, as ONNX types it) of the largest (smallest)
// element along `axis`. A NaN wins over every number, the first NaN along the axis (the
// last with select_last_index), as numpy's argmax/argmin and ONNX's reference compute it.
enum class ArgKind : uint8_t { kMax, kMin };
struct ArgMaxMinParams {
  ArgKind kind = ArgKind::kMax;
  int64_t axis = 0;  // non-negative
  bool keepdims = true;
  bool select_last_index = false;  // ties (and NaNs): the last index instead of the first
};

// ONNX LogSoftmax: log(softmax(x)), with Softmax's axis semantics (opset < 13: over the
// flattened dims [axis, rank)). Its own struct because OpParams holds one per op.
struct LogSoftmaxParams : SoftmaxParams {};

namespace detail {
template <class Skipped, class... Params>
using VariantOfRest = std::variant<Params...>;
}  // namespace detail

// One parameter struct per op, in common/ops.def's order: params.index() is the op.
using OpParams = detail::VariantOfRest<void
#define TEEINFER_OP(kind, name, Params, ...) , Params
#include "common/ops.def"
                                       >;
static_assert(std::variant_size_v<OpParams> == kOpCount);

// The op whose parameters `p` holds.
inline OpKind op_of(const OpParams& p) {
  return static_cast<OpKind>(p.index());
}

struct Node {
  std::string name;
  std::string onnx_op;  // the ONNX op type it came from, for messages
  OpKind op = OpKind::kEltwise;
  std::vector<ValueId> inputs;  // kNoValue for an absent optional input
  std::vector<ValueId> outputs;
  OpParams params = EltwiseParams{};  // op's own struct (check_op_params)
};

struct Graph {
  std::string name;
  std::vector<Value> values;
  std::vector<Node> nodes;  // topological order
  std::vector<ValueId> inputs;
  std::vector<ValueId> outputs;

  ValueId add_value(Value v);
  const Value& value(ValueId id) const { return values.at(static_cast<size_t>(id)); }
  Value& value(ValueId id) { return values.at(static_cast<size_t>(id)); }
  // Number of nodes reading each value (graph outputs count as a reader).
  std::vector<int> use_counts() const;
};

const char* op_name(OpKind op);  // "?" outside OpKind

// The dtype node `n` writes: float32, the one type the kernels compute in, except ArgMaxMin
// (int64 indices, as ONNX types them) and a Reshape of an int64 tensor (a view of it).
// Only Cast (any dtype) and Reshape (int64) read a runtime tensor that is not float32.
DType node_output_dtype(const Graph& g, const Node& n);

// Throws Error(kBadModel) naming the node when its op is outside OpKind or its params are
// another op's struct (a graph built in memory can disagree with itself).
void check_op_params(const Node& n);

// The int8 parameters of a Conv or Gemm node (nullptr for other ops or fp32 weights).
const Int8Weights* int8_weights_of(const Node& n);
// The int8 parameters a Conv or Gemm node carries, active or not (nullptr for other ops):
// where the packer sets them.
Int8Weights* int8_params_of(Node& n);

// Checks that the graph is well formed: every node's op and params agree
// (check_op_params), ids in range, topological order, every node's output dims equal to
// what its inputs and parameters imply. Throws Error(kBadModel) naming the node. The
// enclave calls it on every graph it is handed.
// `constant_bytes_present` = false for a sealed manifest's graph, whose constants' bytes
// are loaded later (then only their dims are checked).
void validate_graph(const Graph& g, bool constant_bytes_present = true);

}  // namespace teeinfer
