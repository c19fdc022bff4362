#include "tee/sim/epc_region.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <optional>
#include <vector>

#include "common/bulk_aead.h"
#include "common/error.h"

namespace teeinfer {

struct EpcRegion::State {
  int uffd = -1;               // userfaultfd mechanism
  int memfd = -1;              // mprotect mechanism
  std::byte* view = nullptr;   // what the enclave uses; evicted pages are PROT_NONE
  std::byte* alias = nullptr;  // mprotect: the pager's own read/write mapping of the same memory
  uint8_t* bounce = nullptr;   // userfaultfd: one decrypted page on its way in
  size_t bytes = 0, pages = 0, capacity = 0, resident = 0;
  std::vector<uint8_t> present, sealed;
  std::vector<uint64_t> version;
  uint8_t* backing = nullptr;  // pages * (kPage + tag): sealed copies in "host memory" (mmap, lazily backed)
  size_t backing_bytes = 0;
  std::vector<size_t> ring;  // resident pages, oldest first (FIFO eviction)
  size_t ring_head = 0, ring_count = 0;
  // The region's page key, prepared at construction: the fault path only encrypts and
  // decrypts with it (no allocation, no key setup in the signal handler).
  std::optional<BulkAeadKey> key;
  std::atomic_flag lock = ATOMIC_FLAG_INIT;
  EpcStats stats;
  ~State();  // releases whatever was set up, also when the constructor throws half-way
};

namespace {

constexpr size_t kPage = EpcRegion::kPage;
constexpr size_t kSealedPage = kPage + kTagBytes;
constexpr int kMaxRegions = 16;
std::atomic<EpcRegion::State*> g_regions[kMaxRegions];
struct sigaction g_previous;
struct sigaction g_previous_bus;
std::atomic<bool> g_installed{false};

// The pager's lock: a spinlock, since the fault handler may take it (no mutex there).
class SpinGuard {
 public:
  explicit SpinGuard(std::atomic_flag& f) : f_(f) {
    while (f_.test_and_set(std::memory_order_acquire)) {
    }
  }
  ~SpinGuard() { f_.clear(std::memory_order_release); }

 private:
  std::atomic_flag& f_;
};

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);  // async-signal-safe
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

// Async-signal-safe report, then stop: a page that fails authentication must never be used.
[[noreturn]] void die(const char* why) {
  ssize_t r = ::write(2, why, std::strlen(why));
  (void)r;
  std::abort();
}

}  // namespace

// Page index in the first 4 bytes, the page's 64-bit version in the last 8: a (page,
// version) pair never repeats under one region key, and a version cannot wrap in practice
// (2^64 evictions of one page). The region refuses more than 2^32 pages.
void EpcRegion::page_nonce(size_t page, uint64_t version, uint8_t nonce[12]) {
  uint32_t p = static_cast<uint32_t>(page);
  std::memcpy(nonce, &p, 4);
  std::memcpy(nonce + 4, &version, 8);
}

