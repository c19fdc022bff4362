#include "host/npy.h"

#include <bit>
#include <cstring>
#include <limits>
#include <type_traits>

#include "common/error.h"
#include "host/file_io.h"
#include "host/input_file.h"

namespace teeinfer {
namespace {

constexpr std::string_view kMagic{"\x93NUMPY", 6};
// NumPy itself refuses headers over 10,000 bytes unless told otherwise.
constexpr size_t kMaxHeaderBytes = 65536;
constexpr size_t kMaxDims = 32;
constexpr size_t kMaxDataBytes = kMaxNpyElements * 8;  // the widest dtype is 8 bytes

template <class T>
void convert(const char* src, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, src + i * sizeof(T), sizeof(T));
    out[i] = static_cast<float>(v);
  }
}

void convert_bool(const char* src, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = src[i] != 0 ? 1.f : 0.f;
}

// To int64, exactly: false at the first value that is not a whole number in range.
template <class T>
bool to_integers(const char* src, size_t n, int64_t* out) {
  for (size_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, src + i * sizeof(T), sizeof(T));
    if constexpr (std::is_floating_point_v<T>) {
      // 2^63 is exactly representable; anything at or above it (or NaN) is out of range.
      if (!(v >= -9.2233720368547758e18 && v < 9.2233720368547758e18) || v != static_cast<T>(static_cast<int64_t>(v)))
        return false;
    } else if constexpr (std::is_same_v<T, uint64_t>) {
      if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    }
    out[i] = static_cast<int64_t>(v);
  }
  return true;
}

bool bool_to_integers(const char* src, size_t n, int64_t* out) {
  for (size_t i = 0; i < n; ++i) out[i] = src[i] != 0;
  return true;
}

// A dtype the reader takes: its code without the byte-order character, e.g. "f4".
struct NpyDType {
  std::string_view code;
  size_t item_size;
  void (*convert)(const char*, size_t, float*);
  bool (*to_int64)(const char*, size_t, int64_t*);
};

static_assert(std::endian::native == std::endian::little, "the .npy reader assumes a little-endian host");
constexpr NpyDType kDTypes[] = {
    {"f4", 4, convert<float>, to_integers<float>},       {"f8", 8, convert<double>, to_integers<double>},
    {"i1", 1, convert<int8_t>, to_integers<int8_t>},     {"i2", 2, convert<int16_t>, to_integers<int16_t>},
    {"i4", 4, convert<int32_t>, to_integers<int32_t>},   {"i8", 8, convert<int64_t>, to_integers<int64_t>},
    {"u1", 1, convert<uint8_t>, to_integers<uint8_t>},   {"u2", 2, convert<uint16_t>, to_integers<uint16_t>},
    {"u4", 4, convert<uint32_t>, to_integers<uint32_t>}, {"u8", 8, convert<uint64_t>, to_integers<uint64_t>},
    {"b1", 1, convert_bool, bool_to_integers},
};

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  Dims shape;
};

