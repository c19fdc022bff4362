// The modelled SGX latency of one inference, from exact counters and one measured time.
//
// The emulated EPC (epc_region.h) pages for real, but its faults cost what a userfaultfd
// round trip costs on this host (11-35 us), not what an SGX EPC fault costs (EWB + ELDU +
// AEX/ERESUME: about 40,000 cycles). So the wall time of an emulated run is not an SGX
// time. The model adds SGX's costs to the compute time of the same plan measured with no
// faults at all:
//
//   modelled = compute + faults x fault_cycles / clock + host_calls x transition_cycles / clock
//
// `compute` is measured (the same session, timed while its whole region is resident),
// `faults` and `host_calls` (OCALLs: reads of sealed chunks, spilled blocks moved) are
// counted, the cycle costs are parameters. Nothing is subtracted from a measured time:
// on hosts where faults are cheap an estimate of the emulator's own cost can exceed it.
//
//   SgxLatency l = model_sgx_latency({.compute_ms = 2.0, .faults_per_run = 100,
//                                     .host_calls_per_run = 10, .cycles_per_second = 2e9});
//   l.modelled_ms == 2.0 + 100 * 40000 / 2e9 * 1e3 + 10 * 8000 / 2e9 * 1e3   // 4.04 ms
#pragma once

#include <cstdint>

#include "teeinfer/teeinfer.h"  // SgxLatency: compute, fault, transition and modelled ms, the clock

namespace teeinfer {

struct SgxCostParams {
  double compute_ms = 0;              // fault-free time of one run of the same plan, measured
  double faults_per_run = 0;          // EPC page faults per run, counted
  double host_calls_per_run = 0;      // enclave exits per run (OCALLs), counted
  uint64_t fault_cycles = 40000;      // one EPC fault: EWB of a victim + ELDU + AEX/ERESUME
  uint64_t transition_cycles = 8000;  // one OCALL: EEXIT + EENTER and the marshalling
  double cycles_per_second = 0;       // the clock the cycle costs are converted with
};

// Throws Error(kBadArgument) on a negative time or count, or a clock that is not positive.
SgxLatency model_sgx_latency(const SgxCostParams& p);

// This machine's time-stamp counter rate in ticks per second, measured once per process
// against the steady clock (the clock model_sgx_latency's cycles are converted with).
double measured_tsc_hz();

}  // namespace teeinfer
