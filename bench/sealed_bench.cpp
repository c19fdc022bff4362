// Sealed-model throughput, side by side in one run:
//   * loader decrypt+verify GB/s: every chunk of a 256 MiB model authenticated and
//     decrypted into (arena-like) memory, from memory and through the file host;
//   * `openssl speed -evp aes-256-gcm` at the same chunk size (run by bench/sealed_bench.sh);
//   * pack time.
// 1 thread. Medians of --runs runs.
//
//   build/bench/bench_sealed [--mib 256] [--runs 5] [--chunk 262144]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "common/bulk_aead.h"
#include "common/sealed_format.h"
#include "enclave/sealed_model.h"
#include "host/file_host.h"
#include "host/file_io.h"
#include "host/key_file.h"
#include "host/memory_host.h"
#include "host/packer.h"

using namespace teeinfer;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// A Gemm whose constant weight is `mib` MiB of random floats.
Graph synthetic_model(int64_t mib) {
  int64_t k = 4096, n = mib * (1 << 20) / 4 / k;
  Graph g;
  ValueId x = g.add_value(Value{"x", DType::kF32, {1, k}, false, {}});
  Value w{"w", DType::kF32, {n, k}, true, std::vector<uint8_t>(static_cast<size_t>(n * k * 4))};
  std::mt19937 rng(1);
  for (size_t i = 0; i < w.data.size(); i += 4) {
    float f = static_cast<float>(rng()) / 4294967296.f - 0.5f;
    std::memcpy(w.data.data() + i, &f, 4);
  }
  ValueId wid = g.add_value(std::move(w));
  ValueId y = g.add_value(Value{"y", DType::kF32, {1, n}, false, {}});
  GemmParams p;
  p.trans_b = true;
  g.nodes.push_back(Node{"fc", "Gemm", OpKind::kGemm, {x, wid, kNoValue}, {y}, p});
  g.inputs = {x};
  g.outputs = {y};
  return g;
}

// Seconds to open the model and authenticate + decrypt every tensor; also the seconds
// spent in decryption proper (`decrypt_s`) and in copying ciphertext in (`copy_in_s`).
double load_all(HostInterface& host, KeyProvider& keys, std::vector<std::byte>& dst, double& decrypt_s,
                double& copy_in_s) {
  auto t0 = std::chrono::steady_clock::now();
  SealedModel m(host, keys);
  std::vector<std::byte> scratch(m.scratch_bytes());
  m.set_scratch(scratch.data());
  for (size_t i = 0; i < m.tensors().size(); ++i) m.read_tensor(i, dst.data(), m.tensors()[i].bytes);
  decrypt_s = m.load_stats().decrypt_ns / 1e9;
  copy_in_s = m.load_stats().copy_in_ns / 1e9;
  return seconds_since(t0);
}

// The same bytes moved as the loader moves them, with memcpy in place of decryption:
// every chunk's ciphertext copied into a window, then the window into `dst`. The data
// movement alone, i.e. what the loader's end to end would be with a free cipher.
double move_only(const std::string& file, const SealedModel& m, std::vector<std::byte>& dst, uint64_t window) {
  std::vector<std::byte> scratch(window + kTagBytes);
  auto t0 = std::chrono::steady_clock::now();
  uint64_t offset = m.header().chunks_offset, pos = 0;
  for (const SealedTensor& t : m.tensors())
    for (uint32_t k = 0; k < t.chunk_count; ++k) {
      uint64_t plain = t.chunk_plain_bytes(k);
      for (uint64_t done = 0; done < plain; done += window) {
        uint64_t n = std::min(window, plain - done);
        std::memcpy(scratch.data(), file.data() + offset + done, n);
        std::memcpy(dst.data() + pos + done, scratch.data(), n);
      }
      offset += plain + kTagBytes;
      pos += plain;
    }
  return seconds_since(t0);
}

