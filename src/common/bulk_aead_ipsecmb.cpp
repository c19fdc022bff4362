// BulkAeadKey on Intel's multi-buffer crypto library (intel-ipsec-mb), through its direct
// GCM API: gcm256_pre once per key (AES key schedule + GHASH tables in a gcm_key_data),
// then gcm256_enc / gcm256_dec, or init / dec_update / dec_finalize for a stream. Those
// functions are hand-written assembly that work only on the key data and a caller-owned
// gcm_context_data (on the stack or in the stream): they allocate nothing, take no lock
// and leave the manager untouched, so one manager serves every thread and the emulated
// EPC's fault handler. The library computes tags; comparing them is ours (constant time).
#include <intel-ipsec-mb.h>
#include <openssl/crypto.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "common/bulk_aead.h"
#include "common/error.h"

namespace teeinfer {
namespace {

// NIST SP 800-38D: at most 2^39 - 256 bits of plaintext per message. The sealed format
// keeps every message far below (chunks <= 1 GiB).
constexpr uint64_t kMaxMessageBytes = (uint64_t{1} << 36) - 32;

struct Prepared {
  gcm_key_data key;    // 64-byte aligned: expanded keys, then the hash key powers
  const IMB_MGR* mgr;  // the process's manager: which implementation of each function
};
static_assert(sizeof(Prepared) <= BulkAeadKey::kPreparedBytes && alignof(Prepared) <= 64);

struct StreamState {
  gcm_context_data ctx;
  bool begun;
};
static_assert(sizeof(StreamState) <= BulkAeadDecryptStream::kStateBytes && alignof(StreamState) <= 16);

Prepared& prepared(unsigned char* p) {
  return *std::launder(reinterpret_cast<Prepared*>(p));
}
StreamState& stream_state(unsigned char* p) {
  return *std::launder(reinterpret_cast<StreamState*>(p));
}

// A broken internal invariant (like a failed assert). Trusted code writes nothing itself
// (no I/O in src/common), and this may run in the EPC fault handler: stop at once.
[[noreturn]] void misuse(const char* /*why*/) {
  std::abort();
}

// One manager for the process, set up on first use: init_mb_mgr_auto picks the code path
// for this CPU (AVX-512 with VAES and VPCLMULQDQ where present, else AVX2, AVX, SSE, or
// no AES-NI at all). Never freed: it is read-only after this and used until exit.
const IMB_MGR* manager() {
  static const IMB_MGR* mgr = [] {
    IMB_MGR* m = alloc_mb_mgr(0);
    if (!m) throw Error(ErrorCode::kKernel, "ipsec-mb: cannot allocate the multi-buffer manager");
    IMB_ARCH arch = IMB_ARCH_NONE;
    init_mb_mgr_auto(m, &arch);
    if (arch == IMB_ARCH_NONE || imb_get_errno(m) != 0) {
      free_mb_mgr(m);
      throw Error(ErrorCode::kKernel, "ipsec-mb: no usable implementation for this CPU");
    }
    return static_cast<const IMB_MGR*>(m);
  }();
  return mgr;
}

bool tags_equal(const uint8_t* a, const uint8_t* b) {
  return CRYPTO_memcmp(a, b, kTagBytes) == 0;
}

}  // namespace

const char* bulk_aead_backend() {
  return "ipsec-mb";
}

std::string bulk_aead_description() {
  const IMB_MGR* m = manager();
  const char* arch = "no-aesni";
  switch (m->used_arch) {
    case IMB_ARCH_SSE:
      arch = "sse";
      break;
    case IMB_ARCH_AVX:
      arch = "avx";
      break;
    case IMB_ARCH_AVX2:
      arch = "avx2";
      break;
    case IMB_ARCH_AVX512:
      arch = "avx512";
      break;
    default:
      break;
  }
  std::string s = std::string("ipsec-mb ") + imb_get_version_str() + " " + arch;
  if ((m->features & IMB_FEATURE_VAES) && (m->features & IMB_FEATURE_VPCLMULQDQ)) s += " vaes";
  return s;
}

void BulkAeadKey::prepare(const AesKey& key) {
  Prepared* p = new (prepared_) Prepared;
  p->mgr = manager();
  IMB_AES256_GCM_PRE(p->mgr, key.data(), &p->key);
}

BulkAeadKey::~BulkAeadKey() {
  prepared(prepared_).~Prepared();
  OPENSSL_cleanse(prepared_, sizeof prepared_);
}

void BulkAeadKey::encrypt(const uint8_t* nonce, const uint8_t* aad, size_t aad_len, const uint8_t* plain, size_t n,
                          uint8_t* cipher, uint8_t* tag) noexcept {
  if (n > kMaxMessageBytes) misuse("teeinfer: AES-GCM message longer than GCM allows\n");
  Prepared& p = prepared(prepared_);
  gcm_context_data ctx;
  IMB_AES256_GCM_ENC(p.mgr, &p.key, &ctx, cipher, plain, n, nonce, aad, aad_len, tag, kTagBytes);
  OPENSSL_cleanse(&ctx, sizeof ctx);
}

bool BulkAeadKey::decrypt(const uint8_t* nonce, const uint8_t* aad, size_t aad_len, const uint8_t* cipher, size_t n,
                          const uint8_t* tag, uint8_t* plain) noexcept {
  if (n > kMaxMessageBytes) return false;
  Prepared& p = prepared(prepared_);
  uint8_t expected[kTagBytes], computed[kTagBytes];
  std::memcpy(expected, tag, kTagBytes);  // before decrypting: in-place output may follow it
  gcm_context_data ctx;
  IMB_AES256_GCM_DEC(p.mgr, &p.key, &ctx, plain, cipher, n, nonce, aad, aad_len, computed, kTagBytes);
  OPENSSL_cleanse(&ctx, sizeof ctx);
  bool ok = tags_equal(computed, expected);
  if (!ok && n > 0) std::memset(plain, 0, n);  // unauthenticated plaintext is never handed out
  return ok;
}

BulkAeadDecryptStream::BulkAeadDecryptStream(BulkAeadKey& key) : key_(key) {
  new (state_) StreamState{};
}

BulkAeadDecryptStream::~BulkAeadDecryptStream() {
  stream_state(state_).~StreamState();
  OPENSSL_cleanse(state_, sizeof state_);
}

void BulkAeadDecryptStream::begin(const uint8_t* nonce, const uint8_t* aad, size_t aad_len) noexcept {
  Prepared& p = prepared(key_.prepared_);
  StreamState& s = stream_state(state_);
  IMB_AES256_GCM_INIT(p.mgr, &p.key, &s.ctx, nonce, aad, aad_len);
  s.begun = true;
}

void BulkAeadDecryptStream::update(const uint8_t* cipher, size_t n, uint8_t* plain) noexcept {
  StreamState& s = stream_state(state_);
  if (!s.begun) misuse("teeinfer: AES-GCM stream updated before begin()\n");
  if (n == 0) return;
  if (n > kMaxMessageBytes - s.ctx.in_length) misuse("teeinfer: AES-GCM message longer than GCM allows\n");
  Prepared& p = prepared(key_.prepared_);
  IMB_AES256_GCM_DEC_UPDATE(p.mgr, &p.key, &s.ctx, plain, cipher, n);
}

bool BulkAeadDecryptStream::finish(const uint8_t* tag) noexcept {
  StreamState& s = stream_state(state_);
  if (!s.begun) return false;
  Prepared& p = prepared(key_.prepared_);
  uint8_t computed[kTagBytes];
  IMB_AES256_GCM_DEC_FINALIZE(p.mgr, &p.key, &s.ctx, computed, kTagBytes);
  bool ok = tags_equal(computed, tag);
  OPENSSL_cleanse(&s.ctx, sizeof s.ctx);
  s.begun = false;
  return ok;
}

}  // namespace teeinfer
