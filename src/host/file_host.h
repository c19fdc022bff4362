// The untrusted host's side of HostInterface for a sealed model on disk.
#pragma once

#include <sys/types.h>

#include <string>

#include "enclave/host_interface.h"

namespace teeinfer {

class FileHost : public HostInterface {
 public:
  explicit FileHost(const std::string& path);  // throws Error(kIo)
  ~FileHost() override;
  FileHost(const FileHost&) = delete;
  FileHost& operator=(const FileHost&) = delete;

  uint64_t model_bytes() noexcept override { return size_; }
  bool read_model(uint64_t offset, void* dst, size_t n) noexcept override;
  uint64_t now_ns() noexcept override;
  void log(std::string_view message) noexcept override;

 private:
  ssize_t read_through_bounce(uint64_t offset, char* dst, size_t n) noexcept;

  int fd_ = -1;
  uint64_t size_ = 0;
  char bounce_[64 * 1024];
};

}  // namespace teeinfer
