// Attestation: the quote format, ECDSA P-256, the measurement, evidence verification
// (every check fails closed), and key grants opened inside the enclave with the model
// pinned by the trusted core.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "common/aes_gcm.h"
#include "common/ecdsa_p256.h"
#include "common/sgx_quote.h"
#include "enclave/attest/enclave_identity.h"
#include "tee/sim/quoting_enclave.h"
#include "teeinfer/teeinfer.h"

using namespace teeinfer;

namespace {

Digest nonce_of(uint8_t fill) {
  Digest d{};
  d.fill(fill);
  return d;
}

EvidencePolicy sim_policy() {
  EvidencePolicy p;
  p.measurements = {measurement().value};
  p.allow_simulated = true;
  p.min_security_version = measurement().security_version;
  return p;
}

// A quote of `enclave` for `nonce`, with `alter` applied to its fields and re-signed by the
// simulated attestation key (a validly signed quote that says something else).
template <class F>
std::vector<uint8_t> altered_quote(const Enclave& enclave, const Digest& nonce, F alter) {
  auto q = sgx_quote::decode(enclave.evidence(nonce).data(), enclave.evidence(nonce).size());
  alter(q);
  SimulatedQuotingEnclave::instance().resign(q);
  return sgx_quote::encode(q);
}

std::string failed_check(const Verification& v) {
  for (const VerificationStep& s : v.steps)
    if (!s.passed) return s.check;
  return "";
}

}  // namespace

TEST(EcdsaP256, SignsAndVerifiesAndRefusesAlteredMessagesAndKeys) {
  uint8_t sk[32];
  ecdsa_p256::generate_private_key(sk);
  auto pk = ecdsa_p256::public_key(sk);
  const uint8_t msg[] = "receipt";
  auto sig = ecdsa_p256::sign(sk, msg, sizeof msg);
  EXPECT_TRUE(ecdsa_p256::verify(pk, msg, sizeof msg, sig));
  EXPECT_FALSE(ecdsa_p256::verify(pk, msg, sizeof msg - 1, sig));
  auto bad = sig;
  bad[10] ^= 1;
  EXPECT_FALSE(ecdsa_p256::verify(pk, msg, sizeof msg, bad));
  auto off_curve = pk;
  off_curve[63] ^= 1;
  EXPECT_FALSE(ecdsa_p256::verify(off_curve, msg, sizeof msg, sig));
  ecdsa_p256::Signature zero{};
  EXPECT_FALSE(ecdsa_p256::verify(pk, msg, sizeof msg, zero));
}

// verify() keeps the last key it imported per thread: alternating keys, a signature is
// accepted under its own key only, and a malformed key after a good one is still refused.
TEST(EcdsaP256, VerifyingWithAlternatingKeysChecksEachAgainstItsOwnKey) {
  uint8_t sk_a[32], sk_b[32];
  ecdsa_p256::generate_private_key(sk_a);
  ecdsa_p256::generate_private_key(sk_b);
  auto pk_a = ecdsa_p256::public_key(sk_a), pk_b = ecdsa_p256::public_key(sk_b);
  const uint8_t msg[] = "receipt";
  ecdsa_p256::SigningKey signer_a(sk_a, pk_a);
  auto sig_a = signer_a.sign(msg, sizeof msg), sig_a2 = signer_a.sign(msg, sizeof msg);
  auto sig_b = ecdsa_p256::sign(sk_b, pk_b, msg, sizeof msg);
  EXPECT_NE(sig_a, sig_a2);  // a fresh nonce per signature
  for (int round = 0; round < 2; ++round) {
    EXPECT_TRUE(ecdsa_p256::verify(pk_a, msg, sizeof msg, sig_a));
    EXPECT_TRUE(ecdsa_p256::verify(pk_a, msg, sizeof msg, sig_a2));
    EXPECT_FALSE(ecdsa_p256::verify(pk_b, msg, sizeof msg, sig_a));
    EXPECT_TRUE(ecdsa_p256::verify(pk_b, msg, sizeof msg, sig_b));
    EXPECT_FALSE(ecdsa_p256::verify(pk_a, msg, sizeof msg, sig_b));
    auto off_curve = pk_a;
    off_curve[63] ^= 1;
    EXPECT_FALSE(ecdsa_p256::verify(off_curve, msg, sizeof msg, sig_a));
  }
}

