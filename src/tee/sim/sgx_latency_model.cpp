#include "tee/sim/sgx_latency_model.h"

#include <x86intrin.h>

#include <chrono>
#include <cmath>
#include <string>

#include "common/error.h"

namespace teeinfer {

SgxLatency model_sgx_latency(const SgxCostParams& p) {
  auto check = [](double v, const char* what) {
    if (!std::isfinite(v) || v < 0)
      throw Error(ErrorCode::kBadArgument, std::string("SGX latency model: ") + what + " " + std::to_string(v) +
                                               " is not a finite non-negative number");
  };
  check(p.compute_ms, "compute time");
  check(p.faults_per_run, "fault count");
  check(p.host_calls_per_run, "host call count");
  if (!std::isfinite(p.cycles_per_second) || p.cycles_per_second <= 0)
    throw Error(ErrorCode::kBadArgument, "SGX latency model: the clock rate must be positive");
  const double ms_per_cycle = 1e3 / p.cycles_per_second;
  SgxLatency l;
  l.compute_ms = p.compute_ms;
  l.fault_ms = p.faults_per_run * static_cast<double>(p.fault_cycles) * ms_per_cycle;
  l.transition_ms = p.host_calls_per_run * static_cast<double>(p.transition_cycles) * ms_per_cycle;
  l.modelled_ms = l.compute_ms + l.fault_ms + l.transition_ms;
  l.cycles_per_second = p.cycles_per_second;
  return l;
}

double measured_tsc_hz() {
  static const double hz = [] {
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    const uint64_t c0 = __rdtsc();
    while (clock::now() - t0 < std::chrono::milliseconds(20)) {
    }
    const uint64_t c1 = __rdtsc();
    const double seconds = std::chrono::duration<double>(clock::now() - t0).count();
    return static_cast<double>(c1 - c0) / seconds;
  }();
  return hz;
}

}  // namespace teeinfer
