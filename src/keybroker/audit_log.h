// The key broker's append-only audit log: one JSON object per line per decision (who,
// which model, which measurement, granted or why refused; never a key or evidence bytes).
// Opened O_APPEND|O_NOFOLLOW (mode 0600), each line written whole and synced before the
// decision is answered, so an answered grant is always on disk.
#pragma once

#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

namespace teeinfer::keybroker {

class AuditLog {
 public:
  // Throws Error(kIo) naming the path. An empty path logs nowhere (tests of the policy).
  explicit AuditLog(const std::string& path);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Adds "time" (UTC, ISO 8601) and writes the line; throws Error(kIo) if it cannot.
  void record(nlohmann::json entry);

 private:
  int fd_ = -1;
  std::mutex mutex_;
};

}  // namespace teeinfer::keybroker
