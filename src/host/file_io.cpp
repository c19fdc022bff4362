#include "host/file_io.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "common/error.h"

namespace teeinfer {
namespace {

std::string errno_text(int err) {
  return std::strerror(err);
}

// ---- Temporary files removed on SIGINT / SIGTERM / SIGHUP -----------------------------
//
// A fixed table the signal handler can walk without allocating or locking: a writer
// claims a slot (free -> filling), copies its temporary path in, and publishes it
// (-> live); the handler unlinks every live path, restores the default action and
// re-raises the signal, so the process still dies of it (exit status, core dumps).

constexpr int kTempSlots = 64;
constexpr size_t kTempPathMax = 4096;
enum SlotState : int { kFree = 0, kFilling = 1, kLive = 2 };
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler needs lock-free atomics");

struct TempSlot {
  std::atomic<int> state{kFree};
  char path[kTempPathMax];
};
TempSlot g_temp_slots[kTempSlots];
constexpr int kCleanupSignals[] = {SIGINT, SIGTERM, SIGHUP};

extern "C" void remove_temp_files_and_reraise(int sig) {
  int saved_errno = errno;
  for (TempSlot& s : g_temp_slots)
    if (s.state.load(std::memory_order_acquire) == kLive) ::unlink(s.path);
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  sigemptyset(&default_action.sa_mask);
  ::sigaction(sig, &default_action, nullptr);
  errno = saved_errno;
  ::raise(sig);  // blocked until this handler returns, then delivered with the default action
}

// Installed once, and only over the default action: a signal the program ignores (nohup)
// or handles itself is left alone.
void install_cleanup_handlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    for (int sig : kCleanupSignals) {
      struct sigaction old {};
      if (::sigaction(sig, nullptr, &old) != 0 || (old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) continue;
      struct sigaction action {};
      action.sa_handler = remove_temp_files_and_reraise;
      sigemptyset(&action.sa_mask);
      for (int other : kCleanupSignals) sigaddset(&action.sa_mask, other);
      ::sigaction(sig, &action, nullptr);
    }
  });
}

// The slot index, or -1 when every slot is taken (the file then only has RAII cleanup).
int register_temp_file(const std::string& path) {
  install_cleanup_handlers();
  for (int i = 0; i < kTempSlots; ++i) {
    int expected = kFree;
    if (!g_temp_slots[i].state.compare_exchange_strong(expected, kFilling, std::memory_order_acq_rel)) continue;
    std::memcpy(g_temp_slots[i].path, path.c_str(), path.size() + 1);
    g_temp_slots[i].state.store(kLive, std::memory_order_release);
    return i;
  }
  return -1;
}

void unregister_temp_file(int slot) {
  if (slot >= 0) g_temp_slots[slot].state.store(kFree, std::memory_order_release);
}

std::string random_hex(size_t bytes) {
  unsigned char r[16];
  if (bytes > sizeof r || ::getrandom(r, bytes, 0) != static_cast<ssize_t>(bytes))
    throw Error(ErrorCode::kIo, "no random bytes for a temporary file name: " + errno_text(errno));
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < bytes; ++i) {
    s += digits[r[i] >> 4];
    s += digits[r[i] & 15];
  }
  return s;
}

// Test hook: a pause after every write(2), so a test can interrupt a write in progress.
unsigned write_delay_us() {
  static const unsigned us = [] {
    const char* v = std::getenv("TEEINFER_TEST_WRITE_DELAY_US");
    return v ? static_cast<unsigned>(std::strtoul(v, nullptr, 10)) : 0u;
  }();
  return us;
}

std::string directory_of(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  return dir.empty() ? "." : dir;
}

// After a rename, the directory entry itself must reach the disk. Best effort where a
// file system cannot sync directories; a real I/O error is reported.
void sync_directory(const std::string& dir, const std::string& path) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // e.g. a write-only directory: the rename is done, nothing more to do
  int rc = ::fsync(fd), err = errno;
  ::close(fd);
  if (rc != 0 && err != EINVAL && err != EROFS && err != ENOTSUP)
    throw Error(ErrorCode::kIo, "wrote '" + path + "' but could not sync its directory: " + errno_text(err));
}

constexpr size_t kBufferBytes = 64 * 1024;
constexpr size_t kMaxBaseInTempName = 100;  // keeps the temporary name under NAME_MAX

}  // namespace

std::string read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorCode::kIo, "cannot open '" + path + "': " + errno_text(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(ErrorCode::kIo, "'" + path + "' is not a regular file");
  }
  // One sized read: a stringstream copy of a 500 MB model costs seconds here.
  std::string bytes;
  try {
    bytes.resize(static_cast<size_t>(st.st_size));
  } catch (const std::bad_alloc&) {
    ::close(fd);
    throw Error(ErrorCode::kIo, "'" + path + "' (" + std::to_string(st.st_size) + " bytes) does not fit in memory");
  }
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t got = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      int err = got < 0 ? errno : 0;
      ::close(fd);
      throw Error(ErrorCode::kIo, "error reading '" + path + "'" + (err ? ": " + errno_text(err) : " (it shrank)"));
    }
    done += static_cast<size_t>(got);
  }
  ::close(fd);
  return bytes;
}

