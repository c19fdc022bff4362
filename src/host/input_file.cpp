#include "host/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"
#include "common/units.h"

namespace teeinfer {
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

std::string read_input_file(const std::string& path, uint64_t max_bytes, const std::string& what) {
  auto fail = [&](ErrorCode code, const std::string& why) {
    return Error(code, "cannot read " + what + " '" + path + "': " + why);
  };
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below anyway.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) throw fail(ErrorCode::kIo, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw fail(ErrorCode::kIo, std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw fail(ErrorCode::kBadInput, "not a regular file");
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes)
    throw fail(ErrorCode::kBadInput, "the file is " + format_bytes(size) + ", more than the limit of " +
                                         format_bytes(max_bytes) + " for this kind of file");
  std::string bytes(static_cast<size_t>(size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw fail(ErrorCode::kIo, std::strerror(errno));
    if (n == 0) break;  // the file shrank while being read: keep what is there
    done += static_cast<size_t>(n);
  }
  bytes.resize(done);
  return bytes;
}

}  // namespace teeinfer
