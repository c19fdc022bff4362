#include "host/layer_norm_pattern.h"

#include <cmath>
#include <cstring>
#include <optional>

#include "host/pattern_graph.h"

namespace teeinfer {
namespace {

struct LayerNormMatch {
  ValueId x = kNoValue;
  LayerNormParams params;
  std::optional<std::vector<float>> scale, bias;  // one value per normalized element
  std::vector<size_t> nodes;                      // the pattern's nodes but its root
};

class LayerNormMatcher {
 public:
  explicit LayerNormMatcher(const PatternGraph& p) : p_(p), g_(p.graph()) {}

  std::optional<LayerNormMatch> match(const Node& root) const {
    LayerNormMatch m;
    if (normalized(root, m)) return m;
    for (BinaryKind last : {BinaryKind::kAdd, BinaryKind::kMul}) {
      if (!PatternGraph::binary(root, last)) continue;
      for (int side : {0, 1}) {
        m = LayerNormMatch{};
        ValueId param = root.inputs[static_cast<size_t>(side)], rest = root.inputs[static_cast<size_t>(1 - side)];
        const Node* before = p_.inner(rest, m.nodes);
        if (!before) continue;
        if (last == BinaryKind::kAdd && PatternGraph::binary(*before, BinaryKind::kMul)) {
          if (!scaled(*before, m)) continue;  // Add(Mul(normalized, scale), bias)
        } else if (!normalized(*before, m)) {
          continue;
        }
        auto values = per_element(param, m);
        if (!values) continue;
        (last == BinaryKind::kAdd ? m.bias : m.scale) = std::move(values);
        return m;
      }
    }
    return std::nullopt;
  }

 private:
  // `mul` = normalized * scale (either order).
  bool scaled(const Node& mul, LayerNormMatch& m) const {
    for (int side : {0, 1}) {
      LayerNormMatch tried = m;
      const Node* div = p_.inner(mul.inputs[static_cast<size_t>(1 - side)], tried.nodes);
      if (!div || !normalized(*div, tried)) continue;
      auto values = per_element(mul.inputs[static_cast<size_t>(side)], tried);
      if (!values) continue;
      tried.scale = std::move(values);
      m = std::move(tried);
      return true;
    }
    return false;
  }

  // `div` = d / Sqrt(ReduceMean(d^2) + epsilon), d = x - ReduceMean(x).
  bool normalized(const Node& div, LayerNormMatch& m) const {
    if (!PatternGraph::binary(div, BinaryKind::kDiv)) return false;
    ValueId d = div.inputs[0];
    std::vector<size_t> nodes = m.nodes;
    // d's readers: the Div and the square (Pow(d, 2): one more; d * d: two more).
    for (int readers : {2, 3}) {
      std::vector<size_t> tried = nodes;
      const Node* sub = p_.inner(d, tried, readers);
      if (!sub || !PatternGraph::binary(*sub, BinaryKind::kSub)) continue;
      ValueId x = sub->inputs[0];
      auto axes = mean_over_trailing_axes(sub->inputs[1], x, tried);
      if (!axes) continue;
      const Node* sqrt = p_.inner(div.inputs[1], tried);
      if (!sqrt || !PatternGraph::eltwise(*sqrt, EltwiseKind::kSqrt)) continue;
      const Node* add = p_.inner(sqrt->inputs[0], tried);
      if (!add || !PatternGraph::binary(*add, BinaryKind::kAdd)) continue;
      auto var_eps = p_.with_constant(*add, true);
      if (!var_eps || !(var_eps->second >= 0.f) || std::isinf(var_eps->second)) continue;
      const Node* var = p_.inner(var_eps->first, tried);
      if (!var || !same_mean(*var, *axes)) continue;
      const Node* square = p_.inner(var->inputs[0], tried);
      bool pow2 = square && PatternGraph::eltwise(*square, EltwiseKind::kPow) &&
                  std::get<EltwiseParams>(square->params).beta == 2.f && square->inputs[0] == d && readers == 2;
      bool product = square && PatternGraph::binary(*square, BinaryKind::kMul) && square->inputs[0] == d &&
                     square->inputs[1] == d && readers == 3;
      if (!pow2 && !product) continue;
      m.x = x;
      m.params.axis = *axes;
      m.params.epsilon = var_eps->second;
      m.nodes = std::move(tried);
      return true;
    }
    return false;
  }

