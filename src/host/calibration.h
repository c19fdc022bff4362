// Calibration for full int8: the range of each activation an int8 node reads, observed
// while the float32 model runs natively over a calibration set (at pack time, on the
// model owner's machine).
//
//   auto batches = load_calibration_set("calib/", {1, 3, 224, 224}, 64);
//   auto ranges = measure_input_ranges(g, batches);   // before quantize_weights
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/graph.h"
#include "host/host_tensor.h"
#include "host/quantize_weights.h"

namespace teeinfer {

// Batches shaped `input_dims` from a .npy file ({K*N, ...} or {K, N, ...} with the
// input's trailing dims) or a directory of images (sorted by name, loaded like `run`
// loads an image); at most `limit` samples. Throws Error(kBadInput) naming the file.
std::vector<HostTensor> load_calibration_set(const std::string& path, const Dims& input_dims, int limit);

// Min and max of the first input of every Conv and transB Gemm over `batches` (the
// graph's single input), by ValueId.
std::map<ValueId, ValueRange> measure_input_ranges(const Graph& g, const std::vector<HostTensor>& batches);

}  // namespace teeinfer
