// The backend-independent part of BulkAeadKey: where its key comes from. The backends
// (bulk_aead_ipsecmb.cpp, bulk_aead_openssl.cpp) implement prepare() and the rest.
#include "common/bulk_aead.h"

#include <openssl/rand.h>

#include "common/error.h"

namespace teeinfer {

BulkAeadKey::BulkAeadKey(const AesKey& key) {
  prepare(key);
}

BulkAeadKey::BulkAeadKey(FreshRandomKey) {
  AesKey key{};
  try {
    if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1)
      throw Error(ErrorCode::kKernel, "OpenSSL: no random bytes for a fresh AES key");
    prepare(key);
  } catch (...) {
    wipe(key.data(), key.size());
    throw;
  }
  wipe(key.data(), key.size());
}

}  // namespace teeinfer
