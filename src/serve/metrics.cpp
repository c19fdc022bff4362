#include "serve/metrics.h"

#include <algorithm>
#include <cstdio>

namespace teeinfer::serve {

namespace {

// Model names are checked to be [A-Za-z0-9_.-] (model_config.h): no label escaping needed.
std::string label(const std::string& model) {
  return "model=\"" + model + "\"";
}

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

void Metrics::count_request(const std::string& model, int status, double seconds) {
  std::lock_guard lk(mu_);
  ++requests_[{model, status}];
  if (model.empty()) return;
  Latency& l = latency_[model];
  for (size_t i = 0; i < kLatencyBuckets.size(); ++i)
    if (seconds <= kLatencyBuckets[i]) ++l.buckets[i];
  ++l.count;
  l.sum += seconds;
}

std::string Metrics::render(const std::vector<ModelView>& models, uint64_t secure_memory_bytes) const {
  std::string out;
  {
    std::lock_guard lk(mu_);
    header(out, "teeinfer_requests_total", "counter", "HTTP requests answered, by model and status code.");
    for (const auto& [key, n] : requests_)
      out += "teeinfer_requests_total{" + label(key.first) + ",code=\"" + std::to_string(key.second) + "\"} " +
             std::to_string(n) + "\n";
    header(out, "teeinfer_request_duration_seconds", "histogram", "Time from a request's arrival to its answer.");
    for (const auto& [model, l] : latency_) {
      for (size_t i = 0; i < kLatencyBuckets.size(); ++i)
        out += "teeinfer_request_duration_seconds_bucket{" + label(model) + ",le=\"" + number(kLatencyBuckets[i]) +
               "\"} " + std::to_string(l.buckets[i]) + "\n";
      out += "teeinfer_request_duration_seconds_bucket{" + label(model) + ",le=\"+Inf\"} " + std::to_string(l.count) +
             "\n";
      out += "teeinfer_request_duration_seconds_sum{" + label(model) + "} " + number(l.sum) + "\n";
      out += "teeinfer_request_duration_seconds_count{" + label(model) + "} " + std::to_string(l.count) + "\n";
    }
  }
  auto gauge = [&](const char* name, const char* type, const char* help, auto value) {
    header(out, name, type, help);
    for (const ModelView& m : models)
      out += std::string(name) + "{" + label(m.name) + "} " + std::to_string(value(m)) + "\n";
  };
  gauge("teeinfer_queue_depth", "gauge", "Requests queued for a model.",
        [](const ModelView& m) { return m.stats.queue_depth; });
  gauge("teeinfer_runs_total", "counter", "Batches run.", [](const ModelView& m) { return m.stats.runs; });
  gauge("teeinfer_encrypted_requests_total", "counter", "End-to-end encrypted requests run (inside Enclave::answer).",
        [](const ModelView& m) { return m.stats.encrypted_requests; });
  header(out, "teeinfer_run_seconds_total", "counter", "Time inside Session::run, all runs together.");
  for (const ModelView& m : models)
    out += "teeinfer_run_seconds_total{" + label(m.name) + "} " + number(m.stats.run_seconds) + "\n";
  gauge("teeinfer_samples_total", "counter", "Samples run (requests' batch dims added up).",
        [](const ModelView& m) { return m.stats.samples_run; });
  gauge("teeinfer_padded_samples_total", "counter", "Zero samples added to fill a run size the model has.",
        [](const ModelView& m) { return m.stats.padded_samples; });
  gauge("teeinfer_sessions_built_total", "counter", "Sessions planned and loaded (a new run size or shape).",
        [](const ModelView& m) { return m.stats.sessions_built; });
  gauge("teeinfer_weight_bytes_decrypted_total", "counter", "Weight bytes decrypted inside the trusted core by runs.",
        [](const ModelView& m) { return m.stats.bytes_decrypted; });
  gauge("teeinfer_epc_faults_total", "counter", "Emulated EPC page faults (--tee sim).",
        [](const ModelView& m) { return m.stats.faults; });
  gauge("teeinfer_epc_evictions_total", "counter", "Emulated EPC pages evicted (--tee sim).",
        [](const ModelView& m) { return m.stats.evictions; });
  gauge("teeinfer_secure_memory_share_bytes", "gauge", "The model's share of the secure-memory budget (0: no limit).",
        [](const ModelView& m) { return m.share_bytes; });
  gauge("teeinfer_secure_memory_min_bytes", "gauge", "The smallest share the model runs in at its largest batch.",
        [](const ModelView& m) { return m.min_budget_bytes; });
  gauge("teeinfer_arena_bytes", "gauge", "The arenas of the model's live sessions (one per run size or shape in use).",
        [](const ModelView& m) { return m.stats.arena_bytes; });
  gauge("teeinfer_arena_peak_bytes", "gauge",
        "The most arena the model's live sessions held together (at most its share).",
        [](const ModelView& m) { return m.stats.arena_peak_bytes; });
  header(out, "teeinfer_batch_size", "histogram", "Run sizes (samples per run, padding included).");
  for (const ModelView& m : models) {
    uint64_t total = 0, cumulative = 0, sum = 0;
    for (const auto& [size, n] : m.stats.batch_sizes) total += n, sum += n * static_cast<uint64_t>(size);
    for (int64_t le : {1, 2, 4, 8, 16, 32, 64, 128}) {
      cumulative = 0;
      for (const auto& [size, n] : m.stats.batch_sizes)
        if (size <= le) cumulative += n;
      out += "teeinfer_batch_size_bucket{" + label(m.name) + ",le=\"" + std::to_string(le) + "\"} " +
             std::to_string(cumulative) + "\n";
    }
    out += "teeinfer_batch_size_bucket{" + label(m.name) + ",le=\"+Inf\"} " + std::to_string(total) + "\n";
    out += "teeinfer_batch_size_sum{" + label(m.name) + "} " + std::to_string(sum) + "\n";
    out += "teeinfer_batch_size_count{" + label(m.name) + "} " + std::to_string(total) + "\n";
  }
  header(
      out, "teeinfer_run_size_ms", "gauge",
      "One run of each run size, timed before serving; preferred=\"1\" for the sizes batches use (faster per sample).");
  for (const ModelView& m : models)
    for (const auto& [size, ms] : m.stats.run_ms) {
      bool used = std::find(m.stats.preferred_sizes.begin(), m.stats.preferred_sizes.end(), size) !=
                  m.stats.preferred_sizes.end();
      out += "teeinfer_run_size_ms{" + label(m.name) + ",size=\"" + std::to_string(size) + "\",preferred=\"" +
             (used ? "1" : "0") + "\"} " + number(ms) + "\n";
    }
  header(out, "teeinfer_secure_memory_budget_bytes", "gauge",
         "The server's secure-memory budget (--epc/--budget; 0: none).");
  out += "teeinfer_secure_memory_budget_bytes " + std::to_string(secure_memory_bytes) + "\n";
  return out;
}

}  // namespace teeinfer::serve
