// LoaderThread: runs the weight-streaming steps of every EnclaveSession::run() on a second
// thread, so decrypting the next layer's weights overlaps the current layer's compute.
//
// Lowering (schedule_loader) marks each loader step with the main-thread step it may overlap
// (Step::loader_start) and reserves its buffers from that step on; this class only
// enforces the order: a loader step starts once the main thread has begun its
// loader_start step, and a main step starts once every loader step listed before it has
// finished. Loader steps run one at a time, in order. An error on the loader (e.g. a
// tampered weight chunk) is rethrown on the main thread.
//
// In an SGX enclave this is a second enclave thread (TCS) entered by the host once.
#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace teeinfer {

class LoaderThread {
 public:
  // `steps`: indices of loader steps in run order; `starts`: their loader_start.
  LoaderThread(std::vector<int> steps, std::vector<int> starts, std::function<void(int step)> work);
  ~LoaderThread();
  LoaderThread(const LoaderThread&) = delete;
  LoaderThread& operator=(const LoaderThread&) = delete;

  void begin_run();
  // Main thread, before main step `step`: lets loader steps that overlap it start, and
  // waits for every loader step listed before it.
  void before_main_step(int step);
  // Waits for the loader to finish the run (also when the main thread failed).
  void end_run();

 private:
  void loop();
  void rethrow_locked();

  std::vector<int> steps_, starts_;
  std::function<void(int)> work_;
  std::mutex mu_;
  std::condition_variable cv_;
  int generation_ = 0;    // runs begun
  int main_begun_ = -1;   // main step the main thread has begun, this run
  size_t done_ = 0;       // loader steps finished, this run
  bool running_ = false;  // the loader is inside a run
  bool abandon_ = false;  // the main thread gave up on this run
  bool stop_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace teeinfer
