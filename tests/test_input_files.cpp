// The untrusted input-file readers: .npy arrays, images (PNG, JPEG, BMP) and IDX datasets.
// Every file is generated here: valid ones of each accepted kind (decoded values checked),
// and hostile ones (each defect found in review, every rejected format, truncations, limits).
#include <gtest/gtest.h>
#include <png.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>

// jpeglib.h needs <cstdio> first.
#include <jpeglib.h>

// The reference for "decodes as before": stb_image, as image.cpp used it, on trusted files
// written by this test. stb_image_resize comes from teeinfer_host.
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_ONLY_JPEG
#include <stb_image.h>
#include <stb_image_resize.h>

#include "cli_runner.h"
#include "common/error.h"
#include "host/calibration.h"
#include "host/file_io.h"
#include "host/idx_dataset.h"
#include "host/image.h"
#include "host/input_file.h"
#include "host/npy.h"

using namespace teeinfer;

namespace {

const std::string kSrc = TEEINFER_SOURCE_DIR;
const std::string kGreyModel = kSrc + "/models/fmnist_vgg.onnx";                // {1,1,28,28}
const std::string kRgbModel = kSrc + "/tests/models/squeezenet1_1_small.onnx";  // {1,3,64,64}

std::string temp_path(const std::string& name) {
  return std::string(TEEINFER_BINARY_DIR) + "/tests/tmp_inputs_" + name;
}

std::string write_temp(const std::string& name, const std::string& bytes) {
  std::string path = temp_path(name);
  write_file_atomic(path, bytes);
  return path;
}

int lines(const std::string& s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

// The CLI contract: exit 1 and a one-line message holding `needle`.
void expect_cli_rejects(const std::string& args, const std::string& needle) {
  CliResult r = run_cli(args);
  EXPECT_EQ(r.exit_code, 1) << args << "\n" << r.output;
  EXPECT_EQ(lines(r.output), 1) << r.output;
  EXPECT_NE(r.output.find(needle), std::string::npos) << r.output;
}

// The same under `ulimit -v 4194304` (not in sanitizer builds: ASan reserves terabytes).
void expect_cli_rejects_within_4gib(const std::string& args, const std::string& needle) {
#if defined(TEEINFER_ADDRESS_SANITIZER)
  expect_cli_rejects(args, needle);
#else
  std::string command = "ulimit -v 4194304 && exec " + std::string(TEEINFER_BINARY_DIR) + "/teeinfer " + args + " 2>&1";
  FILE* p = popen(command.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string output;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) output.append(buf, n);
  int status = pclose(p);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << args << "\n" << output;
  EXPECT_EQ(lines(output), 1) << output;
  EXPECT_NE(output.find(needle), std::string::npos) << output;
#endif
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

#define EXPECT_ERROR_HAS(expr, needle)                               \
  do {                                                               \
    std::string message_ = error_of([&] { (void)(expr); });          \
    EXPECT_NE(message_.find(needle), std::string::npos) << message_; \
  } while (0)

void append_le(std::string& s, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
}
void append_be(std::string& s, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) s += static_cast<char>((v >> (8 * i)) & 0xff);
}

// ---- .npy ---------------------------------------------------------------------------------

// A .npy file with `header` as its dict text (padded as NumPy pads it) and `data` after it.
std::string npy_file(const std::string& header, const std::string& data, int version = 1) {
  std::string h = header;
  size_t prefix = version == 1 ? 10 : 12;
  h.append((64 - (prefix + h.size() + 1) % 64) % 64, ' ');
  h += '\n';
  std::string out("\x93NUMPY", 6);
  out += static_cast<char>(version);
  out += '\0';
  append_le(out, h.size(), version == 1 ? 2 : 4);
  return out + h + data;
}

std::string npy_dict(const std::string& descr, const std::string& shape, const std::string& order = "False") {
  return "{'descr': '" + descr + "', 'fortran_order': " + order + ", 'shape': " + shape + ", }";
}

template <class T>
std::string raw_bytes(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// Review finding: '<f0' divided by the zero item size (SIGFPE).
TEST(Npy, ZeroItemSizeIsRejected) {
  std::string f = npy_file(npy_dict("<f0", "(3,)"), "");
  EXPECT_ERROR_HAS(parse_npy(f, "f0.npy"), "unsupported .npy dtype '<f0'");
  expect_cli_rejects("run " + kGreyModel + " --input " + write_temp("f0.npy", f), "'<f0'");
}

// Review finding: '<f99999999999' escaped std::stoi as std::out_of_range ("internal error").
TEST(Npy, HugeItemSizeIsRejectedAsBadInput) {
  std::string f = npy_file(npy_dict("<f99999999999", "(3,)"), std::string(12, '\0'));
  EXPECT_ERROR_HAS(parse_npy(f, "huge.npy"), "unsupported .npy dtype");
  expect_cli_rejects("run " + kGreyModel + " --input " + write_temp("f_huge.npy", f), "unsupported .npy dtype");
  // Digits that overflow any integer in the shape, too.
  std::string dims = npy_file(npy_dict("<f4", "(99999999999999999999999,)"), "");
  EXPECT_ERROR_HAS(parse_npy(dims, "dims.npy"), "too large");
  expect_cli_rejects("run " + kGreyModel + " --input " + write_temp("dims_huge.npy", dims), "too large");
}

TEST(Npy, EverySupportedDtypeReadsItsValues) {
  auto check = [](const std::string& descr, const std::string& data, const std::vector<float>& want) {
    std::string shape = std::to_string(want.size());  // not "(" + to_string(): a GCC 12 -Wrestrict false positive
    HostTensor t = parse_npy(npy_file(npy_dict(descr, shape.insert(0, 1, '(') + ",)"), data), descr);
    EXPECT_EQ(t.dims, (Dims{static_cast<int64_t>(want.size())})) << descr;
    EXPECT_EQ(t.data, want) << descr;
  };
  check("<f4", raw_bytes(std::vector<float>{1.5f, -2.f}), {1.5f, -2.f});
  check("<f8", raw_bytes(std::vector<double>{0.25, -1e3}), {0.25f, -1000.f});
  check("|i1", raw_bytes(std::vector<int8_t>{-128, 127}), {-128.f, 127.f});
  check("<i2", raw_bytes(std::vector<int16_t>{-300, 300}), {-300.f, 300.f});
  check("<i4", raw_bytes(std::vector<int32_t>{-70000, 5}), {-70000.f, 5.f});
  check("<i8", raw_bytes(std::vector<int64_t>{-(int64_t{1} << 40), 7}), {-1099511627776.f, 7.f});
  check("|u1", raw_bytes(std::vector<uint8_t>{0, 255}), {0.f, 255.f});
  check("<u2", raw_bytes(std::vector<uint16_t>{65535, 1}), {65535.f, 1.f});
  check("<u4", raw_bytes(std::vector<uint32_t>{4000000000u, 2}), {4e9f, 2.f});
  check("<u8", raw_bytes(std::vector<uint64_t>{1u << 20, 3}), {1048576.f, 3.f});
  check("|b1", raw_bytes(std::vector<uint8_t>{0, 1, 1}), {0.f, 1.f, 1.f});
  check("f4", raw_bytes(std::vector<float>{3.f}), {3.f});   // no byte-order character
  check("=f4", raw_bytes(std::vector<float>{4.f}), {4.f});  // native
  check(">u1", raw_bytes(std::vector<uint8_t>{9}), {9.f});  // byte order is moot for one byte
}

TEST(Npy, HeaderVariantsNumPyWrites) {
  std::string two = raw_bytes(std::vector<float>{1.f, 2.f, 3.f, 4.f, 5.f, 6.f});
  for (int version : {1, 2, 3}) {
    HostTensor t = parse_npy(npy_file(npy_dict("<f4", "(2, 3)"), two, version), "v");
    EXPECT_EQ(t.dims, (Dims{2, 3})) << version;
  }
  // Keys in any order, double quotes, no trailing comma, Python 2 longs, a scalar, empty arrays.
  EXPECT_EQ(parse_npy(npy_file("{\"shape\": (2L, 3L), \"fortran_order\": False, \"descr\": \"<f4\"}", two), "q").dims,
            (Dims{2, 3}));
  HostTensor scalar = parse_npy(npy_file(npy_dict("<f4", "()"), raw_bytes(std::vector<float>{7.f})), "s");
  EXPECT_TRUE(scalar.dims.empty());
  EXPECT_EQ(scalar.data, std::vector<float>{7.f});
  EXPECT_TRUE(parse_npy(npy_file(npy_dict("<f8", "(0, 5)"), ""), "e").data.empty());
  // write_npy's own files read back.
  std::string path = temp_path("roundtrip.npy");
  std::vector<float> v{1, 2, 3, 4, 5, 6};
  for (const Dims& d : {Dims{6}, Dims{2, 3}, Dims{1, 1, 2, 3}}) {
    write_npy(path, d, v.data());
    HostTensor t = read_npy(path);
    EXPECT_EQ(t.dims, d);
    EXPECT_EQ(t.data, v);
  }
}

TEST(Npy, MalformedHeadersAreRejected) {
  std::string four = raw_bytes(std::vector<float>{1, 2, 3, 4});
  struct Case {
    std::string header, needle;
  };
  const Case cases[] = {
      {npy_dict(">f4", "(4,)"), "big-endian"},
      {npy_dict("<c8", "(2,)"), "unsupported .npy dtype '<c8'"},
      {npy_dict("<f2", "(8,)"), "unsupported .npy dtype '<f2'"},
      {npy_dict("|O", "(2,)"), "unsupported .npy dtype '|O'"},
      {npy_dict("<U1", "(4,)"), "unsupported .npy dtype"},
      {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (4,), }", "structured"},
      {npy_dict("<f4", "(2, 2)", "True"), "Fortran order"},
      {npy_dict("<f4", "(4,)", "1"), "True or False"},
      {"{'descr': '<f4', 'shape': (4,), }", "lacks"},
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (4,)}", "twice"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'extra': 1}", "unexpected key 'extra'"},
      {npy_dict("<f4", "(-4,)"), "negative"},
      {npy_dict("<f4", "(4)"), "not a tuple"},
      {npy_dict("<f4", "[4]"), "not a tuple"},
      {npy_dict("<f4", "(4,,)"), "integers"},
      {npy_dict("<f4", "(2 2)"), "not a tuple of integers"},
      {npy_dict("<f4", "(0x4,)"), "not a tuple of integers"},
      {npy_dict("<f4", "(4,") + "", "integers"},
      {npy_dict("<f4", "(4,)") + " garbage", "after the header dict"},
      {"{'descr': '<f4\\x00', 'fortran_order': False, 'shape': (4,)}", "unexpected character"},
      {"{'descr': '<f4, 'fortran_order': False, 'shape': (4,)}", "expected '}'"},
      {"{'descr' '<f4', 'fortran_order': False, 'shape': (4,)}", "expected ':'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (4,)", "expected '}'"},
      {"", "expected '{'"},
      {"{'descr': '" + std::string(40, 'f') + "', 'fortran_order': False, 'shape': (4,)}", "too long"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.header);
    EXPECT_ERROR_HAS(parse_npy(npy_file(c.header, four), "bad.npy"), c.needle);
  }
  // More dims than NumPy allows.
  std::string many = "(";
  for (int i = 0; i < 33; ++i) many += "1, ";
  EXPECT_ERROR_HAS(parse_npy(npy_file(npy_dict("<f4", many + ")"), raw_bytes(std::vector<float>{1})), "many"),
                   "more than 32 dimensions");
}

TEST(Npy, MagicVersionAndHeaderLengthAreChecked) {
  std::string good = npy_file(npy_dict("<f4", "(1,)"), raw_bytes(std::vector<float>{1}));
  EXPECT_NO_THROW(parse_npy(good, "good"));
  EXPECT_ERROR_HAS(parse_npy("", "empty"), "missing magic");
  EXPECT_ERROR_HAS(parse_npy(std::string("\x93NUMPY\x01", 7), "short"), "missing magic");
  EXPECT_ERROR_HAS(parse_npy(std::string("\x93NUMPY\x01\x00\x10", 9), "short"), "truncated header");
  std::string v4 = good, minor = good;
  v4[6] = 4;
  minor[7] = 1;
  EXPECT_ERROR_HAS(parse_npy(v4, "v4"), "version 4.0");
  EXPECT_ERROR_HAS(parse_npy(minor, "minor"), "version 1.1");
  std::string long_header = good;
  long_header[8] = '\xff';
  long_header[9] = '\x7f';  // 32767 header bytes: more than the file
  EXPECT_ERROR_HAS(parse_npy(long_header, "long"), "truncated header");
  std::string v2(std::string("\x93NUMPY\x02\x00", 8));
  append_le(v2, 0xfffffff0u, 4);  // 4 GiB header
  EXPECT_ERROR_HAS(parse_npy(v2 + "{}", "v2"), "the limit is");
}

TEST(Npy, DataSizeIsCheckedAgainstShapeAndLimitBeforeAllocating) {
  std::string four = raw_bytes(std::vector<float>{1, 2, 3, 4});
  EXPECT_ERROR_HAS(parse_npy(npy_file(npy_dict("<f4", "(5,)"), four), "short"), "holds 16 data bytes");
  EXPECT_ERROR_HAS(parse_npy(npy_file(npy_dict("<f4", "(3,)"), four), "long"), "needs 12");
  EXPECT_ERROR_HAS(parse_npy(npy_file(npy_dict("<f8", "(4,)"), four), "f8"), "needs 32");
  EXPECT_ERROR_HAS(parse_npy(npy_file(npy_dict("|u1", "(2,)"), four), "u1"), "needs 2");
  // Shapes whose products overflow 64 bits, or exceed the element limit, with little data.
  EXPECT_ERROR_HAS(parse_npy(npy_file(npy_dict("<f4", "(4294967296, 4294967296, 16)"), four), "ovf"), "over the limit");
  EXPECT_ERROR_HAS(parse_npy(npy_file(npy_dict("<f4", "(65536, 65536, 65536)"), four), "ovf"), "more than");
  EXPECT_ERROR_HAS(parse_npy(npy_file(npy_dict("|u1", "(16384, 16385)"), four), "big"), "the limit");
  // A zero dim beside an absurd one is refused too: no absurd number flows on.
  EXPECT_ERROR_HAS(parse_npy(npy_file(npy_dict("<f4", "(0, 9223372036854775807)"), ""), "zero"), "over the limit");
}

TEST(Npy, EveryTruncationAndByteFlipIsHandled) {
  std::string good = npy_file(npy_dict("<i2", "(2, 3)"), raw_bytes(std::vector<int16_t>{1, 2, 3, 4, 5, 6}), 2);
  for (size_t n = 0; n < good.size(); ++n) EXPECT_THROW(parse_npy(good.substr(0, n), "cut"), Error) << n;
  std::mt19937 rng(7);
  for (int i = 0; i < 3000; ++i) {
    std::string bad = good;
    bad[rng() % bad.size()] = static_cast<char>(rng());
    try {
      parse_npy(bad, "flip");
    } catch (const Error&) {
    }
  }
}

TEST(Npy, FileReadsAreBoundedAndRegularFilesOnly) {
  EXPECT_ERROR_HAS(read_npy("/nonexistent/x.npy"), "cannot read .npy file '/nonexistent/x.npy'");
  EXPECT_ERROR_HAS(read_npy(std::string(TEEINFER_BINARY_DIR)), "not a regular file");
  // A sparse file larger than any .npy the reader takes: refused by its size, before reading.
  std::string big = temp_path("sparse.npy");
  {
    FILE* f = std::fopen(big.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(ftruncate(fileno(f), off_t{3} << 30), 0);
    std::fclose(f);
  }
  EXPECT_ERROR_HAS(read_npy(big), "more than the limit");
  std::remove(big.c_str());
  std::string fifo = temp_path("fifo.npy");
  std::remove(fifo.c_str());
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_ERROR_HAS(read_npy(fifo), "not a regular file");  // and does not block waiting for a writer
  std::remove(fifo.c_str());
}

// ---- images: writers ----------------------------------------------------------------------

void png_chunk(std::string& out, const char* type, const std::string& data) {
  append_be(out, data.size(), 4);
  std::string body = std::string(type, 4) + data;
  out += body;
  append_be(out, crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size())), 4);
}

