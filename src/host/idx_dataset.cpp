#include "host/idx_dataset.h"

#include <zlib.h>

#include "common/error.h"

namespace teeinfer {
namespace {

// zlib reads plain and gzip files alike.
std::string read_maybe_gzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw Error(ErrorCode::kIo, "cannot open dataset '" + path + "'");
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  bool failed = n < 0;
  gzclose(f);
  if (failed) throw Error(ErrorCode::kIo, "corrupt compressed dataset '" + path + "'");
  return out;
}

uint32_t be32(const std::string& s, size_t at) {
  return static_cast<uint32_t>(static_cast<uint8_t>(s[at])) << 24 |
         static_cast<uint32_t>(static_cast<uint8_t>(s[at + 1])) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(s[at + 2])) << 8 | static_cast<uint8_t>(s[at + 3]);
}

std::vector<int64_t> parse_header(const std::string& s, const std::string& path, int want_dims) {
  if (s.size() < 4 || s[0] != 0 || s[1] != 0 || s[2] != 8 || s[3] != want_dims)
    throw Error(ErrorCode::kBadInput,
                "'" + path + "' is not an IDX file of " + std::to_string(want_dims) + "-D uint8 data");
  size_t header = 4 + 4 * static_cast<size_t>(want_dims);
  if (s.size() < header) throw Error(ErrorCode::kBadInput, "'" + path + "' is truncated");
  std::vector<int64_t> dims;
  uint64_t total = 1;
  for (int i = 0; i < want_dims; ++i) {
    dims.push_back(be32(s, 4 + 4 * static_cast<size_t>(i)));
    total *= static_cast<uint64_t>(dims.back());
    if (total > s.size()) break;
  }
  if (total != s.size() - header) throw Error(ErrorCode::kBadInput, "'" + path + "' size does not match its header");
  return dims;
}

}  // namespace

IdxImages read_idx_images(const std::string& path) {
  std::string s = read_maybe_gzip(path);
  auto d = parse_header(s, path, 3);
  IdxImages out{d[0], d[1], d[2], std::vector<uint8_t>(s.begin() + 16, s.end())};
  return out;
}

std::vector<uint8_t> read_idx_labels(const std::string& path) {
  std::string s = read_maybe_gzip(path);
  parse_header(s, path, 1);
  return std::vector<uint8_t>(s.begin() + 8, s.end());
}

}  // namespace teeinfer
