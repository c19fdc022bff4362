// The step scheduler for prefetched weights: which main-thread step each loader step may
// overlap.
#pragma once

#include <vector>

#include "enclave/lowering/step.h"
#include "enclave/memory_planner.h"

namespace teeinfer {

// Sets Step::loader_start of every loader step (marked >= 0 while lowering) to the
// main-thread step before its run of loader steps, and reserves the buffers each touches
// from that step on. Returns the number of loader steps.
int schedule_loader(std::vector<Step>& steps, MemoryPlanner& planner);

}  // namespace teeinfer
