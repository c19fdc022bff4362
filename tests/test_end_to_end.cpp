// [attest] end to end: `serve --key-server` (model keys released to the server's enclave by
// attestation), end-to-end encrypted requests and their signed receipts, tampering refused,
// the untrusted side holding only ciphertext, and the whole flow through the command line
// (keyserver, serve, client --verify). Servers run on 127.0.0.1 on free ports.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <bitset>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <unordered_set>

#include "cli_runner.h"
#include "keybroker/key_broker_http.h"
#include "memory_scan.h"
#include "serve/key_release.h"
#include "serve/oip_client.h"
#include "serve_fixtures.h"

namespace {

using nlohmann::json;
using namespace serve_fixtures;

EvidencePolicy simulated_policy() {
  EvidencePolicy p;
  p.measurements = {measurement().value};
  p.min_security_version = measurement().security_version;
  p.allow_simulated = true;
  return p;
}

ServerOptions sim_options(const Repository& repo) {
  ServerOptions o = options_for(repo);
  o.settings.platform = Platform::kSim;
  o.budget_bytes = 24 << 20;
  return o;
}

// A float32 .npy of `n` values written from `values` (memory outside the heap) with write(2),
// so the secret never passes through a heap buffer of this process.
void write_npy_raw(const std::string& path, const float* values, size_t n, const std::string& shape) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
  header.resize(128 - 10 - 1, ' ');
  header += '\n';
  std::string magic("\x93NUMPY\x01\x00", 8);
  magic += static_cast<char>(header.size() & 0xFF);
  magic += static_cast<char>(header.size() >> 8);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, magic.data(), magic.size()), static_cast<ssize_t>(magic.size()));
  ASSERT_EQ(::write(fd, header.data(), header.size()), static_cast<ssize_t>(header.size()));
  ASSERT_EQ(::write(fd, values, n * 4), static_cast<ssize_t>(n * 4));
  ::close(fd);
}

// The last `bytes` of a file, read with read(2) into `out` (memory outside the heap).
void read_tail_raw(const std::string& path, std::byte* out, size_t bytes) {
  int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  off_t size = ::lseek(fd, 0, SEEK_END);
  ASSERT_GE(size, static_cast<off_t>(bytes));
  ASSERT_EQ(::pread(fd, out, bytes, size - static_cast<off_t>(bytes)), static_cast<ssize_t>(bytes));
  ::close(fd);
}

}  // namespace

