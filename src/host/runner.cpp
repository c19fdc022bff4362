#include "host/runner.h"

#include <omp.h>

#include <algorithm>
#include <chrono>

namespace teeinfer {

double now_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> s) {
  if (s.empty()) return 0;
  std::sort(s.begin(), s.end());
  size_t n = s.size();
  return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

double Timing::median_ms() const {
  return median(samples_ms);
}

double Timing::min_ms() const {
  return samples_ms.empty() ? 0 : *std::min_element(samples_ms.begin(), samples_ms.end());
}

Timing time_runs(EnclaveSession& s, const std::vector<TensorView>& inputs, int warmup, int repeat) {
  for (int i = 0; i < warmup; ++i) s.run(inputs);
  Timing t;
  for (int i = 0; i < repeat; ++i) {
    double t0 = now_ms();
    s.run(inputs);
    t.samples_ms.push_back(now_ms() - t0);
  }
  return t;
}

namespace {
class StepClock : public StepObserver {
 public:
  explicit StepClock(size_t steps) : total(steps, 0.0) {}
  void start() { last = now_ms(); }
  void after_step(size_t step) override {
    double t = now_ms();
    total[step] += t - last;
    last = t;
  }
  std::vector<double> total;
  double last = 0;
};
}  // namespace

std::vector<double> profile_steps(EnclaveSession& s, const std::vector<TensorView>& inputs, int repeat) {
  StepClock clock(s.steps().size());
  s.run(inputs);
  for (int i = 0; i < repeat; ++i) {
    clock.start();
    s.run(inputs, &clock);
  }
  for (double& t : clock.total) t /= std::max(repeat, 1);
  return clock.total;
}

void set_threads(int threads) {
  if (threads > 0) omp_set_num_threads(threads);
}

}  // namespace teeinfer
