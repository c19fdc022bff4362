// Parsing sizes given on the command line: "4096", "256KiB", "16MiB", "1GiB" (also KB/MB/GB
// as powers of 1024, and K/M/G). Throws Error(kBadArgument) naming the option.
#pragma once

#include <cstdint>
#include <string>

namespace teeinfer {

uint64_t parse_bytes(const std::string& text, const std::string& option);
std::string format_bytes(uint64_t bytes);  // "1.50 MiB"

}  // namespace teeinfer