std::string zlib_compress(const std::string& raw) {
  uLongf n = compressBound(static_cast<uLong>(raw.size()));
  std::string out(n, '\0');
  compress2(reinterpret_cast<Bytef*>(out.data()), &n, reinterpret_cast<const Bytef*>(raw.data()),
            static_cast<uLong>(raw.size()), 9);
  out.resize(n);
  return out;
}

struct PngSpec {
  int64_t width, height;
  int bit_depth, color_type;            // PNG_COLOR_TYPE_*
  std::vector<uint16_t> samples;        // width * height * channels, row-major
  std::string palette = {}, trns = {};  // PLTE / tRNS chunk bodies
  bool interlaced = false;
};

int png_channels(int color_type) {
  switch (color_type) {
    case PNG_COLOR_TYPE_GRAY:
    case PNG_COLOR_TYPE_PALETTE:
      return 1;
    case PNG_COLOR_TYPE_GRAY_ALPHA:
      return 2;
    case PNG_COLOR_TYPE_RGB:
      return 3;
    default:
      return 4;
  }
}

// Filter-0 scanlines of the pixels in columns x0, x0+dx, ... of rows y0, y0+dy, ...
std::string png_scanlines(const PngSpec& s, int64_t x0, int64_t y0, int64_t dx, int64_t dy) {
  int ch = png_channels(s.color_type);
  std::string raw;
  for (int64_t y = y0; y < s.height; y += dy) {
    raw += '\0';
    uint32_t acc = 0;
    int bits = 0;
    for (int64_t x = x0; x < s.width; x += dx)
      for (int c = 0; c < ch; ++c) {
        uint16_t v = s.samples[static_cast<size_t>((y * s.width + x) * ch + c)];
        if (s.bit_depth == 16) {
          append_be(raw, v, 2);
          continue;
        }
        acc = acc << s.bit_depth | v;
        bits += s.bit_depth;
        if (bits == 8) {
          raw += static_cast<char>(acc);
          acc = 0;
          bits = 0;
        }
      }
    if (bits) raw += static_cast<char>(acc << (8 - bits));
  }
  return raw;
}

