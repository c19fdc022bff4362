#include "cli_runner.h"

#include <sys/wait.h>

#include <cstdio>

namespace teeinfer {

CliResult run_cli(const std::string& args) {
  CliResult r{-1, ""};
  FILE* p = popen((std::string(TEEINFER_BINARY_DIR) + "/teeinfer " + args + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) r.output.append(buf, n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

}  // namespace teeinfer
