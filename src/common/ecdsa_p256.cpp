#include "common/ecdsa_p256.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include <cstring>
#include <memory>
#include <vector>

#include "common/aes_gcm.h"
#include "common/error.h"

namespace teeinfer::ecdsa_p256 {
namespace {

template <class T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using Bn = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_clear_free>>;
using Group = std::unique_ptr<EC_GROUP, Deleter<EC_GROUP, EC_GROUP_free>>;
using Point = std::unique_ptr<EC_POINT, Deleter<EC_POINT, EC_POINT_free>>;
using Pkey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using Sig = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG, ECDSA_SIG_free>>;
using ParamBld = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using Params = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM, OSSL_PARAM_free>>;

[[noreturn]] void fail(const char* what) {
  throw Error(ErrorCode::kKernel, std::string("OpenSSL: ECDSA P-256: ") + what);
}

template <class T>
T check(T p, const char* what) {
  if (!p) fail(what);
  return p;
}

Group p256() {
  return Group(check(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1), "no P-256 group"));
}

Bn scalar(const uint8_t* sk) {
  Bn k(check(BN_secure_new(), "BN_secure_new"));
  if (!BN_bin2bn(sk, static_cast<int>(kPrivateKeyBytes), k.get())) fail("BN_bin2bn");
  return k;
}

// The uncompressed point encoding 04 || x || y, which OpenSSL's key import expects.
std::array<uint8_t, 65> uncompressed(const PublicKey& pk) {
  std::array<uint8_t, 65> out{};
  out[0] = 0x04;
  std::memcpy(out.data() + 1, pk.data(), pk.size());
  return out;
}

Pkey make_key(const PublicKey& pk, const uint8_t* sk) {
  auto point = uncompressed(pk);
  ParamBld bld(check(OSSL_PARAM_BLD_new(), "OSSL_PARAM_BLD_new"));
  Bn k = sk ? scalar(sk) : Bn();
  bool ok = OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) == 1 &&
            OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) == 1 &&
            (!sk || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, k.get()) == 1);
  if (!ok) fail("cannot build key parameters");
  Params params(check(OSSL_PARAM_BLD_to_param(bld.get()), "OSSL_PARAM_BLD_to_param"));
  PkeyCtx ctx(check(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr), "EVP_PKEY_CTX_new_from_name"));
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, sk ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
    return Pkey();  // (a point not on the curve ends here)
  return Pkey(raw);
}

bool in_range(const uint8_t* candidate) {
  static const uint8_t kOrder[32] = {0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF,
                                     0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17,
                                     0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51};  // n of P-256
  static const uint8_t kZero[32] = {};
  return std::memcmp(candidate, kZero, 32) != 0 && std::memcmp(candidate, kOrder, 32) < 0;
}

}  // namespace

void generate_private_key(uint8_t* sk) {
  do {
    if (RAND_priv_bytes(sk, static_cast<int>(kPrivateKeyBytes)) != 1) fail("RAND_priv_bytes");
  } while (!in_range(sk));
}

void derive_private_key(const uint8_t* seed, size_t n, uint8_t* sk) {
  std::vector<uint8_t> block(n + 4);
  std::memcpy(block.data() + 4, seed, n);
  for (uint32_t counter = 0;; ++counter) {
    for (int i = 0; i < 4; ++i) block[i] = static_cast<uint8_t>(counter >> (24 - 8 * i));
    auto digest = sha256(block.data(), block.size());
    std::memcpy(sk, digest.data(), kPrivateKeyBytes);
    if (in_range(sk)) return;
  }
}

PublicKey public_key(const uint8_t* sk) {
  Group group = p256();
  Bn k = scalar(sk);
  Point point(check(EC_POINT_new(group.get()), "EC_POINT_new"));
  if (EC_POINT_mul(group.get(), point.get(), k.get(), nullptr, nullptr, nullptr) != 1) fail("EC_POINT_mul");
  std::array<uint8_t, 65> encoded{};
  if (EC_POINT_point2oct(group.get(), point.get(), POINT_CONVERSION_UNCOMPRESSED, encoded.data(), encoded.size(),
                         nullptr) != encoded.size())
    fail("EC_POINT_point2oct");
  PublicKey pk{};
  std::memcpy(pk.data(), encoded.data() + 1, pk.size());
  return pk;
}

Signature sign(const uint8_t* sk, const uint8_t* message, size_t n) {
  return sign(sk, public_key(sk), message, n);
}

Signature sign(const uint8_t* sk, const PublicKey& pk, const uint8_t* message, size_t n) {
  return SigningKey(sk, pk).sign(message, n);
}

struct SigningKey::Impl {
  Pkey key;
};

SigningKey::SigningKey(const uint8_t* sk, const PublicKey& pk) : impl_(new Impl{make_key(pk, sk)}) {
  if (!impl_->key) fail("cannot import the signing key");
}
SigningKey::~SigningKey() = default;
SigningKey::SigningKey(SigningKey&&) noexcept = default;
SigningKey& SigningKey::operator=(SigningKey&&) noexcept = default;

Signature SigningKey::sign(const uint8_t* message, size_t n) const {
  MdCtx md(check(EVP_MD_CTX_new(), "EVP_MD_CTX_new"));
  size_t der_len = 0;
  if (EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, impl_->key.get()) != 1 ||
      EVP_DigestSign(md.get(), nullptr, &der_len, message, n) != 1)
    fail("EVP_DigestSign");
  std::vector<uint8_t> der(der_len);
  if (EVP_DigestSign(md.get(), der.data(), &der_len, message, n) != 1) fail("EVP_DigestSign");
  const uint8_t* p = der.data();
  Sig sig(check(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len)), "d2i_ECDSA_SIG"));
  const BIGNUM *r = nullptr, *s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  Signature out{};
  if (BN_bn2binpad(r, out.data(), 32) != 32 || BN_bn2binpad(s, out.data() + 32, 32) != 32) fail("BN_bn2binpad");
  return out;
}

bool verify(const PublicKey& pk, const uint8_t* message, size_t n, const Signature& sig) {
  thread_local PublicKey last_pk{};
  thread_local Pkey last_key;
  if (!last_key || last_pk != pk) {
    last_key = make_key(pk, nullptr);
    if (!last_key) return false;
    last_pk = pk;
  }
  EVP_PKEY* key = last_key.get();
  Sig parsed(check(ECDSA_SIG_new(), "ECDSA_SIG_new"));
  BIGNUM* r = BN_bin2bn(sig.data(), 32, nullptr);
  BIGNUM* s = BN_bin2bn(sig.data() + 32, 32, nullptr);
  if (!r || !s || ECDSA_SIG_set0(parsed.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    fail("ECDSA_SIG_set0");
  }
  uint8_t* der = nullptr;
  int der_len = i2d_ECDSA_SIG(parsed.get(), &der);
  if (der_len <= 0) fail("i2d_ECDSA_SIG");
  std::unique_ptr<uint8_t, void (*)(uint8_t*)> der_owner(der, [](uint8_t* q) { OPENSSL_free(q); });
  MdCtx md(check(EVP_MD_CTX_new(), "EVP_MD_CTX_new"));
  if (EVP_DigestVerifyInit(md.get(), nullptr, EVP_sha256(), nullptr, key) != 1) return false;
  return EVP_DigestVerify(md.get(), der, static_cast<size_t>(der_len), message, n) == 1;
}

}  // namespace teeinfer::ecdsa_p256
