// oip_load: a load generator for Open Inference Protocol servers (teeinfer serve, or any
// other). One request body is encoded once (the model's input from an .npy, or seeded
// random values) and sent by C connections for D seconds:
//   --rate R   open loop: R requests/s in all, each on its schedule; latency counts from
//              the scheduled time, so a server that falls behind is seen (no coordinated
//              omission);
//   --rate 0   closed loop: each connection sends its next request when the last returns.
// Prints throughput, p50/p90/p99/max latency and errors by status (--json for scripts).
// --encrypted: every request end-to-end encrypted to the server's attested enclave (a fresh
// HPKE context per request, the response opened and its receipt checked: the client's whole
// cost counts); the evidence must show this build's measurement (simulated evidence allowed).
// --alternate: each connection alternates a plaintext and an encrypted request (plaintext
// first), and the result adds the p50 of each kind and the median over adjacent pairs of
// encrypted ÷ plaintext latency: a drift of the machine's speed (a shared VM) moves both
// halves of a pair alike, where separate runs of each kind see different moments.
//
//   bench/oip_load http://127.0.0.1:8000 --model fmnist --connections 4 --rate 200 --duration 60
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "serve/oip_client.h"
#include "teeinfer/teeinfer.h"

using namespace teeinfer;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string url, model, input;
  int connections = 1;
  double rate = 0, duration = 10;
  int64_t batch = 1;
  bool binary = false, json = false, encrypted = false, alternate = false;
};

// The model's input(s): the .npy given, or seeded random values at batch `batch`.
std::vector<Tensor> request_inputs(const Options& o, const serve::ModelMetadata& meta) {
  if (!o.input.empty()) return {read_npy(o.input, meta.inputs.at(0).name, meta.inputs.at(0).dtype)};
  std::vector<Tensor> out;
  std::mt19937 rng(42);
  for (const TensorInfo& in : meta.inputs) {
    if (in.dtype != DType::kF32)
      throw Error(ErrorCode::kBadArgument, "input '" + in.name + "' is not FP32: give --input");
    Dims dims = in.dims;
    for (size_t i = 0; i < dims.size(); ++i)
      if (dims[i] < 0) {
        if (i != 0) throw Error(ErrorCode::kBadArgument, "input '" + in.name + "' has dynamic dims: give --input");
        dims[i] = o.batch;
      }
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    std::normal_distribution<float> d;
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = d(rng);
    out.push_back(Tensor::f32(in.name, dims, v));
  }
  return out;
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t k = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(k), v.end());
  return v[k];
}

