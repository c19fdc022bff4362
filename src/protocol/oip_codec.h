// The Open Inference Protocol (KServe v2 REST) on the wire: an infer request body (JSON,
// or JSON + binary tensors per the binary tensor extension) decoded and checked against
// the model's inputs, and an infer response encoded. Pure functions of bytes in, bytes
// out: no HTTP here (tests/fuzz/fuzz_oip_request.cpp feeds it hostile bodies).
//
// In src/protocol and compiled into libteeinfer: the server decodes plaintext requests
// with it, and the trusted entry point of end-to-end encrypted requests (Enclave::answer)
// decodes the decrypted ones the same way. (Namespace serve: it is the server's protocol.)
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "teeinfer/teeinfer.h"

namespace teeinfer::serve {

// A request the client got wrong, with the HTTP status it earns (400, 404, 413, ...).
class RequestError : public std::runtime_error {
 public:
  RequestError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

// "FP32", "INT64", ... for a DType, and back (nullopt for a datatype teeinfer has no
// tensors of: FP16, UINT16, BYTES, ...).
const char* oip_datatype(DType t);
std::optional<DType> dtype_of_oip(std::string_view datatype);

// What a model takes, as the decoder checks a request against it.
struct RequestSignature {
  std::vector<TensorInfo> inputs;    // dims: -1 where any size is accepted
  std::vector<std::string> outputs;  // names, in the model's order
  int64_t max_batch = 1;             // > 1: dim 0 of every input is the batch, up to this
};

struct RequestLimits {
  uint64_t max_elements = uint64_t{1} << 28;  // per input tensor
  int max_json_depth = 64;                    // nested arrays and objects
};

// One decoded request: the inputs in the model's input order, with the batch size they
// share (dim 0; 1 when the model does not batch), and what the client wants back.
struct InferRequest {
  std::optional<std::string> id;
  std::vector<Tensor> inputs;
  int64_t batch = 1;
  std::vector<std::string> outputs;   // requested output names, in the model's order
  std::vector<bool> binary_output;    // per requested output
  std::optional<int64_t> timeout_ms;  // parameters.timeout_ms
};

// Decodes `body`. With the binary tensor extension, `json_length` is the request's
// Inference-Header-Content-Length: the first json_length bytes are the JSON header and the
// rest holds the inputs whose parameters.binary_data_size say so, in order. Throws
// RequestError (400) naming the field at fault.
InferRequest decode_infer_request(std::string_view body, std::optional<uint64_t> json_length,
                                  const RequestSignature& model, const RequestLimits& limits = {});

// The parsed value of an Inference-Header-Content-Length header (RequestError if it is
// not a plain decimal number).
uint64_t parse_header_length(std::string_view value);

// An encoded response: the body, and the Inference-Header-Content-Length to send when
// some outputs are binary.
struct EncodedResponse {
  std::string body;
  std::optional<uint64_t> json_length;
};
EncodedResponse encode_infer_response(const std::string& model_name, const std::string& model_version,
                                      const std::optional<std::string>& id, const InferRequest& request,
                                      const std::vector<Tensor>& outputs);

// {"error": message}.
std::string error_body(const std::string& message);

}  // namespace teeinfer::serve
