// Decoders: Debian's libpng and libjpeg-turbo (maintained, fuzzed upstream and patched by
// Debian security updates), and a small BMP reader of our own. stb_image is no longer used to
// decode: Debian's copy (2.27) has known heap over-reads (16-bit PNM among them) and decodes
// every format it knows whatever the file is called. stb_image_resize still does the resize.
//
// libpng is driven through its low-level API with few transforms: the simplified png_image
// API has had several recent overflow fixes of its own (CVE-2025-64720, CVE-2025-65018), and
// its grey/alpha conversions differ from the ones the tool always used.
//
// Both C libraries report errors by longjmp. Each call sequence runs in a function whose
// frame holds no C++ object with a destructor (all state lives in a job struct owned by the
// caller), so a longjmp back to its setjmp skips no destructor; the caller then throws.
#include "host/image.h"

#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>

#include "common/error.h"
#include "host/input_file.h"

// jpeglib.h needs <cstdio> first.
#include <jerror.h>  // the warning codes
#include <jpeglib.h>

#define STB_IMAGE_RESIZE_IMPLEMENTATION
#include <stb_image_resize.h>

namespace teeinfer {

Normalization Normalization::imagenet() {
  return {{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
}
Normalization Normalization::half() {
  return {{0.5f}, {0.5f}};
}
Normalization Normalization::for_channels(int64_t channels) {
  return channels == 3 ? imagenet() : half();
}

namespace {

Error image_error(const std::string& what, const std::string& why) {
  return Error(ErrorCode::kBadInput, "cannot read image '" + what + "': " + why);
}

// Rejects a header's size before anything is allocated. `max_pixels_for_file` bounds what
// the file's bytes can hold at all (a truncated or "bomb" header is refused here).
void check_image_size(int64_t width, int64_t height, int64_t max_pixels_for_file, const std::string& what) {
  std::string size = std::to_string(width) + "x" + std::to_string(height);
  if (width < 1 || height < 1) throw image_error(what, "empty image (" + size + ")");
  if (width > kMaxImageSide || height > kMaxImageSide || width * height > kMaxImagePixels)
    throw image_error(what, "image of " + size +
                                " pixels is larger than the limit (each side <= " + std::to_string(kMaxImageSide) +
                                ", at most " + std::to_string(kMaxImagePixels) + " pixels)");
  if (width * height > max_pixels_for_file)
    throw image_error(what, "the file is too small for an image of " + size + " pixels (truncated?)");
}

// ---- PNG --------------------------------------------------------------------------------

struct PngJob {
  std::string_view bytes;
  size_t offset = 0;
  const std::string* what = nullptr;
  int want_channels = 0;
  bool luma16 = false;  // out holds 16-bit RGB, to be turned into 8-bit grey
  ImagePixels out;
  std::vector<png_bytep> rows;
  char error[200] = {};
};

void png_read_from_memory(png_structp png, png_bytep dst, png_size_t n) {
  auto* job = static_cast<PngJob*>(png_get_io_ptr(png));
  if (n > job->bytes.size() - job->offset) png_error(png, "unexpected end of file");
  std::memcpy(dst, job->bytes.data() + job->offset, n);
  job->offset += n;
}

[[noreturn]] void png_fail(png_structp png, png_const_charp message) {
  auto* job = static_cast<PngJob*>(png_get_error_ptr(png));
  std::snprintf(job->error, sizeof job->error, "%s", message);
  png_longjmp(png, 1);
}

void png_ignore_warning(png_structp, png_const_charp) {}

// Ancillary chunks that cannot change the pixels we use are skipped unparsed (less code run
// on hostile bytes). tRNS is kept out of the list only because it is harmless: alpha is dropped.
constexpr png_byte kIgnoredPngChunks[] =
    "bKGD\0cHRM\0eXIf\0gAMA\0hIST\0iCCP\0iTXt\0oFFs\0pCAL\0pHYs\0sBIT\0sCAL\0sPLT\0sRGB\0tEXt\0tIME\0zTXt";

// Returns false when libpng gave up (message in job->error). May throw Error (size limits)
// from this frame only, never from inside a libpng callback.
bool run_libpng(png_structp png, png_infop info, PngJob* job) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_chunk_cache_max(png, 128);
  png_set_chunk_malloc_max(png, 8 << 20);
  png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, nullptr, 0);
  png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, kIgnoredPngChunks, (sizeof kIgnoredPngChunks) / 5);
  png_set_read_fn(png, job, png_read_from_memory);
  png_read_info(png, info);
  int64_t width = png_get_image_width(png, info), height = png_get_image_height(png, info);
  // zlib's deflate expands at most 1032:1, so the raw rows cannot exceed that many times the file.
  int64_t raw_row_bytes = static_cast<int64_t>(png_get_rowbytes(png, info));
  int64_t max_pixels = raw_row_bytes > 0 ? static_cast<int64_t>(job->bytes.size()) * 1032 / raw_row_bytes * width : 0;
  check_image_size(width, height, max_pixels, *job->what);

  // To 8-bit grey or RGB: palette -> RGB, grey 1/2/4-bit -> 8-bit, 16-bit -> its high byte,
  // alpha (and tRNS) dropped, as stb_image did. stb_image turned 16-bit colour into grey
  // before dropping to 8 bits, so that case keeps 16 bits here (see decode_png).
  job->luma16 = png_get_bit_depth(png, info) == 16 && (png_get_color_type(png, info) & PNG_COLOR_MASK_COLOR) != 0 &&
                job->want_channels == 1;
  png_set_palette_to_rgb(png);
  png_set_expand_gray_1_2_4_to_8(png);
  if (!job->luma16) png_set_strip_16(png);
  png_set_strip_alpha(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  int channels = png_get_channels(png, info);
  size_t sample_bytes = job->luma16 ? 2 : 1;
  size_t row_bytes = png_get_rowbytes(png, info);
  if ((channels != 1 && channels != 3) || png_get_bit_depth(png, info) != 8 * sample_bytes ||
      row_bytes != static_cast<size_t>(width) * static_cast<size_t>(channels) * sample_bytes)
    png_error(png, "unexpected pixel layout after conversion");
  job->out = ImagePixels{width, height, channels, std::vector<uint8_t>(row_bytes * static_cast<size_t>(height))};
  job->rows.resize(static_cast<size_t>(height));
  for (size_t y = 0; y < job->rows.size(); ++y) job->rows[y] = job->out.data.data() + y * row_bytes;
  png_read_image(png, job->rows.data());
  png_read_end(png, nullptr);
  return true;
}

// stb_image's integer luma, (77 R + 150 G + 29 B) / 256, on 8- or 16-bit samples.
uint32_t luma(uint32_t r, uint32_t g, uint32_t b) {
  return (r * 77 + g * 150 + b * 29) >> 8;
}

// 16-bit big-endian RGB -> 8-bit grey: luma on 16 bits, then the high byte.
ImagePixels grey_from_rgb16(const ImagePixels& in) {
  size_t n = static_cast<size_t>(in.width * in.height);
  ImagePixels out{in.width, in.height, 1, std::vector<uint8_t>(n)};
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* p = &in.data[6 * i];
    out.data[i] = static_cast<uint8_t>(luma(p[0] << 8 | p[1], p[2] << 8 | p[3], p[4] << 8 | p[5]) >> 8);
  }
  return out;
}

ImagePixels decode_png(std::string_view bytes, const std::string& what, int want_channels) {
  PngJob job;
  job.bytes = bytes;
  job.what = &what;
  job.want_channels = want_channels;
  struct ReadStruct {
    png_structp png = nullptr;
    png_infop info = nullptr;
    ~ReadStruct() { png_destroy_read_struct(&png, &info, nullptr); }
  } s;
  s.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &job, png_fail, png_ignore_warning);
  if (s.png) s.info = png_create_info_struct(s.png);
  if (!s.png || !s.info) throw image_error(what, "out of memory");
  if (!run_libpng(s.png, s.info, &job)) throw image_error(what, std::string("corrupt PNG: ") + job.error);
  return job.luma16 ? grey_from_rgb16(job.out) : std::move(job.out);
}

