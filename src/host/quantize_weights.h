// Weight-only int8 quantization at pack time (`teeinfer pack --quantize fc`): the
// weights of fully-connected layers (Gemm with a constant B read as transB, the layout
// PyTorch exports Linear in) become int8 with one float scale per output feature,
// appended as the Gemm's fourth input. The enclave dequantizes a window of rows at a
// time and computes in fp32 (kernels/matmul.cpp), so 4x fewer weight bytes are decrypted.
#pragma once

#include "common/graph.h"

namespace teeinfer {

// Returns how many Gemm weights were quantized.
int quantize_fc_weights(Graph& g);

}  // namespace teeinfer
