#include "host/cli/option_checks.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string_view>

namespace teeinfer::cli {

CLI::Validator whole_number(uint64_t min, uint64_t max) {
  std::string range = "[" + std::to_string(min) + ", " + std::to_string(max) + "]";
  return CLI::Validator(
      [min, max, range](std::string& text) -> std::string {
        std::string error = "'" + text + "' is not a whole number in " + range;
        if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return error;
        size_t first = text.find_first_not_of('0');
        std::string digits = first == std::string::npos ? "0" : text.substr(first);
        uint64_t v = 0;
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
        if (ec != std::errc() || end != digits.data() + digits.size() || v < min || v > max) return error;
        text = digits;  // CLI11 then reads it with base detection: no leading zero, no octal
        return {};
      },
      "INT in " + range);
}

CLI::Validator finite_number(double min, double max) {
  char range[64];
  std::snprintf(range, sizeof range, "[%g, %g]", min, max);
  return CLI::Validator(
      [min, max, range = std::string(range)](std::string& text) -> std::string {
        std::string error = "'" + text + "' is not a number in " + range;
        if (text.empty() || text.find_first_not_of("0123456789.eE+-") != std::string::npos) return error;
        char* end = nullptr;
        double v = std::strtod(text.c_str(), &end);
        if (end != text.c_str() + text.size() || !std::isfinite(v) || v < min || v > max) return error;
        return {};
      },
      "FLOAT in " + std::string(range));
}

uint64_t parse_nonzero_bytes(const std::string& text, const std::string& option) {
  uint64_t bytes = parse_size(text, option);
  if (bytes == 0) throw Error(ErrorCode::kBadArgument, option + ": '" + text + "' is zero; give a size like 16MiB");
  return bytes;
}

uint64_t parse_max_memory(const std::string& text) {
  return text.empty() ? 0 : parse_nonzero_bytes(text, "--max-memory");
}

std::string with_flag_names(std::string message) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 5> kFlags{{
      {"SessionOptions.epc_bytes", "--epc"},
      {"PackOptions.calibration", "--calibrate"},
      {"PackOptions.quantize", "--quantize"},
      {"PackOptions.cluster", "--cluster"},
      {"OpenOptions.model_id", "--model-id"},
  }};
  for (const auto& [field, flag] : kFlags)
    for (size_t at = message.find(field); at != std::string::npos; at = message.find(field, at + flag.size()))
      message.replace(at, field.size(), flag);
  return message;
}

}  // namespace teeinfer::cli

namespace teeinfer::cli {

void add_conv_algorithm_option(CLI::App* cmd, std::string& value) {
  cmd->add_option("--conv-algorithm", value,
                  "3x3 stride-1 convolutions with resident weights: auto (Winograd where it measures faster on this "
                  "CPU, timed once per process), direct, or winograd (wherever oneDNN has a Winograd kernel)")
      ->check(CLI::IsMember({"auto", "direct", "winograd"}))
      ->capture_default_str();
}

ConvAlgorithm conv_algorithm(const std::string& value) {
  if (value == "direct") return ConvAlgorithm::kDirect;
  if (value == "winograd") return ConvAlgorithm::kWinograd;
  return ConvAlgorithm::kAuto;
}

std::map<std::string, Dims> one_shape(const std::vector<std::string>& specs) {
  if (specs.empty()) return {};
  auto profiles = parse_shape_profiles(specs, "--input-shape");
  if (profiles.size() != 1)
    throw Error(ErrorCode::kBadArgument,
                "--input-shape: one shape per input here (sets of shapes are for pack and plan)");
  return profiles[0];
}

}  // namespace teeinfer::cli
