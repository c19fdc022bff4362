// Weight codecs: how a sealed chunk's plaintext is compressed before it is encrypted
// (pack --compress). The enclave authenticates a compressed chunk whole before decoding
// it, so a decoder only ever sees bytes the model owner produced.
//
//   std::vector<uint8_t> packed = encode_chunk(Codec::kZstd, plain, n);   // empty: not smaller
//   decode_chunk(Codec::kZstd, packed.data(), packed.size(), out, n);     // throws on a mismatch
//
// kPalette4 is Deep-Compression-style: a chunk with at most 16 distinct byte values
// (int8 weights clustered to 16 shared values, `pack --cluster 16`) is stored as its
// 16-byte palette and one 4-bit index per byte. Written by hand: no library packs
// nibbles, and its decoder (a table lookup per nibble, 16 bytes at a time with SSSE3)
// runs several times faster than AES-GCM decrypts, so halving the bytes pays.
//
// kFloat16: a chunk of float32 values that are all exactly IEEE half floats (the weights of
// a model exported in float16, which the importer widens) is stored as halves: half the
// bytes to decrypt, widened again after authentication (F16C, 8 at a time). Lossless by
// construction: a chunk with any value that is not a half (or a NaN) is stored as it is.
// The packer uses it for every float32 tensor that qualifies, before any other codec.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace teeinfer {

enum class Codec : uint8_t { kNone = 0, kZstd = 1, kLz4 = 2, kPalette4 = 3, kFloat16 = 4 };
constexpr uint8_t kLastCodec = static_cast<uint8_t>(Codec::kFloat16);

// IEEE binary16 <-> binary32, exactly (no rounding: `half_of` answers only for floats that
// are halves). Also the importer's reading of float16 initializers.
float float_of_half(uint16_t h);
// The half equal to `f`, or false if there is none (f is not a half: too precise, out of
// range, a float32 subnormal, or NaN).
bool half_of(float f, uint16_t& h);
// bfloat16 is the top half of a float32.
inline float float_of_bfloat16(uint16_t b) {
  uint32_t bits = uint32_t{b} << 16;
  float f;
  __builtin_memcpy(&f, &bits, 4);
  return f;
}

const char* codec_name(Codec c);
// "none", "zstd", "lz4", "palette4", "float16"; throws Error(kBadArgument) naming `option`.
Codec parse_codec(const std::string& name, const std::string& option);

// The encoded chunk, or empty when the codec cannot make it smaller (or, for kPalette4,
// the chunk has more than 16 distinct values): then the chunk is stored as it is.
std::vector<uint8_t> encode_chunk(Codec c, const uint8_t* plain, size_t n);

// Decodes chunks with working memory the caller owns. The enclave hands it arena memory:
// zstd's decompression context holds decoded literals (plaintext weights), and zstd's own
// ZSTD_decompress would malloc it and free it unwiped. lz4 and palette4 need none.
//
//   ChunkDecoder d(arena_bytes, ChunkDecoder::workspace_bytes());
//   d.decode(Codec::kZstd, packed, n, out, plain_bytes);
class ChunkDecoder {
 public:
  // Bytes of workspace the decoder needs for any codec (zstd's context, 64-byte aligned).
  static size_t workspace_bytes();
  // Borrows `bytes` of workspace at `workspace` (8-byte aligned); throws Error(kKernel) if
  // they are fewer than workspace_bytes(). With none (bytes 0) it decodes every codec but
  // zstd, the only one that needs working memory.
  ChunkDecoder(std::byte* workspace, size_t bytes);
  // Owns a heap workspace, wiped when the decoder is destroyed (host-side use).
  ChunkDecoder();
  ~ChunkDecoder();
  ChunkDecoder(const ChunkDecoder&) = delete;
  ChunkDecoder& operator=(const ChunkDecoder&) = delete;

  // Decodes exactly `plain_bytes` into `out`; throws Error(kBadModel) if the payload does
  // not decode to exactly that many bytes.
  void decode(Codec c, const uint8_t* packed, size_t n, uint8_t* out, size_t plain_bytes);

 private:
  std::vector<std::byte> owned_;
  std::byte* workspace_;
  size_t bytes_;
};

// One-off decode on the host (a ChunkDecoder with its own workspace).
void decode_chunk(Codec c, const uint8_t* packed, size_t n, uint8_t* out, size_t plain_bytes);

}  // namespace teeinfer
