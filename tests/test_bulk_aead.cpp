// The bulk AES-256-GCM (common/bulk_aead.h) of whichever backend this build uses
// (TEEINFER_BULK_AEAD=ipsecmb or openssl): published test vectors through every API,
// cross-checks against OpenSSL's EVP called directly here (what one seals the other
// opens, byte for byte), tag failures, and no allocation per message.
#include <gtest/gtest.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "common/bulk_aead.h"

using namespace teeinfer;

// --- allocation counting: every operator new, and every OpenSSL allocation ------------
namespace {
std::atomic<long> g_allocations{0};

void* counting_crypto_malloc(size_t n, const char*, int) {
  ++g_allocations;
  return std::malloc(n);
}
void* counting_crypto_realloc(void* p, size_t n, const char*, int) {
  ++g_allocations;
  return std::realloc(p, n);
}
void counting_crypto_free(void* p, const char*, int) {
  std::free(p);
}
// Before main, so before OpenSSL allocates anything (it refuses later).
const bool g_counting_openssl =
    CRYPTO_set_mem_functions(counting_crypto_malloc, counting_crypto_realloc, counting_crypto_free) == 1;
}  // namespace

// GCC 12 flags free() in a replaced operator delete once it inlines both; they do match.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(size_t n) {
  ++g_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, size_t) noexcept {
  std::free(p);
}
#pragma GCC diagnostic pop

namespace {

using Bytes = std::vector<uint8_t>;

Bytes hex(const std::string& s) {
  Bytes out;
  for (size_t i = 0; i + 1 < s.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(s.substr(i, 2), nullptr, 16)));
  return out;
}

AesKey key_of(const Bytes& b) {
  AesKey k{};
  std::memcpy(k.data(), b.data(), k.size());
  return k;
}

Bytes random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

// AES-256 test cases with 96-bit IVs from D. McGrew and J. Viega, "The Galois/Counter Mode
// of Operation (GCM)", revised submission to NIST (2005), Appendix B: Test Cases 13-16
// (13: empty, 14: one zero block, 15: four blocks, 16: a partial last block and 20 bytes
// of AAD). Test Cases 17 and 18 use 64- and 480-bit IVs, which this API does not take.
struct Vector {
  const char* name;
  Bytes key, iv, plain, aad, cipher, tag;
};

std::vector<Vector> gcm_spec_vectors() {
  const std::string k15 = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
  const std::string p15 =
      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
      "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
  const std::string c15 =
      "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
      "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad";
  return {
      {"TestCase13", Bytes(32, 0), Bytes(12, 0), {}, {}, {}, hex("530f8afbc74536b9a963b4f1c4cb738b")},
      {"TestCase14",
       Bytes(32, 0),
       Bytes(12, 0),
       Bytes(16, 0),
       {},
       hex("cea7403d4d606b6e074ec5d3baf39d18"),
       hex("d0d1c8a799996bf0265b98b5d48ab919")},
      {"TestCase15",
       hex(k15),
       hex("cafebabefacedbaddecaf888"),
       hex(p15),
       {},
       hex(c15),
       hex("b094dac5d93471bdec1a502270e3cc6c")},
      {"TestCase16", hex(k15), hex("cafebabefacedbaddecaf888"), hex(p15.substr(0, 120)),
       hex("feedfacedeadbeeffeedfacedeadbeefabaddad2"), hex(c15.substr(0, 120)),
       hex("76fc6ece0f4e1768cddf8853bb2d551b")},
  };
}

// --- OpenSSL's EVP, called directly: the reference --------------------------------------
struct Sealed {
  Bytes cipher;
  Bytes tag = Bytes(kTagBytes);
};

