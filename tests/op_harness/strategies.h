// The lowering strategies a case runs through, which op each applies to (and why not),
// and one case run: generate, prepare for the strategy, run in an EnclaveSession,
// compare with the reference, and check that the strategy was really used.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "op_harness/op_case.h"
#include "op_harness/op_variants.h"

namespace teeinfer::op_harness {

enum class Strategy {
  kResident,        // unlimited budget: every weight resident, every activation whole
  kStreamed,        // a budget one byte below resident: the node's largest constant streams whole
  kWindows,         // the same for a large weight: conv output-channel tiles, FC row windows
  kBands,           // a convolution in bands of output rows (y-plane partitioning)
  kFused,           // a band-fused Conv/Pool chain
  kSpill,           // the node's input and output activations sealed out to host memory
  kInt8Weights,     // int8 weights, dequantized (weight-only)
  kInt8Full,        // int8 weights and u8 activations (full int8)
  kSealed,          // packed into a sealed model and loaded through the sealed loader
  kSealedStreamed,  // sealed, at a budget below resident (weights streamed from sealed chunks)
  kUnmodified,      // ExecutionMode::kUnmodified (the naive baseline)
  kWinograd,        // a 3x3 stride-1 Conv on oneDNN's Winograd kernel (others run with Winograd off)
};

inline constexpr std::array kStrategies{Strategy::kResident,       Strategy::kStreamed,   Strategy::kWindows,
                                        Strategy::kBands,          Strategy::kFused,      Strategy::kSpill,
                                        Strategy::kInt8Weights,    Strategy::kInt8Full,   Strategy::kSealed,
                                        Strategy::kSealedStreamed, Strategy::kUnmodified, Strategy::kWinograd};

const char* strategy_name(Strategy s);  // "resident", "streamed", ...

// Why `s` cannot run on this CPU (full int8 without VNNI, Winograd without AVX-512); empty
// when it can.
std::string unavailable_on_this_cpu(Strategy s);

// Why `s` cannot apply to `v`; empty when it applies.
std::string not_applicable(const OpVariant& v, Strategy s);

// What `s` requires of a case of `v` (for strategies that apply).
CaseNeeds needs_of(const OpVariant& v, Strategy s);

// Case `seed` of `v` under `s`: `failure` is empty when the engine matched the reference
// and used the strategy, else what went wrong; `description` is every parameter of the
// case and the command that reruns it.
struct CaseResult {
  std::string failure;
  std::string description;
};
CaseResult run_case(const OpVariant& v, Strategy s, uint32_t seed);

}  // namespace teeinfer::op_harness
