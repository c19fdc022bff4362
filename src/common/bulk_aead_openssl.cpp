// BulkAeadKey on OpenSSL 3's EVP (TEEINFER_BULK_AEAD=openssl): for CPUs or builds
// without intel-ipsec-mb, and the reference the ipsec-mb backend is tested against.
// The key object holds an encrypting and a decrypting cipher context, keyed once; a
// message only sets a new IV on them (EVP_*Init_ex with no cipher and no key keeps the
// key schedule and allocates nothing). A stream keys its own context once, at
// construction.
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "common/bulk_aead.h"
#include "common/error.h"

namespace teeinfer {
namespace {

struct Prepared {
  EVP_CIPHER_CTX* enc;
  EVP_CIPHER_CTX* dec;
  AesKey key;  // for the streams' own contexts
};
static_assert(sizeof(Prepared) <= BulkAeadKey::kPreparedBytes);

struct StreamState {
  EVP_CIPHER_CTX* ctx;
  bool ok;
  bool begun;
};
static_assert(sizeof(StreamState) <= BulkAeadDecryptStream::kStateBytes);

Prepared& prepared(unsigned char* p) {
  return *std::launder(reinterpret_cast<Prepared*>(p));
}
StreamState& stream_state(unsigned char* p) {
  return *std::launder(reinterpret_cast<StreamState*>(p));
}

[[noreturn]] void fail(const char* why) {
  ssize_t r = ::write(2, why, std::strlen(why));
  (void)r;
  std::abort();
}

const EVP_CIPHER* aes_256_gcm() {
  static EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);  // kept for the process
  if (!cipher) throw Error(ErrorCode::kKernel, "OpenSSL: AES-256-GCM is not available");
  return cipher;
}

EVP_CIPHER_CTX* keyed_ctx(const AesKey& key, bool encrypt) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  bool ok = ctx && (encrypt ? EVP_EncryptInit_ex(ctx, aes_256_gcm(), nullptr, key.data(), nullptr)
                            : EVP_DecryptInit_ex(ctx, aes_256_gcm(), nullptr, key.data(), nullptr)) == 1;
  if (!ok) {
    EVP_CIPHER_CTX_free(ctx);
    throw Error(ErrorCode::kKernel, "OpenSSL: cannot set up AES-256-GCM");
  }
  return ctx;
}

// EVP takes int lengths: feed large buffers in pieces. `out` null: additional data.
bool in_pieces(EVP_CIPHER_CTX* ctx, bool encrypt, const uint8_t* in, size_t n, uint8_t* out) {
  constexpr size_t kPiece = size_t{1} << 30;
  for (size_t done = 0; done < n; done += kPiece) {
    int len = static_cast<int>(std::min(kPiece, n - done)), outl = 0;
    uint8_t* o = out ? out + done : nullptr;
    int r =
        encrypt ? EVP_EncryptUpdate(ctx, o, &outl, in + done, len) : EVP_DecryptUpdate(ctx, o, &outl, in + done, len);
    if (r != 1) return false;
  }
  return true;
}

}  // namespace

const char* bulk_aead_backend() {
  return "openssl";
}

std::string bulk_aead_description() {
  return OpenSSL_version(OPENSSL_VERSION);
}

void BulkAeadKey::prepare(const AesKey& key) {
  Prepared* p = new (prepared_) Prepared{nullptr, nullptr, key};
  try {
    p->enc = keyed_ctx(key, true);
    p->dec = keyed_ctx(key, false);
  } catch (...) {
    EVP_CIPHER_CTX_free(p->enc);
    OPENSSL_cleanse(prepared_, sizeof prepared_);
    throw;
  }
}

BulkAeadKey::~BulkAeadKey() {
  Prepared& p = prepared(prepared_);
  EVP_CIPHER_CTX_free(p.enc);  // clears the key schedule
  EVP_CIPHER_CTX_free(p.dec);
  p.~Prepared();
  OPENSSL_cleanse(prepared_, sizeof prepared_);
}

void BulkAeadKey::encrypt(const uint8_t* nonce, const uint8_t* aad, size_t aad_len, const uint8_t* plain, size_t n,
                          uint8_t* cipher, uint8_t* tag) noexcept {
  EVP_CIPHER_CTX* ctx = prepared(prepared_).enc;
  uint8_t last[16];
  int outl = 0;
  bool ok = EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce) == 1 &&
            in_pieces(ctx, true, aad, aad_len, nullptr) && in_pieces(ctx, true, plain, n, cipher) &&
            EVP_EncryptFinal_ex(ctx, last, &outl) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagBytes), tag) == 1;
  if (!ok) fail("teeinfer: OpenSSL AES-256-GCM encryption failed\n");
}

bool BulkAeadKey::decrypt(const uint8_t* nonce, const uint8_t* aad, size_t aad_len, const uint8_t* cipher, size_t n,
                          const uint8_t* tag, uint8_t* plain) noexcept {
  EVP_CIPHER_CTX* ctx = prepared(prepared_).dec;
  uint8_t expected[kTagBytes], last[16];
  std::memcpy(expected, tag, kTagBytes);  // before decrypting: in-place output may follow it
  int outl = 0;
  bool ok = EVP_DecryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce) == 1 &&
            in_pieces(ctx, false, aad, aad_len, nullptr) && in_pieces(ctx, false, cipher, n, plain) &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagBytes), expected) == 1 &&
            EVP_DecryptFinal_ex(ctx, last, &outl) == 1;
  if (!ok && n > 0) std::memset(plain, 0, n);  // unauthenticated plaintext is never handed out
  return ok;
}

BulkAeadDecryptStream::BulkAeadDecryptStream(BulkAeadKey& key) : key_(key) {
  new (state_) StreamState{keyed_ctx(prepared(key.prepared_).key, false), false, false};
}

BulkAeadDecryptStream::~BulkAeadDecryptStream() {
  EVP_CIPHER_CTX_free(stream_state(state_).ctx);
  stream_state(state_).~StreamState();
  OPENSSL_cleanse(state_, sizeof state_);
}

void BulkAeadDecryptStream::begin(const uint8_t* nonce, const uint8_t* aad, size_t aad_len) noexcept {
  StreamState& s = stream_state(state_);
  s.ok = EVP_DecryptInit_ex(s.ctx, nullptr, nullptr, nullptr, nonce) == 1 &&
         in_pieces(s.ctx, false, aad, aad_len, nullptr);
  s.begun = true;
}

void BulkAeadDecryptStream::update(const uint8_t* cipher, size_t n, uint8_t* plain) noexcept {
  StreamState& s = stream_state(state_);
  if (!s.begun) fail("teeinfer: AES-GCM stream updated before begin()\n");
  s.ok = s.ok && in_pieces(s.ctx, false, cipher, n, plain);
}

bool BulkAeadDecryptStream::finish(const uint8_t* tag) noexcept {
  StreamState& s = stream_state(state_);
  if (!s.begun) return false;
  s.begun = false;
  uint8_t expected[kTagBytes], last[16];
  std::memcpy(expected, tag, kTagBytes);
  int outl = 0;
  return s.ok && EVP_CIPHER_CTX_ctrl(s.ctx, EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagBytes), expected) == 1 &&
         EVP_DecryptFinal_ex(s.ctx, last, &outl) == 1;
}

}  // namespace teeinfer
