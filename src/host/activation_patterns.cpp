#include "host/activation_patterns.h"

#include <cmath>
#include <optional>

#include "host/pattern_graph.h"

namespace teeinfer {
namespace {

constexpr double kInvSqrt2 = 0.70710678118654752;
constexpr double kSqrt2OverPi = 0.79788456080286536;
constexpr double kGeluCubic = 0.044715;

// A product of factors times a constant, as a tree of Mul (and Div by a constant) nodes
// spells it: x * 0.5 * y, (x * y) / 2 and 0.5 * (y * x) are all {x, y} times 0.5. Trees
// are read at most kProductDepth nodes deep (GELU's are 3): a long chain of Muls in a
// hostile model costs linear time, not quadratic, and no deep recursion.
constexpr int kProductDepth = 4;
struct Product {
  std::vector<ValueId> factors;
  double constant = 1.0;
};

class Matcher {
 public:
  explicit Matcher(const PatternGraph& p) : p_(p), g_(p.graph()) {}

  // `n`'s product (n a Mul, or a Div by a constant); inner Mul/Div nodes of one reader are
  // expanded and recorded in `nodes`.
  bool expand(const Node& n, Product& out, std::vector<size_t>& nodes, int depth = 1) const {
    if (PatternGraph::binary(n, BinaryKind::kMul)) {
      for (int side : {0, 1}) {
        ValueId v = n.inputs[static_cast<size_t>(side)], other = n.inputs[static_cast<size_t>(1 - side)];
        if (auto c = p_.scalar_constant(v, other))
          out.constant *= *c;
        else
          expand_value(v, out, nodes, depth);
      }
      return true;
    }
    if (PatternGraph::binary(n, BinaryKind::kDiv)) {
      auto c = p_.scalar_constant(n.inputs[1], n.inputs[0]);
      if (!c || *c == 0.f) return false;
      out.constant /= *c;
      expand_value(n.inputs[0], out, nodes, depth);
      return true;
    }
    return false;
  }

  // The product whose result is `v`: its own factor unless an inner Mul/Div computes it.
  void expand_value(ValueId v, Product& out, std::vector<size_t>& nodes, int depth) const {
    if (auto i = p_.inner_index(v); i && depth < kProductDepth) {
      std::vector<size_t> more{*i};
      Product sub;
      if (expand(g_.nodes[*i], sub, more, depth + 1)) {
        out.factors.insert(out.factors.end(), sub.factors.begin(), sub.factors.end());
        out.constant *= sub.constant;
        nodes.insert(nodes.end(), more.begin(), more.end());
        return;
      }
    }
    out.factors.push_back(v);
  }

  // v = x * k (or x / (1/k)): returns x.
  std::optional<ValueId> scaled(ValueId v, double k, std::vector<size_t>& nodes) const {
    const Node* n = p_.inner(v, nodes);
    Product pr;
    if (!n || !expand(*n, pr, nodes) || pr.factors.size() != 1 || !near(pr.constant, k)) return std::nullopt;
    return pr.factors[0];
  }

  // v = 1 + f(z), f the Eltwise `kind`: returns z.
  std::optional<ValueId> one_plus(ValueId v, EltwiseKind kind, std::vector<size_t>& nodes) const {
    const Node* add = p_.inner(v, nodes);
    if (!add || !PatternGraph::binary(*add, BinaryKind::kAdd)) return std::nullopt;
    auto yc = p_.with_constant(*add, true);
    if (!yc || yc->second != 1.f) return std::nullopt;
    const Node* f = p_.inner(yc->first, nodes);
    if (!f || !PatternGraph::eltwise(*f, kind)) return std::nullopt;
    return f->inputs[0];
  }

