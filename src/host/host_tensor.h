// A host-owned float32 tensor (inputs read from files, outputs written to them).
#pragma once

#include <string>
#include <vector>

#include "common/tensor.h"

namespace teeinfer {

struct HostTensor {
  Dims dims;
  std::vector<float> data;

  TensorView view(const std::string& name) { return TensorView{DType::kF32, dims, data.data(), name}; }
};

}  // namespace teeinfer