std::string png_file(const PngSpec& s) {
  std::string out = "\x89PNG\r\n\x1a\n", ihdr;
  append_be(ihdr, s.width, 4);
  append_be(ihdr, s.height, 4);
  ihdr += static_cast<char>(s.bit_depth);
  ihdr += static_cast<char>(s.color_type);
  ihdr += std::string("\0\0", 2);
  ihdr += static_cast<char>(s.interlaced ? 1 : 0);
  png_chunk(out, "IHDR", ihdr);
  if (!s.palette.empty()) png_chunk(out, "PLTE", s.palette);
  if (!s.trns.empty()) png_chunk(out, "tRNS", s.trns);
  png_chunk(out, "tEXt", std::string("Comment\0made by test_input_files", 32));
  std::string raw;
  if (!s.interlaced) {
    raw = png_scanlines(s, 0, 0, 1, 1);
  } else {
    const int64_t adam7[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                                 {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};
    for (const auto& p : adam7)
      if (p[0] < s.width && p[1] < s.height) raw += png_scanlines(s, p[0], p[1], p[2], p[3]);
  }
  png_chunk(out, "IDAT", zlib_compress(raw));
  png_chunk(out, "IEND", "");
  return out;
}

// A w x h image whose channels vary over it (so a mix-up of rows, columns or channels shows).
std::vector<uint16_t> pattern(int64_t w, int64_t h, int channels, int max_value) {
  std::vector<uint16_t> v;
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c)
        v.push_back(static_cast<uint16_t>((x * 37 + y * 91 + c * 53 + x * y * 7) % (max_value + 1)));
  return v;
}

struct BmpSpec {
  int64_t width, height;  // height < 0: top-down
  int bits;
  std::vector<uint8_t> rgb;  // width * |height| * 3, top row first
  uint32_t compression = 0, info_size = 40, colours_used = 0;
};

// 8-bit: a grey palette of 256 entries, each pixel its G value.
std::string bmp_file(const BmpSpec& s) {
  int64_t h = s.height < 0 ? -s.height : s.height;
  int64_t stride = (s.width * s.bits + 31) / 32 * 4;
  uint32_t palette = s.bits == 8 ? 4 * (s.colours_used ? s.colours_used : 256) : 0;
  uint32_t offset = 14 + s.info_size + palette;
  std::string out = "BM";
  append_le(out, offset + stride * h, 4);
  append_le(out, 0, 4);
  append_le(out, offset, 4);
  append_le(out, s.info_size, 4);
  append_le(out, static_cast<uint32_t>(s.width), 4);
  append_le(out, static_cast<uint32_t>(s.height), 4);
  append_le(out, 1, 2);
  append_le(out, s.bits, 2);
  append_le(out, s.compression, 4);
  append_le(out, stride * h, 4);
  append_le(out, 2835, 4);
  append_le(out, 2835, 4);
  append_le(out, s.colours_used, 4);
  append_le(out, 0, 4);
  out.append(s.info_size - 40, '\0');
  for (uint32_t i = 0; i < palette / 4; ++i) append_le(out, i * 0x010101u, 4);
  for (int64_t row = 0; row < h; ++row) {
    int64_t y = s.height < 0 ? row : h - 1 - row;  // the file's row order
    std::string line;
    for (int64_t x = 0; x < s.width; ++x) {
      const uint8_t* p = &s.rgb[static_cast<size_t>((y * s.width + x) * 3)];
      if (s.bits == 8) {
        line += static_cast<char>(p[1]);
      } else {
        line += static_cast<char>(p[2]);
        line += static_cast<char>(p[1]);
        line += static_cast<char>(p[0]);
        if (s.bits == 32) line += '\x7f';
      }
    }
    line.resize(static_cast<size_t>(stride), '\0');
    out += line;
  }
  return out;
}

struct JpegOptions {
  int quality = 95;
  bool progressive = false;
  int scans = 0;  // > 0: a progressive script of this many scans (colour images)
};

std::string jpeg_file(int width, int height, int channels, const std::vector<uint8_t>& pixels, JpegOptions o = {}) {
  jpeg_compress_struct c{};
  jpeg_error_mgr err{};
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &buf, &size);
  c.image_width = static_cast<JDIMENSION>(width);
  c.image_height = static_cast<JDIMENSION>(height);
  c.input_components = channels;
  c.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, o.quality, TRUE);
  std::vector<jpeg_scan_info> script;
  if (o.progressive) jpeg_simple_progression(&c);
  if (o.scans > 0) {
    // DC of all components, then each AC coefficient of each component in its own scan.
    script.push_back({3, {0, 1, 2, 0}, 0, 0, 0, 0});
    for (int k = 1; k < 64 && static_cast<int>(script.size()) < o.scans; ++k)
      for (int comp = 0; comp < 3 && static_cast<int>(script.size()) < o.scans; ++comp)
        script.push_back({1, {comp, 0, 0, 0}, k, k, 0, 0});
    c.scan_info = script.data();
    c.num_scans = static_cast<int>(script.size());
  }
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    auto* row = const_cast<JSAMPROW>(&pixels[static_cast<size_t>(c.next_scanline) * width * channels]);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  std::string out(reinterpret_cast<char*>(buf), size);
  jpeg_destroy_compress(&c);
  std::free(buf);
  return out;
}

