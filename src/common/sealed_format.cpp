#include "common/sealed_format.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <variant>

#include "common/byte_codec.h"
#include "common/error.h"

namespace teeinfer {
namespace {

// Bounds for untrusted manifests: generous for any CNN, small enough that a hostile
// count cannot make the parser allocate absurd amounts before the data runs out.
constexpr uint32_t kMaxValues = 1 << 20, kMaxNodes = 1 << 20, kMaxName = 4096, kMaxIo = 4096, kMaxSealedRank = 8,
                   kMaxPostOps = 16, kMaxChannels = 1 << 24, kMaxGatherIndices = 1 << 24;

[[noreturn]] void bad(const std::string& why) {
  throw Error(ErrorCode::kBadModel, "sealed model: " + why);
}

void put_dims(ByteWriter& w, const Dims& d) {
  w.u8(static_cast<uint8_t>(d.size()));
  for (int64_t x : d) w.i64(x);
}

Dims get_dims(ByteReader& r) {
  uint8_t n = r.u8();
  if (n > kMaxSealedRank) r.fail("rank " + std::to_string(n) + " above " + std::to_string(kMaxSealedRank));
  Dims d(n);
  for (auto& x : d) x = r.i64();
  return d;
}

void put_eltwise(ByteWriter& w, const EltwiseParams& e) {
  w.u8(static_cast<uint8_t>(e.kind));
  w.f32(e.alpha);
  w.f32(e.beta);
}

EltwiseParams get_eltwise(ByteReader& r) {
  uint8_t k = r.u8();
  if (k >= kEltwiseCount) r.fail("unknown activation " + std::to_string(k));
  EltwiseParams e{static_cast<EltwiseKind>(k)};
  e.alpha = r.f32();
  e.beta = r.f32();
  return e;
}

void put_post_ops(ByteWriter& w, const PostOps& p) {
  w.u32(static_cast<uint32_t>(p.size()));
  for (const auto& e : p) put_eltwise(w, e);
}

PostOps get_post_ops(ByteReader& r) {
  PostOps p(r.count(kMaxPostOps, "post-ops", 9));
  for (auto& e : p) e = get_eltwise(r);
  return p;
}

void put_int8(ByteWriter& w, const Int8Weights& q) {
  w.u32(static_cast<uint32_t>(q.weight_scales.size()));
  for (float s : q.weight_scales) w.f32(s);
  w.f32(q.input_scale);
}

Int8Weights get_int8(ByteReader& r) {
  Int8Weights q;
  q.weight_scales.resize(r.count(kMaxChannels, "weight scales", 4));
  for (float& s : q.weight_scales) s = r.f32();
  q.input_scale = r.f32();
  return q;  // validate_graph checks the values against the weight
}

// Each op's parameters in the manifest: a write_params and a read_params overload per
// parameter struct (common/ops.def lists them). docs/format.md gives the bytes.
void write_params(ByteWriter& w, const ConvParams& p) {
  for (const Dims* d : {&p.kernel, &p.strides, &p.dilations, &p.pads_begin, &p.pads_end}) put_dims(w, *d);
  w.i64(p.groups);
  w.u8(p.fused_sum);
  put_post_ops(w, p.post_ops);
  put_int8(w, p.int8);
}

void read_params(ByteReader& r, ConvParams& p) {
  for (Dims* d : {&p.kernel, &p.strides, &p.dilations, &p.pads_begin, &p.pads_end}) *d = get_dims(r);
  p.groups = r.i64();
  p.fused_sum = r.boolean();
  p.post_ops = get_post_ops(r);
  p.int8 = get_int8(r);
}

void write_params(ByteWriter& w, const GemmParams& p) {
  w.f32(p.alpha);
  w.f32(p.beta);
  w.u8(p.trans_a);
  w.u8(p.trans_b);
  w.u8(p.c_prescaled);
  put_post_ops(w, p.post_ops);
  put_int8(w, p.int8);
}

void read_params(ByteReader& r, GemmParams& p) {
  p.alpha = r.f32();
  p.beta = r.f32();
  p.trans_a = r.boolean();
  p.trans_b = r.boolean();
  p.c_prescaled = r.boolean();
  p.post_ops = get_post_ops(r);
  p.int8 = get_int8(r);
}

void write_params(ByteWriter& w, const MatMulParams& p) {
  put_post_ops(w, p.post_ops);
}

void read_params(ByteReader& r, MatMulParams& p) {
  p.post_ops = get_post_ops(r);
}

void write_params(ByteWriter& w, const BatchNormParams& p) {
  w.f32(p.epsilon);
  w.u8(p.fused_relu);
}

void read_params(ByteReader& r, BatchNormParams& p) {
  p.epsilon = r.f32();
  p.fused_relu = r.boolean();
}

void write_params(ByteWriter& w, const EltwiseParams& p) {
  put_eltwise(w, p);
}

void read_params(ByteReader& r, EltwiseParams& p) {
  p = get_eltwise(r);
}

void write_params(ByteWriter& w, const BinaryParams& p) {
  w.u8(static_cast<uint8_t>(p.kind));
}

void read_params(ByteReader& r, BinaryParams& p) {
  uint8_t k = r.u8();
  if (k > static_cast<uint8_t>(kLastBinaryKind)) r.fail("unknown binary op");
  p.kind = static_cast<BinaryKind>(k);
}

void write_params(ByteWriter& w, const PoolParams& p) {
  w.u8(static_cast<uint8_t>(p.kind));
  for (const Dims* d : {&p.kernel, &p.strides, &p.dilations, &p.pads_begin, &p.pads_end}) put_dims(w, *d);
  w.u8(p.count_include_pad);
  put_dims(w, p.declared_pads_end);
}

void read_params(ByteReader& r, PoolParams& p) {
  uint8_t k = r.u8();
  if (k > 1) r.fail("unknown pooling");
  p.kind = static_cast<PoolKind>(k);
  for (Dims* d : {&p.kernel, &p.strides, &p.dilations, &p.pads_begin, &p.pads_end}) *d = get_dims(r);
  p.count_include_pad = r.boolean();
  p.declared_pads_end = get_dims(r);
}

void write_params(ByteWriter&, const ReshapeParams&) {}

void read_params(ByteReader&, ReshapeParams&) {}

void write_params(ByteWriter&, const CastParams&) {}

void read_params(ByteReader&, CastParams&) {}

void write_params(ByteWriter& w, const ReduceParams& p) {
  w.u8(static_cast<uint8_t>(p.kind));
  put_dims(w, p.axes);
  w.u8(p.keepdims);
}

void read_params(ByteReader& r, ReduceParams& p) {
  uint8_t k = r.u8();
  if (k > static_cast<uint8_t>(kLastReduceKind)) r.fail("unknown reduction");
  p.kind = static_cast<ReduceKind>(k);
  p.axes = get_dims(r);  // checked against the input's rank by the shape function
  p.keepdims = r.boolean();
}

void write_params(ByteWriter& w, const ArgMaxMinParams& p) {
  w.u8(static_cast<uint8_t>(p.kind));
  w.i64(p.axis);
  w.u8(p.keepdims);
  w.u8(p.select_last_index);
}

void read_params(ByteReader& r, ArgMaxMinParams& p) {
  uint8_t k = r.u8();
  if (k > static_cast<uint8_t>(ArgKind::kMin)) r.fail("unknown arg reduction");
  p.kind = static_cast<ArgKind>(k);
  p.axis = r.i64();  // checked against the input's rank by the shape function
  p.keepdims = r.boolean();
  p.select_last_index = r.boolean();
}

void write_params(ByteWriter& w, const RecurrentParams& p) {
  w.u8(static_cast<uint8_t>(p.cell));
  w.u8(static_cast<uint8_t>(p.activation));
  w.i64(p.hidden_size);
  w.u8(p.reverse);
  w.u8(p.batch_first);
}

void read_params(ByteReader& r, RecurrentParams& p) {
  uint8_t cell = r.u8(), activation = r.u8();
  if (cell > static_cast<uint8_t>(kLastRecurrentCell)) r.fail("unknown recurrent cell");
  if (activation > static_cast<uint8_t>(kLastRnnActivation)) r.fail("unknown RNN activation");
  p.cell = static_cast<RecurrentCell>(cell);
  p.activation = static_cast<RnnActivation>(activation);
  p.hidden_size = r.i64();  // checked by the shape function
  p.reverse = r.boolean();
  p.batch_first = r.boolean();
}

void write_params(ByteWriter& w, const LayerNormParams& p) {
  w.f32(p.epsilon);
  w.i64(p.axis);
}

void read_params(ByteReader& r, LayerNormParams& p) {
  p.epsilon = r.f32();
  p.axis = r.i64();  // checked by the shape function
}

void write_params(ByteWriter&, const PReluParams&) {}

void read_params(ByteReader&, PReluParams&) {}

void write_params(ByteWriter& w, const TransposeParams& p) {
  put_dims(w, p.perm);
}

void read_params(ByteReader& r, TransposeParams& p) {
  p.perm = get_dims(r);
}

void write_params(ByteWriter& w, const ConcatParams& p) {
  w.i64(p.axis);
  w.u8(p.fused_batchnorm);
  w.u8(p.fused_relu);
}

void read_params(ByteReader& r, ConcatParams& p) {
  p.axis = r.i64();
  p.fused_batchnorm = r.boolean();
  p.fused_relu = r.boolean();
}

void write_params(ByteWriter& w, const SoftmaxParams& p) {
  w.i64(p.axis);
  w.u8(p.coerce_2d);
}

void read_params(ByteReader& r, SoftmaxParams& p) {
  p.axis = r.i64();
  p.coerce_2d = r.boolean();
}

// LogSoftmax: Softmax's bytes.
void write_params(ByteWriter& w, const LogSoftmaxParams& p) {
  write_params(w, static_cast<const SoftmaxParams&>(p));
}

void read_params(ByteReader& r, LogSoftmaxParams& p) {
  read_params(r, static_cast<SoftmaxParams&>(p));
}

void write_params(ByteWriter& w, const LrnParams& p) {
  w.f32(p.alpha);
  w.f32(p.beta);
  w.f32(p.bias);
  w.i64(p.size);
}

void read_params(ByteReader& r, LrnParams& p) {
  p.alpha = r.f32();
  p.beta = r.f32();
  p.bias = r.f32();
  p.size = r.i64();
}

// Constant padding keeps the bytes of format versions 2 and 3; another mode sets bit 7 of
// pads_begin's count byte and adds a u8 mode after the value.
constexpr uint8_t kPadModeFollows = 0x80;

void write_params(ByteWriter& w, const PadParams& p) {
  bool moded = p.mode != PadMode::kConstant;
  w.u8(static_cast<uint8_t>(p.pads_begin.size() | (moded ? kPadModeFollows : 0)));
  for (int64_t x : p.pads_begin) w.i64(x);
  put_dims(w, p.pads_end);
  w.f32(p.value);
  if (moded) w.u8(static_cast<uint8_t>(p.mode));
}

void read_params(ByteReader& r, PadParams& p) {
  uint8_t n = r.u8();
  bool moded = (n & kPadModeFollows) != 0;
  n &= static_cast<uint8_t>(~kPadModeFollows);
  if (n > kMaxSealedRank) r.fail("rank " + std::to_string(n) + " above " + std::to_string(kMaxSealedRank));
  p.pads_begin.resize(n);
  for (auto& x : p.pads_begin) x = r.i64();
  p.pads_end = get_dims(r);
  p.value = r.f32();
  p.mode = PadMode::kConstant;
  if (moded) {
    uint8_t m = r.u8();
    if (m < 1 || m > static_cast<uint8_t>(PadMode::kEdge)) r.fail("unknown pad mode " + std::to_string(m));
    p.mode = static_cast<PadMode>(m);
  }
}

void write_params(ByteWriter& w, const SliceParams& p) {
  for (const Dims* d : {&p.starts, &p.steps, &p.sizes}) put_dims(w, *d);
}

void read_params(ByteReader& r, SliceParams& p) {
  for (Dims* d : {&p.starts, &p.steps, &p.sizes}) *d = get_dims(r);
}

void write_params(ByteWriter& w, const GatherParams& p) {
  w.i64(p.axis);
  put_dims(w, p.indices_dims);
  w.u32(static_cast<uint32_t>(p.indices.size()));
  for (int64_t k : p.indices) w.i64(k);
}

void read_params(ByteReader& r, GatherParams& p) {
  p.axis = r.i64();
  p.indices_dims = get_dims(r);
  p.indices.resize(r.count(kMaxGatherIndices, "gather indices", 8));
  for (int64_t& k : p.indices) k = r.i64();
}

void write_params(ByteWriter& w, const TileParams& p) {
  put_dims(w, p.repeats);
}

void read_params(ByteReader& r, TileParams& p) {
  p.repeats = get_dims(r);
}

void put_floats(ByteWriter& w, const std::vector<float>& v) {
  w.u32(static_cast<uint32_t>(v.size()));
  for (float f : v) w.f32(f);
}

std::vector<float> get_floats(ByteReader& r, const char* what) {
  std::vector<float> v(r.count(2 * kMaxSealedRank, what, 4));
  for (float& f : v) f = r.f32();
  return v;
}

void write_params(ByteWriter& w, const ResizeParams& p) {
  w.u8(static_cast<uint8_t>(p.mode));
  w.u8(static_cast<uint8_t>(p.coordinates));
  w.u8(static_cast<uint8_t>(p.nearest));
  w.f32(p.cubic_a);
  w.u8(p.exclude_outside);
  w.f32(p.extrapolation_value);
  put_floats(w, p.scales);
  put_floats(w, p.roi);
  put_dims(w, p.sizes);
}

void read_params(ByteReader& r, ResizeParams& p) {
  uint8_t mode = r.u8(), coordinates = r.u8(), nearest = r.u8();
  if (mode > static_cast<uint8_t>(ResizeMode::kCubic)) r.fail("unknown resize mode");
  if (coordinates > static_cast<uint8_t>(ResizeCoordinates::kTfHalfPixelForNn))
    r.fail("unknown coordinate transformation");
  if (nearest > static_cast<uint8_t>(ResizeNearest::kSimple)) r.fail("unknown nearest mode");
  p.mode = static_cast<ResizeMode>(mode);
  p.coordinates = static_cast<ResizeCoordinates>(coordinates);
  p.nearest = static_cast<ResizeNearest>(nearest);
  p.cubic_a = r.f32();
  p.exclude_outside = r.boolean();
  p.extrapolation_value = r.f32();
  p.scales = get_floats(r, "scales");
  p.roi = get_floats(r, "roi");
  p.sizes = get_dims(r);
}

void write_params(ByteWriter& w, const ConvTransposeParams& p) {
  for (const Dims* d : {&p.kernel, &p.strides, &p.dilations, &p.pads_begin, &p.pads_end, &p.output_padding})
    put_dims(w, *d);
  w.i64(p.groups);
}

void read_params(ByteReader& r, ConvTransposeParams& p) {
  for (Dims* d : {&p.kernel, &p.strides, &p.dilations, &p.pads_begin, &p.pads_end, &p.output_padding}) *d = get_dims(r);
  p.groups = r.i64();
}

void write_params(ByteWriter&, const WhereParams&) {}

void read_params(ByteReader&, WhereParams&) {}

void write_params(ByteWriter& w, const DepthToSpaceParams& p) {
  w.i64(p.block);
  w.u8(p.crd);
  w.u8(p.space_to_depth);
}

void read_params(ByteReader& r, DepthToSpaceParams& p) {
  p.block = r.i64();
  p.crd = r.boolean();
  p.space_to_depth = r.boolean();
}

template <class Params>
OpParams read_params_as(ByteReader& r) {
  Params p;
  read_params(r, p);
  return p;
}

// The parameter reader of each op, indexed by OpKind (the manifest's op byte).
using ParamsReader = OpParams (*)(ByteReader&);
constexpr ParamsReader kParamsReaders[] = {
#define TEEINFER_OP(kind, name, Params, ...) &read_params_as<Params>,
#include "common/ops.def"
};
static_assert(std::size(kParamsReaders) == kOpCount);

std::vector<ValueId> get_ids(ByteReader& r, uint32_t limit, const char* what) {
  std::vector<ValueId> ids(r.count(limit, what, 4));
  for (auto& id : ids) id = r.i32();
  return ids;
}

void put_ids(ByteWriter& w, const std::vector<ValueId>& ids) {
  w.u32(static_cast<uint32_t>(ids.size()));
  for (ValueId v : ids) w.i32(v);
}

// Each tensor's own sizes, and its chunks where the format puts them.
void check_tensor(const SealedTensor& t, size_t index, uint32_t next_chunk) {
  const std::string name = "sealed tensor " + std::to_string(index);
  if (t.bytes == 0 || t.row_bytes == 0 || t.bytes % t.row_bytes != 0 || t.rows_per_chunk < 1 ||
      t.rows_per_chunk > t.bytes / t.row_bytes || t.row_bytes > kMaxChunkBytes / t.rows_per_chunk)
    bad(name + " has inconsistent sizes");
  uint64_t rows = t.bytes / t.row_bytes;
  if (t.first_chunk != next_chunk || t.chunk_count != (rows + t.rows_per_chunk - 1) / t.rows_per_chunk)
    bad("the chunks of " + name + " are not where the format puts them");
  if (t.codec != Codec::kNone && t.stored_bytes.size() != t.chunk_count)
    bad(name + " has " + std::to_string(t.stored_bytes.size()) + " stored sizes for " + std::to_string(t.chunk_count) +
        " chunks");
  for (uint32_t k = 0; k < t.stored_bytes.size(); ++k)
    if (t.stored_bytes[k] == 0 || t.stored_bytes[k] > t.chunk_plain_bytes(k))
      bad("chunk " + std::to_string(k) + " of " + name + " has an impossible stored size");
}

// Every constant of every profile names a tensor of exactly its size and row length, no
// non-constant names one, and every tensor is used by some profile.
void check_tensor_table(const Manifest& m, uint32_t chunk_count) {
  uint32_t next_chunk = 0;
  for (size_t i = 0; i < m.tensors.size(); ++i) {
    check_tensor(m.tensors[i], i, next_chunk);
    next_chunk += m.tensors[i].chunk_count;
  }
  if (next_chunk != chunk_count) bad("the tensor table and the header disagree on the chunk count");
  std::vector<bool> used(m.tensors.size(), false);
  for (const ShapeProfile& p : m.profiles) {
    const Graph& g = p.graph;
    if (p.tensor_of_value.size() != g.values.size()) bad("a profile's constant table does not cover its values");
    for (size_t v = 0; v < g.values.size(); ++v) {
      uint32_t t = p.tensor_of_value[v];
      const Value& val = g.values[v];
      if (!val.is_constant) {
        if (t != kNoTensor) bad("'" + val.name + "' is not a constant but names a sealed tensor");
        continue;
      }
      if (t >= m.tensors.size()) bad("constant '" + val.name + "' names a sealed tensor out of range");
      const SealedTensor& st = m.tensors[t];
      uint64_t bytes = byte_size(val.dtype, val.dims, val.name);
      uint64_t rows = val.dims.empty() ? 1 : static_cast<uint64_t>(val.dims[0]);
      if (st.bytes != bytes || rows == 0 || st.row_bytes * rows != bytes)
        bad("constant '" + val.name + "' and its sealed tensor have different sizes");
      used[t] = true;
    }
  }
  for (size_t i = 0; i < used.size(); ++i)
    if (!used[i]) bad("sealed tensor " + std::to_string(i) + " is used by no profile");
}

// The profiles' inputs: the same names and dtypes in the same order in every profile, and
// no two profiles with the same input dims (a run picks its profile by them).
void check_profiles_agree(const Manifest& m) {
  const Graph& first = m.profiles.front().graph;
  for (size_t i = 0; i < m.profiles.size(); ++i) {
    const Graph& g = m.profiles[i].graph;
    if (g.inputs.size() != first.inputs.size() || g.outputs.size() != first.outputs.size())
      bad("profile " + std::to_string(i) + " has other inputs or outputs than profile 0");
    for (size_t k = 0; k < g.inputs.size(); ++k) {
      const Value &a = g.value(g.inputs[k]), &b = first.value(first.inputs[k]);
      if (a.name != b.name || a.dtype != b.dtype || a.dims.size() != b.dims.size())
        bad("input '" + a.name + "' of profile " + std::to_string(i) + " differs from profile 0 in name, type or rank");
    }
    for (size_t k = 0; k < g.outputs.size(); ++k)
      if (g.value(g.outputs[k]).name != first.value(first.outputs[k]).name)
        bad("output " + std::to_string(k) + " of profile " + std::to_string(i) + " is named differently");
    for (size_t j = 0; j < i; ++j)
      if (profile_input_dims(m.profiles[j].graph) == profile_input_dims(g))
        bad("profiles " + std::to_string(j) + " and " + std::to_string(i) + " have the same input dims");
  }
}

}  // namespace

std::array<uint8_t, kHeaderBytes> encode_header(const SealedHeader& h) {
  ByteWriter w;
  w.raw(kSealedMagic, 8);
  w.u32(h.format_version);
  w.u32(kHeaderBytes);
  w.raw(h.model_id.data(), 16);
  w.u64(h.model_version);
  w.u64(kManifestOffset);
  w.u64(h.manifest_bytes);
  w.u64(h.chunks_offset);
  w.u32(h.chunk_count);
  w.u32(0);
  w.u64(h.file_bytes);
  w.raw(h.kek_id.data(), 16);
  std::array<uint8_t, kHeaderBytes> out{};
  std::memcpy(out.data(), w.bytes().data(), kHeaderBytes);
  return out;
}

SealedHeader decode_header(const uint8_t* bytes, uint64_t file_size) {
  if (file_size < kManifestOffset) bad("file is " + std::to_string(file_size) + " bytes, shorter than a header");
  ByteReader r(bytes, kHeaderBytes, "sealed model header");
  char magic[8];
  r.raw(magic, 8);
  if (std::memcmp(magic, kSealedMagic, 8) != 0) bad("not a teeinfer sealed model (bad magic)");
  SealedHeader h;
  h.format_version = r.u32();
  if (h.format_version != kSealedFormatVersion)
    bad("format version " + std::to_string(h.format_version) + "; this reader knows version " +
        std::to_string(kSealedFormatVersion));
  if (r.u32() != kHeaderBytes) bad("unexpected header size");
  r.raw(h.model_id.data(), 16);
  h.model_version = r.u64();
  if (r.u64() != kManifestOffset) bad("unexpected manifest offset");
  h.manifest_bytes = r.u64();
  h.chunks_offset = r.u64();
  h.chunk_count = r.u32();
  if (r.u32() != 0) bad("reserved header field is not zero");
  h.file_bytes = r.u64();
  r.raw(h.kek_id.data(), 16);
  if (h.file_bytes != file_size)
    bad("file is " + std::to_string(file_size) + " bytes but its header says " + std::to_string(h.file_bytes) +
        " (truncated or appended to)");
  if (h.manifest_bytes < kTagBytes || h.manifest_bytes > file_size - kManifestOffset ||
      h.chunks_offset != kManifestOffset + h.manifest_bytes)
    bad("manifest does not fit in the file");
  if (h.chunk_count > (file_size - h.chunks_offset) / kTagBytes) bad("more chunks than the file can hold");
  return h;
}

std::array<uint8_t, 16> kek_id_of(const AesKey& kek) {
  auto d = sha256(kek.data(), kek.size());
  std::array<uint8_t, 16> id{};
  std::memcpy(id.data(), d.data(), 16);
  return id;
}

std::array<uint8_t, kNonceBytes> manifest_nonce() {
  std::array<uint8_t, kNonceBytes> n{};
  std::memset(n.data(), 0xFF, 4);
  return n;
}

std::array<uint8_t, kNonceBytes> chunk_nonce(uint64_t global_chunk_index) {
  std::array<uint8_t, kNonceBytes> n{};
  std::memcpy(n.data() + 4, &global_chunk_index, 8);
  return n;
}

ChunkAad chunk_aad(const SealedHeader& h, uint32_t tensor_index, uint32_t chunk_in_tensor, uint32_t chunks_in_tensor,
                   uint32_t plain_bytes) {
  // Built in place (no allocation: the loader builds one per chunk), in the byte order
  // ByteWriter uses for the header.
  ChunkAad a{};
  uint8_t* p = a.data();
  auto put = [&p](const void* v, size_t n) {
    std::memcpy(p, v, n);
    p += n;
  };
  put("TEEINFER-CHUNK", 14);
  put(h.model_id.data(), 16);
  put(&h.model_version, 8);
  put(&tensor_index, 4);
  put(&chunk_in_tensor, 4);
  put(&chunks_in_tensor, 4);
  put(&plain_bytes, 4);
  return a;
}

uint32_t SealedTensor::chunk_plain_bytes(uint32_t k) const {
  uint64_t per_chunk = rows_per_chunk * row_bytes, begin = k * per_chunk;
  return static_cast<uint32_t>(std::min(bytes - begin, per_chunk));
}

uint32_t SealedTensor::chunk_stored_bytes(uint32_t k) const {
  return stored_bytes.empty() ? chunk_plain_bytes(k) : stored_bytes[k];
}

uint64_t SealedTensor::stored_total() const {
  uint64_t total = 0;
  for (uint32_t k = 0; k < chunk_count; ++k) total += chunk_stored_bytes(k);
  return total;
}

// The packer must not write a manifest the loader would refuse: the same bounds, checked
// on the way out, naming the tensor or node.
void check_encodable(const Graph& g) {
  auto unsupported = [](const std::string& why) { throw Error(ErrorCode::kUnsupported, "cannot seal: " + why); };
  if (g.values.size() > kMaxValues || g.nodes.size() > kMaxNodes)
    unsupported(std::to_string(g.values.size()) + " tensors and " + std::to_string(g.nodes.size()) +
                " nodes (the sealed format holds at most " + std::to_string(kMaxValues) + " of each)");
  if (g.inputs.size() > kMaxIo || g.outputs.size() > kMaxIo) unsupported("too many graph inputs or outputs");
  for (const Value& v : g.values) {
    if (v.dims.size() > kMaxSealedRank)
      unsupported("tensor '" + v.name + "' has rank " + std::to_string(v.dims.size()) +
                  " (the sealed format holds at most " + std::to_string(kMaxSealedRank) + " dims)");
    if (v.name.size() > kMaxName) unsupported("a tensor name is longer than " + std::to_string(kMaxName) + " bytes");
  }
  for (const Node& n : g.nodes) {
    if (n.name.size() > kMaxName || n.onnx_op.size() > kMaxName)
      unsupported("a node name is longer than " + std::to_string(kMaxName) + " bytes");
    if (n.inputs.size() > kMaxIo || n.outputs.size() > kMaxIo)
      unsupported("node '" + n.name + "' has too many inputs or outputs");
  }
}

namespace {

void encode_graph(ByteWriter& w, const Graph& g) {
  check_encodable(g);
  w.u32(static_cast<uint32_t>(g.values.size()));
  for (const Value& v : g.values) {
    w.str(v.name);
    w.u8(static_cast<uint8_t>(v.dtype));
    put_dims(w, v.dims);
    w.u8(v.is_constant ? 1 : 0);
  }
  w.u32(static_cast<uint32_t>(g.nodes.size()));
  for (const Node& n : g.nodes) {
    check_op_params(n);
    w.u8(static_cast<uint8_t>(n.op));
    w.str(n.name);
    w.str(n.onnx_op);
    put_ids(w, n.inputs);
    put_ids(w, n.outputs);
    std::visit([&w](const auto& p) { write_params(w, p); }, n.params);
  }
  put_ids(w, g.inputs);
  put_ids(w, g.outputs);
}

Graph decode_graph(ByteReader& r) {
  Graph g;
  g.values.resize(r.count(kMaxValues, "values", 7));  // name length, dtype, rank, flags
  for (Value& v : g.values) {
    v.name = r.str(kMaxName);
    uint8_t t = r.u8();
    if (t > static_cast<uint8_t>(DType::kBool)) r.fail("unknown dtype " + std::to_string(t));
    v.dtype = static_cast<DType>(t);
    v.dims = get_dims(r);
    byte_size(v.dtype, v.dims, v.name);  // rejects negative and overflowing dims
    uint8_t flags = r.u8();
    if (flags > 1) r.fail("unknown value flags");
    v.is_constant = flags == 1;
  }
  g.nodes.resize(r.count(kMaxNodes, "nodes", 17));  // op, two names, two id counts
  for (Node& node : g.nodes) {
    uint8_t op = r.u8();
    if (op >= kOpCount) r.fail("unknown op " + std::to_string(op));
    node.op = static_cast<OpKind>(op);
    node.name = r.str(kMaxName);
    node.onnx_op = r.str(kMaxName);
    node.inputs = get_ids(r, kMaxIo, "node inputs");
    node.outputs = get_ids(r, kMaxIo, "node outputs");
    node.params = kParamsReaders[op](r);  // the op's own struct: op and params agree
  }
  g.inputs = get_ids(r, kMaxIo, "graph inputs");
  g.outputs = get_ids(r, kMaxIo, "graph outputs");
  return g;
}

}  // namespace

std::vector<Dims> profile_input_dims(const Graph& g) {
  std::vector<Dims> dims;
  for (ValueId v : g.inputs) dims.push_back(g.value(v).dims);
  return dims;
}

void check_bound_input(const BoundInput& b) {
  auto bad = [&](const std::string& why) {
    throw Error(ErrorCode::kBadArgument, "bound input '" + b.name + "': " + why);
  };
  if (b.dtype == DType::kF32) bad("only integer and bool inputs can be bound");
  int64_t n = element_count(b.dims, b.name);
  if (n < 1 || static_cast<size_t>(n) > kMaxBoundInputElements)
    bad("has " + std::to_string(n) + " values; 1 to " + std::to_string(kMaxBoundInputElements) + " can be bound");
  if (b.data.size() != byte_size(b.dtype, b.dims, b.name)) bad("its bytes do not match its dims");
}

std::vector<uint8_t> encode_manifest(const Manifest& m) {
  if (m.profiles.empty() || m.profiles.size() > kMaxProfiles)
    throw Error(ErrorCode::kUnsupported, "cannot seal " + std::to_string(m.profiles.size()) +
                                             " shape profiles (the sealed format holds 1 to " +
                                             std::to_string(kMaxProfiles) + ")");
  ByteWriter w;
  w.u32(static_cast<uint32_t>(m.profiles.size()));
  for (const ShapeProfile& p : m.profiles) {
    encode_graph(w, p.graph);
    std::vector<uint32_t> constants;
    for (size_t v = 0; v < p.graph.values.size(); ++v)
      if (p.graph.values[v].is_constant) constants.push_back(p.tensor_of_value.at(v));
    w.u32(static_cast<uint32_t>(constants.size()));
    for (uint32_t t : constants) w.u32(t);
  }
  w.u32(static_cast<uint32_t>(m.tensors.size()));
  for (const SealedTensor& t : m.tensors) {
    w.u64(t.bytes);
    w.u64(t.row_bytes);
    w.u64(t.rows_per_chunk);
    w.u32(t.first_chunk);
    w.u32(t.chunk_count);
    w.u8(static_cast<uint8_t>(t.codec));
    if (t.codec == Codec::kNone) continue;
    w.u32(static_cast<uint32_t>(t.stored_bytes.size()));
    for (uint32_t b : t.stored_bytes) w.u32(b);
  }
  // Bound inputs follow, only if there are any: a model without them keeps format 3's
  // bytes, and a reader that predates them refuses a model with them (trailing bytes).
  if (!m.bound_inputs.empty()) {
    w.u32(static_cast<uint32_t>(m.bound_inputs.size()));
    for (const BoundInput& b : m.bound_inputs) {
      check_bound_input(b);
      w.str(b.name);
      w.u8(static_cast<uint8_t>(b.dtype));
      put_dims(w, b.dims);
      w.raw(b.data.data(), b.data.size());
    }
  }
  return w.bytes();
}

Manifest decode_manifest(const uint8_t* bytes, size_t n, uint32_t chunk_count) {
  ByteReader r(bytes, n, "sealed model manifest");
  Manifest m;
  m.profiles.resize(r.count(kMaxProfiles, "shape profiles", 20));
  if (m.profiles.empty()) r.fail("no shape profile");
  for (ShapeProfile& p : m.profiles) {
    p.graph = decode_graph(r);
    p.tensor_of_value.assign(p.graph.values.size(), kNoTensor);
    size_t constants =
        std::count_if(p.graph.values.begin(), p.graph.values.end(), [](const Value& v) { return v.is_constant; });
    if (r.u32() != constants) r.fail("a profile's constant table does not match its constants");
    for (size_t v = 0; v < p.graph.values.size(); ++v)
      if (p.graph.values[v].is_constant) p.tensor_of_value[v] = r.u32();
  }
  m.tensors.resize(r.count(kMaxValues, "sealed tensors", 33));
  for (SealedTensor& t : m.tensors) {
    t.bytes = r.u64();
    t.row_bytes = r.u64();
    t.rows_per_chunk = r.u64();
    t.first_chunk = r.u32();
    t.chunk_count = r.u32();
    uint8_t codec = r.u8();
    if (codec > kLastCodec) r.fail("unknown codec " + std::to_string(codec));
    t.codec = static_cast<Codec>(codec);
    if (t.codec == Codec::kNone) continue;
    t.stored_bytes.resize(r.count(chunk_count, "stored chunk sizes", 4));
    for (uint32_t& b : t.stored_bytes) b = r.u32();
  }
  if (r.remaining() != 0) {
    m.bound_inputs.resize(r.count(kMaxBoundInputs, "bound inputs", 6));
    if (m.bound_inputs.empty()) r.fail("an empty bound-input table");
    for (BoundInput& b : m.bound_inputs) {
      b.name = r.str(kMaxName);
      uint8_t t = r.u8();
      if (t > static_cast<uint8_t>(DType::kBool)) r.fail("unknown dtype " + std::to_string(t));
      b.dtype = static_cast<DType>(t);
      b.dims = get_dims(r);
      size_t n = byte_size(b.dtype, b.dims, b.name);  // rejects negative and overflowing dims
      if (n > kMaxBoundInputElements * 8 || n > r.remaining()) r.fail("bound input '" + b.name + "' is too large");
      b.data.resize(n);
      for (uint8_t& byte : b.data) byte = r.u8();
      try {
        check_bound_input(b);
      } catch (const Error& e) {
        r.fail(e.what());
      }
    }
  }
  if (r.remaining() != 0) r.fail("trailing bytes");
  check_tensor_table(m, chunk_count);
  for (ShapeProfile& p : m.profiles) validate_graph(p.graph, /*constant_bytes_present=*/false);
  check_profiles_agree(m);
  return m;
}

}  // namespace teeinfer
