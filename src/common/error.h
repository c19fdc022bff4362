// teeinfer's one error type.
//
// Every failure a user can cause (bad model file, bad option, bad input, budget too
// small) is reported as a teeinfer::Error carrying a code and a one-line message that
// names the file / tensor / node / option at fault. Internal invariants use assert.
//
//   if (dims.size() != 4) throw Error(ErrorCode::kBadModel, "Conv '" + name + "': ...");
//
// Nothing throws across HostInterface: the boundary converts to codes (see host_interface.h).
#pragma once

#include <stdexcept>
#include <string>

namespace teeinfer {

enum class ErrorCode {
  kBadArgument,     // a command-line option or API argument is wrong
  kIo,              // a file could not be read or written
  kBadModel,        // a model file is corrupt, truncated or inconsistent
  kUnsupported,     // a valid model uses something teeinfer does not implement
  kBadInput,        // an input tensor/image has the wrong shape, type or content
  kBudgetExceeded,  // the plan does not fit in the secure-memory budget
  kKernel,          // the kernel library refused a primitive
  kTampered,        // data kept in untrusted memory failed authentication at run time
};

const char* error_code_name(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace teeinfer
