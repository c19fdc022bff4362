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

#include "teeinfer/teeinfer.h"  // ErrorCode, Error, error_code_name (the public API's)
