// Helpers the CLI and benchmarks share: timing a session, top-k, thread setup.
#pragma once

#include <utility>
#include <vector>

#include "enclave/enclave_session.h"

namespace teeinfer {

struct Timing {
  std::vector<double> samples_ms;
  double median_ms() const;
  double min_ms() const;
};

// `warmup` untimed runs, then `repeat` timed ones.
Timing time_runs(EnclaveSession& s, const std::vector<TensorView>& inputs, int warmup, int repeat);

// Mean time per step over `repeat` runs (after one warm-up run), in step order.
std::vector<double> profile_steps(EnclaveSession& s, const std::vector<TensorView>& inputs, int repeat);

// Sets the kernel library's thread count (OpenMP); 0 keeps the default.
void set_threads(int threads);

double now_ms();
// The median of `samples` (0 for none).
double median(std::vector<double> samples);

}  // namespace teeinfer
