#include "enclave/loader_thread.h"

#include <omp.h>

#include <algorithm>

namespace teeinfer {

LoaderThread::LoaderThread(std::vector<int> steps, std::vector<int> starts, std::function<void(int)> work)
    : steps_(std::move(steps)), starts_(std::move(starts)), work_(std::move(work)), thread_([this] { loop(); }) {}

LoaderThread::~LoaderThread() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void LoaderThread::begin_run() {
  std::lock_guard<std::mutex> lock(mu_);
  ++generation_;
  main_begun_ = -1;
  done_ = 0;
  abandon_ = false;
  error_ = nullptr;
  running_ = true;
  cv_.notify_all();
}

void LoaderThread::rethrow_locked() {
  if (error_) std::rethrow_exception(error_);
}

void LoaderThread::before_main_step(int step) {
  std::unique_lock<std::mutex> lock(mu_);
  main_begun_ = step;
  cv_.notify_all();
  size_t needed = static_cast<size_t>(std::lower_bound(steps_.begin(), steps_.end(), step) - steps_.begin());
  cv_.wait(lock, [&] { return done_ >= needed || error_; });
  rethrow_locked();
}

void LoaderThread::end_run() {
  std::unique_lock<std::mutex> lock(mu_);
  abandon_ = true;  // a loader waiting for a main step that will not come stops
  cv_.notify_all();
  cv_.wait(lock, [&] { return !running_; });
  rethrow_locked();
}

void LoaderThread::loop() {
  omp_set_num_threads(1);  // the main thread's kernels keep the other core
  int seen = 0;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
    if (stop_) return;
    seen = generation_;
    for (size_t k = 0; k < steps_.size(); ++k) {
      cv_.wait(lock, [&] { return main_begun_ >= starts_[k] || abandon_; });
      if (abandon_ && main_begun_ < starts_[k]) break;
      lock.unlock();
      std::exception_ptr failed;
      try {
        work_(steps_[k]);
      } catch (...) {
        failed = std::current_exception();
      }
      lock.lock();
      if (failed) {
        error_ = failed;
        break;
      }
      done_ = k + 1;
      cv_.notify_all();
    }
    running_ = false;
    cv_.notify_all();
  }
}

}  // namespace teeinfer