Sealed evp_seal(const AesKey& key, const uint8_t* nonce, const Bytes& aad, const Bytes& plain) {
  Sealed s;
  s.cipher.resize(plain.size());
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int len = 0;
  bool ok = EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, key.data(), nonce) == 1 &&
            (aad.empty() || EVP_EncryptUpdate(ctx, nullptr, &len, aad.data(), static_cast<int>(aad.size())) == 1) &&
            (plain.empty() ||
             EVP_EncryptUpdate(ctx, s.cipher.data(), &len, plain.data(), static_cast<int>(plain.size())) == 1) &&
            EVP_EncryptFinal_ex(ctx, s.tag.data(), &len) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kTagBytes, s.tag.data()) == 1;
  EVP_CIPHER_CTX_free(ctx);
  EXPECT_TRUE(ok);
  return s;
}

bool evp_open(const AesKey& key, const uint8_t* nonce, const Bytes& aad, const Bytes& cipher, const Bytes& tag,
              Bytes& plain) {
  plain.assign(cipher.size(), 0);
  Bytes t = tag;
  uint8_t rest[16];
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int len = 0;
  bool ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, key.data(), nonce) == 1 &&
            (aad.empty() || EVP_DecryptUpdate(ctx, nullptr, &len, aad.data(), static_cast<int>(aad.size())) == 1) &&
            (cipher.empty() ||
             EVP_DecryptUpdate(ctx, plain.data(), &len, cipher.data(), static_cast<int>(cipher.size())) == 1) &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kTagBytes, t.data()) == 1 &&
            EVP_DecryptFinal_ex(ctx, rest, &len) == 1;
  EVP_CIPHER_CTX_free(ctx);
  return ok;
}

// --- the bulk API under test ------------------------------------------------------------
Sealed bulk_seal(BulkAeadKey& key, const uint8_t* nonce, const Bytes& aad, const Bytes& plain) {
  Sealed s;
  s.cipher.resize(plain.size());
  key.encrypt(nonce, aad.data(), aad.size(), plain.data(), plain.size(), s.cipher.data(), s.tag.data());
  return s;
}

bool bulk_open(BulkAeadKey& key, const uint8_t* nonce, const Bytes& aad, const Bytes& cipher, const Bytes& tag,
               Bytes& plain) {
  plain.assign(cipher.size(), 0xEE);
  return key.decrypt(nonce, aad.data(), aad.size(), cipher.data(), cipher.size(), tag.data(), plain.data());
}

// The message in pieces of the given lengths (which sum to its size; zeros allowed).
bool stream_open(BulkAeadDecryptStream& s, const uint8_t* nonce, const Bytes& aad, const Bytes& cipher,
                 const Bytes& tag, const std::vector<size_t>& pieces, Bytes& plain) {
  plain.assign(cipher.size(), 0xEE);
  s.begin(nonce, aad.data(), aad.size());
  size_t at = 0;
  for (size_t n : pieces) {
    s.update(cipher.data() + at, n, plain.data() + at);
    at += n;
  }
  EXPECT_EQ(at, cipher.size());
  return s.finish(tag.data());
}

// Every way of cutting n bytes into at most three pieces (empty ones included), then
// every piece length from 1 to n, then one-byte pieces with empty pieces between them.
std::vector<std::vector<size_t>> splits(size_t n) {
  std::vector<std::vector<size_t>> out;
  for (size_t i = 0; i <= n; ++i)
    for (size_t j = i; j <= n; ++j) out.push_back({i, j - i, n - j});
  for (size_t len = 1; len <= n; ++len) {
    std::vector<size_t> p;
    for (size_t at = 0; at < n; at += len) p.push_back(std::min(len, n - at));
    out.push_back(p);
  }
  std::vector<size_t> ones;
  for (size_t i = 0; i < n; ++i) {
    ones.push_back(0);
    ones.push_back(1);
  }
  ones.push_back(0);
  out.push_back(ones);
  return out;
}

}  // namespace

TEST(BulkAead, ReportsItsBackend) {
  std::string d = bulk_aead_description();
  std::printf("bulk AES-GCM backend: %s (%s)\n", bulk_aead_backend(), d.c_str());
  EXPECT_FALSE(d.empty());
}

