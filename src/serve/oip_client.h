// A client of the Open Inference Protocol (KServe v2 REST) on cpp-httplib: what
// `teeinfer client` and the server's tests use to talk to `teeinfer serve` (or any other
// OIP server).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "teeinfer/teeinfer.h"

namespace httplib {
class Client;
}

namespace teeinfer::serve {

struct ModelMetadata {
  std::string name, platform;
  std::vector<std::string> versions;
  std::vector<TensorInfo> inputs, outputs;  // -1 for dynamic dims
};

struct InferOptions {
  bool binary = false;  // inputs and outputs as binary tensors (not JSON numbers)
  std::optional<std::string> id;
  std::vector<std::string> outputs;  // requested outputs (default: all)
  std::optional<int64_t> timeout_ms;
};

struct InferResult {
  std::optional<std::string> id;
  std::string model_name, model_version;
  std::vector<Tensor> outputs;
  std::optional<Receipt> receipt;  // end-to-end encrypted requests: the verified receipt
};

// What `teeinfer client --verify policy.json` accepts (strict JSON, unknown fields refused):
//   {"measurements": ["<MRENCLAVE hex>"], "signers": ["<MRSIGNER hex>"], "min_security_version": 1,
//    "allow_simulated": false, "allow_debug": false}
EvidencePolicy parse_client_policy(const std::string& json_text, const std::string& source);
EvidencePolicy read_client_policy(const std::string& path);

class OipClient {
 public:
  // `url`: http://HOST:PORT (an https URL is refused: the confidential path is [attest]'s
  // end-to-end encryption, not TLS to the untrusted host).
  explicit OipClient(const std::string& url, int timeout_s = 120);
  ~OipClient();

  bool live();
  bool ready();
  ModelMetadata metadata(const std::string& model);
  // Throws Error(kBadInput) with the server's {"error"} message and status for a refusal.
  InferResult infer(const std::string& model, const std::vector<Tensor>& inputs, const InferOptions& options = {});

  // Fetches the server's evidence for a fresh nonce and verifies it against `policy`
  // (fail closed). When it passes, every infer() after it is end-to-end encrypted to the
  // attested enclave and its receipt checked (Error kTampered if a response or receipt
  // fails). Returns the step-by-step report either way.
  Verification attest(const EvidencePolicy& policy);
  bool attested() const { return attested_.has_value(); }
  // The verified enclave's keys (null before a successful attest()).
  const EnclaveKeys* attested_keys() const { return attested_ ? &attested_->keys : nullptr; }

  // The request body infer() would send (and its Inference-Header-Content-Length when binary).
  static std::string request_body(const std::vector<Tensor>& inputs, const InferOptions& options,
                                  std::optional<uint64_t>& json_length);
  // A response body decoded (json_length: the Inference-Header-Content-Length header, if any).
  static InferResult decode_response(const std::string& body, std::optional<uint64_t> json_length);

 private:
  InferResult infer_encrypted(const std::string& path, const std::string& body, std::optional<uint64_t> json_length);
  struct Attested {
    EnclaveKeys keys;
    Digest measurement;
  };
  std::unique_ptr<httplib::Client> http_;
  std::string url_;
  std::optional<Attested> attested_;
};

}  // namespace teeinfer::serve
