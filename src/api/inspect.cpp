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
  c.inputs = tensor_infos(g, g.inputs);
  c.outputs = tensor_infos(g, g.outputs);
  for (const ShapeProfile& p : m.model->profiles())
    c.profiles.push_back({tensor_infos(p.graph, p.graph.inputs), tensor_infos(p.graph, p.graph.outputs)});
  for (const Node& n : g.nodes) ++c.op_counts[op_name(n.op)];
  // Each tensor's name and dims as the first profile that uses it has them.
  std::vector<const Value*> first_use(m.model->tensors().size(), nullptr);
  for (const ShapeProfile& p : m.model->profiles())
    for (size_t v = 0; v < p.graph.values.size(); ++v)
      if (uint32_t t = p.tensor_of_value[v]; t != kNoTensor && !first_use[t]) first_use[t] = &p.graph.values[v];
  // Decrypting into ordinary memory is fine here: inspect runs for the key holder.
  std::vector<std::byte> scratch(m.model->scratch_bytes());
  m.model->set_scratch(scratch.data());
  for (size_t i = 0; i < m.model->tensors().size(); ++i) {
    const SealedTensor& t = m.model->tensors()[i];
    std::vector<std::byte> plain(t.bytes);
    m.model->read_tensor(i, plain.data(), plain.size());
    wipe(plain.data(), plain.size());
    const Value& v = *first_use[i];
    c.weights.push_back({v.name, v.dtype, v.dims, t.bytes, t.stored_total(), codec_name(t.codec), t.chunk_count});
  }
  m.model->set_scratch(nullptr);
  wipe(scratch.data(), scratch.size());
  return c;
}

}  // namespace teeinfer
