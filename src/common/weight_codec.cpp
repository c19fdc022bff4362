#include "common/weight_codec.h"

#include <lz4.h>
#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_initStaticDCtx: a context in memory we own
#include <openssl/crypto.h>
#include <zstd.h>

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

#include "common/error.h"

namespace teeinfer {
namespace {

constexpr int kZstdLevel = 3;

[[noreturn]] void corrupt(Codec c, const std::string& why) {
  throw Error(ErrorCode::kBadModel, std::string("weight chunk (") + codec_name(c) + "): " + why);
}

std::vector<uint8_t> palette_encode(const uint8_t* plain, size_t n) {
  std::array<int, 256> index;
  index.fill(-1);
  std::vector<uint8_t> out(16 + (n + 1) / 2, 0);
  int used = 0;
  for (size_t i = 0; i < n; ++i) {
    int& slot = index[plain[i]];
    if (slot < 0) {
      if (used == 16) return {};
      out[static_cast<size_t>(used)] = plain[i];
      slot = used++;
    }
    out[16 + i / 2] |= static_cast<uint8_t>(slot << (i % 2 ? 4 : 0));
  }
  return out;
}

// Low nibble first: byte i of the chunk is index (packed[i / 2] >> 4 * (i % 2)) & 15.
void palette_decode_scalar(const uint8_t* palette, const uint8_t* nibbles, size_t pairs, uint8_t* out) {
  for (size_t i = 0; i < pairs; ++i) {
    out[2 * i] = palette[nibbles[i] & 15];
    out[2 * i + 1] = palette[nibbles[i] >> 4];
  }
}

#if defined(__x86_64__)
__attribute__((target("ssse3"))) void palette_decode_ssse3(const uint8_t* palette, const uint8_t* nibbles, size_t pairs,
                                                           uint8_t* out) {
  const __m128i table = _mm_loadu_si128(reinterpret_cast<const __m128i*>(palette));
  const __m128i low4 = _mm_set1_epi8(15);
  size_t i = 0;
  for (; i + 16 <= pairs; i += 16) {
    __m128i in = _mm_loadu_si128(reinterpret_cast<const __m128i*>(nibbles + i));
    __m128i lo = _mm_and_si128(in, low4), hi = _mm_and_si128(_mm_srli_epi16(in, 4), low4);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 2 * i), _mm_shuffle_epi8(table, _mm_unpacklo_epi8(lo, hi)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 2 * i + 16), _mm_shuffle_epi8(table, _mm_unpackhi_epi8(lo, hi)));
  }
  palette_decode_scalar(palette, nibbles + i, pairs - i, out + 2 * i);
}
#endif

void palette_decode(const uint8_t* packed, size_t n, uint8_t* out, size_t plain_bytes) {
  if (n != 16 + (plain_bytes + 1) / 2) corrupt(Codec::kPalette4, "payload size does not match the chunk");
  const uint8_t* nibbles = packed + 16;
  size_t pairs = plain_bytes / 2;
#if defined(__x86_64__)
  static const bool ssse3 = __builtin_cpu_supports("ssse3");
  if (ssse3)
    palette_decode_ssse3(packed, nibbles, pairs, out);
  else
#endif
    palette_decode_scalar(packed, nibbles, pairs, out);
  if (plain_bytes % 2) out[plain_bytes - 1] = packed[nibbles[pairs] & 15];
}

std::vector<uint8_t> half_encode(const uint8_t* plain, size_t n) {
  if (n % 4 != 0) return {};
  std::vector<uint8_t> out(n / 2);
  for (size_t i = 0; i < n / 4; ++i) {
    float f;
    std::memcpy(&f, plain + 4 * i, 4);
    uint16_t h;
    if (!half_of(f, h)) return {};
    std::memcpy(out.data() + 2 * i, &h, 2);
  }
  return out;
}

void half_decode_scalar(const uint8_t* packed, size_t count, uint8_t* out) {
  for (size_t i = 0; i < count; ++i) {
    uint16_t h;
    std::memcpy(&h, packed + 2 * i, 2);
    float f = float_of_half(h);
    std::memcpy(out + 4 * i, &f, 4);
  }
}

