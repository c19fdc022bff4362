#include "host/key_file.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
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
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!overwrite) throw Error(ErrorCode::kIo, "'" + path + "' exists; refusing to overwrite a key (use --force)");
    // --force replaces an old key, nothing else: not a sealed model or an input by mistake.
    if (!S_ISREG(st.st_mode) || st.st_size != static_cast<off_t>(key.size()))
      throw Error(ErrorCode::kIo, "'" + path + "' is not a key file (" +
                                      (S_ISREG(st.st_mode) ? std::to_string(st.st_size) + " bytes" : "not a file") +
                                      "); refusing to replace it with a key");
  }
  AtomicFileWriter out(path, FileAccess::kOwnerOnly);
  out.write(key.data(), key.size());
  out.commit(overwrite ? Overwrite::kReplace : Overwrite::kNever);
}

AesKey read_key_file(const std::string& path, KeyFileWarning warn) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorCode::kIo, "cannot open key file '" + path + "': " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw Error(ErrorCode::kIo, "cannot stat key file '" + path + "'");
  }
  // One byte more than a key: a longer file is refused without reading all of it.
  uint8_t bytes[33];
  size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t n = ::read(fd, bytes + got, sizeof bytes - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      throw Error(ErrorCode::kIo, "error reading key file '" + path + "': " + std::strerror(err));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  AesKey k{};
  bool right_size = got == k.size();
  if (right_size) std::memcpy(k.data(), bytes, k.size());
  wipe(bytes, sizeof bytes);
  if (!right_size)
    throw Error(ErrorCode::kBadArgument, "key file '" + path + "' holds " +
                                             (got > 32 ? "more than 32" : std::to_string(got)) +
                                             " bytes; a key is exactly 32 (make one with `teeinfer keygen`)");
  uint8_t any = 0;
  for (uint8_t b : k) any |= b;
  if (any == 0)
    throw Error(ErrorCode::kBadArgument,
                "key file '" + path + "' holds an all-zero key; make a real one with `teeinfer keygen`");
  if (warn == KeyFileWarning::kOnStderr && S_ISREG(st.st_mode) && (st.st_mode & (S_IRGRP | S_IROTH)))
    std::fprintf(stderr, "teeinfer: warning: key file '%s' has mode %04o: readable by %s; run chmod 600 on it\n",
                 path.c_str(), static_cast<unsigned>(st.st_mode & 07777),
                 (st.st_mode & S_IROTH) ? (st.st_mode & S_IRGRP ? "group and others" : "others") : "group");
  return k;
}

KeyFile::KeyFile(const std::string& path) : key_(read_key_file(path)) {}

KeyFile::~KeyFile() {
  wipe(key_.data(), key_.size());
}

KeyId KeyFile::id() const {
  return kek_id_of(key_);
}

bool KeyFile::key_encryption_key(const KeyId& kek_id, Key& out) noexcept {
  try {
    if (kek_id_of(key_) != kek_id) return false;
  } catch (...) {
    return false;
  }
  out = key_;
  return true;
}

KeyId KeyFile::generate(const std::string& path, bool overwrite) {
  Key key = generate_key();
  write_key_file(path, key, overwrite);
  KeyId id = kek_id_of(key);
  wipe(key.data(), key.size());
  return id;
}

}  // namespace teeinfer
