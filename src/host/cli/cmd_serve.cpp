// `teeinfer serve` (an Open Inference Protocol server over a model repository) and
// `teeinfer client` (its client), on the public API and src/serve only.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "host/cli/class_scores.h"
#include "host/cli/commands.h"
#include "host/cli/option_checks.h"
#include "host/cli/stop_signals.h"
#include "serve/oip_client.h"
#include "serve/server.h"
#include "teeinfer/teeinfer.h"

namespace teeinfer::cli {
namespace {

struct ServeCliOptions {
  serve::ServerOptions server;
  std::string tee = "none", epc = "64MiB", budget, max_body = "64MiB", max_json = "16MiB", max_arena = "2GiB";
  bool strict_readiness = true;
  std::string batch_sizes = "measured";
  std::string conv_algorithm = "auto";
  std::string key_server;  // sealed models' keys by attestation from this key broker
};

int serve_main(ServeCliOptions& o) {
  serve::ServerOptions& s = o.server;
  if (o.tee != "none" && o.tee != "sim") throw Error(ErrorCode::kBadArgument, "--tee must be none or sim");
  s.settings.platform = o.tee == "sim" ? Platform::kSim : Platform::kNone;
  if (!o.budget.empty())
    s.budget_bytes = parse_nonzero_bytes(o.budget, "--budget");
  else if (s.settings.platform == Platform::kSim)
    s.budget_bytes = parse_nonzero_bytes(o.epc, "--epc");
  s.max_body_bytes = parse_nonzero_bytes(o.max_body, "--max-body");
  s.max_json_bytes = parse_nonzero_bytes(o.max_json, "--max-json");
  s.settings.max_arena_bytes = parse_nonzero_bytes(o.max_arena, "--max-arena");
  s.strict_readiness = o.strict_readiness;
  s.settings.measure_run_sizes = o.batch_sizes == "measured";
  s.settings.conv_algorithm = conv_algorithm(o.conv_algorithm);

  block_stop_signals();  // before any thread starts: one thread takes them (stop_signals.h)
  // With --tee sim the server has an enclave: evidence, encrypted requests, key release.
  if (s.settings.platform == Platform::kSim) s.settings.enclave = std::make_shared<Enclave>(Platform::kSim);
  if (!o.key_server.empty()) {
    if (!s.settings.enclave)
      throw Error(ErrorCode::kBadArgument, "--key-server needs --tee sim (only the emulated TEE has evidence)");
    s.settings.key_release = std::make_shared<serve::KeyRelease>(o.key_server, *s.settings.enclave);
  }

  serve::Server server(s);
  int port = server.bind();
  int ready = 0;
  std::string not_ready;
  for (const serve::ModelState& m : server.index()) {
    if (m.state == "READY")
      ++ready;
    else
      not_ready += "\n  " + m.name + ": " + m.reason;
    std::fprintf(stderr, "teeinfer serve: model '%s' version %s: %s%s%s\n", m.name.c_str(),
                 m.version.empty() ? "-" : m.version.c_str(), m.state.c_str(),
                 m.state == "READY" && s.budget_bytes ? (", secure memory " + format_size(m.share_bytes)).c_str() : "",
                 m.reason.empty() ? "" : (": " + m.reason).c_str());
  }
  std::printf("teeinfer serve: listening on http://%s:%d (%d of %zu models ready%s)\n", s.host.c_str(), port, ready,
              server.index().size(),
              s.budget_bytes ? (", " + format_size(s.budget_bytes) + " of secure memory shared").c_str() : "");
  std::fflush(stdout);

  bool ok = serve_until_stop_signal(
      "teeinfer serve", [&] { return server.serve(); }, [&] { server.stop(); });
  std::fprintf(stderr, ok ? "teeinfer serve: stopped\n" : "teeinfer serve: the listener failed\n");
  return ok ? 0 : 1;
}

struct ClientCliOptions {
  std::string url, model, output, class_names, id;
  std::vector<std::string> input, input_shape;
  bool binary = false, json = false;
  int top = 5;
  int64_t timeout_ms = 0;
  std::string verify;  // a client policy: attest, then end-to-end encrypt
  bool allow_simulated = false;
};

// A client input: NAME=FILE or FILE for a one-input model; an .npy as it is (typed as the
// model's input), an image decoded into the input's dims and layout.
std::vector<Tensor> client_inputs(const ClientCliOptions& o, const serve::ModelMetadata& meta) {
  std::map<std::string, Dims> shapes = one_shape(o.input_shape);
  std::vector<Tensor> out;
  for (const std::string& arg : o.input) {
    size_t eq = arg.find('=');
    std::string name = eq == std::string::npos ? "" : arg.substr(0, eq);
    std::string path = eq == std::string::npos ? arg : arg.substr(eq + 1);
    if (name.empty()) {
      if (meta.inputs.size() != 1)
        throw Error(ErrorCode::kBadArgument, "model '" + meta.name + "' has " + std::to_string(meta.inputs.size()) +
                                                 " inputs: give --input NAME=FILE for each");
      name = meta.inputs[0].name;
    }
    const TensorInfo* in = nullptr;
    for (const TensorInfo& t : meta.inputs)
      if (t.name == name) in = &t;
    if (!in) throw Error(ErrorCode::kBadArgument, "--input: model '" + meta.name + "' has no input '" + name + "'");
    if (path.size() > 4 && path.compare(path.size() - 4, 4, ".npy") == 0) {
      out.push_back(read_npy(path, name, in->dtype));
      continue;
    }
    Dims dims = shapes.count(name) ? shapes.at(name) : shapes.count("") ? shapes.at("") : in->dims;
    if (!dims.empty() && dims[0] < 0) dims[0] = 1;
    for (int64_t d : dims)
      if (d < 0)
        throw Error(ErrorCode::kBadArgument, "input '" + name + "' has dynamic dims " + to_string(in->dims) +
                                                 ": give --input-shape for an image");
    std::optional<ImageLayout> layout = image_layout_of(dims);
    if (!layout)
      throw Error(ErrorCode::kBadArgument, "input '" + name + "' " + to_string(dims) + " does not take an image");
    int64_t channels = *layout == ImageLayout::kNCHW ? dims[1] : dims[3];
    out.push_back(load_image(path, name, dims, Normalization::for_channels(channels), *layout));
  }
  return out;
}

// The verification report, step by step (stderr, or in --json).
nlohmann::json report_of(const Verification& v) {
  nlohmann::json steps = nlohmann::json::array();
  for (const VerificationStep& s : v.steps)
    steps.push_back({{"check", s.check}, {"passed", s.passed}, {"detail", s.detail}});
  return {{"ok", v.ok},
          {"reason", v.reason},
          {"measurement", to_hex(v.claims.measurement.data(), 32)},
          {"security_version", v.claims.security_version},
          {"simulated", v.claims.simulated},
          {"steps", steps}};
}

int client_main(const ClientCliOptions& o) {
  serve::OipClient client(o.url);
  nlohmann::json verification;
  if (!o.verify.empty()) {
    EvidencePolicy policy = serve::read_client_policy(o.verify);
    if (o.allow_simulated) policy.allow_simulated = true;
    Verification v = client.attest(policy);
    verification = report_of(v);
    if (!o.json)
      for (const VerificationStep& s : v.steps)
        std::fprintf(stderr, "  %s %-20s %s\n", s.passed ? "ok  " : "FAIL", s.check.c_str(), s.detail.c_str());
    if (!v.ok) {
      if (o.json) std::printf("%s\n", nlohmann::json{{"verification", verification}}.dump(2).c_str());
      throw Error(ErrorCode::kBadArgument, "the server's evidence is refused: " + v.reason);
    }
  }
  serve::ModelMetadata meta = client.metadata(o.model);
  std::vector<Tensor> inputs = client_inputs(o, meta);
  serve::InferOptions io;
  io.binary = o.binary;
  if (!o.id.empty()) io.id = o.id;
  if (o.timeout_ms) io.timeout_ms = o.timeout_ms;
  serve::InferResult r = client.infer(o.model, inputs, io);
  if (!o.output.empty()) {
    if (o.output.size() > 4 && o.output.compare(o.output.size() - 4, 4, ".npz") == 0)
      write_npz(o.output, r.outputs);
    else
      write_npy(o.output, r.outputs.at(0));
  }
  std::vector<std::string> names = read_class_names(o.class_names);
  std::vector<float> scores =
      r.outputs.empty() || r.outputs[0].dtype != DType::kF32 ? std::vector<float>{} : r.outputs[0].to_floats();
  auto best = top_k(scores, o.top);
  auto label = [&](int i) { return i < static_cast<int>(names.size()) ? names[i] : std::to_string(i); };
  if (o.json) {
    nlohmann::json j = {{"model", r.model_name}, {"version", r.model_version}};
    if (r.id) j["id"] = *r.id;
    if (!verification.is_null()) j["verification"] = verification;
    if (r.receipt) j["receipt"] = nlohmann::json::parse(receipt_json(*r.receipt));
    for (const Tensor& t : r.outputs) j["outputs"].push_back({{"name", t.name}, {"dims", t.dims}});
    for (auto [i, v] : best) j["top"].push_back({{"class", i}, {"name", label(i)}, {"score", v}});
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("model %s version %s (%s): %zu output(s)", r.model_name.c_str(), r.model_version.c_str(),
              meta.platform.c_str(), r.outputs.size());
  for (const Tensor& t : r.outputs) std::printf(" %s %s", t.name.c_str(), to_string(t.dims).c_str());
  std::printf("\ntop-%zu of '%s':\n", best.size(), r.outputs.empty() ? "" : r.outputs[0].name.c_str());
  for (auto [i, v] : best) std::printf("  %-24s %10.4f\n", label(i).c_str(), v);
  if (r.receipt)
    std::printf("end-to-end encrypted; receipt %llu verified (enclave %s..., model %s version %llu)\n",
                static_cast<unsigned long long>(r.receipt->sequence), to_hex(r.receipt->measurement.data(), 8).c_str(),
                to_hex(r.receipt->model_id).c_str(), static_cast<unsigned long long>(r.receipt->model_version));
  return 0;
}

}  // namespace

Command add_serve(CLI::App& app) {
  auto o = std::make_shared<ServeCliOptions>();
  serve::ServerOptions& s = o->server;
  CLI::App* cmd = app.add_subcommand(
      "serve",
      "serve a model repository over the Open Inference Protocol (KServe v2 REST): DIR/<model>/<version>/model.tee "
      "(or .onnx) and DIR/<model>/config.json; dynamic batching, all models in one secure-memory budget");
  cmd->add_option("--model-repository", s.repository, "the model repository directory")->required();
  cmd->add_option("--host", s.host, "address to listen on")->capture_default_str();
  cmd->add_option("--port", s.port, "port to listen on (0: any free port, printed)")
      ->transform(whole_number(0, 65535))
      ->capture_default_str();
  cmd->add_option("--tee", o->tee, "none: plain memory; sim: every model runs in an emulated SGX EPC")
      ->capture_default_str();
  cmd->add_option("--epc", o->epc, "with --tee sim: the EPC all loaded models share (their arenas never exceed it)")
      ->capture_default_str();
  cmd->add_option("--budget", o->budget,
                  "secure memory all loaded models share (default: --epc with --tee sim, else no limit)");
  cmd->add_option("--key-server", o->key_server,
                  "http://HOST:PORT of a key broker (teeinfer keyserver): sealed models' keys are released to this "
                  "server's enclave after attestation (needs --tee sim), instead of config.json's key_file");
  cmd->add_option("--max-arena", o->max_arena,
                  "with no --budget/--epc: the most memory one model's sessions may plan together (requests whose "
                  "dims need more get 400)")
      ->capture_default_str();
  cmd->add_option("--threads", s.settings.threads, "kernel threads per run (1 is often fastest on 2 vCPUs)")
      ->transform(whole_number(1, 256))
      ->capture_default_str();
  cmd->add_option("--max-batch", s.settings.max_batch,
                  "the most samples one run takes: queued requests to a model run together up to this (a sealed "
                  "model: the batch sizes it was packed for, e.g. pack --input-shape '{1,8}x3x224x224'); 1: no "
                  "batching")
      ->transform(whole_number(1, 1024))
      ->capture_default_str();
  cmd->add_option("--batch-delay-us", s.settings.batch_delay_us,
                  "how long the first queued request waits for others to batch with")
      ->transform(whole_number(0, 10'000'000))
      ->capture_default_str();
  cmd->add_option("--batch-sizes", o->batch_sizes,
                  "measured: time one run of each batch size before serving and batch only at sizes faster per "
                  "sample (in a small EPC a larger batch can be slower); all: every size the model has")
      ->check(CLI::IsMember({"measured", "all"}))
      ->capture_default_str();
  add_conv_algorithm_option(cmd, o->conv_algorithm);
  cmd->add_option("--max-queue", s.settings.max_queue, "requests queued per model; more get 503 with Retry-After")
      ->transform(whole_number(1, 1'000'000))
      ->capture_default_str();
  cmd->add_option("--max-body", o->max_body, "largest request body; larger ones get 413")->capture_default_str();
  cmd->add_option("--timeout-ms", s.settings.timeout_ms,
                  "a request still queued after this long is refused (503) and never runs; a request may ask "
                  "less or more with parameters.timeout_ms")
      ->transform(whole_number(1, 86'400'000))
      ->capture_default_str();
  cmd->add_option("--read-timeout", s.read_timeout_s, "seconds a client may stall while sending before it is dropped")
      ->transform(whole_number(1, 3600))
      ->capture_default_str();
  cmd->add_option("--http-threads", s.http_threads,
                  "connections served at once (each waits for its model's batch: keep it above the clients)")
      ->transform(whole_number(1, 4096))
      ->capture_default_str();
  cmd->add_option("--access-log", s.access_log,
                  "one JSON line per request (no payloads): '-' for stderr, a file to append to, '' for none")
      ->capture_default_str();
  cmd->add_option("--drain-ms", s.drain_ms,
                  "on SIGTERM/SIGINT: how long new requests are still answered (503) before the listener closes; "
                  "every request already accepted is then finished")
      ->transform(whole_number(0, 600'000))
      ->capture_default_str();
  cmd->add_flag("--model-control", s.model_control,
                "allow POST /v2/repository/models/<m>/load and /unload (off: anyone who reaches the port could "
                "unload every model)");
  cmd->add_option("--max-json", o->max_json, "largest JSON part of a request (send large tensors as binary)")
      ->capture_default_str();
  cmd->add_option("--strict-readiness", o->strict_readiness,
                  "true: /v2/health/ready only while every model of the repository is ready; false: once the "
                  "server is up")
      ->capture_default_str();
  return {cmd, [o] { return serve_main(*o); }};
}

Command add_client(CLI::App& app) {
  auto o = std::make_shared<ClientCliOptions>();
  CLI::App* cmd = app.add_subcommand("client",
                                     "send an input to an Open Inference Protocol server (teeinfer serve); "
                                     "print the top classes or write the outputs");
  cmd->add_option("url", o->url, "the server, e.g. http://127.0.0.1:8000")->required();
  cmd->add_option("--model", o->model, "the model's name in the server's repository")->required();
  cmd->add_option("--input", o->input,
                  "an .npy tensor or an image (PNG, JPEG, BMP; decoded into the input's dims and layout); NAME=FILE "
                  "for a model with several inputs (repeat)")
      ->required();
  cmd->add_option("--input-shape", o->input_shape, "[NAME=]DIMS for an image input whose dims are dynamic");
  cmd->add_flag("--binary", o->binary, "send and receive tensors as binary data (not JSON numbers)");
  cmd->add_option("--output", o->output, "write the outputs: FILE.npz (all, by name) or FILE.npy (the first)");
  cmd->add_option("--class-names", o->class_names, "text file with one class name per line");
  cmd->add_option("--top", o->top, "classes to print")->transform(whole_number(1, 1000))->capture_default_str();
  cmd->add_option("--id", o->id, "request id (echoed by the server)");
  cmd->add_option("--timeout-ms", o->timeout_ms, "parameters.timeout_ms: the most the request may wait in the queue")
      ->transform(whole_number(1, 86'400'000));
  cmd->add_option("--verify", o->verify,
                  "policy.json ({\"measurements\": [...], \"min_security_version\": N, ...}): verify the server's "
                  "evidence first (fail closed), then encrypt the request end to end to its enclave and check the "
                  "signed receipt (docs/attestation.md)")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--allow-simulated", o->allow_simulated,
                "with --verify: accept the emulated TEE's simulated evidence (its root key is public)");
  cmd->add_flag("--json", o->json, "print the result as JSON (with the verification report and receipt)");
  return {cmd, [o] { return client_main(*o); }};
}

}  // namespace teeinfer::cli