  // v = x + 0.044715 x^3 (x^3 as Pow(x, 3), or a product of three x): whether it is, of x.
  bool cubic_term(ValueId v, ValueId x, std::vector<size_t>& nodes) const {
    const Node* add = p_.inner(v, nodes);
    if (!add || !PatternGraph::binary(*add, BinaryKind::kAdd)) return false;
    for (int side : {0, 1}) {
      if (add->inputs[static_cast<size_t>(side)] != x) continue;
      std::vector<size_t> tried;
      const Node* mul = p_.inner(add->inputs[static_cast<size_t>(1 - side)], tried);
      Product pr;
      if (!mul || !expand(*mul, pr, tried) || !near(pr.constant, kGeluCubic)) continue;
      int power = 0;
      for (ValueId f : pr.factors) {
        const Node* pow = f == x ? nullptr : p_.inner(f, tried);
        if (f == x)
          ++power;
        else if (pow && PatternGraph::eltwise(*pow, EltwiseKind::kPow) && pow->inputs[0] == x &&
                 std::get<EltwiseParams>(pow->params).beta == 3.f)
          power += 3;
        else
          power = -100;
      }
      if (power != 3) continue;
      nodes.insert(nodes.end(), tried.begin(), tried.end());
      return true;
    }
    return false;
  }

  // The root of a GELU pattern: x and which form, with the pattern's other nodes in `nodes`.
  std::optional<std::pair<ValueId, EltwiseKind>> gelu(const Node& root, std::vector<size_t>& nodes) const {
    Product pr;
    std::vector<size_t> tried;
    if (!expand(root, pr, tried) || pr.factors.size() != 2 || !near(pr.constant, 0.5)) return std::nullopt;
    for (int side : {0, 1}) {
      ValueId x = pr.factors[static_cast<size_t>(side)], e = pr.factors[static_cast<size_t>(1 - side)];
      std::vector<size_t> more = tried;
      if (auto z = one_plus(e, EltwiseKind::kErf, more)) {
        auto zx = scaled(*z, kInvSqrt2, more);
        if (zx && *zx == x) {
          nodes = more;
          return std::make_pair(x, EltwiseKind::kGelu);
        }
        continue;
      }
      more = tried;
      if (auto t = one_plus(e, EltwiseKind::kTanh, more)) {
        auto u = scaled(*t, kSqrt2OverPi, more);
        if (u && cubic_term(*u, x, more)) {
          nodes = more;
          return std::make_pair(x, EltwiseKind::kGeluTanh);
        }
      }
    }
    return std::nullopt;
  }

  // v = Clip(x + 3, 0, 6): returns x.
  std::optional<ValueId> shifted_relu6(ValueId v, std::vector<size_t>& nodes) const {
    const Node* clip = p_.inner(v, nodes);
    if (!clip || clip->op != OpKind::kEltwise) return std::nullopt;
    const auto& e = std::get<EltwiseParams>(clip->params);
    if (e.kind != EltwiseKind::kClip || e.alpha != 0.f || e.beta != 6.f) return std::nullopt;
    const Node* add = p_.inner(clip->inputs[0], nodes);
    if (!add || !PatternGraph::binary(*add, BinaryKind::kAdd)) return std::nullopt;
    auto xc = p_.with_constant(*add, true);
    if (!xc || xc->second != 3.f) return std::nullopt;
    return xc->first;
  }

  // v = shifted_relu6(x) / 6 (or * 1/6), or HardSigmoid(x, 1/6, 1/2): returns x.
  std::optional<ValueId> hard_sigmoid(ValueId v, std::vector<size_t>& nodes) const {
    const Node* n = p_.inner(v, nodes);
    if (!n) return std::nullopt;
    if (n->op == OpKind::kEltwise) {
      const auto& e = std::get<EltwiseParams>(n->params);
      if (e.kind == EltwiseKind::kHardSigmoid && near(e.alpha, 1.0 / 6) && e.beta == 0.5f) return n->inputs[0];
      return std::nullopt;
    }
    auto scaled = divided_by_six(*n);
    return scaled ? shifted_relu6(*scaled, nodes) : std::nullopt;
  }

  // n = y / 6 or y * (1/6): returns y.
  std::optional<ValueId> divided_by_six(const Node& n) const {
    if (PatternGraph::binary(n, BinaryKind::kDiv)) {
      auto yc = p_.with_constant(n, false);
      if (yc && yc->second == 6.f) return yc->first;
    } else if (PatternGraph::binary(n, BinaryKind::kMul)) {
      auto yc = p_.with_constant(n, true);
      if (yc && near(yc->second, 1.0 / 6)) return yc->first;
    }
    return std::nullopt;
  }

