#include "op_harness/strategies.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>

#include "common/eltwise_ops.h"
#include "common/error.h"
#include "common/sealed_format.h"
#include "enclave/budget_planner.h"
#include "enclave/cpu_adaptation.h"
#include "enclave/enclave_session.h"
#include "enclave/lowering/conv_algorithm.h"
#include "enclave/sealed_model.h"
#include "host/file_io.h"
#include "host/memory_host.h"
#include "host/packer.h"
#include "host/quantize_weights.h"
#include "op_harness/describe.h"
#include "op_harness/generators.h"
#include "op_harness/reference.h"
#include "tee/none/native_platform.h"

namespace teeinfer::op_harness {

const char* strategy_name(Strategy s) {
  switch (s) {
    case Strategy::kResident:
      return "resident";
    case Strategy::kStreamed:
      return "streamed";
    case Strategy::kWindows:
      return "windows";
    case Strategy::kBands:
      return "bands";
    case Strategy::kFused:
      return "fused";
    case Strategy::kSpill:
      return "spill";
    case Strategy::kInt8Weights:
      return "int8weights";
    case Strategy::kInt8Full:
      return "int8full";
    case Strategy::kSealed:
      return "sealed";
    case Strategy::kSealedStreamed:
      return "sealedstreamed";
    case Strategy::kUnmodified:
      return "unmodified";
    case Strategy::kWinograd:
      return "winograd";
  }
  return "?";
}

namespace {

// Ops that read constants the planner may stream (Binary and Concat: when one is constant).
bool reads_constants(OpKind op) {
  switch (op) {
    case OpKind::kConv:
    case OpKind::kGemm:
    case OpKind::kMatMul:
    case OpKind::kBatchNorm:
    case OpKind::kBinary:
    case OpKind::kConcat:
    case OpKind::kConvTranspose:
    case OpKind::kWhere:
    case OpKind::kPRelu:
    case OpKind::kRecurrent:
    case OpKind::kLayerNorm:
      return true;
    case OpKind::kEltwise:
    case OpKind::kPool:
    case OpKind::kReshape:
    case OpKind::kTranspose:
    case OpKind::kSoftmax:
    case OpKind::kLrn:
    case OpKind::kPad:
    case OpKind::kCast:
    case OpKind::kSlice:
    case OpKind::kGather:
    case OpKind::kTile:
    case OpKind::kResize:
    case OpKind::kDepthToSpace:
    case OpKind::kReduce:
    case OpKind::kArgMaxMin:
    case OpKind::kLogSoftmax:
      return false;
  }
  return false;
}

bool is_window_op(OpKind op) {
  return op == OpKind::kConv || op == OpKind::kPool;
}

}  // namespace

std::string unavailable_on_this_cpu(Strategy s) {
  if (s == Strategy::kInt8Full && !int8_products_exact())
    return "this CPU has no VNNI: oneDNN's u8 x s8 kernels saturate, so full-int8 nodes compute weight-only here "
           "(enclave/cpu_adaptation.h)";
  if (s == Strategy::kWinograd && !winograd_kernels_exist())
    return "oneDNN 2.6 has no Winograd kernel for this CPU (its Winograd kernels are AVX-512 only)";
  return "";
}

std::string not_applicable(const OpVariant& v, Strategy s) {
  const bool conv = v.op == OpKind::kConv, gemm = v.op == OpKind::kGemm;
  switch (s) {
    case Strategy::kResident:
    case Strategy::kSealed:
    case Strategy::kUnmodified:
      return "";
    case Strategy::kStreamed:
    case Strategy::kSealedStreamed:
      return reads_constants(v.op) ? "" : "no constant inputs: nothing to stream";
    case Strategy::kWindows:
      if (conv || gemm) return "";
      return v.op == OpKind::kMatMul ? "MatMul streams its constant B whole (only Gemm with transB has row windows)"
                                     : "no weight matrix: only Conv (output-channel tiles) and Gemm (row windows)";
    case Strategy::kBands:
      if (conv) return "";
      return v.op == OpKind::kPool ? "a Pool runs in bands only in fused chains and next to spills (see fused, spill)"
                                   : "only Conv computes in bands of output rows on its own";
    case Strategy::kFused:
      return is_window_op(v.op) ? "" : "only Conv and Pool run in fused chains of row bands";
    case Strategy::kSpill:
      if (is_window_op(v.op) || v.op == OpKind::kConcat || v.op == OpKind::kResize) return "";
      if (v.op == OpKind::kBinary)
        return v.binary == BinaryKind::kPow ? "Pow has no oneDNN binary algorithm: it runs whole" : "";
      if (v.op == OpKind::kEltwise)
        return eltwise_fusible(v.eltwise) ? ""
                                          : "a hand-written element-wise function runs whole over the plain tensor";
      return "only Conv, Pool, Concat, Binary, Resize and oneDNN's element-wise functions run in row bands next to "
             "spilled activations";
    case Strategy::kInt8Weights:
      return conv || gemm ? "" : "int8 weights exist for Conv and fully-connected Gemm only (pack --quantize)";
    case Strategy::kInt8Full:
      if (!conv && !gemm) return "int8 weights exist for Conv and fully-connected Gemm only (pack --quantize)";
      return unavailable_on_this_cpu(s);
    case Strategy::kWinograd:
      if (!conv) return "only a 3x3 stride-1 Conv has a Winograd kernel";
      return unavailable_on_this_cpu(s);
  }
  return "unknown strategy";
}

CaseNeeds needs_of(const OpVariant& v, Strategy s) {
  CaseNeeds n;
  switch (s) {
    case Strategy::kResident:
    case Strategy::kSealed:
      break;
    case Strategy::kStreamed:
      n.large_constant = true;
      break;
    case Strategy::kSealedStreamed:  // tiles and windows for Conv and Gemm, whole constants for the rest
      n.large_weights = v.op == OpKind::kConv || v.op == OpKind::kGemm;
      n.large_constant = !n.large_weights;
      break;
    case Strategy::kWindows:
      n.large_weights = true;
      break;
    case Strategy::kBands:
      n.two_rows = true;  // padding-only rows are a case too (their bands merge)
      break;
    case Strategy::kFused:
      n.four_d = n.single_image = n.two_rows = n.no_padding_only = n.no_residual = true;
      break;
    case Strategy::kSpill:
      n.four_d = n.two_rows = n.no_padding_only = true;
      break;
    case Strategy::kInt8Weights:
      n.int8 = true;
      break;
    case Strategy::kInt8Full:
      n.int8 = n.nonnegative_input = true;
      break;
    case Strategy::kUnmodified:
      n.max_spatial = 2;  // its im2col convolution is 1-D and 2-D only
      break;
    case Strategy::kWinograd:
      n.four_d = n.winograd = true;
      break;
  }
  return n;
}

namespace {

// Of the largest magnitude the reference computed (RefTensor::scale, at least 1e-2).
constexpr double kFp32Tolerance = 1e-5;
// Full int8: the reference rounds activations to u8 as the engine does; what is left is
// float32 rounding of the scales and, rarely, a tie rounded the other way (one u8 step).
constexpr double kInt8Tolerance = 1e-3;
// Winograd transforms the input and weights into another basis and back: float32 rounding
// there is about ten times that of a direct convolution (F(4,3)'s transform has entries up to 8).
constexpr double kWinogradTolerance = 1e-4;

uint32_t name_hash(const std::string& s) {
  uint32_t h = 2166136261u;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 16777619u;
  return h;
}

// ---- Graph context around the node under test --------------------------------------------

enum class Identity { kMaxPool, kConv };

Dims ones(size_t n, int64_t v = 1) {
  return Dims(n, v);
}

// A node computing x exactly: MaxPool 1x1 stride 1, or a 1x1 Conv with an identity
// weight (x * 1 + 0 * others). Its output is a new value.
Node identity_node(Graph& g, ValueId x, Identity kind, const std::string& name) {
  const Dims dims = g.value(x).dims;
  const size_t spatial = dims.size() - 2;
  Node n;
  n.name = name;
  n.inputs = {x};
  if (kind == Identity::kMaxPool) {
    n.op = OpKind::kPool;
    n.onnx_op = "MaxPool";
    PoolParams p;
    p.kernel = p.strides = p.dilations = ones(spatial);
    p.pads_begin = p.pads_end = p.declared_pads_end = ones(spatial, 0);
    n.params = p;
  } else {
    n.op = OpKind::kConv;
    n.onnx_op = "Conv";
    ConvParams p;
    p.kernel = p.strides = p.dilations = ones(spatial);
    p.pads_begin = p.pads_end = ones(spatial, 0);
    n.params = p;
    const int64_t c = dims[1];
    Value w{name + ".w", DType::kF32, {c, c}, true, {}};
    w.dims.insert(w.dims.end(), spatial, 1);
    std::vector<float> eye(static_cast<size_t>(c * c), 0.f);
    for (int64_t i = 0; i < c; ++i) eye[static_cast<size_t>(i * c + i)] = 1.f;
    w.data.assign(reinterpret_cast<const uint8_t*>(eye.data()),
                  reinterpret_cast<const uint8_t*>(eye.data() + eye.size()));
    n.inputs.push_back(g.add_value(std::move(w)));
  }
  n.outputs = {g.add_value({name + ".y", DType::kF32, dims, false, {}})};
  return n;
}

// The node under test reads input `slot` through an identity node placed first.
void identity_before(OpCase& c, size_t slot, Identity kind) {
  Graph& g = c.graph;
  ValueId x = g.nodes[c.node].inputs[slot];
  Node id = identity_node(g, x, kind, "identity_before_in" + std::to_string(slot));
  g.nodes[c.node].inputs[slot] = id.outputs[0];
  g.nodes.insert(g.nodes.begin(), std::move(id));
  ++c.node;
}

// The graph's output is the node's output through an identity node placed last.
void identity_after(OpCase& c, Identity kind) {
  Graph& g = c.graph;
  ValueId y = g.nodes[c.node].outputs[0];
  g.nodes.push_back(identity_node(g, y, kind, "identity_after"));
  std::replace(g.outputs.begin(), g.outputs.end(), y, g.nodes.back().outputs[0]);
}

// After the node: a Pad of its output into a second graph output much larger than every
// other buffer. Its step then sets the arena, and a constant the node alone reads only
// costs memory there when resident: a budget one byte below resident streams it.
void add_memory_hog(OpCase& c) {
  Graph& g = c.graph;
  ValueId y = g.nodes[c.node].outputs[0];
  size_t others = 0;
  for (const Value& v : g.values) others += byte_size(DType::kF32, v.dims, v.name);
  if (g.value(y).dims.empty()) {  // a scalar: Pad needs a dim
    Node r;
    r.name = "hog_reshape";
    r.onnx_op = "Reshape";
    r.op = OpKind::kReshape;
    r.inputs = {y};
    r.outputs = {g.add_value({"hog_reshape.y", DType::kF32, {1}, false, {}})};
    g.nodes.push_back(r);
    y = r.outputs[0];
  }
  const Dims d = g.value(y).dims;
  int64_t rows = element_count(d, "hog") / d.back();
  int64_t want = static_cast<int64_t>(4 * others / sizeof(float)) / rows + 1;
  PadParams p;
  p.pads_begin = p.pads_end = ones(d.size(), 0);
  p.pads_end.back() = std::max<int64_t>(want - d.back(), 1);
  Node pad;
  pad.name = "memory_hog";
  pad.onnx_op = "Pad";
  pad.op = OpKind::kPad;
  pad.params = p;
  pad.inputs = {y};
  Dims out = d;
  out.back() += p.pads_end.back();
  pad.outputs = {g.add_value({"memory_hog.y", DType::kF32, out, false, {}})};
  g.nodes.push_back(pad);
  g.outputs.push_back(pad.outputs[0]);
}

// Whether the node reads its first input as an activation of rank 3-5 (a channels-last
// producer can feed it).
bool takes_activation(const OpCase& c) {
  const Node& n = c.graph.nodes[c.node];
  size_t rank = c.graph.value(n.inputs[0]).dims.size();
  bool is_input = std::find(c.graph.inputs.begin(), c.graph.inputs.end(), n.inputs[0]) != c.graph.inputs.end();
  return is_input && rank >= 3 && rank <= 5 && c.graph.value(n.inputs[0]).dtype == DType::kF32;
}

// ---- Running --------------------------------------------------------------------------------

// Whole-number values as the bytes of an integer or bool tensor.
std::vector<uint8_t> as_dtype(const std::vector<float>& values, DType t) {
  std::vector<uint8_t> out(values.size() * dtype_size(t));
  for (size_t i = 0; i < values.size(); ++i) {
    auto put = [&](auto v) { std::memcpy(out.data() + i * sizeof(v), &v, sizeof(v)); };
    switch (t) {
      case DType::kI64:
        put(static_cast<int64_t>(values[i]));
        break;
      case DType::kI32:
        put(static_cast<int32_t>(values[i]));
        break;
      case DType::kU8:
      case DType::kBool:
        put(static_cast<uint8_t>(values[i]));
        break;
      case DType::kS8:
        put(static_cast<int8_t>(values[i]));
        break;
      case DType::kF32:
        put(values[i]);
        break;
    }
  }
  return out;
}

struct Prepared {
  OpCase c;
  EnclaveOptions options;
  bool below_resident = false;  // budget: the resident plan's arena - 1 (sealed: the minimum)
  bool sealed = false;
  uint64_t chunk_bytes = kDefaultChunkBytes;
  int quantized = 0;  // nodes quantize_weights made int8
  std::string notes;  // the strategy's own parameters
};

class FixedKey : public KeyProvider {
 public:
  explicit FixedKey(const AesKey& k) : key_(k) {}
  bool key_encryption_key(const KeyId& id, Key& out) noexcept override {
    if (kek_id_of(key_) != id) return false;
    out = key_;
    return true;
  }

