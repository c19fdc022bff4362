// HostInterface: the only way trusted code reaches the outside world (the equivalent of
// SGX OCALLs). Code under src/enclave performs no file, socket, environment or process
// I/O itself; a test greps for it (tests/test_enclave_isolation.cpp).
//
// Only plain bytes and sizes cross this boundary, never pointers into enclave objects.
// Implementations must not throw: they report failure by return value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace teeinfer {

class HostInterface {
 public:
  virtual ~HostInterface() = default;
  // Monotonic clock, nanoseconds.
  virtual uint64_t now_ns() noexcept = 0;
  // Diagnostics from the enclave (never secrets).
  virtual void log(std::string_view message) noexcept = 0;
};

}  // namespace teeinfer
