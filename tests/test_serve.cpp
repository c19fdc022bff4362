// `teeinfer serve` (src/serve): Open Inference Protocol conformance from the spec's facts,
// dynamic batching (counted, never timed), the shared secure-memory budget, the model
// repository, and faults: hostile bodies, broken connections, slow senders, full queues,
// deadlines, shutdown. Every server runs in-process on 127.0.0.1 on a free port.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <malloc.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#if defined(TEEINFER_ADDRESS_SANITIZER)
// (the ASan runtime's; g++ 12 ships no header declaring it)
extern "C" size_t __sanitizer_get_current_allocated_bytes();
#endif

#include "cli_runner.h"
#include "keybroker/key_broker_http.h"
#include "protocol/oip_codec.h"
#include "random_graphs.h"
#include "serve/batch_policy.h"
#include "serve/key_release.h"
#include "serve/oip_client.h"
#include "serve/server.h"
#include "serve_fixtures.h"
#include "teeinfer/teeinfer.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace teeinfer;
using namespace teeinfer::serve;
using namespace serve_fixtures;

Tensor random_images(int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d;
  std::vector<float> v(static_cast<size_t>(n * 28 * 28));
  for (float& x : v) x = d(rng);
  return Tensor::f32("image", {n, 1, 28, 28}, v);
}

// The nested JSON form of a {1,1,28,28} tensor.
json nested(const Tensor& t) {
  std::vector<float> v = t.to_floats();
  json rows = json::array();
  for (int y = 0; y < 28; ++y) rows.push_back(std::vector<float>(v.begin() + y * 28, v.begin() + (y + 1) * 28));
  return json::array({json::array({rows})});
}

// A valid JSON infer request for the demo model: one all-zero image.
json zero_image_request() {
  return {
      {"inputs",
       {{{"name", "image"}, {"shape", {1, 1, 28, 28}}, {"datatype", "FP32"}, {"data", std::vector<float>(784, 0.f)}}}}};
}

json parse(const httplib::Result& r) {
  EXPECT_TRUE(r) << "no response";
  if (!r) return {};
  return json::parse(r->body, nullptr, false);
}

// Every error body is {"error": "<message>"} (the protocol's error object).
void expect_error(const httplib::Result& r, int status, const std::string& fragment) {
  ASSERT_TRUE(r) << "no response (expected " << status << ")";
  EXPECT_EQ(r->status, status) << r->body;
  json body = json::parse(r->body, nullptr, false);
  ASSERT_TRUE(body.is_object() && body.contains("error") && body["error"].is_string()) << r->body;
  EXPECT_NE(body["error"].get<std::string>().find(fragment), std::string::npos) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
}

// What a Session with the server's options computes for `inputs`.
std::vector<float> reference(const std::string& model_path, KeyProvider* keys, const Tensor& x, uint64_t budget,
                             Platform platform) {
  Model m = Model::open(model_path, keys);
  SessionOptions o;
  o.input_dims["image"] = x.dims;
  o.budget_bytes = budget;
  o.platform = platform;
  if (platform == Platform::kSim && budget) o.epc_bytes = budget;
  Session s(m, o);
  return s.run({x})[0].to_floats();
}

uint64_t metric(const std::string& text, const std::string& series) {
  size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return 0;
  return std::stoull(text.substr(at + series.size() + 2));
}

// ---- Conformance ------------------------------------------------------------------------

class Conformance : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    repo_ = new Repository;
    repo_->add_sealed("fmnist");
    repo_->add_onnx("fmnist_onnx", kDemo, R"({"max_batch": 8})");
    // Its dims are dynamic: its share is planned for the 3 frames the test sends.
    repo_->add_onnx("stateful", kStateful, R"({"input_shape": {"audio": "3x64", "state": "3x16"}})");
    ServerOptions o = options_for(*repo_);
    o.settings.platform = Platform::kSim;
    o.budget_bytes = 16 << 20;
    o.settings.batch_delay_us = 0;
    server_ = new RunningServer(o);
  }
  static void TearDownTestSuite() {
    delete server_;
    delete repo_;
  }
  static inline Repository* repo_ = nullptr;
  static inline RunningServer* server_ = nullptr;
};

TEST_F(Conformance, HealthAndServerMetadata) {
  httplib::Client c = server_->client();
  auto live = c.Get("/v2/health/live");
  ASSERT_TRUE(live);
  EXPECT_EQ(live->status, 200);
  EXPECT_EQ(parse(live)["live"], true);
  auto ready = c.Get("/v2/health/ready");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  EXPECT_EQ(parse(ready)["ready"], true);
  json meta = parse(c.Get("/v2"));
  EXPECT_EQ(meta["name"], "teeinfer");
  EXPECT_EQ(meta["version"], version());
  ASSERT_TRUE(meta["extensions"].is_array());
  EXPECT_NE(std::find(meta["extensions"].begin(), meta["extensions"].end(), "binary_tensor_data"),
            meta["extensions"].end());
}

TEST_F(Conformance, ModelMetadataHasDatatypesShapesAndVersions) {
  httplib::Client c = server_->client();
  json m = parse(c.Get("/v2/models/fmnist"));
  EXPECT_EQ(m["name"], "fmnist");
  EXPECT_EQ(m["versions"], json::array({"1"}));
  EXPECT_EQ(m["platform"], "teeinfer_sealed");
  ASSERT_EQ(m["inputs"].size(), 1u);
  EXPECT_EQ(m["inputs"][0]["name"], "image");
  EXPECT_EQ(m["inputs"][0]["datatype"], "FP32");
  EXPECT_EQ(m["inputs"][0]["shape"], json::array({-1, 1, 28, 28}));  // the batch dim is dynamic
  EXPECT_EQ(m["outputs"][0]["shape"], json::array({-1, 10}));
  EXPECT_EQ(m["parameters"]["max_batch_size"], 8);
  EXPECT_EQ(parse(c.Get("/v2/models/fmnist/versions/1")), m);
  json s = parse(c.Get("/v2/models/stateful"));
  EXPECT_EQ(s["platform"], "onnx_onnxv1");
  ASSERT_EQ(s["inputs"].size(), 3u);
  EXPECT_EQ(s["inputs"][2]["name"], "sr");
  EXPECT_EQ(s["inputs"][2]["datatype"], "INT64");
  EXPECT_EQ(s["outputs"].size(), 2u);

  auto ready = c.Get("/v2/models/fmnist/ready");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  EXPECT_EQ(parse(ready), json({{"name", "fmnist"}, {"ready", true}}));
  EXPECT_EQ(c.Get("/v2/models/fmnist/versions/1/ready")->status, 200);
  expect_error(c.Get("/v2/models/nosuch"), 404, "unknown model 'nosuch'");
  expect_error(c.Get("/v2/models/nosuch/ready"), 404, "unknown model");
  expect_error(c.Get("/v2/models/fmnist/versions/7"), 404, "no version '7'");
  expect_error(c.Post("/v2/models/fmnist/versions/7/infer", "{}", "application/json"), 404, "no version '7'");
  expect_error(c.Get("/v2/no/such/endpoint"), 404, "no such endpoint");
}

