// Per-op lowering functions. Each lowers one IR node to Steps through the LoweringContext;
// unsupported configurations throw Error naming the node.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <tuple>

#include "enclave/bands/band.h"
#include "enclave/lowering/lowering_context.h"

namespace teeinfer {

void lower_node(LoweringContext& l, const Node& n);  // dispatch on n.op

// One per op, as common/ops.def names them.
void lower_conv(LoweringContext& l, const Node& n);         // unmodified mode: lower_conv_im2col
void lower_conv_im2col(LoweringContext& l, const Node& n);  // unmodified mode
void lower_pool(LoweringContext& l, const Node& n);
void lower_gemm(LoweringContext& l, const Node& n);
void lower_matmul(LoweringContext& l, const Node& n);
void lower_eltwise(LoweringContext& l, const Node& n);
void lower_batchnorm(LoweringContext& l, const Node& n);
void lower_lrn(LoweringContext& l, const Node& n);
void lower_softmax(LoweringContext& l, const Node& n);
void lower_binary(LoweringContext& l, const Node& n);
void lower_reshape(LoweringContext& l, const Node& n);
void lower_transpose(LoweringContext& l, const Node& n);
void lower_concat(LoweringContext& l, const Node& n);
void lower_pad(LoweringContext& l, const Node& n);
void lower_cast(LoweringContext& l, const Node& n);
void lower_slice(LoweringContext& l, const Node& n);
void lower_gather(LoweringContext& l, const Node& n);
void lower_tile(LoweringContext& l, const Node& n);
void lower_resize(LoweringContext& l, const Node& n);
void lower_conv_transpose(LoweringContext& l, const Node& n);
void lower_depth_to_space(LoweringContext& l, const Node& n);
void lower_where(LoweringContext& l, const Node& n);
void lower_reduce(LoweringContext& l, const Node& n);
void lower_prelu(LoweringContext& l, const Node& n);
void lower_recurrent(LoweringContext& l, const Node& n);
void lower_layer_norm(LoweringContext& l, const Node& n);
void lower_arg_max_min(LoweringContext& l, const Node& n);
void lower_log_softmax(LoweringContext& l, const Node& n);

// Channel concat of channels-last tensors of `pixels` pixels each (slots: the parts, then
// the output), shared by the whole Concat and its bands (bands/spilled_row_ops.cpp).
CustomKernel concat_channels_last_kernel(std::vector<int64_t> channels, int64_t pixels);
// A Binary kind's oneDNN algorithm, for kinds that have one (all but Pow).
bool has_onednn_algorithm(BinaryKind k);
dnnl::algorithm onednn_binary_algorithm(BinaryKind k);

// Full int8 (op_lowering/int8.cpp): a u8 copy of activation `src` in a scratch buffer, made
// by a step added here; the output scales input_scale * weight_scales[first, first +
// count) * factor; and the scales that turn an f32 bias into the accumulator's scale.
Slot quantize_activation(LoweringContext& l, const Slot& src, float input_scale, const std::string& name);
std::vector<float> int8_output_scales(const Int8Weights& q, int64_t first, int64_t count, float factor = 1.f);
std::vector<float> int8_bias_scales(const Int8Weights& q);

// Bands (y-plane partitioning): one band of a Conv or Pool node from `src` (the input
// rows the band needs) into `dst` (its output rows). A Conv's weights come in once, with
// the first band, in the layout that band's primitive picked.
struct ConvBandState {
  std::optional<dnnl::memory::desc> weights_md;
  Slot weights, bias;
  std::map<std::tuple<int64_t, int64_t, int64_t, int64_t>, dnnl::convolution_forward::primitive_desc> pds;
};
void add_conv_band(LoweringContext& l, const Node& n, const ConvParams& p, const Slot& src, const Slot& dst,
                   const Band& b, ConvBandState& state, const std::string& label = "");
void add_pool_band(LoweringContext& l, const Node& n, const Slot& src, const Slot& dst, const Band& b);

}  // namespace teeinfer