namespace {

void nonce_and_aad(size_t page, uint64_t version, uint8_t nonce[12], uint8_t aad[16]) {
  EpcRegion::page_nonce(page, version, nonce);
  uint64_t p = page;
  std::memcpy(aad, &p, 8);
  std::memcpy(aad + 8, &version, 8);
}

void write_protect(EpcRegion::State& s, size_t page, bool on) {
  uffdio_writeprotect w{};
  w.range.start = reinterpret_cast<uint64_t>(s.view + page * kPage);
  w.range.len = kPage;
  w.mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0;
  if (::ioctl(s.uffd, UFFDIO_WRITEPROTECT, &w) != 0) die("teeinfer epc: UFFDIO_WRITEPROTECT failed\n");
}

void evict_one(EpcRegion::State& s) {
  size_t v = s.ring[s.ring_head];
  s.ring_head = (s.ring_head + 1) % s.ring.size();
  --s.ring_count;
  // Revoke access first: a thread writing the victim now faults and waits for the lock.
  // (userfaultfd: readers may still read it, its bytes do not change while sealed.)
  const std::byte* src = s.uffd >= 0 ? s.view : s.alias;
  if (s.uffd >= 0)
    write_protect(s, v, true);
  else if (::mprotect(s.view + v * kPage, kPage, PROT_NONE) != 0)
    die("teeinfer epc: mprotect failed\n");
  uint8_t nonce[12], aad[16];
  nonce_and_aad(v, ++s.version[v], nonce, aad);
  uint8_t* out = s.backing + v * kSealedPage;
  s.key->encrypt(nonce, aad, sizeof aad, reinterpret_cast<const uint8_t*>(src + v * kPage), kPage, out, out + kPage);
  // Give the memory back: the page is gone from the EPC until it is reloaded.
  bool released = s.uffd >= 0 ? ::madvise(s.view + v * kPage, kPage, MADV_DONTNEED) == 0
                              : ::fallocate(s.memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                            static_cast<off_t>(v * kPage), kPage) == 0;
  if (!released) die("teeinfer epc: cannot release a page\n");
  s.present[v] = 0;
  s.sealed[v] = 1;
  --s.resident;
  ++s.stats.evictions;
  s.stats.bytes_encrypted += kPage;
}

void load(EpcRegion::State& s, size_t p) {
  uint8_t* target = s.uffd >= 0 ? s.bounce : reinterpret_cast<uint8_t*>(s.alias + p * kPage);
  if (s.sealed[p]) {
    uint8_t nonce[12], aad[16];
    nonce_and_aad(p, s.version[p], nonce, aad);
    const uint8_t* in = s.backing + p * kSealedPage;
    if (!s.key->decrypt(nonce, aad, sizeof aad, in, kPage, in + kPage, target))
      die("teeinfer epc: an evicted page failed authentication (tampered with or replayed in host memory); "
          "stopping\n");
    ++s.stats.reloads;
    s.stats.bytes_decrypted += kPage;
  } else {
    ++s.stats.first_touches;  // zeros: a hole in the memfd, or UFFDIO_ZEROPAGE
    if (s.uffd >= 0) std::memset(s.bounce, 0, kPage);
  }
  // Publish only now that the content is in place.
  if (s.uffd >= 0) {
    uffdio_copy c{};
    c.dst = reinterpret_cast<uint64_t>(s.view + p * kPage);
    c.src = reinterpret_cast<uint64_t>(s.bounce);
    c.len = kPage;
    if (::ioctl(s.uffd, UFFDIO_COPY, &c) != 0) die("teeinfer epc: UFFDIO_COPY failed\n");
    OPENSSL_cleanse(s.bounce, kPage);  // the decrypted page is plaintext outside the EPC
  } else if (::mprotect(s.view + p * kPage, kPage, PROT_READ | PROT_WRITE) != 0) {
    die("teeinfer epc: mprotect failed\n");
  }
  s.present[p] = 1;
  s.ring[(s.ring_head + s.ring_count) % s.ring.size()] = p;
  ++s.ring_count;
  ++s.resident;
  s.stats.peak_resident_bytes = std::max<uint64_t>(s.stats.peak_resident_bytes, s.resident * kPage);
}

void on_fault(int sig, siginfo_t* info, void* context) {
  auto* addr = static_cast<std::byte*>(info->si_addr);
  EpcRegion::State* s = nullptr;
  for (auto& slot : g_regions) {
    EpcRegion::State* r = slot.load(std::memory_order_acquire);
    if (r && addr >= r->view && addr < r->view + r->bytes) s = r;
  }
  if (!s) {  // not ours: behave as if we were never here
    const struct sigaction& prev = sig == SIGBUS ? g_previous_bus : g_previous;
    if (prev.sa_flags & SA_SIGINFO) {
      prev.sa_sigaction(sig, info, context);
    } else if (prev.sa_handler != SIG_IGN && prev.sa_handler != SIG_DFL) {
      prev.sa_handler(sig);
    } else {
      signal(sig, SIG_DFL);  // returning re-executes the access and crashes as usual
    }
    return;
  }
  uint64_t t0 = now_ns();
  SpinGuard guard(s->lock);
  size_t p = static_cast<size_t>(addr - s->view) / kPage;
  if (!s->present[p]) {  // another thread may have loaded it while we waited
    if (s->resident == s->capacity) evict_one(*s);
    load(*s, p);
  }
  ++s->stats.faults;
  s->stats.pager_ns += now_ns() - t0;
}

void install_handler() {
  bool expected = false;
  if (!g_installed.compare_exchange_strong(expected, true)) return;
  struct sigaction sa {};
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;  // on the thread's alternate stack, where it has one
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGSEGV, &sa, &g_previous) != 0 || sigaction(SIGBUS, &sa, &g_previous_bus) != 0)
    throw Error(ErrorCode::kKernel, "epc: cannot install the fault handler");
}

