// Key-encryption keys in files (development key management).
//
//   write_key_file("k.bin", generate_key(), false);  // 32 random bytes, mode 0600
//   KeyFile keys("k.bin");                           // a KeyProvider (teeinfer/teeinfer.h)
#pragma once

#include <string>

#include "enclave/key_provider.h"

namespace teeinfer {

AesKey generate_key();
// Mode 0600, written atomically (file_io.h). Refuses to replace anything at `path`
// unless `overwrite`, and even then only an old key (a 32-byte file). Throws Error(kIo).
void write_key_file(const std::string& path, const AesKey& key, bool overwrite);

enum class KeyFileWarning { kOnStderr, kSilent };
// The file must hold exactly 32 bytes, not all zero. Throws Error(kIo / kBadArgument).
// A key file readable by group or others gets a one-line warning on stderr.
AesKey read_key_file(const std::string& path, KeyFileWarning warn = KeyFileWarning::kOnStderr);

}  // namespace teeinfer
