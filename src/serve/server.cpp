#include "serve/server.h"

#include <httplib.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

namespace teeinfer::serve {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// When the request on this connection thread arrived (set before routing, read by the
// access log).
thread_local Clock::time_point request_start{};

constexpr const char* kJson = "application/json";

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), kJson);
}

void reply_error(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(error_body(message), kJson);
  if (status == 503) res.set_header("Retry-After", "1");
}

// An end-to-end encrypted infer request (docs/attestation.md): relayed as ciphertext to the
// model's worker, which answers inside Enclave::answer; the answer goes back as it came.
constexpr const char* kEncapsulatedKey = "Teeinfer-Encapsulated-Key";

void answer_encrypted(ServedModel& m, const httplib::Request& req, httplib::Response& res) {
  Enclave::Reply r = m.infer_encrypted({req.path, req.get_header_value(kEncapsulatedKey), req.body});
  res.status = r.status;
  if (!r.opened) {  // refused before or while opening: a plaintext {"error"}
    res.set_content(std::string(r.body.begin(), r.body.end()), kJson);
    if (r.status == 503) res.set_header("Retry-After", "1");
    return;
  }
  res.set_header("Teeinfer-Encrypted", "1");
  res.set_content(reinterpret_cast<const char*>(r.body.data()), r.body.size(), "application/octet-stream");
}

json tensor_metadata(const std::vector<TensorInfo>& tensors) {
  json out = json::array();
  for (const TensorInfo& t : tensors)
    out.push_back({{"name", t.name}, {"datatype", oip_datatype(t.dtype)}, {"shape", t.dims}});
  return out;
}

// What a status means when the library answered without a handler (no route, a body over
// --max-body, a request httplib could not parse).
std::string default_message(const httplib::Request& req, int status, uint64_t max_body) {
  switch (status) {
    case 404:
      return "no such endpoint: " + req.method + " " + req.path;
    case 405:
      return "method not allowed: " + req.method + " " + req.path;
    case 413:
      return "the request body is larger than --max-body (" + std::to_string(max_body) + " bytes)";
    case 414:
      return "the request URI is too long";
    case 400:
      return "malformed HTTP request";
    default:
      return "request refused (" + std::to_string(status) + ")";
  }
}

// httplib's thread pool, counting the connections still waiting for a thread: the drain
// keeps the listener until they are taken (else they would be closed unanswered).
class CountingThreadPool : public httplib::TaskQueue {
 public:
  CountingThreadPool(size_t threads, std::shared_ptr<std::atomic<int64_t>> waiting)
      : pool_(threads), waiting_(std::move(waiting)) {}
  void enqueue(std::function<void()> fn) override {
    ++*waiting_;
    pool_.enqueue([fn = std::move(fn), waiting = waiting_] {
      --*waiting;
      fn();
    });
  }
  void shutdown() override { pool_.shutdown(); }

 private:
  httplib::ThreadPool pool_;
  std::shared_ptr<std::atomic<int64_t>> waiting_;
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

std::string model_of_path(const std::string& path) {
  const std::string prefix = "/v2/models/";
  if (path.compare(0, prefix.size(), prefix) != 0) {
    const std::string repo = "/v2/repository/models/";
    if (path.compare(0, repo.size(), repo) != 0) return "";
    return path.substr(repo.size(), path.find('/', repo.size()) - repo.size());
  }
  return path.substr(prefix.size(), path.find('/', prefix.size()) - prefix.size());
}

// A client-supplied X-Request-Id, if it is short printable ASCII; else one of ours.
std::string request_id(const httplib::Request& req, std::atomic<uint64_t>& next) {
  std::string id = req.get_header_value("X-Request-Id");
  bool ok = !id.empty() && id.size() <= 64;
  for (char c : id) ok &= c > 0x20 && c < 0x7f;
  return ok ? id : "req-" + std::to_string(next++);
}

}  // namespace

