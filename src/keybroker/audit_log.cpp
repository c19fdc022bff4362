#include "keybroker/audit_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

#include "teeinfer/teeinfer.h"

namespace teeinfer::keybroker {
namespace {

std::string utc_now() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms));
  return out;
}

}  // namespace

AuditLog::AuditLog(const std::string& path) {
  if (path.empty()) return;
  fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd_ < 0) throw Error(ErrorCode::kIo, path + ": cannot open the audit log: " + std::strerror(errno));
}

AuditLog::~AuditLog() {
  if (fd_ >= 0) ::close(fd_);
}

void AuditLog::record(nlohmann::json entry) {
  if (fd_ < 0) return;
  nlohmann::json line = {{"time", utc_now()}};
  line.update(entry);
  // (fields from the request may hold any bytes: invalid UTF-8 is replaced, never fatal)
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::lock_guard lock(mutex_);
  // O_APPEND: one write() of the whole line lands at the end even with other writers.
  ssize_t n = ::write(fd_, text.data(), text.size());
  if (n != static_cast<ssize_t>(text.size()) || ::fdatasync(fd_) != 0)
    throw Error(ErrorCode::kIo, std::string("audit log: cannot write a decision: ") + std::strerror(errno));
}

}  // namespace teeinfer::keybroker