// Four flat quadrants of distinct colours: JPEG keeps flat areas close.
std::vector<uint8_t> quadrants(int w, int h, int channels) {
  const uint8_t colours[4][3] = {{200, 30, 30}, {30, 200, 30}, {30, 30, 200}, {220, 220, 220}};
  std::vector<uint8_t> v;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const uint8_t* c = colours[(y >= h / 2) * 2 + (x >= w / 2)];
      if (channels == 1)
        v.push_back(static_cast<uint8_t>((c[0] * 77 + c[1] * 150 + c[2] * 29) >> 8));
      else
        v.insert(v.end(), c, c + 3);
    }
  return v;
}

// 16 distinct RGB colours.
std::string palette16() {
  std::string p;
  for (int i = 0; i < 16; ++i) p += {static_cast<char>(i * 16), static_cast<char>(255 - i * 8), static_cast<char>(i)};
  return p;
}

// What the old loader (stb_image, then the same resize and normalisation) produced.
std::vector<float> stb_reference(const std::string& bytes, const Dims& dims, const Normalization& norm) {
  int c = static_cast<int>(dims[1]), h = static_cast<int>(dims[2]), w = static_cast<int>(dims[3]);
  int iw = 0, ih = 0, ic = 0;
  stbi_uc* px = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), static_cast<int>(bytes.size()),
                                      &iw, &ih, &ic, c);
  EXPECT_NE(px, nullptr);
  if (!px) return {};
  std::vector<unsigned char> resized(static_cast<size_t>(w) * h * c);
  stbir_resize_uint8(px, iw, ih, 0, resized.data(), w, h, 0, c);
  stbi_image_free(px);
  std::vector<float> out(resized.size());
  for (int ch = 0; ch < c; ++ch) {
    float mean = norm.mean.size() == 1 ? norm.mean[0] : norm.mean[ch];
    float sd = norm.std.size() == 1 ? norm.std[0] : norm.std[ch];
    for (int i = 0; i < h * w; ++i)
      out[static_cast<size_t>(ch) * h * w + i] = (resized[static_cast<size_t>(i) * c + ch] / 255.f - mean) / sd;
  }
  return out;
}

std::vector<uint8_t> luma(const std::vector<uint8_t>& rgb) {
  std::vector<uint8_t> g;
  for (size_t i = 0; i + 2 < rgb.size(); i += 3)
    g.push_back(static_cast<uint8_t>((rgb[i] * 77 + rgb[i + 1] * 150 + rgb[i + 2] * 29) >> 8));
  return g;
}

std::vector<uint8_t> to8(const std::vector<uint16_t>& v, int shift = 0) {
  std::vector<uint8_t> out;
  for (uint16_t x : v) out.push_back(static_cast<uint8_t>(x >> shift));
  return out;
}

// ---- images: accepted formats -------------------------------------------------------------

TEST(Image, PngOfEveryColourTypeDecodesExactly) {
  const int64_t w = 13, h = 7;  // odd sizes: padding and Adam7 passes of every shape
  std::vector<uint16_t> grey = pattern(w, h, 1, 255), rgb = pattern(w, h, 3, 255), rgba = pattern(w, h, 4, 255);
  std::vector<uint16_t> ga = pattern(w, h, 2, 255);
  auto drop_alpha = [](const std::vector<uint16_t>& v, int ch) {
    std::vector<uint16_t> out;
    for (size_t i = 0; i < v.size(); ++i)
      if (i % ch != static_cast<size_t>(ch - 1)) out.push_back(v[i]);
    return out;
  };
  for (bool interlaced : {false, true}) {
    SCOPED_TRACE(interlaced ? "interlaced" : "progressive rows");
    auto decode = [&](const PngSpec& s, int channels) {
      PngSpec t = s;
      t.interlaced = interlaced;
      ImagePixels p = decode_image_pixels(png_file(t), "t.png", channels);
      EXPECT_EQ(p.width, w);
      EXPECT_EQ(p.height, h);
      EXPECT_EQ(p.channels, channels);
      return p.data;
    };
    EXPECT_EQ(decode({w, h, 8, PNG_COLOR_TYPE_GRAY, grey}, 1), to8(grey));
    EXPECT_EQ(decode({w, h, 8, PNG_COLOR_TYPE_RGB, rgb}, 3), to8(rgb));
    EXPECT_EQ(decode({w, h, 8, PNG_COLOR_TYPE_RGB, rgb}, 1), luma(to8(rgb)));
    EXPECT_EQ(decode({w, h, 8, PNG_COLOR_TYPE_RGBA, rgba}, 3), to8(drop_alpha(rgba, 4)));
    EXPECT_EQ(decode({w, h, 8, PNG_COLOR_TYPE_GRAY_ALPHA, ga}, 1), to8(drop_alpha(ga, 2)));
    std::vector<uint8_t> grey3;
    for (uint16_t g : grey) grey3.insert(grey3.end(), 3, static_cast<uint8_t>(g));
    EXPECT_EQ(decode({w, h, 8, PNG_COLOR_TYPE_GRAY, grey}, 3), grey3);
    // 16-bit keeps the high byte.
    std::vector<uint16_t> grey16 = pattern(w, h, 1, 65535), rgb16 = pattern(w, h, 3, 65535);
    EXPECT_EQ(decode({w, h, 16, PNG_COLOR_TYPE_GRAY, grey16}, 1), to8(grey16, 8));
    EXPECT_EQ(decode({w, h, 16, PNG_COLOR_TYPE_RGB, rgb16}, 3), to8(rgb16, 8));
    // 1-bit grey expands to 0/255; 4-bit to v * 17.
    std::vector<uint16_t> bits = pattern(w, h, 1, 1), nibbles = pattern(w, h, 1, 15);
    std::vector<uint8_t> want_bits, want_nibbles;
    for (uint16_t b : bits) want_bits.push_back(b ? 255 : 0);
    for (uint16_t n : nibbles) want_nibbles.push_back(static_cast<uint8_t>(n * 17));
    EXPECT_EQ(decode({w, h, 1, PNG_COLOR_TYPE_GRAY, bits}, 1), want_bits);
    EXPECT_EQ(decode({w, h, 4, PNG_COLOR_TYPE_GRAY, nibbles}, 1), want_nibbles);
    // Palette (4-bit indices), with and without tRNS: the palette's colours.
    std::string palette = palette16();
    std::vector<uint8_t> want_palette;
    for (uint16_t n : nibbles)
      want_palette.insert(want_palette.end(),
                          {static_cast<uint8_t>(n * 16), static_cast<uint8_t>(255 - n * 8), static_cast<uint8_t>(n)});
    EXPECT_EQ(decode({w, h, 4, PNG_COLOR_TYPE_PALETTE, nibbles, palette}, 3), want_palette);
    EXPECT_EQ(decode({w, h, 4, PNG_COLOR_TYPE_PALETTE, nibbles, palette, std::string(16, '\x40')}, 3), want_palette);
  }
}

