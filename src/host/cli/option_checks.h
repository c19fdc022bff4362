// Checks on command-line values that CLI11 would otherwise let through, and on where the
// CLI writes.
//
// CLI11 converts "-1" to an unsigned option by wrapping it (2^64 - 1), reads "010" as
// octal, saturates out-of-range numbers, and accepts "nan" where a float is wanted. Every
// numeric option therefore goes through one of these transforms first:
//
//   cmd->add_option("--model-version", v)->transform(whole_number(0, kMaxVersion));
//   cmd->add_option("--quantile", q)->transform(finite_number(1e-6, 1.0));
#pragma once

#include <CLI/CLI.hpp>
#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "teeinfer/teeinfer.h"

namespace teeinfer::cli {

// Decimal digits only (no sign, no 0x), within [min, max]; passes the value on without
// leading zeros.
CLI::Validator whole_number(uint64_t min, uint64_t max);
// A finite decimal number within [min, max].
CLI::Validator finite_number(double min, double max);

// A size option (parse_size) that must not be zero, e.g. --budget: 0 would read as "no
// limit". Throws Error(kBadArgument) naming `option`.
uint64_t parse_nonzero_bytes(const std::string& text, const std::string& option);
// --max-memory: "" is 0 (the default limit), else a size like 4GiB (not 0).
uint64_t parse_max_memory(const std::string& text);

// The library's errors name the option field at fault (SessionOptions.epc_bytes); on the
// command line the user knows it as a flag (--epc). Rewrites each known field to its flag.
std::string with_flag_names(std::string message);

}  // namespace teeinfer::cli