// An anonymous region under userfaultfd in SIGBUS mode with write-protect; false if the
// kernel does not offer it (then the caller falls back to mprotect).
bool setup_userfaultfd(EpcRegion::State& s) {
  int fd = static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  if (fd < 0) return false;
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = UFFD_FEATURE_SIGBUS | UFFD_FEATURE_PAGEFAULT_FLAG_WP;
  void* view = MAP_FAILED;
  bool ok = ::ioctl(fd, UFFDIO_API, &api) == 0 && (api.features & UFFD_FEATURE_SIGBUS) &&
            (api.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP);
  if (ok) {
    view = ::mmap(nullptr, s.bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    ok = view != MAP_FAILED;
  }
  if (ok) {
    ::madvise(view, s.bytes, MADV_NOHUGEPAGE);  // SGX pages are 4 KiB
    uffdio_register reg{};
    reg.range.start = reinterpret_cast<uint64_t>(view);
    reg.range.len = s.bytes;
    reg.mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP;
    ok = ::ioctl(fd, UFFDIO_REGISTER, &reg) == 0;
  }
  void* bounce = ok ? ::mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) : MAP_FAILED;
  if (!ok || bounce == MAP_FAILED) {
    if (view != MAP_FAILED) ::munmap(view, s.bytes);
    ::close(fd);
    return false;
  }
  s.uffd = fd;
  s.view = static_cast<std::byte*>(view);
  s.bounce = static_cast<uint8_t*>(bounce);
  return true;
}

void setup_mprotect(EpcRegion::State& s) {
  s.memfd = static_cast<int>(::memfd_create("teeinfer-epc", MFD_CLOEXEC));
  if (s.memfd < 0 || ::ftruncate(s.memfd, static_cast<off_t>(s.bytes)) != 0)
    throw Error(ErrorCode::kKernel, "epc: cannot create the EPC memory (memfd)");
  void* view = ::mmap(nullptr, s.bytes, PROT_NONE, MAP_SHARED, s.memfd, 0);
  void* alias = ::mmap(nullptr, s.bytes, PROT_READ | PROT_WRITE, MAP_SHARED, s.memfd, 0);
  if (view != MAP_FAILED) s.view = static_cast<std::byte*>(view);
  if (alias != MAP_FAILED) s.alias = static_cast<std::byte*>(alias);
  if (!s.view || !s.alias)
    throw Error(ErrorCode::kBudgetExceeded, "epc: cannot map a region of " + std::to_string(s.bytes) + " bytes");
  ::madvise(view, s.bytes, MADV_NOHUGEPAGE);  // SGX pages are 4 KiB
  ::madvise(alias, s.bytes, MADV_NOHUGEPAGE);
}

}  // namespace

EpcRegion::EpcRegion(size_t region_bytes, size_t resident_bytes, Mechanism mechanism)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  if (region_bytes > (size_t{1} << 32) * kPage / 2)
    throw Error(ErrorCode::kBudgetExceeded, "epc: a region of " + std::to_string(region_bytes) +
                                                " bytes is more than the emulator handles (8 TiB)");
  s.pages = (std::max<size_t>(region_bytes, 1) + kPage - 1) / kPage;
  s.bytes = s.pages * kPage;
  s.capacity = std::min(s.pages, resident_bytes / kPage);
  // The EPC's size, not the region's: a region smaller than the EPC (a tiny model's arena)
  // is simply all resident.
  if (resident_bytes < kMinResidentBytes)
    throw Error(ErrorCode::kBadArgument,
                "--epc " + std::to_string(resident_bytes) + " bytes: the emulated EPC needs at least 16 KiB");
  s.present.assign(s.pages, 0);
  s.sealed.assign(s.pages, 0);
  s.version.assign(s.pages, 0);
  s.backing_bytes = s.pages * kSealedPage;
  void* backing =
      ::mmap(nullptr, s.backing_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (backing == MAP_FAILED)
    throw Error(ErrorCode::kBudgetExceeded,
                "epc: no host memory for the sealed copies of a " + std::to_string(s.bytes) + "-byte region");
  s.backing = static_cast<uint8_t*>(backing);
  s.ring.assign(s.pages, 0);  // the resident limit may rise to every page (set_resident_limit)
  s.key.emplace(kFreshRandomKey);

  bool uffd = mechanism != Mechanism::kMprotect && setup_userfaultfd(s);
  if (mechanism == Mechanism::kUserfaultfd && !uffd)
    throw Error(ErrorCode::kKernel, "epc: userfaultfd (SIGBUS mode with write-protect) is not available");
  if (!uffd) setup_mprotect(s);
  install_handler();
  for (auto& slot : g_regions) {
    State* empty = nullptr;
    if (slot.compare_exchange_strong(empty, &s)) return;
  }
  throw Error(ErrorCode::kKernel, "epc: too many emulated EPC regions at once");
}