Server::Server(ServerOptions options) : options_(std::move(options)), http_(std::make_unique<httplib::Server>()) {
  if (options_.access_log == "-") {
    access_log_.reset(nullptr);
  } else if (!options_.access_log.empty()) {
    std::FILE* f = std::fopen(options_.access_log.c_str(), "a");
    if (!f) throw Error(ErrorCode::kIo, "--access-log " + options_.access_log + ": cannot be opened for appending");
    access_log_.reset(f);
  }
  // With the emulated TEE the server has an enclave: its evidence (GET /v2/attestation) and
  // the trusted entry point of end-to-end encrypted requests.
  if (!options_.settings.enclave && options_.settings.platform == Platform::kSim)
    options_.settings.enclave = std::make_shared<Enclave>(Platform::kSim);
  load_all();
  routes();
}

Server::~Server() {
  stop();
  std::lock_guard lk(mu_);
  for (auto& [name, slot] : slots_)
    if (slot.model) slot.model->stop();
}

Server::Slot Server::unavailable(const std::string& name, const std::string& version, const std::string& reason) const {
  Slot s;
  s.state = {name, version, "UNAVAILABLE", reason, 0};
  return s;
}

uint64_t Server::free_secure_memory() const {
  std::lock_guard lk(mu_);
  uint64_t used = 0;
  for (const auto& [name, slot] : slots_) used += slot.state.share_bytes;
  return options_.budget_bytes > used ? options_.budget_bytes - used : 0;
}

// The joint plan: every model's minimum first (in name order, while they fit), then the
// rest of the budget shared out in proportion to what more memory buys each model (its
// unlimited arena minus its minimum), never more than that arena.
void Server::load_all() {
  const bool budgeted = options_.budget_bytes > 0;
  std::vector<PreparedModel> prepared;
  std::map<std::string, Slot> slots;
  for (const RepositoryEntry& e : scan_repository(options_.repository)) {
    try {
      prepared.push_back(prepare_model(e, options_.settings, budgeted));
    } catch (const Error& err) {
      slots[e.name] = unavailable(e.name, e.version, std::string(error_code_name(err.code())) + ": " + err.what());
    }
  }
  std::vector<uint64_t> share(prepared.size(), 0);
  std::vector<bool> accepted(prepared.size(), true);
  if (budgeted) {
    uint64_t used = 0;
    for (size_t i = 0; i < prepared.size(); ++i) {
      const PreparedModel& p = prepared[i];
      uint64_t need = p.config.budget_bytes ? p.config.budget_bytes : p.min_budget_bytes;
      std::string why;
      if (p.config.budget_bytes && p.config.budget_bytes < p.min_budget_bytes)
        why = "config.json budget " + format_size(p.config.budget_bytes) + " is below its minimum " +
              format_size(p.min_budget_bytes);
      else if (used + need > options_.budget_bytes)
        why = "needs at least " + format_size(need) + " of secure memory; " +
              format_size(options_.budget_bytes - used) + " of the " + format_size(options_.budget_bytes) +
              " budget is left";
      if (!why.empty()) {
        accepted[i] = false;
        slots[p.entry.name] = unavailable(p.entry.name, p.entry.version, "budget exceeded: " + why);
        continue;
      }
      share[i] = need;
      used += need;
    }
    uint64_t spare = options_.budget_bytes - used, wanting = 0;
    for (size_t i = 0; i < prepared.size(); ++i)
      if (accepted[i] && !prepared[i].config.budget_bytes && prepared[i].ample_bytes > share[i])
        wanting += prepared[i].ample_bytes - share[i];
    for (size_t i = 0; i < prepared.size() && wanting > 0; ++i)
      if (accepted[i] && !prepared[i].config.budget_bytes && prepared[i].ample_bytes > share[i]) {
        uint64_t want = prepared[i].ample_bytes - share[i];
        uint64_t extra = static_cast<uint64_t>(static_cast<long double>(spare) * want / wanting);
        share[i] += std::min(want, extra) & ~uint64_t{4095};
      }
  }
  for (size_t i = 0; i < prepared.size(); ++i) {
    if (!accepted[i]) continue;
    std::string name = prepared[i].entry.name, version = prepared[i].entry.version;
    Slot s;
    s.state = {name, version, "READY", "", share[i]};
    s.model = std::make_shared<ServedModel>(std::move(prepared[i]), share[i], options_.settings);
    slots[name] = std::move(s);
  }
  std::lock_guard lk(mu_);
  slots_ = std::move(slots);
}