  // The root of a hard-swish pattern: x, with the pattern's other nodes in `nodes`.
  std::optional<ValueId> hard_swish(const Node& root, std::vector<size_t>& nodes) const {
    // x * hard_sigmoid(x)
    if (PatternGraph::binary(root, BinaryKind::kMul))
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
      const Node* mul = p_.inner(*product, tried);
      if (!mul || !PatternGraph::binary(*mul, BinaryKind::kMul)) return std::nullopt;
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

  // For root = x * f(...), x its input `side`: the node f, when it is the Eltwise `kind` and
  // read only inside the pattern (recorded in `nodes`).
  const Node* gate(const Node& root, int side, EltwiseKind kind, std::vector<size_t>& nodes) const {
    const Node* f = p_.inner(root.inputs[static_cast<size_t>(1 - side)], nodes);
    return f && PatternGraph::eltwise(*f, kind) ? f : nullptr;
  }

  // The root of a Mish pattern, x * Tanh(Softplus(x)) (either operand order; ONNX's Mish
  // before opset 18, as PyTorch exports it): x.
  std::optional<ValueId> mish(const Node& root, std::vector<size_t>& nodes) const {
    if (!PatternGraph::binary(root, BinaryKind::kMul)) return std::nullopt;
    for (int side : {0, 1}) {
      const ValueId x = root.inputs[static_cast<size_t>(side)];
      std::vector<size_t> tried;
      const Node* tanh = gate(root, side, EltwiseKind::kTanh, tried);
      if (!tanh) continue;
      const Node* softplus = p_.inner(tanh->inputs[0], tried);
      if (!softplus || !PatternGraph::eltwise(*softplus, EltwiseKind::kSoftplus) || softplus->inputs[0] != x) continue;
      nodes = tried;
      return x;
    }
    return std::nullopt;
  }

  // The root of a Swish pattern, x * Sigmoid(x) or x * Sigmoid(x * b) (b a constant scalar,
  // either operand order): x and b, with the pattern's other nodes in `nodes`.
  std::optional<std::pair<ValueId, float>> swish(const Node& root, std::vector<size_t>& nodes) const {
    if (!PatternGraph::binary(root, BinaryKind::kMul)) return std::nullopt;
    for (int side : {0, 1}) {
      const ValueId x = root.inputs[static_cast<size_t>(side)];
      std::vector<size_t> tried;
      const Node* sigmoid = gate(root, side, EltwiseKind::kSigmoid, tried);
      if (!sigmoid) continue;
      if (sigmoid->inputs[0] == x) {
        nodes = tried;
        return std::make_pair(x, 1.f);
      }
      const Node* scale = p_.inner(sigmoid->inputs[0], tried);
      if (!scale || !PatternGraph::binary(*scale, BinaryKind::kMul)) continue;
      auto xb = p_.with_constant(*scale, true);
      if (!xb || xb->first != x || !std::isfinite(xb->second)) continue;
      nodes = tried;
      return std::make_pair(x, xb->second);
    }
    return std::nullopt;
  }

 private:
  const PatternGraph& p_;
  const Graph& g_;
};

Node eltwise_node(const Node& root, const char* what, size_t fused, const char* onnx_op, ValueId x, EltwiseParams e) {
  Node n;
  n.name = root.name + " (" + what + ": " + std::to_string(fused) + " ops fused)";
  n.onnx_op = onnx_op;
  n.op = OpKind::kEltwise;
  n.inputs = {x};
  n.params = e;
  return n;
}

// Clip bounds [lo, hi] of an Eltwise Clip or Relu node; nullopt for other nodes.
std::optional<std::pair<float, float>> clip_bounds(const Node& n) {
  if (n.op != OpKind::kEltwise) return std::nullopt;
  const auto& e = std::get<EltwiseParams>(n.params);
  if (e.kind == EltwiseKind::kRelu) return std::make_pair(0.f, INFINITY);
  if (e.kind == EltwiseKind::kClip) return std::make_pair(e.alpha, e.beta);
  return std::nullopt;
}

EltwiseParams clip_params(float lo, float hi) {
  if (lo == 0.f && hi == INFINITY) return EltwiseParams{EltwiseKind::kRelu, 0.f, 0.f};
  return EltwiseParams{EltwiseKind::kClip, lo, hi};
}

// Max(x, c) and Min(x, c), c a scalar constant, become Clip (or Relu) in place; a Clip of
// one bound reading (as its only reader) a Clip of the other bound merges with it.
int max_min_to_clip(Graph& g) {
  PatternGraph p(g);
  std::vector<PatternMatch> merged;
  std::vector<bool> taken(g.nodes.size(), false);
  int converted = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& n = g.nodes[i];
    bool is_max = PatternGraph::binary(n, BinaryKind::kMax), is_min = PatternGraph::binary(n, BinaryKind::kMin);
    if (!is_max && !is_min) continue;
    auto xc = p.with_constant(n, true);
    if (!xc || std::isnan(xc->second) || g.value(xc->first).dims != g.value(n.outputs[0]).dims ||
        g.value(xc->first).dtype != DType::kF32)
      continue;
    float lo = is_max ? xc->second : -INFINITY, hi = is_max ? INFINITY : xc->second;
    ValueId x = xc->first;
    std::vector<size_t> inner;
    if (auto j = p.inner_index(x); j && !taken[*j]) {
      auto b = clip_bounds(g.nodes[*j]);
      bool complementary = b && (is_max ? b->first == -INFINITY : b->second == INFINITY);
      float lo2 = is_max ? lo : b ? b->first : lo, hi2 = is_max ? (b ? b->second : hi) : hi;
      if (complementary && lo2 <= hi2) {
        inner.push_back(*j);
        x = g.nodes[*j].inputs[0];
        lo = lo2, hi = hi2;
      }
    }
    n.op = OpKind::kEltwise;
    n.inputs = {x};
    n.params = clip_params(lo, hi);
    ++converted;
    if (!inner.empty()) {
      taken[inner[0]] = true;
      merged.push_back(PatternMatch{i, inner, n});
    }
  }
  apply_matches(g, std::move(merged));
  return converted;
}

}  // namespace

ActivationPatternCounts fuse_activation_patterns(Graph& g) {
  ActivationPatternCounts counts;
  counts.max_min = max_min_to_clip(g);  // first: a hard-swish may be spelled with Max and Min
  PatternGraph p(g);
  Matcher m(p);
  std::vector<bool> taken(g.nodes.size(), false);
  std::vector<PatternMatch> matches;
  // Last to first, so that the largest pattern ending at a node is seen before its parts.
  for (size_t i = g.nodes.size(); i-- > 0;) {
    if (taken[i]) continue;
    const Node& root = g.nodes[i];
    std::vector<size_t> inner;
    std::optional<Node> replacement;
    // x can take the root's place: float, and not broadcast to a larger output.
    auto replaces_root = [&](ValueId x) {
      return g.value(x).dtype == DType::kF32 && g.value(x).dims == g.value(root.outputs[0]).dims;
    };
    if (auto gelu = m.gelu(root, inner)) {
      ValueId x = gelu->first;
      if (replaces_root(x))
        replacement = eltwise_node(root, "GELU", inner.size() + 1, "Gelu", x, EltwiseParams{gelu->second, 0.f, 0.f});
    } else if (auto x = m.hard_swish(root, inner); x && g.value(*x).dtype == DType::kF32) {
      replacement = eltwise_node(root, "hard-swish", inner.size() + 1, "HardSwish", *x,
                                 EltwiseParams{EltwiseKind::kHardSwish, 0.f, 0.f});
    } else if (auto s = m.swish(root, inner); s && replaces_root(s->first)) {
      replacement = eltwise_node(root, "Swish", inner.size() + 1, "Swish", s->first,
                                 EltwiseParams{EltwiseKind::kSwish, s->second, 0.f});
    } else if (auto x = m.mish(root, inner); x && replaces_root(*x)) {
      replacement =
          eltwise_node(root, "Mish", inner.size() + 1, "Mish", *x, EltwiseParams{EltwiseKind::kMish, 0.f, 0.f});
    }
    if (!replacement) continue;
    bool overlaps = false;
    for (size_t k : inner) overlaps |= taken[k];
    if (overlaps) continue;
    for (size_t k : inner) taken[k] = true;
    const EltwiseKind kind = std::get<EltwiseParams>(replacement->params).kind;
    if (kind == EltwiseKind::kHardSwish)
      ++counts.hard_swish;
    else if (kind == EltwiseKind::kSwish)
      ++counts.swish;
    else if (kind == EltwiseKind::kMish)
      ++counts.mish;
    else
      ++counts.gelu;
    matches.push_back(PatternMatch{i, std::move(inner), std::move(*replacement)});
  }
  apply_matches(g, std::move(matches));
  return counts;
}

}  // namespace teeinfer
