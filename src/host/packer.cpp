#include "host/packer.h"

#include <openssl/rand.h>
#include <unistd.h>

#include <bit>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <tuple>

#include "common/error.h"
#include "host/file_io.h"

namespace teeinfer {
namespace {

void random_bytes(uint8_t* p, size_t n) {
  if (RAND_bytes(p, static_cast<int>(n)) != 1) throw Error(ErrorCode::kKernel, "OpenSSL: no random bytes");
}

}  // namespace

namespace {

// The manifest's copy of a graph: its structure only (copying the weights too would cost
// a pass over all of them).
Graph structure_of(const Graph& g) {
  Graph s;
  s.name = g.name;
  s.nodes = g.nodes;
  s.inputs = g.inputs;
  s.outputs = g.outputs;
  for (const Value& v : g.values) s.values.push_back(Value{v.name, v.dtype, v.dims, v.is_constant, {}});
  return s;
}

// Weights full-int8 nodes read as they are (the others are dequantized when loaded).
std::vector<bool> kept_int8_weights(const Graph& g) {
  std::vector<bool> kept(g.values.size(), false);
  for (const Node& n : g.nodes)
    if (const Int8Weights* q = int8_weights_of(n); q && q->full()) kept[n.inputs[1]] = true;
  return kept;
}

SealedTensor tensor_for(const Value& v, bool dequantized, uint64_t chunk_bytes) {
  SealedTensor t;
  t.bytes = v.data.size();
  uint64_t rows = v.dims.empty() ? 1 : static_cast<uint64_t>(v.dims[0]);
  if (rows == 0 || t.bytes == 0) throw Error(ErrorCode::kUnsupported, "constant '" + v.name + "' is empty");
  t.row_bytes = t.bytes / rows;
  // A power of two of rows: the enclave reorders weights in slices of whole chunks and
  // whole layout blocks (16 or 64 channels), whose least common multiple stays small.
  // Rows of a dequantized (weight-only) int8 weight are counted at their fp32 size, so
  // the window a chunk is dequantized into is no larger than an fp32 chunk.
  uint64_t computed_row_bytes = dequantized ? t.row_bytes * sizeof(float) : t.row_bytes;
  t.rows_per_chunk = std::min(rows, std::bit_floor(std::max<uint64_t>(1, chunk_bytes / computed_row_bytes)));
  if (t.rows_per_chunk * t.row_bytes > kMaxChunkBytes)
    throw Error(ErrorCode::kUnsupported, "constant '" + v.name + "' has rows larger than 1 GiB");
  return t;
}

}  // namespace

Manifest plan_manifest(const Graph& g, uint64_t chunk_bytes) {
  std::vector<const uint8_t*> unused;
  return plan_manifest(std::vector<const Graph*>{&g}, chunk_bytes, unused);
}

Manifest plan_manifest(const std::vector<const Graph*>& profiles, uint64_t chunk_bytes,
                       std::vector<const uint8_t*>& plaintext) {
  Manifest m;
  plaintext.clear();
  // Tensors already sealed, by what must agree for two constants to share one: dtype,
  // dims and how the enclave reads them (then their bytes are compared).
  std::map<std::tuple<DType, Dims, bool>, std::vector<uint32_t>> sealed;
  uint32_t next = 0;
  for (const Graph* g : profiles) {
    ShapeProfile p{structure_of(*g), std::vector<uint32_t>(g->values.size(), kNoTensor)};
    std::vector<bool> kept_int8 = kept_int8_weights(*g);
    for (size_t i = 0; i < g->values.size(); ++i) {
      const Value& v = g->values[i];
      if (!v.is_constant) continue;
      bool dequantized = v.dtype == DType::kS8 && !kept_int8[i];
      auto& same_kind = sealed[{v.dtype, v.dims, dequantized}];
      auto same = std::find_if(same_kind.begin(), same_kind.end(), [&](uint32_t t) {
        return m.tensors[t].bytes == v.data.size() && std::memcmp(plaintext[t], v.data.data(), v.data.size()) == 0;
      });
      if (same != same_kind.end()) {  // stored once, whichever profile or constant uses it
        p.tensor_of_value[i] = *same;
        continue;
      }
      SealedTensor t = tensor_for(v, dequantized, chunk_bytes);
      t.first_chunk = next;
      t.chunk_count = static_cast<uint32_t>((t.bytes / t.row_bytes + t.rows_per_chunk - 1) / t.rows_per_chunk);
      next += t.chunk_count;
      p.tensor_of_value[i] = static_cast<uint32_t>(m.tensors.size());
      same_kind.push_back(static_cast<uint32_t>(m.tensors.size()));
      m.tensors.push_back(t);
      plaintext.push_back(v.data.data());
    }
    m.profiles.push_back(std::move(p));
  }
  return m;
}

double measure_decrypt_rate() {
  constexpr size_t kBytes = size_t{4} << 20;
  std::vector<uint8_t> plain(kBytes, 0x5a), sealed(kBytes), tag(kTagBytes), host(kBytes);
  BulkAeadKey key(kFreshRandomKey);
  uint8_t nonce[kNonceBytes] = {};
  key.encrypt(nonce, nullptr, 0, plain.data(), kBytes, sealed.data(), tag.data());
  double best = 1e30;
  for (int i = 0; i < 5; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    std::memcpy(host.data(), sealed.data(), kBytes);  // the copy-in every chunk pays
    if (!key.decrypt(nonce, nullptr, 0, host.data(), kBytes, tag.data(), plain.data()))
      throw Error(ErrorCode::kBadArgument, "AES-GCM self-test failed");
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return static_cast<double>(kBytes) / best;
}

EncodedTensor encode_tensor(const SealedTensor& t, const uint8_t* plain, Codec codec) {
  EncodedTensor e{codec, {}};
  uint64_t pos = 0;
  bool any = false;
  for (uint32_t k = 0; k < t.chunk_count; ++k) {
    uint32_t n = t.chunk_plain_bytes(k);
    e.chunks.push_back(encode_chunk(codec, plain + pos, n));
    any |= !e.chunks.back().empty();
    pos += n;
  }
  if (!any) e = EncodedTensor{};  // nothing got smaller: no codec
  return e;
}

EncodedTensor choose_codec(const SealedTensor& t, const uint8_t* plain, double decrypt_rate) {
  EncodedTensor best;
  double best_s = static_cast<double>(t.bytes) / decrypt_rate;  // stored as it is
  std::vector<uint8_t> out;
  for (Codec c : {Codec::kPalette4, Codec::kLz4, Codec::kZstd}) {
    EncodedTensor e = encode_tensor(t, plain, c);
    if (e.codec == Codec::kNone) continue;
    double decode_s = 0, stored = 0;
    for (uint32_t k = 0; k < t.chunk_count; ++k) {
      const auto& chunk = e.chunks[k];
      uint32_t n = t.chunk_plain_bytes(k);
      stored += static_cast<double>(chunk.empty() ? n : chunk.size());
      if (chunk.empty()) continue;
      out.resize(n);
      auto t0 = std::chrono::steady_clock::now();
      decode_chunk(c, chunk.data(), chunk.size(), out.data(), n);
      decode_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    double s = stored / decrypt_rate + decode_s;
    if (s < best_s * 0.95) {  // a codec must win clearly: timings are noisy
      best_s = s;
      best = std::move(e);
    }
  }
  return best;
}

namespace {

// Which sealed tensors hold float32 values (from the graphs' constants that name them).
std::vector<bool> float32_tensors(const std::vector<const Graph*>& profiles, const Manifest& m) {
  std::vector<bool> out(m.tensors.size(), false);
  for (size_t p = 0; p < profiles.size(); ++p) {
    const std::vector<uint32_t>& tensor_of = m.profiles[p].tensor_of_value;
    for (size_t i = 0; i < tensor_of.size(); ++i)
      if (tensor_of[i] != kNoTensor && profiles[p]->values[i].dtype == DType::kF32) out[tensor_of[i]] = true;
  }
  return out;
}

}  // namespace

PackStats pack_model(const Graph& g, const AesKey& kek, const std::string& path, const SealOptions& options) {
  return pack_model(std::vector<const Graph*>{&g}, kek, path, options);
}

PackStats pack_model(const std::vector<const Graph*>& profiles, const AesKey& kek, const std::string& path,
                     const SealOptions& options) {
  if (profiles.empty()) throw Error(ErrorCode::kBadArgument, "no shape profile to pack");
  for (const Graph* g : profiles) validate_graph(*g);
  if (options.chunk_bytes < 64 || options.chunk_bytes > kMaxChunkBytes)
    throw Error(ErrorCode::kBadArgument, "--chunk-size must be from 64 bytes to 1 GiB");
  std::vector<const uint8_t*> plaintext;  // of each sealed tensor, in the profiles' graphs
  Manifest m = plan_manifest(profiles, options.chunk_bytes, plaintext);
  m.bound_inputs = options.bound_inputs;
  std::vector<EncodedTensor> encoded(m.tensors.size());
  std::vector<bool> is_float32 = float32_tensors(profiles, m);
  const bool compress = options.auto_codec || options.codec != Codec::kNone;
  const double rate = options.auto_codec ? measure_decrypt_rate() : 0;
  for (size_t i = 0; i < m.tensors.size(); ++i) {
    SealedTensor& t = m.tensors[i];
    const uint8_t* plain = plaintext[i];
    // Float32 weights that are all halves (a float16 model's) are stored as halves,
    // whatever else was asked: lossless, and half the bytes to decrypt.
    if (is_float32[i]) encoded[i] = encode_tensor(t, plain, Codec::kFloat16);
    if (encoded[i].codec == Codec::kNone && compress)
      encoded[i] = options.auto_codec ? choose_codec(t, plain, rate) : encode_tensor(t, plain, options.codec);
    if (encoded[i].codec == Codec::kNone) continue;
    t.codec = encoded[i].codec;
    for (uint32_t k = 0; k < t.chunk_count; ++k)
      t.stored_bytes.push_back(encoded[i].chunks[k].empty() ? t.chunk_plain_bytes(k)
                                                            : static_cast<uint32_t>(encoded[i].chunks[k].size()));
  }
  std::vector<uint8_t> manifest = encode_manifest(m);

  SealedHeader h;
  // The model id names a model across its versions when the owner gives one (pack
  // --model-id); otherwise every pack gets a fresh random id.
  if (options.model_id)
    h.model_id = *options.model_id;
  else
    random_bytes(h.model_id.data(), h.model_id.size());
  h.model_version = options.model_version;
  h.kek_id = kek_id_of(kek);
  h.manifest_bytes = manifest.size() + kTagBytes;
  h.chunks_offset = kManifestOffset + h.manifest_bytes;
  PackStats stats;
  for (const SealedTensor& t : m.tensors) {
    h.chunk_count += t.chunk_count;
    stats.weight_bytes += t.bytes;
    stats.stored_weight_bytes += t.stored_total();
    stats.compressed_tensors += t.codec != Codec::kNone;
  }
  h.file_bytes = h.chunks_offset + stats.stored_weight_bytes + uint64_t{h.chunk_count} * kTagBytes;
  auto header = encode_header(h);

  AesKey data_key{};
  random_bytes(data_key.data(), data_key.size());
  std::optional<BulkAeadKey> bulk_key;  // the data key prepared once for the manifest and every chunk
  // Streamed chunk by chunk into a temporary file that becomes `path` only when complete.
  AtomicFileWriter out(path);
  auto write = [&](const void* p, size_t n) { out.write(p, n); };
  try {
    write(header.data(), header.size());
    uint8_t wrapped[kWrappedKeyBytes];
    random_bytes(wrapped, kNonceBytes);
    aes_gcm_encrypt(kek, wrapped, header.data(), header.size(), data_key.data(), 32, wrapped + kNonceBytes,
                    wrapped + kNonceBytes + 32);
    write(wrapped, sizeof wrapped);
    bulk_key.emplace(data_key);
    wipe(data_key.data(), data_key.size());
    std::vector<uint8_t> sealed(manifest.size() + kTagBytes);
    auto mn = manifest_nonce();
    bulk_key->encrypt(mn.data(), header.data(), header.size(), manifest.data(), manifest.size(), sealed.data(),
                      sealed.data() + manifest.size());
    write(sealed.data(), sealed.size());
    std::vector<uint8_t> chunk;
    uint64_t done = 0;
    for (size_t ti = 0; ti < m.tensors.size(); ++ti) {
      const SealedTensor& t = m.tensors[ti];
      const uint8_t* plain = plaintext[ti];
      uint64_t pos = 0;
      for (uint32_t k = 0; k < t.chunk_count; ++k) {
        uint32_t n = t.chunk_plain_bytes(k), stored = t.chunk_stored_bytes(k);
        const uint8_t* payload = t.chunk_compressed(k) ? encoded[ti].chunks[k].data() : plain + pos;
        chunk.resize(stored + kTagBytes);
        auto nonce = chunk_nonce(t.first_chunk + k);
        auto aad = chunk_aad(h, static_cast<uint32_t>(ti), k, t.chunk_count, n);
        bulk_key->encrypt(nonce.data(), aad.data(), aad.size(), payload, stored, chunk.data(), chunk.data() + stored);
        write(chunk.data(), chunk.size());
        pos += n;
        done += n;
        if (options.progress) options.progress(done, stats.weight_bytes);
      }
      ++stats.tensors;
      stats.chunks += t.chunk_count;
    }
    out.commit();
  } catch (...) {
    wipe(data_key.data(), data_key.size());
    throw;  // `out` removes the temporary file
  }
  stats.file_bytes = h.file_bytes;
  stats.model_id = h.model_id;
  return stats;
}

}  // namespace teeinfer
