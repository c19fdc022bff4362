// Where an end-to-end encrypted request's extra time goes ([attest] acceptance 6), in one
// process and without HTTP: for the same binary OIP request, the median over --rounds of
//   plaintext   decode + run + encode (what the server does for a plaintext request),
//   seal        the client's EncryptedRequest (HPKE setup, copy, AES-GCM; the request hash
//               starts on a second thread),
//   answer      Enclave::answer (HPKE open, decode, run, encode, hash, sign, seal, wipes),
//   open        the client's open_response (AES-GCM, receipt signature and hashes),
// and the split of answer's own overhead. Rounds alternate plaintext and encrypted.
//
//   build/bench/bench_e2e_cost MODEL.tee --key k.bin --epc 16MiB --rounds 30
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include "protocol/oip_codec.h"
#include "serve/oip_client.h"
#include "teeinfer/teeinfer.h"

using namespace teeinfer;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

std::vector<Tensor> random_inputs(const Session& s) {
  std::mt19937 rng(42);
  std::normal_distribution<float> d;
  std::vector<Tensor> out;
  for (const TensorInfo& in : s.inputs()) {
    int64_t n = 1;
    for (int64_t x : in.dims) n *= x;
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = d(rng);
    out.push_back(Tensor::f32(in.name, in.dims, v));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Time the parts of an end-to-end encrypted request against a plaintext one (no HTTP)"};
  std::string model_path, key_path, epc = "16MiB";
  int rounds = 30;
  app.add_option("model", model_path, "an ONNX or sealed (.tee) model")->required();
  app.add_option("--key", key_path, "the sealed model's key file");
  app.add_option("--epc", epc, "emulated EPC size");
  app.add_option("--rounds", rounds, "rounds (each: one plaintext and one encrypted request)")
      ->check(CLI::Range(1, 100000));
  CLI11_PARSE(app, argc, argv);
  try {
    std::optional<KeyFile> key;
    if (!key_path.empty()) key.emplace(key_path);
    Model model = Model::open(model_path, key ? &*key : nullptr);
    SessionOptions so;
    so.platform = Platform::kSim;
    so.epc_bytes = static_cast<size_t>(parse_size(epc, "--epc"));
    Session session(model, so);
    Enclave enclave(Platform::kSim);

    serve::InferOptions io;
    io.binary = true;
    std::optional<uint64_t> json_length;
    const std::string body = serve::OipClient::request_body(random_inputs(session), io, json_length);
    const std::string path = "/v2/models/m/infer";
    serve::RequestSignature signature;
    signature.inputs = session.inputs();
    for (const TensorInfo& o : session.outputs()) signature.outputs.push_back(o.name);

    std::vector<double> plain, seal, answer, open;
    for (int r = 0; r < rounds; ++r) {
      Clock::time_point t0 = Clock::now();
      {
        serve::InferRequest req = serve::decode_infer_request(body, json_length, signature);
        std::vector<Tensor> out = session.run(req.inputs);
        serve::EncodedResponse resp = serve::encode_infer_response("m", "1", req.id, req, out);
      }
      plain.push_back(ms_since(t0));

      t0 = Clock::now();
      EncryptedRequest er(enclave.keys(), measurement().value, path, body, json_length);
      seal.push_back(ms_since(t0));
      t0 = Clock::now();
      const std::vector<uint8_t>& sealed = er.body();
      Enclave::Reply reply =
          enclave.answer(session, model, "m", "1", path, er.encapsulated_key_hex(),
                         std::string_view(reinterpret_cast<const char*>(sealed.data()), sealed.size()), 0);
      answer.push_back(ms_since(t0));
      t0 = Clock::now();
      er.open_response(std::string_view(reinterpret_cast<const char*>(reply.body.data()), reply.body.size()),
                       reply.status);
      open.push_back(ms_since(t0));
    }
    double p = median(plain), s = median(seal), a = median(answer), o = median(open);
    std::printf("request %zu bytes, %d rounds (medians, ms)\n", body.size(), rounds);
    std::printf("plaintext (decode+run+encode) %8.3f\n", p);
    std::printf("client seal                   %8.3f\n", s);
    std::printf("enclave answer                %8.3f  (%+.3f over plaintext)\n", a, a - p);
    std::printf("client open + receipt check   %8.3f\n", o);
    std::printf("encrypted total / plaintext   %8.3f\n", (s + a + o) / p);
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