TEST(Image, BmpOfEachDepthAndRowOrderDecodesExactly) {
  const int64_t w = 5, h = 3;  // 15-byte rows: padded to 16
  std::vector<uint8_t> rgb = to8(pattern(w, h, 3, 255));
  for (int bits : {24, 32}) {
    for (int64_t height : {h, -h}) {
      ImagePixels p = decode_image_pixels(bmp_file({w, height, bits, rgb}), "t.bmp", 3);
      EXPECT_EQ(p.width, w);
      EXPECT_EQ(p.height, h);
      EXPECT_EQ(p.data, rgb) << bits << " bits, height " << height;
    }
  }
  // Later info-header versions (V4: 108 bytes, V5: 124) read the same.
  for (uint32_t info : {108u, 124u}) {
    BmpSpec s{w, h, 24, rgb};
    s.info_size = info;
    EXPECT_EQ(decode_image_pixels(bmp_file(s), "v.bmp", 3).data, rgb) << info;
  }
  // 8-bit palette: the writer makes a grey palette of each pixel's G value.
  std::vector<uint8_t> greys;
  for (size_t i = 1; i < rgb.size(); i += 3) greys.push_back(rgb[i]);
  EXPECT_EQ(decode_image_pixels(bmp_file({w, h, 8, rgb}), "p.bmp", 1).data, greys);
  std::vector<uint8_t> small = rgb;
  for (size_t i = 0; i < small.size(); ++i) small[i] %= 40;
  BmpSpec forty{w, h, 8, small};
  forty.colours_used = 40;
  std::vector<uint8_t> small_greys;
  for (size_t i = 1; i < small.size(); i += 3) small_greys.push_back(small[i]);
  EXPECT_EQ(decode_image_pixels(bmp_file(forty), "p40.bmp", 1).data, small_greys);
}

TEST(Image, JpegDecodesWithinTolerance) {
  for (int channels : {1, 3}) {
    for (JpegOptions o : {JpegOptions{}, JpegOptions{95, true, 0}}) {
      std::vector<uint8_t> src = quadrants(32, 24, channels);
      std::string f = jpeg_file(32, 24, channels, src, o);
      ImagePixels p = decode_image_pixels(f, "t.jpg", channels);
      ASSERT_EQ(p.data.size(), src.size());
      // Away from the edges between quadrants (which ring), the flat colours come back.
      for (int y : {4, 20})
        for (int x : {6, 26})
          for (int c = 0; c < channels; ++c) {
            size_t at = static_cast<size_t>((y * 32 + x) * channels + c);
            EXPECT_NEAR(p.data[at], src[at], 6) << channels << " channels, x " << x << " y " << y;
          }
      // And close to what stb_image decoded before.
      Dims dims{1, channels, 24, 32};
      Normalization n = Normalization::for_channels(channels);
      std::vector<float> ref = stb_reference(f, dims, n), got = decode_image(f, "t.jpg", dims, n).data;
      ASSERT_EQ(ref.size(), got.size());
      for (size_t i = 0; i < ref.size(); ++i) EXPECT_NEAR(got[i], ref[i], 0.1f) << i;
    }
  }
}

// The resize and normalisation are unchanged: on PNG and BMP files, decode_image gives
// exactly what stb_image plus the same resize gave.
TEST(Image, PngAndBmpTensorsMatchTheOldLoaderExactly) {
  const int64_t w = 19, h = 11;
  std::vector<std::string> files = {
      png_file({w, h, 8, PNG_COLOR_TYPE_GRAY, pattern(w, h, 1, 255)}),
      png_file({w, h, 8, PNG_COLOR_TYPE_RGB, pattern(w, h, 3, 255)}),
      png_file({w, h, 8, PNG_COLOR_TYPE_RGBA, pattern(w, h, 4, 255)}),
      png_file({w, h, 16, PNG_COLOR_TYPE_RGB, pattern(w, h, 3, 65535)}),
      bmp_file({w, h, 24, to8(pattern(w, h, 3, 255))}),
      bmp_file({w, -h, 32, to8(pattern(w, h, 3, 255))}),
      bmp_file({w, h, 8, to8(pattern(w, h, 3, 255))}),
      png_file({w, h, 4, PNG_COLOR_TYPE_PALETTE, pattern(w, h, 1, 15), palette16()}),
      read_file(kSrc + "/models/sample_0_ankle_boot.png"),
      read_file(kSrc + "/tests/data/shirt.png"),
  };
  for (size_t i = 0; i < files.size(); ++i) {
    for (const Dims& dims : {Dims{1, 1, 28, 28}, Dims{1, 3, 8, 6}, Dims{1, 3, 40, 33}}) {
      Normalization n = Normalization::for_channels(dims[1]);
      EXPECT_EQ(decode_image(files[i], "f", dims, n).data, stb_reference(files[i], dims, n))
          << "file " << i << " to " << dims_to_string(dims);
    }
  }
}

TEST(Image, FormatIsChosenByContentNotName) {
  std::vector<uint16_t> grey = pattern(4, 4, 1, 255);
  std::string png = write_temp("really_a_png.jpg", png_file({4, 4, 8, PNG_COLOR_TYPE_GRAY, grey}));
  EXPECT_EQ(load_image(png, {1, 1, 4, 4}, Normalization::half()).dims, (Dims{1, 1, 4, 4}));
  std::string bmp = write_temp("really_a_bmp.png", bmp_file({4, 4, 24, to8(pattern(4, 4, 3, 255))}));
  EXPECT_NO_THROW(load_image(bmp, {1, 3, 4, 4}, Normalization::imagenet()));
}

// ---- images: rejected ---------------------------------------------------------------------

// Review finding: a 16-bit PNM named .png reached stb_image's PNM decoder, which reads past
// its buffer (ASan heap-buffer-overflow); the old loader "decoded" it on an RGB model.
TEST(Image, SixteenBitPnmNamedPngIsRejected) {
  std::string pnm("P5 1 1 65535\n\x01\x02", 15);
  EXPECT_ERROR_HAS(decode_image_pixels(pnm, "x.png", 3), "unsupported image format (PNM); use PNG, JPEG or BMP");
  expect_cli_rejects("run " + kRgbModel + " --input " + write_temp("pnm16.png", pnm), "unsupported image format");
}

