// Which convolutions run with Winograd (op_lowering/conv_winograd.h), and with which of
// oneDNN's implementations.
//
// kMeasured measures, once per process for each distinct convolution (shape, padding, bias,
// fused sum and activations, thread count): the direct kernel as the lowering runs it
// (channels-last) against the Winograd implementation oneDNN picks for it, timed with
// the reorders it needs around it (input to blocked, output back, the residual in). A
// Winograd implementation is chosen when it takes at most kWinogradGain of the direct
// time. Why measure and not a rule: on this project's machines Winograd is 0.3-0.8× the
// direct kernel on most VGG and ResNet 3×3 layers, but not on others (64→64 channels at
// 224×224: no gain), and on a CPU with wider FMA units the direct kernel wins more often.
//
// The measurement runs in the trusted core on dummy data (no weights, no inputs: nothing
// secret) in buffers it frees before the session's arena is allocated, timed with the
// host's clock (the enclave has none: a lying host can only make the choice slower, never
// wrong, as both kernels compute the same convolution); it adds about 1-2 s to the first
// session of a VGG-16 in a process. kNever never uses Winograd;
// kWherePossible uses oneDNN's first Winograd implementation wherever it has one (tests).
#pragma once

#include <cstdint>
#include <dnnl.hpp>
#include <functional>
#include <map>
#include <string>

#include "common/graph.h"

namespace teeinfer {

enum class WinogradPolicy { kMeasured, kNever, kWherePossible };

// The largest Winograd time, as a fraction of the direct time, that still chooses it:
// below 1 so that noise between two close timings does not flip plans from run to run.
constexpr double kWinogradGain = 0.85;
// The most plain memory timing one convolution may take (its dummy activations in both
// layouts, Winograd weights and scratchpad): larger ones stay direct. VGG-16's largest
// takes about 100 MiB.
constexpr size_t kMaxMeasurementBytes = size_t{512} << 20;

// By node index: the Winograd implementation (impl_info_str) each chosen Conv runs when
// its weights are resident.
// `clock`: the host's monotonic clock in ns (kMeasured chooses nothing without one).
// `budget_bytes` (0: none): convolutions whose Winograd weights could never be resident in
// it (at least twice the 3×3 weights) are neither measured nor chosen.
std::map<size_t, std::string> choose_winograd(const Graph& g, const dnnl::engine& engine, WinogradPolicy policy,
                                              const std::function<uint64_t()>& clock = {}, size_t budget_bytes = 0);

// How many distinct convolutions kMeasured has timed in this process (each once).
size_t winograd_measurements();

// Whether oneDNN has Winograd kernels on this CPU at all (oneDNN 2.6: AVX-512 only; on an
// AVX2 CPU every convolution stays direct whatever the policy).
bool winograd_kernels_exist();

}  // namespace teeinfer