TEST(BulkAead, GcmSpecVectorsOneShot) {
  for (const Vector& v : gcm_spec_vectors()) {
    SCOPED_TRACE(v.name);
    BulkAeadKey key(key_of(v.key));
    Sealed s = bulk_seal(key, v.iv.data(), v.aad, v.plain);
    EXPECT_EQ(s.cipher, v.cipher);
    EXPECT_EQ(s.tag, v.tag);
    Bytes plain;
    EXPECT_TRUE(bulk_open(key, v.iv.data(), v.aad, v.cipher, v.tag, plain));
    EXPECT_EQ(plain, v.plain);
    // The reference agrees with the published values too.
    Sealed r = evp_seal(key_of(v.key), v.iv.data(), v.aad, v.plain);
    EXPECT_EQ(r.cipher, v.cipher);
    EXPECT_EQ(r.tag, v.tag);
  }
}

TEST(BulkAead, GcmSpecVectorsInPlace) {
  for (const Vector& v : gcm_spec_vectors()) {
    SCOPED_TRACE(v.name);
    BulkAeadKey key(key_of(v.key));
    Bytes buf = v.plain;
    Bytes tag(kTagBytes);
    key.encrypt(v.iv.data(), v.aad.data(), v.aad.size(), buf.data(), buf.size(), buf.data(), tag.data());
    EXPECT_EQ(buf, v.cipher);
    EXPECT_EQ(tag, v.tag);
    EXPECT_TRUE(key.decrypt(v.iv.data(), v.aad.data(), v.aad.size(), buf.data(), buf.size(), tag.data(), buf.data()));
    EXPECT_EQ(buf, v.plain);
  }
}

TEST(BulkAead, GcmSpecVectorsStreamedInEverySplit) {
  for (const Vector& v : gcm_spec_vectors()) {
    SCOPED_TRACE(v.name);
    BulkAeadKey key(key_of(v.key));
    BulkAeadDecryptStream stream(key);  // one stream for every message: begin() restarts it
    size_t tried = 0;
    for (const auto& pieces : splits(v.cipher.size())) {
      Bytes plain;
      ASSERT_TRUE(stream_open(stream, v.iv.data(), v.aad, v.cipher, v.tag, pieces, plain)) << "split " << tried;
      ASSERT_EQ(plain, v.plain) << "split " << tried;
      ++tried;
    }
    EXPECT_GT(tried, v.cipher.size());
  }
}

TEST(BulkAead, StreamFinishWithoutBeginFails) {
  BulkAeadKey key(AesKey{});
  BulkAeadDecryptStream stream(key);
  uint8_t tag[kTagBytes] = {};
  EXPECT_FALSE(stream.finish(tag));
}

// What OpenSSL seals the bulk cipher opens and vice versa, with identical bytes, for every
// size from 0 to 1024 and a few large odd ones, with and without additional data.
TEST(BulkAead, CrossChecksAgainstOpenSslEvp) {
  AesKey k = key_of(random_bytes(32, 1));
  BulkAeadKey key(k);
  BulkAeadDecryptStream stream(key);
  std::vector<size_t> sizes;
  for (size_t n = 0; n <= 1024; ++n) sizes.push_back(n);
  for (size_t n : {size_t{1} << 20, (size_t{1} << 20) + 1, (size_t{1} << 20) + 13, (size_t{3} << 20) + 4095})
    sizes.push_back(n);
  for (bool with_aad : {false, true}) {
    for (size_t n : sizes) {
      SCOPED_TRACE("size " + std::to_string(n) + (with_aad ? " with AAD" : " without AAD"));
      Bytes plain = random_bytes(n, static_cast<uint32_t>(n + 7));
      Bytes aad = with_aad ? random_bytes(1 + n % 97, static_cast<uint32_t>(n + 11)) : Bytes{};
      Bytes nonce = random_bytes(kNonceBytes, static_cast<uint32_t>(n + 13));
      Sealed bulk = bulk_seal(key, nonce.data(), aad, plain);
      Sealed ref = evp_seal(k, nonce.data(), aad, plain);
      ASSERT_EQ(bulk.cipher, ref.cipher);
      ASSERT_EQ(bulk.tag, ref.tag);
      Bytes out;
      ASSERT_TRUE(evp_open(k, nonce.data(), aad, bulk.cipher, bulk.tag, out));
      ASSERT_EQ(out, plain);
      ASSERT_TRUE(bulk_open(key, nonce.data(), aad, ref.cipher, ref.tag, out));
      ASSERT_EQ(out, plain);
      // Streamed as the loader does: windows of an odd size, then the rest.
      std::vector<size_t> pieces;
      for (size_t at = 0; at < n; at += 65537) pieces.push_back(std::min<size_t>(65537, n - at));
      ASSERT_TRUE(stream_open(stream, nonce.data(), aad, ref.cipher, ref.tag, pieces, out));
      ASSERT_EQ(out, plain);
    }
  }
}