#if defined(__x86_64__)
// F16C, from CPUID leaf 1 (ECX bit 29), with AVX usable (clang 14's __builtin_cpu_supports
// does not know "f16c").
bool has_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
  return (ecx & (1u << 29)) != 0 && __builtin_cpu_supports("avx");
}

__attribute__((target("avx,f16c"))) void half_decode_f16c(const uint8_t* packed, size_t count, uint8_t* out) {
  size_t i = 0;
  for (; i + 8 <= count; i += 8) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(packed + 2 * i));
    _mm256_storeu_ps(reinterpret_cast<float*>(out + 4 * i), _mm256_cvtph_ps(h));
  }
  half_decode_scalar(packed + 2 * i, count - i, out + 4 * i);
}
#endif

void half_decode(const uint8_t* packed, size_t n, uint8_t* out, size_t plain_bytes) {
  if (plain_bytes % 4 != 0 || n != plain_bytes / 2) corrupt(Codec::kFloat16, "payload size does not match the chunk");
#if defined(__x86_64__)
  static const bool f16c = has_f16c();
  if (f16c) return half_decode_f16c(packed, plain_bytes / 4, out);
#endif
  half_decode_scalar(packed, plain_bytes / 4, out);
}

}  // namespace

float float_of_half(uint16_t h) {
  const uint32_t sign = uint32_t{h & 0x8000u} << 16;
  const uint32_t exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FFu;
  uint32_t bits;
  if (exponent == 0x1F) {
    bits = sign | 0x7F800000u | (mantissa << 13);  // infinity, or NaN with its payload
  } else if (exponent != 0) {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;                               // +-0
  } else {                                     // subnormal: mantissa * 2^-24, normalised
    int shift = __builtin_clz(mantissa) - 21;  // leading zeros within the 10-bit field, plus one
    bits = sign | (static_cast<uint32_t>(127 - 15 - shift + 1) << 23) | ((mantissa << (13 + shift)) & 0x7FFFFFu);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

bool half_of(float f, uint16_t& h) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const int exponent = static_cast<int>((bits >> 23) & 0xFF);
  const uint32_t mantissa = bits & 0x7FFFFFu;
  if (exponent == 0xFF) {  // infinity is a half; NaN payloads need not survive: refused
    if (mantissa != 0) return false;
    h = sign | 0x7C00u;
    return true;
  }
  if (exponent == 0) {  // +-0 (a float32 subnormal is far below the smallest half)
    if (mantissa != 0) return false;
    h = sign;
    return true;
  }
  const int e = exponent - 127;
  if (e >= -14 && e <= 15) {  // a normal half, if the low 13 mantissa bits are zero
    if (mantissa & 0x1FFFu) return false;
    h = static_cast<uint16_t>(sign | ((e + 15) << 10) | (mantissa >> 13));
    return true;
  }
  if (e >= -24 && e < -14) {  // a subnormal half: k * 2^-24 with k = 1.m * 2^(e + 24)
    const uint32_t significand = mantissa | 0x800000u;
    const int drop = -(e + 1);  // 14..23 low bits of the significand must be zero
    if (significand & ((1u << drop) - 1)) return false;
    h = static_cast<uint16_t>(sign | (significand >> drop));
    return true;
  }
  return false;
}

const char* codec_name(Codec c) {
  switch (c) {
    case Codec::kNone:
      return "none";
    case Codec::kZstd:
      return "zstd";
    case Codec::kLz4:
      return "lz4";
    case Codec::kPalette4:
      return "palette4";
    case Codec::kFloat16:
      return "float16";
  }
  return "?";
}

Codec parse_codec(const std::string& name, const std::string& option) {
  for (uint8_t c = 0; c <= kLastCodec; ++c)
    if (name == codec_name(static_cast<Codec>(c))) return static_cast<Codec>(c);
  throw Error(ErrorCode::kBadArgument, option + ": unknown codec '" + name + "' (none, zstd, lz4, palette4, float16)");
}

std::vector<uint8_t> encode_chunk(Codec c, const uint8_t* plain, size_t n) {
  std::vector<uint8_t> out;
  switch (c) {
    case Codec::kNone:
      return {};
    case Codec::kZstd: {
      out.resize(ZSTD_compressBound(n));
      size_t got = ZSTD_compress(out.data(), out.size(), plain, n, kZstdLevel);
      if (ZSTD_isError(got)) throw Error(ErrorCode::kBadArgument, std::string("zstd: ") + ZSTD_getErrorName(got));
      out.resize(got);
      break;
    }
    case Codec::kLz4: {
      if (n > static_cast<size_t>(LZ4_MAX_INPUT_SIZE)) return {};
      out.resize(static_cast<size_t>(LZ4_compressBound(static_cast<int>(n))));
      int got = LZ4_compress_default(reinterpret_cast<const char*>(plain), reinterpret_cast<char*>(out.data()),
                                     static_cast<int>(n), static_cast<int>(out.size()));
      if (got <= 0) return {};
      out.resize(static_cast<size_t>(got));
      break;
    }
    case Codec::kPalette4:
      out = palette_encode(plain, n);
      break;
    case Codec::kFloat16:
      out = half_encode(plain, n);
      break;
  }
  if (out.size() >= n) return {};  // stored as it is: a stored size equal to the plain size means raw
  return out;
}

size_t ChunkDecoder::workspace_bytes() {
  return (ZSTD_estimateDCtxSize() + 63) / 64 * 64;
}

ChunkDecoder::ChunkDecoder(std::byte* workspace, size_t bytes) : workspace_(workspace), bytes_(bytes) {
  if (bytes != 0 && (bytes < workspace_bytes() || reinterpret_cast<uintptr_t>(workspace) % 8 != 0))
    throw Error(ErrorCode::kKernel, "chunk decoder: workspace of " + std::to_string(bytes) + " bytes, needs " +
                                        std::to_string(workspace_bytes()) + ", 8-byte aligned");
}

ChunkDecoder::ChunkDecoder() : owned_(workspace_bytes()), workspace_(owned_.data()), bytes_(owned_.size()) {}

ChunkDecoder::~ChunkDecoder() {
  if (!owned_.empty()) OPENSSL_cleanse(owned_.data(), owned_.size());
}

void ChunkDecoder::decode(Codec c, const uint8_t* packed, size_t n, uint8_t* out, size_t plain_bytes) {
  switch (c) {
    case Codec::kNone:
      corrupt(c, "not a compressed chunk");
    case Codec::kZstd: {
      // A fresh context each chunk: cheap next to decoding, and the caller may wipe the
      // workspace between chunks (the enclave clears its load scratch after loading).
      if (bytes_ == 0) throw Error(ErrorCode::kKernel, "chunk decoder: a zstd chunk, and no workspace for zstd");
      ZSTD_DCtx* dctx = ZSTD_initStaticDCtx(workspace_, bytes_);
      if (!dctx) throw Error(ErrorCode::kKernel, "zstd: cannot set up a decompression context in the workspace");
      size_t got = ZSTD_decompressDCtx(dctx, out, plain_bytes, packed, n);
      if (ZSTD_isError(got) || got != plain_bytes)
        corrupt(c, "does not decode to " + std::to_string(plain_bytes) + " bytes");
      return;
    }
    case Codec::kLz4: {
      if (n > static_cast<size_t>(LZ4_MAX_INPUT_SIZE) || plain_bytes > static_cast<size_t>(LZ4_MAX_INPUT_SIZE))
        corrupt(c, "chunk too large for lz4");
      int got = LZ4_decompress_safe(reinterpret_cast<const char*>(packed), reinterpret_cast<char*>(out),
                                    static_cast<int>(n), static_cast<int>(plain_bytes));
      if (got < 0 || static_cast<size_t>(got) != plain_bytes)
        corrupt(c, "does not decode to " + std::to_string(plain_bytes) + " bytes");
      return;
    }
    case Codec::kPalette4:
      return palette_decode(packed, n, out, plain_bytes);
    case Codec::kFloat16:
      return half_decode(packed, n, out, plain_bytes);
  }
  corrupt(c, "unknown codec");
}

void decode_chunk(Codec c, const uint8_t* packed, size_t n, uint8_t* out, size_t plain_bytes) {
  ChunkDecoder().decode(c, packed, n, out, plain_bytes);
}

}  // namespace teeinfer
