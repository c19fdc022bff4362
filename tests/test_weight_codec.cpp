// Weight compression (`pack --compress`, `--cluster`): every codec round-trips chunks bit
// for bit (incompressible ones are stored as they are); a sealed compressed model gives
// the same output as an uncompressed one, decrypts fewer bytes, and a corrupted
// compressed chunk is rejected by authentication before the decoder sees it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

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
#include "onnx_builder.h"
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

// ---- float16 weights ---------------------------------------------------------------------

namespace {

#if defined(__x86_64__)
__attribute__((target("f16c"))) float hardware_float_of_half(uint16_t h) {
  return _cvtsh_ss(h);
}
#endif

std::vector<float> halves_as_floats(size_t n, std::mt19937& rng) {
  std::uniform_int_distribution<int> bits(0, 0xFFFF);
  std::vector<float> v;
  while (v.size() < n) {
    float f = float_of_half(static_cast<uint16_t>(bits(rng)));
    if (!std::isnan(f)) v.push_back(f);
  }
  return v;
}

}  // namespace

// Every half widens to the float the CPU's own conversion gives, and back to itself; the
// floats that are not halves are refused (so the codec can never lose a bit).
TEST(WeightCodec, Float16ConversionsAreExactForEveryHalf) {
#if defined(__x86_64__)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;  // F16C: CPUID leaf 1, ECX bit 29
  const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29));
#endif
  for (uint32_t h = 0; h <= 0xFFFF; ++h) {
    float f = float_of_half(static_cast<uint16_t>(h));
#if defined(__x86_64__)
    if (f16c) {
      float hw = hardware_float_of_half(static_cast<uint16_t>(h));
      if (std::isnan(hw))
        EXPECT_TRUE(std::isnan(f)) << h;
      else
        EXPECT_EQ(std::memcmp(&f, &hw, 4), 0) << "half " << h << ": " << f << " vs " << hw;
    }
#endif
    uint16_t back = 0;
    if (std::isnan(f)) {
      EXPECT_FALSE(half_of(f, back)) << h;
      continue;
    }
    ASSERT_TRUE(half_of(f, back)) << "half " << h << " = " << f;
    EXPECT_EQ(back, h);
  }
  uint16_t h = 0;
  for (float not_half : {0.1f, 65520.f, 1e-8f, 1.0f + 1.0f / 4096, std::numeric_limits<float>::denorm_min()})
    EXPECT_FALSE(half_of(not_half, h)) << not_half;
  EXPECT_TRUE(half_of(65504.f, h));
  EXPECT_EQ(h, 0x7BFF);
  EXPECT_TRUE(half_of(std::ldexp(1.f, -24), h));  // the smallest subnormal half
  EXPECT_EQ(h, 0x0001);
  EXPECT_EQ(float_of_bfloat16(0x3F80), 1.f);
  EXPECT_EQ(float_of_bfloat16(0xC000), -2.f);
}

TEST(WeightCodec, Float16ChunksStoreHalvesAndRefuseAnythingElse) {
  std::mt19937 rng(14);
  for (size_t count : {1, 7, 8, 9, 1000, 16387}) {  // the 8-wide path and its tails
    std::vector<float> v = halves_as_floats(count, rng);
    const auto* plain = reinterpret_cast<const uint8_t*>(v.data());
    size_t n = v.size() * 4;
    std::vector<uint8_t> packed = encode_chunk(Codec::kFloat16, plain, n);
    ASSERT_EQ(packed.size(), n / 2) << count;
    std::vector<float> back(count);
    decode_chunk(Codec::kFloat16, packed.data(), packed.size(), reinterpret_cast<uint8_t*>(back.data()), n);
    EXPECT_EQ(std::memcmp(back.data(), v.data(), n), 0) << count;
    EXPECT_THROW(
        decode_chunk(Codec::kFloat16, packed.data(), packed.size() - 1, reinterpret_cast<uint8_t*>(back.data()), n),
        Error);
  }
  std::vector<float> v = halves_as_floats(100, rng);
  for (float odd : {0.1f, std::numeric_limits<float>::quiet_NaN()}) {
    auto w = v;
    w[57] = odd;
    EXPECT_TRUE(encode_chunk(Codec::kFloat16, reinterpret_cast<const uint8_t*>(w.data()), w.size() * 4).empty());
  }
  EXPECT_TRUE(encode_chunk(Codec::kFloat16, reinterpret_cast<const uint8_t*>(v.data()), 398).empty())
      << "not whole floats";
}

