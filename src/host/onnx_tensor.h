// Decoding ONNX TensorProto / ValueInfo into teeinfer Values (host side).
#pragma once

#include <onnx/onnx_pb.h>

#include "common/graph.h"
#include "host/memory_budget.h"

namespace teeinfer {

// Maps an ONNX element type to a DType; throws kUnsupported naming `what`.
DType dtype_from_onnx(int onnx_type, const std::string& what);

// A constant Value from a TensorProto, with sizes checked against the payload. With a
// budget, the tensor is checked and counted against it before its bytes are copied.
// External data (a file named by the model) and segmented tensors are refused.
Value value_from_tensor_proto(const onnx::TensorProto& t, const std::string& what, MemoryBudget* budget = nullptr);

}  // namespace teeinfer
