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

namespace teeinfer::cli {

// Decimal digits only (no sign, no 0x), within [min, max]; passes the value on without
// leading zeros.
CLI::Validator whole_number(uint64_t min, uint64_t max);
// A finite decimal number within [min, max].
CLI::Validator finite_number(double min, double max);

// A size option (common/units.h) that must not be zero, e.g. --budget: 0 would read as
// "no limit". Throws Error(kBadArgument) naming `option`.
uint64_t parse_nonzero_bytes(const std::string& text, const std::string& option);

// 32 hex digits (the sealed header's model id, as `inspect` shows it). Throws
// Error(kBadArgument) naming `option`.
std::array<uint8_t, 16> parse_model_id(const std::string& text, const std::string& option);

}  // namespace teeinfer::cli
