#include "host/file_io.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "common/error.h"

namespace teeinfer {

std::string read_file(const std::string& path) {
  // One sized read: a stringstream copy of a 500 MB model costs seconds here.
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw Error(ErrorCode::kIo, "cannot open '" + path + "'");
  std::streamoff size = f.tellg();
  if (size < 0) throw Error(ErrorCode::kIo, "cannot size '" + path + "'");
  std::string bytes(static_cast<size_t>(size), '\0');
  f.seekg(0);
  if (!f.read(bytes.data(), size)) throw Error(ErrorCode::kIo, "error reading '" + path + "'");
  return bytes;
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw Error(ErrorCode::kIo, "cannot create '" + tmp + "'");
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    f.flush();
    if (!f) {
      std::remove(tmp.c_str());
      throw Error(ErrorCode::kIo, "error writing '" + tmp + "'");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error(ErrorCode::kIo, "cannot rename '" + tmp + "' to '" + path + "'");
  }
}

}  // namespace teeinfer
