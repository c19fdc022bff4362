// Runs a network service until SIGTERM or SIGINT: the signals are blocked in every thread
// (call before starting any) and taken by one thread (sigwait), which calls `stop`.
#pragma once

#include <functional>

namespace teeinfer::cli {

// Blocks SIGTERM/SIGINT in this thread and every thread it starts afterwards.
void block_stop_signals();
// Runs `serve` (blocking; true when it stopped cleanly) until a stop signal calls `stop`.
// `name` prefixes the message printed when the signal arrives. Returns what `serve` did.
bool serve_until_stop_signal(const char* name, const std::function<bool()>& serve, const std::function<void()>& stop);

}  // namespace teeinfer::cli
