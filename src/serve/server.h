// `teeinfer serve`: an Open Inference Protocol (KServe v2 REST) server over a model
// repository, on cpp-httplib. Every model of the repository is planned first and the
// secure-memory budget shared out jointly; each model then has a worker that batches its
// requests (served_model.h). Untrusted host code on the public API only.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "serve/metrics.h"
#include "serve/served_model.h"

namespace httplib {
class Server;
}

namespace teeinfer::serve {

struct ServerOptions {
  std::string repository;
  std::string host = "127.0.0.1";
  int port = 8000;  // 0: any free port (bind() says which)
  ServeSettings settings;
  // Secure memory all loaded models share (with --tee sim, the EPC). 0: no limit.
  uint64_t budget_bytes = 0;
  uint64_t max_body_bytes = uint64_t{64} << 20;
  int read_timeout_s = 5;        // a client that sends nothing for this long is dropped
  int http_threads = 64;         // connections served at once (each waits for its model's batch)
  std::string access_log = "-";  // "-": stderr, "": off, else a file appended to
  // /v2/health/ready only while every model of the repository is ready (Triton's default);
  // false: ready once the server is up.
  bool strict_readiness = true;
  // On stop(): how long the listener stays open answering 503 (so clients connecting in
  // that time are told, not reset) before it closes and the accepted requests finish.
  int drain_ms = 500;
  // POST /v2/repository/models/<m>/load|unload: refused (403) unless enabled (as Triton's
  // --model-control-mode=explicit): anyone who reaches the port could unload every model.
  bool model_control = false;
  // The JSON part of a request (the rest of --max-body is for binary tensors): a JSON
  // number costs the parser about 16 bytes more than it took on the wire.
  uint64_t max_json_bytes = uint64_t{16} << 20;
};

// A model of the repository as the index reports it.
struct ModelState {
  std::string name, version;
  std::string state;   // "READY", "UNAVAILABLE" (with a reason) or "UNLOADED"
  std::string reason;  // why it is not ready
  uint64_t share_bytes = 0;
};

class Server {
 public:
  // Scans the repository and loads every model in it (a model that fails is listed as
  // UNAVAILABLE with its reason). Throws Error if the repository cannot be read.
  explicit Server(ServerOptions options);
  ~Server();

  // Binds the listening socket; returns the port.
  int bind();
  // Serves until stop(); then finishes every request already accepted, stops the models
  // and returns true (false if the listener failed).
  bool serve();
  // Starts the drain: new requests get 503, then after drain_ms the listener closes and
  // serve() returns once every accepted request is answered (any thread; idempotent).
  void stop();

  std::vector<ModelState> index() const;
  // One model's state; nullopt if the repository index does not list it.
  std::optional<ModelState> state(const std::string& name) const;
  // Loads (or reloads) a model of the repository; returns its state.
  ModelState load(const std::string& name);
  // Unloads it once its queued requests have run; false if it was not loaded.
  bool unload(const std::string& name);
  std::shared_ptr<ServedModel> ready_model(const std::string& name) const;
  uint64_t free_secure_memory() const;
  const ServerOptions& options() const { return options_; }
  std::string metrics_text() const;
  Metrics& metrics() { return metrics_; }
  bool draining() const { return draining_; }
  bool ready() const;

 private:
  struct Slot {
    ModelState state;
    std::shared_ptr<ServedModel> model;
  };
  void load_all();
  void routes();
  Slot unavailable(const std::string& name, const std::string& version, const std::string& reason) const;

  ServerOptions options_;
  std::unique_ptr<httplib::Server> http_;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> access_log_{nullptr, std::fclose};
  std::mutex log_mu_;
  Metrics metrics_;
  mutable std::mutex mu_;  // slots_
  std::mutex load_mu_;     // one load or unload at a time
  std::map<std::string, Slot> slots_;
  std::atomic<bool> draining_{false};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool listen_done_ = false;  // under stop_mu_
  std::atomic<uint64_t> next_request_id_{1};
  // Connections accepted but not yet taken by an HTTP thread (the drain waits for them).
  std::shared_ptr<std::atomic<int64_t>> waiting_connections_ = std::make_shared<std::atomic<int64_t>>(0);
};

}  // namespace teeinfer::serve
