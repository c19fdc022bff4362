// Looking for plaintext in this process's memory (tests/test_plaintext_hygiene.cpp,
// tests/test_end_to_end.cpp): the secret's 32-byte windows as hashes, memory outside the
// heap to hold the secret while it is hashed, and a scan of every writable mapping.
#pragma once

#include <openssl/crypto.h>
#include <sys/mman.h>

#include <algorithm>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

namespace memory_scan {

inline constexpr size_t kWindow = 32;
inline constexpr uint64_t kBase = 0x100000001b3ull;

// Memory outside the heap, wiped before it is unmapped.
struct MappedBuffer {
  explicit MappedBuffer(size_t n) : bytes(std::max<size_t>(n, 1)) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("mmap");
    data = static_cast<std::byte*>(p);
  }
  ~MappedBuffer() {
    OPENSSL_cleanse(data, bytes);
    ::munmap(data, bytes);
  }
  std::byte* data;
  size_t bytes;
};

// Hashes of every 32-byte window of the plaintext weights (a window with fewer than 8
// distinct byte values is skipped: zero runs and the like occur everywhere).
class WindowSet {
 public:
  void add(const uint8_t* p, size_t n) {
    if (n < kWindow) return;
    for (size_t i = 0; i + kWindow <= n; ++i) {
      std::bitset<256> distinct;
      for (size_t k = 0; k < kWindow; ++k) distinct.set(p[i + k]);
      if (distinct.count() < 8) continue;
      uint64_t h = hash(p + i);
      hashes_.insert(h);
      filter_.set(h % filter_.size());
    }
  }
  size_t size() const { return hashes_.size(); }

  // Windows of [p, p + n) that are plaintext windows (rolling hash, every offset). It reads
  // freed and padding bytes on purpose, so AddressSanitizer must not check it.
  __attribute__((no_sanitize("address"))) size_t count_in(const uint8_t* p, size_t n) const {
    if (n < kWindow) return 0;
    uint64_t top = 1;
    for (size_t k = 1; k < kWindow; ++k) top *= kBase;
    uint64_t h = hash(p);
    size_t found = 0;
    for (size_t i = 0;; ++i) {
      if (filter_.test(h % filter_.size()) && hashes_.count(h)) ++found;
      if (i + kWindow >= n) break;
      h = (h - p[i] * top) * kBase + p[i + kWindow];
    }
    return found;
  }

 private:
  // Also reads freed and padding bytes (from count_in): not checked by AddressSanitizer.
  __attribute__((no_sanitize("address"))) static uint64_t hash(const uint8_t* p) {
    uint64_t h = 0;
    for (size_t k = 0; k < kWindow; ++k) h = h * kBase + p[k];
    return h;
  }
  std::unordered_set<uint64_t> hashes_;
  std::bitset<(1u << 24)> filter_;
};

// Plaintext windows in every readable, writable mapping of this process.
// With `thread_stacks` (when given), windows in other threads' stacks (anonymous mappings
// right above a guard page) are counted there instead of in the result.
inline size_t count_in_process_memory(const WindowSet& windows, std::string* where, size_t* thread_stacks = nullptr) {
  std::ifstream maps("/proc/self/maps");
  std::vector<std::pair<uintptr_t, uintptr_t>> ranges;
  std::vector<std::string> names;
  std::vector<bool> stack;
  uintptr_t guard_end = 0;  // the end of the last inaccessible mapping
  for (std::string line; std::getline(maps, line);) {
    std::istringstream in(line);
    std::string span, perms, offset, dev, inode, name;
    in >> span >> perms >> offset >> dev >> inode;
    std::getline(in, name);
    uintptr_t lo = std::stoull(span.substr(0, span.find('-')), nullptr, 16);
    uintptr_t hi = std::stoull(span.substr(span.find('-') + 1), nullptr, 16);
    bool after_guard = guard_end == lo;
    if (perms.rfind("---", 0) == 0) guard_end = hi;
    if (perms.size() < 2 || perms[0] != 'r' || perms[1] != 'w') continue;
    if (name.find("[vvar]") != std::string::npos || name.find("[vsyscall]") != std::string::npos) continue;
    if (hi - lo > (uintptr_t{1} << 32)) continue;  // sanitizer shadow reservations, not data
    stack.push_back(after_guard && name.find_first_not_of(' ') == std::string::npos);
    ranges.emplace_back(lo, hi);
    names.push_back(name);
  }
  size_t found = 0;
  for (size_t r = 0; r < ranges.size(); ++r) {
    size_t n = windows.count_in(reinterpret_cast<const uint8_t*>(ranges[r].first), ranges[r].second - ranges[r].first);
    if (thread_stacks && stack[r]) {
      *thread_stacks += n;
      continue;
    }
    if (n) *where += names[r] + " (" + std::to_string(n) + " windows) ";
    found += n;
  }
  return found;
}

}  // namespace memory_scan
