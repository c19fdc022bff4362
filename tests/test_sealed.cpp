// Sealed models: same results as plain, no plaintext weights outside the enclave, and
// every kind of tampering detected with a clear error.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <unordered_set>

#include "common/error.h"
#include "common/sealed_format.h"
#include "enclave/enclave_session.h"
#include "enclave/sealed_model.h"
#include "host/file_io.h"
#include "host/key_file.h"
#include "host/memory_host.h"
#include "host/model_loader.h"
#include "host/npy.h"
#include "host/packer.h"
#include "random_graphs.h"
#include "tee/none/native_platform.h"

using namespace teeinfer;

namespace {

const std::string kSrc = TEEINFER_SOURCE_DIR;
std::string tmp(const std::string& name) {
  return std::string(TEEINFER_BINARY_DIR) + "/tests/sealed_" + name;
}

class FixedKey : public KeyProvider {
 public:
  explicit FixedKey(AesKey k) : key_(k) {}
  bool key_encryption_key(const std::array<uint8_t, 16>& id, AesKey& out) noexcept override {
    if (kek_id_of(key_) != id) return false;
    out = key_;
    return true;
  }

 private:
  AesKey key_;
};

AesKey test_key(uint8_t seed) {
  AesKey k{};
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(seed * 31 + i);
  return k;
}

std::string pack_to_string(const Graph& g, const AesKey& key, uint64_t version, uint64_t chunk_bytes) {
  // ctest runs test cases as parallel processes: the pid keeps their files apart.
  std::string path = tmp("pack_" + std::to_string(::getpid()) + "_" + std::to_string(version) + "_" +
                         std::to_string(chunk_bytes) + ".tee");
  SealOptions o;
  o.model_version = version;
  o.chunk_bytes = chunk_bytes;
  pack_model(g, key, path, o);
  return read_file(path);
}

// Opens a sealed model and decrypts every tensor: throws on any problem.
void load_everything(const std::string& bytes, const AesKey& key, uint64_t min_version = 0) {
  MemoryHost host(bytes);
  FixedKey keys(key);
  SealedModel m(host, keys, {min_version});
  std::vector<std::byte> scratch(m.scratch_bytes());
  m.set_scratch(scratch.data());
  for (size_t i = 0; i < m.tensors().size(); ++i) {
    std::vector<std::byte> plain(m.tensors()[i].bytes);
    m.read_tensor(i, plain.data(), plain.size());
  }
}

// A tiny model (conv 2->4 3x3, relu, gemm), so exhaustive byte flips stay fast.
Graph tiny_graph() {
  Graph g = load_onnx_model(kSrc + "/tests/data/tiny_sealed.onnx", {{"x", {1, 2, 4, 4}}});
  return g;
}

std::vector<float> run_model(const Graph& g, WeightSource* weights, const HostTensor& x, const std::string& name) {
  NativePlatform platform;
  EnclaveSession s(g, platform, {}, weights);
  HostTensor in = x;
  return s.run({in.view(name)})[0].data;
}

class SealedMatchesPlain : public ::testing::TestWithParam<std::string> {};

TEST_P(SealedMatchesPlain, BitIdentical) {
  std::string stem = kSrc + "/tests/models/" + GetParam();
  HostTensor x = read_npy(stem + ".input.npy");
  Graph g = load_onnx_model(stem + ".onnx", {{"input", x.dims}});
  std::vector<float> plain = run_model(g, nullptr, x, "input");
  AesKey key = test_key(1);
  std::string file = pack_to_string(g, key, 1, 64 * 1024);
  MemoryHost host(file);
  FixedKey keys(key);
  SealedModel sealed(host, keys);
  std::vector<float> y = run_model(sealed.graph(), &sealed, x, "input");
  ASSERT_EQ(plain.size(), y.size());
  EXPECT_EQ(std::memcmp(plain.data(), y.data(), y.size() * 4), 0) << "sealed and plain outputs differ";
}

// Weights that need a reorder come through staging in slices (whole chunks, whole layout
// blocks); with tiny slices every Conv and FC weight is sliced, resident or streamed.
TEST_P(SealedMatchesPlain, BitIdenticalThroughSlicedStaging) {
  std::string stem = kSrc + "/tests/models/" + GetParam();
  HostTensor x = read_npy(stem + ".input.npy");
  Graph g = load_onnx_model(stem + ".onnx", {{"input", x.dims}});
  std::vector<float> plain = run_model(g, nullptr, x, "input");
  AesKey key = test_key(1);
  std::string file = pack_to_string(g, key, 1, 4096);
  int64_t sliced_reorders = 0;  // streamed weights reordered a slice at a time
  for (bool stream : {false, true}) {
    MemoryHost host(file);
    FixedKey keys(key);
    SealedModel sealed(host, keys);
    EnclaveOptions o;
    o.reorder_slice_bytes = 8192;
    NativePlatform platform;
    size_t resident = EnclaveSession(sealed.graph(), platform, o, &sealed).arena_bytes();
    if (stream) o.budget_bytes = resident * 3 / 4;  // forces weights to stream
    EnclaveSession s(sealed.graph(), platform, o, &sealed);
    if (stream) {
      EXPECT_GT(s.streamed_bytes(), 0u);
    }
    auto steps = s.steps();
    sliced_reorders += std::count_if(steps.begin(), steps.end(), [](const StepInfo& i) {
      return i.name.rfind("reorder ", 0) == 0 && i.name.find(" rows ") != std::string::npos;
    });
    HostTensor in = x;
    std::vector<float> y = s.run({in.view("input")})[0].data;
    ASSERT_EQ(plain.size(), y.size());
    // Resident: the same kernels, the same bits. Streamed: other kernels (tiles, windows),
    // whose reductions oneDNN blocks by width on some CPUs (AVX2): float32 rounding moves.
    if (stream)
      EXPECT_LT(max_relative_diff(y, plain), 1e-5f) << "streamed";
    else
      EXPECT_EQ(std::memcmp(plain.data(), y.data(), y.size() * 4), 0) << "resident";
  }
  // VGG and AlexNet stream only FC weights at this budget (row windows, no reorder).
  if (GetParam() != "vgg16_small" && GetParam() != "alexnet_small") {
    EXPECT_GT(sliced_reorders, 0) << "no streamed weight was reordered in slices";
  }
}

INSTANTIATE_TEST_SUITE_P(AllTestModels, SealedMatchesPlain,
                         ::testing::Values("vgg16_small", "resnet18_small", "resnet50_small", "mobilenet_v2_small",
                                           "squeezenet1_1_small", "alexnet_small", "densenet121_small"));

TEST(Sealed, DemoModelBitIdentical) {
  HostTensor x{{1, 1, 28, 28}, std::vector<float>(784)};
  for (size_t i = 0; i < x.data.size(); ++i) x.data[i] = static_cast<float>(i % 17) / 8.f - 1.f;
  Graph g = load_onnx_model(kSrc + "/models/fmnist_vgg.onnx", {{"image", x.dims}});
  std::vector<float> plain = run_model(g, nullptr, x, "image");
  AesKey key = test_key(12);
  std::string file = pack_to_string(g, key, 1, kDefaultChunkBytes);
  MemoryHost host(file);
  FixedKey keys(key);
  SealedModel sealed(host, keys);
  std::vector<float> y = run_model(sealed.graph(), &sealed, x, "image");
  ASSERT_EQ(plain.size(), y.size());
  EXPECT_EQ(std::memcmp(plain.data(), y.data(), y.size() * 4), 0);
}

TEST(Sealed, NoPlaintextWeightsOutsideTheEnclave) {
  // Recognisable weights: seeded random bytes in every constant.
  Graph g = load_onnx_model(kSrc + "/tests/models/resnet18_small.onnx", {{"input", {1, 3, 64, 64}}});
  std::mt19937 rng(99);
  std::string plaintext;
  for (Value& v : g.values)
    if (v.is_constant) {
      for (uint8_t& b : v.data) b = static_cast<uint8_t>(rng());
      plaintext.append(reinterpret_cast<const char*>(v.data.data()), v.data.size());
    }
  ASSERT_GT(plaintext.size(), 100000u);
  AesKey key = test_key(2);
  std::string file = pack_to_string(g, key, 1, 4096);
  MemoryHost host(file, /*record=*/true);
  FixedKey keys(key);
  SealedModel sealed(host, keys);
  NativePlatform platform;
  EnclaveSession s(sealed.graph(), platform, {}, &sealed);  // loads (decrypts) every weight
  ASSERT_FALSE(host.served().empty());

  // Every 32-byte window of the plaintext, by hash; then confirm candidates byte by byte.
  constexpr size_t kWin = 32;
  auto hash = [](const char* p) { return std::hash<std::string_view>{}(std::string_view(p, kWin)); };
  std::unordered_set<size_t> windows;
  for (size_t i = 0; i + kWin <= plaintext.size(); ++i) windows.insert(hash(plaintext.data() + i));
  auto leaks = [&](const std::string& haystack) {
    for (size_t i = 0; i + kWin <= haystack.size(); ++i)
      if (windows.count(hash(haystack.data() + i)) &&
          plaintext.find(std::string_view(haystack.data() + i, kWin)) != std::string::npos)
        return true;
    return false;
  };
  EXPECT_FALSE(leaks(file)) << "plaintext weight bytes in the .tee file";
  EXPECT_FALSE(leaks(host.served())) << "plaintext weight bytes passed through the host";
  EXPECT_TRUE(leaks(plaintext.substr(1000, 64))) << "the scan itself must find a real window";
}

TEST(Sealed, WrongKeyIsRefused) {
  Graph g = tiny_graph();
  std::string file = pack_to_string(g, test_key(3), 1, 64);
  try {
    load_everything(file, test_key(4));
    FAIL() << "a wrong key was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kBadArgument);
    EXPECT_NE(std::string(e.what()).find("not the one this model was sealed for"), std::string::npos) << e.what();
  }
}

TEST(Sealed, EverySingleByteFlipIsDetected) {
  AesKey key = test_key(5);
  std::string file = pack_to_string(tiny_graph(), key, 1, 64);
  ASSERT_NO_THROW(load_everything(file, key));
  ASSERT_LT(file.size(), 20000u) << "keep the tiny model tiny: this test is exhaustive";
  size_t detected = 0;
  for (size_t i = 0; i < file.size(); ++i)
    for (uint8_t mask : {0x01, 0x80}) {
      std::string bad = file;
      bad[i] = static_cast<char>(bad[i] ^ mask);
      try {
        load_everything(bad, key);
        ADD_FAILURE() << "flip of byte " << i << " (mask " << int(mask) << ") went undetected";
      } catch (const Error&) {
        ++detected;
      }
    }
  EXPECT_EQ(detected, 2 * file.size());
}

TEST(Sealed, TruncationAndAppendedBytesAreDetected) {
  AesKey key = test_key(6);
  std::string file = pack_to_string(tiny_graph(), key, 1, 64);
  for (size_t len = 0; len < file.size(); ++len) EXPECT_THROW(load_everything(file.substr(0, len), key), Error) << len;
  EXPECT_THROW(load_everything(file + std::string(1, '\0'), key), Error);
  EXPECT_THROW(load_everything(file + file, key), Error);
}

// Chunk k's byte range in a file (the format puts chunks back to back after the manifest).
std::pair<size_t, size_t> chunk_range(const std::string& file, const AesKey& key, uint32_t k) {
  MemoryHost host(file);
  FixedKey keys(key);
  SealedModel m(host, keys);
  uint64_t offset = m.header().chunks_offset;
  for (const SealedTensor& t : m.tensors())
    for (uint32_t c = 0; c < t.chunk_count; ++c) {
      size_t len = t.chunk_plain_bytes(c) + kTagBytes;
      if (t.first_chunk + c == k) return {offset, len};
      offset += len;
    }
  return {0, 0};
}

TEST(Sealed, SwappedChunksAreDetected) {
  AesKey key = test_key(7);
  std::string file = pack_to_string(tiny_graph(), key, 1, 64);
  auto a = chunk_range(file, key, 0), b = chunk_range(file, key, 1);
  ASSERT_EQ(a.second, b.second) << "the tiny model's first tensor has equal-size chunks";
  std::string swapped = file;
  swapped.replace(a.first, a.second, file.substr(b.first, b.second));
  swapped.replace(b.first, b.second, file.substr(a.first, a.second));
  ASSERT_NE(swapped, file);
  EXPECT_THROW(load_everything(swapped, key), Error);
}

TEST(Sealed, ChunksFromAnotherModelOrVersionAreDetected) {
  AesKey key = test_key(8);
  Graph g = tiny_graph();
  std::string v1 = pack_to_string(g, key, 1, 64), v1_again = pack_to_string(g, key, 1, 64);
  std::string v2 = pack_to_string(g, key, 2, 64);
  ASSERT_EQ(v1.size(), v2.size());
  auto c = chunk_range(v1, key, 2);
  for (const std::string* other : {&v1_again, &v2}) {
    std::string mixed = v1;
    mixed.replace(c.first, c.second, other->substr(c.first, c.second));
    EXPECT_THROW(load_everything(mixed, key), Error);
  }
  // Same for the manifest: another pack's manifest under this header.
  std::string mixed = v1;
  mixed.replace(kManifestOffset, c.first - kManifestOffset, v2.substr(kManifestOffset, c.first - kManifestOffset));
  EXPECT_THROW(load_everything(mixed, key), Error);
}

TEST(Sealed, RollbackBelowMinVersionIsRefused) {
  AesKey key = test_key(9);
  std::string v3 = pack_to_string(tiny_graph(), key, 3, 64);
  EXPECT_NO_THROW(load_everything(v3, key, 3));
  try {
    load_everything(v3, key, 4);
    FAIL() << "rollback accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kBadInput);
    EXPECT_NE(std::string(e.what()).find("rollback"), std::string::npos);
  }
}

TEST(Sealed, ManifestWithAbsurdOrInconsistentContentIsRejected) {
  Manifest m = plan_manifest(tiny_graph(), 64);
  uint32_t chunks = 0;
  for (const SealedTensor& t : m.tensors) chunks += t.chunk_count;
  auto good = encode_manifest(m);
  EXPECT_NO_THROW(decode_manifest(good.data(), good.size(), chunks));
  EXPECT_THROW(decode_manifest(good.data(), good.size(), chunks + 1), Error);
  for (size_t len = 0; len < good.size(); len += 7) EXPECT_THROW(decode_manifest(good.data(), len, chunks), Error);

  Graph& g = m.profiles[0].graph;
  auto first_constant = std::find_if(g.values.begin(), g.values.end(), [](const Value& v) { return v.is_constant; });
  ASSERT_NE(first_constant, g.values.end());
  Manifest huge = m;
  huge.profiles[0].graph.values[first_constant - g.values.begin()].dims = {int64_t{1} << 40, int64_t{1} << 40};
  auto bad = encode_manifest(huge);
  EXPECT_THROW(decode_manifest(bad.data(), bad.size(), chunks), Error);

  Manifest negative = m;
  negative.profiles[0].graph.values[g.inputs[0]].dims[2] = -4;
  bad = encode_manifest(negative);
  EXPECT_THROW(decode_manifest(bad.data(), bad.size(), chunks), Error);

  Manifest out_of_range = m;
  out_of_range.profiles[0].graph.nodes[0].inputs[0] = 12345;
  bad = encode_manifest(out_of_range);
  EXPECT_THROW(decode_manifest(bad.data(), bad.size(), chunks), Error);

  Manifest missing = m;
  uint32_t last = missing.tensors.back().chunk_count;
  missing.tensors.pop_back();
  bad = encode_manifest(missing);
  EXPECT_THROW(decode_manifest(bad.data(), bad.size(), chunks - last), Error);
}

// Shape profiles: every way a manifest's profiles and their constant tables can disagree
// with each other or with the tensor table is refused (kBadModel), never trusted.
TEST(Sealed, ManifestProfilesThatDisagreeAreRejected) {
  Graph one = tiny_graph();
  Graph two = load_onnx_model(kSrc + "/tests/data/tiny_sealed.onnx", {{"x", {2, 2, 4, 4}}});
  std::vector<const uint8_t*> plain;
  Manifest m = plan_manifest({&one, &two}, 64, plain);
  ASSERT_EQ(m.profiles.size(), 2u);
  uint32_t chunks = 0;
  for (const SealedTensor& t : m.tensors) chunks += t.chunk_count;
  auto good = encode_manifest(m);
  ASSERT_NO_THROW(decode_manifest(good.data(), good.size(), chunks));
  Manifest once = plan_manifest(one, 64);
  EXPECT_EQ(m.tensors.size(), once.tensors.size()) << "the profiles share every weight";

  auto expect_rejected = [&](const Manifest& bad, const std::string& what, const std::string& words) {
    try {
      auto bytes = encode_manifest(bad);
      decode_manifest(bytes.data(), bytes.size(), chunks);
      ADD_FAILURE() << what << ": accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kBadModel) << what << ": " << e.what();
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << what << ": " << e.what();
    }
  };
  auto first_constant = [](const ShapeProfile& p) {
    for (size_t v = 0; v < p.graph.values.size(); ++v)
      if (p.graph.values[v].is_constant) return v;
    return size_t{0};
  };
  Manifest same = m;
  same.profiles[1] = same.profiles[0];
  expect_rejected(same, "two profiles with the same dims", "have the same input dims");
  Manifest renamed = m;
  renamed.profiles[1].graph.values[renamed.profiles[1].graph.inputs[0]].name = "other";
  expect_rejected(renamed, "another input name", "differs from profile 0");
  Manifest out_of_range = m;
  out_of_range.profiles[1].tensor_of_value[first_constant(m.profiles[1])] = 999;
  expect_rejected(out_of_range, "a tensor index out of range", "out of range");
  Manifest wrong_size = m;
  size_t c0 = first_constant(m.profiles[0]);
  wrong_size.profiles[0].tensor_of_value[c0] = (m.profiles[0].tensor_of_value[c0] + 1) % m.tensors.size();
  expect_rejected(wrong_size, "a constant naming a tensor of another size", "different sizes");
  Manifest unused = m;  // the last tensor named by no profile
  uint32_t last = static_cast<uint32_t>(m.tensors.size() - 1);
  for (ShapeProfile& p : unused.profiles)
    for (size_t v = 0; v < p.tensor_of_value.size(); ++v)
      if (p.tensor_of_value[v] == last) {
        p.graph.values[v].is_constant = false;
        p.tensor_of_value[v] = kNoTensor;
      }
  expect_rejected(unused, "a tensor no profile uses", "");
  Manifest none;
  none.tensors = m.tensors;
  EXPECT_THROW(encode_manifest(none), Error);  // the packer cannot write it
  std::vector<uint8_t> zero(good);
  std::memset(zero.data(), 0, 4);  // profile count 0
  EXPECT_THROW(decode_manifest(zero.data(), zero.size(), chunks), Error);
}

// The packer refuses what the loader would refuse (a rank-9 tensor used to be sealed into
// a file no loader could open).
TEST(Sealed, PackRefusesWhatTheFormatCannotHold) {
  Manifest m = plan_manifest(tiny_graph(), 64);
  Value& x = m.profiles[0].graph.values[m.profiles[0].graph.inputs[0]];
  x.dims = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  try {
    (void)encode_manifest(m);
    FAIL() << "a rank-9 tensor was sealed";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported) << e.what();
    EXPECT_NE(std::string(e.what()).find("tensor '" + x.name + "' has rank 9"), std::string::npos) << e.what();
  }
  x.dims = {1, 1, 1, 1, 1, 1, 1, 1};
  EXPECT_NO_THROW((void)encode_manifest(m));
}

TEST(Sealed, HeaderIsReadableWithoutTheKey) {
  AesKey key = test_key(10);
  std::string file = pack_to_string(tiny_graph(), key, 7, 64);
  SealedHeader h = decode_header(reinterpret_cast<const uint8_t*>(file.data()), file.size());
  EXPECT_EQ(h.model_version, 7u);
  EXPECT_EQ(h.kek_id, kek_id_of(key));
  EXPECT_EQ(h.file_bytes, file.size());
}

TEST(Sealed, PackIsAtomic) {
  // A failing pack (bad chunk size) leaves no file under the final name.
  std::string path = tmp("atomic.tee");
  std::remove(path.c_str());
  SealOptions o;
  o.chunk_bytes = 1;
  EXPECT_THROW(pack_model(tiny_graph(), test_key(11), path, o), Error);
  EXPECT_THROW(read_file(path), Error);
}

}  // namespace