// RFC 6979 A.2.5 gives the P-256 key pair for x = C9AFA9D8...; our derivation is ours, but
// public_key() must agree with the standard's point for a known scalar.
TEST(EcdsaP256, PublicKeyOfAKnownScalarIsTheStandardsPoint) {
  auto sk = bytes_from_hex("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721", 32, "sk");
  auto pk = ecdsa_p256::public_key(sk.data());
  EXPECT_EQ(to_hex(pk.data(), 32), "60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6");
  EXPECT_EQ(to_hex(pk.data() + 32, 32), "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299");
}

TEST(SgxQuote, RoundTripsInTheDcapLayout) {
  Enclave enclave;
  auto bytes = enclave.evidence(nonce_of(7));
  auto q = sgx_quote::decode(bytes.data(), bytes.size());
  EXPECT_EQ(q.version, 3);
  EXPECT_EQ(q.attestation_key_type, 2);
  EXPECT_EQ(q.tee_type, 0u);
  EXPECT_EQ(q.body.mr_enclave, measurement().value);
  EXPECT_EQ(q.body.isv_svn, measurement().security_version);
  // Offsets of the DCAP v3 layout: MRENCLAVE at 48 + 64, REPORT_DATA at 48 + 320.
  EXPECT_EQ(0, std::memcmp(bytes.data() + 48 + 64, measurement().value.data(), 32));
  EXPECT_EQ(0, std::memcmp(bytes.data() + 48 + 320, report_data(enclave.keys(), nonce_of(7)).data(), 64));
  EXPECT_EQ(sgx_quote::encode(q), bytes);
}

TEST(SgxQuote, TruncatedOrPaddedQuotesAreRefusedNamingTheField) {
  Enclave enclave;
  auto bytes = enclave.evidence(nonce_of(1));
  for (size_t n : {size_t{0}, size_t{47}, size_t{48 + 383}, size_t{436}, bytes.size() - 1}) {
    try {
      sgx_quote::decode(bytes.data(), n);
      ADD_FAILURE() << "a quote of " << n << " bytes was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kBadInput);
      EXPECT_NE(std::string(e.what()).find("quote"), std::string::npos) << e.what();
    }
  }
  bytes.push_back(0);
  EXPECT_THROW(sgx_quote::decode(bytes.data(), bytes.size()), Error);
}

// Every byte survives decode and encode, reserved fields included; empty QE auth data and
// certification data decode (they were undefined behaviour once: memcpy to a null pointer).
TEST(SgxQuote, DecodingKeepsEveryByteAndEmptySectionsDecode) {
  Enclave enclave;
  auto bytes = enclave.evidence(nonce_of(2));
  bytes[48 + 20] = 0x5A;  // reserved1 of the report body
  EXPECT_EQ(sgx_quote::encode(sgx_quote::decode(bytes.data(), bytes.size())), bytes);
  auto q = sgx_quote::decode(bytes.data(), bytes.size());
  q.qe_auth_data.clear();
  q.cert_data.clear();
  auto empty = sgx_quote::encode(q);
  auto back = sgx_quote::decode(empty.data(), empty.size());
  EXPECT_TRUE(back.qe_auth_data.empty());
  EXPECT_TRUE(back.cert_data.empty());
}

TEST(Measurement, IsStableAndCoversTheTrustedObjects) {
  const Measurement& m = measurement();
  EXPECT_EQ(&m, &measurement());
  EXPECT_NE(m.value, Digest{});
  // Every trusted library's objects entered it, by build-relative path (no build directory).
  EXPECT_NE(m.code_manifest.find("CMakeFiles/teeinfer_enclave.dir/src/enclave/sealed_model.cpp.o"), std::string::npos);
  EXPECT_NE(m.code_manifest.find("CMakeFiles/teeinfer_common.dir/src/common/hpke.cpp.o"), std::string::npos);
  EXPECT_NE(m.code_manifest.find("CMakeFiles/teeinfer_tee.dir/src/tee/sim/epc_region.cpp.o"), std::string::npos);
  EXPECT_NE(m.code_manifest.find("library:libdnnl.so"), std::string::npos);
  EXPECT_NE(m.code_manifest.find("setting:bulk_aead="), std::string::npos);
  EXPECT_EQ(m.code_manifest.find(TEEINFER_BINARY_DIR), std::string::npos);
  // The code hash is the SHA-256 of the manifest.
  std::string manifest = m.code_manifest.substr(0, m.code_manifest.size() - 1);  // (no final newline hashed)
  auto h = sha256(reinterpret_cast<const uint8_t*>(manifest.data()), manifest.size());
  EXPECT_EQ(h, m.code_hash);
}

