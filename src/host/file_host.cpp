#include "host/file_host.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "common/error.h"

namespace teeinfer {

FileHost::FileHost(const std::string& path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw Error(ErrorCode::kIo, "cannot open model '" + path + "'");
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd_);
    throw Error(ErrorCode::kIo, "'" + path + "' is not a regular file");
  }
  size_ = static_cast<uint64_t>(st.st_size);
}

FileHost::~FileHost() {
  if (fd_ >= 0) ::close(fd_);
}

// Reads straight into `dst` when the kernel may write there. Enclave memory the kernel
// cannot write (an emulated EPC page that is not resident: the pager only serves user-space
// accesses) gives EFAULT; then the bytes go through a host buffer and a user-space copy,
// which is what an SGX OCALL's [out] marshalling does anyway.
bool FileHost::read_model(uint64_t offset, void* dst, size_t n) noexcept {
  if (offset > size_ || n > size_ - offset) return false;
  auto* p = static_cast<char*>(dst);
  while (n > 0) {
    ssize_t got = ::pread(fd_, p, n, static_cast<off_t>(offset));
    if (got < 0 && errno == EFAULT) got = read_through_bounce(offset, p, n);
    if (got <= 0) return false;
    p += got;
    offset += static_cast<uint64_t>(got);
    n -= static_cast<size_t>(got);
  }
  return true;
}

ssize_t FileHost::read_through_bounce(uint64_t offset, char* dst, size_t n) noexcept {
  n = std::min(n, sizeof(bounce_));
  ssize_t got = ::pread(fd_, bounce_, n, static_cast<off_t>(offset));
  if (got > 0) std::memcpy(dst, bounce_, static_cast<size_t>(got));
  return got;
}

uint64_t FileHost::now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

void FileHost::log(std::string_view message) noexcept {
  std::fprintf(stderr, "[enclave] %.*s\n", static_cast<int>(message.size()), message.data());
}

}  // namespace teeinfer
