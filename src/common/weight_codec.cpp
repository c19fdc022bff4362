#include "common/weight_codec.h"

#include <lz4.h>
#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_initStaticDCtx: a context in memory we own
#include <openssl/crypto.h>
#include <zstd.h>

#include <array>
#include <cstring>

#if defined(__x86_64__)
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

}  // namespace

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
  }
  return "?";
}

Codec parse_codec(const std::string& name, const std::string& option) {
  for (uint8_t c = 0; c <= kLastCodec; ++c)
    if (name == codec_name(static_cast<Codec>(c))) return static_cast<Codec>(c);
  throw Error(ErrorCode::kBadArgument, option + ": unknown codec '" + name + "' (none, zstd, lz4, palette4)");
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
  }
  if (out.size() >= n) return {};  // stored as it is: a stored size equal to the plain size means raw
  return out;
}

size_t ChunkDecoder::workspace_bytes() {
  return (ZSTD_estimateDCtxSize() + 63) / 64 * 64;
}

ChunkDecoder::ChunkDecoder(std::byte* workspace, size_t bytes) : workspace_(workspace), bytes_(bytes) {
  if (bytes < workspace_bytes() || reinterpret_cast<uintptr_t>(workspace) % 8 != 0)
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
  }
  corrupt(c, "unknown codec");
}

void decode_chunk(Codec c, const uint8_t* packed, size_t n, uint8_t* out, size_t plain_bytes) {
  ChunkDecoder().decode(c, packed, n, out, plain_bytes);
}

}  // namespace teeinfer
