#include "op_harness/describe.h"

#include <sstream>

#include "op_harness/op_variants.h"

namespace teeinfer::op_harness {

namespace {

std::string dims(const Dims& d) {
  return dims_to_string(d);
}

std::string post_ops(const PostOps& ops) {
  std::string s = "[";
  for (const EltwiseParams& e : ops) {
    if (s.size() > 1) s += ", ";
    s += std::string(eltwise_name(e.kind)) + "(" + std::to_string(e.alpha) + ", " + std::to_string(e.beta) + ")";
  }
  return s + "]";
}

std::string int8(const Int8Weights& q) {
  if (!q.active()) return "fp32";
  return "int8 " + std::to_string(q.weight_scales.size()) + " scales" +
         (q.full() ? ", input_scale " + std::to_string(q.input_scale) : ", weight-only");
}

std::string window(const Dims& kernel, const Dims& strides, const Dims& dilations, const Dims& pb, const Dims& pe) {
  return "kernel " + dims(kernel) + " strides " + dims(strides) + " dilations " + dims(dilations) + " pads_begin " +
         dims(pb) + " pads_end " + dims(pe);
}

struct Describe {
  std::string operator()(const ReshapeParams&) const { return ""; }
  std::string operator()(const CastParams&) const { return ""; }
  std::string operator()(const WhereParams&) const { return ""; }
  std::string operator()(const PReluParams&) const { return ""; }
  std::string operator()(const RecurrentParams& p) const {
    static const char* const kCells[] = {"RNN", "GRU", "GRU linear_before_reset", "LSTM"};
    static const char* const kActivations[] = {"Tanh", "Relu", "Sigmoid"};
    auto c = static_cast<size_t>(p.cell), a = static_cast<size_t>(p.activation);
    return std::string(c < std::size(kCells) ? kCells[c] : "?") + " hidden " + std::to_string(p.hidden_size) +
           (p.cell == RecurrentCell::kRnn ? std::string(" ") + (a < std::size(kActivations) ? kActivations[a] : "?")
                                          : "") +
           (p.reverse ? " reverse" : "") + (p.batch_first ? " batch_first" : "");
  }
  std::string operator()(const ReduceParams& p) const {
    static const char* const kNames[] = {"Sum", "Mean", "Max",       "Min",    "Prod",
                                         "L1",  "L2",   "SumSquare", "LogSum", "LogSumExp"};
    auto k = static_cast<size_t>(p.kind);
    return std::string(k < std::size(kNames) ? kNames[k] : "?") + " axes " + dims(p.axes) +
           (p.keepdims ? " keepdims" : "");
  }
  std::string operator()(const ConvParams& p) const {
    return window(p.kernel, p.strides, p.dilations, p.pads_begin, p.pads_end) + " groups " + std::to_string(p.groups) +
           (p.fused_sum ? " fused_sum" : "") + " post_ops " + post_ops(p.post_ops) + " " + int8(p.int8);
  }
  std::string operator()(const GemmParams& p) const {
    return "alpha " + std::to_string(p.alpha) + " beta " + std::to_string(p.beta) + (p.trans_a ? " transA" : "") +
           (p.trans_b ? " transB" : "") + (p.c_prescaled ? " c_prescaled" : "") + " post_ops " + post_ops(p.post_ops) +
           " " + int8(p.int8);
  }
  std::string operator()(const MatMulParams& p) const { return "post_ops " + post_ops(p.post_ops); }
  std::string operator()(const BatchNormParams& p) const {
    return "epsilon " + std::to_string(p.epsilon) + (p.fused_relu ? " fused_relu" : "");
  }
  std::string operator()(const EltwiseParams& p) const {
    return std::string(eltwise_name(p.kind)) + " alpha " + std::to_string(p.alpha) + " beta " + std::to_string(p.beta);
  }
  std::string operator()(const BinaryParams& p) const { return binary_kind_name(p.kind); }
  std::string operator()(const PoolParams& p) const {
    return std::string(pool_kind_name(p.kind)) + " " +
           window(p.kernel, p.strides, p.dilations, p.pads_begin, p.pads_end) + " declared_pads_end " +
           dims(p.declared_pads_end) + (p.count_include_pad ? " count_include_pad" : "");
  }
  std::string operator()(const TransposeParams& p) const { return "perm " + dims(p.perm); }
  std::string operator()(const ConcatParams& p) const {
    return "axis " + std::to_string(p.axis) + (p.fused_batchnorm ? " fused_batchnorm" : "") +
           (p.fused_relu ? " fused_relu" : "");
  }
  std::string operator()(const ArgMaxMinParams& p) const {
    return std::string(p.kind == ArgKind::kMin ? "min" : "max") + " axis " + std::to_string(p.axis) +
           (p.keepdims ? " keepdims" : "") + (p.select_last_index ? " select_last_index" : "");
  }
  std::string operator()(const SoftmaxParams& p) const {
    return "axis " + std::to_string(p.axis) + (p.coerce_2d ? " coerce_2d" : "");
  }
  std::string operator()(const LayerNormParams& p) const {
    return "axis " + std::to_string(p.axis) + " epsilon " + std::to_string(p.epsilon);
  }
  std::string operator()(const LrnParams& p) const {
    return "size " + std::to_string(p.size) + " alpha " + std::to_string(p.alpha) + " beta " + std::to_string(p.beta) +
           " bias " + std::to_string(p.bias);
  }
  std::string operator()(const PadParams& p) const {
    const char* modes[] = {"constant", "reflect", "edge"};
    return std::string(modes[static_cast<int>(p.mode) % 3]) + " pads_begin " + dims(p.pads_begin) + " pads_end " +
           dims(p.pads_end) + " value " + std::to_string(p.value);
  }
  std::string operator()(const SliceParams& p) const {
    return "starts " + dims(p.starts) + " steps " + dims(p.steps) + " sizes " + dims(p.sizes);
  }
  std::string operator()(const GatherParams& p) const {
    return "axis " + std::to_string(p.axis) + " indices " + dims(p.indices_dims) + " " + dims(p.indices);
  }
  std::string operator()(const TileParams& p) const { return "repeats " + dims(p.repeats); }
  std::string operator()(const ResizeParams& p) const {
    std::string s = "mode " + std::to_string(static_cast<int>(p.mode)) + " coordinates " +
                    std::to_string(static_cast<int>(p.coordinates)) + " nearest " +
                    std::to_string(static_cast<int>(p.nearest)) + " cubic_a " + std::to_string(p.cubic_a) +
                    (p.exclude_outside ? " exclude_outside" : "") + " extrapolation " +
                    std::to_string(p.extrapolation_value) + " sizes " + dims(p.sizes) + " scales [";
    for (float f : p.scales) s += std::to_string(f) + " ";
    s += "] roi [";
    for (float f : p.roi) s += std::to_string(f) + " ";
    return s + "]";
  }
  std::string operator()(const DepthToSpaceParams& p) const {
    return "block " + std::to_string(p.block) + (p.crd ? " CRD" : " DCR") + (p.space_to_depth ? " space_to_depth" : "");
  }
  std::string operator()(const ConvTransposeParams& p) const {
    return window(p.kernel, p.strides, p.dilations, p.pads_begin, p.pads_end) + " output_padding " +
           dims(p.output_padding) + " groups " + std::to_string(p.groups);
  }
};

}  // namespace

std::string describe_params(const OpParams& params) {
  return std::visit(Describe{}, params);
}

std::string describe_graph(const Graph& g) {
  std::ostringstream o;
  for (const Node& n : g.nodes) {
    o << "  " << n.name << ": " << op_name(n.op) << " (" << n.onnx_op << ") " << describe_params(n.params) << "\n";
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      o << "    in" << i << " ";
      if (n.inputs[i] == kNoValue) {
        o << "(absent)\n";
        continue;
      }
      const Value& v = g.value(n.inputs[i]);
      o << v.name << " " << dims(v.dims) << (v.is_constant ? " constant" : "") << " " << dtype_name(v.dtype) << "\n";
    }
    o << "    out " << g.value(n.outputs[0]).name << " " << dims(g.value(n.outputs[0]).dims) << "\n";
  }
  return o.str();
}

}  // namespace teeinfer::op_harness
