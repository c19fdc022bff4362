// Per-op lowering functions. Each lowers one IR node to Steps through the Lowering
// context; unsupported configurations throw Error naming the node.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <tuple>

#include "enclave/kernels/bands.h"
#include "enclave/lowering.h"

namespace teeinfer {

void lower_node(Lowering& l, const Node& n);  // dispatch on n.op

// One per op, as common/ops.def names them.
void lower_conv(Lowering& l, const Node& n);         // unmodified mode: lower_conv_im2col
void lower_conv_im2col(Lowering& l, const Node& n);  // unmodified mode
void lower_pool(Lowering& l, const Node& n);
void lower_gemm(Lowering& l, const Node& n);
void lower_matmul(Lowering& l, const Node& n);
void lower_eltwise(Lowering& l, const Node& n);
void lower_batchnorm(Lowering& l, const Node& n);
void lower_lrn(Lowering& l, const Node& n);
void lower_softmax(Lowering& l, const Node& n);
void lower_binary(Lowering& l, const Node& n);
void lower_reshape(Lowering& l, const Node& n);
void lower_transpose(Lowering& l, const Node& n);
void lower_concat(Lowering& l, const Node& n);
void lower_pad(Lowering& l, const Node& n);

// Full int8 (kernels/int8.cpp): a u8 copy of activation `src` in a scratch buffer, made
// by a step added here; the output scales input_scale * weight_scales[first, first +
// count) * factor; and the scales that turn an f32 bias into the accumulator's scale.
Slot quantize_activation(Lowering& l, const Slot& src, float input_scale, const std::string& name);
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
void add_conv_band(Lowering& l, const Node& n, const ConvParams& p, const Slot& src, const Slot& dst, const Band& b,
                   ConvBandState& state, const std::string& label = "");
void add_pool_band(Lowering& l, const Node& n, const Slot& src, const Slot& dst, const Band& b);

// Encrypted activation spill: by ValueId, the activations that may be spilled (made by a
// Conv/Pool, read only as a Conv/Pool input or a fused residual, 4-D, not a graph input
// or output); and the band-wise lowering of a node that touches one.
std::vector<bool> spillable_activations(const Graph& g);
void lower_spilled_bands(Lowering& l, const Node& n);

// Band-fused chains: Conv/Pool nodes [first, last] computed band by band through all of
// them, so only a band of each intermediate activation is ever in the arena.
void lower_band_chain(Lowering& l, size_t first, size_t last, int64_t band_rows);
// Chains of 2 to kMaxFusedNodes nodes that can be fused ([first, last] node indices), each
// ending at its first pool.
constexpr size_t kMaxFusedNodes = 8;
std::vector<std::pair<size_t, size_t>> fusable_chains(const Graph& g);

}  // namespace teeinfer
