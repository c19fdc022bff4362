#include "enclave/sealed_model.h"

#include <algorithm>
#include <cstring>

#ifndef TEEINFER_COPY_IN_BYTES
#define TEEINFER_COPY_IN_BYTES (256 * 1024)
#endif

#include "common/error.h"

namespace teeinfer {

// Ciphertext copy-in window: small enough to stay in L2 between the copy and the decrypt.
// Measured with bench/sealed_bench.sh (see docs/format.md, "Throughput").
constexpr uint64_t kCopyInBytes = TEEINFER_COPY_IN_BYTES;

namespace {

// The manifest is graph structure only (weights are in chunks): 256 MiB is far above any
// real one and keeps a hostile header from making the enclave allocate the whole file.
constexpr uint64_t kMaxManifestBytes = uint64_t{256} << 20;

[[noreturn]] void tampered(const std::string& what) {
  throw Error(ErrorCode::kBadModel, "sealed model: " + what +
                                        " failed authentication (the file is corrupt, tampered with, or mixes parts "
                                        "of different models)");
}

}  // namespace

void SealedModel::read_host(uint64_t offset, void* dst, size_t n, const char* what) {
  ++stats_.host_calls;
  if (!host_.read_model(offset, dst, n))
    throw Error(ErrorCode::kIo, std::string("sealed model: cannot read the ") + what + " from the host");
}

SealedModel::SealedModel(HostInterface& host, KeyProvider& keys, const SealedLoadOptions& options) : host_(host) {
  uint64_t size = host.model_bytes();
  uint8_t header_bytes[kHeaderBytes] = {};
  if (size >= kHeaderBytes) read_host(0, header_bytes, kHeaderBytes, "header");
  header_ = decode_header(header_bytes, size);  // checks the size first: a short file fails there
  if (header_.model_version < options.min_version)
    throw Error(ErrorCode::kBadInput, "sealed model: version " + std::to_string(header_.model_version) +
                                          " is older than the minimum " + std::to_string(options.min_version) +
                                          " (rollback refused)");
  if (options.expected_model_id && header_.model_id != *options.expected_model_id)
    throw Error(ErrorCode::kBadInput, "sealed model: model id " + to_hex(header_.model_id) + " is not the expected " +
                                          to_hex(*options.expected_model_id) +
                                          " (another model sealed with the same key?)");
  unwrap_data_key(keys, header_bytes);
  read_manifest(header_bytes);
}

SealedModel::~SealedModel() = default;  // the stream, then the key, wipe themselves

void SealedModel::unwrap_data_key(KeyProvider& keys, const uint8_t* header_bytes) {
  AesKey kek{};
  if (!keys.key_for_model(header_.kek_id, header_.model_id, header_.model_version, kek) ||
      kek_id_of(kek) != header_.kek_id) {
    wipe(kek.data(), kek.size());
    throw Error(ErrorCode::kBadArgument,
                "sealed model: the key given is not the one this model was sealed for (model " +
                    to_hex(header_.model_id) + ", version " + std::to_string(header_.model_version) +
                    "), or its key provider does not release it for them");
  }
  uint8_t wrapped[kWrappedKeyBytes];
  read_host(kHeaderBytes, wrapped, sizeof wrapped, "wrapped key");
  // One small message under the KEK: OpenSSL (common/aes_gcm.h). Everything under the
  // data key goes through the bulk cipher, prepared once here.
  AesKey data_key{};
  bool ok = aes_gcm_decrypt(kek, wrapped, header_bytes, kHeaderBytes, wrapped + kNonceBytes, 32,
                            wrapped + kNonceBytes + 32, data_key.data());
  wipe(kek.data(), kek.size());
  try {
    if (!ok) tampered("the header or the wrapped key");
    data_key_.emplace(data_key);
  } catch (...) {
    wipe(data_key.data(), data_key.size());
    throw;
  }
  wipe(data_key.data(), data_key.size());
  chunk_stream_.emplace(*data_key_);
}

void SealedModel::read_manifest(const uint8_t* header_bytes) {
  uint64_t n = header_.manifest_bytes;
  if (n > kMaxManifestBytes) throw Error(ErrorCode::kBadModel, "sealed model: manifest larger than 256 MiB");
  std::vector<uint8_t> buf(static_cast<size_t>(n));
  read_host(kManifestOffset, buf.data(), buf.size(), "manifest");
  size_t plain = buf.size() - kTagBytes;
  auto nonce = manifest_nonce();
  if (!data_key_->decrypt(nonce.data(), header_bytes, kHeaderBytes, buf.data(), plain, buf.data() + plain, buf.data()))
    tampered("the manifest");
  manifest_ = decode_manifest(buf.data(), plain, header_.chunk_count);
  manifest_sha256_ = sha256(buf.data(), plain);
  wipe(buf.data(), buf.size());
  // Chunk positions follow from the tensor table; they must fill the rest of the file.
  uint64_t offset = header_.chunks_offset;
  for (size_t t = 0; t < manifest_.tensors.size(); ++t) {
    const SealedTensor& st = manifest_.tensors[t];
    for (uint32_t k = 0; k < st.chunk_count; ++k) {
      chunk_offsets_.push_back(offset);
      uint64_t plain_bytes = st.chunk_plain_bytes(k), stored = st.chunk_stored_bytes(k);
      max_chunk_bytes_ = std::max(max_chunk_bytes_, plain_bytes);
      if (st.chunk_compressed(k)) {
        max_compressed_bytes_ = std::max(max_compressed_bytes_, stored);
        zstd_chunks_ |= st.codec == Codec::kZstd;
      }
      offset += stored + kTagBytes;
    }
  }
  if (offset != header_.file_bytes)
    throw Error(ErrorCode::kBadModel, "sealed model: the chunks do not fill the file as the manifest says");
}

size_t SealedModel::chunk_scratch_bytes() const {
  // A compressed chunk comes in whole: it is authenticated before it is decoded.
  size_t bytes =
      static_cast<size_t>(std::max(std::min<uint64_t>(max_chunk_bytes_, kCopyInBytes), max_compressed_bytes_)) +
      kTagBytes;
  return (bytes + 63) / 64 * 64;
}

size_t SealedModel::scratch_bytes() const {
  // zstd also decodes in the arena (its workspace follows the chunk); the other codecs
  // need no working memory.
  return chunk_scratch_bytes() + (zstd_chunks_ ? ChunkDecoder::workspace_bytes() : 0);
}

void SealedModel::set_scratch(std::byte* scratch) {
  scratch_ = scratch;
  decoder_.reset();
  if (scratch && max_compressed_bytes_ > 0)
    decoder_ = std::make_unique<ChunkDecoder>(scratch + chunk_scratch_bytes(),
                                              zstd_chunks_ ? ChunkDecoder::workspace_bytes() : 0);
}

void SealedModel::select_profile(size_t index) {
  if (index >= manifest_.profiles.size())
    throw Error(ErrorCode::kBadArgument, "sealed model: no shape profile " + std::to_string(index) + " (it has " +
                                             std::to_string(manifest_.profiles.size()) + ")");
  active_ = index;
}

size_t SealedModel::tensor_index(ValueId v) const {
  const ShapeProfile& p = profile();
  if (v < 0 || static_cast<size_t>(v) >= p.tensor_of_value.size() || p.tensor_of_value[v] == kNoTensor)
    throw Error(ErrorCode::kBadModel, "sealed model: no sealed bytes for a constant");
  return p.tensor_of_value[v];
}

void SealedModel::read_tensor(size_t index, std::byte* dst, size_t bytes) {
  const SealedTensor& t = manifest_.tensors.at(index);
  std::string name = "sealed tensor " + std::to_string(index);
  if (bytes != t.bytes) throw Error(ErrorCode::kBadModel, "sealed model: " + name + " has the wrong size");
  decrypt_chunks(index, 0, t.chunk_count, dst, name);
}

void SealedModel::read(ValueId v, std::byte* dst, size_t bytes) {
  size_t index = tensor_index(v);
  const SealedTensor& t = manifest_.tensors[index];
  const std::string& name = graph().value(v).name;
  if (bytes != t.bytes) throw Error(ErrorCode::kBadModel, "sealed model: '" + name + "' has the wrong size");
  decrypt_chunks(index, 0, t.chunk_count, dst, "'" + name + "'");
}

void SealedModel::read_rows(ValueId v, int64_t first, int64_t count, std::byte* dst) {
  size_t index = tensor_index(v);
  const SealedTensor& t = manifest_.tensors[index];
  const std::string& name = graph().value(v).name;
  int64_t rows = t.row_bytes ? static_cast<int64_t>(t.bytes / t.row_bytes) : 0;
  int64_t per = static_cast<int64_t>(t.rows_per_chunk);
  if (first < 0 || count <= 0 || first > rows - count || first % per != 0 ||
      (count % per != 0 && first + count != rows))
    throw Error(ErrorCode::kBadArgument, "sealed model: rows [" + std::to_string(first) + ", +" +
                                             std::to_string(count) + ") of '" + name + "' are not whole chunks");
  auto chunk = static_cast<uint32_t>(first / per);
  auto chunks = static_cast<uint32_t>((count + per - 1) / per);
  decrypt_chunks(index, chunk, chunks, dst, "'" + name + "'");
}

int64_t SealedModel::row_granularity(ValueId v) const {
  return static_cast<int64_t>(manifest_.tensors[tensor_index(v)].rows_per_chunk);
}

// A compressed chunk: copied in whole, decrypted in place and authenticated, and only
// then decoded into `out`, so the decoder never sees bytes the model owner did not seal.
void SealedModel::decrypt_compressed(const SealedTensor& t, uint32_t k, const uint8_t* nonce, const ChunkAad& aad,
                                     uint64_t offset, uint8_t* out, const std::string& name) {
  uint8_t* scratch = reinterpret_cast<uint8_t*>(scratch_);
  uint32_t stored = t.chunk_stored_bytes(k), plain = t.chunk_plain_bytes(k);
  uint64_t t1 = host_.now_ns();
  read_host(offset, scratch, stored + kTagBytes, "weight chunk");
  uint64_t t2 = host_.now_ns();
  bool authentic = data_key_->decrypt(nonce, aad.data(), aad.size(), scratch, stored, scratch + stored, scratch);
  uint64_t t3 = host_.now_ns();
  stats_.copy_in_ns += t2 - t1;
  stats_.decrypt_ns += t3 - t2;
  if (!authentic) tampered("chunk " + std::to_string(k) + " of " + name);  // scratch is zeroed
  if (!decoder_) throw Error(ErrorCode::kKernel, "sealed model: no decoder workspace for a compressed chunk");
  decoder_->decode(t.codec, scratch, stored, out, plain);
  stats_.decode_ns += host_.now_ns() - t3;
  stats_.bytes += stored;
  ++stats_.chunks;
}

// A chunk stored as it is: its ciphertext is copied into enclave memory before it is
// used, so the host cannot change it between authentication and use; the copy goes
// through a cache-sized window, which keeps it from costing a pass over memory. True if
// it authenticates; otherwise `out` holds unauthenticated bytes the caller must wipe.
bool SealedModel::decrypt_chunk(uint32_t plain, const uint8_t* nonce, const ChunkAad& aad, uint64_t offset,
                                uint8_t* out) {
  uint8_t* scratch = reinterpret_cast<uint8_t*>(scratch_);
  BulkAeadDecryptStream& gcm = *chunk_stream_;
  uint64_t t0 = host_.now_ns();
  gcm.begin(nonce, aad.data(), aad.size());
  stats_.decrypt_ns += host_.now_ns() - t0;
  bool authentic = false;
  if (plain == 0) {
    read_host(offset, scratch, kTagBytes, "weight chunk tag");
    authentic = gcm.finish(scratch);
  }
  for (uint32_t done = 0; done < plain;) {
    uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(plain - done, kCopyInBytes));
    bool last = done + n == plain;  // the tag comes in with the last window: one host read fewer
    uint64_t t1 = host_.now_ns();
    read_host(offset + done, scratch, n + (last ? kTagBytes : 0), "weight chunk");
    uint64_t t2 = host_.now_ns();
    gcm.update(scratch, n, out + done);
    if (last) authentic = gcm.finish(scratch + n);
    stats_.copy_in_ns += t2 - t1;
    stats_.decrypt_ns += host_.now_ns() - t2;
    done += n;
  }
  stats_.bytes += plain;
  ++stats_.chunks;
  return authentic;
}

