// Dilated convolutions as phases (space-to-batch): a 2-D convolution with dilation
// (dh, dw), stride 1 and pads that are multiples of the dilation reads, for the output
// pixel (dh*i + a, dw*j + b), only input pixels of the same phase (a, b). So it equals
// dh*dw undilated convolutions, one per phase, each over the sub-image of its phase with
// pads divided by the dilation; run as ONE convolution over a batch of dh*dw sub-images.
//
// Why: oneDNN 2.6 has no direct kernel for dilated convolutions on AVX2 (it picks its
// im2col + GEMM, `x64:gemm:jit`, 1.6x the time of the same MACs undilated: 33 vs 21 ms for
// 64->64 channels at 80x80, dilation 5, one Zen core). The phase convolution runs the
// direct kernel; the two reorders (phases in, phases out) cost ~1% of it. Used only when the
// direct primitive would be oneDNN's GEMM or reference kernel and the phase one is neither,
// so CPUs whose direct kernels take dilations (brgconv on AVX-512) keep them.
#pragma once

#include <set>
#include <string>

#include "enclave/lowering/lowering_context.h"
#include "enclave/op_lowering/conv_descriptors.h"

namespace teeinfer {

// True when n's geometry allows the phase form (2-D, f32, stride 1, dilation > 1 on some
// axis, input dims and pads multiples of the dilation).
bool dilated_phases_eligible(const Graph& g, const Node& n);

// The node indices of g's convolutions that dilated_phases_eligible (LoweringOptions::
// dilated_phases): the lowering still keeps the direct kernel where it is not slow.
std::set<size_t> dilated_phase_candidates(const Graph& g);

// Lowers n whole as phases into `dst` (channels-last; holding the residual when p fuses a
// sum) when `direct_impl` (the impl_info_str of the direct primitive) is oneDNN's GEMM or
// reference kernel and the phase convolution's is not. Returns false, having added
// nothing, otherwise.
bool lower_conv_dilated_phases(LoweringContext& l, const Node& n, const ConvShapes& s, const ConvParams& p,
                               const std::string& direct_impl, const Slot& dst);

}  // namespace teeinfer
