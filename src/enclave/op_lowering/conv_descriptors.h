// oneDNN descriptors of a Conv node, shared by its lowerings (whole, banded, output-channel
// tiles, Winograd) and by the measurement that chooses between algorithms.
#pragma once

#include <dnnl.hpp>

#include "common/graph.h"

namespace teeinfer {

struct ConvShapes {
  Dims x, w, y;
  bool has_bias;
  dnnl::memory::dims wdims;  // oneDNN's: {G, OC/G, IC/G, k...} when grouped
};

ConvShapes conv_shapes(const Graph& g, const Node& n);

// The attributes: user scratchpad, output scales for full int8 (channels from `first_oc`),
// the residual as a sum post-op and the activations oneDNN fuses (split_post_ops).
dnnl::primitive_attr conv_attr(const ConvParams& p, int64_t first_oc, int64_t channels);

// The weights a conv primitive is created with: any layout, s8 for full int8, else f32
// (int8 weights of a weight-only node are dequantized when loaded or streamed).
dnnl::memory::desc any_weights(const ConvShapes& s, const ConvParams& p);

// `src` is described in f32; a full-int8 conv reads its u8 copy (quantize_activation).
dnnl::convolution_forward::primitive_desc conv_pd(const dnnl::engine& engine, const ConvShapes& s, const ConvParams& p,
                                                  const dnnl::memory::desc& src, const dnnl::memory::desc& weights,
                                                  const dnnl::memory::desc& dst, const Dims& pads_begin,
                                                  const Dims& pads_end, int64_t first_oc = 0,
                                                  dnnl::algorithm algorithm = dnnl::algorithm::convolution_direct);

}  // namespace teeinfer
