#include "host/npy.h"

#include <cstring>
#include <regex>

#include "common/error.h"
#include "host/file_io.h"

namespace teeinfer {
namespace {

template <class T>
void convert(const char* src, size_t n, std::vector<float>& out) {
  out.resize(n);
  for (size_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, src + i * sizeof(T), sizeof(T));
    out[i] = static_cast<float>(v);
  }
}

}  // namespace

HostTensor parse_npy(const std::string& bytes, const std::string& what) {
  auto bad = [&](const std::string& why) {
    return Error(ErrorCode::kBadInput, "'" + what + "' is not a valid .npy file: " + why);
  };
  if (bytes.size() < 10 || std::memcmp(bytes.data(), "\x93NUMPY", 6) != 0) throw bad("missing magic");
  uint8_t major = static_cast<uint8_t>(bytes[6]);
  size_t header_len = 0, header_at = 0;
  if (major == 1) {
    header_len = static_cast<uint8_t>(bytes[8]) | static_cast<uint8_t>(bytes[9]) << 8;
    header_at = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw bad("truncated header");
    for (int i = 0; i < 4; ++i) header_len |= static_cast<size_t>(static_cast<uint8_t>(bytes[8 + i])) << (8 * i);
    header_at = 12;
  } else {
    throw bad("unknown version " + std::to_string(major));
  }
  if (header_at + header_len > bytes.size()) throw bad("truncated header");
  std::string header = bytes.substr(header_at, header_len);
  std::smatch m;
  if (!std::regex_search(header, m, std::regex("'descr'\\s*:\\s*'([<>|=]?)([a-z])(\\d+)'"))) throw bad("no descr");
  std::string order = m[1], kind = m[2];
  int size = std::stoi(m[3]);
  if (order == ">") throw bad("big-endian data");
  if (std::regex_search(header, std::regex("'fortran_order'\\s*:\\s*True"))) throw bad("Fortran order");
  if (!std::regex_search(header, m, std::regex("'shape'\\s*:\\s*\\(([^)]*)\\)"))) throw bad("no shape");
  HostTensor t;
  std::string shape = m[1];
  std::regex num("\\d+");
  for (auto it = std::sregex_iterator(shape.begin(), shape.end(), num); it != std::sregex_iterator(); ++it) {
    if (it->str().size() > 12) throw bad("dimension too large");
    t.dims.push_back(std::stoll(it->str()));
  }
  size_t n = static_cast<size_t>(element_count(t.dims, what));
  const char* data = bytes.data() + header_at + header_len;
  size_t avail = bytes.size() - header_at - header_len;
  if (n > avail / static_cast<size_t>(size) + 1 || n * static_cast<size_t>(size) != avail)
    throw bad("holds " + std::to_string(avail) + " data bytes, shape " + dims_to_string(t.dims) + " needs " +
              std::to_string(n * static_cast<size_t>(size)));
  if (kind == "f" && size == 4)
    convert<float>(data, n, t.data);
  else if (kind == "f" && size == 8)
    convert<double>(data, n, t.data);
  else if (kind == "i" && size == 8)
    convert<int64_t>(data, n, t.data);
  else if (kind == "i" && size == 4)
    convert<int32_t>(data, n, t.data);
  else if (kind == "u" && size == 1)
    convert<uint8_t>(data, n, t.data);
  else
    throw bad("unsupported dtype " + kind + std::to_string(size));
  return t;
}

HostTensor read_npy(const std::string& path) {
  return parse_npy(read_file(path), path);
}

void write_npy(const std::string& path, const Dims& dims, const float* data) {
  std::string shape;
  for (int64_t d : dims) shape += std::to_string(d) + ",";
  if (dims.size() > 1) shape.pop_back();
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + shape + "), }";
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  size_t n = static_cast<size_t>(element_count(dims, path));
  AtomicFileWriter file(path);  // the data is streamed, not copied after the header
  file.write(out.data(), out.size());
  file.write(data, n * sizeof(float));
  file.commit();
}

}  // namespace teeinfer