// ---- JPEG -------------------------------------------------------------------------------

// Real progressive JPEGs have about ten scans; thousands of tiny scans are a CPU bomb.
constexpr int kMaxJpegScans = 100;

struct JpegJob {
  jpeg_decompress_struct cinfo{};
  jpeg_error_mgr errors{};
  jpeg_progress_mgr progress{};
  std::jmp_buf jump{};
  bool created = false;
  char error[JMSG_LENGTH_MAX] = {};
  std::string_view bytes;
  const std::string* what = nullptr;
  ImagePixels out;
};

JpegJob* job_of(j_common_ptr cinfo) {
  return static_cast<JpegJob*>(cinfo->client_data);
}

[[noreturn]] void jpeg_fail(j_common_ptr cinfo) {
  JpegJob* job = job_of(cinfo);
  (*cinfo->err->format_message)(cinfo, job->error);
  std::longjmp(job->jump, 1);
}

// libjpeg reports corrupt data (bad codes, a truncated file it would pad with grey) as
// warnings (level -1): those are errors here. Only warnings that leave the pixels intact
// are let through; trace messages (level >= 0) are ignored.
void jpeg_warning_is_error(j_common_ptr cinfo, int level) {
  if (level >= 0) return;
  switch (cinfo->err->msg_code) {
    case JWRN_EXTRANEOUS_DATA:  // stray bytes between markers, skipped
    case JWRN_JFIF_MAJOR:       // an unknown JFIF version number
    case JWRN_ADOBE_XFORM:      // an unknown Adobe transform code; the usual default applies
    case JWRN_NOT_SEQUENTIAL:   // odd SOS fields in a baseline file, ignored
      return;
    default:
      jpeg_fail(cinfo);
  }
}

