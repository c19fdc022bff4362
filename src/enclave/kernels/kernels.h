// Per-op lowering functions. Each lowers one IR node to Steps through the Lowering
// context; unsupported configurations throw Error naming the node.
#pragma once

#include "enclave/lowering.h"

namespace teeinfer {

void lower_node(Lowering& l, const Node& n);  // dispatch on n.op

void lower_conv(Lowering& l, const Node& n);
void lower_conv_im2col(Lowering& l, const Node& n);  // unmodified mode
void lower_pool(Lowering& l, const Node& n);
void lower_gemm(Lowering& l, const Node& n);
void lower_matmul(Lowering& l, const Node& n);
void lower_eltwise(Lowering& l, const Node& n);
void lower_batchnorm(Lowering& l, const Node& n);
void lower_lrn(Lowering& l, const Node& n);
void lower_softmax(Lowering& l, const Node& n);
void lower_binary(Lowering& l, const Node& n);
void lower_reshape(Lowering& l, const Node& n);
void lower_transpose(Lowering& l, const Node& n);
void lower_concat(Lowering& l, const Node& n);
void lower_pad(Lowering& l, const Node& n);

}  // namespace teeinfer