// The objects that entered the measurement are the ones built now: recomputing each file's
// hash from the build directory gives the manifest's line.
TEST(Measurement, ManifestHashesAreTheBuiltObjects) {
  std::istringstream lines(measurement().code_manifest);
  std::string line;
  int checked = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("CMakeFiles/", 0) != 0) continue;
    size_t space = line.find(' ');
    std::ifstream f(std::string(TEEINFER_BINARY_DIR) + "/" + line.substr(0, space), std::ios::binary);
    ASSERT_TRUE(f) << line;
    std::string bytes((std::istreambuf_iterator<char>(f)), {});
    auto h = sha256(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    EXPECT_EQ(to_hex(h.data(), h.size()), line.substr(space + 1)) << line;
    ++checked;
  }
  EXPECT_GT(checked, 40);
}

TEST(Evidence, AGenuineSimulatedQuoteVerifiesStepByStep) {
  Enclave enclave;
  auto v = verify_evidence(enclave.evidence(nonce_of(3)), sim_policy(), enclave.keys(), nonce_of(3));
  ASSERT_TRUE(v.ok) << v.reason;
  EXPECT_TRUE(v.claims.simulated);
  EXPECT_EQ(v.claims.measurement, measurement().value);
  std::vector<std::string> checks;
  for (const VerificationStep& s : v.steps) checks.push_back(s.check);
  EXPECT_EQ(checks,
            (std::vector<std::string>{"quote format", "certification chain", "QE report signature", "attestation key",
                                      "quote signature", "debug attribute", "measurement", "signer", "security version",
                                      "report data: keys", "report data: nonce"}));
}