 private:
  AesKey key_;
};

AesKey harness_key() {
  AesKey k{};
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(0x5a ^ (i * 7));
  return k;
}

// The sealed file of `g`, in memory (the packer writes a file; it is read back and removed).
std::string sealed_bytes(const Graph& g, uint64_t chunk_bytes) {
  static int counter = 0;
  std::string path = std::string(TEEINFER_BINARY_DIR) + "/tests/op_harness_" + std::to_string(::getpid()) + "_" +
                     std::to_string(counter++) + ".tee";
  SealOptions o;
  o.chunk_bytes = chunk_bytes;
  pack_model(g, harness_key(), path, o);
  std::string bytes = read_file(path);
  std::remove(path.c_str());
  return bytes;
}

std::string describe_options(const EnclaveOptions& o) {
  std::ostringstream s;
  s << "mode " << execution_mode_name(o.mode) << ", budget " << o.budget_bytes;
  if (o.prefetch_weights) s << ", prefetch";
  for (auto [node, rows] : o.conv_band_rows) s << ", node " << node << " in bands of " << rows << " rows";
  for (auto [first, range] : o.fused_bands)
    s << ", nodes " << first << ".." << range.first << " fused in bands of " << range.second << " rows";
  if (!o.spilled_activations.empty()) {
    s << ", spilled";
    for (const auto& name : o.spilled_activations) s << " " << name;
    s << " (bands of ~" << o.spill_band_bytes << " bytes)";
  }
  if (o.reorder_slice_bytes != (size_t{1} << 20)) s << ", reorder slices of " << o.reorder_slice_bytes << " bytes";
  return s.str();
}

Prepared prepare(const OpVariant& v, Strategy s, OpCase c, std::mt19937& rng) {
  Prepared p{std::move(c), {}, false, false, kDefaultChunkBytes, 0, ""};
  OpCase& k = p.c;
  const Node& node = k.graph.nodes[k.node];
  const Dims out = k.graph.value(node.outputs[0]).dims;
  auto rows_below = [&](int64_t height) { return pick(rng, 1, std::max<int64_t>(height - 1, 1)); };
  switch (s) {
    case Strategy::kResident:
    case Strategy::kSealed:
      if (takes_activation(k) && chance(rng, 0.3)) {
        identity_before(k, 0, Identity::kMaxPool);  // the input arrives channels-last
        p.notes += "input from a channels-last MaxPool 1x1; ";
      }
      break;
    case Strategy::kStreamed:
      add_memory_hog(k);
      break;
    case Strategy::kWindows:
      break;
    case Strategy::kSealedStreamed:
      if (v.op != OpKind::kConv && v.op != OpKind::kGemm) add_memory_hog(k);
      break;
    case Strategy::kBands:
      p.options.conv_band_rows = {{k.node, rows_below(out[2])}};
      break;
    case Strategy::kFused: {
      // A chain around the node: Conv -> MaxPool 1x1, 1x1 Conv -> Conv (-> MaxPool), or
      // 1x1 Conv -> Pool (a pool ends a chain).
      int shape = v.op == OpKind::kPool ? 1 : static_cast<int>(pick(rng, 0, 2));
      if (shape >= 1) identity_before(k, 0, Identity::kConv);
      if (shape != 1) identity_after(k, Identity::kMaxPool);
      size_t first = shape >= 1 ? k.node - 1 : k.node, last = shape != 1 ? k.node + 1 : k.node;
      p.options.fused_bands = {{first, {last, rows_below(out[2])}}};
      break;
    }
    case Strategy::kSpill: {
      // Identity MaxPools make the node's input and output activations (and a fused
      // residual, sometimes) that only banded readers read: spillable.
      std::vector<std::string> spilled;
      bool residual = v.op == OpKind::kConv && std::get<ConvParams>(node.params).fused_sum && chance(rng, 0.5);
      // Concat and Binary read every input in bands: each comes through its own identity.
      const size_t banded_inputs = is_window_op(v.op) || v.op == OpKind::kResize ? 1 : node.inputs.size();
      if (residual) identity_before(k, 3, Identity::kMaxPool);
      for (size_t i = 1; i < banded_inputs; ++i) identity_before(k, i, Identity::kMaxPool);
      identity_before(k, 0, Identity::kMaxPool);
      identity_after(k, Identity::kMaxPool);
      const Node& n = k.graph.nodes[k.node];
      for (size_t i = 1; i < banded_inputs; ++i) spilled.push_back(k.graph.value(n.inputs[i]).name);
      spilled.push_back(k.graph.value(n.inputs[0]).name);
      spilled.push_back(k.graph.value(n.outputs[0]).name);
      if (residual) spilled.push_back(k.graph.value(n.inputs[3]).name);
      p.options.spilled_activations = spilled;
      p.options.spill_band_bytes = static_cast<size_t>(pick(rng, 1, 4096));
      break;
    }
    case Strategy::kInt8Weights:
    case Strategy::kInt8Full: {
      p.quantized = quantize_weights(k.graph, QuantizeTarget::kAll).total();
      if (s == Strategy::kInt8Full) {
        const std::vector<float>& x = k.inputs[0];  // the node's first input is graph input 0
        auto [lo, hi] = std::minmax_element(x.begin(), x.end());
        p.quantized = set_input_scales(k.graph, {{k.graph.inputs[0], ValueRange{*lo, *hi}}});
      }
      break;
    }
    case Strategy::kUnmodified:
      p.options.mode = ExecutionMode::kUnmodified;
      break;
    case Strategy::kWinograd:
      p.options.winograd = WinogradPolicy::kWherePossible;
      break;
  }
  if (s == Strategy::kStreamed || s == Strategy::kWindows || s == Strategy::kSealedStreamed) {
    p.below_resident = true;
    p.options.prefetch_weights = chance(rng, 0.5);
  }
  if (s == Strategy::kSealed || s == Strategy::kSealedStreamed) {
    p.sealed = true;
    // Streaming keeps the sealed model's chunk window in the arena for the whole run: it
    // pays only with chunks well below the streamed constant.
    std::vector<uint64_t> chunks{64, 1024, 4096, 16384, kDefaultChunkBytes};
    size_t choices = s == Strategy::kSealedStreamed ? 3 : chunks.size();
    p.chunk_bytes = chunks[static_cast<size_t>(pick(rng, 0, static_cast<int64_t>(choices) - 1))];
    p.options.reorder_slice_bytes =
        std::vector<size_t>{1024, 8192, size_t{1} << 20}[static_cast<size_t>(pick(rng, 0, 2))];
    p.notes += "sealed in chunks of <= " + std::to_string(p.chunk_bytes) + " bytes; ";
  }
  return p;
}

// ---- Checks ---------------------------------------------------------------------------------

// An output's values: float32, or int64 indices (ArgMax), compared exactly.
std::vector<double> values_of(const OutputTensor& t) {
  if (t.dtype == DType::kF32) return std::vector<double>(t.data.begin(), t.data.end());
  std::vector<int64_t> v(t.bytes.size() / sizeof(int64_t));
  std::memcpy(v.data(), t.bytes.data(), v.size() * sizeof(int64_t));
  return std::vector<double>(v.begin(), v.end());
}

std::string compare(const OutputTensor& got, const RefTensor& want, double tolerance) {
  if (got.dims != want.dims)
    return "output '" + got.name + "' is " + dims_to_string(got.dims) + ", the reference " + dims_to_string(want.dims);
  const std::vector<double> values = values_of(got);
  if (values.size() != want.data.size()) return "output '" + got.name + "' holds the wrong number of values";
  if (got.dtype != DType::kF32) tolerance = 0;  // indices are exact
  double scale = std::max(1e-2, want.scale);
  for (double w : want.data) scale = std::max(scale, std::fabs(w));
  size_t worst = 0;
  double worst_diff = -1;
  for (size_t i = 0; i < want.data.size(); ++i) {
    double d = std::fabs(values[i] - want.data[i]);
    if (!(d <= worst_diff)) {  // NaN counts as worst
      worst = i;
      worst_diff = std::isnan(d) ? INFINITY : d;
    }
  }
  if (worst_diff <= tolerance * scale) return "";
  std::ostringstream o;
  o << "output '" << got.name << "' element " << worst << ": got " << values[worst] << ", want " << want.data[worst]
    << " (|diff| " << worst_diff << " > " << tolerance << " x " << scale << ")";
  return o.str();
}

int steps_named(const EnclaveSession& s, const std::string& prefix) {
  int n = 0;
  for (const StepInfo& i : s.steps()) n += i.name.rfind(prefix, 0) == 0;
  return n;
}

std::string strategy_of(const EnclaveSession& s, size_t node) {
  auto it = s.lowering().strategies().find(node);
  return it == s.lowering().strategies().end() ? "whole" : it->second;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

bool streams_a_constant_of(const EnclaveSession& s, const Node& n) {
  for (ValueId v : n.inputs)
    if (v != kNoValue && s.lowering().is_streamed(v)) return true;
  return false;
}

// Why the session did not use strategy `s` ("" when it did).
std::string strategy_not_used(Strategy s, const Prepared& p, const EnclaveSession& session) {
  const Graph& g = p.c.graph;
  const Node& n = g.nodes[p.c.node];
  const std::string how = strategy_of(session, p.c.node);
  const bool streamed = session.streamed_bytes() > 0 && steps_named(session, "stream ") > 0 &&
                        streams_a_constant_of(session, n) && session.arena_bytes() <= p.options.budget_bytes &&
                        (!p.options.prefetch_weights || session.lowering().uses_loader());
  auto expect = [](bool ok, const std::string& what) { return ok ? std::string() : what; };
  switch (s) {
    case Strategy::kResident:
    case Strategy::kSealed:
      return expect(session.streamed_bytes() == 0 && session.spilled_bytes() == 0 &&
                        session.lowering().strategies().empty() && steps_named(session, "stream ") == 0,
                    "not resident: the plan streams, spills or bands");
    case Strategy::kStreamed:
      return expect(streamed, "no constant of the node was streamed");
    case Strategy::kWindows:
    case Strategy::kSealedStreamed:
      if (!streamed) return "no constant of the node was streamed";
      if (n.op == OpKind::kConv)
        return expect(contains(how, "output-channel tiles") && steps_named(session, n.name + " channels ") >= 2,
                      "the weight did not stream in output-channel tiles (" + how + ")");
      if (n.op == OpKind::kGemm)
        return expect(contains(how, "streamed in windows") && steps_named(session, n.name + " rows ") >= 2,
                      "the weight did not stream in row windows (" + how + ")");
      return "";
    case Strategy::kBands: {
      // Bands at the top or bottom that would see only padding merge into their neighbour.
      const auto& c = std::get<ConvParams>(n.params);
      bool merged =
          c.pads_begin[0] > (c.kernel[0] - 1) * c.dilations[0] || c.pads_end[0] > (c.kernel[0] - 1) * c.dilations[0];
      int64_t rows = p.options.conv_band_rows.begin()->second, out_h = g.value(n.outputs[0]).dims[2];
      bool several = merged || rows >= out_h || steps_named(session, n.name + " (rows ") >= 2;
      return expect(contains(how, "bands of") && several, "the conv did not run in bands (" + how + ")");
    }
    case Strategy::kFused:
      return expect(contains(how, "fused with") && steps_named(session, n.name + " (rows ") >= 2,
                    "the node was not band-fused (" + how + ")");
    case Strategy::kSpill:
      return expect(contains(how, "spilled: input output") && session.spilled_bytes() > 0 &&
                        session.spill_blocks_moved() > 0 && steps_named(session, "spill ") > 0 &&
                        steps_named(session, "unspill ") > 0,
                    "the node's activations were not spilled (" + how + ")");
    case Strategy::kInt8Weights:
    case Strategy::kInt8Full: {
      if (g.value(n.inputs[1]).dtype != DType::kS8) return "the weight is not int8";
      bool quantize_step = steps_named(session, "quantize " + n.name) > 0;
      bool full = s == Strategy::kInt8Full;
      if (n.op == OpKind::kGemm)
        return expect(contains(how, full ? "int8 compute" : "int8 weights, dequantized") && quantize_step == full,
                      "the Gemm did not run int8 (" + how + ")");
      bool dequantized_at_load = false;
      for (const ConstantLoad& l : session.lowering().loads())
        dequantized_at_load |= l.value == n.inputs[1] && !l.scales.empty();
      return expect(full ? quantize_step : dequantized_at_load && !quantize_step,
                    full ? "no u8 quantize step: the conv did not run int8" : "the int8 weight was not dequantized");
    }
    case Strategy::kUnmodified: {
      if (session.lowering().mode() != ExecutionMode::kUnmodified) return "not lowered in unmodified mode";
      bool im2col = false;
      for (const StepInfo& i : session.steps()) im2col |= i.impl == "teeinfer:im2col";
      return expect(n.op != OpKind::kConv || im2col, "the conv did not run as im2col + GEMM");
    }
    case Strategy::kWinograd:
      return expect(contains(how, "Winograd (") && steps_named(session, n.name + " (output to channels-last)") == 1,
                    "the conv did not run on a Winograd kernel (" + how + ")");
  }
  return "unknown strategy";
}

std::string rerun_command(const OpVariant& v, Strategy s, uint32_t seed) {
  return "TEEINFER_OP_HARNESS_SEED=" + std::to_string(seed) + " tests/test_op_harness --gtest_filter='*/" + v.name +
         "_" + strategy_name(s) + "'";
}

std::string check_outputs(Strategy s, const std::vector<OutputTensor>& first, const std::vector<OutputTensor>& second,
                          const std::vector<RefTensor>& want) {
  double tolerance = s == Strategy::kInt8Full   ? kInt8Tolerance
                     : s == Strategy::kWinograd ? kWinogradTolerance
                                                : kFp32Tolerance;
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::string diff = compare(first[i], want[i], tolerance); !diff.empty()) return diff;
    if (second[i].data != first[i].data || second[i].bytes != first[i].bytes)
      return "output '" + first[i].name + "' differs between two runs";
  }
  return "";
}

// Runs the prepared case; returns what failed ("" if nothing).
std::string run_prepared(Strategy s, Prepared& p) {
  const Graph& g = p.c.graph;
  std::vector<RefTensor> want = reference_outputs(g, p.c.inputs);
  std::string file;
  std::unique_ptr<MemoryHost> host;
  std::unique_ptr<FixedKey> key;
  std::unique_ptr<SealedModel> sealed;
  std::unique_ptr<InlineConstants> inline_constants;
  WeightSource* weights = nullptr;
  const Graph* run_graph = &g;
  if (p.sealed) {
    file = sealed_bytes(g, p.chunk_bytes);
    host = std::make_unique<MemoryHost>(file);
    key = std::make_unique<FixedKey>(harness_key());
    sealed = std::make_unique<SealedModel>(*host, *key);
    if (describe_graph(sealed->graph()) != describe_graph(g))
      return "the sealed manifest's graph differs from the packed one:\n" + describe_graph(sealed->graph());
    weights = sealed.get();
    run_graph = &sealed->graph();
  } else {
    inline_constants = std::make_unique<InlineConstants>(g);
    weights = inline_constants.get();
  }
  if (p.below_resident) {
    // Sealed weights can also fit a budget below resident through finer staging slices,
    // without streaming: a sealed case runs at the least budget any plan fits.
    static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    BudgetOptions bo = budget_options(*run_graph, engine, *weights, p.options);
    p.options.budget_bytes = p.sealed ? minimum_budget(*run_graph, engine, *weights, bo)
                                      : plan_for_budget(*run_graph, engine, *weights, bo).arena_bytes - 1;
  }
  NativePlatform platform;
  EnclaveSession session(*run_graph, platform, p.options, weights);
  std::vector<TensorView> views;
  std::vector<std::vector<uint8_t>> typed(g.inputs.size());  // non-float32 inputs, converted
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    const Value& in = g.value(g.inputs[i]);
    void* data = p.c.inputs[i].data();
    if (in.dtype != DType::kF32) {
      typed[i] = as_dtype(p.c.inputs[i], in.dtype);
      data = typed[i].data();
    }
    views.push_back({in.dtype, in.dims, data, in.name});
  }
  std::vector<OutputTensor> first = session.run(views), second = session.run(views);
  std::string failure = check_outputs(s, first, second, want);
  bool reads_weights = session.weight_bytes() > 0 || session.streamed_bytes() > 0;
  if (failure.empty() && p.sealed && reads_weights && sealed->load_stats().chunks == 0)
    failure = "no sealed chunk was decrypted";
  if (failure.empty()) failure = strategy_not_used(s, p, session);
  if (failure.empty()) return "";
  failure += "\nplan (budget " + std::to_string(p.options.budget_bytes) + ", arena " +
             std::to_string(session.arena_bytes()) + "):";
  for (const StepInfo& i : session.steps()) failure += "\n    " + i.name + " [" + i.impl + "]";
  return failure;
}

}  // namespace

