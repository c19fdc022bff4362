// Whether this CPU's oneDNN kernels compute full int8 exactly. oneDNN 2.6 multiplies u8
// activations by s8 weights with VNNI (vpdpbusd: int32 sums) where the CPU has it
// (AVX512-VNNI, AVX-VNNI); without it (AVX2, AVX-512 before Cascade Lake, AMD before Zen 4)
// it uses vpmaddubsw, whose pairs of products saturate at int16 (255 * 127 * 2 > 32767), and
// full-int8 results go wrong silently. On such a CPU a full-int8 node (Int8Weights::full())
// computes weight-only: the same int8 weights, dequantized inside the enclave, and a
// float32 input (more exact, not faster). The lowering asks computes_full_int8(), never
// full(), so the budget planner plans what runs.
//
//   bool u8_input = computes_full_int8(p.int8);
#pragma once

#include "common/graph.h"

namespace teeinfer {

// Whether oneDNN's u8 x s8 kernels accumulate exactly in int32 on this CPU (VNNI).
bool int8_products_exact();

// q.full() on a CPU where int8_products_exact(); false elsewhere.
bool computes_full_int8(const Int8Weights& q);

}  // namespace teeinfer
