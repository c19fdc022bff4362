#include "host/activation_patterns.h"

#include <cmath>
#include <cstring>
#include <optional>

namespace teeinfer {
namespace {

struct Readers {
  std::vector<int> producer;  // node index per value, -1 if none
  std::vector<int> uses;      // readers per value (a graph output counts as one more)
  explicit Readers(const Graph& g) : producer(g.values.size(), -1), uses(g.values.size(), 0) {
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      for (ValueId v : g.nodes[i].outputs) producer[v] = static_cast<int>(i);
      for (ValueId v : g.nodes[i].inputs)
        if (v != kNoValue) ++uses[v];
    }
    for (ValueId v : g.outputs) ++uses[v];
  }
};

// The value of a float constant whose elements are all equal and that broadcasts to no
// more than `x`'s dims (so a pattern's result keeps x's shape).
std::optional<float> scalar_constant(const Graph& g, ValueId c, ValueId x) {
  const Value& v = g.value(c);
  if (!v.is_constant || v.dtype != DType::kF32 || v.data.size() < 4) return std::nullopt;
  const Dims& xd = g.value(x).dims;
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

bool near(float a, float b) {
  return std::fabs(a - b) <= 1e-6f * std::fabs(b);
}

class Matcher {
 public:
  Matcher(const Graph& g, const Readers& r) : g_(g), r_(r) {}

  // The node producing `v` if `v` feeds only its one reader and is not a graph output.
  const Node* inner(ValueId v, std::vector<size_t>& nodes) const {
    int p = r_.producer[v];
    if (p < 0 || r_.uses[v] != 1) return nullptr;
    for (ValueId o : g_.outputs)
      if (o == v) return nullptr;
    nodes.push_back(static_cast<size_t>(p));
    return &g_.nodes[static_cast<size_t>(p)];
  }

  static bool binary(const Node& n, BinaryKind k) {
    return n.op == OpKind::kBinary && std::get<BinaryParams>(n.params).kind == k;
  }

  // For Binary `n` with one scalar-constant operand: the other operand and the constant.
  std::optional<std::pair<ValueId, float>> with_constant(const Node& n, bool commutes) const {
    for (int side : {1, 0}) {
      if (side == 0 && !commutes) break;
      ValueId other = n.inputs[1 - side];
      if (auto c = scalar_constant(g_, n.inputs[side], other)) return std::make_pair(other, *c);
    }
    return std::nullopt;
  }

  // v = Clip(x + 3, 0, 6): returns x.
  std::optional<ValueId> shifted_relu6(ValueId v, std::vector<size_t>& nodes) const {
    const Node* clip = inner(v, nodes);
    if (!clip || clip->op != OpKind::kEltwise) return std::nullopt;
    const auto& e = std::get<EltwiseParams>(clip->params);
    if (e.kind != EltwiseKind::kClip || e.alpha != 0.f || e.beta != 6.f) return std::nullopt;
    const Node* add = inner(clip->inputs[0], nodes);
    if (!add || !binary(*add, BinaryKind::kAdd)) return std::nullopt;
    auto xc = with_constant(*add, true);
    if (!xc || xc->second != 3.f) return std::nullopt;
    return xc->first;
  }

  // v = shifted_relu6(x) / 6 (or * 1/6), or HardSigmoid(x, 1/6, 1/2): returns x.
  std::optional<ValueId> hard_sigmoid(ValueId v, std::vector<size_t>& nodes) const {
    const Node* n = inner(v, nodes);
    if (!n) return std::nullopt;
    if (n->op == OpKind::kEltwise) {
      const auto& e = std::get<EltwiseParams>(n->params);
      if (e.kind == EltwiseKind::kHardSigmoid && near(e.alpha, 1.f / 6) && e.beta == 0.5f) return n->inputs[0];
      return std::nullopt;
    }
    auto scaled = divided_by_six(*n);
    return scaled ? shifted_relu6(*scaled, nodes) : std::nullopt;
  }

  // n = y / 6 or y * (1/6): returns y.
  std::optional<ValueId> divided_by_six(const Node& n) const {
    if (binary(n, BinaryKind::kDiv)) {
      auto yc = with_constant(n, false);
      if (yc && yc->second == 6.f) return yc->first;
    } else if (binary(n, BinaryKind::kMul)) {
      auto yc = with_constant(n, true);
      if (yc && near(yc->second, 1.f / 6)) return yc->first;
    }
    return std::nullopt;
  }

  // The root of a hard-swish pattern: x, with the pattern's other nodes in `nodes`.
  std::optional<ValueId> hard_swish(const Node& root, std::vector<size_t>& nodes) const {
    // x * hard_sigmoid(x)
    if (binary(root, BinaryKind::kMul))
      for (int side : {0, 1}) {
        std::vector<size_t> tried;
        auto x = hard_sigmoid(root.inputs[static_cast<size_t>(side)], tried);
        if (x && *x == root.inputs[static_cast<size_t>(1 - side)]) {
          nodes = tried;
          return x;
        }
      }
    // (x * shifted_relu6(x)) / 6
    if (auto product = divided_by_six(root)) {
      std::vector<size_t> tried;
      const Node* mul = inner(*product, tried);
      if (!mul || !binary(*mul, BinaryKind::kMul)) return std::nullopt;
      for (int side : {0, 1}) {
        std::vector<size_t> more = tried;
        auto x = shifted_relu6(mul->inputs[static_cast<size_t>(side)], more);
        if (x && *x == mul->inputs[static_cast<size_t>(1 - side)]) {
          nodes = more;
          return x;
        }
      }
    }
    return std::nullopt;
  }

 private:
  const Graph& g_;
  const Readers& r_;
};

}  // namespace

int fuse_activation_patterns(Graph& g) {
  Readers readers(g);
  Matcher m(g, readers);
  std::vector<bool> dead(g.nodes.size(), false);
  int fused = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (dead[i]) continue;
    std::vector<size_t> inner;
    std::optional<ValueId> x = m.hard_swish(g.nodes[i], inner);
    if (!x || g.value(*x).dtype != DType::kF32) continue;
    bool taken = false;
    for (size_t k : inner) taken |= dead[k];
    if (taken) continue;
    for (size_t k : inner) dead[k] = true;
    Node& root = g.nodes[i];
    root.name += " (hard-swish: " + std::to_string(inner.size() + 1) + " ops fused)";
    root.onnx_op = "HardSwish";
    root.op = OpKind::kEltwise;
    root.inputs = {*x};
    root.params = EltwiseParams{EltwiseKind::kHardSwish, 0.f, 0.f};
    ++fused;
  }
  if (fused) {
    std::vector<Node> kept;
    for (size_t i = 0; i < g.nodes.size(); ++i)
      if (!dead[i]) kept.push_back(std::move(g.nodes[i]));
    g.nodes = std::move(kept);  // (still topological: x comes before every node removed)
  }
  return fused;
}

}  // namespace teeinfer