TEST_F(Conformance, JsonNestedFlatAndBinaryTensorsGiveTheSameOutputsAsASession) {
  httplib::Client c = server_->client();
  Tensor x = boot_image();
  json nested_request = {
      {"id", "boot-1"},
      {"inputs", {{{"name", "image"}, {"shape", {1, 1, 28, 28}}, {"datatype", "FP32"}, {"data", nested(x)}}}}};
  auto r1 = c.Post("/v2/models/fmnist/infer", nested_request.dump(), "application/json");
  ASSERT_TRUE(r1);
  ASSERT_EQ(r1->status, 200) << r1->body;
  json a = parse(r1);
  EXPECT_EQ(a["id"], "boot-1");
  EXPECT_EQ(a["model_name"], "fmnist");
  EXPECT_EQ(a["model_version"], "1");
  ASSERT_EQ(a["outputs"].size(), 1u);
  EXPECT_EQ(a["outputs"][0]["name"], "logits");
  EXPECT_EQ(a["outputs"][0]["datatype"], "FP32");
  EXPECT_EQ(a["outputs"][0]["shape"], json::array({1, 10}));
  std::vector<float> json_out = a["outputs"][0]["data"].get<std::vector<float>>();

  json flat_request = nested_request;
  flat_request["inputs"][0]["data"] = x.to_floats();
  flat_request.erase("id");
  json b = parse(c.Post("/v2/models/fmnist/infer", flat_request.dump(), "application/json"));
  EXPECT_FALSE(b.contains("id"));
  EXPECT_EQ(b["outputs"][0]["data"].get<std::vector<float>>(), json_out);

  OipClient client(server_->url());
  InferOptions binary;
  binary.binary = true;
  binary.id = "bin";
  InferResult r = client.infer("fmnist", {x}, binary);
  EXPECT_EQ(r.id, "bin");
  EXPECT_EQ(r.outputs[0].to_floats(), json_out);  // JSON numbers round-trip float32 exactly

  // The same as the library computes with the server's options (its share of the EPC).
  uint64_t share = server_->server().index()[0].share_bytes;
  KeyFile key(repo_->dir() + "/fmnist/k.bin");
  EXPECT_LT(
      max_relative_diff(reference(repo_->dir() + "/fmnist/1/model.tee", &key, x, share, Platform::kSim), json_out),
      1e-5f);
  EXPECT_EQ(std::max_element(json_out.begin(), json_out.end()) - json_out.begin(), 9);  // ankle boot
}

