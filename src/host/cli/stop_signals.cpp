#include "host/cli/stop_signals.h"

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <thread>

namespace teeinfer::cli {
namespace {

sigset_t stop_signals() {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGTERM);
  sigaddset(&s, SIGINT);
  return s;
}

}  // namespace

void block_stop_signals() {
  sigset_t s = stop_signals();
  pthread_sigmask(SIG_BLOCK, &s, nullptr);
}

bool serve_until_stop_signal(const char* name, const std::function<bool()>& serve, const std::function<void()>& stop) {
  std::thread signals([&] {
    sigset_t s = stop_signals();
    int sig = 0;
    sigwait(&s, &sig);
    std::fprintf(stderr, "%s: %s: finishing the requests already accepted\n", name,
                 sig == SIGTERM ? "SIGTERM" : "SIGINT");
    stop();
  });
  bool ok = serve();
  // serve() returns after stop() (the signal thread), or when the listener failed: then
  // the signal thread is still waiting and is sent the signal it waits for.
  if (!ok) pthread_kill(signals.native_handle(), SIGTERM);
  signals.join();
  return ok;
}

}  // namespace teeinfer::cli
