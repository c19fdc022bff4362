// Whole-file reads and atomic writes for host code.
#pragma once

#include <string>

namespace teeinfer {

// Throws Error(kIo) naming the path.
std::string read_file(const std::string& path);
// Writes `path.tmp.<pid>` then renames it over `path`, so readers never see half a file.
void write_file_atomic(const std::string& path, const std::string& bytes);

}  // namespace teeinfer
