// teeinfer::inspect_sealed (include/teeinfer/teeinfer.h): a sealed model's graph and
// weights, every chunk authenticated, for its key holder.
#include "api/model_impl.h"
#include "common/aes_gcm.h"
#include "common/weight_codec.h"

namespace teeinfer {

SealedContents inspect_sealed(const std::string& path, KeyProvider& keys) {
  SealedContents c;
  c.info = read_sealed_info(path);
  OpenedSealedModel m = open_sealed(path, keys, {});
  const Graph& g = m.model->graph();
  for (ValueId v : g.inputs) c.inputs.push_back({g.value(v).name, g.value(v).dtype, g.value(v).dims});
  for (ValueId v : g.outputs) c.outputs.push_back({g.value(v).name, g.value(v).dtype, g.value(v).dims});
  for (const Node& n : g.nodes) ++c.op_counts[op_name(n.op)];
  // Decrypting into ordinary memory is fine here: inspect runs for the key holder.
  std::vector<std::byte> scratch(m.model->scratch_bytes());
  m.model->set_scratch(scratch.data());
  for (const SealedTensor& t : m.model->tensors()) {
    std::vector<std::byte> plain(t.bytes);
    m.model->read(t.value, plain.data(), plain.size());
    wipe(plain.data(), plain.size());
    const Value& v = g.value(t.value);
    c.weights.push_back({v.name, v.dtype, v.dims, t.bytes, t.stored_total(), codec_name(t.codec), t.chunk_count});
  }
  m.model->set_scratch(nullptr);
  wipe(scratch.data(), scratch.size());
  return c;
}

}  // namespace teeinfer