// The header is the repr of a Python dict, padded with spaces and ended by '\n':
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// This parser takes exactly that grammar: the three keys once each in any order, strings in
// either quote without escapes, True/False, a tuple of non-negative integers (a Python 2
// 'L' suffix allowed), whitespace and trailing commas where Python allows them. Nothing
// else, so no number reaches a conversion that could throw or overflow.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& what) : text_(text), what_(what) {}

  NpyHeader parse() {
    NpyHeader h;
    bool seen_descr = false, seen_order = false, seen_shape = false;
    skip_space();
    expect('{');
    skip_space();
    while (!consume('}')) {
      std::string key = parse_string("a key");
      skip_space();
      expect(':');
      skip_space();
      if (key == "descr") {
        if (seen_descr) throw bad("key 'descr' appears twice");
        seen_descr = true;
        if (peek() != '\'' && peek() != '"')
          throw bad("'descr' is not a simple dtype string (structured arrays are not supported)");
        h.descr = parse_string("'descr'");
      } else if (key == "fortran_order") {
        if (seen_order) throw bad("key 'fortran_order' appears twice");
        seen_order = true;
        h.fortran_order = parse_bool();
      } else if (key == "shape") {
        if (seen_shape) throw bad("key 'shape' appears twice");
        seen_shape = true;
        h.shape = parse_shape();
      } else {
        throw bad("unexpected key '" + key + "'");
      }
      skip_space();
      if (consume(',')) {
        skip_space();
        continue;
      }
      skip_space();
      expect('}');
      break;
    }
    skip_space();
    if (pos_ != text_.size()) throw bad("unexpected text after the header dict");
    if (!seen_descr || !seen_order || !seen_shape)
      throw bad("the header lacks one of 'descr', 'fortran_order', 'shape'");
    return h;
  }

 private:
  Error bad(const std::string& why) const {
    return Error(ErrorCode::kBadInput, "'" + what_ + "' is not a valid .npy file: header: " + why);
  }
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  bool consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!consume(c)) throw bad(std::string("expected '") + c + "' at byte " + std::to_string(pos_));
  }
  void skip_space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }
  bool consume_word(std::string_view w) {
    if (text_.substr(pos_, w.size()) != w) return false;
    pos_ += w.size();
    return true;
  }

  std::string parse_string(const char* role) {
    char quote = peek();
    if (quote != '\'' && quote != '"') throw bad(std::string(role) + " is not a quoted string");
    ++pos_;
    size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      char c = text_[pos_];
      if (c == '\\' || c == '\n' || static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f)
        throw bad(std::string(role) + " holds an unexpected character");
      if (pos_ - start >= 32) throw bad(std::string(role) + " is too long");
      ++pos_;
    }
    if (pos_ == text_.size()) throw bad(std::string(role) + " has no closing quote");
    std::string s(text_.substr(start, pos_ - start));
    ++pos_;
    return s;
  }

  bool parse_bool() {
    if (consume_word("True")) return true;
    if (consume_word("False")) return false;
    throw bad("'fortran_order' is not True or False");
  }

  int64_t parse_dim() {
    if (peek() == '-') throw bad("'shape' has a negative dimension");
    if (peek() < '0' || peek() > '9') throw bad("'shape' holds something other than integers");
    int64_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      int digit = peek() - '0';
      if (v > (std::numeric_limits<int64_t>::max() - digit) / 10) throw bad("a dimension of 'shape' is too large");
      v = v * 10 + digit;
      ++pos_;
    }
    if (peek() == 'L' || peek() == 'l') ++pos_;  // Python 2 longs
    return v;
  }

  // "()", "(3,)", "(2, 3)" or "(2, 3,)"; "(3)" is an integer in Python, not a tuple.
  Dims parse_shape() {
    if (!consume('(')) throw bad("'shape' is not a tuple");
    Dims dims;
    skip_space();
    bool trailing_comma = false;
    while (!consume(')')) {
      if (dims.size() == kMaxDims) throw bad("'shape' has more than " + std::to_string(kMaxDims) + " dimensions");
      dims.push_back(parse_dim());
      skip_space();
      trailing_comma = consume(',');
      skip_space();
      if (!trailing_comma && peek() != ')') throw bad("'shape' is not a tuple of integers");
    }
    if (dims.size() == 1 && !trailing_comma) throw bad("'shape' (n) is not a tuple; NumPy writes (n,)");
    return dims;
  }

  std::string_view text_;
  const std::string& what_;
  size_t pos_ = 0;
};

const NpyDType& find_dtype(const std::string& descr, const std::string& what) {
  auto unsupported = [&](const std::string& why) {
    return Error(ErrorCode::kBadInput, "'" + what + "': unsupported .npy dtype '" + descr + "'" + why +
                                           "; use float32/64, int8/16/32/64, uint8/16/32/64 or bool");
  };
  std::string_view code = descr;
  char order = code.empty() ? '\0' : code[0];
  bool has_order = order == '<' || order == '>' || order == '|' || order == '=';
  if (has_order) code.remove_prefix(1);
  for (const NpyDType& t : kDTypes) {
    if (t.code != code) continue;
    if (order == '>' && t.item_size > 1) throw unsupported(" (big-endian)");
    return t;
  }
  throw unsupported("");
}

uint64_t read_le(std::string_view bytes, size_t at, size_t width) {
  uint64_t v = 0;
  for (size_t i = 0; i < width; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[at + i])) << (8 * i);
  return v;
}

}  // namespace

