// EpcRegion: an emulated SGX EPC. A memory region of which at most `resident_bytes` are
// backed by real memory at any time; every other page is evicted, encrypted, to host
// memory, exactly what SGX's EWB/ELDU do, and faulted back in (decrypted and verified)
// on its next access.
//
// Mechanisms (Linux), chosen at construction:
//  * userfaultfd (preferred): an anonymous region registered in SIGBUS mode; touching a
//    missing page raises SIGBUS. The handler evicts a victim if the EPC is full
//    (write-protect it so writers wait, seal it, MADV_DONTNEED it) and maps the wanted
//    page with UFFDIO_COPY from a decrypted, verified bounce page. About 35 us per fault
//    here.
//  * mprotect (fallback): a memfd mapped twice; evicted pages are PROT_NONE in the view,
//    so an access raises SIGSEGV; the pager works through its own writable alias and
//    punches evicted pages out of the memfd. About 56 us per fault, and every isolated
//    resident page splits the mapping (bounded by vm.max_map_count). Pages are 4 KiB. Every evicted page is AES-256-GCM
//    sealed,
// bound to its index and a per-page version, so a replayed or altered page is detected:
// the process reports it and stops. The fault path allocates nothing; several threads may
// fault at once (one lock).
//
//   EpcRegion epc(64 << 20, 16 << 20);   // 64 MiB region, 16 MiB resident at most
//   std::memset(epc.data(), 1, epc.size());
//   EpcStats s = epc.stats();            // faults, evictions, reloads, pager time...
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "enclave/tee_platform.h"

namespace teeinfer {

struct EpcStats {
  uint64_t faults = 0;         // page faults handled
  uint64_t first_touches = 0;  // faults on never-written pages (zero-filled)
  uint64_t evictions = 0;      // pages encrypted out
  uint64_t reloads = 0;        // pages decrypted back in
  uint64_t bytes_encrypted = 0, bytes_decrypted = 0;
  uint64_t peak_resident_bytes = 0;
  uint64_t pager_ns = 0;  // time spent inside the fault handler
};

class EpcRegion : public SecureRegion {
 public:
  static constexpr size_t kPage = 4096;
  static constexpr size_t kMinResidentBytes = 4 * kPage;
  // Gives the calling thread an alternate signal stack (once per thread) on which the
  // fault handler runs. Needed: a page fault can interrupt a oneDNN jit kernel that keeps
  // data below its stack pointer (found with its AVX2 GEMM: the signal frame overwrote it
  // and the kernel later freed a corrupted pointer), so the handler must not use the
  // interrupted stack.
  static void use_alternate_signal_stack();
  enum class Mechanism { kAuto, kUserfaultfd, kMprotect };

  // Throws Error if the kernel refuses the mappings or the sizes are unusable (or, for an
  // explicit kUserfaultfd, if userfaultfd is unavailable).
  EpcRegion(size_t region_bytes, size_t resident_bytes, Mechanism mechanism = Mechanism::kAuto);
  ~EpcRegion() override;
  EpcRegion(const EpcRegion&) = delete;
  EpcRegion& operator=(const EpcRegion&) = delete;
  // Whether this kernel lets us use `mechanism` (tries a small region); if not, why.
  static bool available(Mechanism mechanism, std::string* why = nullptr);

  std::byte* data() override;
  size_t size() const override;
  EpcStats stats() const;
  void reset_stats();
  // Puts back counters taken earlier with stats() (a measurement that must not count).
  void restore_stats(const EpcStats& s);
  size_t resident_limit_bytes() const;
  const char* mechanism() const;  // "userfaultfd" or "mprotect"

  // Changes how many bytes may be resident (at least kMinResidentBytes, at most size());
  // lowering it evicts the oldest pages now. A limit of size() makes the region behave as
  // plain memory once touched: how the modelled SGX time measures fault-free compute.
  void set_resident_limit(size_t bytes);

  // The AES-GCM nonce an evicted page is sealed under: (page index, 64-bit version).
  static void page_nonce(size_t page, uint64_t version, uint8_t nonce[12]);

  // For tests: the sealed copy of an evicted page, so tampering can be simulated.
  uint8_t* sealed_page_for_test(size_t page_index);

  struct State;  // shared with the signal handler

 private:
  std::unique_ptr<State> state_;
};

// tee/sim as a TeePlatform: regions are EpcRegions with the given EPC size.
class SimPlatform : public TeePlatform {
 public:
  explicit SimPlatform(size_t epc_bytes, EpcRegion::Mechanism mechanism = EpcRegion::Mechanism::kAuto)
      : epc_bytes_(epc_bytes), mechanism_(mechanism) {}
  const char* name() const override { return "sim"; }
  std::unique_ptr<SecureRegion> allocate_region(size_t bytes) override;
  // An alternate signal stack for the fault handler on this thread and on every OpenMP
  // worker (EpcRegion::use_alternate_signal_stack).
  void prepare_threads() override;
  // The region handed out last (for reporting its counters).
  EpcRegion* last_region() const { return last_; }

 private:
  size_t epc_bytes_;
  EpcRegion::Mechanism mechanism_;
  EpcRegion* last_ = nullptr;
};

}  // namespace teeinfer