EpcRegion::~EpcRegion() {
  State* mine = state_.get();
  for (auto& slot : g_regions) {
    State* expected = mine;
    slot.compare_exchange_strong(expected, nullptr);
  }
}  // ~State releases the mappings

EpcRegion::State::~State() {
  if (view) ::munmap(view, bytes);
  if (alias) ::munmap(alias, bytes);
  if (bounce) ::munmap(bounce, kPage);
  if (backing) ::munmap(backing, backing_bytes);
  if (memfd >= 0) ::close(memfd);
  if (uffd >= 0) ::close(uffd);
}  // `key` wipes itself

std::byte* EpcRegion::data() {
  return state_->view;
}
size_t EpcRegion::size() const {
  return state_->bytes;
}
size_t EpcRegion::resident_limit_bytes() const {
  return state_->capacity * kPage;
}
const char* EpcRegion::mechanism() const {
  return state_->uffd >= 0 ? "userfaultfd" : "mprotect";
}

EpcStats EpcRegion::stats() const {
  SpinGuard guard(state_->lock);
  return state_->stats;
}

void EpcRegion::reset_stats() {
  SpinGuard guard(state_->lock);
  state_->stats = EpcStats{};
  state_->stats.peak_resident_bytes = state_->resident * kPage;
}

void EpcRegion::restore_stats(const EpcStats& s) {
  SpinGuard guard(state_->lock);
  state_->stats = s;
}

uint8_t* EpcRegion::sealed_page_for_test(size_t page_index) {
  return state_->sealed.at(page_index) ? state_->backing + page_index * kSealedPage : nullptr;
}

void EpcRegion::set_resident_limit(size_t bytes) {
  State& s = *state_;
  SpinGuard guard(s.lock);
  // At least the minimum EPC, at most the region (which may be smaller than the minimum).
  s.capacity = std::min(std::max(bytes / kPage, kMinResidentBytes / kPage), s.pages);
  while (s.resident > s.capacity) evict_one(s);
}

bool EpcRegion::available(Mechanism mechanism, std::string* why) {
  try {
    EpcRegion probe(kMinResidentBytes, kMinResidentBytes, mechanism);
    return true;
  } catch (const Error& e) {
    if (why) *why = e.what();
    return false;
  }
}

std::unique_ptr<SecureRegion> SimPlatform::allocate_region(size_t bytes) {
  auto region = std::make_unique<EpcRegion>(bytes, epc_bytes_, mechanism_);
  last_ = region.get();
  return region;
}

void EpcRegion::use_alternate_signal_stack() {
  // 64 KiB: the handler's frame (decryption of a page with a stack context) and the
  // kernel's signal frame with the full AVX-512 state fit many times over.
  thread_local std::unique_ptr<std::byte[]> stack;
  if (stack) return;
  stack_t current{};
  if (::sigaltstack(nullptr, &current) == 0 && !(current.ss_flags & SS_DISABLE)) return;  // the thread has one
  constexpr size_t kBytes = size_t{64} << 10;
  stack = std::make_unique<std::byte[]>(kBytes);
  stack_t st{};
  st.ss_sp = stack.get();
  st.ss_size = kBytes;
  if (::sigaltstack(&st, nullptr) != 0) throw Error(ErrorCode::kKernel, "epc: cannot set an alternate signal stack");
}

void SimPlatform::prepare_threads() {
  EpcRegion::use_alternate_signal_stack();
#pragma omp parallel
  EpcRegion::use_alternate_signal_stack();
}

}  // namespace teeinfer
