#include "enclave/lowering/loader_schedule.h"

#include <algorithm>

namespace teeinfer {

// Each run of consecutive loader steps may start when the main-thread step before it
// begins (it overlaps that step's compute), so every buffer the run touches is reserved
// from that step on. Safe by construction: a buffer whose bytes the loader's buffers
// reuse has a last use before that step, which has completed when the loader starts.
int schedule_loader(std::vector<Step>& steps, MemoryPlanner& planner) {
  int last_main = -1, loader_steps = 0;
  for (size_t i = 0; i < steps.size(); ++i) {
    Step& s = steps[i];
    if (s.loader_start < 0) {
      last_main = static_cast<int>(i);
      continue;
    }
    ++loader_steps;
    s.loader_start = std::max(last_main, 0);
    for (const Slot& slot : slots_of(s)) planner.extend_lifetime(slot.buffer, s.loader_start);
  }
  return loader_steps;
}

}  // namespace teeinfer