void jpeg_scan_limit(j_common_ptr cinfo) {
  auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (d->input_scan_number > kMaxJpegScans) {
    JpegJob* job = job_of(cinfo);
    std::snprintf(job->error, sizeof job->error, "more than %d scans", kMaxJpegScans);
    std::longjmp(job->jump, 1);
  }
}

// Returns false when libjpeg gave up (message in job->error). May throw Error from this
// frame (size limits, unsupported kinds), never from inside a libjpeg callback.
bool run_libjpeg(JpegJob* job) {
  if (setjmp(job->jump)) return false;
  j_decompress_ptr cinfo = &job->cinfo;
  cinfo->client_data = job;  // kept by jpeg_create_decompress
  cinfo->err = jpeg_std_error(&job->errors);
  job->errors.error_exit = jpeg_fail;
  job->errors.emit_message = jpeg_warning_is_error;
  jpeg_create_decompress(cinfo);
  job->created = true;
  job->progress.progress_monitor = jpeg_scan_limit;
  cinfo->progress = &job->progress;
  cinfo->mem->max_memory_to_use = 1L << 30;
  jpeg_mem_src(cinfo, reinterpret_cast<const unsigned char*>(job->bytes.data()),
               static_cast<unsigned long>(job->bytes.size()));
  jpeg_read_header(cinfo, TRUE);
  const std::string& what = *job->what;
  // Arithmetic coding is refused: almost nothing writes it, and it can code a huge image in a
  // few bytes. With Huffman codes every block of the first scan costs at least a bit, and a
  // component has at least one block per 32x32 pixels: at most 8192 pixels per byte.
  if (cinfo->arith_code) throw image_error(what, "arithmetic-coded JPEG is not supported");
  if (cinfo->num_components != 1 && cinfo->num_components != 3)
    throw image_error(what, "JPEG with " + std::to_string(cinfo->num_components) +
                                " components (CMYK?) is not supported; use greyscale or colour");
  check_image_size(cinfo->image_width, cinfo->image_height, static_cast<int64_t>(job->bytes.size()) * 8192, what);
  cinfo->out_color_space = cinfo->num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(cinfo);
  int channels = cinfo->output_components;
  if ((channels != 1 && channels != 3) || cinfo->output_width != cinfo->image_width ||
      cinfo->output_height != cinfo->image_height) {
    std::snprintf(job->error, sizeof job->error, "unexpected output layout");
    return false;
  }
  size_t row_bytes = static_cast<size_t>(cinfo->output_width) * static_cast<size_t>(channels);
  job->out = ImagePixels{cinfo->output_width, cinfo->output_height, channels,
                         std::vector<uint8_t>(row_bytes * cinfo->output_height)};
  while (cinfo->output_scanline < cinfo->output_height) {
    JSAMPROW row = job->out.data.data() + static_cast<size_t>(cinfo->output_scanline) * row_bytes;
    if (jpeg_read_scanlines(cinfo, &row, 1) != 1) {  // cannot suspend on a memory source; never loop
      std::snprintf(job->error, sizeof job->error, "no progress reading scanlines");
      return false;
    }
  }
  jpeg_finish_decompress(cinfo);
  return true;
}

ImagePixels decode_jpeg(std::string_view bytes, const std::string& what) {
  auto job = std::make_unique<JpegJob>();
  job->bytes = bytes;
  job->what = &what;
  struct Release {
    JpegJob* job;
    ~Release() {
      if (job->created) jpeg_destroy_decompress(&job->cinfo);
    }
  } release{job.get()};
  if (!run_libjpeg(job.get())) throw image_error(what, std::string("corrupt JPEG: ") + job->error);
  return std::move(job->out);
}

// ---- BMP --------------------------------------------------------------------------------

