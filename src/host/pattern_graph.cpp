#include "host/pattern_graph.h"

#include <cmath>
#include <cstring>

namespace teeinfer {

PatternGraph::PatternGraph(const Graph& g)
    : g_(g), producer_(g.values.size(), -1), uses_(g.use_counts()), output_(g.values.size(), false) {
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (ValueId v : g.nodes[i].outputs) producer_[v] = static_cast<int>(i);
  for (ValueId v : g.outputs) output_[v] = true;
}

std::optional<size_t> PatternGraph::inner_index(ValueId v, int readers) const {
  if (v == kNoValue || static_cast<size_t>(v) >= producer_.size()) return std::nullopt;
  int p = producer_[v];
  if (p < 0 || uses_[v] != readers || output_[v]) return std::nullopt;
  return static_cast<size_t>(p);
}

const Node* PatternGraph::inner(ValueId v, std::vector<size_t>& nodes, int readers) const {
  auto p = inner_index(v, readers);
  if (!p) return nullptr;
  nodes.push_back(*p);
  return &g_.nodes[*p];
}

std::optional<float> PatternGraph::scalar_constant(ValueId c, ValueId x) const {
  const Value& v = g_.value(c);
  if (!v.is_constant || v.dtype != DType::kF32 || v.data.size() < 4) return std::nullopt;
  const Dims& xd = g_.value(x).dims;
  if (v.dims.size() > xd.size()) return std::nullopt;
  for (size_t i = 0; i < v.dims.size(); ++i)
    if (v.dims[v.dims.size() - 1 - i] != 1 && v.dims[v.dims.size() - 1 - i] != xd[xd.size() - 1 - i])
      return std::nullopt;
  float first;
  std::memcpy(&first, v.data.data(), 4);
  for (size_t off = 4; off + 4 <= v.data.size(); off += 4) {
    float f;
    std::memcpy(&f, v.data.data() + off, 4);
    if (f != first) return std::nullopt;
  }
  return first;
}

std::optional<std::pair<ValueId, float>> PatternGraph::with_constant(const Node& n, bool commutes) const {
  for (int side : {1, 0}) {
    if (side == 0 && !commutes) break;
    ValueId other = n.inputs[1 - side];
    if (auto c = scalar_constant(n.inputs[side], other)) return std::make_pair(other, *c);
  }
  return std::nullopt;
}

bool PatternGraph::binary(const Node& n, BinaryKind k) {
  return n.op == OpKind::kBinary && std::get<BinaryParams>(n.params).kind == k;
}

bool PatternGraph::eltwise(const Node& n, EltwiseKind k) {
  return n.op == OpKind::kEltwise && std::get<EltwiseParams>(n.params).kind == k;
}

bool near(double a, double b) {
  return std::fabs(a - b) <= 1e-6 * std::fabs(b);
}

void apply_matches(Graph& g, std::vector<PatternMatch> matches) {
  if (matches.empty()) return;
  std::vector<bool> dead(g.nodes.size(), false);
  for (PatternMatch& m : matches) {
    for (size_t k : m.inner) dead[k] = true;
    m.replacement.outputs = g.nodes[m.root].outputs;
    g.nodes[m.root] = std::move(m.replacement);
  }
  std::vector<Node> kept;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (!dead[i]) kept.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(kept);  // (still topological: the root's inputs came before it)
}

}  // namespace teeinfer
