// How an EnclaveSession spends secure memory.
//
//   kPlanned    the engine's own plan: buffers reused as soon as they die, oneDNN's
//               direct convolutions, weights in blocked layouts.
//   kUnmodified the baseline a naive framework ported into an enclave would give
//               (Darknet-style): NCHW activations, every convolution as im2col into one
//               shared workspace sized for the largest layer followed by a GEMM, every
//               activation kept for the whole run, all weights decrypted at load.
//               It exists to reproduce the TEE paging cliff, not to be used.
#pragma once

#include <string>

namespace teeinfer {

enum class ExecutionMode { kPlanned, kUnmodified };

inline const char* execution_mode_name(ExecutionMode m) {
  return m == ExecutionMode::kPlanned ? "planned" : "unmodified";
}

}  // namespace teeinfer