// [attest] `serve --key-server`: a repository with no key on disk. The server's enclave
// attests to the key broker, which releases the model's key sealed to it; a model whose
// version is below the policy's minimum (rollback) and one the measurement may not receive
// are UNAVAILABLE with the broker's reason; every decision is in the audit log. The served
// outputs equal a run with the key file.
TEST(KeyRelease, AServerWithNoKeyOnDiskGetsItsModelKeysByAttestation) {
  Repository repo;
  std::string broker_dir = repo.dir() + "_broker";
  fs::create_directories(broker_dir + "/keys");
  std::string key_path = broker_dir + "/owner.key";
  KeyFile::generate(key_path, true);
  KeyFile key(key_path);
  auto seal = [&](const std::string& name, uint64_t version, std::optional<ModelId> id) {
    fs::create_directories(repo.dir() + "/" + name + "/1");
    PackOptions o;
    o.model_version = version;
    o.model_id = id;
    PackResult r = pack(kDemo, repo.dir() + "/" + name + "/1/model.tee", key, o);
    repo.write(name + "/config.json", "{}");
    return r.model_id;
  };
  ModelId id = seal("fmnist", 3, std::nullopt);
  seal("rolled_back", 1, id);                      // the same model, an older version
  ModelId other = seal("other", 1, std::nullopt);  // a model this measurement may not receive
  for (const ModelId& m : {id, other}) fs::copy_file(key_path, broker_dir + "/keys/" + to_hex(m) + ".key");
  ::chmod((broker_dir + "/keys/" + to_hex(id) + ".key").c_str(), 0600);
  ::chmod((broker_dir + "/keys/" + to_hex(other) + ".key").c_str(), 0600);
  ASSERT_FALSE(fs::exists(repo.dir() + "/fmnist/k.bin"));

  json policy = {{"allow_simulated", true},
                 {"measurements", {{to_hex(measurement().value.data(), 32), {{"models", {to_hex(id)}}}}}},
                 {"models", {{to_hex(id), {{"min_version", 2}}}}}};
  keybroker::AuditLog audit(broker_dir + "/audit.jsonl");
  keybroker::KeyBroker broker(keybroker::parse_policy(policy.dump(), "policy.json"), broker_dir + "/keys", audit);
  keybroker::KeyBrokerHttp http(broker, "127.0.0.1", 0);
  int broker_port = http.bind();
  std::thread broker_thread([&] { http.serve(); });

  Enclave enclave;
  ServerOptions o = options_for(repo);
  o.settings.platform = Platform::kSim;
  o.budget_bytes = 24 << 20;
  o.settings.key_release = std::make_shared<KeyRelease>("http://127.0.0.1:" + std::to_string(broker_port), enclave);
  {
    RunningServer server(o);
    std::map<std::string, ModelState> states;
    for (const ModelState& m : server.server().index()) states[m.name] = m;
    EXPECT_EQ(states["fmnist"].state, "READY") << states["fmnist"].reason;
    EXPECT_EQ(states["rolled_back"].state, "UNAVAILABLE");
    EXPECT_NE(states["rolled_back"].reason.find("below the policy's minimum 2 (rollback refused)"), std::string::npos)
        << states["rolled_back"].reason;
    EXPECT_EQ(states["other"].state, "UNAVAILABLE");
    EXPECT_NE(states["other"].reason.find("is not released to measurement"), std::string::npos)
        << states["other"].reason;

    OipClient client(server.url());
    InferResult served = client.infer("fmnist", {boot_image()});
    SessionOptions so;
    so.platform = Platform::kSim;
    Session plain(Model::open(repo.dir() + "/fmnist/1/model.tee", &key), so);
    expect_near(served.outputs[0].to_floats(), plain.run({boot_image()})[0].to_floats(), 1e-5f, "served vs key file");
  }
  http.stop();
  broker_thread.join();

  std::ifstream log(broker_dir + "/audit.jsonl");
  std::vector<json> lines;
  for (std::string line; std::getline(log, line);) lines.push_back(json::parse(line));
  int granted = 0, rollback = 0, not_released = 0, attested = 0;
  for (const json& l : lines) {
    granted += l["decision"] == "granted" && l["model_id"] == to_hex(id);
    attested += l["decision"] == "attested";
    std::string reason = l.value("reason", "");
    rollback += reason.find("rollback refused") != std::string::npos;
    not_released += reason.find("is not released") != std::string::npos;
  }
  EXPECT_EQ(granted, 1);
  EXPECT_EQ(rollback, 1);
  EXPECT_EQ(not_released, 1);
  EXPECT_GE(attested, 1);
  fs::remove_all(broker_dir);
}

