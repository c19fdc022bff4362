// Dilated convolutions as phases (space-to-batch): a 2-D convolution with dilation
// (dh, dw), stride 1 and leading pads that are multiples of the dilation reads, for the
// output pixel (dh*i + a, dw*j + b), only input pixels of the same phase (a, b). So it
// equals dh*dw undilated convolutions, one per phase, each over the sub-image of its phase
// with pads divided by the dilation; run as ONE convolution over a batch of dh*dw
// sub-images. When H or W is not a multiple of the dilation, the phases with fewer rows or
// columns are zero-filled to the longest (those pixels are the conv's zero padding anyway)
// and each phase is copied in and out on its own.
//
// Why: oneDNN 2.6 has no direct kernel for some dilated convolutions on AVX2 (dilation 5:
// it picks its im2col + GEMM, `x64:gemm:jit`, 1.8x the time of the same MACs undilated in
// M-LSD). The phase convolution runs the direct kernel; the copies cost ~1-2% of it. Used
// only when the direct primitive would be oneDNN's GEMM or reference kernel and the phase
// one is neither, so CPUs whose direct kernels take dilations (brgconv on AVX-512) keep them.
#pragma once

#include <set>
#include <string>

#include "enclave/lowering/lowering_context.h"
#include "enclave/op_lowering/conv_descriptors.h"

namespace teeinfer {

// True when n's geometry allows the phase form (2-D, f32, stride 1, dilation > 1 on some
// axis, leading pads multiples of the dilation).
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