namespace {

// A parsed .npy: its dims, dtype and data bytes (a view into the file), every size checked.
struct NpyArray {
  Dims dims;
  const NpyDType* dtype = nullptr;
  std::string_view data;
  uint64_t count = 0;
};

NpyArray parse_array(std::string_view bytes, const std::string& what) {
  auto bad = [&](const std::string& why) {
    return Error(ErrorCode::kBadInput, "'" + what + "' is not a valid .npy file: " + why);
  };
  if (bytes.size() < kMagic.size() + 2 || bytes.substr(0, kMagic.size()) != kMagic) throw bad("missing magic");
  uint8_t major = static_cast<uint8_t>(bytes[6]), minor = static_cast<uint8_t>(bytes[7]);
  if (major < 1 || major > 3 || minor != 0)
    throw bad("unknown format version " + std::to_string(major) + "." + std::to_string(minor));
  size_t length_width = major == 1 ? 2 : 4;  // v1: uint16 header length; v2, v3: uint32
  size_t header_at = 8 + length_width;
  if (bytes.size() < header_at) throw bad("truncated header");
  uint64_t header_len = read_le(bytes, 8, length_width);
  if (header_len > kMaxHeaderBytes)
    throw bad("header of " + std::to_string(header_len) + " bytes (the limit is " + std::to_string(kMaxHeaderBytes) +
              ")");
  if (header_len > bytes.size() - header_at) throw bad("truncated header");
  NpyHeader h = HeaderParser(bytes.substr(header_at, header_len), what).parse();
  const NpyDType& dtype = find_dtype(h.descr, what);
  if (h.fortran_order) throw bad("Fortran order is not supported; save a C-ordered array");

  // Each dim is bounded first, so even a shape with a zero dim carries no absurd numbers on.
  uint64_t count = 1;
  for (int64_t d : h.shape) {
    if (static_cast<uint64_t>(d) > kMaxNpyElements)
      throw bad("shape " + dims_to_string(h.shape) + " has a dimension over the limit of " +
                std::to_string(kMaxNpyElements) + " elements");
    count = count * static_cast<uint64_t>(d);  // <= 2^27 * 2^27: no overflow
    if (count > kMaxNpyElements)
      throw bad("shape " + dims_to_string(h.shape) + " holds more than " + std::to_string(kMaxNpyElements) +
                " elements, the limit");
  }
  uint64_t need = count * dtype.item_size;  // <= 2^30: no overflow
  std::string_view data = bytes.substr(header_at + header_len);
  if (data.size() != need)
    throw bad("holds " + std::to_string(data.size()) + " data bytes, shape " + dims_to_string(h.shape) + " of '" +
              h.descr + "' needs " + std::to_string(need));
  return NpyArray{h.shape, &dtype, data, count};
}

}  // namespace

HostTensor parse_npy(std::string_view bytes, const std::string& what) {
  NpyArray a = parse_array(bytes, what);
  HostTensor t{a.dims, std::vector<float>(static_cast<size_t>(a.count))};
  a.dtype->convert(a.data.data(), t.data.size(), t.data.data());
  return t;
}

std::vector<int64_t> parse_npy_integers(std::string_view bytes, const std::string& what, Dims& dims) {
  NpyArray a = parse_array(bytes, what);
  std::vector<int64_t> v(static_cast<size_t>(a.count));
  if (!a.dtype->to_int64(a.data.data(), v.size(), v.data()))
    throw Error(ErrorCode::kBadInput, "'" + what + "' holds a value that is not a whole number in the int64 range");
  dims = a.dims;
  return v;
}

std::vector<int64_t> read_npy_integers(const std::string& path, Dims& dims) {
  return parse_npy_integers(read_input_file(path, kMaxHeaderBytes + 16 + kMaxDataBytes, ".npy file"), path, dims);
}

HostTensor read_npy(const std::string& path) {
  return parse_npy(read_input_file(path, kMaxHeaderBytes + 16 + kMaxDataBytes, ".npy file"), path);
}

// numpy's name for a dtype's little-endian layout.
const char* npy_descr(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "<f4";
    case DType::kI64:
      return "<i8";
    case DType::kI32:
      return "<i4";
    case DType::kU8:
      return "|u1";
    case DType::kS8:
      return "|i1";
    case DType::kBool:
      return "|b1";
  }
  throw Error(ErrorCode::kBadArgument, "npy: unknown dtype");
}

std::string npy_header(const Dims& dims, DType dtype) {
  std::string shape;
  for (int64_t d : dims) shape += std::to_string(d) + ",";
  if (dims.size() > 1) shape.pop_back();
  std::string header =
      std::string("{'descr': '") + npy_descr(dtype) + "', 'fortran_order': False, 'shape': (" + shape + "), }";
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  return out;
}

void write_npy(const std::string& path, const Dims& dims, const float* data) {
  write_npy(path, dims, data, DType::kF32);
}

void write_npy(const std::string& path, const Dims& dims, const void* data, DType dtype) {
  std::string out = npy_header(dims, dtype);
  AtomicFileWriter file(path);  // the data is streamed, not copied after the header
  file.write(out.data(), out.size());
  file.write(data, byte_size(dtype, dims, path));
  file.commit();
}

}  // namespace teeinfer