AtomicFileWriter::AtomicFileWriter(std::string path, FileAccess access) : path_(std::move(path)) {
  std::string base = std::filesystem::path(path_).filename().string();
  if (base.empty() || base == "." || base == "..")
    throw Error(ErrorCode::kBadArgument, "'" + path_ + "' is not a file name to write to");
  std::string dir = directory_of(path_);
  if (dir.back() != '/') dir += '/';
  base.resize(std::min(base.size(), kMaxBaseInTempName));
  buffer_.reserve(kBufferBytes);  // before the file exists: nothing after it may throw
  // Nothing predictable to plant: a random name, created exclusively, symlinks not followed.
  const mode_t mode = access == FileAccess::kOwnerOnly ? 0600 : 0666;  // the umask applies
  for (int attempt = 0; attempt < 8 && fd_ < 0; ++attempt) {
    temp_ = dir + "." + base + "." + random_hex(8) + ".tmp";
    if (temp_.size() >= kTempPathMax) throw Error(ErrorCode::kIo, "path too long: '" + path_ + "'");
    slot_ = register_temp_file(temp_);  // before the file exists: a signal cannot orphan it
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd_ >= 0) break;
    int err = errno;
    unregister_temp_file(slot_);
    slot_ = -1;
    if (err != EEXIST)
      throw Error(ErrorCode::kIo,
                  "cannot create a file in '" + directory_of(path_) + "' to write '" + path_ + "': " + errno_text(err));
  }
  if (fd_ < 0) throw Error(ErrorCode::kIo, "cannot create a temporary file for '" + path_ + "'");
}

AtomicFileWriter::~AtomicFileWriter() {
  abandon();
}

void AtomicFileWriter::abandon() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (slot_ >= 0 || !temp_.empty()) ::unlink(temp_.c_str());
  unregister_temp_file(slot_);
  slot_ = -1;
  temp_.clear();
}

void AtomicFileWriter::write_fully(const char* p, size_t n) {
  if (fd_ < 0) throw Error(ErrorCode::kIo, "'" + path_ + "' is already closed");
  while (n > 0) {
    ssize_t put = ::write(fd_, p, n);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) throw Error(ErrorCode::kIo, "error writing '" + path_ + "': " + errno_text(put < 0 ? errno : EIO));
    p += put;
    n -= static_cast<size_t>(put);
    if (write_delay_us()) ::usleep(write_delay_us());
  }
}

void AtomicFileWriter::flush_buffer() {
  if (buffer_.empty()) return;
  write_fully(buffer_.data(), buffer_.size());
  buffer_.clear();
}

void AtomicFileWriter::write(const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  if (buffer_.size() + n <= kBufferBytes) {
    buffer_.insert(buffer_.end(), p, p + n);
    return;
  }
  flush_buffer();
  if (n < kBufferBytes)
    buffer_.insert(buffer_.end(), p, p + n);
  else
    write_fully(p, n);  // big writes (weight chunks) go straight to the file
}

void AtomicFileWriter::commit(Overwrite overwrite) {
  try {
    flush_buffer();
    if (::fsync(fd_) != 0) throw Error(ErrorCode::kIo, "cannot sync '" + path_ + "': " + errno_text(errno));
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) throw Error(ErrorCode::kIo, "error writing '" + path_ + "': " + errno_text(errno));
    int rc = overwrite == Overwrite::kReplace
                 ? ::rename(temp_.c_str(), path_.c_str())
                 : ::renameat2(AT_FDCWD, temp_.c_str(), AT_FDCWD, path_.c_str(), RENAME_NOREPLACE);
    if (rc != 0 && overwrite == Overwrite::kNever && (errno == EINVAL || errno == ENOSYS)) {
      // A file system without RENAME_NOREPLACE: link(2) also refuses an existing target.
      rc = ::link(temp_.c_str(), path_.c_str());
      if (rc == 0) ::unlink(temp_.c_str());
    }
    if (rc != 0) {
      int err = errno;
      if (err == EEXIST) throw Error(ErrorCode::kIo, "'" + path_ + "' exists; refusing to overwrite it");
      throw Error(ErrorCode::kIo, "cannot write '" + path_ + "': " + errno_text(err));
    }
  } catch (...) {
    abandon();
    throw;
  }
  unregister_temp_file(slot_);
  slot_ = -1;
  temp_.clear();
  sync_directory(directory_of(path_), path_);
}

void write_file_atomic(const std::string& path, std::string_view bytes, FileAccess access, Overwrite overwrite) {
  AtomicFileWriter out(path, access);
  out.write(bytes.data(), bytes.size());
  out.commit(overwrite);
}

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {
  }, sb{};
  if (::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0)
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  std::error_code ea, eb;
  auto ca = std::filesystem::weakly_canonical(a, ea), cb = std::filesystem::weakly_canonical(b, eb);
  return !ea && !eb && ca == cb;
}

void refuse_output_onto_inputs(const std::string& output, const std::string& option,
                               const std::vector<std::pair<std::string, std::string>>& inputs) {
  for (const auto& [path, what] : inputs)
    if (!path.empty() && same_file(output, path))
      throw Error(ErrorCode::kBadArgument,
                  option + " '" + output + "' is " + what + " '" + path + "'; refusing to overwrite it");
}

}  // namespace teeinfer
