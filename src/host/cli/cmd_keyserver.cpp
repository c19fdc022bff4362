// `teeinfer keyserver` (the key broker: model keys released to attested enclaves) and
// `teeinfer measure` (the trusted core's measurement, what a policy pins), on the public
// API and src/keybroker only.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "host/cli/commands.h"
#include "host/cli/option_checks.h"
#include "host/cli/stop_signals.h"
#include "keybroker/key_broker_http.h"
#include "teeinfer/teeinfer.h"

namespace teeinfer::cli {
namespace {

struct KeyserverOptions {
  std::string policy, keys, audit_log = "keyserver-audit.jsonl", host = "127.0.0.1";
  int port = 8100;
  bool allow_simulated = false;
};

int keyserver_main(const KeyserverOptions& o) {
  keybroker::Policy policy = keybroker::read_policy(o.policy);
  if (o.allow_simulated) policy.evidence.allow_simulated = true;
  block_stop_signals();
  keybroker::AuditLog audit(o.audit_log);
  keybroker::KeyBroker broker(policy, o.keys, audit);
  keybroker::KeyBrokerHttp http(broker, o.host, o.port);
  int port = http.bind();
  std::printf(
      "teeinfer keyserver: listening on http://%s:%d (%zu measurements, %zu models in the policy%s; audit log "
      "%s)\n",
      o.host.c_str(), port, policy.evidence.measurements.size(), policy.models.size(),
      policy.evidence.allow_simulated ? "; SIMULATED evidence accepted" : "", o.audit_log.c_str());
  std::fflush(stdout);
  bool ok = serve_until_stop_signal(
      "teeinfer keyserver", [&] { return http.serve(); }, [&] { http.stop(); });
  std::fprintf(stderr, ok ? "teeinfer keyserver: stopped\n" : "teeinfer keyserver: the listener failed\n");
  return ok ? 0 : 1;
}

int measure_main(bool json, bool manifest) {
  const Measurement& m = measurement();
  auto hex = [](const Digest& d) { return to_hex(d.data(), d.size()); };
  if (json) {
    nlohmann::json out = {{"measurement", hex(m.value)},
                          {"code_hash", hex(m.code_hash)},
                          {"signer", hex(m.signer)},
                          {"product_id", m.product_id},
                          {"security_version", m.security_version}};
    if (manifest) out["code_manifest"] = m.code_manifest;
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("measurement (MRENCLAVE)  %s\n", hex(m.value).c_str());
  std::printf("  code hash              %s\n", hex(m.code_hash).c_str());
  std::printf("  signer (MRSIGNER)      %s  (simulated)\n", hex(m.signer).c_str());
  std::printf("  product id, security version (ISV_PROD_ID, ISV_SVN)  %u, %u\n", m.product_id, m.security_version);
  if (manifest) std::printf("\nwhat entered the code hash:\n%s", m.code_manifest.c_str());
  return 0;
}

}  // namespace

Command add_keyserver(CLI::App& app) {
  auto o = std::make_shared<KeyserverOptions>();
  CLI::App* cmd = app.add_subcommand(
      "keyserver",
      "the key broker: releases sealed models' keys to enclaves whose evidence the policy accepts (Trustee KBS "
      "protocol: auth, attest, resource); every decision in an append-only audit log");
  cmd->add_option("--policy", o->policy,
                  "policy.json: allowed measurements, the models each may receive, minimum "
                  "security and model versions (docs/attestation.md)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--keys", o->keys, "directory of model keys, one per model: <model id hex>.key (teeinfer keygen)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--audit-log", o->audit_log, "append-only JSON-lines log of every decision (no secrets)")
      ->capture_default_str();
  cmd->add_option("--host", o->host, "address to listen on")->capture_default_str();
  cmd->add_option("--port", o->port, "port to listen on (0: any free port, printed)")
      ->transform(whole_number(0, 65535))
      ->capture_default_str();
  cmd->add_flag("--allow-simulated", o->allow_simulated,
                "accept evidence of teeinfer's emulated TEE (its root key is public: for development and tests only)");
  return {cmd, [o] { return keyserver_main(*o); }};
}

Command add_measure(CLI::App& app) {
  auto json = std::make_shared<bool>(false), manifest = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "measure",
      "print the trusted core's measurement (MRENCLAVE of this build): the value a key broker's policy "
      "and a client pin; the same for every build of this commit on this system");
  cmd->add_flag("--json", *json, "as JSON");
  cmd->add_flag("--manifest", *manifest, "also list every object, library and setting that entered it");
  return {cmd, [json, manifest] { return measure_main(*json, *manifest); }};
}

}  // namespace teeinfer::cli