TEST(EncryptedRequests, GiveThePlainOutputsWithAVerifiedReceiptAndTheHostSeesCiphertext) {
  Repository repo;
  repo.add_sealed("fmnist");
  RunningServer server(sim_options(repo));
  OipClient plain(server.url());
  InferResult reference = plain.infer("fmnist", {boot_image()});

  OipClient client(server.url());
  Verification v = client.attest(simulated_policy());
  ASSERT_TRUE(v.ok) << v.reason;
  KeyFile key(repo.dir() + "/fmnist/k.bin");
  Model opened = Model::open(repo.dir() + "/fmnist/1/model.tee", &key);
  for (bool binary : {false, true}) {
    InferOptions io;
    io.binary = binary;
    io.id = "e2e";
    InferResult r = client.infer("fmnist", {boot_image()}, io);
    ASSERT_TRUE(r.receipt);
    EXPECT_EQ(r.id, "e2e");
    expect_near(r.outputs[0].to_floats(), reference.outputs[0].to_floats(), 1e-5f, "encrypted vs plain");
    const Receipt& rc = *r.receipt;
    EXPECT_EQ(rc.model_id, opened.sealed_info().model_id);
    EXPECT_EQ(rc.model_version, 1u);
    EXPECT_EQ(rc.manifest_sha256, opened.sealed_info().manifest_sha256);
    EXPECT_NE(rc.manifest_sha256, Digest{});
    EXPECT_EQ(rc.measurement, measurement().value);
    EXPECT_EQ(rc.status, 200);
    EXPECT_EQ(rc.sequence, binary ? 1u : 0u);
  }
  std::string metrics = httplib::Client("127.0.0.1", server.port()).Get("/metrics")->body;
  EXPECT_NE(metrics.find("teeinfer_encrypted_requests_total{model=\"fmnist\"} 2"), std::string::npos) << metrics;
}

TEST(EncryptedRequests, TamperingAndMisroutingAreRefused) {
  Repository repo;
  repo.add_sealed("fmnist");
  repo.add_sealed("other");
  RunningServer server(sim_options(repo));
  OipClient client(server.url());
  ASSERT_TRUE(client.attest(simulated_policy()).ok);
  // What the attested client would send, by hand.
  json attestation = json::parse(
      httplib::Client("127.0.0.1", server.port()).Get("/v2/attestation?nonce=" + std::string(64, '0'))->body);
  EnclaveKeys keys;
  auto hpke = bytes_from_hex(attestation["keys"]["hpke"], 32, "hpke");
  auto receipt = bytes_from_hex(attestation["keys"]["receipt"], 64, "receipt");
  std::copy(hpke.begin(), hpke.end(), keys.hpke.begin());
  std::copy(receipt.begin(), receipt.end(), keys.receipt.begin());
  std::optional<uint64_t> json_length;
  std::string body = OipClient::request_body({boot_image()}, {}, json_length);
  const std::string path = "/v2/models/fmnist/infer";
  auto post = [&](const std::string& to, const EncryptedRequest& req, std::vector<uint8_t> sealed) {
    httplib::Client c("127.0.0.1", server.port());
    c.set_read_timeout(60, 0);
    return c.Post(to, {{"Teeinfer-Encapsulated-Key", req.encapsulated_key_hex()}},
                  std::string(sealed.begin(), sealed.end()), "application/octet-stream");
  };
  {  // the genuine request opens, and its answer opens only as the answer to it
    EncryptedRequest req(keys, measurement().value, path, body, json_length);
    auto r = post(path, req, req.body());
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->get_header_value("Teeinfer-Encrypted"), "1");
    EXPECT_EQ(r->body.find("logits"), std::string::npos);  // (the host sees no output name, no value)
    EXPECT_NO_THROW(req.open_response(r->body, 200));
    std::string altered = r->body;
    altered[altered.size() / 2] ^= 1;
    EXPECT_THROW(req.open_response(altered, 200), Error);  // a tampered response
    EXPECT_THROW(req.open_response(r->body, 400), Error);  // the host lying about the status
    EncryptedRequest another(keys, measurement().value, path, body, json_length);
    EXPECT_THROW(another.open_response(r->body, 200), Error);                 // replayed to another request
    EncryptedRequest other_enclave(keys, Digest{}, path, body, json_length);  // pinned another measurement
    auto r2 = post(path, other_enclave, other_enclave.body());
    try {
      other_enclave.open_response(r2->body, r2->status);
      ADD_FAILURE() << "a receipt for another measurement was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("another measurement"), std::string::npos) << e.what();
    }
  }
  {  // a flipped ciphertext byte: refused before anything runs, in plaintext, saying only that
    EncryptedRequest req(keys, measurement().value, path, body, json_length);
    std::vector<uint8_t> sealed = req.body();
    sealed[10] ^= 1;
    auto r = post(path, req, sealed);
    EXPECT_EQ(r->status, 400);
    EXPECT_NE(r->body.find("does not open"), std::string::npos) << r->body;
  }
  {  // sealed for fmnist, routed by the host to another model: the path is the associated data
    EncryptedRequest req(keys, measurement().value, path, body, json_length);
    auto r = post("/v2/models/other/infer", req, req.body());
    EXPECT_EQ(r->status, 400);
    EXPECT_NE(r->body.find("does not open"), std::string::npos) << r->body;
  }
  {  // a client mistake inside: an encrypted 400 with a receipt of status 400
    std::string bad = R"({"inputs": [{"name": "image", "shape": [1, 1, 28, 27], "datatype": "FP32", "data": []}]})";
    EncryptedRequest req(keys, measurement().value, path, bad, std::nullopt);
    auto r = post(path, req, req.body());
    EXPECT_EQ(r->status, 400);
    EXPECT_EQ(r->get_header_value("Teeinfer-Encrypted"), "1");
    EncryptedRequest::Response opened = req.open_response(r->body, 400);
    EXPECT_EQ(opened.receipt.status, 400);
    EXPECT_NE(opened.body.find("shape"), std::string::npos) << opened.body;
  }
  {  // a malformed encapsulated key
    httplib::Client c("127.0.0.1", server.port());
    auto r = c.Post(path, {{"Teeinfer-Encapsulated-Key", "zz"}}, std::string(64, 'x'), "application/octet-stream");
    EXPECT_EQ(r->status, 400);
    EXPECT_NE(r->body.find("Teeinfer-Encapsulated-Key"), std::string::npos) << r->body;
  }
}