TEST(Image, OtherFormatsAreRejectedByName) {
  const std::pair<std::string, std::string> cases[] = {
      {"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "(GIF)"},
      {"P6\n1 1\n255\n\x01\x02\x03", "(PNM)"},
      {"8BPS\x00\x01", "(PSD)"},
      {"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 1 +X 1\n\x01\x01\x01\x80", "(HDR)"},
      {std::string("II*\0\x08\0\0\0", 8), "(TIFF)"},
      {std::string("RIFF\x10\0\0\0WEBPVP8 ", 16), "(WebP)"},
      {std::string("\x53\x80\xf6\x34", 4) + std::string(88, '\0') + "PICT", "unsupported image format;"},
      {std::string("\0\0\x02\0\0\0\0\0\0\0\0\0\x01\0\x01\0\x18\0\x01\x02\x03", 21), "unsupported image format;"},
      {"\x93NUMPY\x01\x00", "(a .npy array"},
      {"", "unsupported image format;"},
      {"\x89PN", "unsupported image format;"},
  };
  for (const auto& [file, needle] : cases) {
    const std::string& bytes = file;  // (clang 14 lambdas cannot capture structured bindings)
    EXPECT_ERROR_HAS(decode_image_pixels(bytes, "x.png", 3), needle);
    EXPECT_ERROR_HAS(decode_image_pixels(bytes, "x.png", 3), "use PNG, JPEG or BMP");
  }
  expect_cli_rejects("run " + kGreyModel + " --input " + write_temp("gif.png", cases[0].first),
                     "unsupported image format (GIF)");
}

TEST(Image, UnsupportedBmpVariantsAreRejected) {
  std::vector<uint8_t> rgb = to8(pattern(4, 2, 3, 255));
  auto with = [&](auto change) {
    std::string f = bmp_file({4, 2, 24, rgb});
    change(f);
    return f;
  };
  auto set32 = [](std::string& f, size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) f[at + i] = static_cast<char>(v >> (8 * i));
  };
  auto set16 = [](std::string& f, size_t at, uint16_t v) {
    f[at] = static_cast<char>(v);
    f[at + 1] = static_cast<char>(v >> 8);
  };
  const std::pair<std::string, std::string> cases[] = {
      {with([&](std::string& f) { set32(f, 30, 1); }), "compressed BMP (compression 1)"},  // RLE8
      {with([&](std::string& f) { set32(f, 30, 3); }), "compressed BMP (compression 3)"},  // BITFIELDS
      {with([&](std::string& f) { set16(f, 28, 16); }), "16-bit BMP"},
      {with([&](std::string& f) { set16(f, 28, 4); }), "4-bit BMP"},
      {with([&](std::string& f) { set16(f, 28, 1); }), "1-bit BMP"},
      {with([&](std::string& f) { set32(f, 14, 12); }), "12-byte info header"},  // OS/2
      {with([&](std::string& f) { set16(f, 26, 2); }), "2 planes"},
      {with([&](std::string& f) { set32(f, 22, 0); }), "empty image"},
      {with([&](std::string& f) { set32(f, 18, 0xffffffff); }), "empty image"},
      {with([&](std::string& f) { set32(f, 22, 0x80000000u); }), "larger than the limit"},
      {with([&](std::string& f) { set32(f, 18, 20000); }), "larger than the limit"},
      {with([&](std::string& f) {
         set32(f, 18, 16384);
         set32(f, 22, 16384);
       }),
       "larger than the limit"},
      {with([&](std::string& f) { set32(f, 18, 5); }), "truncated BMP pixel data"},
      {with([&](std::string& f) { set32(f, 10, 0xfffffff0u); }), "truncated BMP pixel data"},
      {with([&](std::string& f) { set32(f, 10, 20); }), "truncated BMP pixel data"},
  };
  for (const auto& [file, needle] : cases) {
    const std::string& bytes = file;  // (clang 14 lambdas cannot capture structured bindings)
    EXPECT_ERROR_HAS(decode_image_pixels(bytes, "x.bmp", 3), needle);
  }
  BmpSpec few{4, 2, 8, rgb};
  few.colours_used = 4;  // pixels use indices far above 3
  EXPECT_ERROR_HAS(decode_image_pixels(bmp_file(few), "x.bmp", 1), "-colour palette");
  std::string many = bmp_file({4, 2, 8, rgb});
  set32(many, 46, 300);
  EXPECT_ERROR_HAS(decode_image_pixels(many, "x.bmp", 1), "palette of 300 colours");
  std::string palette_past_data = bmp_file({4, 2, 8, rgb});
  set32(palette_past_data, 10, 14 + 40 + 16);  // pixels said to start inside the palette
  EXPECT_ERROR_HAS(decode_image_pixels(palette_past_data, "x.bmp", 1), "truncated BMP palette");
}

TEST(Image, SizeLimitsAreCheckedOnTheHeader) {
  auto png_header_only = [](uint32_t w, uint32_t h) {
    std::string out = "\x89PNG\r\n\x1a\n", ihdr;
    append_be(ihdr, w, 4);
    append_be(ihdr, h, 4);
    ihdr += std::string("\x08\x02\0\0\0", 5);
    png_chunk(out, "IHDR", ihdr);
    png_chunk(out, "IDAT", zlib_compress(std::string(100, '\0')));
    png_chunk(out, "IEND", "");
    return out;
  };
  EXPECT_ERROR_HAS(decode_image_pixels(png_header_only(16385, 1), "w.png", 3), "larger than the limit");
  EXPECT_ERROR_HAS(decode_image_pixels(png_header_only(1, 16385), "h.png", 3), "larger than the limit");
  EXPECT_ERROR_HAS(decode_image_pixels(png_header_only(0x7fffffff, 1), "w.png", 3), "corrupt PNG");
  EXPECT_ERROR_HAS(decode_image_pixels(png_header_only(16384, 16384), "wh.png", 3), "larger than the limit");
  // Within the limits, but far more pixels than a 200-byte file can hold.
  EXPECT_ERROR_HAS(decode_image_pixels(png_header_only(8000, 8000), "bomb.png", 3), "too small for an image");
  EXPECT_ERROR_HAS(decode_image_pixels(png_header_only(0, 5), "zero.png", 3), "corrupt PNG");
  // JPEG: patch the SOF0 dims of a valid file.
  std::string jpeg = jpeg_file(8, 8, 3, quadrants(8, 8, 3));
  size_t sof = jpeg.find("\xff\xc0");
  ASSERT_NE(sof, std::string::npos);
  auto with_dims = [&](uint16_t w, uint16_t h) {
    std::string f = jpeg;
    f[sof + 5] = static_cast<char>(h >> 8);
    f[sof + 6] = static_cast<char>(h);
    f[sof + 7] = static_cast<char>(w >> 8);
    f[sof + 8] = static_cast<char>(w);
    return f;
  };
  EXPECT_ERROR_HAS(decode_image_pixels(with_dims(65535, 65535), "big.jpg", 3), "corrupt JPEG");
  EXPECT_ERROR_HAS(decode_image_pixels(with_dims(20000, 20000), "big.jpg", 3), "larger than the limit");
  EXPECT_ERROR_HAS(decode_image_pixels(with_dims(16384, 8192), "big.jpg", 3), "larger than the limit");
  EXPECT_ERROR_HAS(decode_image_pixels(with_dims(16000, 4000), "bomb.jpg", 3), "too small for an image");
  // The model side: at most 16384 per side.
  std::string ok = png_file({2, 2, 8, PNG_COLOR_TYPE_GRAY, pattern(2, 2, 1, 255)});
  EXPECT_ERROR_HAS(decode_image(ok, "ok.png", {1, 1, 16385, 2}, Normalization::half()), "larger than an image");
  EXPECT_ERROR_HAS(decode_image(ok, "ok.png", {1, 3, 16384, 16384}, Normalization::half()), "larger than an image");
  EXPECT_ERROR_HAS(decode_image(ok, "ok.png", {1, 3, -1, 2}, Normalization::half()), "{1,1|3,H,W}");
  EXPECT_ERROR_HAS(decode_image(ok, "ok.png", {1, 2, 2, 2}, Normalization::half()), "{1,1|3,H,W}");
}

TEST(Image, JpegKindsWeRefuse) {
  std::vector<uint8_t> rgb = quadrants(16, 16, 3);
  JpegOptions many;
  many.scans = 150;
  EXPECT_ERROR_HAS(decode_image_pixels(jpeg_file(16, 16, 3, rgb, many), "scans.jpg", 3), "more than 100 scans");
  JpegOptions fifty;
  fifty.scans = 50;
  EXPECT_NO_THROW(decode_image_pixels(jpeg_file(16, 16, 3, rgb, fifty), "50scans.jpg", 3));
  // CMYK: patch the component count is not enough for a valid file; write one with libjpeg.
  jpeg_compress_struct c{};
  jpeg_error_mgr err{};
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &buf, &size);
  c.image_width = c.image_height = 8;
  c.input_components = 4;
  c.in_color_space = JCS_CMYK;
  jpeg_set_defaults(&c);
  jpeg_start_compress(&c, TRUE);
  std::vector<uint8_t> cmyk(8 * 4, 100);
  while (c.next_scanline < 8) {
    JSAMPROW row = cmyk.data();
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  std::string f(reinterpret_cast<char*>(buf), size);
  jpeg_destroy_compress(&c);
  std::free(buf);
  EXPECT_ERROR_HAS(decode_image_pixels(f, "cmyk.jpg", 3), "4 components");
  // Arithmetic coding.
  c = {};
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  buf = nullptr;
  size = 0;
  jpeg_mem_dest(&c, &buf, &size);
  c.image_width = c.image_height = 16;
  c.input_components = 3;
  c.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c);
  c.arith_code = TRUE;
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < 16) {
    auto* row = const_cast<JSAMPROW>(&rgb[c.next_scanline * 16 * 3]);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  std::string arith(reinterpret_cast<char*>(buf), size);
  jpeg_destroy_compress(&c);
  std::free(buf);
  EXPECT_ERROR_HAS(decode_image_pixels(arith, "arith.jpg", 3), "arithmetic-coded");
}

