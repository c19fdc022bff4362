// HostInterface over bytes in memory: tests, benchmarks and fuzzing. Header-only so the
// fuzz build can use it without the rest of the host library.
//
//   MemoryHost host(file_bytes, /*record=*/true);
//   SealedModel m(host, keys);   // host.served(): every byte handed to the enclave
#pragma once

#include <chrono>
#include <cstring>
#include <string>
#include <string_view>

#include "enclave/host_interface.h"

namespace teeinfer {

class MemoryHost : public HostInterface {
 public:
  MemoryHost(std::string_view bytes, bool record = false) : bytes_(bytes), record_(record) {}
  uint64_t model_bytes() noexcept override { return bytes_.size(); }
  bool read_model(uint64_t offset, void* dst, size_t n) noexcept override {
    if (offset > bytes_.size() || n > bytes_.size() - offset) return false;
    std::memcpy(dst, bytes_.data() + offset, n);
    if (record_) served_.append(bytes_.substr(offset, n));
    return true;
  }
  uint64_t now_ns() noexcept override {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count());
  }
  void log(std::string_view) noexcept override {}
  // Every byte read_model() handed out, in order (when recording).
  const std::string& served() const { return served_; }

 private:
  std::string_view bytes_;  // not owned
  bool record_;
  std::string served_;
};

}  // namespace teeinfer
