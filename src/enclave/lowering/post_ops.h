// Element-wise functions as oneDNN post-ops (common/eltwise_ops.def), and the primitive
// attributes every lowered primitive gets.
#pragma once

#include <dnnl.hpp>
#include <string>
#include <vector>

#include "common/graph.h"

namespace teeinfer {

// Appends the oneDNN eltwise ops implementing `p` (HardSigmoid needs two).
void append_eltwise(dnnl::post_ops& po, const EltwiseParams& p);
// A user-managed scratchpad (the plan gives each primitive its own buffer) and `post_ops`.
dnnl::primitive_attr attr_with(const PostOps& post_ops);
// The oneDNN eltwise primitives computing `p` on tensors of `md`, in order (HardSigmoid is
// two), created with attr_with({}).
std::vector<dnnl::eltwise_forward::primitive_desc> eltwise_primitives(const EltwiseParams& p,
                                                                      const dnnl::memory::desc& md,
                                                                      const dnnl::engine& engine);

// oneDNN 2.6's jit kernels (brgconv, jit depthwise conv, brgemm matmul, ...) make one
// eltwise injector per algorithm of a post-op chain, with the parameters of that
// algorithm's first op: a chain using an algorithm twice with different parameters
// computes both with the first's (LeakyRelu(0.5) then LeakyRelu(0.2) gives slope 0.25;
// see FusedActivations.OneDnnComputesARepeatedAlgorithmWithItsFirstParameters in
// test_graph_passes). ReLU and LeakyRelu share eltwise_relu, Clip and HardSigmoid
// eltwise_clip_v2, HardSigmoid and Gemm's beta scaling eltwise_linear. So a primitive
// fuses `fused`, the longest prefix of its activations `ops` that, after the post-ops it
// puts first (`leading`), repeats no algorithm with other parameters; `rest` runs as
// separate in-place eltwise steps (LoweringContext::add_eltwise_steps) on its output.
struct PostOpSplit {
  PostOps fused, rest;
};
PostOpSplit split_post_ops(const PostOps& ops, const dnnl::post_ops& leading = dnnl::post_ops());
// The first oneDNN eltwise algorithm that `po` uses twice with different parameters, as
// "eltwise_relu (alpha 0.5, beta 0 then alpha 0.2, beta 0)"; "" when none does.
std::string repeated_eltwise_algorithm(const dnnl::post_ops& po);
// The post-ops a primitive applies, for its step's description: " + eltwise_relu, sum"
// (oneDNN's algorithm names; "" when it has none).
std::string describe_post_ops(const dnnl::post_ops& po);

}  // namespace teeinfer
