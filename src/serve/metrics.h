// What `GET /metrics` serves, in Prometheus' text exposition format (version 0.0.4):
// requests by model and status code, request latency, and every served model's queue,
// batches, decryption, EPC pager and secure-memory share.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "serve/served_model.h"

namespace teeinfer::serve {

class Metrics {
 public:
  // One finished request to a model ("" for requests that named none) with its status.
  void count_request(const std::string& model, int status, double seconds);

  struct ModelView {
    std::string name;
    ModelStats stats;
    uint64_t share_bytes = 0, min_budget_bytes = 0;
  };
  // The text for /metrics: the counters above plus `models` as they are now.
  std::string render(const std::vector<ModelView>& models, uint64_t secure_memory_bytes) const;

  static constexpr std::array<double, 14> kLatencyBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                             0.25,  0.5,    1,     2.5,  5,     10,   30};

 private:
  struct Latency {
    std::array<uint64_t, kLatencyBuckets.size()> buckets{};
    uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, Latency> latency_;
};

}  // namespace teeinfer::serve