// Authenticates and decrypts chunks [first, first + count) of sealed tensor `index` into
// `dst`; `name` names it in errors.
void SealedModel::decrypt_chunks(size_t index, uint32_t first, uint32_t count, std::byte* dst,
                                 const std::string& name) {
  const SealedTensor& t = manifest_.tensors[index];
  if (!scratch_) throw Error(ErrorCode::kBadArgument, "sealed model: no scratch buffer for chunks");
  uint8_t* out = reinterpret_cast<uint8_t*>(dst);
  uint64_t pos = 0;
  for (uint32_t k = first; k < first + count; ++k) {
    uint32_t global = t.first_chunk + k, plain = t.chunk_plain_bytes(k);
    auto nonce = chunk_nonce(global);
    auto aad = chunk_aad(header_, static_cast<uint32_t>(index), k, t.chunk_count, plain);
    uint64_t offset = chunk_offsets_[global];
    if (t.chunk_compressed(k)) {
      decrypt_compressed(t, k, nonce.data(), aad, offset, out + pos, name);
    } else if (!decrypt_chunk(plain, nonce.data(), aad, offset, out + pos)) {
      wipe(dst, pos + plain);
      tampered("chunk " + std::to_string(k) + " of " + name);
    }
    pos += plain;
  }
}

}  // namespace teeinfer