// A model with float16 and bfloat16 initializers computes what the same model with their
// float32 values computes, plain and sealed; sealed, the float16 weight is stored as halves.
TEST(WeightCodec, Float16ModelsRunInFloat32AndSealTheirWeightsAsHalves) {
  std::mt19937 rng(15);
  std::vector<float> w = halves_as_floats(4 * 3 * 3 * 3, rng);
  for (float& x : w) x = std::clamp(x, -4.f, 4.f);  // (clamped values stay halves: 4 is one)
  std::vector<uint16_t> w_half(w.size());
  for (size_t i = 0; i < w.size(); ++i) ASSERT_TRUE(half_of(w[i], w_half[i]));
  std::vector<float> b = {0.5f, -1.25f, 2.f, 0.f};  // exact in bfloat16
  auto write = [&](bool sixteen_bit, const std::string& path) {
    teeinfer::testing::OnnxModelBuilder m(13);
    m.input("x", {1, 3, 6, 6});
    if (sixteen_bit) {
      m.initializer("w", onnx::TensorProto::FLOAT16, {4, 3, 3, 3}, teeinfer::testing::raw_bytes(w_half));
      onnx::TensorProto* bias = m.graph->add_initializer();
      bias->set_name("b");
      bias->set_data_type(onnx::TensorProto::BFLOAT16);
      bias->add_dims(4);
      for (float x : b) {
        uint32_t bits;
        std::memcpy(&bits, &x, 4);
        bias->add_int32_data(static_cast<int32_t>(bits >> 16));
      }
    } else {
      m.constant<float>("w", {4, 3, 3, 3}, w);
      m.constant<float>("b", {4}, b);
    }
    m.node("Conv", {"x", "w", "b"}, {"y"}).ints("pads", {1, 1, 1, 1});
    m.output("y");
    std::ofstream(path, std::ios::binary) << m.bytes();
  };
  const std::string dir = std::string(TEEINFER_BINARY_DIR) + "/tests/";
  write(true, dir + "fp16_conv.onnx");
  write(false, dir + "fp32_conv.onnx");
  std::vector<float> xs(3 * 6 * 6);
  std::normal_distribution<float> d;
  for (float& x : xs) x = d(rng);
  HostTensor x{{1, 3, 6, 6}, xs};
  NativePlatform native;
  auto run_plain = [&](const std::string& onnx) {
    Graph g = load_onnx_model(onnx, {{"x", x.dims}});
    EnclaveSession s(g, native);
    return s.run({x.view("x")})[0].data;
  };
  std::vector<float> want = run_plain(dir + "fp32_conv.onnx");
  EXPECT_EQ(run_plain(dir + "fp16_conv.onnx"), want);

  const std::string key = dir + "fp16_conv.key", tee = dir + "fp16_conv.tee";
  write_key_file(key, generate_key(), /*overwrite=*/true);
  KeyFile keys(key);
  PackStats stats = pack_model(load_onnx_model(dir + "fp16_conv.onnx", {{"x", x.dims}}), keys.key(), tee, {});
  EXPECT_EQ(stats.compressed_tensors, 2u) << "w as halves; b (0.5, -1.25, 2, 0) is all halves too";
  EXPECT_EQ(stats.stored_weight_bytes, stats.weight_bytes / 2);
  FileHost host(tee);
  SealedModel sealed(host, keys);
  for (const SealedTensor& t : sealed.tensors()) EXPECT_EQ(t.codec, Codec::kFloat16);
  EnclaveSession s(sealed.graph(), native, {}, &sealed);
  EXPECT_EQ(s.run({x.view("x")})[0].data, want);
  EXPECT_EQ(sealed.load_stats().bytes, stats.stored_weight_bytes) << "half the float32 bytes decrypted";
}