// A flipped bit in the ciphertext, the tag, the additional data or the nonce: both the
// bulk cipher (one-shot and streamed) and OpenSSL reject it; the one-shot output is zeroed.
TEST(BulkAead, TamperingIsRejectedByBoth) {
  AesKey k = key_of(random_bytes(32, 2));
  BulkAeadKey key(k);
  BulkAeadDecryptStream stream(key);
  for (size_t n : {size_t{1}, size_t{15}, size_t{16}, size_t{333}, size_t{4096}, size_t{262144}}) {
    Bytes plain = random_bytes(n, static_cast<uint32_t>(n));
    Bytes aad = random_bytes(54, 3);
    Bytes nonce = random_bytes(kNonceBytes, 4);
    Sealed s = bulk_seal(key, nonce.data(), aad, plain);
    for (int what = 0; what < 4; ++what) {
      for (size_t at : {size_t{0}, size_t{7}, size_t{1} << 20}) {
        Bytes c = s.cipher, t = s.tag, a = aad, iv = nonce;
        Bytes& target = what == 0 ? c : what == 1 ? t : what == 2 ? a : iv;
        size_t byte = std::min(at, target.size() - 1);
        target[byte] ^= static_cast<uint8_t>(1u << (at % 8));
        SCOPED_TRACE("size " + std::to_string(n) + ", flipped a bit of " +
                     (what == 0   ? "the ciphertext"
                      : what == 1 ? "the tag"
                      : what == 2 ? "the AAD"
                                  : "the nonce") +
                     " at byte " + std::to_string(byte));
        Bytes out;
        EXPECT_FALSE(bulk_open(key, iv.data(), a, c, t, out));
        EXPECT_EQ(out, Bytes(n, 0));
        EXPECT_FALSE(stream_open(stream, iv.data(), a, c, t, {n / 3, n - n / 3}, out));
        EXPECT_FALSE(evp_open(k, iv.data(), a, c, t, out));
      }
    }
    // And the untouched message still opens everywhere.
    Bytes out;
    EXPECT_TRUE(bulk_open(key, nonce.data(), aad, s.cipher, s.tag, out));
    EXPECT_TRUE(stream_open(stream, nonce.data(), aad, s.cipher, s.tag, {n}, out));
    EXPECT_TRUE(evp_open(k, nonce.data(), aad, s.cipher, s.tag, out));
  }
}

TEST(BulkAead, WrongKeyIsRejected) {
  BulkAeadKey a(key_of(random_bytes(32, 5))), b(key_of(random_bytes(32, 6)));
  Bytes plain = random_bytes(1000, 7), nonce(kNonceBytes, 1), out;
  Sealed s = bulk_seal(a, nonce.data(), {}, plain);
  EXPECT_FALSE(bulk_open(b, nonce.data(), {}, s.cipher, s.tag, out));
  EXPECT_TRUE(bulk_open(a, nonce.data(), {}, s.cipher, s.tag, out));
}

