// Cost of one emulated EPC page fault, per paging mechanism, in one run: a cyclic sweep
// over twice the EPC (every access faults: evict + seal one page, verify + map another).
// Prints wall and handler microseconds per fault. 1 thread.
//
//   build/bench/bench_epc_faults [--pages 512] [--passes 10]
#include <chrono>
#include <cstdio>
#include <string>

#include "tee/sim/epc_region.h"

using namespace teeinfer;

int main(int argc, char** argv) {
  size_t pages = 512;
  int passes = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--pages")
      pages = std::stoul(argv[i + 1]);
    else if (a == "--passes")
      passes = std::stoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: bench_epc_faults [--pages N] [--passes N]\n");
      return 2;
    }
  }
  for (auto m : {EpcRegion::Mechanism::kUserfaultfd, EpcRegion::Mechanism::kMprotect}) {
    EpcRegion epc(pages * EpcRegion::kPage, pages / 2 * EpcRegion::kPage, m);
    volatile std::byte* b = epc.data();
    for (size_t p = 0; p < pages; ++p) b[p * EpcRegion::kPage] = std::byte{1};
    epc.reset_stats();
    auto t0 = std::chrono::steady_clock::now();
    for (int pass = 0; pass < passes; ++pass)
      for (size_t p = 0; p < pages; ++p) (void)b[p * EpcRegion::kPage];
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EpcStats st = epc.stats();
    std::printf("%-12s %6.1f us per fault (wall), %6.1f us in the handler, %llu faults\n", epc.mechanism(),
                s / static_cast<double>(st.faults) * 1e6, st.pager_ns / 1e3 / static_cast<double>(st.faults),
                static_cast<unsigned long long>(st.faults));
  }
  return 0;
}