  // v = ReduceMean(x) over the trailing axes [axis, rank), dims kept: returns axis.
  std::optional<int64_t> mean_over_trailing_axes(ValueId v, ValueId x, std::vector<size_t>& nodes) const {
    const Node* mean = p_.inner(v, nodes);
    if (!mean || mean->op != OpKind::kReduce || mean->inputs[0] != x) return std::nullopt;
    const auto& r = std::get<ReduceParams>(mean->params);
    const int64_t rank = static_cast<int64_t>(g_.value(x).dims.size());
    if (r.kind != ReduceKind::kMean || !r.keepdims || r.axes.empty()) return std::nullopt;
    const int64_t axis = rank - static_cast<int64_t>(r.axes.size());
    for (size_t i = 0; i < r.axes.size(); ++i)
      if (r.axes[i] != axis + static_cast<int64_t>(i)) return std::nullopt;
    return axis;
  }

  bool same_mean(const Node& n, int64_t axis) const {
    if (n.op != OpKind::kReduce) return false;
    const auto& r = std::get<ReduceParams>(n.params);
    const int64_t rank = static_cast<int64_t>(g_.value(n.inputs[0]).dims.size());
    if (r.kind != ReduceKind::kMean || !r.keepdims || static_cast<int64_t>(r.axes.size()) != rank - axis) return false;
    for (size_t i = 0; i < r.axes.size(); ++i)
      if (r.axes[i] != axis + static_cast<int64_t>(i)) return false;
    return true;
  }

  // A float constant with one value per normalized element (its dims those of x from the
  // axis on, after any leading 1s) or one value for all: the D values.
  std::optional<std::vector<float>> per_element(ValueId c, const LayerNormMatch& m) const {
    const Value& v = g_.value(c);
    if (!v.is_constant || v.dtype != DType::kF32) return std::nullopt;
    const Dims& x = g_.value(m.x).dims;
    const Dims normalized(x.begin() + m.params.axis, x.end());
    const size_t count = static_cast<size_t>(element_count(normalized, v.name));
    if (auto one = p_.scalar_constant(c, m.x)) return std::vector<float>(count, *one);
    Dims d = v.dims;
    while (!d.empty() && d.front() == 1 && d.size() > normalized.size()) d.erase(d.begin());
    if (d != normalized || v.data.size() != count * 4) return std::nullopt;
    std::vector<float> f(count);
    std::memcpy(f.data(), v.data.data(), v.data.size());
    return f;
  }

  const PatternGraph& p_;
  const Graph& g_;
};

ValueId vector_constant(Graph& g, const std::string& name, const std::vector<float>& f) {
  Value v;
  v.name = name;
  v.dtype = DType::kF32;
  v.dims = {static_cast<int64_t>(f.size())};
  v.is_constant = true;
  v.data.resize(f.size() * 4);
  std::memcpy(v.data.data(), f.data(), v.data.size());
  return g.add_value(std::move(v));
}

}  // namespace

int fuse_layer_norm_patterns(Graph& g) {
  std::vector<std::pair<size_t, LayerNormMatch>> found;
  {
    PatternGraph p(g);
    LayerNormMatcher matcher(p);
    std::vector<bool> taken(g.nodes.size(), false);
    // Last to first, so that the pattern with its scale and bias is seen before its parts.
    for (size_t i = g.nodes.size(); i-- > 0;) {
      if (taken[i]) continue;
      auto m = matcher.match(g.nodes[i]);
      if (!m || g.value(m->x).dtype != DType::kF32 || g.value(m->x).dims != g.value(g.nodes[i].outputs[0]).dims)
        continue;
      bool overlaps = false;
      for (size_t k : m->nodes) overlaps |= taken[k];
      if (overlaps) continue;
      for (size_t k : m->nodes) taken[k] = true;
      found.emplace_back(i, std::move(*m));
    }
  }
  std::vector<PatternMatch> matches;
  for (auto& [root, m] : found) {
    const Node& r = g.nodes[root];
    Node n;
    n.name = r.name + " (LayerNorm: " + std::to_string(m.nodes.size() + 1) + " ops fused)";
    n.onnx_op = "LayerNormalization";
    n.op = OpKind::kLayerNorm;
    n.params = m.params;
    n.inputs = {m.x, m.scale ? vector_constant(g, r.name + ".scale", *m.scale) : kNoValue,
                m.bias ? vector_constant(g, r.name + ".bias", *m.bias) : kNoValue};
    while (n.inputs.back() == kNoValue) n.inputs.pop_back();
    matches.push_back(PatternMatch{root, std::move(m.nodes), std::move(n)});
  }
  const int fused = static_cast<int>(matches.size());
  apply_matches(g, std::move(matches));
  return fused;
}

}  // namespace teeinfer