TEST(Receipts, AnyChangedFieldOrSignatureIsRefused) {
  Repository repo;
  repo.add_sealed("fmnist");
  RunningServer server(sim_options(repo));
  OipClient client(server.url());
  ASSERT_TRUE(client.attest(simulated_policy()).ok);
  json attestation = json::parse(
      httplib::Client("127.0.0.1", server.port()).Get("/v2/attestation?nonce=" + std::string(64, '1'))->body);
  std::array<uint8_t, 64> receipt_key{};
  auto rk = bytes_from_hex(attestation["keys"]["receipt"], 64, "receipt");
  std::copy(rk.begin(), rk.end(), receipt_key.begin());
  Receipt r = *client.infer("fmnist", {boot_image()}).receipt;
  ASSERT_TRUE(verify_receipt(r, receipt_key));
  Receipt parsed = parse_receipt(receipt_json(r));
  EXPECT_TRUE(verify_receipt(parsed, receipt_key));
  auto changed = [&](auto mutate) {
    Receipt c = r;
    mutate(c);
    return verify_receipt(c, receipt_key);
  };
  EXPECT_FALSE(changed([](Receipt& c) { c.model_id[0] ^= 1; }));
  EXPECT_FALSE(changed([](Receipt& c) { ++c.model_version; }));
  EXPECT_FALSE(changed([](Receipt& c) { c.manifest_sha256[5] ^= 1; }));
  EXPECT_FALSE(changed([](Receipt& c) { c.request_sha256[0] ^= 1; }));
  EXPECT_FALSE(changed([](Receipt& c) { c.response_sha256[31] ^= 1; }));
  EXPECT_FALSE(changed([](Receipt& c) { c.measurement[3] ^= 1; }));
  EXPECT_FALSE(changed([](Receipt& c) { c.status = 500; }));
  EXPECT_FALSE(changed([](Receipt& c) { ++c.sequence; }));
  EXPECT_FALSE(changed([](Receipt& c) { ++c.host_time_untrusted_ms; }));
  EXPECT_FALSE(changed([](Receipt& c) { c.signature[0] ^= 1; }));
  EXPECT_THROW(parse_receipt("{\"format\": \"teeinfer-receipt-v1\"}"), Error);
  EXPECT_THROW(parse_receipt("[]"), Error);
}

