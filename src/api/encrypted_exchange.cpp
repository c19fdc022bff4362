// End-to-end encrypted requests and receipts (docs/attestation.md): the trusted entry point
// Enclave::answer, the client's EncryptedRequest, and the receipt format.
#include <openssl/crypto.h>

#include <cstring>
#include <future>
#include <nlohmann/json.hpp>

#include "api/enclave_impl.h"
#include "common/aes_gcm.h"
#include "common/bulk_aead.h"
#include "common/ecdsa_p256.h"
#include "common/hpke.h"
#include "protocol/oip_codec.h"
#include "teeinfer/teeinfer.h"

namespace teeinfer {
namespace {

using nlohmann::json;

constexpr std::string_view kReceiptLabel = "teeinfer receipt v1";
constexpr std::string_view kResponseAad = "teeinfer response v1";
constexpr std::string_view kResponseKeyLabel = "teeinfer response key";
constexpr std::string_view kResponseNonceLabel = "teeinfer response nonce";
constexpr size_t kLengthBytes = 8;  // json_length, u64 LE, before the OIP body

const uint8_t* bytes_of(std::string_view s) {
  return reinterpret_cast<const uint8_t*>(s.data());
}

void put_le(std::vector<uint8_t>& out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
uint64_t get_le(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}

// Wipes a buffer of plaintext when it goes out of scope (std::vector and std::string free
// without clearing).
template <class Buffer>
struct WipeOnExit {
  Buffer& buffer;
  ~WipeOnExit() { wipe(buffer.data(), buffer.size()); }
};
void wipe_tensors(std::vector<Tensor>& tensors) {
  for (Tensor& t : tensors) wipe(t.bytes.data(), t.bytes.size());
}

// The response key and nonce, exported from the request's HPKE context.
struct ResponseKey {
  AesKey key{};
  std::array<uint8_t, kNonceBytes> nonce{};
  explicit ResponseKey(const hpke::Context& ctx) {
    ctx.export_secret(bytes_of(kResponseKeyLabel), kResponseKeyLabel.size(), key.data(), key.size());
    ctx.export_secret(bytes_of(kResponseNonceLabel), kResponseNonceLabel.size(), nonce.data(), nonce.size());
  }
  ~ResponseKey() {
    wipe(key.data(), key.size());
    wipe(nonce.data(), nonce.size());
  }
};

std::vector<uint8_t> request_aad(const std::string& path) {
  std::string aad = "POST " + path;
  return std::vector<uint8_t>(aad.begin(), aad.end());
}

template <size_t N>
std::array<uint8_t, N> hex_array(const json& j, const char* field) {
  if (!j.contains(field) || !j[field].is_string())
    throw Error(ErrorCode::kBadInput, std::string("receipt: \"") + field + "\" is missing or not a string");
  auto bytes = bytes_from_hex(j[field].get<std::string>(), N, std::string("receipt: ") + field);
  std::array<uint8_t, N> out{};
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return out;
}
uint64_t uint_field(const json& j, const char* field) {
  if (!j.contains(field) || !j[field].is_number_unsigned())
    throw Error(ErrorCode::kBadInput, std::string("receipt: \"") + field + "\" is missing or not a whole number");
  return j[field].get<uint64_t>();
}
template <size_t N>
std::string hex(const std::array<uint8_t, N>& a) {
  return to_hex(a.data(), N);
}

// The response plaintext R: receipt_length (u32 LE) || receipt || json_length (u64 LE) || body.
std::vector<uint8_t> response_plaintext(const std::string& receipt, const serve::EncodedResponse& response) {
  std::vector<uint8_t> r;
  r.reserve(4 + receipt.size() + kLengthBytes + response.body.size());
  put_le(r, receipt.size(), 4);
  r.insert(r.end(), receipt.begin(), receipt.end());
  put_le(r, response.json_length.value_or(0), 8);
  r.insert(r.end(), response.body.begin(), response.body.end());
  return r;
}

int status_of(const Error& e) {
  switch (e.code()) {
    case ErrorCode::kBadInput:
    case ErrorCode::kBadArgument:
      return 400;
    default:
      return 500;
  }
}

}  // namespace

// ---- receipts ---------------------------------------------------------------------------

std::vector<uint8_t> Receipt::signed_bytes() const {
  std::vector<uint8_t> b;
  b.reserve(kReceiptLabel.size() + 16 + 8 + 4 * 32 + 2 + 8 + 8);
  b.insert(b.end(), kReceiptLabel.begin(), kReceiptLabel.end());
  b.insert(b.end(), model_id.begin(), model_id.end());
  put_le(b, model_version, 8);
  for (const Digest* d : {&manifest_sha256, &request_sha256, &response_sha256, &measurement})
    b.insert(b.end(), d->begin(), d->end());
  put_le(b, static_cast<uint16_t>(status), 2);
  put_le(b, sequence, 8);
  put_le(b, host_time_untrusted_ms, 8);
  return b;
}

std::string receipt_json(const Receipt& r) {
  return json{{"format", "teeinfer-receipt-v1"},
              {"model_id", hex(r.model_id)},
              {"model_version", r.model_version},
              {"manifest_sha256", hex(r.manifest_sha256)},
              {"request_sha256", hex(r.request_sha256)},
              {"response_sha256", hex(r.response_sha256)},
              {"measurement", hex(r.measurement)},
              {"status", r.status},
              {"sequence", r.sequence},
              {"host_time_untrusted_ms", r.host_time_untrusted_ms},
              {"signature", hex(r.signature)}}
      .dump();
}

Receipt parse_receipt(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw Error(ErrorCode::kBadInput, "receipt: not a JSON object");
  if (j.value("format", "") != "teeinfer-receipt-v1")
    throw Error(ErrorCode::kBadInput, "receipt: \"format\" is not teeinfer-receipt-v1");
  Receipt r;
  r.model_id = hex_array<16>(j, "model_id");
  r.model_version = uint_field(j, "model_version");
  r.manifest_sha256 = hex_array<32>(j, "manifest_sha256");
  r.request_sha256 = hex_array<32>(j, "request_sha256");
  r.response_sha256 = hex_array<32>(j, "response_sha256");
  r.measurement = hex_array<32>(j, "measurement");
  uint64_t status = uint_field(j, "status");
  if (status < 100 || status > 599) throw Error(ErrorCode::kBadInput, "receipt: \"status\" is not an HTTP status");
  r.status = static_cast<int>(status);
  r.sequence = uint_field(j, "sequence");
  r.host_time_untrusted_ms = uint_field(j, "host_time_untrusted_ms");
  r.signature = hex_array<64>(j, "signature");
  return r;
}

bool verify_receipt(const Receipt& receipt, const std::array<uint8_t, 64>& receipt_key) {
  auto bytes = receipt.signed_bytes();
  return ecdsa_p256::verify(receipt_key, bytes.data(), bytes.size(), receipt.signature);
}

// ---- the trusted entry point ------------------------------------------------------------

Enclave::Reply Enclave::answer(Session& session, const Model& model, const std::string& model_name,
                               const std::string& model_version, const std::string& path,
                               const std::string& encapsulated_key_hex, std::string_view sealed_body,
                               uint64_t host_time_ms) {
  auto refused = [](const std::string& why) {
    std::string body = serve::error_body(why);
    return Reply{400, false, std::vector<uint8_t>(body.begin(), body.end())};
  };
  if (sealed_body.size() < kLengthBytes + hpke::kTagBytes)
    return refused("encrypted request: the body is shorter than a sealed request");
  std::optional<hpke::Context> ctx;
  try {
    auto enc = bytes_from_hex(encapsulated_key_hex, hpke::kEncBytes, "Teeinfer-Encapsulated-Key");
    ctx.emplace(impl_->identity.open_context(enc.data(), bytes_of(kRequestInfo), kRequestInfo.size()));
  } catch (const Error& e) {
    return refused(std::string("encrypted request: ") + e.what());
  }
  // P = json_length || OIP request body, in a buffer wiped on every way out.
  std::vector<uint8_t> plain(sealed_body.size() - hpke::kTagBytes);
  WipeOnExit<std::vector<uint8_t>> wipe_plain{plain};
  auto aad = request_aad(path);
  if (!ctx->unseal(aad.data(), aad.size(), bytes_of(sealed_body), sealed_body.size(), plain.data()))
    return refused(
        "encrypted request: the body does not open with this enclave's key (altered, sealed to another key, or "
        "for another path)");

  Receipt receipt;
  if (model.sealed()) {
    receipt.model_id = model.sealed_info().model_id;
    receipt.model_version = model.sealed_info().model_version;
    receipt.manifest_sha256 = model.sealed_info().manifest_sha256;
  }
  // On a second thread, while the request is decoded and run (one core is idle during a run
  // with one kernel thread; the future is joined before `plain` is wiped): the request's
  // hash, and the receipt key's import, which is half a signature's cost.
  struct Prepared {
    Digest request_sha256;
    ecdsa_p256::SigningKey signer;
  };
  std::future<Prepared> prepared = std::async(std::launch::async, [&plain, this] {
    return Prepared{sha256(plain.data(), plain.size()), impl_->identity.receipt_signing_key()};
  });
  receipt.measurement = measurement().value;
  receipt.host_time_untrusted_ms = host_time_ms;

  serve::EncodedResponse response;
  WipeOnExit<std::string> wipe_response{response.body};
  std::vector<Tensor> outputs;
  serve::InferRequest request;
  try {
    uint64_t json_length = get_le(plain.data(), 8);
    std::string_view body(reinterpret_cast<const char*>(plain.data()) + kLengthBytes, plain.size() - kLengthBytes);
    serve::RequestSignature signature;
    signature.inputs = session.inputs();  // exact dims: encrypted requests run alone
    for (const TensorInfo& o : session.outputs()) signature.outputs.push_back(o.name);
    request =
        serve::decode_infer_request(body, json_length ? std::optional<uint64_t>(json_length) : std::nullopt, signature);
    outputs = session.run(request.inputs);
    response = serve::encode_infer_response(model_name, model_version, request.id, request, outputs);
  } catch (const serve::RequestError& e) {
    receipt.status = e.status();
    response = {serve::error_body(e.what()), std::nullopt};
  } catch (const Error& e) {
    receipt.status = status_of(e);
    response = {serve::error_body(e.what()), std::nullopt};
  }
  wipe_tensors(request.inputs);
  wipe_tensors(outputs);

  Prepared ready = prepared.get();
  receipt.request_sha256 = ready.request_sha256;
  receipt.response_sha256 = sha256(bytes_of(response.body), response.body.size());
  receipt.sequence = impl_->receipts.fetch_add(1);
  auto signed_part = receipt.signed_bytes();
  receipt.signature = ready.signer.sign(signed_part.data(), signed_part.size());
  std::vector<uint8_t> r = response_plaintext(receipt_json(receipt), response);
  WipeOnExit<std::vector<uint8_t>> wipe_r{r};

  ResponseKey key(*ctx);
  Reply reply{receipt.status, true, std::vector<uint8_t>(r.size() + kTagBytes)};
  BulkAeadKey(key.key).encrypt(key.nonce.data(), bytes_of(kResponseAad), kResponseAad.size(), r.data(), r.size(),
                               reply.body.data(), reply.body.data() + r.size());
  return reply;
}

// ---- the client's side ------------------------------------------------------------------

struct EncryptedRequest::Impl {
  hpke::SenderSetup setup;
  EnclaveKeys keys;
  Digest measurement;
  // Hashed on a second thread while the request is on its way (the receipt is checked
  // only when the answer is back).
  std::shared_future<Digest> request_sha256;
  std::string enc_hex;
  std::vector<uint8_t> body;
};

EncryptedRequest::EncryptedRequest(const EnclaveKeys& enclave, const Digest& measurement, const std::string& path,
                                   std::string_view oip_body, std::optional<uint64_t> json_length) {
  // P, shared with the thread that hashes it (both only read it); wiped by its last owner.
  auto wiped_on_release = [](std::vector<uint8_t>* p) {
    wipe(p->data(), p->size());
    delete p;
  };
  std::shared_ptr<std::vector<uint8_t>> plain(new std::vector<uint8_t>(), wiped_on_release);
  plain->reserve(kLengthBytes + oip_body.size());
  put_le(*plain, json_length.value_or(0), 8);
  plain->insert(plain->end(), oip_body.begin(), oip_body.end());
  std::shared_future<Digest> hashed =
      std::async(std::launch::async, [plain] { return sha256(plain->data(), plain->size()); });
  impl_ =
      std::unique_ptr<Impl>(new Impl{hpke::setup_base_sender(enclave.hpke, bytes_of(kRequestInfo), kRequestInfo.size()),
                                     enclave,
                                     measurement,
                                     std::move(hashed),
                                     "",
                                     {}});
  impl_->enc_hex = to_hex(impl_->setup.enc.data(), impl_->setup.enc.size());
  auto aad = request_aad(path);
  impl_->body = impl_->setup.context.seal(aad.data(), aad.size(), plain->data(), plain->size());
}

EncryptedRequest::~EncryptedRequest() = default;
EncryptedRequest::EncryptedRequest(EncryptedRequest&&) noexcept = default;
EncryptedRequest& EncryptedRequest::operator=(EncryptedRequest&&) noexcept = default;

const std::string& EncryptedRequest::encapsulated_key_hex() const {
  return impl_->enc_hex;
}
const std::vector<uint8_t>& EncryptedRequest::body() const {
  return impl_->body;
}

EncryptedRequest::Response EncryptedRequest::open_response(std::string_view sealed, int status) const {
  auto tampered = [](const std::string& why) { return Error(ErrorCode::kTampered, "encrypted response: " + why); };
  if (sealed.size() < kTagBytes + 4 + kLengthBytes) throw tampered("shorter than a sealed response");
  ResponseKey key(impl_->setup.context);
  std::vector<uint8_t> r(sealed.size() - kTagBytes);
  if (!BulkAeadKey(key.key).decrypt(key.nonce.data(), bytes_of(kResponseAad), kResponseAad.size(), bytes_of(sealed),
                                    r.size(), bytes_of(sealed) + r.size(), r.data()))
    throw tampered("it does not open with this request's key (altered, or not the answer to this request)");
  uint64_t receipt_length = get_le(r.data(), 4);
  if (receipt_length > r.size() - 4 - kLengthBytes) throw tampered("the receipt length is past the end");
  Response out;
  out.receipt =
      parse_receipt(std::string_view(reinterpret_cast<const char*>(r.data()) + 4, static_cast<size_t>(receipt_length)));
  const uint8_t* rest = r.data() + 4 + receipt_length;
  uint64_t json_length = get_le(rest, 8);
  out.body.assign(reinterpret_cast<const char*>(rest) + kLengthBytes,
                  reinterpret_cast<const char*>(r.data() + r.size()));
  if (json_length) out.json_length = json_length;
  wipe(r.data(), r.size());

  const Receipt& rc = out.receipt;
  if (!verify_receipt(rc, impl_->keys.receipt)) throw tampered("the receipt's signature is not the enclave's");
  if (rc.measurement != impl_->measurement) throw tampered("the receipt names another measurement");
  if (rc.request_sha256 != impl_->request_sha256.get()) throw tampered("the receipt is for another request");
  if (rc.response_sha256 != sha256(bytes_of(out.body), out.body.size()))
    throw tampered("the receipt is for another response");
  if (rc.status != status)
    throw tampered("the receipt says status " + std::to_string(rc.status) + ", the host answered " +
                   std::to_string(status));
  return out;
}

}  // namespace teeinfer