double median_of(std::vector<double> v) {
  return percentile(v, 0.5);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"oip_load: fixed-rate or closed-loop load on an Open Inference Protocol server"};
  app.add_option("url", o.url, "the server, e.g. http://127.0.0.1:8000")->required();
  app.add_option("--model", o.model, "model name")->required();
  app.add_option("--input", o.input, ".npy of the model's (first) input (default: seeded random values)");
  app.add_option("--batch", o.batch, "samples per request for a dynamic batch dim")->capture_default_str();
  app.add_option("--connections", o.connections, "connections (threads)")->capture_default_str();
  app.add_option("--rate", o.rate, "requests/s over all connections (0: closed loop)")->capture_default_str();
  app.add_option("--duration", o.duration, "seconds")->capture_default_str();
  app.add_flag("--binary", o.binary, "binary tensors (not JSON numbers)");
  app.add_flag("--json", o.json, "print the result as JSON");
  app.add_flag("--encrypted", o.encrypted,
               "end-to-end encrypted requests (attests first: this build's measurement, simulated evidence allowed)");
  app.add_flag(
      "--alternate", o.alternate,
      "alternate plaintext and encrypted requests on each connection; report each kind and their paired ratio");
  CLI11_PARSE(app, argc, argv);
  if (o.alternate) o.encrypted = true;
  try {
    serve::OipClient meta_client(o.url);
    serve::ModelMetadata meta = meta_client.metadata(o.model);
    serve::InferOptions io;
    io.binary = o.binary;
    std::optional<uint64_t> json_length;
    const std::string body = serve::OipClient::request_body(request_inputs(o, meta), io, json_length);
    httplib::Headers headers;
    if (json_length) headers.emplace("Inference-Header-Content-Length", std::to_string(*json_length));
    const std::string type = json_length ? "application/octet-stream" : "application/json";
    const std::string path = "/v2/models/" + o.model + "/infer";
    std::string host_port = o.url.substr(7);
    EnclaveKeys keys;
    if (o.encrypted) {
      EvidencePolicy policy;
      policy.measurements = {measurement().value};
      policy.allow_simulated = true;
      Verification v = meta_client.attest(policy);
      if (!v.ok) throw Error(ErrorCode::kBadArgument, "the server's evidence is refused: " + v.reason);
      keys = *meta_client.attested_keys();
    }

    std::mutex mu;
    std::vector<double> latencies;
    std::vector<double> plain_ms, encrypted_ms, pair_ratios;  // --alternate
    std::map<int, uint64_t> statuses;                         // 0: no response
    const Clock::time_point start = Clock::now() + std::chrono::milliseconds(100);
    const Clock::time_point end =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration));
    std::vector<std::thread> threads;
    for (int c = 0; c < o.connections; ++c)
      threads.emplace_back([&, c] {
        httplib::Client http(o.url);
        http.set_keep_alive(true);
        http.set_tcp_nodelay(true);
        http.set_read_timeout(120, 0);
        std::vector<double> mine, mine_plain, mine_encrypted, mine_ratios;
        double last_plain = -1;  // --alternate: the plaintext half of the current pair
        std::map<int, uint64_t> codes;
        // Open loop: connection c sends at start + (c + k * C) / R.
        double interval = o.rate > 0 ? static_cast<double>(o.connections) / o.rate : 0;
        double offset = o.rate > 0 ? static_cast<double>(c) / o.rate : 0;
        for (int64_t k = 0;; ++k) {
          Clock::time_point due = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                                              offset + static_cast<double>(k) * interval));
          if (o.rate <= 0) due = std::max(Clock::now(), start);
          if (due >= end) break;
          std::this_thread::sleep_until(due);
          int status = 0;
          const bool encrypt = o.alternate ? k % 2 == 1 : o.encrypted;
          if (encrypt) {
            EncryptedRequest req(keys, measurement().value, path, body, json_length);
            const std::vector<uint8_t>& sealed = req.body();
            auto r = http.Post(path.c_str(), {{"Teeinfer-Encapsulated-Key", req.encapsulated_key_hex()}},
                               reinterpret_cast<const char*>(sealed.data()), sealed.size(), "application/octet-stream");
            if (r) try {
                req.open_response(r->body, r->status);  // decrypted, receipt checked
                status = r->status;
              } catch (const Error&) {
                status = 1;  // a response that failed its checks
              }
          } else {
            auto r = http.Post(path.c_str(), headers, body, type.c_str());
            status = r ? r->status : 0;
          }
          double ms = std::chrono::duration<double, std::milli>(Clock::now() - due).count();
          ++codes[status];
          if (status == 200) mine.push_back(ms);
          if (o.alternate && status == 200) {
            (encrypt ? mine_encrypted : mine_plain).push_back(ms);
            if (encrypt && last_plain > 0) mine_ratios.push_back(ms / last_plain);
          }
          last_plain = !encrypt && status == 200 ? ms : -1;
        }
        std::lock_guard lk(mu);
        latencies.insert(latencies.end(), mine.begin(), mine.end());
        plain_ms.insert(plain_ms.end(), mine_plain.begin(), mine_plain.end());
        encrypted_ms.insert(encrypted_ms.end(), mine_encrypted.begin(), mine_encrypted.end());
        pair_ratios.insert(pair_ratios.end(), mine_ratios.begin(), mine_ratios.end());
        for (auto [code, n] : codes) statuses[code] += n;
      });
    for (auto& t : threads) t.join();
    uint64_t errors = 0, total = 0;
    for (auto [code, n] : statuses) {
      total += n;
      if (code != 200) errors += n;
    }
    double p50 = percentile(latencies, 0.50), p90 = percentile(latencies, 0.90), p99 = percentile(latencies, 0.99);
    double max = latencies.empty() ? 0 : *std::max_element(latencies.begin(), latencies.end());
    double throughput = static_cast<double>(latencies.size()) / o.duration;
    if (o.json) {
      nlohmann::json j = {{"model", o.model},        {"connections", o.connections},
                          {"rate", o.rate},          {"duration_s", o.duration},
                          {"requests", total},       {"ok", latencies.size()},
                          {"errors", errors},        {"throughput_rps", throughput},
                          {"p50_ms", p50},           {"p90_ms", p90},
                          {"p99_ms", p99},           {"max_ms", max},
                          {"binary", o.binary},      {"batch", o.batch},
                          {"encrypted", o.encrypted}};
      for (auto [code, n] : statuses) j["statuses"][std::to_string(code)] = n;
      if (o.alternate)
        j["alternate"] = {{"plain_ok", plain_ms.size()},         {"encrypted_ok", encrypted_ms.size()},
                          {"plain_p50_ms", median_of(plain_ms)}, {"encrypted_p50_ms", median_of(encrypted_ms)},
                          {"pairs", pair_ratios.size()},         {"pair_ratio_median", median_of(pair_ratios)}};
      std::printf("%s\n", j.dump().c_str());
    } else {
      std::printf("%s on %s: %llu requests in %.0f s (%d connections, %s): %.1f/s ok, %llu errors\n", o.model.c_str(),
                  host_port.c_str(), static_cast<unsigned long long>(total), o.duration, o.connections,
                  o.rate > 0 ? ("fixed " + std::to_string(static_cast<int>(o.rate)) + "/s").c_str() : "closed loop",
                  throughput, static_cast<unsigned long long>(errors));
      std::printf("latency ms: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", p50, p90, p99, max);
      if (o.alternate)
        std::printf(
            "alternating: plaintext p50 %.3f ms, encrypted p50 %.3f ms, encrypted / plaintext over %zu pairs: "
            "median %.4f\n",
            median_of(plain_ms), median_of(encrypted_ms), pair_ratios.size(), median_of(pair_ratios));
      for (auto [code, n] : statuses)
        if (code != 200) std::printf("  status %d: %llu\n", code, static_cast<unsigned long long>(n));
    }
    return errors ? 2 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "oip_load: %s\n", e.what());
    return 1;
  }
}