TEST(Image, EveryTruncationIsRejected) {
  const std::pair<std::string, std::string> files[] = {
      {"png", png_file({6, 5, 8, PNG_COLOR_TYPE_RGB, pattern(6, 5, 3, 255)})},
      {"interlaced png",
       [] {
         PngSpec s{6, 5, 8, PNG_COLOR_TYPE_RGB, pattern(6, 5, 3, 255)};
         s.interlaced = true;
         return png_file(s);
       }()},
      {"jpeg", jpeg_file(16, 16, 3, quadrants(16, 16, 3))},
      {"progressive jpeg", jpeg_file(16, 16, 3, quadrants(16, 16, 3), {90, true, 0})},
      {"bmp", bmp_file({6, 5, 24, to8(pattern(6, 5, 3, 255))})},
      {"bmp8", bmp_file({6, 5, 8, to8(pattern(6, 5, 3, 255))})},
  };
  for (const auto& [kind, f] : files) {
    ASSERT_NO_THROW(decode_image_pixels(f, kind, 3)) << kind;
    for (size_t n = 0; n < f.size(); ++n)
      EXPECT_THROW(decode_image_pixels(std::string_view(f).substr(0, n), kind, 3), Error) << kind << " cut at " << n;
  }
}

TEST(Image, CorruptBytesGiveErrorsNotCrashes) {
  std::string png = png_file({6, 5, 8, PNG_COLOR_TYPE_RGB, pattern(6, 5, 3, 255)});
  std::string bad_crc = png;
  bad_crc[bad_crc.find("IDAT") + 6] ^= 0x55;
  EXPECT_ERROR_HAS(decode_image_pixels(bad_crc, "crc.png", 3), "corrupt PNG");
  std::string jpeg = jpeg_file(16, 16, 3, quadrants(16, 16, 3));
  // Stray bytes before a marker leave the pixels intact (libjpeg warns and skips them);
  // a corrupt entropy-coded segment does not.
  std::string stray = jpeg;
  stray.insert(stray.size() - 2, "\x12\x34");
  EXPECT_EQ(decode_image_pixels(stray, "stray.jpg", 3).data, decode_image_pixels(jpeg, "ok.jpg", 3).data);
  std::string bad_code = jpeg;
  size_t sos = bad_code.rfind("\xff\xda");
  ASSERT_NE(sos, std::string::npos);
  for (size_t i = sos + 14; i < bad_code.size() - 2; ++i) bad_code[i] = '\xfe';
  EXPECT_ERROR_HAS(decode_image_pixels(bad_code, "code.jpg", 3), "corrupt JPEG");
  std::mt19937 rng(11);
  int rejected = 0;
  for (const std::string& good : {png, jpeg, bmp_file({6, 5, 8, to8(pattern(6, 5, 3, 255))})}) {
    for (int i = 0; i < 600; ++i) {
      std::string bad = good;
      for (int k = 0; k < 3; ++k) bad[rng() % bad.size()] = static_cast<char>(rng());
      try {
        decode_image(bad, "flip", {1, 3, 8, 8}, Normalization::imagenet());
      } catch (const Error&) {
        ++rejected;
      }
    }
  }
  EXPECT_GT(rejected, 0);
}

TEST(Image, CliReadsEachFormatAndRejectsBadFilesInOneLine) {
  std::vector<uint8_t> grey = quadrants(28, 28, 1);
  std::vector<uint16_t> grey16(grey.begin(), grey.end());
  const std::pair<std::string, std::string> files[] = {
      {"in.png", png_file({28, 28, 8, PNG_COLOR_TYPE_GRAY, grey16})},
      {"in.jpg", jpeg_file(28, 28, 1, grey)},
      {"in.bmp", bmp_file({28, 28, 24, quadrants(28, 28, 3)})},
  };
  for (const auto& [name, bytes] : files) {
    CliResult r = run_cli("run " + kGreyModel + " --input " + write_temp(name, bytes));
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.output;
  }
  std::string cut = files[1].second.substr(0, files[1].second.size() / 2);
  expect_cli_rejects("run " + kGreyModel + " --input " + write_temp("cut.jpg", cut), "corrupt JPEG");
  expect_cli_rejects("run " + kGreyModel + " --input " + std::string(TEEINFER_BINARY_DIR), "not a regular file");
}

// Calibration reads an image directory through the same loader and names the bad file.
TEST(Image, CalibrationDirectoryUsesTheSameLoader) {
  std::string dir = temp_path("calib_dir");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::vector<uint16_t> grey = pattern(8, 8, 1, 255);
  write_file_atomic(dir + "/a.png", png_file({8, 8, 8, PNG_COLOR_TYPE_GRAY, grey}));
  write_file_atomic(dir + "/b.bmp", bmp_file({8, 8, 24, quadrants(8, 8, 3)}));
  EXPECT_EQ(load_calibration_set(dir, {1, 1, 8, 8}, 10).size(), 2u);
  write_file_atomic(dir + "/c.png", std::string("P5 1 1 65535\n\x01\x02", 15));
  EXPECT_ERROR_HAS(load_calibration_set(dir, {1, 1, 8, 8}, 10), "c.png': unsupported image format (PNM)");
  std::filesystem::remove_all(dir);
}

// ---- IDX ----------------------------------------------------------------------------------

std::string idx_file(const std::vector<uint32_t>& dims, const std::string& data) {
  std::string out("\0\0\x08", 3);
  out += static_cast<char>(dims.size());
  for (uint32_t d : dims) append_be(out, d, 4);
  return out + data;
}