CaseResult run_case(const OpVariant& v, Strategy s, uint32_t seed) {
  std::seed_seq seq{seed, name_hash(v.name), name_hash(strategy_name(s))};
  std::mt19937 rng(seq);
  Prepared p = prepare(v, s, generate_case(v, needs_of(v, s), rng), rng);
  CaseResult r;
  std::ostringstream o;
  o << v.name << " under strategy '" << strategy_name(s) << "', seed " << seed << "\n"
    << "strategy: " << p.notes << describe_options(p.options) << "\n"
    << "graph (node under test: " << p.c.graph.nodes[p.c.node].name << "):\n"
    << describe_graph(p.c.graph) << "rerun: " << rerun_command(v, s, seed);
  r.description = o.str();
  // (verbose: each case before it runs, so a crash inside a kernel shows which)
  if (std::getenv("TEEINFER_OP_HARNESS_VERBOSE")) std::cout << "running: " << r.description << std::endl;
  if ((s == Strategy::kInt8Weights || s == Strategy::kInt8Full) && p.quantized != 1) {
    r.failure = "harness: quantize_weights made " + std::to_string(p.quantized) + " int8 nodes, not 1";
  } else {
    try {
      r.failure = run_prepared(s, p);
    } catch (const std::exception& e) {
      r.failure = std::string("threw: ") + e.what();
    }
  }
  return r;
}

}  // namespace teeinfer::op_harness