TEST(BulkAead, FreshRandomKeysDiffer) {
  BulkAeadKey a(kFreshRandomKey), b(kFreshRandomKey);
  Bytes plain(64, 0), nonce(kNonceBytes, 0), out;
  Sealed sa = bulk_seal(a, nonce.data(), {}, plain), sb = bulk_seal(b, nonce.data(), {}, plain);
  EXPECT_NE(sa.cipher, sb.cipher);
  EXPECT_TRUE(bulk_open(a, nonce.data(), {}, sa.cipher, sa.tag, out));
  EXPECT_FALSE(bulk_open(a, nonce.data(), {}, sb.cipher, sb.tag, out));
}

// The key schedule and hash tables are prepared once per key: a message allocates nothing
// (operator new and OpenSSL's allocator are both counted here).
TEST(BulkAead, MessagesAllocateNothing) {
  if (!g_counting_openssl) GTEST_SKIP() << "OpenSSL allocated before this binary could count its allocations";
  BulkAeadKey key(key_of(random_bytes(32, 8)));
  BulkAeadDecryptStream stream(key);
  Bytes plain = random_bytes(70000, 9), cipher(plain.size()), out(plain.size()), aad(54, 1), nonce(kNonceBytes, 2);
  uint8_t tag[kTagBytes];
  long before = g_allocations.load();
  bool ok = true;
  for (int i = 0; i < 50; ++i) {
    nonce[0] = static_cast<uint8_t>(i);
    key.encrypt(nonce.data(), aad.data(), aad.size(), plain.data(), plain.size(), cipher.data(), tag);
    ok &= key.decrypt(nonce.data(), aad.data(), aad.size(), cipher.data(), cipher.size(), tag, out.data());
    stream.begin(nonce.data(), aad.data(), aad.size());
    stream.update(cipher.data(), 4097, out.data());
    stream.update(cipher.data() + 4097, cipher.size() - 4097, out.data() + 4097);
    ok &= stream.finish(tag);
    tag[3] ^= 1;
    ok &= !key.decrypt(nonce.data(), aad.data(), aad.size(), cipher.data(), cipher.size(), tag, out.data());
  }
  EXPECT_EQ(g_allocations.load() - before, 0);
  EXPECT_TRUE(ok);
  // The count does see allocations: OpenSSL's one-off EVP calls make some.
  AesKey other{};
  long counted = g_allocations.load();
  evp_seal(other, nonce.data(), aad, plain);
  EXPECT_GT(g_allocations.load(), counted);
}

// Key material does not outlive the objects that hold it.
TEST(BulkAead, KeyMaterialIsWipedOnDestruction) {
  alignas(BulkAeadKey) unsigned char key_storage[sizeof(BulkAeadKey)];
  alignas(BulkAeadDecryptStream) unsigned char stream_storage[sizeof(BulkAeadDecryptStream)];
  auto* key = new (key_storage) BulkAeadKey(key_of(random_bytes(32, 10)));
  auto* stream = new (stream_storage) BulkAeadDecryptStream(*key);
  Bytes c(100), nonce(kNonceBytes, 0), out(100);
  stream->begin(nonce.data(), nullptr, 0);
  stream->update(c.data(), c.size(), out.data());
  stream->~BulkAeadDecryptStream();
  key->~BulkAeadKey();
  // The key object holds only its prepared key; the stream, besides its key reference,
  // only its per-message state: both must be all zeros now.
  EXPECT_EQ(Bytes(key_storage, key_storage + sizeof key_storage), Bytes(sizeof key_storage, 0));
  size_t state_at = sizeof(void*) < 16 ? 16 : sizeof(void*);
  EXPECT_EQ(Bytes(stream_storage + state_at, stream_storage + sizeof stream_storage),
            Bytes(sizeof stream_storage - state_at, 0));
}
