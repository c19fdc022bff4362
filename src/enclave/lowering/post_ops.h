// Element-wise functions as oneDNN post-ops (common/eltwise_ops.def), and the primitive
// attributes every lowered primitive gets.
#pragma once

#include <dnnl.hpp>

#include "common/graph.h"

namespace teeinfer {

// Appends the oneDNN eltwise ops implementing `p` (HardSigmoid needs two).
void append_eltwise(dnnl::post_ops& po, const EltwiseParams& p);
// A user-managed scratchpad (the plan gives each primitive its own buffer) and `post_ops`.
dnnl::primitive_attr attr_with(const PostOps& post_ops);

}  // namespace teeinfer
