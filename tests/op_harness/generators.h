// Seeded random cases, one generator per op kind: a one-node graph (graph inputs and
// constants around the node under test) with random shapes and every attribute the IR
// has for the op, drawn within what `needs` allows.
#pragma once

#include <random>

#include "op_harness/op_case.h"
#include "op_harness/op_variants.h"

namespace teeinfer::op_harness {

OpCase generate_case(const OpVariant& variant, const CaseNeeds& needs, std::mt19937& rng);

// A random activation of kind `kind` with random attributes (LeakyRelu slope, Clip bounds
// (sometimes infinite), HardSigmoid alpha and beta).
EltwiseParams random_eltwise(std::mt19937& rng, EltwiseKind kind);
// False for functions whose domain excludes negative numbers (Sqrt): their inputs are
// generated non-negative, and they are not picked as fused activations (a conv's output
// has either sign).
bool defined_for_negative_inputs(EltwiseKind kind);

}  // namespace teeinfer::op_harness
