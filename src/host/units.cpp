#include "host/units.h"

#include <cctype>
#include <cstdio>

#include "common/error.h"

namespace teeinfer {

uint64_t parse_bytes(const std::string& text, const std::string& option) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  std::string digits = text.substr(0, i), unit = text.substr(i);
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  int shift = -1;
  if (unit.empty() || unit == "b") shift = 0;
  else if (unit == "k" || unit == "kb" || unit == "kib") shift = 10;
  else if (unit == "m" || unit == "mb" || unit == "mib") shift = 20;
  else if (unit == "g" || unit == "gb" || unit == "gib") shift = 30;
  if (digits.empty() || digits.size() > 12 || shift < 0)
    throw Error(ErrorCode::kBadArgument, option + ": '" + text + "' is not a size like 4096, 256KiB or 16MiB");
  uint64_t v = std::stoull(digits);
  if (v > (uint64_t{1} << (62 - shift))) throw Error(ErrorCode::kBadArgument, option + ": '" + text + "' is too large");
  return v << shift;
}

std::string format_bytes(uint64_t bytes) {
  char buf[32];
  if (bytes >= (uint64_t{1} << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / 1073741824.0);
  else if (bytes >= (uint64_t{1} << 20)) std::snprintf(buf, sizeof buf, "%.2f MiB", bytes / 1048576.0);
  else if (bytes >= 1024) std::snprintf(buf, sizeof buf, "%.1f KiB", bytes / 1024.0);
  else std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  return buf;
}

}  // namespace teeinfer
