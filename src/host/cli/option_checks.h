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
#include <limits>
#include <map>
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

inline constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();
inline constexpr uint64_t kMaxI64 = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

// --conv-algorithm: auto | direct | winograd (the same on run, eval and plan).
void add_conv_algorithm_option(CLI::App* cmd, std::string& value);
ConvAlgorithm conv_algorithm(const std::string& value);

// --input-shape on run and eval: one shape per input ([NAME=]DIMS, no sets), by name ("" for
// a model's only input); empty if the option was not given.
std::map<std::string, Dims> one_shape(const std::vector<std::string>& specs);
// Its help text on pack and plan, which take sets of shapes.
inline constexpr const char* kShapeProfilesHelp =
    "input dims, e.g. 1x3x224x224, a set of shapes as 1x3x48x{192,320,640} or {1,8}x3x224x224, or NAME=DIMS "
    "(repeat for each input of a model with several; inputs with sets vary together)";

// --max-memory's help text, the same on every command that reads a model.
inline constexpr const char* kMaxMemoryHelp =
    "host memory an ONNX model may take: the most for any one tensor, and for all its constants together, e.g. "
    "4GiB (default: 8x the model file, at least 1 GiB)";

}  // namespace teeinfer::cli
