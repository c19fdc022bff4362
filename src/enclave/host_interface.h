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
  // Size in bytes of the sealed model the host serves.
  virtual uint64_t model_bytes() noexcept = 0;
  // Copies `n` bytes of the sealed model at `offset` into `dst` (enclave memory).
  // False if the host cannot (short file, I/O error). The bytes are untrusted.
  virtual bool read_model(uint64_t offset, void* dst, size_t n) noexcept = 0;
  // Monotonic clock, nanoseconds.
  virtual uint64_t now_ns() noexcept = 0;
  // Diagnostics from the enclave (never secrets).
  virtual void log(std::string_view message) noexcept = 0;
};

}  // namespace teeinfer