std::vector<ModelState> Server::index() const {
  std::vector<ModelState> out;
  std::lock_guard lk(mu_);
  for (const auto& [name, slot] : slots_) out.push_back(slot.state);
  return out;
}

std::optional<ModelState> Server::state(const std::string& name) const {
  std::lock_guard lk(mu_);
  auto it = slots_.find(name);
  if (it == slots_.end()) return std::nullopt;
  return it->second.state;
}

ModelState Server::load(const std::string& name) {
  std::lock_guard load(load_mu_);
  std::optional<RepositoryEntry> entry = scan_model(options_.repository, name);
  if (!entry) throw RequestError(404, "the repository has no model '" + name + "'");
  unload(name);
  Slot s;
  try {
    PreparedModel p = prepare_model(*entry, options_.settings, options_.budget_bytes > 0);
    uint64_t share = 0;
    if (options_.budget_bytes) {
      uint64_t free = free_secure_memory();
      uint64_t need = p.config.budget_bytes ? p.config.budget_bytes : p.min_budget_bytes;
      if (p.config.budget_bytes && p.config.budget_bytes < p.min_budget_bytes)
        throw Error(ErrorCode::kBudgetExceeded, "config.json budget " + format_size(p.config.budget_bytes) +
                                                    " is below its minimum " + format_size(p.min_budget_bytes));
      if (need > free)
        throw Error(ErrorCode::kBudgetExceeded, "needs at least " + format_size(need) + " of secure memory; " +
                                                    format_size(free) + " of the " +
                                                    format_size(options_.budget_bytes) + " budget is free");
      share = p.config.budget_bytes ? need : std::max(need, std::min<uint64_t>(p.ample_bytes, free) & ~uint64_t{4095});
    }
    s.state = {name, entry->version, "READY", "", share};
    s.model = std::make_shared<ServedModel>(std::move(p), share, options_.settings);
  } catch (const Error& e) {
    s = unavailable(name, entry->version, std::string(error_code_name(e.code())) + ": " + e.what());
  }
  std::lock_guard lk(mu_);
  // A name the repository index did not list (a directory that is no model) is not added
  // as UNAVAILABLE: that would make the whole server not ready.
  if (s.model || slots_.count(name)) slots_[name] = s;
  return s.state;
}

bool Server::unload(const std::string& name) {
  std::shared_ptr<ServedModel> model;
  {
    std::lock_guard lk(mu_);
    auto it = slots_.find(name);
    if (it == slots_.end() || !it->second.model) return false;
    model = it->second.model;
    it->second.model.reset();
    it->second.state.state = "UNLOADED";
    it->second.state.reason = "unloaded by request";
  }
  model->stop();  // queued requests run first; its share is free once the slot says 0
  std::lock_guard lk(mu_);
  slots_[name].state.share_bytes = 0;
  return true;
}

std::shared_ptr<ServedModel> Server::ready_model(const std::string& name) const {
  std::lock_guard lk(mu_);
  auto it = slots_.find(name);
  return it == slots_.end() ? nullptr : it->second.model;
}

bool Server::ready() const {
  if (draining_) return false;
  if (!options_.strict_readiness) return true;
  std::lock_guard lk(mu_);
  bool any = false;
  for (const auto& [name, slot] : slots_) {
    if (slot.state.state == "UNAVAILABLE") return false;
    any |= slot.model != nullptr;
  }
  return any;  // (an empty repository, or the wrong directory, is not ready to serve)
}

std::string Server::metrics_text() const {
  std::vector<Metrics::ModelView> views;
  {
    std::lock_guard lk(mu_);
    for (const auto& [name, slot] : slots_)
      if (slot.model)
        views.push_back({name, slot.model->stats(), slot.state.share_bytes, slot.model->min_budget_bytes()});
  }
  return metrics_.render(views, options_.budget_bytes);
}

