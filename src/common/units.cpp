#include "common/units.h"

#include <cctype>
#include <charconv>

#include "common/error.h"

namespace teeinfer {

uint64_t parse_bytes(const std::string& text, const std::string& option) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  std::string digits = text.substr(0, i), fraction;
  if (i < text.size() && text[i] == '.') {  // "9.5MiB": a fraction of the unit
    size_t f = ++i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    fraction = text.substr(f, i - f);
    if (fraction.empty() || fraction.size() > 6)
      throw Error(ErrorCode::kBadArgument, option + ": '" + text + "' is not a size like 4096, 256KiB or 9.5MiB");
  }
  std::string unit = text.substr(i);
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  int shift = -1;
  if (unit.empty() || unit == "b")
    shift = 0;
  else if (unit == "k" || unit == "kb" || unit == "kib")
    shift = 10;
  else if (unit == "m" || unit == "mb" || unit == "mib")
    shift = 20;
  else if (unit == "g" || unit == "gb" || unit == "gib")
    shift = 30;
  if (digits.empty() || digits.size() > 12 || shift < 0 || (!fraction.empty() && shift == 0))
    throw Error(ErrorCode::kBadArgument, option + ": '" + text + "' is not a size like 4096, 256KiB or 9.5MiB");
  uint64_t v = std::stoull(digits);
  if (v > (uint64_t{1} << (62 - shift))) throw Error(ErrorCode::kBadArgument, option + ": '" + text + "' is too large");
  uint64_t part = 0;  // the fraction of one unit, in bytes (rounded down)
  if (!fraction.empty()) {
    uint64_t scale = 1;
    for (size_t k = 0; k < fraction.size(); ++k) scale *= 10;
    part = std::stoull(fraction) * (uint64_t{1} << shift) / scale;
  }
  return (v << shift) + part;
}

std::string format_bytes(uint64_t bytes) {
  auto fixed = [](double v, int digits, const char* unit) {
    char buf[32];
    auto end = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, digits).ptr;
    return std::string(buf, end) + unit;
  };
  if (bytes >= (uint64_t{1} << 30)) return fixed(bytes / 1073741824.0, 2, " GiB");
  if (bytes >= (uint64_t{1} << 20)) return fixed(bytes / 1048576.0, 2, " MiB");
  if (bytes >= 1024) return fixed(bytes / 1024.0, 1, " KiB");
  return std::to_string(bytes) + " B";
}

}  // namespace teeinfer