TEST(EncryptedRequests, AServerWithoutAnEnclaveSaysSo) {
  Repository repo;
  repo.add_sealed("fmnist");
  RunningServer server(options_for(repo));  // --tee none
  httplib::Client c("127.0.0.1", server.port());
  auto r = c.Get("/v2/attestation?nonce=" + std::string(64, 'a'));
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(r->body.find("--tee sim"), std::string::npos) << r->body;
  OipClient client(server.url());
  EXPECT_THROW(client.attest(simulated_policy()), Error);
  RunningServer sim(sim_options(repo));
  auto bad = httplib::Client("127.0.0.1", sim.port()).Get("/v2/attestation?nonce=123");
  EXPECT_EQ(bad->status, 400);
}

// Acceptance 4 of [attest]: the host sees only ciphertext. A random input goes to the server
// (this process) from `teeinfer client --verify` (another process); after the request and
// the server's stop, no 32-byte window of the input or of the output is anywhere in this
// process's writable memory — every buffer the untrusted side held (HTTP bodies: ciphertext)
// and the heap outside the arenas. The same check on a plaintext request finds both (the
// scan works).
TEST(EncryptedRequests, NoWindowOfThePlaintextInputOrOutputIsLeftInTheServerProcess) {
  using namespace memory_scan;
  Repository repo;
  repo.add_sealed("fmnist");
  std::string policy = repo.dir() + "/policy.json";
  repo.write("policy.json", "{\"measurements\": [\"" + to_hex(measurement().value.data(), 32) + "\"]}");
  size_t in_thread_stacks = 0;
  auto scan_after = [&](bool encrypted, unsigned seed, std::string& where) {
    WindowSet secrets;
    std::string in = repo.dir() + "/in.npy", out = repo.dir() + "/out.npy";
    {
      MappedBuffer input(784 * 4);
      std::mt19937 rng(seed);
      std::uniform_real_distribution<float> u(-3.f, 3.f);
      float* x = reinterpret_cast<float*>(input.data);
      for (int i = 0; i < 784; ++i) x[i] = u(rng);
      secrets.add(reinterpret_cast<const uint8_t*>(input.data), 784 * 4);
      write_npy_raw(in, x, 784, "(1, 1, 28, 28)");
    }  // (wiped)
    {
      RunningServer server(sim_options(repo));
      CliResult c = run_cli("client " + server.url() + " --model fmnist --input " + in + " --binary --output " + out +
                            (encrypted ? " --verify " + policy + " --allow-simulated" : ""));
      EXPECT_EQ(c.exit_code, 0) << c.output;
      if (encrypted) {
        EXPECT_NE(c.output.find("receipt 0 verified"), std::string::npos) << c.output;
      }
    }  // the server stops: sessions and arenas go
    {
      MappedBuffer output(10 * 4);
      read_tail_raw(out, output.data, 10 * 4);
      secrets.add(reinterpret_cast<const uint8_t*>(output.data), 10 * 4);
    }
    fs::remove(in);
    fs::remove(out);
    return count_in_process_memory(secrets, &where, &in_thread_stacks);
  };
  // Thread stacks are counted apart so that a finding names them: the 40 output bytes once
  // stayed in the worker thread's stack after the entry point returned (fixed: the worker
  // clears its stack below the loop after each encrypted request).
  std::string where;
  size_t leaked = scan_after(true, 7, where);
  EXPECT_EQ(leaked, 0u) << "plaintext windows of an encrypted request's input or output in: " << where;
  EXPECT_EQ(in_thread_stacks, 0u) << "plaintext windows in threads' stacks after an encrypted request";
  std::string plain_where;
  size_t stacks_before = in_thread_stacks;
  size_t plain_found = scan_after(false, 8, plain_where);
  EXPECT_GT(plain_found + (in_thread_stacks - stacks_before), 0u)
      << "the scan finds nothing even for a plaintext request";
}