std::string gzip(const std::string& raw, int level = 6) {
  z_stream z{};
  deflateInit2(&z, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, static_cast<uLong>(raw.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  z.avail_in = static_cast<uInt>(raw.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string pixels_of(size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += static_cast<char>(i * 7);
  return s;
}

TEST(Idx, PlainAndGzipFilesRead) {
  std::string images = idx_file({3, 4, 5}, pixels_of(60)), labels = idx_file({3}, "\x01\x02\x09");
  for (bool zipped : {false, true}) {
    IdxImages x = parse_idx_images(zipped ? gzip(images) : images, "images");
    EXPECT_EQ(x.count, 3);
    EXPECT_EQ(x.rows, 4);
    EXPECT_EQ(x.cols, 5);
    EXPECT_EQ(std::string(x.pixels.begin(), x.pixels.end()), pixels_of(60));
    EXPECT_EQ(parse_idx_labels(zipped ? gzip(labels) : labels, "labels"), (std::vector<uint8_t>{1, 2, 9}));
  }
  // Empty files are valid (eval refuses them itself); reading them touches no null buffer.
  for (bool zipped : {false, true}) {
    std::string none = idx_file({0, 28, 28}, ""), no_labels = idx_file({0}, "");
    EXPECT_EQ(parse_idx_images(zipped ? gzip(none) : none, "none").count, 0);
    EXPECT_TRUE(parse_idx_labels(zipped ? gzip(no_labels) : no_labels, "none").empty());
  }
  // The Fashion-MNIST files Debian ships.
  const std::string dir = "/usr/share/datasets/fashion-mnist/";
  if (std::filesystem::exists(dir + "t10k-labels-idx1-ubyte.gz")) {
    IdxImages t = read_idx_images(dir + "t10k-images-idx3-ubyte.gz");
    EXPECT_EQ(t.count, 10000);
    EXPECT_EQ(read_idx_labels(dir + "t10k-labels-idx1-ubyte.gz").size(), 10000u);
  }
}

// A 6 GiB run of zeros after a header that declares 10 images, in a gzip stream of a few MB:
// built from one full-flushed deflate block of 1 MiB of zeros, repeated.
std::string gzip_bomb(const std::string& header, uint64_t zero_mib) {
  std::string mib(1 << 20, '\0');
  z_stream z{};
  deflateInit2(&z, 9, Z_DEFLATED, -MAX_WBITS, 9, Z_DEFAULT_STRATEGY);
  auto deflate_some = [&](const std::string& in, int flush) {
    std::string out(deflateBound(&z, static_cast<uLong>(in.size())) + 64, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    deflate(&z, flush);
    out.resize(out.size() - z.avail_out);
    return out;
  };
  std::string body = deflate_some(header, Z_FULL_FLUSH);
  std::string block = deflate_some(mib, Z_FULL_FLUSH);  // the same bytes for every MiB after a full flush
  for (uint64_t i = 0; i < zero_mib; ++i) body += block;
  body += deflate_some("", Z_FINISH);
  deflateEnd(&z);
  uLong crc = crc32(0, reinterpret_cast<const Bytef*>(header.data()), static_cast<uInt>(header.size()));
  uLong crc_mib = crc32(0, reinterpret_cast<const Bytef*>(mib.data()), static_cast<uInt>(mib.size()));
  for (uint64_t i = 0; i < zero_mib; ++i) crc = crc32_combine(crc, crc_mib, static_cast<z_off_t>(mib.size()));
  std::string out("\x1f\x8b\x08\0\0\0\0\0\0\x03", 10);
  out += body;
  append_le(out, crc, 4);
  append_le(out, (header.size() + (zero_mib << 20)) & 0xffffffffu, 4);
  return out;
}

// Review finding: the whole file was inflated with no bound before its header was checked.
TEST(Idx, GzipBombIsStoppedAfterTheDeclaredData) {
  std::string header = idx_file({10, 28, 28}, std::string(7840, '\0'));
  std::string bomb = gzip_bomb(header, 6 << 10);
  EXPECT_LT(bomb.size(), 8u << 20);
  EXPECT_ERROR_HAS(parse_idx_images(bomb, "bomb.gz"), "holds more data than its header declares");
  // Through the CLI under the acceptance limit of 4 GiB of address space (the old reader
  // inflated until std::bad_alloc: "internal error", exit 3): exit 1, one line.
  std::string path = write_temp("bomb-images.gz", bomb);
  std::string labels = write_temp("bomb-labels.gz", gzip(idx_file({10}, std::string(10, '\0'))));
  expect_cli_rejects_within_4gib("eval " + kGreyModel + " --images " + path + " --labels " + labels,
                                 "holds more data than its header declares");
}

TEST(Idx, HeadersAreCheckedBeforeTheDataIsAllocated) {
  // Dims whose product overflows 64 bits, or exceeds the limit.
  EXPECT_ERROR_HAS(parse_idx_images(idx_file({0xffffffff, 0xffffffff, 0xffffffff}, ""), "ovf"), "the limit");
  EXPECT_ERROR_HAS(parse_idx_images(idx_file({60000, 100, 100}, ""), "big"), "the limit");
  // 47 MB declared, a few bytes present: refused as truncated, plain or gzip, before allocating.
  EXPECT_ERROR_HAS(parse_idx_images(idx_file({60000, 28, 28}, "abc"), "short"), "is truncated");
  EXPECT_ERROR_HAS(parse_idx_images(gzip(idx_file({60000, 28, 28}, "abc")), "short.gz"), "is truncated");
  EXPECT_ERROR_HAS(parse_idx_labels(idx_file({60000}, "abc"), "short"), "is truncated");
  // Image sides.
  EXPECT_ERROR_HAS(parse_idx_images(idx_file({2, 0, 5}, ""), "zero"), "each side must be");
  EXPECT_ERROR_HAS(parse_idx_images(idx_file({1, 1, 20000}, std::string(20000, '\0')), "wide"), "each side must be");
  EXPECT_ERROR_HAS(parse_idx_images(idx_file({0, 8192, 8192}, ""), "large"), "each side must be");
  // Magic and dims count.
  EXPECT_ERROR_HAS(parse_idx_images(idx_file({3}, "abc"), "labels"), "not an IDX file of 3-D uint8 data");
  EXPECT_ERROR_HAS(parse_idx_labels(idx_file({1, 1, 3}, "abc"), "images"), "not an IDX file of 1-D uint8 data");
  std::string floats = idx_file({3}, "abcdefghijkl");
  floats[2] = 0x0d;
  EXPECT_ERROR_HAS(parse_idx_labels(floats, "floats"), "not an IDX file");
}

TEST(Idx, TruncatedExtraAndCorruptDataAreRejected) {
  std::string images = idx_file({3, 4, 5}, pixels_of(60));
  for (size_t n = 0; n < images.size(); ++n) EXPECT_THROW(parse_idx_images(images.substr(0, n), "cut"), Error) << n;
  std::string zipped = gzip(images);
  for (size_t n = 0; n < zipped.size(); ++n) EXPECT_THROW(parse_idx_images(zipped.substr(0, n), "cut.gz"), Error) << n;
  EXPECT_ERROR_HAS(parse_idx_images(images + "x", "extra"), "more data than its header declares");
  EXPECT_ERROR_HAS(parse_idx_images(gzip(images + "x"), "extra.gz"), "more data than its header declares");
  EXPECT_ERROR_HAS(parse_idx_images(zipped + "junk", "trailing.gz"), "after the end of its gzip stream");
  std::string bad_crc = zipped;
  bad_crc[bad_crc.size() - 6] ^= 1;
  EXPECT_ERROR_HAS(parse_idx_images(bad_crc, "crc.gz"), "corrupt gzip");
  std::mt19937 rng(5);
  for (int i = 0; i < 2000; ++i) {
    std::string bad = zipped;
    bad[rng() % bad.size()] = static_cast<char>(rng());
    try {
      parse_idx_images(bad, "flip");
    } catch (const Error&) {
    }
  }
}

TEST(Idx, EvalChecksCountsAndDimsAgainstTheModel) {
  std::string labels3 = write_temp("l3.idx", idx_file({3}, "\x01\x02\x03"));
  std::string images2 = write_temp("i2.idx", idx_file({2, 28, 28}, std::string(2 * 784, '\0')));
  expect_cli_rejects("eval " + kGreyModel + " --images " + images2 + " --labels " + labels3, "3 labels for 2 images");
  std::string small = write_temp("i3_8x8.idx", idx_file({3, 8, 8}, std::string(3 * 64, '\0')));
  CliResult r = run_cli("eval " + kGreyModel + " --images " + small + " --labels " + labels3);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(lines(r.output), 1) << r.output;
  std::string none = write_temp("i0.idx", idx_file({0, 28, 28}, "")), labels0 = write_temp("l0.idx", idx_file({0}, ""));
  expect_cli_rejects("eval " + kGreyModel + " --images " + none + " --labels " + labels0, "holds no images");
  std::string ok = write_temp("i3.idx", idx_file({3, 28, 28}, std::string(3 * 784, '\0')));
  r = run_cli("eval " + kGreyModel + " --images " + ok + " --labels " + labels3);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  expect_cli_rejects("eval " + kGreyModel + " --images /nonexistent.gz --labels " + labels3,
                     "cannot read dataset '/nonexistent.gz'");
}

}  // namespace