int Server::bind() {
  if (options_.port == 0) {
    int port = http_->bind_to_any_port(options_.host);
    if (port < 0) throw Error(ErrorCode::kIo, "cannot listen on " + options_.host);
    return port;
  }
  if (!http_->bind_to_port(options_.host, options_.port))
    throw Error(ErrorCode::kIo, "cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                                    " (in use, or not an address of this host)");
  return options_.port;
}

bool Server::serve() {
  // httplib's stop() does nothing before its listener runs: a stopper thread waits for
  // stop(), lets the drain run (503s with Connection: close), waits until no accepted
  // connection is still waiting for a thread, then stops the listener once it runs.
  std::thread stopper([this] {
    std::unique_lock lk(stop_mu_);
    stop_cv_.wait(lk, [&] { return draining_.load() || listen_done_; });
    stop_cv_.wait_for(lk, std::chrono::milliseconds(options_.drain_ms), [&] { return listen_done_; });
    auto deadline = Clock::now() + std::chrono::seconds(30);
    while (!listen_done_ && *waiting_connections_ > 0 && Clock::now() < deadline)
      stop_cv_.wait_for(lk, std::chrono::milliseconds(5), [&] { return listen_done_; });
    while (!listen_done_ && !http_->is_running())
      stop_cv_.wait_for(lk, std::chrono::milliseconds(5), [&] { return listen_done_; });
    if (!listen_done_) http_->stop();
  });
  bool ok = http_->listen_after_bind();  // returns once stopped and every connection is done
  {
    std::lock_guard lk(stop_mu_);
    listen_done_ = true;
  }
  stop_cv_.notify_all();
  stopper.join();
  std::vector<std::shared_ptr<ServedModel>> models;
  {
    std::lock_guard lk(mu_);
    for (auto& [name, slot] : slots_)
      if (slot.model) models.push_back(slot.model);
  }
  for (auto& m : models) m->stop();
  return ok || draining_;
}

void Server::stop() {
  {
    std::lock_guard lk(stop_mu_);
    draining_ = true;
  }
  stop_cv_.notify_all();
}

void Server::routes() {
  httplib::Server& h = *http_;
  h.set_payload_max_length(options_.max_body_bytes);
  h.set_read_timeout(options_.read_timeout_s, 0);
  h.set_write_timeout(options_.read_timeout_s, 0);
  h.set_keep_alive_max_count(1000);
  h.set_tcp_nodelay(true);
  int threads = options_.http_threads;
  h.new_task_queue = [threads, waiting = waiting_connections_] {
    return new CountingThreadPool(static_cast<size_t>(threads), waiting);
  };

  // Before the body is read: httplib limits a body by its Content-Length only, so a
  // chunked or compressed body (which it would read or inflate without limit) is refused.
  h.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    request_start = Clock::now();
    res.set_header("X-Request-Id", request_id(req, next_request_id_));
    if (draining_) res.set_header("Connection", "close");
    if (req.method != "POST") return httplib::Server::HandlerResponse::Unhandled;
    std::string encoding = lower(trim(req.get_header_value("Content-Encoding")));
    if (!encoding.empty() && encoding != "identity") {
      reply_error(res, 415,
                  "Content-Encoding '" + encoding.substr(0, 40) + "' is not accepted: send the body as it is");
    } else if (req.has_header("Transfer-Encoding") || !req.has_header("Content-Length")) {
      reply_error(res, 411, "a POST needs a Content-Length (chunked bodies are not accepted)");
    } else {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    res.set_header("Connection", "close");  // the unread body must not be taken for the next request
    return httplib::Server::HandlerResponse::Handled;
  });
  h.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (res.body.empty()) reply_error(res, res.status, default_message(req, res.status, options_.max_body_bytes));
  });
  h.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what += std::string(": ") + e.what();
    } catch (...) {
    }
    reply_error(res, 500, what);
  });
  h.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    double seconds =
        request_start == Clock::time_point{} ? 0 : std::chrono::duration<double>(Clock::now() - request_start).count();
    request_start = {};
    std::string model = model_of_path(req.path);
    if (!model.empty() && !state(model)) model = "";  // unknown names are not metric labels
    metrics_.count_request(model, res.status, seconds);
    if (options_.access_log.empty()) return;
    json line = {{"id", res.get_header_value("X-Request-Id")},
                 {"remote", req.remote_addr},
                 {"method", req.method},
                 {"path", req.path.substr(0, 256)},
                 {"status", res.status},
                 {"bytes_in", req.body.size()},
                 {"bytes_out", res.body.size()},
                 {"ms", seconds * 1000}};
    if (!model.empty()) line["model"] = model;
    std::string text = line.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    std::lock_guard lk(log_mu_);
    std::FILE* out = access_log_ ? access_log_.get() : stderr;
    std::fwrite(text.data(), 1, text.size(), out);
    std::fflush(out);
  });

  h.Get("/v2/health/live", [](const httplib::Request&, httplib::Response& res) { reply(res, 200, {{"live", true}}); });
  h.Get("/v2/health/ready", [this](const httplib::Request&, httplib::Response& res) {
    bool ok = ready();
    reply(res, ok ? 200 : 503, {{"ready", ok}});
  });
  auto server_metadata = [](const httplib::Request&, httplib::Response& res) {
    reply(res, 200,
          {{"name", "teeinfer"},
           {"version", version()},
           {"extensions", {"binary_tensor_data", "model_repository", "metrics"}}});
  };
  h.Get("/v2", server_metadata);
  h.Get("/v2/", server_metadata);
  h.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_text(), "text/plain; version=0.0.4");
  });

  // /v2/models/<m>[/versions/<v>][/ready]: metadata or readiness.
  h.Get(R"(/v2/models/([^/]+)(/versions/([^/]+))?(/ready)?)", [this](const httplib::Request& req,
                                                                     httplib::Response& res) {
    std::string name = req.matches[1], version = req.matches[3];
    bool readiness = req.matches[4].matched;
    std::shared_ptr<ServedModel> m = ready_model(name);
    std::optional<ModelState> known = state(name);
    if (!known) return reply_error(res, 404, "unknown model '" + name + "'");
    if (!version.empty() && version != known->version)
      return reply_error(
          res, 404, "model '" + name + "' has no version '" + version + "' (serving version '" + known->version + "')");
    if (readiness) {
      json body = {{"name", name}, {"ready", m != nullptr}};
      if (!m) body["reason"] = known->reason;
      return reply(res, m ? 200 : 503, body);
    }
    if (!m) return reply_error(res, 503, "model '" + name + "' is not ready: " + known->reason);
    reply(res, 200,
          {{"name", name},
           {"versions", {m->version()}},
           {"platform", m->sealed() ? "teeinfer_sealed" : "onnx_onnxv1"},
           {"inputs", tensor_metadata(m->inputs())},
           {"outputs", tensor_metadata(m->outputs())},
           {"parameters",
            {{"max_batch_size", m->max_batch()},
             {"secure_memory_share_bytes", known->share_bytes},
             {"secure_memory_min_bytes", m->min_budget_bytes()}}}});
  });

  h.Post(R"(/v2/models/([^/]+)(/versions/([^/]+))?/infer)",
         [this](const httplib::Request& req, httplib::Response& res) {
           std::string name = req.matches[1], version = req.matches[3];
           try {
             if (draining_) throw RequestError(503, "the server is shutting down");
             std::shared_ptr<ServedModel> m = ready_model(name);
             if (!m) {
               std::optional<ModelState> known = state(name);
               if (known) throw RequestError(503, "model '" + name + "' is not ready: " + known->reason);
               throw RequestError(404, "unknown model '" + name + "'");
             }
             if (!version.empty() && version != m->version())
               throw RequestError(404, "model '" + name + "' has no version '" + version + "'");
             if (req.has_header(kEncapsulatedKey)) return answer_encrypted(*m, req, res);
             std::optional<uint64_t> json_length;
             if (req.has_header("Inference-Header-Content-Length"))
               json_length = parse_header_length(req.get_header_value("Inference-Header-Content-Length"));
             std::string type = req.get_header_value("Content-Type");
             std::string base = lower(trim(type.substr(0, type.find(';'))));
             bool type_ok = base.empty() || base == kJson || (json_length && base == "application/octet-stream");
             if (!type_ok)
               throw RequestError(415, "Content-Type '" + type.substr(0, 100) +
                                           "' is not accepted: send application/json, or application/octet-stream with "
                                           "Inference-Header-Content-Length");
             uint64_t json_bytes = json_length.value_or(req.body.size());
             if (json_bytes > options_.max_json_bytes)
               throw RequestError(
                   413, "the request's JSON is " + std::to_string(json_bytes) + " bytes, over " +
                            std::to_string(options_.max_json_bytes) +
                            " (--max-json): send large tensors as binary data (Inference-Header-Content-Length)");
             InferRequest request = decode_infer_request(req.body, json_length, m->signature());
             InferRequest reply_to;  // what the response needs; the tensors go to the model
             reply_to.outputs = request.outputs;
             reply_to.binary_output = request.binary_output;
             std::optional<std::string> id = request.id;
             Outcome outcome = m->infer(std::move(request));
             if (outcome.status != 200) throw RequestError(outcome.status, outcome.error);
             EncodedResponse r = encode_infer_response(name, m->version(), id, reply_to, outcome.outputs);
             if (r.json_length) {
               res.set_header("Inference-Header-Content-Length", std::to_string(*r.json_length));
               res.set_content(std::move(r.body), "application/octet-stream");
             } else {
               res.set_content(std::move(r.body), kJson);
             }
           } catch (const RequestError& e) {
             reply_error(res, e.status(), e.what());
           } catch (const Error& e) {
             reply_error(res, e.code() == ErrorCode::kBadInput ? 400 : 500,
                         std::string(error_code_name(e.code())) + ": " + e.what());
           }
         });

  // Evidence of this server's enclave for a client's nonce (docs/attestation.md).
  h.Get("/v2/attestation", [this](const httplib::Request& req, httplib::Response& res) {
    const std::shared_ptr<Enclave>& enclave = options_.settings.enclave;
    if (!enclave) return reply_error(res, 404, "this server has no enclave to attest: it runs without --tee sim");
    std::string nonce_hex = req.get_param_value("nonce");
    Digest nonce{};
    try {
      auto bytes = bytes_from_hex(nonce_hex, nonce.size(), "?nonce=");
      std::copy(bytes.begin(), bytes.end(), nonce.begin());
    } catch (const Error& e) {
      return reply_error(res, 400, std::string(e.what()) + " (a fresh 32-byte nonce, in hex)");
    }
    std::vector<uint8_t> evidence = enclave->evidence(nonce);
    const EnclaveKeys& keys = enclave->keys();
    reply(res, 200,
          {{"evidence", to_hex(evidence.data(), evidence.size())},
           {"keys",
            {{"hpke", to_hex(keys.hpke.data(), keys.hpke.size())},
             {"receipt", to_hex(keys.receipt.data(), keys.receipt.size())}}},
           {"measurement", to_hex(measurement().value.data(), 32)}});
  });

  // Triton's model repository extension.
  auto index_handler = [this](const httplib::Request&, httplib::Response& res) {
    json out = json::array();
    for (const ModelState& s : index()) {
      json e = {{"name", s.name}, {"version", s.version}, {"state", s.state}};
      if (!s.reason.empty()) e["reason"] = s.reason;
      if (s.state == "READY") e["secure_memory_share_bytes"] = s.share_bytes;
      out.push_back(std::move(e));
    }
    reply(res, 200, out);
  };
  h.Get("/v2/repository/index", index_handler);
  h.Post("/v2/repository/index", index_handler);
  h.Post(R"(/v2/repository/models/([^/]+)/(load|unload))", [this](const httplib::Request& req, httplib::Response& res) {
    std::string name = req.matches[1];
    try {
      if (!options_.model_control)
        throw RequestError(403, "loading and unloading models is off: start the server with --model-control");
      if (draining_) throw RequestError(503, "the server is shutting down");
      if (req.matches[2] == "unload") {
        std::lock_guard load(load_mu_);
        if (!unload(name)) throw RequestError(404, "model '" + name + "' is not loaded");
        return reply(res, 200, json::object());
      }
      ModelState s = load(name);
      if (s.state != "READY") throw RequestError(400, "model '" + name + "' failed to load: " + s.reason);
      reply(res, 200, json::object());
    } catch (const RequestError& e) {
      reply_error(res, e.status(), e.what());
    }
  });
}

}  // namespace teeinfer::serve