uint32_t le32(std::string_view b, size_t at) {
  return static_cast<uint32_t>(static_cast<uint8_t>(b[at])) |
         static_cast<uint32_t>(static_cast<uint8_t>(b[at + 1])) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(b[at + 2])) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(b[at + 3])) << 24;
}
uint16_t le16(std::string_view b, size_t at) {
  return static_cast<uint16_t>(static_cast<uint8_t>(b[at]) | static_cast<uint8_t>(b[at + 1]) << 8);
}

// Uncompressed (BI_RGB) 8-bit palette, 24-bit BGR and 32-bit BGRX bitmaps with a
// BITMAPINFOHEADER or a later version of it, bottom-up or top-down. Nothing else.
ImagePixels decode_bmp(std::string_view b, const std::string& what) {
  constexpr size_t kFileHeader = 14, kInfoHeader = 40;
  if (b.size() < kFileHeader + 4) throw image_error(what, "truncated BMP header");
  uint32_t info_size = le32(b, 14);
  if (info_size < kInfoHeader || info_size > 124)
    throw image_error(what, "BMP with a " + std::to_string(info_size) +
                                "-byte info header is not supported (only BITMAPINFOHEADER and later)");
  if (b.size() < kFileHeader + info_size) throw image_error(what, "truncated BMP header");
  uint32_t data_offset = le32(b, 10);
  int64_t width = static_cast<int32_t>(le32(b, 18));
  int64_t signed_height = static_cast<int32_t>(le32(b, 22));
  uint16_t planes = le16(b, 26), bits = le16(b, 28);
  uint32_t compression = le32(b, 30), colours_used = le32(b, 46);
  if (planes != 1) throw image_error(what, "BMP with " + std::to_string(planes) + " planes");
  if (compression != 0)
    throw image_error(what, "compressed BMP (compression " + std::to_string(compression) +
                                ") is not supported; save it uncompressed (BI_RGB)");
  if (bits != 8 && bits != 24 && bits != 32)
    throw image_error(what, std::to_string(bits) + "-bit BMP is not supported; use 8, 24 or 32 bits per pixel");
  bool top_down = signed_height < 0;
  int64_t height = top_down ? -signed_height : signed_height;
  check_image_size(width, height, kMaxImagePixels, what);
  int64_t stride = (width * bits + 31) / 32 * 4;

  if (data_offset < kFileHeader + info_size || data_offset > b.size() ||
      static_cast<uint64_t>(stride) * static_cast<uint64_t>(height) > b.size() - data_offset)
    throw image_error(what, "truncated BMP pixel data");
  std::vector<uint8_t> palette;  // BGRX entries, between the info header and the pixels
  if (bits == 8) {
    uint32_t entries = colours_used == 0 ? 256 : colours_used;
    if (entries > 256) throw image_error(what, "BMP palette of " + std::to_string(entries) + " colours (at most 256)");
    size_t at = kFileHeader + info_size;
    if (uint64_t{at} + 4 * uint64_t{entries} > data_offset) throw image_error(what, "truncated BMP palette");
    palette.assign(b.begin() + static_cast<long>(at), b.begin() + static_cast<long>(at + 4 * entries));
  }

  ImagePixels out{width, height, 3, std::vector<uint8_t>(static_cast<size_t>(width * height * 3))};
  size_t palette_entries = palette.size() / 4;
  for (int64_t y = 0; y < height; ++y) {
    const auto* src =
        reinterpret_cast<const uint8_t*>(b.data()) + data_offset + (top_down ? y : height - 1 - y) * stride;
    uint8_t* dst = out.data.data() + y * width * 3;
    for (int64_t x = 0; x < width; ++x, dst += 3) {
      const uint8_t* bgr;
      if (bits == 8) {
        if (src[x] >= palette_entries)
          throw image_error(what, "BMP pixel uses colour " + std::to_string(src[x]) + " of a " +
                                      std::to_string(palette_entries) + "-colour palette");
        bgr = palette.data() + 4 * src[x];
      } else {
        bgr = src + x * (bits / 8);
      }
      dst[0] = bgr[2];
      dst[1] = bgr[1];
      dst[2] = bgr[0];
    }
  }
  return out;
}

// ---- format and channels ----------------------------------------------------------------

bool starts_with(std::string_view b, std::string_view prefix) {
  return b.substr(0, prefix.size()) == prefix;
}

// A name for formats we refuse, to make the error helpful.
std::string format_hint(std::string_view b) {
  if (starts_with(b, "GIF8")) return " (GIF)";
  if (b.size() >= 2 && b[0] == 'P' && b[1] >= '1' && b[1] <= '7') return " (PNM)";
  if (starts_with(b, "8BPS")) return " (PSD)";
  if (starts_with(b, "#?RADIANCE") || starts_with(b, "#?RGBE")) return " (HDR)";
  if (starts_with(b, std::string_view("II*\0", 4)) || starts_with(b, std::string_view("MM\0*", 4))) return " (TIFF)";
  if (b.size() >= 12 && starts_with(b, "RIFF") && b.substr(8, 4) == "WEBP") return " (WebP)";
  if (starts_with(b, "\x93NUMPY")) return " (a .npy array: name the file *.npy)";
  return "";
}