TEST_F(Conformance, TypedInputsSeveralOutputsAndRequestedOutputs) {
  httplib::Client c = server_->client();
  Tensor audio = read_npy(kSrc + "/tests/data/stateful_audio.npy", "audio");
  Tensor state = read_npy(kSrc + "/tests/data/stateful_state.npy", "state");
  Tensor sr = read_npy(kSrc + "/tests/data/stateful_sr.npy", "sr", DType::kI64);
  std::vector<float> prob = read_npy(kSrc + "/tests/data/stateful_expected_prob.npy", "p").to_floats();
  std::vector<float> state_out = read_npy(kSrc + "/tests/data/stateful_expected_state_out.npy", "s").to_floats();
  OipClient client(server_->url());
  for (bool binary : {false, true}) {
    InferOptions o;
    o.binary = binary;
    InferResult r = client.infer("stateful", {sr, audio, state}, o);  // any order
    ASSERT_EQ(r.outputs.size(), 2u);
    EXPECT_EQ(r.outputs[0].name, "prob");
    expect_near(r.outputs[0].to_floats(), prob, 1e-5f, "prob");
    expect_near(r.outputs[1].to_floats(), state_out, 1e-5f, "state_out");
    o.outputs = {"state_out"};
    r = client.infer("stateful", {sr, audio, state}, o);
    ASSERT_EQ(r.outputs.size(), 1u);
    EXPECT_EQ(r.outputs[0].name, "state_out");
  }
  // Mixed: one output binary, the other JSON.
  std::optional<uint64_t> length;
  std::string body = OipClient::request_body({audio, state, sr}, {}, length);
  json doc = json::parse(body);
  doc["outputs"] = {{{"name", "prob"}, {"parameters", {{"binary_data", true}}}}, {{"name", "state_out"}}};
  auto r = c.Post("/v2/models/stateful/infer", doc.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  ASSERT_TRUE(r->has_header("Inference-Header-Content-Length"));
  InferResult mixed =
      OipClient::decode_response(r->body, std::stoull(r->get_header_value("Inference-Header-Content-Length")));
  expect_near(mixed.outputs[0].to_floats(), prob, 1e-5f, "binary prob");
  expect_near(mixed.outputs[1].to_floats(), state_out, 1e-5f, "json state_out");
}

TEST_F(Conformance, ClientMistakesAre4xxWithAnErrorObject) {
  httplib::Client c = server_->client();
  auto infer = [&](const std::string& body, const char* type = "application/json") {
    return c.Post("/v2/models/fmnist/infer", body, type);
  };
  json good = zero_image_request();
  auto with = [&](const std::function<void(json&)>& change) {
    json j = good;
    change(j);
    return j.dump();
  };
  expect_error(infer("{not json"), 400, "not valid JSON");
  expect_error(infer("[1,2]"), 400, "must be a JSON object");
  expect_error(infer(std::string(100, '[') + std::string(100, ']')), 400, "nests deeper");
  expect_error(infer(with([](json& j) { j.erase("inputs"); })), 400, "'inputs'");
  expect_error(infer(with([](json& j) { j["inputs"][0]["name"] = "img"; })), 400, "no such input");
  expect_error(infer(with([](json& j) { j["inputs"][0]["datatype"] = "INT64"; })), 400, "takes FP32");
  expect_error(infer(with([](json& j) { j["inputs"][0]["datatype"] = "FP16"; })), 400, "datatype is 'FP16'");
  expect_error(infer(with([](json& j) { j["inputs"][0]["shape"] = {1, 1, 28, 27}; })), 400, "shape");
  expect_error(infer(with([](json& j) { j["inputs"][0]["shape"] = {1, 28, 28}; })), 400, "has 3 dims");
  expect_error(infer(with([](json& j) { j["inputs"][0]["shape"] = {9, 1, 28, 28}; })), 400, "batch of 9");
  expect_error(infer(with([](json& j) { j["inputs"][0]["shape"] = {-1, 1, 28, 28}; })), 400, "non-negative");
  expect_error(infer(with([](json& j) { j["inputs"][0]["data"] = std::vector<float>(783, 0.f); })), 400,
               "783 elements");
  expect_error(infer(with([](json& j) { j["inputs"][0]["data"][5] = "x"; })), 400, "must hold numbers");
  expect_error(infer(with([](json& j) { j["inputs"][0]["data"][5] = 1e300; })), 400, "out of FP32's range");
  expect_error(infer(with([](json& j) { j["inputs"].push_back(j["inputs"][0]); })), 400, "given twice");
  expect_error(infer(with([](json& j) { j["id"] = 5; })), 400, "id must be a string");
  expect_error(infer(with([](json& j) { j["outputs"] = {{{"name", "nope"}}}; })), 400, "no such output");
  expect_error(infer(with([](json& j) { j["parameters"] = {{"timeout_ms", -3}}; })), 400, "timeout_ms");
  expect_error(infer(with([](json& j) { j["parameters"] = {{"x", {1}}}; })), 400, "string, number or boolean");
  expect_error(infer(good.dump(), "text/plain"), 415, "Content-Type");
  EXPECT_EQ(infer(good.dump(), "Application/JSON; charset=utf-8")->status, 200);
  // Loading and unloading are off unless --model-control.
  expect_error(c.Post("/v2/repository/models/fmnist/unload", "", "application/json"), 403, "--model-control");
  expect_error(infer(good.dump(), "application/octet-stream"), 415, "Content-Type");

  // The binary extension: sizes must agree exactly.
  json header = {{"inputs",
                  {{{"name", "image"},
                    {"shape", {1, 1, 28, 28}},
                    {"datatype", "FP32"},
                    {"parameters", {{"binary_data_size", 3136}}}}}}};
  std::string h = header.dump();
  auto binary = [&](const std::string& length, const std::string& tail) {
    return c.Post("/v2/models/fmnist/infer", {{"Inference-Header-Content-Length", length}}, h + tail,
                  "application/octet-stream");
  };
  EXPECT_EQ(binary(std::to_string(h.size()), std::string(3136, '\0'))->status, 200);
  expect_error(binary(std::to_string(h.size()), std::string(3135, '\0')), 400, "binary data ends");
  expect_error(binary(std::to_string(h.size()), std::string(3137, '\0')), 400, "no input claims");
  expect_error(binary(std::to_string(h.size() + 100000), std::string(3136, '\0')), 400,
               "Inference-Header-Content-Length");
  expect_error(binary("-5", std::string(3136, '\0')), 400, "Inference-Header-Content-Length");
  expect_error(binary("12abc", std::string(3136, '\0')), 400, "Inference-Header-Content-Length");
  json both = header;
  both["inputs"][0]["data"] = std::vector<float>(784, 0.f);
  std::string hb = both.dump();
  expect_error(c.Post("/v2/models/fmnist/infer", {{"Inference-Header-Content-Length", std::to_string(hb.size())}},
                      hb + std::string(3136, '\0'), "application/octet-stream"),
               400, "both 'data' and");
  // A typed input gets exact integers.
  std::optional<uint64_t> none;
  json st = json::parse(OipClient::request_body({read_npy(kSrc + "/tests/data/stateful_audio.npy", "audio"),
                                                 read_npy(kSrc + "/tests/data/stateful_state.npy", "state"),
                                                 read_npy(kSrc + "/tests/data/stateful_sr.npy", "sr", DType::kI64)},
                                                {}, none));
  st["inputs"][2]["data"] = {16000.5};
  expect_error(c.Post("/v2/models/stateful/infer", st.dump(), "application/json"), 400, "must hold integers");
  st["inputs"][2]["data"] = {true};
  expect_error(c.Post("/v2/models/stateful/infer", st.dump(), "application/json"), 400, "must hold integers");
}

// ---- Batching ---------------------------------------------------------------------------

// `clients` threads each send one request of `samples` images at once; returns the outputs
// in thread order.
std::vector<std::vector<float>> concurrent_requests(const RunningServer& s, const std::string& model, int clients,
                                                    int64_t samples, unsigned seed0) {
  std::vector<std::vector<float>> out(static_cast<size_t>(clients));
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < clients; ++i)
    threads.emplace_back([&, i] {
      try {
        OipClient client(s.url());
        out[static_cast<size_t>(i)] =
            client.infer(model, {random_images(samples, seed0 + static_cast<unsigned>(i))}).outputs[0].to_floats();
      } catch (const std::exception& e) {
        ++failures;
        ADD_FAILURE() << e.what();
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  return out;
}

TEST(Batching, ConcurrentRequestsRunAsOneBatchAndDecryptEachStreamedWeightOncePerBatch) {
  Repository repo;
  repo.add_sealed("fmnist", "{1,2,4,8}x1x28x28", ", \"budget\": \"1MiB\"");  // its weights stream
  for (int64_t max_batch : {1, 8}) {
    ServerOptions o = options_for(repo);
    o.settings.platform = Platform::kSim;
    o.budget_bytes = 2 << 20;
    o.settings.max_batch = max_batch;
    o.settings.batch_delay_us = 2'000'000;  // the first request waits (up to 2 s) for the other seven
    RunningServer s(o);
    std::vector<std::vector<float>> out = concurrent_requests(s, "fmnist", 8, 1, 100);
    std::string m = s.server().metrics_text();
    uint64_t runs = metric(m, "teeinfer_runs_total{model=\"fmnist\"}");
    uint64_t decrypted = metric(m, "teeinfer_weight_bytes_decrypted_total{model=\"fmnist\"}");
    EXPECT_EQ(metric(m, "teeinfer_samples_total{model=\"fmnist\"}"), 8u);
    if (max_batch == 1) {
      EXPECT_EQ(runs, 8u);
    } else {
      EXPECT_EQ(runs, 1u) << m;
      EXPECT_EQ(metric(m, "teeinfer_batch_size_bucket{model=\"fmnist\",le=\"4\"}"), 0u);
      EXPECT_EQ(metric(m, "teeinfer_batch_size_bucket{model=\"fmnist\",le=\"8\"}"), 1u);
    }
    // A run decrypts the streamed weights once, whatever its batch.
    ASSERT_GT(runs, 0u);
    EXPECT_EQ(decrypted % runs, 0u);
    EXPECT_GT(decrypted / runs, 1000000u) << "the weights must stream in a 1 MiB share";
    EXPECT_EQ(metric(m, "teeinfer_epc_evictions_total{model=\"fmnist\"}"), 0u);
    // Each request gets its own sample's outputs.
    KeyFile key(repo.dir() + "/fmnist/k.bin");
    for (int i = 0; i < 8; ++i)
      expect_near(out[static_cast<size_t>(i)],
                  reference(repo.dir() + "/fmnist/1/model.tee", &key, random_images(1, 100 + static_cast<unsigned>(i)),
                            1 << 20, Platform::kSim),
                  1e-4f, "request " + std::to_string(i));
  }
}

TEST(Batching, RequestsThatDoNotFillARunSizeArePaddedAndSplitBack) {
  Repository repo;
  repo.add_onnx("fmnist", kDemo, R"({"max_batch": 8})");
  ServerOptions o = options_for(repo);
  o.settings.max_batch = 8;
  o.settings.batch_delay_us = 2'000'000;
  RunningServer s(o);
  // Three clients sending 1 + 1 + 1 samples: one run (ONNX runs 1, 2, 4, 8).
  std::vector<std::vector<float>> out = concurrent_requests(s, "fmnist", 3, 1, 7);
  std::string m = s.server().metrics_text();
  EXPECT_EQ(metric(m, "teeinfer_runs_total{model=\"fmnist\"}"), 1u) << m;
  // Padded to 4 (the next size), or to 8 when that session is live and 4's is not.
  uint64_t run_size = metric(m, "teeinfer_batch_size_sum{model=\"fmnist\"}");
  EXPECT_TRUE(run_size == 4 || run_size == 8) << run_size;
  EXPECT_EQ(metric(m, "teeinfer_padded_samples_total{model=\"fmnist\"}"), run_size - 3);
  for (int i = 0; i < 3; ++i)
    expect_near(out[static_cast<size_t>(i)],
                reference(kDemo, nullptr, random_images(1, 7 + static_cast<unsigned>(i)), 0, Platform::kNone), 1e-4f,
                "request " + std::to_string(i));
  // A request carrying its own batch of 3 keeps its samples together.
  OipClient client(s.url());
  Tensor x = random_images(3, 99);
  InferResult r = client.infer("fmnist", {x});
  EXPECT_EQ(r.outputs[0].dims, (Dims{3, 10}));
  expect_near(r.outputs[0].to_floats(), reference(kDemo, nullptr, x, 0, Platform::kNone), 1e-4f, "batch of 3");
}

// ---- Queues and deadlines ---------------------------------------------------------------

TEST(Queueing, AFullQueueIs503WithRetryAfterAndExpiredRequestsNeverRun) {
  Repository repo;
  repo.add_onnx("fmnist", kDemo, R"({"max_batch": 8})");
  ServerOptions o = options_for(repo);
  o.settings.max_batch = 8;
  o.settings.max_queue = 2;
  o.settings.batch_delay_us = 1'500'000;  // two requests sit in the queue for 1.5 s
  RunningServer s(o);
  std::vector<std::thread> waiting;
  std::atomic<int> ok{0};
  for (int i = 0; i < 2; ++i)
    waiting.emplace_back([&] {
      OipClient client(s.url());
      if (client.infer("fmnist", {random_images(1, 1)}).outputs.size() == 1) ++ok;
    });
  // Wait until both are queued (the metric, not a sleep guess).
  for (int i = 0; i < 500 && metric(s.server().metrics_text(), "teeinfer_queue_depth{model=\"fmnist\"}") < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  httplib::Client c = s.client();
  json req = zero_image_request();
  auto full = c.Post("/v2/models/fmnist/infer", req.dump(), "application/json");
  expect_error(full, 503, "--max-queue");
  EXPECT_EQ(full->get_header_value("Retry-After"), "1");
  for (auto& t : waiting) t.join();
  EXPECT_EQ(ok, 2);

  // A deadline shorter than the batch delay: refused, and not run.
  uint64_t samples_before = metric(s.server().metrics_text(), "teeinfer_samples_total{model=\"fmnist\"}");
  req["parameters"] = {{"timeout_ms", 50}};
  expect_error(c.Post("/v2/models/fmnist/infer", req.dump(), "application/json"), 503, "timed out");
  EXPECT_EQ(metric(s.server().metrics_text(), "teeinfer_samples_total{model=\"fmnist\"}"), samples_before);
}

// ---- One secure-memory budget for every model ---------------------------------------------

TEST(SharedBudget, ModelsShareOneEpcWithoutEvictionsAndOneThatCannotFitIsRefusedWithItsMinimum) {
  Repository repo;
  for (const char* name : {"a", "b", "c"}) repo.add_sealed(name);
  // Each model's minimum at batch 8, from the planner.
  uint64_t min = 0;
  {
    KeyFile key(repo.dir() + "/a/k.bin");
    Model m = Model::open(repo.dir() + "/a/1/model.tee", &key);
    for (int64_t batch : {1, 2, 4, 8}) {  // the share must hold every run size
      SessionOptions so;
      so.input_dims["image"] = {batch, 1, 28, 28};
      min = std::max(min, plan(m, so).min_budget_bytes);
    }
  }
  ASSERT_GT(min, 0u);
  uint64_t epc = 3 * min + (256 << 10);  // room for three, not four
  repo.add_sealed("d");
  ServerOptions o = options_for(repo);
  o.settings.platform = Platform::kSim;
  o.budget_bytes = epc;
  o.settings.batch_delay_us = 1000;
  o.strict_readiness = false;
  o.model_control = true;
  RunningServer s(o);
  std::map<std::string, ModelState> states;
  for (const ModelState& st : s.server().index()) states[st.name] = st;
  uint64_t shares = 0;
  for (const char* name : {"a", "b", "c"}) {
    EXPECT_EQ(states[name].state, "READY") << states[name].reason;
    EXPECT_GE(states[name].share_bytes, min);
    shares += states[name].share_bytes;
  }
  EXPECT_LE(shares, epc);
  EXPECT_EQ(states["d"].state, "UNAVAILABLE");
  EXPECT_NE(states["d"].reason.find("needs at least " + format_size(min)), std::string::npos) << states["d"].reason;

  // Concurrent traffic to all three: correct answers, no eviction, arenas within the EPC.
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (const char* name : {"a", "b", "c"})
    for (int k = 0; k < 3; ++k)
      threads.emplace_back([&, name, k] {
        OipClient client(s.url());
        for (int i = 0; i < 4; ++i) {
          InferResult r = client.infer(name, {random_images(1 + (k + i) % 3, static_cast<unsigned>(k * 10 + i))});
          if (r.outputs[0].dims[1] != 10) ++wrong;
        }
      });
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong, 0);
  std::string m = s.server().metrics_text();
  uint64_t peaks = 0;
  for (const char* name : {"a", "b", "c"}) {
    std::string label = std::string("{model=\"") + name + "\"}";
    EXPECT_EQ(metric(m, "teeinfer_epc_evictions_total" + label), 0u);
    EXPECT_GT(metric(m, "teeinfer_runs_total" + label), 0u);
    uint64_t peak = metric(m, "teeinfer_arena_peak_bytes" + label);
    EXPECT_LE(peak, states[name].share_bytes);
    peaks += peak;
  }
  EXPECT_LE(peaks, epc);
  // Loading the fourth is refused the same way, naming its minimum; unloading one makes room.
  httplib::Client c = s.client();
  expect_error(c.Post("/v2/repository/models/d/load", "", "application/json"), 400, "needs at least");
  ASSERT_EQ(c.Post("/v2/repository/models/a/unload", "", "application/json")->status, 200);
  auto load = c.Post("/v2/repository/models/d/load", "", "application/json");
  ASSERT_EQ(load->status, 200) << load->body;
  OipClient client(s.url());
  EXPECT_EQ(client.infer("d", {random_images(1, 3)}).outputs[0].dims, (Dims{1, 10}));
}

TEST(Queueing, WithNoBudgetAModelsSessionsAreStillCappedSoHugeClientDimsAre400) {
  Repository repo;
  repo.add_onnx("ocr", kSrc + "/tests/data/dynamic_ocr.onnx");  // x: {N, 1, H, W}, any size
  ServerOptions o = options_for(repo);
  o.settings.max_arena_bytes = 4 << 20;
  RunningServer s(o);
  OipClient client(s.url());
  InferOptions binary;
  binary.binary = true;
  auto image = [](int64_t h, int64_t w) {
    return Tensor::f32("x", {1, 1, h, w}, std::vector<float>(static_cast<size_t>(h * w), 0.5f));
  };
  EXPECT_EQ(client.infer("ocr", {image(32, 100)}, binary).outputs[0].dims, (Dims{1, 4}));
  try {
    client.infer("ocr", {image(1024, 1024)}, binary);
    ADD_FAILURE() << "a 1024x1024 image was planned in a 4 MiB cap";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("400"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("budget"), std::string::npos) << e.what();
  }
  EXPECT_EQ(client.infer("ocr", {image(32, 64)}, binary).outputs[0].dims, (Dims{1, 4}));  // still serving
}

// ---- The repository -------------------------------------------------------------------------

TEST(RepositoryTest, ACorruptOrMisconfiguredModelIsNotReadyWithItsReasonAndTheOthersServe) {
  Repository repo;
  repo.add_sealed("good");
  repo.write("corrupt/1/model.tee", "TEEINFER-not-really");
  repo.add_sealed("wrongkey");
  KeyFile::generate(repo.dir() + "/wrongkey/k.bin", true);  // not the key it was sealed with
  repo.add_onnx("typo", kDemo, "{\"max_bacth\": 4}");
  repo.write("empty/README", "no versions");
  ServerOptions o = options_for(repo);
  o.model_control = true;
  RunningServer s(o);
  httplib::Client c = s.client();
  json index = parse(c.Get("/v2/repository/index"));
  std::map<std::string, json> by_name;
  for (const json& e : index) by_name[e["name"]] = e;
  EXPECT_EQ(by_name["good"]["state"], "READY");
  for (const char* name : {"corrupt", "wrongkey", "typo", "empty"}) {
    EXPECT_EQ(by_name[name]["state"], "UNAVAILABLE") << name;
    EXPECT_FALSE(by_name[name]["reason"].get<std::string>().empty()) << name;
  }
  EXPECT_NE(by_name["typo"]["reason"].get<std::string>().find("unknown field 'max_bacth'"), std::string::npos);
  EXPECT_EQ(parse(c.Post("/v2/repository/index", "", "application/json")), index);  // Triton's verb too
  auto not_ready = c.Get("/v2/models/corrupt/ready");
  ASSERT_TRUE(not_ready);
  EXPECT_EQ(not_ready->status, 503);
  EXPECT_EQ(parse(not_ready)["ready"], false);
  expect_error(c.Post("/v2/models/corrupt/infer", "{}", "application/json"), 503, "not ready");
  EXPECT_EQ(c.Get("/v2/health/ready")->status, 503);  // strict readiness: not every model is
  OipClient client(s.url());
  EXPECT_EQ(client.infer("good", {boot_image()}).outputs.size(), 1u);

  // Unload, then infer: 503; load again: serves. Loading what is not there: 404.
  ASSERT_EQ(c.Post("/v2/repository/models/good/unload", "", "application/json")->status, 200);
  expect_error(c.Post("/v2/models/good/infer", "{}", "application/json"), 503, "not ready");
  expect_error(c.Post("/v2/repository/models/good/unload", "", "application/json"), 404, "not loaded");
  ASSERT_EQ(c.Post("/v2/repository/models/good/load", "", "application/json")->status, 200);
  EXPECT_EQ(client.infer("good", {boot_image()}).outputs.size(), 1u);
  expect_error(c.Post("/v2/repository/models/nosuch/load", "", "application/json"), 404, "no model 'nosuch'");
  // Fixing the corrupt model and loading it makes it ready.
  fs::remove_all(repo.dir() + "/corrupt");
  repo.add_sealed("corrupt");
  ASSERT_EQ(c.Post("/v2/repository/models/corrupt/load", "", "application/json")->status, 200);
}

TEST(RepositoryTest, ConfigFieldsAreChecked) {
  EXPECT_EQ(parse_model_config("{\"max_batch\": 4, \"budget\": \"2MiB\"}", "c").budget_bytes, 2u << 20);
  for (const char* bad : {"[]", "{\"max_batch\": 0}", "{\"max_batch\": -1}", "{\"max_batch\": 1.5}", "{\"budget\": 0}",
                          "{\"budget\": \"lots\"}", "{\"model_id\": \"xyz\"}", "{\"key_file\": 3}", "{\"other\": 1}",
                          "{\"input_shape\": {\"x\": \"1xqx3\"}}"})
    EXPECT_THROW(parse_model_config(bad, "c"), Error) << bad;
  EXPECT_FALSE(valid_model_name("../etc"));
  EXPECT_FALSE(valid_model_name(".hidden"));
  EXPECT_FALSE(valid_model_name("a b"));
  EXPECT_TRUE(valid_model_name("resnet-18_v1.2"));
}

// ---- Faults -----------------------------------------------------------------------------

// A TCP connection to 127.0.0.1:port, or -1.
int connect_loopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return fd;
  ::close(fd);
  return -1;
}

// Sends raw bytes on a fresh connection and returns the response that comes back (""
// if the server closed without one).
std::string raw_exchange(int port, const std::string& bytes) {
  int fd = connect_loopback(port);
  if (fd < 0) return "connect failed";
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) {
    out.append(buf, static_cast<size_t>(n));
    size_t end = out.find("\r\n\r\n"), length = out.find("Content-Length: ");
    if (end != std::string::npos && length != std::string::npos &&
        out.size() >= end + 4 + std::stoul(out.substr(length + 16)))
      break;  // a whole response (the connection stays open for the next)
  }
  ::close(fd);
  return out;
}

// Sends bytes and closes the connection at once, whatever the server was doing.
void send_and_close(int port, const std::string& bytes) {
  int fd = connect_loopback(port);
  ASSERT_GE(fd, 0);
  ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  ::close(fd);
}

int status_of(const std::string& response) {
  if (response.rfind("HTTP/1.1 ", 0) != 0) return 0;
  return std::stoi(response.substr(9, 3));
}

// Bytes the allocator has handed out and not had back: what a leak grows. (Under
// AddressSanitizer, freed blocks sit in its quarantine and resident memory grows by design;
// its allocator's own count excludes them.)
size_t live_heap_bytes() {
#if defined(TEEINFER_ADDRESS_SANITIZER)
  return __sanitizer_get_current_allocated_bytes();
#else
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
#endif
}

size_t resident_kib() {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6));
  return 0;
}

