// Winograd convolutions: oneDNN's convolution_winograd (F(2,3) and F(4,3) kernels on
// AVX-512) for 3×3, stride-1, fp32 convolutions with resident weights.
//
// Its kernels take blocked activations (nChw16c), so the lowering reorders the
// channels-last input in and the output back around the primitive (and the residual in,
// when a sum is fused). Its weights live in the Winograd domain, about 2× (F(2,3)) or 4×
// (F(4,3)) the 3×3 bytes, transformed once when the weights load: the transform costs
// more than the convolution (bench/conv_algorithms.cpp: 133 ms against 13 ms for 512→512
// channels at 28×28), so a streamed weight, transformed again at every run, never uses it. Bands,
// fused chains and output-channel tiles stay direct. Which convolutions use it, and
// which of oneDNN's implementations, is chosen by measurement (lowering/conv_algorithm.h)
// and the planner accounts for all of it: the larger weights, the blocked copies and the
// kernel's scratchpad are buffers of the plan like any other.
#pragma once

#include <dnnl.hpp>
#include <string>
#include <vector>

#include "common/graph.h"
#include "enclave/lowering/lowering_context.h"

namespace teeinfer {

// A 2-D fp32 Conv with a 3×3 kernel, stride 1, no dilation and one group.
bool winograd_eligible(const Graph& g, const Node& n);

// oneDNN's Winograd implementation for n (blocked activations, weights in any layout), the
// one it prefers (at most one: see the .cpp); none when it has none for this shape. Its kernels fuse a
// plain ReLU and nothing else: with other activations they are created without them, and
// the activations run as steps after the output is reordered back (`after`).
struct WinogradKernels {
  std::vector<dnnl::convolution_forward::primitive_desc> pds;
  PostOps after;
};
WinogradKernels winograd_kernels(const dnnl::engine& engine, const Graph& g, const Node& n, const ConvParams& p);

// Lowers n whole with the Winograd implementation named `impl` (its impl_info_str) into
// `dst` (channels-last; holding the residual when p fuses a sum). Returns false, having
// added nothing, when oneDNN has no implementation of that name for it.
bool lower_conv_winograd(LoweringContext& l, const Node& n, const ConvParams& p, const std::string& impl,
                         const Slot& dst);

}  // namespace teeinfer
