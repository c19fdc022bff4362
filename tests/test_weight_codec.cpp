// Weight compression (`pack --compress`, `--cluster`): every codec round-trips chunks bit
// for bit (incompressible ones are stored as they are); a sealed compressed model gives
// the same output as an uncompressed one, decrypts fewer bytes, and a corrupted
// compressed chunk is rejected by authentication before the decoder sees it.
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "common/error.h"
#include "common/weight_codec.h"
#include "enclave/enclave_session.h"
#include "enclave/sealed_model.h"
#include "host/cluster_weights.h"
#include "host/file_host.h"
#include "host/key_file.h"
#include "host/model_loader.h"
#include "host/npy.h"
#include "host/packer.h"
#include "host/quantize_weights.h"
#include "tee/none/native_platform.h"

using namespace teeinfer;

namespace {

std::vector<uint8_t> random_bytes_of(size_t n, int distinct, std::mt19937& rng) {
  std::uniform_int_distribution<int> pick(0, distinct - 1);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(pick(rng) * 7 + 3);
  return v;
}

TEST(WeightCodec, EveryCodecRoundTripsBitExact) {
  std::mt19937 rng(11);
  for (Codec c : {Codec::kZstd, Codec::kLz4, Codec::kPalette4})
    for (size_t n : {1, 2, 31, 33, 4096, 65537})
      for (int distinct : {1, 16}) {
        std::vector<uint8_t> plain = random_bytes_of(n, distinct, rng);
        std::vector<uint8_t> packed = encode_chunk(c, plain.data(), n);
        if (packed.empty()) {  // stored as it is: only when the codec cannot shrink it
          EXPECT_TRUE(n < 64) << codec_name(c) << " n " << n;
          continue;
        }
        EXPECT_LT(packed.size(), n);
        std::vector<uint8_t> back(n);
        decode_chunk(c, packed.data(), packed.size(), back.data(), n);
        EXPECT_EQ(back, plain) << codec_name(c) << " n " << n;
      }
}

TEST(WeightCodec, IncompressibleAndOverSixteenValuesAreStoredAsTheyAre) {
  std::mt19937 rng(12);
  std::vector<uint8_t> noise = random_bytes_of(65536, 37, rng);
  EXPECT_TRUE(encode_chunk(Codec::kPalette4, noise.data(), noise.size()).empty()) << "37 distinct values";
  std::vector<uint8_t> packed = encode_chunk(Codec::kPalette4, random_bytes_of(1000, 16, rng).data(), 1000);
  EXPECT_EQ(packed.size(), 16u + 500u);
}

TEST(WeightCodec, MalformedPayloadsAreErrorsNotCrashes) {
  std::mt19937 rng(13);
  std::vector<uint8_t> plain = random_bytes_of(8192, 4, rng), out(plain.size());
  for (Codec c : {Codec::kZstd, Codec::kLz4, Codec::kPalette4}) {
    std::vector<uint8_t> packed = encode_chunk(c, plain.data(), plain.size());
    ASSERT_FALSE(packed.empty());
    EXPECT_THROW(decode_chunk(c, packed.data(), packed.size() - 1, out.data(), out.size()), Error) << codec_name(c);
    EXPECT_THROW(decode_chunk(c, packed.data(), packed.size(), out.data(), out.size() - 8), Error) << codec_name(c);
  }
}

TEST(WeightCodec, ClusteringLeavesAtMostNValuesWithZeroKept) {
  std::vector<uint64_t> hist(256, 0);
  std::mt19937 rng(14);
  std::normal_distribution<double> d(0, 20);
  for (int i = 0; i < 100000; ++i) ++hist[static_cast<size_t>(std::clamp(std::lround(d(rng)), -127L, 127L) + 128)];
  std::vector<int8_t> c = cluster_centres(hist, 16);
  EXPECT_LE(c.size(), 16u);
  EXPECT_GE(c.size(), 12u);
  EXPECT_NE(std::find(c.begin(), c.end(), 0), c.end());
}

SealOptions with_codec(Codec c, bool automatic = false) {
  SealOptions o;
  o.codec = c;
  o.auto_codec = automatic;
  return o;
}

struct SealedFixture {
  std::string dir = std::string(TEEINFER_BINARY_DIR) + "/tests/";
  HostTensor x = read_npy(std::string(TEEINFER_SOURCE_DIR) + "/tests/models/alexnet_small.input.npy");
  Graph g = load_onnx_model(std::string(TEEINFER_SOURCE_DIR) + "/tests/models/alexnet_small.onnx", {{"input", x.dims}});
  // ctest runs tests as parallel processes: each test has its own key and model files.
  std::string key = dir + ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".key";
  SealedFixture() {
    write_key_file(key, generate_key(), /*overwrite=*/true);
    quantize_weights(g, QuantizeTarget::kAll);
    cluster_int8_weights(g, 16, /*conv_too=*/true);
  }
  std::vector<float> run(const std::string& tee, uint64_t* decrypted = nullptr) {
    KeyFile keys(key);
    FileHost host(tee);
    SealedModel sealed(host, keys);
    NativePlatform native;
    EnclaveSession s(sealed.graph(), native, {}, &sealed);
    auto y = s.run({x.view("input")})[0].data;
    if (decrypted) *decrypted = sealed.load_stats().bytes;
    return y;
  }
};

TEST(WeightCodec, SealedCompressedModelsGiveTheSameOutputWithFewerBytes) {
  SealedFixture f;
  KeyFile keys(f.key);
  pack_model(f.g, keys.key(), f.dir + "codec_none.tee", {});
  uint64_t plain_bytes = 0;
  std::vector<float> want = f.run(f.dir + "codec_none.tee", &plain_bytes);
  for (Codec c : {Codec::kZstd, Codec::kLz4, Codec::kPalette4}) {
    std::string tee = f.dir + "codec_" + codec_name(c) + ".tee";
    PackStats s = pack_model(f.g, keys.key(), tee, with_codec(c));
    EXPECT_GT(s.compressed_tensors, 0u) << codec_name(c);
    uint64_t decrypted = 0;
    EXPECT_EQ(f.run(tee, &decrypted), want) << codec_name(c);
    EXPECT_LT(decrypted, plain_bytes) << codec_name(c);
  }
  PackStats a = pack_model(f.g, keys.key(), f.dir + "codec_auto.tee", with_codec(Codec::kNone, true));
  EXPECT_EQ(f.run(f.dir + "codec_auto.tee"), want);
  EXPECT_LE(a.stored_weight_bytes, a.weight_bytes);
}

TEST(WeightCodec, ACorruptCompressedChunkIsRejectedBeforeDecoding) {
  SealedFixture f;
  KeyFile keys(f.key);
  std::string tee = f.dir + "codec_corrupt.tee";
  pack_model(f.g, keys.key(), tee, with_codec(Codec::kZstd));
  uint64_t offset = 0;  // of the first compressed chunk
  {
    FileHost host(tee);
    SealedModel sealed(host, keys);
    uint8_t header[kHeaderBytes];
    ASSERT_TRUE(host.read_model(0, header, kHeaderBytes));
    offset = decode_header(header, host.model_bytes()).chunks_offset;
    bool found = false;
    for (const SealedTensor& t : sealed.tensors())
      for (uint32_t k = 0; k < t.chunk_count && !found; ++k) {
        if (t.chunk_compressed(k))
          found = true;
        else
          offset += t.chunk_stored_bytes(k) + kTagBytes;
      }
    ASSERT_TRUE(found);
  }
  std::fstream file(tee, std::ios::in | std::ios::out | std::ios::binary);
  char b = 0;
  file.seekg(static_cast<std::streamoff>(offset + 5));
  file.read(&b, 1);
  b ^= 0x10;
  file.seekp(static_cast<std::streamoff>(offset + 5));
  file.write(&b, 1);
  file.close();
  try {
    f.run(tee);
    FAIL() << "a corrupt chunk ran";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kBadModel);
    EXPECT_NE(std::string(e.what()).find("failed authentication"), std::string::npos) << e.what();
  }
}

}  // namespace