TEST(Evidence, EveryCheckFailsClosed) {
  Enclave enclave, other;
  const Digest nonce = nonce_of(5);
  const EvidencePolicy policy = sim_policy();
  auto expect_refused = [&](const std::vector<uint8_t>& quote, const EvidencePolicy& p, const EnclaveKeys& keys,
                            const Digest& n, const std::string& check) {
    Verification v = verify_evidence(quote, p, keys, n);
    EXPECT_FALSE(v.ok) << check;
    EXPECT_EQ(failed_check(v), check) << v.reason;
    EXPECT_EQ(v.reason.rfind(check + ": ", 0), 0u) << v.reason;
  };
  auto genuine = enclave.evidence(nonce);

  EvidencePolicy strict = policy;
  strict.allow_simulated = false;
  expect_refused(genuine, strict, enclave.keys(), nonce, "certification chain");

  Digest another = measurement().value;
  another[0] ^= 0xFF;
  expect_refused(altered_quote(enclave, nonce, [&](auto& q) { q.body.mr_enclave = another; }), policy, enclave.keys(),
                 nonce, "measurement");
  EvidencePolicy none = policy;
  none.measurements.clear();
  expect_refused(genuine, none, enclave.keys(), nonce, "measurement");

  EvidencePolicy newer = policy;
  newer.min_security_version = measurement().security_version + 1;
  expect_refused(genuine, newer, enclave.keys(), nonce, "security version");

  expect_refused(genuine, policy, other.keys(), nonce, "report data: keys");
  expect_refused(genuine, policy, enclave.keys(), nonce_of(6), "report data: nonce");

  auto bad_signature = genuine;
  bad_signature[sgx_quote::kSignedBytes + 4 + 5] ^= 1;  // inside the ISV report signature
  expect_refused(bad_signature, policy, enclave.keys(), nonce, "quote signature");
  auto altered_body = genuine;
  altered_body[48 + 64] ^= 1;  // MRENCLAVE changed, not re-signed
  expect_refused(altered_body, policy, enclave.keys(), nonce, "quote signature");
  // Reserved bytes are signed too (the fuzzer found they were not): the body's, the QE report's.
  for (size_t offset : {size_t{48 + 20}, size_t{48 + 101}, size_t{48 + 300}}) {
    auto reserved = genuine;
    reserved[offset] ^= 0xFF;
    expect_refused(reserved, policy, enclave.keys(), nonce, "quote signature");
  }
  auto qe_reserved = genuine;
  qe_reserved[sgx_quote::kSignedBytes + 4 + 128 + 30] ^= 0xFF;
  expect_refused(qe_reserved, policy, enclave.keys(), nonce, "QE report signature");

  expect_refused(altered_quote(enclave, nonce, [](auto& q) { q.qe_report.isv_svn ^= 1; }), policy, enclave.keys(),
                 nonce, "QE report signature");
  expect_refused(altered_quote(enclave, nonce, [](auto& q) { q.qe_auth_data.push_back(1); }), policy, enclave.keys(),
                 nonce, "attestation key");
  expect_refused(altered_quote(enclave, nonce, [](auto& q) { q.cert_data[0] ^= 1; }), policy, enclave.keys(), nonce,
                 "certification chain");
  expect_refused(altered_quote(enclave, nonce, [](auto& q) { q.cert_type = sgx_quote::kCertPckChain; }), policy,
                 enclave.keys(), nonce, "certification chain");
  expect_refused(altered_quote(enclave, nonce, [](auto& q) { q.version = 4; }), policy, enclave.keys(), nonce,
                 "quote format");
  expect_refused(altered_quote(enclave, nonce, [](auto& q) { q.body.attribute_flags |= sgx_quote::kAttributeDebug; }),
                 policy, enclave.keys(), nonce, "debug attribute");
  EvidencePolicy signer = policy;
  signer.signers = {Digest{}};
  expect_refused(genuine, signer, enclave.keys(), nonce, "signer");
  expect_refused({1, 2, 3}, policy, enclave.keys(), nonce, "quote format");
  expect_refused({}, policy, enclave.keys(), nonce, "quote format");
}

TEST(KeyGrant, OpensOnlyInsideTheEnclaveItWasSealedTo) {
  Enclave enclave, other;
  ModelId id{};
  id[0] = 9;
  Key kek{};
  kek.fill(0x42);
  auto grant = seal_key_grant(enclave.keys().hpke, id, 3, 2, kek);
  EXPECT_THROW(other.accept_key_grant(id, 3, grant), Error);    // sealed to another enclave
  EXPECT_THROW(enclave.accept_key_grant(id, 4, grant), Error);  // asked for another version (AAD)
  ModelId wrong = id;
  wrong[1] = 1;
  EXPECT_THROW(enclave.accept_key_grant(wrong, 3, grant), Error);  // another model (AAD)
  auto tampered = grant;
  tampered.back() ^= 1;
  EXPECT_THROW(enclave.accept_key_grant(id, 3, tampered), Error);
  EXPECT_THROW(enclave.open_options(id), Error);  // nothing granted yet

  enclave.accept_key_grant(id, 3, grant);
  OpenOptions o = enclave.open_options(id);
  EXPECT_EQ(o.model_id, id);
  EXPECT_EQ(o.min_version, 2u);
  KeyId kek_id{};
  auto h = sha256(kek.data(), kek.size());
  std::memcpy(kek_id.data(), h.data(), kek_id.size());
  Key out{};
  // The trusted core's question: released for this model at version >= 2 only.
  EXPECT_TRUE(enclave.key_provider().key_for_model(kek_id, id, 2, out));
  EXPECT_EQ(out, kek);
  EXPECT_FALSE(enclave.key_provider().key_for_model(kek_id, id, 1, out));     // rollback
  EXPECT_FALSE(enclave.key_provider().key_for_model(kek_id, wrong, 5, out));  // another model, same key
  KeyId other_id = kek_id;
  other_id[0] ^= 1;
  EXPECT_FALSE(enclave.key_provider().key_for_model(other_id, id, 3, out));
}

TEST(Enclave, PlainMemoryCannotAttest) {
  EXPECT_THROW((void)Enclave(Platform::kNone), Error);
}
