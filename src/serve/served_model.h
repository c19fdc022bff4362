// One model being served: opened and planned once, then a worker thread that owns its
// Session and runs the requests queued for it in batches (dynamic batching: requests that
// arrive within --batch-delay-us of the first run together, up to the model's max batch,
// so each streamed weight is decrypted once per batch, not once per request).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "protocol/oip_codec.h"
#include "serve/key_release.h"
#include "serve/model_config.h"
#include "teeinfer/teeinfer.h"

namespace teeinfer::serve {

// Server-wide settings every model is served with.
struct ServeSettings {
  Platform platform = Platform::kNone;
  int threads = 1;        // kernel threads per run
  int64_t max_batch = 8;  // the most requests (samples) one run takes
                          // How long the first queued request waits for others (0, Triton's default: none; under
  // load batches form anyway, from what queues while a batch runs).
  int64_t batch_delay_us = 0;
  size_t max_queue = 64;       // queued requests per model before 503
  int64_t timeout_ms = 30000;  // a request still queued after this is refused (parameters.timeout_ms)
                               // Time one run of each run size before serving and batch only at sizes that are faster
                               // per sample (batch_policy.h); false: every size the model has, padded up to the next.
  bool measure_run_sizes = true;
  ConvAlgorithm conv_algorithm = ConvAlgorithm::kAuto;
  // With no secure-memory budget: the most memory one model's sessions may plan together
  // (a request whose dims need more is refused with 400).
  uint64_t max_arena_bytes = uint64_t{2} << 30;
  // Sealed models' keys from a key broker by attestation (serve --key-server), not from
  // config.json's key_file. Shared by every model; outlives them.
  std::shared_ptr<KeyRelease> key_release;
  // The enclave that answers end-to-end encrypted requests (--tee sim; null: none).
  std::shared_ptr<Enclave> enclave;
};

// An end-to-end encrypted request as the untrusted server relays it: ciphertext only.
struct EncryptedJob {
  std::string path;                  // as the client addressed it (the HPKE associated data)
  std::string encapsulated_key_hex;  // Teeinfer-Encapsulated-Key
  std::string body;                  // ciphertext || tag
};

// A model opened and measured, before its secure-memory share is decided: the server
// plans every model of the repository first, then shares the budget out jointly.
struct PreparedModel {
  RepositoryEntry entry;
  ModelConfig config;
  std::unique_ptr<KeyFile> key;  // outlives the Model
  std::unique_ptr<Model> model;
  RequestSignature signature;                // what requests must look like
  std::vector<int64_t> batch_sizes;          // run sizes, ascending (batching models), else {1}
  std::map<std::string, Dims> largest_dims;  // the inputs at the largest batch
  uint64_t min_budget_bytes = 0;             // the smallest share it runs in at its largest batch
  uint64_t ample_bytes = 0;                  // its arena with no limit: more share buys nothing
};

// Opens the model file (a sealed model with config.key_file, or with the key a key
// broker released to settings.key_release's enclave), decides how it batches,
// and, when `plan_memory`, plans it at its largest batch. Throws Error naming what failed.
PreparedModel prepare_model(const RepositoryEntry& entry, const ServeSettings& settings, bool plan_memory);

// How a request ended: 200 and the outputs (all of the model's, for this request's
// samples), or an HTTP status and message.
struct Outcome {
  int status = 200;
  std::string error;
  std::vector<Tensor> outputs;
};

// Counters for /metrics and the repository index (cumulative).
struct ModelStats {
  uint64_t runs = 0, samples_run = 0, padded_samples = 0, sessions_built = 0;
  uint64_t encrypted_requests = 0;  // end-to-end encrypted requests run (Enclave::answer)
  double run_seconds = 0;           // inside Session::run, all runs together
  uint64_t bytes_decrypted = 0, faults = 0, evictions = 0;
  uint64_t arena_bytes = 0;       // the live sessions' arenas together (within the share)
  uint64_t arena_peak_bytes = 0;  // the most arena_bytes has been
  size_t queue_depth = 0;
  std::map<int64_t, uint64_t> batch_sizes;  // run size -> runs
  std::map<int64_t, double> run_ms;         // run size -> ms of one run, measured before serving
  std::vector<int64_t> preferred_sizes;     // the run sizes batches use
};

class ServedModel {
 public:
  // Starts the worker. `share_bytes` is its secure-memory share (0: no limit).
  ServedModel(PreparedModel prepared, uint64_t share_bytes, const ServeSettings& settings);
  ~ServedModel();  // stop()
  ServedModel(const ServedModel&) = delete;
  ServedModel& operator=(const ServedModel&) = delete;

  const std::string& name() const { return prepared_.entry.name; }
  const std::string& version() const { return prepared_.entry.version; }
  bool sealed() const { return sealed_; }
  const RequestSignature& signature() const { return prepared_.signature; }
  const std::vector<TensorInfo>& inputs() const { return inputs_; }
  const std::vector<TensorInfo>& outputs() const { return outputs_; }
  uint64_t share_bytes() const { return share_bytes_; }
  uint64_t min_budget_bytes() const { return prepared_.min_budget_bytes; }
  int64_t max_batch() const { return prepared_.signature.max_batch; }

  // Queues the request and waits for its outcome. Throws RequestError (503) when the
  // queue is full or the model is stopping.
  Outcome infer(InferRequest request);
  // Queues an encrypted request: the worker runs it alone, at the smallest run size, inside
  // Enclave::answer (it opens, runs and seals; this side never sees plaintext). Throws
  // RequestError (503) as infer() does.
  Enclave::Reply infer_encrypted(EncryptedJob job);

  // Stops taking requests, runs every queued one, and joins the worker.
  void stop();
  ModelStats stats() const;

 private:
  struct Pending;
  void worker();
  void warm_up();
  // The requests of the next batch and its run size (with mu_ held).
  std::vector<std::unique_ptr<Pending>> take_batch(int64_t& run_size);
  void run_batch(std::vector<std::unique_ptr<Pending>>& batch, int64_t run_size);
  void run_encrypted(Pending& p);
  void enqueue(std::unique_ptr<Pending> p);
  static void answer(Pending& p, Outcome outcome);  // once per request
  struct LiveSession;
  LiveSession& session_for(const std::map<std::string, Dims>& dims);
  void drop_sessions();
  bool has_session(const std::vector<Dims>& key, int64_t size) const;
  int64_t size_with_session(const std::vector<Dims>& key, int64_t target, int64_t first) const;
  static constexpr size_t kMaxSessions = 8;  // with no share: sessions kept at most
  int64_t run_size_for(int64_t samples) const;
  std::map<int64_t, double> time_run_sizes();

  PreparedModel prepared_;
  bool sealed_ = false;
  std::vector<TensorInfo> inputs_, outputs_;
  uint64_t share_bytes_ = 0;
  ServeSettings settings_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Pending>> queue_;
  bool stopping_ = false;
  ModelStats stats_;  // under mu_

  // Worker thread only: sessions by input dims (one per run size and shape), least
  // recently used first out; their arenas together stay within the share.
  std::vector<std::unique_ptr<LiveSession>> sessions_;
  std::vector<int64_t> preferred_sizes_;  // (set by warm_up before any batch)
  std::map<int64_t, double> run_ms_;
  std::map<std::map<std::string, Dims>, uint64_t> planned_arena_;
  uint64_t uses_ = 0;
  std::thread worker_;
};

}  // namespace teeinfer::serve