// 8-bit grey or RGB; PNG takes the channel count wanted (for 16-bit colour to grey).
ImagePixels decode_any(std::string_view b, const std::string& what, int channels) {
  if (starts_with(b, "\x89PNG\r\n\x1a\n")) return decode_png(b, what, channels);
  if (starts_with(b, "\xff\xd8\xff")) return decode_jpeg(b, what);
  if (starts_with(b, "BM")) return decode_bmp(b, what);
  throw image_error(what, "unsupported image format" + format_hint(b) + "; use PNG, JPEG or BMP");
}

// To `channels` (1 or 3) as stb_image converted: grey is replicated, RGB to grey is luma().
ImagePixels to_channels(ImagePixels p, int channels) {
  if (p.channels == channels) return p;
  size_t n = static_cast<size_t>(p.width * p.height);
  std::vector<uint8_t> out(n * static_cast<size_t>(channels));
  for (size_t i = 0; i < n; ++i) {
    if (channels == 3) {
      out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = p.data[i];
    } else {
      const uint8_t* rgb = &p.data[3 * i];
      out[i] = static_cast<uint8_t>(luma(rgb[0], rgb[1], rgb[2]));
    }
  }
  return ImagePixels{p.width, p.height, channels, std::move(out)};
}

// The model input an image can feed, and a normalisation that fits it.
void check_image_input(const Dims& dims, const Normalization& norm) {
  if (dims.size() != 4 || dims[0] != 1 || (dims[1] != 1 && dims[1] != 3) || dims[2] < 1 || dims[3] < 1)
    throw Error(ErrorCode::kBadInput,
                "image input needs a {1,1|3,H,W} model input, the model wants " + dims_to_string(dims));
  if (dims[2] > kMaxImageSide || dims[3] > kMaxImageSide || dims[2] * dims[3] > kMaxModelImagePixels)
    throw Error(ErrorCode::kBadInput, "the model input " + dims_to_string(dims) +
                                          " is larger than an image input may be (at most " +
                                          std::to_string(kMaxModelImagePixels) + " pixels)");
  for (const auto* v : {&norm.mean, &norm.std})
    if (v->size() != 1 && v->size() != static_cast<size_t>(dims[1]))
      throw Error(ErrorCode::kBadArgument, "normalisation needs 1 or " + std::to_string(dims[1]) + " values per list");
}

}  // namespace

ImagePixels decode_image_pixels(std::string_view bytes, const std::string& what, int channels) {
  if (channels != 1 && channels != 3)
    throw Error(ErrorCode::kBadArgument, "images decode to 1 or 3 channels, not " + std::to_string(channels));
  return to_channels(decode_any(bytes, what, channels), channels);
}

HostTensor decode_image(std::string_view bytes, const std::string& what, const Dims& dims, const Normalization& norm) {
  check_image_input(dims, norm);
  int c = static_cast<int>(dims[1]), h = static_cast<int>(dims[2]), w = static_cast<int>(dims[3]);
  ImagePixels image = decode_image_pixels(bytes, what, c);
  std::vector<unsigned char> resized(static_cast<size_t>(w) * h * c);
  if (!stbir_resize_uint8(image.data.data(), static_cast<int>(image.width), static_cast<int>(image.height), 0,
                          resized.data(), w, h, 0, c))
    throw Error(ErrorCode::kBadInput, "cannot resize image '" + what + "'");
  HostTensor t{dims, std::vector<float>(resized.size())};
  for (int ch = 0; ch < c; ++ch) {
    float mean = norm.mean.size() == 1 ? norm.mean[0] : norm.mean[ch];
    float sd = norm.std.size() == 1 ? norm.std[0] : norm.std[ch];
    for (int i = 0; i < h * w; ++i)  // interleaved HWC pixels -> planar CHW tensor
      t.data[static_cast<size_t>(ch) * h * w + i] = (resized[static_cast<size_t>(i) * c + ch] / 255.f - mean) / sd;
  }
  return t;
}

HostTensor load_image(const std::string& path, const Dims& dims, const Normalization& norm) {
  check_image_input(dims, norm);  // before the file is read
  return decode_image(read_input_file(path, kMaxImageFileBytes, "image"), path, dims, norm);
}

}  // namespace teeinfer
