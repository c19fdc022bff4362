#include "host/idx_dataset.h"

#include <zlib.h>

#include <cstring>

#include "common/error.h"
#include "host/input_file.h"

namespace teeinfer {
namespace {

// deflate cannot expand more than 1032:1; zlib may hold a few bytes of input and a pending
// match (<= 258 bytes) inside its state, hence the slack.
constexpr uint64_t kMaxInflateRatio = 1032, kInflateSlack = 65536;

Error bad(const std::string& what, const std::string& why) {
  return Error(ErrorCode::kBadInput, "'" + what + "' " + why);
}

// The bytes of an IDX file in order: the file itself, or a gzip stream inflated on demand,
// so a header can be checked before its data is inflated or allocated.
class IdxReader {
 public:
  IdxReader(std::string_view file, const std::string& what) : file_(file), what_(what) {
    gzip_ = file.size() >= 2 && static_cast<uint8_t>(file[0]) == 0x1f && static_cast<uint8_t>(file[1]) == 0x8b;
    if (!gzip_) return;
    if (file.size() > UINT32_MAX) throw bad(what_, "is too large");
    if (inflateInit2(&z_, 16 + MAX_WBITS) != Z_OK) throw Error(ErrorCode::kIo, "zlib cannot start inflating");
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(file.data()));
    z_.avail_in = static_cast<uInt>(file.size());
  }
  ~IdxReader() {
    if (gzip_) inflateEnd(&z_);
  }
  IdxReader(const IdxReader&) = delete;
  IdxReader& operator=(const IdxReader&) = delete;

  // The most bytes the rest of the file can yield.
  uint64_t max_remaining() const {
    return gzip_ ? uint64_t{z_.avail_in} * kMaxInflateRatio + kInflateSlack : file_.size() - pos_;
  }

  // Exactly n bytes into dst, or throws.
  void read(uint8_t* dst, size_t n, const char* part) {
    if (n == 0) return;  // dst may be the null data() of an empty vector
    if (!gzip_) {
      if (n > file_.size() - pos_) throw truncated(part);
      std::memcpy(dst, file_.data() + pos_, n);
      pos_ += n;
      return;
    }
    z_.next_out = dst;
    z_.avail_out = static_cast<uInt>(n);  // n <= kMaxIdxDataBytes
    while (z_.avail_out > 0) {
      if (ended_) throw truncated(part);
      step();
    }
  }

  // Throws unless the file (and its gzip stream, CRC checked) ends here.
  void expect_end() {
    if (!gzip_) {
      if (pos_ != file_.size()) throw bad(what_, "holds more data than its header declares");
      return;
    }
    uint8_t extra;
    while (!ended_) {
      z_.next_out = &extra;
      z_.avail_out = 1;
      step();
      if (z_.avail_out == 0) throw bad(what_, "holds more data than its header declares");
    }
    if (z_.avail_in != 0) throw bad(what_, "has data after the end of its gzip stream");
  }

 private:
  void step() {
    int ret = inflate(&z_, Z_NO_FLUSH);
    if (ret == Z_STREAM_END) {
      ended_ = true;
    } else if (ret == Z_BUF_ERROR) {  // no progress possible: the input ran out
      throw truncated("gzip stream");
    } else if (ret != Z_OK) {
      throw bad(what_, std::string("is a corrupt gzip file: ") + (z_.msg ? z_.msg : "inflate failed"));
    }
  }
  Error truncated(const char* part) const { return bad(what_, std::string("is truncated (in its ") + part + ")"); }

  std::string_view file_;
  const std::string& what_;
  bool gzip_ = false, ended_ = false;
  size_t pos_ = 0;
  z_stream z_{};
};

uint32_t be32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 | static_cast<uint32_t>(p[2]) << 8 |
         p[3];
}

// Reads and checks the header (magic: two zero bytes, 0x08 = uint8, the number of dims;
// then each dim as a big-endian uint32) and returns the dims. Their product is checked
// against the limit and against what the rest of the file can hold.
std::vector<int64_t> read_header(IdxReader& in, const std::string& what, int want_dims) {
  uint8_t magic[4];
  in.read(magic, 4, "header");
  if (magic[0] != 0 || magic[1] != 0 || magic[2] != 8 || magic[3] != want_dims)
    throw bad(what, "is not an IDX file of " + std::to_string(want_dims) + "-D uint8 data");
  std::vector<uint8_t> raw(4 * static_cast<size_t>(want_dims));
  in.read(raw.data(), raw.size(), "header");
  std::vector<int64_t> dims;
  uint64_t total = 1;
  for (int i = 0; i < want_dims; ++i) {
    uint32_t d = be32(&raw[4 * static_cast<size_t>(i)]);
    dims.push_back(d);
    total *= d;  // <= kMaxIdxDataBytes * 2^32 < 2^64
    if (total > kMaxIdxDataBytes)
      throw bad(what, "declares more than " + std::to_string(kMaxIdxDataBytes) + " bytes of data, the limit");
  }
  if (total > in.max_remaining())
    throw bad(what, "is truncated: its header declares " + std::to_string(total) + " bytes of data");
  return dims;
}

}  // namespace

IdxImages parse_idx_images(std::string_view file, const std::string& what) {
  IdxReader in(file, what);
  std::vector<int64_t> d = read_header(in, what, 3);
  if (d[1] < 1 || d[2] < 1 || d[1] > kMaxIdxImageSide || d[2] > kMaxIdxImageSide || d[1] * d[2] > kMaxIdxImagePixels)
    throw bad(what, "holds images of " + std::to_string(d[1]) + "x" + std::to_string(d[2]) +
                        " pixels (each side must be 1.." + std::to_string(kMaxIdxImageSide) + ", at most " +
                        std::to_string(kMaxIdxImagePixels) + " pixels)");
  IdxImages out{d[0], d[1], d[2], std::vector<uint8_t>(static_cast<size_t>(d[0] * d[1] * d[2]))};
  in.read(out.pixels.data(), out.pixels.size(), "pixels");
  in.expect_end();
  return out;
}

std::vector<uint8_t> parse_idx_labels(std::string_view file, const std::string& what) {
  IdxReader in(file, what);
  std::vector<int64_t> d = read_header(in, what, 1);
  std::vector<uint8_t> labels(static_cast<size_t>(d[0]));
  in.read(labels.data(), labels.size(), "labels");
  in.expect_end();
  return labels;
}

IdxImages read_idx_images(const std::string& path) {
  return parse_idx_images(read_input_file(path, kMaxIdxDataBytes + 64, "dataset"), path);
}

std::vector<uint8_t> read_idx_labels(const std::string& path) {
  return parse_idx_labels(read_input_file(path, kMaxIdxDataBytes + 64, "dataset"), path);
}

}  // namespace teeinfer
