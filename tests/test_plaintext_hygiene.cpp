// Plaintext weights live only in the secure arena: after a sealed run of a compressed
// model, no 32-byte window of the model's plaintext weights is anywhere in the process's
// writable memory (heap, stacks, libraries' data). Item 9 of the hardening review: zstd's
// own decompression context (malloc'ed, freed unwiped) left 57-66 KB of weights behind.
//
// The model is packed in a child process, so the packer's plaintext never enters this
// one. The weights to look for are read from the sealed file into mmap'ed buffers outside
// the heap, reduced to hashes of their 32-byte windows, and wiped.
#include <gtest/gtest.h>
#include <openssl/crypto.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bitset>
#include <fstream>
#include <memory>
#include <sstream>
#include <unordered_set>

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
#include "memory_scan.h"
#include "tee/none/native_platform.h"

using namespace teeinfer;
using namespace memory_scan;

namespace {

// Packs the committed small AlexNet (int8, clustered to 16 values, so zstd and lz4 shrink
// its chunks) in a child process.
void pack_in_child(const std::string& key, const std::string& tee, Codec codec) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int rc = 0;
    try {
      Graph g = load_onnx_model(std::string(TEEINFER_SOURCE_DIR) + "/tests/models/alexnet_small.onnx",
                                {{"input", {1, 3, 224, 224}}});
      quantize_weights(g, QuantizeTarget::kAll);
      cluster_int8_weights(g, 16, /*conv_too=*/true);
      SealOptions o;
      o.codec = codec;
      pack_model(g, read_key_file(key), tee, o);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "pack failed: %s\n", e.what());
      rc = 1;
    }
    ::_exit(rc);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

class PlaintextHygiene : public ::testing::TestWithParam<Codec> {};

TEST_P(PlaintextHygiene, NoWindowOfTheWeightsOutsideTheArenaAfterASealedRun) {
  const std::string dir = std::string(TEEINFER_BINARY_DIR) + "/tests/";
  const std::string name = std::string("hygiene_") + codec_name(GetParam());
  const std::string key = dir + name + ".key", tee = dir + name + ".tee";
  write_key_file(key, generate_key(), /*overwrite=*/true);
  pack_in_child(key, tee, GetParam());
  HostTensor x = read_npy(std::string(TEEINFER_SOURCE_DIR) + "/tests/models/alexnet_small.input.npy");
  ASSERT_EQ(x.dims, (Dims{1, 3, 224, 224}));

  auto windows = std::make_unique<WindowSet>();
  uint64_t plain_bytes = 0, stored_bytes = 0;
  {
    KeyFile keys(key);
    FileHost host(tee);
    SealedModel sealed(host, keys);
    MappedBuffer scratch(sealed.scratch_bytes());
    sealed.set_scratch(scratch.data);
    for (size_t i = 0; i < sealed.tensors().size(); ++i) {
      const SealedTensor& t = sealed.tensors()[i];
      stored_bytes += t.stored_total();
      if (t.bytes < 4096) continue;
      MappedBuffer plain(t.bytes);
      sealed.read_tensor(i, plain.data, t.bytes);
      windows->add(reinterpret_cast<const uint8_t*>(plain.data), t.bytes);
      // The scanner finds what is there: every window of this buffer is a hit.
      ASSERT_GT(windows->count_in(reinterpret_cast<const uint8_t*>(plain.data), t.bytes), 0u);
      plain_bytes += t.bytes;
    }
    sealed.set_scratch(nullptr);
  }
  ASSERT_GT(windows->size(), 10000u);
  if (GetParam() != Codec::kNone) {
    EXPECT_LT(stored_bytes, plain_bytes) << "the chunks must be compressed";
  }

  {  // The sealed run: weights decrypted and decoded into the arena only.
    KeyFile keys(key);
    FileHost host(tee);
    SealedModel sealed(host, keys);
    NativePlatform native;
    EnclaveSession s(sealed.graph(), native, {}, &sealed);
    EXPECT_EQ(s.run({x.view("input")})[0].dims, (Dims{1, 1000}));
    EXPECT_EQ(sealed.load_stats().bytes, stored_bytes);
  }  // the arena is unmapped here
  std::string where;
  EXPECT_EQ(count_in_process_memory(*windows, &where), 0u) << "plaintext weights found in: " << where;
  std::remove(key.c_str());
  std::remove(tee.c_str());
}

INSTANTIATE_TEST_SUITE_P(Codecs, PlaintextHygiene, ::testing::Values(Codec::kNone, Codec::kZstd, Codec::kLz4),
                         [](const auto& info) { return std::string(codec_name(info.param)); });

}  // namespace
