// Runs the teeinfer command line from tests.
#pragma once

#include <string>

namespace teeinfer {

struct CliResult {
  int exit_code;
  std::string output;  // stdout and stderr
};

// `args` after the binary, shell-quoted by the caller.
CliResult run_cli(const std::string& args);

}  // namespace teeinfer
