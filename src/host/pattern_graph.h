// What the pattern passes (host/activation_patterns.h, host/layer_norm_pattern.h) share:
// who makes and who reads each value, constant operands, and the rewrite of a match into
// one node. A pattern's intermediate values must have only the pattern's nodes as readers
// and not be graph outputs, so removing them changes nothing else.
#pragma once

#include <optional>
#include <utility>
#include <vector>

#include "common/graph.h"

namespace teeinfer {

class PatternGraph {
 public:
  explicit PatternGraph(const Graph& g);

  const Graph& graph() const { return g_; }
  // The node producing `v`, if its readers are exactly `readers` (counting a node reading
  // it twice twice) and it is not a graph output; its index joins `nodes`.
  const Node* inner(ValueId v, std::vector<size_t>& nodes, int readers = 1) const;
  // The same test without recording the node: its index, if `v` is such an intermediate.
  std::optional<size_t> inner_index(ValueId v, int readers = 1) const;
  // The value of a float constant whose elements are all equal and that broadcasts to no
  // more than `x`'s dims (so the pattern's result keeps x's shape).
  std::optional<float> scalar_constant(ValueId c, ValueId x) const;
  // For Binary `n` with one scalar-constant operand: the other operand and the constant
  // (the constant may be either operand when `commutes`, else only the second).
  std::optional<std::pair<ValueId, float>> with_constant(const Node& n, bool commutes) const;

  static bool binary(const Node& n, BinaryKind k);
  static bool eltwise(const Node& n, EltwiseKind k);

 private:
  const Graph& g_;
  std::vector<int> producer_;  // node index per value, -1 if none
  std::vector<int> uses_;      // readers per value (a graph output counts as one more)
  std::vector<bool> output_;
};

// |a - b| within a float's rounding of b (relative 1e-6): a constant an exporter wrote
// as float32 (1/sqrt 2, 1/6) matches the exact value.
bool near(double a, double b);

// Replaces the nodes of each match: `root` (an index) becomes `replacement`, keeping its
// outputs and its place in the order (every input of the replacement comes before it),
// and the match's other nodes are dropped. Matches must not share nodes.
struct PatternMatch {
  size_t root;
  std::vector<size_t> inner;
  Node replacement;
};
void apply_matches(Graph& g, std::vector<PatternMatch> matches);

}  // namespace teeinfer
