#include "host/key_file.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "common/error.h"
#include "common/sealed_format.h"
#include "host/file_io.h"

namespace teeinfer {

AesKey generate_key() {
  AesKey k{};
  if (RAND_bytes(k.data(), static_cast<int>(k.size())) != 1)
    throw Error(ErrorCode::kKernel, "OpenSSL: no random bytes for a key");
  return k;
}

void write_key_file(const std::string& path, const AesKey& key, bool overwrite) {
  if (!overwrite && ::access(path.c_str(), F_OK) == 0)
    throw Error(ErrorCode::kIo, "'" + path + "' exists; refusing to overwrite a key (use --force)");
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw Error(ErrorCode::kIo, "cannot create '" + tmp + "'");
  bool ok = ::write(fd, key.data(), key.size()) == static_cast<ssize_t>(key.size()) && ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error(ErrorCode::kIo, "cannot write key file '" + path + "'");
  }
}

AesKey read_key_file(const std::string& path) {
  std::string bytes = read_file(path);
  if (bytes.size() != 32)
    throw Error(ErrorCode::kBadArgument, "key file '" + path + "' holds " + std::to_string(bytes.size()) +
                                             " bytes; a key is exactly 32 (make one with `teeinfer keygen`)");
  AesKey k{};
  std::memcpy(k.data(), bytes.data(), 32);
  wipe(bytes.data(), bytes.size());
  return k;
}

KeyFileProvider::~KeyFileProvider() {
  wipe(key_.data(), key_.size());
}

bool KeyFileProvider::key_encryption_key(const std::array<uint8_t, 16>& kek_id, AesKey& out) noexcept {
  try {
    if (kek_id_of(key_) != kek_id) return false;
  } catch (...) {
    return false;
  }
  out = key_;
  return true;
}

}  // namespace teeinfer
