// Decoding ONNX TensorProto / ValueInfo into teeinfer Values (host side).
#pragma once

#include <onnx/onnx_pb.h>

#include "common/graph.h"

namespace teeinfer {

// Maps an ONNX element type to a DType; throws kUnsupported naming `what`.
DType dtype_from_onnx(int onnx_type, const std::string& what);

// A constant Value from a TensorProto, with sizes checked against the payload.
Value value_from_tensor_proto(const onnx::TensorProto& t, const std::string& what);

}  // namespace teeinfer