// The bulk cipher alone, as `openssl speed -evp aes-256-gcm -decrypt` measures OpenSSL:
// one `chunk`-byte buffer decrypted and verified over and over in cache, bytes per second
// of this thread's CPU time (openssl speed divides by user CPU time).
double bulk_in_cache_gbps(uint64_t chunk) {
  BulkAeadKey key(kFreshRandomKey);
  std::vector<uint8_t> buf(chunk + kTagBytes, 1), out(chunk);
  uint8_t nonce[kNonceBytes] = {};
  key.encrypt(nonce, nullptr, 0, buf.data(), chunk, buf.data(), buf.data() + chunk);
  auto cpu_s = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  };
  double t0 = cpu_s(), t = t0;
  uint64_t bytes = 0;
  for (; t - t0 < 2.0; t = cpu_s()) {
    for (int i = 0; i < 64; ++i)
      if (!key.decrypt(nonce, nullptr, 0, buf.data(), chunk, buf.data() + chunk, out.data())) return 0;
    bytes += 64 * chunk;
  }
  return static_cast<double>(bytes) / (t - t0) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t mib = 256;
  int runs = 5;
  uint64_t chunk = kDefaultChunkBytes;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--mib")
      mib = std::stoll(argv[i + 1]);
    else if (a == "--runs")
      runs = std::stoi(argv[i + 1]);
    else if (a == "--chunk")
      chunk = std::stoull(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: bench_sealed [--mib N] [--runs N] [--chunk BYTES]\n");
      return 2;
    }
  }
  Graph g = synthetic_model(mib);
  AesKey kek = generate_key();
  std::string path = "/tmp/teeinfer_bench_sealed.tee";
  std::vector<double> pack_s, mem_s, file_s, decrypt_s, copy_in_s, file_decrypt_s, file_copy_in_s, move_s;
  for (int r = 0; r < runs; ++r) {
    SealOptions o;
    o.chunk_bytes = chunk;
    auto t0 = std::chrono::steady_clock::now();
    pack_model(g, kek, path, o);
    pack_s.push_back(seconds_since(t0));
  }
  std::string bytes = read_file(path);
  std::vector<std::byte> dst(g.value(1).data.size());
  struct Keys : KeyProvider {
    AesKey k;
    bool key_encryption_key(const std::array<uint8_t, 16>&, AesKey& out) noexcept override {
      out = k;
      return true;
    }
  } keys;
  keys.k = kek;
  for (int r = 0; r < runs; ++r) {
    MemoryHost mem(bytes);
    double d = 0, c = 0;
    mem_s.push_back(load_all(mem, keys, dst, d, c));
    decrypt_s.push_back(d);
    copy_in_s.push_back(c);
    FileHost file(path);
    file_s.push_back(load_all(file, keys, dst, d, c));
    file_decrypt_s.push_back(d);
    file_copy_in_s.push_back(c);
    SealedModel m(mem, keys);
    move_s.push_back(move_only(bytes, m, dst, m.scratch_bytes() - kTagBytes));
  }
  {  // last, so the weights checked below are the ones the loader decrypted
    MemoryHost mem(bytes);
    double d = 0, c = 0;
    load_all(mem, keys, dst, d, c);
  }
  if (std::memcmp(dst.data(), g.value(1).data.data(), dst.size()) != 0) {
    std::fprintf(stderr, "decrypted weights differ from the originals\n");
    return 1;
  }
  double gb = static_cast<double>(dst.size()) / 1e9;
  std::printf(
      "{\"weight_mib\": %lld, \"chunk_bytes\": %llu, \"runs\": %d, \"pack_gbps\": %.3f, "
      "\"decrypt_verify_gbps\": %.3f, \"load_from_memory_gbps\": %.3f, \"load_from_file_gbps\": %.3f, "
      "\"copy_in_memory_gbps\": %.3f, \"decrypt_verify_file_gbps\": %.3f, \"copy_in_file_gbps\": %.3f, "
      "\"move_only_gbps\": %.3f, \"bulk_in_cache_gbps\": %.3f, \"bulk_aead\": \"%s\"}\n",
      static_cast<long long>(mib), static_cast<unsigned long long>(chunk), runs, gb / median(pack_s),
      gb / median(decrypt_s), gb / median(mem_s), gb / median(file_s), gb / median(copy_in_s),
      gb / median(file_decrypt_s), gb / median(file_copy_in_s), gb / median(move_s), bulk_in_cache_gbps(chunk),
      bulk_aead_description().c_str());
  std::remove(path.c_str());
  return 0;
}
