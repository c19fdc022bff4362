// Bounded whole-file reads for untrusted input files (.npy arrays, images, IDX datasets).
//
//   std::string bytes = read_input_file("cat.png", kMaxImageFileBytes, "image");
#pragma once

#include <cstdint>
#include <string>

namespace teeinfer {

// Reads the regular file `path` if it holds at most `max_bytes` bytes; its size is checked
// before anything is allocated. Throws Error(kIo) when it cannot be opened or read and
// Error(kBadInput) when it is not a regular file or is too large, with the message
// "cannot read <what> '<path>': <reason>".
std::string read_input_file(const std::string& path, uint64_t max_bytes, const std::string& what);

}  // namespace teeinfer