TEST(Faults, HostileConnectionsGet4xxOrAreDroppedAndTheServerKeepsServing) {
  Repository repo;
  repo.add_sealed("fmnist");
  ServerOptions o = options_for(repo);
  o.max_body_bytes = 1 << 20;
  o.max_json_bytes = 512 << 10;
  o.read_timeout_s = 1;
  RunningServer s(o);
  const int port = s.port();
  // Garbage, a truncated request line, a body over --max-body, a huge header.
  EXPECT_EQ(status_of(raw_exchange(port, "\x16\x03\x01garbage\r\n\r\n")), 400);
  EXPECT_EQ(status_of(raw_exchange(
                port, "POST /v2/models/fmnist/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n")),
            413);
  std::string too_big =
      raw_exchange(port, "POST /v2/models/fmnist/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n");
  EXPECT_NE(too_big.find("\"error\""), std::string::npos) << too_big;
  EXPECT_NE(status_of(raw_exchange(port, "GET /" + std::string(20000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n")), 200);
  // Bodies httplib would read or inflate past --max-body: chunked, compressed, no length.
  std::string chunked = raw_exchange(
      port,
      "POST /v2/models/fmnist/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  EXPECT_EQ(status_of(chunked), 411) << chunked;
  EXPECT_NE(chunked.find("Connection: close"), std::string::npos) << chunked;
  EXPECT_EQ(status_of(raw_exchange(port,
                                   "POST /v2/models/fmnist/infer HTTP/1.1\r\nHost: x\r\nContent-Encoding: "
                                   "gzip\r\nContent-Length: 4\r\n\r\nabcd")),
            415);
  EXPECT_EQ(status_of(raw_exchange(port, "POST /v2/models/fmnist/infer HTTP/1.1\r\nHost: x\r\n\r\n")), 411);
  // The JSON part has its own, smaller limit (--max-json).
  {
    httplib::Client c("127.0.0.1", port);
    std::string big = "{\"inputs\": [], \"pad\": \"" + std::string(600 << 10, 'x') + "\"}";
    expect_error(c.Post("/v2/models/fmnist/infer", big, "application/json"), 413, "--max-json");
  }
  // Disconnect mid-body: the server gets no request and carries on.
  send_and_close(port, "POST /v2/models/fmnist/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{\"inputs\":");
  // A slow sender: a byte, then silence past --read-timeout; it is dropped.
  {
    int fd = connect_loopback(port);
    ASSERT_GE(fd, 0);
    ::send(fd, "P", 1, MSG_NOSIGNAL);
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[256];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);  // closed (0) or an error reply, within the timeout
    EXPECT_LE(n, static_cast<ssize_t>(sizeof buf));
    ::close(fd);
  }
  // Disconnect before the response is read: the request runs, the answer goes nowhere.
  json req = zero_image_request();
  std::string body = req.dump();
  for (int i = 0; i < 5; ++i)
    send_and_close(
        port, "POST /v2/models/fmnist/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\n\r\n" + body);
  OipClient client(s.url());
  EXPECT_EQ(client.infer("fmnist", {boot_image()}).outputs.size(), 1u);
}

TEST(Faults, TenThousandMalformedRequestsFromASeededGeneratorGet4xxAndMemoryStaysFlat) {
  Repository repo;
  repo.add_sealed("fmnist");
  ServerOptions o = options_for(repo);
  RunningServer s(o);
  httplib::Client c = s.client();
  c.set_keep_alive(true);
  c.set_tcp_nodelay(true);
  json good = {{"id", "x"},
               {"inputs",
                {{{"name", "image"},
                  {"shape", {1, 1, 28, 28}},
                  {"datatype", "FP32"},
                  {"data", std::vector<float>(784, 0.25f)}}}}};
  const std::string base = good.dump();
  std::mt19937 rng(20261130);
  // Mutations of a valid body: bytes flipped, cut, spliced, fields replaced.
  auto mutate = [&]() {
    std::string b = base;
    switch (rng() % 6) {
      case 0:
        b[rng() % b.size()] = static_cast<char>(rng());
        break;
      case 1:
        b.resize(rng() % b.size());
        break;
      case 2:
        b.insert(rng() % b.size(), std::string(1 + rng() % 8, "{[\"]},:0e-"[rng() % 10]));
        break;
      case 3:
        b.replace(b.find("FP32"), 4, rng() % 2 ? "FP64" : "BOOL");
        break;
      case 4:
        b.replace(b.find("[1,1,28,28]"), 11, "[" + std::to_string(rng() % 100) + ",1,28,28]");
        break;
      default:
        b.replace(b.find("image"), 5, std::string(1 + rng() % 40, 'i'));
        break;
    }
    return b;
  };
  auto burst = [&](int n) {
    int non4xx = 0;
    for (int i = 0; i < n; ++i) {
      std::string body = mutate();
      auto r = c.Post("/v2/models/fmnist/infer", body, "application/json");
      if (!r) {
        ++non4xx;
        continue;
      }
      // A mutation can leave the request valid (e.g. a flipped digit inside a number).
      if (r->status == 200) continue;
      if (r->status < 400 || r->status > 499) {
        ++non4xx;
        ADD_FAILURE() << r->status << " for " << body.substr(0, 200) << ": " << r->body;
      }
    }
    return non4xx;
  };
  EXPECT_EQ(burst(1000), 0);  // warm-up: pools, sessions, allocator arenas
  size_t before = resident_kib(), heap_before = live_heap_bytes();
  EXPECT_EQ(burst(9000), 0);
  size_t after = resident_kib(), heap_after = live_heap_bytes();
  EXPECT_LT(heap_after, heap_before + (8u << 20)) << "the live heap grew from " << heap_before << " to " << heap_after;
#if !defined(TEEINFER_ADDRESS_SANITIZER)
  EXPECT_LT(after, before + 32 * 1024) << "resident memory grew from " << before << " to " << after << " KiB";
#else
  (void)before, (void)after;
#endif
  OipClient client(s.url());
  EXPECT_EQ(client.infer("fmnist", {boot_image()}).outputs.size(), 1u);
}

TEST(Faults, StopAnswersEveryAcceptedRequest) {
  Repository repo;
  repo.add_sealed("fmnist");
  ServerOptions o = options_for(repo);
  o.settings.batch_delay_us = 20'000;
  auto s = std::make_unique<RunningServer>(o);
  std::atomic<bool> go{true};
  std::atomic<int> answered{0}, refused{0}, lost{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 6; ++i)
    clients.emplace_back([&] {
      httplib::Client c("127.0.0.1", s->port());
      c.set_keep_alive(false);
      c.set_read_timeout(30, 0);
      json req = zero_image_request();
      while (go) {
        auto r = c.Post("/v2/models/fmnist/infer", req.dump(), "application/json");
        if (r) {
          ++answered;
          if (r->status == 503) break;  // draining: this client stops
          EXPECT_EQ(r->status, 200);
        } else if (r.error() == httplib::Error::Connection) {
          ++refused;  // never accepted
          break;
        } else {
          ++lost;  // sent, and no answer
          break;
        }
      }
    });
  while (answered < 30) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  s->server().stop();
  go = false;
  for (auto& t : clients) t.join();
  s.reset();
  EXPECT_EQ(lost, 0);
  EXPECT_GE(answered, 30);
}

// ---- The command line: serve and client as the README runs them ---------------------------

// `teeinfer serve ARGS --port 0` in a child process; the port from its first line.

TEST(ServeCli, TheQuickStartClassifiesTheBundledImageSealedInTheEmulatedEpcLikeRun) {
  Repository repo;
  repo.add_sealed("fmnist");
  ServeProcess server("--model-repository " + repo.dir() + " --tee sim --epc 8MiB --drain-ms 0");
  ASSERT_GT(server.port(), 0) << server.first_line();
  EXPECT_NE(server.first_line().find("1 of 1 models ready"), std::string::npos) << server.first_line();
  std::string names = kSrc + "/models/fashion_mnist_classes.txt";
  std::string out_dir = repo.dir() + "/out";
  fs::create_directories(out_dir);
  for (const char* binary : {"", " --binary"}) {
    CliResult c = run_cli("client " + server.url() + " --model fmnist --input " + kBoot + " --class-names " + names +
                          " --output " + out_dir + "/served.npy" + binary);
    ASSERT_EQ(c.exit_code, 0) << c.output;
    EXPECT_NE(c.output.find("Ankle boot"), std::string::npos) << c.output;
    // The same numbers as `teeinfer run` of the sealed model in the same share of the EPC.
    uint64_t share = 0;
    for (const json& e : json::parse(httplib::Client("127.0.0.1", server.port()).Get("/v2/repository/index")->body))
      share = e["secure_memory_share_bytes"];
    CliResult r = run_cli("run " + repo.dir() + "/fmnist/1/model.tee --key " + repo.dir() + "/fmnist/k.bin --input " +
                          kBoot + " --tee sim --epc " + std::to_string(share) + " --repeat 1 --warmup 0 --output " +
                          out_dir + "/run.npy");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    // (Within rounding: each process measures which convolution kernels are faster.)
    expect_near(read_npy(out_dir + "/served.npy", "y").to_floats(), read_npy(out_dir + "/run.npy", "y").to_floats(),
                1e-5f, "served vs run");
  }
  CliResult bad = run_cli("client " + server.url() + " --model nosuch --input " + kBoot);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("404"), std::string::npos) << bad.output;
  EXPECT_EQ(server.terminate(), 0);
}

TEST(ServeCli, SigtermDuringLoadAnswersEveryAcceptedRequestAndExitsZero) {
  Repository repo;
  repo.add_sealed("fmnist");
  ServeProcess server("--model-repository " + repo.dir() + " --drain-ms 300");
  ASSERT_GT(server.port(), 0) << server.first_line();
  std::atomic<bool> go{true};
  std::atomic<int> answered{0}, lost{0};
  std::vector<std::thread> clients;
  json req = zero_image_request();
  const std::string body = req.dump();
  for (int i = 0; i < 6; ++i)
    clients.emplace_back([&] {
      httplib::Client c("127.0.0.1", server.port());
      c.set_keep_alive(false);
      c.set_read_timeout(30, 0);
      while (go) {
        auto r = c.Post("/v2/models/fmnist/infer", body, "application/json");
        if (r) {
          ++answered;
          if (r->status != 200) {
            EXPECT_EQ(r->status, 503) << r->body;  // draining: refused with an answer
            break;
          }
        } else {
          if (r.error() != httplib::Error::Connection) ++lost;  // sent, never answered
          break;
        }
      }
    });
  while (answered < 50) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(server.terminate(), 0);
  go = false;
  for (auto& t : clients) t.join();
  EXPECT_EQ(lost, 0);
}

// ---- Which run sizes batches use ------------------------------------------------------------

TEST(BatchPolicy, LargerBatchesAreUsedOnlyWhereTheyAreFasterPerSample) {
  // AlexNet-like: streamed weights dominate, a batch of 8 costs little more than one image.
  std::map<int64_t, double> streaming = {{1, 80}, {2, 90}, {4, 110}, {8, 160}};
  EXPECT_EQ(preferred_run_sizes({1, 2, 4, 8}, streaming), (std::vector<int64_t>{1, 2, 4, 8}));
  // ResNet-18 in a small EPC: a batch's activations spill, every larger size is slower per sample.
  std::map<int64_t, double> spilling = {{1, 44}, {2, 300}, {4, 1000}, {8, 2100}};
  EXPECT_EQ(preferred_run_sizes({1, 2, 4, 8}, spilling), (std::vector<int64_t>{1}));
  // Within 5% per sample is not worth a batch's latency.
  EXPECT_EQ(preferred_run_sizes({1, 2}, {{1, 10}, {2, 19.5}}), (std::vector<int64_t>{1}));
  // A size with no timing is kept; the smallest always is.
  EXPECT_EQ(preferred_run_sizes({8, 1, 4}, {{1, 10}, {8, 90}}), (std::vector<int64_t>{1, 4}));
  // Five samples queued: four and one later (20 ms each), or all five padded to eight (160/5 = 32 ms each)?
  EXPECT_EQ(target_run_size(5, {1, 2, 4, 8}, streaming), 4);  // 110/4 = 27.5 < 160/5 = 32
  EXPECT_EQ(target_run_size(7, {1, 2, 4, 8}, streaming), 8);  // 160/7 = 22.9 < 27.5
  EXPECT_EQ(target_run_size(8, {1, 2, 4, 8}, streaming), 8);
  EXPECT_EQ(target_run_size(20, {1, 2, 4, 8}, streaming), 8);
  EXPECT_EQ(target_run_size(3, {1}, spilling), 1);
  EXPECT_EQ(target_run_size(3, {1, 4}, {}), 4);  // no timings: one run for all of them
  EXPECT_EQ(target_run_size(3, {8}, {}), 8);
  // Sessions that cannot live together are not all kept: ResNet-18-like (batch 4 only 1.3x
  // faster per sample) keeps the smallest; AlexNet-like (batch 8 5x faster) keeps 8.
  std::map<int64_t, uint64_t> big = {{1, 9u << 20}, {4, 15u << 20}, {8, 15u << 20}};
  EXPECT_EQ(sizes_that_fit({1, 4}, {{1, 46}, {4, 141}}, big, 16u << 20), (std::vector<int64_t>{1}));
  EXPECT_EQ(sizes_that_fit({1, 2, 4, 8}, {{1, 110}, {2, 120}, {4, 140}, {8, 170}}, big, 16u << 20),
            (std::vector<int64_t>{8}));
  EXPECT_EQ(sizes_that_fit({1, 4}, {{1, 46}, {4, 141}}, {{1, 1u << 20}, {4, 3u << 20}}, 16u << 20),
            (std::vector<int64_t>{1, 4}));                                                       // they fit: all kept
  EXPECT_EQ(sizes_that_fit({1, 4}, {{1, 46}, {4, 141}}, big, 0), (std::vector<int64_t>{1, 4}));  // no limit
}

TEST(BatchPolicy, TheServerTimesEverySizeBeforeServingAndPublishesItsChoice) {
  Repository repo;
  repo.add_sealed("fmnist");
  ServerOptions o = options_for(repo);
  o.settings.measure_run_sizes = true;
  RunningServer s(o);
  OipClient client(s.url());
  EXPECT_EQ(client.infer("fmnist", {boot_image()}).outputs.size(), 1u);  // (after the warm-up)
  std::string m = s.server().metrics_text();
  std::map<int64_t, double> ms;
  std::vector<int64_t> used;
  for (int64_t size : {1, 2, 4, 8}) {
    std::string prefix = "teeinfer_run_size_ms{model=\"fmnist\",size=\"" + std::to_string(size) + "\",preferred=\"";
    size_t at = m.find(prefix);
    ASSERT_NE(at, std::string::npos) << "size " << size << " not timed:\n" << m;
    if (m[at + prefix.size()] == '1') used.push_back(size);
    ms[size] = std::stod(m.substr(m.find("} ", at) + 2));
  }
  EXPECT_EQ(used, preferred_run_sizes({1, 2, 4, 8}, ms));  // what it published is what the policy says
}

// ---- The decoder alone --------------------------------------------------------------------

TEST(OipCodec, DecodesTypedTensorsAndRangeChecksThem) {
  RequestSignature sig;
  sig.inputs = {{"ids", DType::kI32, {1, 3}}, {"mask", DType::kBool, {1, 3}}, {"q", DType::kU8, {2}}};
  sig.outputs = {"y"};
  InferRequest r = decode_infer_request(
      R"({"inputs":[{"name":"ids","shape":[1,3],"datatype":"INT32","data":[[1,-2,2147483647]]},
                    {"name":"mask","shape":[1,3],"datatype":"BOOL","data":[true,false,true]},
                    {"name":"q","shape":[2],"datatype":"UINT8","data":[0,255]}]})",
      std::nullopt, sig);
  ASSERT_EQ(r.inputs.size(), 3u);
  EXPECT_EQ(r.inputs[1].bytes, (std::vector<uint8_t>{1, 0, 1}));
  EXPECT_EQ(r.inputs[2].bytes, (std::vector<uint8_t>{0, 255}));
  int32_t last;
  std::memcpy(&last, r.inputs[0].bytes.data() + 8, 4);
  EXPECT_EQ(last, 2147483647);
  EXPECT_EQ(r.outputs, (std::vector<std::string>{"y"}));
  for (const char* bad : {R"({"inputs":[{"name":"ids","shape":[1,3],"datatype":"INT32","data":[1,2,2147483648]}]})",
                          R"({"inputs":[{"name":"q","shape":[2],"datatype":"UINT8","data":[0,256]}]})",
                          R"({"inputs":[{"name":"q","shape":[2],"datatype":"UINT8","data":[-1,0]}]})",
                          R"({"inputs":[{"name":"mask","shape":[1,3],"datatype":"BOOL","data":[1,0,1]}]})",
                          R"({"inputs":[{"name":"q","shape":[18446744073709551615],"datatype":"UINT8","data":[]}]})"})
    EXPECT_THROW(decode_infer_request(bad, std::nullopt, sig), RequestError) << bad;
  // Binary BOOL must be 0 or 1.
  std::string h =
      R"({"inputs":[{"name":"ids","shape":[1,3],"datatype":"INT32","data":[1,2,3]},{"name":"q","shape":[2],"datatype":"UINT8","data":[1,2]},{"name":"mask","shape":[1,3],"datatype":"BOOL","parameters":{"binary_data_size":3}}]})";
  EXPECT_NO_THROW(decode_infer_request(h + std::string("\1\0\1", 3), h.size(), sig));
  EXPECT_THROW(decode_infer_request(h + std::string("\1\2\1", 3), h.size(), sig), RequestError);
}

// ArgMax's int64 indices leave the server as INT64 (JSON integers or 8-byte binary) and
// the client reads them back exactly.
TEST(OipCodec, Int64OutputsRoundTripAsJsonAndBinary) {
  const std::vector<int64_t> labels{0, 7, (int64_t{1} << 24)};
  const std::vector<Tensor> outputs{Tensor::i64("labels", {1, 3}, labels)};
  for (bool binary : {false, true}) {
    InferRequest request;
    request.outputs = {"labels"};
    request.binary_output = {binary};
    EncodedResponse e = encode_infer_response("m", "1", std::nullopt, request, outputs);
    EXPECT_NE(e.body.find("\"datatype\":\"INT64\""), std::string::npos) << e.body;
    InferResult r = OipClient::decode_response(e.body, e.json_length);
    ASSERT_EQ(r.outputs.size(), 1u);
    EXPECT_EQ(r.outputs[0].dtype, DType::kI64) << (binary ? "binary" : "JSON");
    EXPECT_EQ(r.outputs[0].bytes, outputs[0].bytes) << (binary ? "binary" : "JSON");
  }
}

}  // namespace
