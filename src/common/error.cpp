#include "common/error.h"

namespace teeinfer {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kBadArgument:
      return "bad argument";
    case ErrorCode::kIo:
      return "i/o error";
    case ErrorCode::kBadModel:
      return "bad model";
    case ErrorCode::kUnsupported:
      return "unsupported";
    case ErrorCode::kBadInput:
      return "bad input";
    case ErrorCode::kBudgetExceeded:
      return "budget exceeded";
    case ErrorCode::kKernel:
      return "kernel error";
    case ErrorCode::kTampered:
      return "tampered";
  }
  return "error";
}

}  // namespace teeinfer
