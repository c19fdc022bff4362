#include "serve/served_model.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "serve/batch_policy.h"

namespace teeinfer::serve {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct ServedModel::Pending {
  InferRequest request;
  std::vector<Dims> key;  // every input's dims after the batch dim: requests batch only with equal keys
  Clock::time_point queued, deadline;
  std::promise<Outcome> done;
  bool answered = false;  // (worker thread)
  // An encrypted request (never batched with others): answered through `encrypted_done`.
  std::optional<EncryptedJob> encrypted;
  std::promise<Enclave::Reply> encrypted_done;
};

struct ServedModel::LiveSession {
  std::map<std::string, Dims> dims;
  std::unique_ptr<Session> session;
  Counters last;  // counters when last read (the deltas go to the model's stats)
  uint64_t arena = 0, last_use = 0;
};

namespace {

ModelConfig read_config(const RepositoryEntry& e) {
  fs::path path = fs::path(e.dir) / "config.json";
  std::error_code ec;
  if (!fs::exists(path, ec)) return {};
  if (fs::file_size(path, ec) > (1u << 20)) throw Error(ErrorCode::kBadArgument, path.string() + ": larger than 1 MiB");
  std::ifstream f(path, std::ios::binary);
  std::stringstream text;
  text << f.rdbuf();
  if (!f) throw Error(ErrorCode::kIo, path.string() + ": cannot be read");
  return parse_model_config(text.str(), path.string());
}

// The run sizes of a sealed model: the batch of each profile whose inputs and outputs all
// lead with it, up to `cap`. Empty if some profile's tensors do not share a batch dim.
std::vector<int64_t> profile_batches(const Model& m, int64_t cap) {
  std::vector<int64_t> sizes;
  for (const Model::ShapeProfile& p : m.shape_profiles()) {
    if (p.inputs.empty() || p.inputs[0].dims.empty()) return {};
    int64_t b = p.inputs[0].dims[0];
    for (const auto* list : {&p.inputs, &p.outputs})
      for (const TensorInfo& t : *list)
        if (t.dims.empty() || t.dims[0] != b) return {};
    if (b <= cap) sizes.push_back(b);
  }
  std::sort(sizes.begin(), sizes.end());
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
  return sizes;
}

// An ONNX model batches only when config.json says max_batch (as Triton's max_batch_size):
// a dynamic leading dim is not always the batch (a sequence-first RNN, a count of boxes),
// and batching a dim that is not would mix clients' data. Runs of 1, 2, 4, ... and the
// cap itself, so a few sessions cover every load. Every input must lead with a dim that
// can be the batch (dynamic, or 1).
std::vector<int64_t> onnx_batches(const Model& m, const ModelConfig& c, int64_t cap) {
  if (c.max_batch <= 1) return {};
  for (const TensorInfo& t : m.inputs())
    if (t.dims.empty() || (t.dims[0] >= 0 && t.dims[0] != 1))
      throw Error(ErrorCode::kBadArgument, "config.json max_batch: input '" + t.name + "' has dims " +
                                               to_string(t.dims) + ", no leading batch dim");
  std::vector<int64_t> sizes;
  for (int64_t b = 1; b < cap; b *= 2) sizes.push_back(b);
  sizes.push_back(cap);
  return sizes;
}

Dims with_batch(Dims d, int64_t batch) {
  if (!d.empty()) d[0] = batch;
  return d;
}

// Every input's dims with `batch` as dim 0.
std::map<std::string, Dims> at_batch(std::map<std::string, Dims> dims, int64_t batch) {
  for (auto& [name, d] : dims) d = with_batch(d, batch);
  return dims;
}

uint64_t bytes_per_sample(const Tensor& t) {
  uint64_t n = dtype_size(t.dtype);
  for (size_t i = 1; i < t.dims.size(); ++i) n *= static_cast<uint64_t>(t.dims[i]);
  return n;
}

int status_of(const Error& e) {
  switch (e.code()) {
    case ErrorCode::kBadInput:
    case ErrorCode::kBadArgument:
    case ErrorCode::kBudgetExceeded:  // a shape this model's share cannot hold: the request's
      return 400;
    case ErrorCode::kIo:
    case ErrorCode::kBadModel:
    case ErrorCode::kUnsupported:
    case ErrorCode::kKernel:
    case ErrorCode::kTampered:
      return 500;
  }
  return 500;
}

}  // namespace

PreparedModel prepare_model(const RepositoryEntry& entry, const ServeSettings& settings, bool plan_memory) {
  PreparedModel p;
  p.entry = entry;
  if (entry.model_path.empty())
    throw Error(ErrorCode::kBadModel, "no version directory of " + entry.dir + " holds model.tee or model.onnx");
  p.config = read_config(entry);
  OpenOptions open;
  open.min_version = p.config.min_version;
  open.model_id = p.config.model_id;
  KeyProvider* keys = nullptr;
  if (is_sealed_model(entry.model_path) && settings.key_release) {
    // The key comes by attestation; the enclave pins the model to its grant (id, and the
    // lowest version the broker's policy allows), on top of config.json's own pins.
    SealedInfo info = read_sealed_info(entry.model_path);
    settings.key_release->obtain(info);
    Enclave& enclave = settings.key_release->enclave();
    OpenOptions pinned = enclave.open_options(info.model_id);
    if (open.model_id && *open.model_id != info.model_id)
      throw Error(ErrorCode::kBadInput, entry.dir + ": the model file's id " + to_hex(info.model_id) +
                                            " is not config.json's model_id " + to_hex(*open.model_id));
    open.model_id = info.model_id;
    open.min_version = std::max(open.min_version, pinned.min_version);
    keys = &enclave.key_provider();
  } else if (is_sealed_model(entry.model_path)) {
    if (p.config.key_file.empty())
      throw Error(ErrorCode::kBadArgument, entry.dir + "/config.json: key_file is needed for a sealed model");
    fs::path key = fs::path(p.config.key_file).is_absolute() ? fs::path(p.config.key_file)
                                                             : fs::path(entry.dir) / p.config.key_file;
    p.key = std::make_unique<KeyFile>(key.string());
    keys = p.key.get();
  }
  p.model = std::make_unique<Model>(Model::open(entry.model_path, keys, open));
  const Model& m = *p.model;

  int64_t cap = std::min<int64_t>(settings.max_batch, p.config.max_batch ? p.config.max_batch : settings.max_batch);
  p.batch_sizes = cap <= 1     ? std::vector<int64_t>{}
                  : m.sealed() ? profile_batches(m, cap)
                               : onnx_batches(m, p.config, cap);
  bool batching = !p.batch_sizes.empty() && p.batch_sizes.back() > 1;
  p.signature.inputs = m.inputs();
  for (const TensorInfo& o : m.outputs()) p.signature.outputs.push_back(o.name);
  p.signature.max_batch = batching ? p.batch_sizes.back() : 1;
  if (!batching) p.batch_sizes = {1};

  // The dims it is planned for: the largest batch of the first matching profile (sealed),
  // or config.json's input_shape / the declared dims (ONNX).
  if (m.sealed()) {
    const Model::ShapeProfile* chosen = &m.shape_profiles()[0];
    for (const Model::ShapeProfile& prof : m.shape_profiles())
      if (batching && prof.inputs[0].dims[0] == p.signature.max_batch) {
        chosen = &prof;
        break;
      }
    for (const TensorInfo& t : chosen->inputs) p.largest_dims[t.name] = t.dims;
  } else {
    for (const TensorInfo& t : m.inputs()) {
      Dims d = p.config.input_dims.count(t.name) ? p.config.input_dims.at(t.name) : t.dims;
      if (!d.empty() && d[0] < 0) d[0] = 1;
      p.largest_dims[t.name] = batching ? with_batch(d, p.signature.max_batch) : d;
    }
  }
  // Its share must hold every run size (the minimum is not monotonic in the batch: the
  // planner may choose other strategies for another batch).
  if (plan_memory)
    for (int64_t size : p.batch_sizes) {
      SessionOptions o;
      o.input_dims = batching ? at_batch(p.largest_dims, size) : p.largest_dims;
      o.threads = settings.threads;
      o.conv_algorithm = settings.conv_algorithm;
      o.platform = settings.platform;   // (the emulated EPC's arena differs from plain memory's)
      o.epc_bytes = uint64_t{1} << 40;  // with kSim and no budget: no limit
      PlanReport r;
      try {
        r = plan(m, o);
      } catch (const Error& e) {  // a sealed model without this size at these dims
        if (e.code() != ErrorCode::kBadInput || size == p.signature.max_batch) throw;
        continue;
      }
      p.ample_bytes = std::max<uint64_t>(p.ample_bytes, r.arena_bytes);
      p.min_budget_bytes = std::max<uint64_t>(p.min_budget_bytes, r.min_budget_bytes);
    }
  return p;
}

ServedModel::ServedModel(PreparedModel prepared, uint64_t share_bytes, const ServeSettings& settings)
    : prepared_(std::move(prepared)),
      // With no budget, a host-memory cap all the same: clients choose dynamic dims, and
      // a plan for a huge image must be refused (400), not allocated.
      share_bytes_(share_bytes ? share_bytes : settings.max_arena_bytes),
      settings_(settings) {
  const Model& m = *prepared_.model;
  sealed_ = m.sealed();
  inputs_ = m.inputs();
  outputs_ = m.outputs();
  if (prepared_.signature.max_batch > 1) {
    for (TensorInfo& t : inputs_) t.dims = with_batch(t.dims, -1);
    for (TensorInfo& t : outputs_) t.dims = with_batch(t.dims, -1);
  }
  worker_ = std::thread([this] { worker(); });
}

ServedModel::~ServedModel() {
  stop();
}

void ServedModel::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

Outcome ServedModel::infer(InferRequest request) {
  auto p = std::make_unique<Pending>();
  p->queued = Clock::now();
  int64_t timeout = request.timeout_ms.value_or(settings_.timeout_ms);
  p->deadline = p->queued + std::chrono::milliseconds(timeout);
  if (prepared_.signature.max_batch > 1)
    for (const Tensor& t : request.inputs) p->key.emplace_back(t.dims.begin() + 1, t.dims.end());
  else
    for (const Tensor& t : request.inputs) p->key.push_back(t.dims);
  p->request = std::move(request);
  std::future<Outcome> result = p->done.get_future();
  enqueue(std::move(p));
  return result.get();
}

Enclave::Reply ServedModel::infer_encrypted(EncryptedJob job) {
  if (!settings_.enclave)
    throw RequestError(400, "this server has no enclave: encrypted requests need teeinfer serve --tee sim");
  auto p = std::make_unique<Pending>();
  p->queued = Clock::now();
  p->deadline = p->queued + std::chrono::milliseconds(settings_.timeout_ms);
  p->encrypted = std::move(job);
  std::future<Enclave::Reply> result = p->encrypted_done.get_future();
  enqueue(std::move(p));
  return result.get();
}

void ServedModel::enqueue(std::unique_ptr<Pending> p) {
  {
    std::lock_guard lk(mu_);
    if (stopping_) throw RequestError(503, "model '" + name() + "' is being unloaded or the server is shutting down");
    if (queue_.size() >= settings_.max_queue)
      throw RequestError(503, "model '" + name() + "' has " + std::to_string(queue_.size()) +
                                  " requests queued (--max-queue): retry later");
    queue_.push_back(std::move(p));
  }
  cv_.notify_all();
}

// One encrypted request, alone, on the session of the smallest run size: Enclave::answer
// opens it, runs it and seals the answer (the trusted entry point).
void ServedModel::run_encrypted(Pending& p) {
  bool batching = prepared_.signature.max_batch > 1;
  std::map<std::string, Dims> dims =
      batching ? at_batch(prepared_.largest_dims, prepared_.batch_sizes.front()) : prepared_.largest_dims;
  Enclave::Reply reply;
  try {
    LiveSession& live = session_for(dims);
    auto started = std::chrono::steady_clock::now();
    uint64_t host_ms = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
    const EncryptedJob& job = *p.encrypted;
    reply = settings_.enclave->answer(*live.session, *prepared_.model, name(), version(), job.path,
                                      job.encapsulated_key_hex, job.body, host_ms);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    Counters c = live.session->counters();
    std::lock_guard lk(mu_);
    if (reply.opened) {
      ++stats_.runs;
      ++stats_.encrypted_requests;
      stats_.run_seconds += seconds;
      stats_.samples_run += 1;
      ++stats_.batch_sizes[batching ? prepared_.batch_sizes.front() : 1];
    }
    stats_.bytes_decrypted += c.bytes_decrypted - live.last.bytes_decrypted;
    stats_.faults += c.faults - live.last.faults;
    stats_.evictions += c.evictions - live.last.evictions;
    live.last = c;
  } catch (const Error& e) {
    std::string body = error_body(std::string(error_code_name(e.code())) + ": " + e.what());
    reply = {status_of(e), false, std::vector<uint8_t>(body.begin(), body.end())};
    if (e.code() != ErrorCode::kBadInput && e.code() != ErrorCode::kBudgetExceeded) drop_sessions();
  } catch (const std::exception& e) {
    std::string body = error_body(std::string("internal error: ") + e.what());
    reply = {500, false, std::vector<uint8_t>(body.begin(), body.end())};
    drop_sessions();
  }
  p.answered = true;
  p.encrypted_done.set_value(std::move(reply));
}

int64_t ServedModel::run_size_for(int64_t samples) const {
  for (int64_t s : preferred_sizes_)
    if (s >= samples) return s;
  for (int64_t s : prepared_.batch_sizes)
    if (s >= samples) return s;
  return samples;  // (a request is never larger than the largest size: checked on decoding)
}

std::vector<std::unique_ptr<ServedModel::Pending>> ServedModel::take_batch(int64_t& run_size) {
  std::vector<std::unique_ptr<Pending>> batch;
  const std::vector<Dims> key = queue_.front()->key;
  bool batching = prepared_.signature.max_batch > 1;
  int64_t available = 0;
  for (const auto& p : queue_)
    if (p->key == key) available += p->request.batch;
  // One run for what is queued (up to the largest size): padded to the next size the
  // model has (each streamed weight decrypted once for all of them), or, by the measured
  // times, the size that costs least per real sample.
  int64_t capped = std::min(available, prepared_.signature.max_batch);
  int64_t target = run_ms_.empty() ? run_size_for(capped) : target_run_size(capped, preferred_sizes_, run_ms_);
  target = std::max(target, run_size_for(queue_.front()->request.batch));
  if (batching) target = size_with_session(key, target, queue_.front()->request.batch);
  int64_t taken = 0;
  for (auto it = queue_.begin(); it != queue_.end();) {
    bool fits = (*it)->key == key && taken + (*it)->request.batch <= target;
    if (fits && (batching || batch.empty())) {
      taken += (*it)->request.batch;
      batch.push_back(std::move(*it));
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  run_size = batching ? target : 1;  // (padded with zero samples when fewer were taken)
  return batch;
}

// One run of each run size, timed (the second run: the first pays for first touches of
// the arena): a batch size that is slower per sample than a smaller one is not used.
std::map<int64_t, double> ServedModel::time_run_sizes() {
  std::map<int64_t, double> ms;
  for (int64_t size : prepared_.batch_sizes) {
    std::map<std::string, Dims> dims = at_batch(prepared_.largest_dims, size);
    std::vector<Tensor> zeros;
    for (const TensorInfo& in : prepared_.signature.inputs) {
      Tensor t;
      t.name = in.name;
      t.dtype = in.dtype;
      t.dims = dims.at(in.name);
      uint64_t n = dtype_size(t.dtype);
      for (int64_t d : t.dims) n *= static_cast<uint64_t>(d);
      t.bytes.assign(n, 0);
      zeros.push_back(std::move(t));
    }
    try {
      LiveSession& live = session_for(dims);
      live.session->run(zeros);
      auto start = std::chrono::steady_clock::now();
      live.session->run(zeros);
      ms[size] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      live.last = live.session->counters();  // (these runs are not the clients')
    } catch (const std::exception&) {        // the first request of this size reports it
    }
  }
  return ms;
}

void ServedModel::warm_up() {
  bool batching = prepared_.signature.max_batch > 1;
  bool concrete = true;
  for (auto& [name, d] : prepared_.largest_dims)
    for (int64_t x : d) concrete &= x > 0;
  if (!concrete) {  // (dims the clients choose: nothing to make in advance)
    preferred_sizes_ = prepared_.batch_sizes;
    return;
  }
  if (batching && settings_.measure_run_sizes && prepared_.batch_sizes.size() > 1) {
    run_ms_ = time_run_sizes();
    std::map<int64_t, uint64_t> arenas;
    for (const auto& [dims, bytes] : planned_arena_)
      if (!dims.empty() && !dims.begin()->second.empty()) arenas[dims.begin()->second[0]] = bytes;
    preferred_sizes_ =
        sizes_that_fit(preferred_run_sizes(prepared_.batch_sizes, run_ms_), run_ms_, arenas, share_bytes_);
    drop_sessions();  // (the sizes not chosen must not hold the share)
  } else {
    preferred_sizes_ = prepared_.batch_sizes;
  }
  {
    std::lock_guard lk(mu_);
    stats_.run_ms = run_ms_;
    stats_.preferred_sizes = preferred_sizes_;
  }
  for (int64_t size : {preferred_sizes_.front(), preferred_sizes_.back()}) {
    try {
      session_for(batching ? at_batch(prepared_.largest_dims, size) : prepared_.largest_dims);
    } catch (const std::exception&) {  // the first request of this size reports it
    }
  }
}

// After an encrypted request the worker's stack below this frame still holds values of the
// run (tests/test_end_to_end.cpp found the outputs there). In SGX the entry point's stack
// is enclave memory; here it is this thread's, so it is cleared once the entry point
// returns.
[[gnu::noinline]] static void wipe_stack_below() {
  constexpr size_t kBytes = 256 * 1024;  // (the run's frames use far less)
  uint8_t scratch[kBytes];
  explicit_bzero(scratch, kBytes);
}

void ServedModel::worker() {
  // The smallest and largest run sizes' sessions are made before the first request
  // (requests queue meanwhile), so that no request pays for planning and loading.
  warm_up();
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
    // Requests whose deadline passed while queued never run.
    Clock::time_point now = Clock::now();
    for (auto it = queue_.begin(); it != queue_.end();) {
      if ((*it)->deadline <= now) {
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - (*it)->queued).count();
        answer(**it, {503,
                      "timed out after " + std::to_string(ms) + " ms in the queue of model '" + name() +
                          "' (parameters.timeout_ms)",
                      {}});
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
    if (queue_.empty()) {
      if (stopping_) return;
      continue;
    }
    if (queue_.front()->encrypted) {  // (alone, at once: never batched)
      std::unique_ptr<Pending> p = std::move(queue_.front());
      queue_.pop_front();
      lk.unlock();
      run_encrypted(*p);
      wipe_stack_below();
      lk.lock();
      continue;
    }
    // Wait for a full batch until the first request has waited --batch-delay-us (waking
    // for the earliest deadline too: the loop then drops what expired).
    if (prepared_.signature.max_batch > 1 && !stopping_) {
      Clock::time_point until = queue_.front()->queued + std::chrono::microseconds(settings_.batch_delay_us);
      int64_t queued = 0;
      Clock::time_point earliest = until;
      for (const auto& p : queue_) {
        if (p->key == queue_.front()->key) queued += p->request.batch;
        earliest = std::min(earliest, p->deadline);
      }
      if (now < until && queued < prepared_.signature.max_batch) {
        cv_.wait_until(lk, earliest);
        continue;
      }
    }
    int64_t run_size = 1;
    std::vector<std::unique_ptr<Pending>> batch = take_batch(run_size);

    lk.unlock();
    try {
      run_batch(batch, run_size);
    } catch (const std::exception& e) {  // (out of memory joining or splitting tensors)
      for (auto& p : batch) answer(*p, {500, std::string("internal error: ") + e.what(), {}});
      drop_sessions();
    }
    lk.lock();
  }
}

// A session per input dims, kept while the share holds it: a load that alternates between
// run sizes would otherwise plan and load a session (tens of ms) for every batch. Each
// session's arena is known from the plan before it is made; the least recently used go
// first until the new one fits (with no share, at most kMaxSessions stay).
ServedModel::LiveSession& ServedModel::session_for(const std::map<std::string, Dims>& dims) {
  for (auto& s : sessions_)
    if (s->dims == dims) {
      s->last_use = ++uses_;
      return *s;
    }
  SessionOptions o;
  o.input_dims = dims;
  o.threads = settings_.threads;
  o.conv_algorithm = settings_.conv_algorithm;
  o.platform = settings_.platform;
  o.budget_bytes = share_bytes_;
  // The emulated EPC holds at least 4 pages (16 KiB); a tiny model's share may be less,
  // and the budget still keeps its arena within the share.
  constexpr uint64_t kSmallestEmulatedEpc = 16 << 10;
  if (settings_.platform == Platform::kSim && share_bytes_) o.epc_bytes = std::max(share_bytes_, kSmallestEmulatedEpc);
  if (planned_arena_.size() > 64) planned_arena_.clear();  // (clients choose dynamic dims)
  auto planned = planned_arena_.find(dims);
  if (planned == planned_arena_.end())
    planned = planned_arena_.emplace(dims, plan(*prepared_.model, o).arena_bytes).first;
  auto total = [&] {
    uint64_t t = 0;
    for (auto& s : sessions_) t += s->arena;
    return t;
  };
  while (!sessions_.empty() &&
         ((share_bytes_ && total() + planned->second > share_bytes_) || sessions_.size() >= kMaxSessions)) {
    auto lru = std::min_element(sessions_.begin(), sessions_.end(),
                                [](const auto& a, const auto& b) { return a->last_use < b->last_use; });
    sessions_.erase(lru);  // its arena is freed before the next is made
  }
  auto live = std::make_unique<LiveSession>();
  live->dims = dims;
  live->session = std::make_unique<Session>(*prepared_.model, o);
  live->last = live->session->counters();
  live->arena = live->session->plan().arena_bytes;
  live->last_use = ++uses_;
  sessions_.push_back(std::move(live));
  std::lock_guard lk(mu_);
  ++stats_.sessions_built;
  stats_.arena_bytes = total();
  stats_.arena_peak_bytes = std::max(stats_.arena_peak_bytes, stats_.arena_bytes);
  return *sessions_.back();
}

// Making a session takes a plan and the resident weights decrypted (tens of ms to a
// second); evicting one to make another, when sizes alternate under load, would do that
// at every batch (ResNet-18 in a 16 MiB EPC fell from 22 to 4.7 requests/s). So a size
// without a session is made only when its planned arena fits beside the live ones, or
// when no live session can take the first request; otherwise the batch runs on a live
// session: the smallest at least `target` (padded), else the largest that takes the first
// request (fewer requests this time).
int64_t ServedModel::size_with_session(const std::vector<Dims>& key, int64_t target, int64_t first) const {
  if (has_session(key, target)) return target;
  std::map<std::string, Dims> dims;
  size_t i = 0;
  for (const TensorInfo& in : prepared_.signature.inputs) {
    Dims d = {target};
    d.insert(d.end(), key[i].begin(), key[i].end());
    dims[in.name] = d;
    ++i;
  }
  auto planned = planned_arena_.find(dims);
  uint64_t live = 0;
  for (const auto& s : sessions_) live += s->arena;
  bool fits = planned != planned_arena_.end() && (!share_bytes_ || live + planned->second <= share_bytes_) &&
              sessions_.size() < kMaxSessions;
  if (fits) return target;
  int64_t larger = 0, smaller = 0;
  for (int64_t s : preferred_sizes_) {
    if (!has_session(key, s)) continue;
    if (s > target && larger == 0) larger = s;
    if (s < target && s >= first) smaller = s;
  }
  return larger ? larger : smaller ? smaller : target;
}

bool ServedModel::has_session(const std::vector<Dims>& key, int64_t size) const {
  for (const auto& s : sessions_) {
    bool match = s->dims.size() == key.size();
    size_t i = 0;
    for (const TensorInfo& in : prepared_.signature.inputs) {
      auto d = s->dims.find(in.name);
      match &= i < key.size() && d != s->dims.end() && !d->second.empty() && d->second[0] == size &&
               Dims(d->second.begin() + 1, d->second.end()) == key[i];
      ++i;
    }
    if (match) return true;
  }
  return false;
}

void ServedModel::drop_sessions() {
  sessions_.clear();
  std::lock_guard lk(mu_);
  stats_.arena_bytes = 0;
}

void ServedModel::run_batch(std::vector<std::unique_ptr<Pending>>& batch, int64_t run_size) {
  bool batching = prepared_.signature.max_batch > 1;
  int64_t samples = 0;
  for (const auto& p : batch) samples += p->request.batch;

  // The batch's inputs: each request's samples one after another, zeros to the run size.
  std::vector<Tensor> inputs;
  std::map<std::string, Dims> dims;
  for (size_t i = 0; i < batch[0]->request.inputs.size(); ++i) {
    const Tensor& first = batch[0]->request.inputs[i];
    Tensor t;
    t.name = first.name;
    t.dtype = first.dtype;
    t.dims = batching ? with_batch(first.dims, run_size) : first.dims;
    bool alone = batch.size() == 1 && (!batching || batch[0]->request.batch == run_size);
    if (alone) {
      t.bytes = std::move(batch[0]->request.inputs[i].bytes);  // (its tensor is not needed again)
    } else if (batching) {
      t.bytes.reserve(bytes_per_sample(first) * static_cast<uint64_t>(run_size));
      for (const auto& p : batch)
        t.bytes.insert(t.bytes.end(), p->request.inputs[i].bytes.begin(), p->request.inputs[i].bytes.end());
      t.bytes.resize(bytes_per_sample(first) * static_cast<uint64_t>(run_size), 0);
    }
    dims[t.name] = t.dims;
    inputs.push_back(std::move(t));
  }

  Outcome failed;
  std::vector<Tensor> outputs;
  LiveSession* live_session = nullptr;
  try {
    live_session = &session_for(dims);
  } catch (const Error& e) {
    // Planning for the request's dims failed: the dims are the request's (a shape the
    // model cannot take or its share cannot hold), unless the sealed data was altered.
    bool ours = e.code() == ErrorCode::kTampered || e.code() == ErrorCode::kIo;
    failed = {ours ? 500 : 400, std::string(error_code_name(e.code())) + ": " + e.what(), {}};
  }
  if (live_session) try {
      LiveSession& live = *live_session;
      auto started = std::chrono::steady_clock::now();
      outputs = live.session->run(inputs);
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      for (const Tensor& y : outputs)
        if (batching && (y.dims.empty() || y.dims[0] != run_size))
          throw Error(ErrorCode::kUnsupported, "output '" + y.name + "' has dims " + to_string(y.dims) +
                                                   ", not the batch first: set \"max_batch\": 1 in config.json");
      Counters c = live.session->counters();
      std::lock_guard lk(mu_);
      ++stats_.runs;
      stats_.run_seconds += seconds;
      stats_.samples_run += static_cast<uint64_t>(samples);
      stats_.padded_samples += static_cast<uint64_t>(run_size - samples);
      ++stats_.batch_sizes[run_size];
      stats_.bytes_decrypted += c.bytes_decrypted - live.last.bytes_decrypted;
      stats_.faults += c.faults - live.last.faults;
      stats_.evictions += c.evictions - live.last.evictions;
      live.last = c;
    } catch (const Error& e) {
      failed = {status_of(e), std::string(error_code_name(e.code())) + ": " + e.what(), {}};
      if (e.code() != ErrorCode::kBadInput && e.code() != ErrorCode::kBudgetExceeded) drop_sessions();
    } catch (const std::exception& e) {
      failed = {500, std::string("internal error: ") + e.what(), {}};
      drop_sessions();
    }
  if (failed.status == 200) {
    int64_t offset = 0;
    for (auto& p : batch) {
      Outcome o;
      for (const Tensor& y : outputs) {
        if (!batching) {
          o.outputs.push_back(y);
          continue;
        }
        Tensor part;
        part.name = y.name;
        part.dtype = y.dtype;
        part.dims = with_batch(y.dims, p->request.batch);
        uint64_t row = bytes_per_sample(y);
        part.bytes.assign(y.bytes.begin() + static_cast<ptrdiff_t>(row * offset),
                          y.bytes.begin() + static_cast<ptrdiff_t>(row * (offset + p->request.batch)));
        o.outputs.push_back(std::move(part));
      }
      offset += p->request.batch;
      answer(*p, std::move(o));
    }
  } else {
    for (auto& p : batch) answer(*p, failed);
  }
}

void ServedModel::answer(Pending& p, Outcome outcome) {
  if (p.answered) return;
  p.answered = true;
  if (p.encrypted) {  // (refused before it ran: a plaintext error, nothing of the request in it)
    std::string body = error_body(outcome.error);
    p.encrypted_done.set_value({outcome.status, false, std::vector<uint8_t>(body.begin(), body.end())});
    return;
  }
  p.done.set_value(std::move(outcome));
}

ModelStats ServedModel::stats() const {
  std::lock_guard lk(mu_);
  ModelStats s = stats_;
  s.queue_depth = queue_.size();
  return s;
}

}  // namespace teeinfer::serve
