// One harness case: a small graph around the node under test, its input data, and what
// the strategy it runs under requires of it.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "common/graph.h"

namespace teeinfer::op_harness {

// Constraints a lowering strategy puts on the random parameters (all off: the op's full
// parameter range).
struct CaseNeeds {
  bool four_d = false;             // {N, C, H, W} activations (bands, fused chains, spills)
  bool single_image = false;       // N = 1 (fused chains)
  bool two_rows = false;           // at least 2 output rows (dim 2), so there can be several bands
  bool no_padding_only = false;    // no output row or column sees only padding (fused chains, spills)
  bool no_residual = false;        // no fused residual (fused chains)
  bool large_constant = false;     // a constant input of >= 16 KiB (whose streaming saves memory)
  bool large_weights = false;      // weights worth several 64 KiB stream windows (conv tiles, FC windows)
  bool int8 = false;               // a Conv or Gemm that quantize_weights quantizes
  bool nonnegative_input = false;  // the input is never negative (full int8: u8 activations)
  int max_spatial = 3;             // spatial dims of Conv/Pool (unmodified mode's im2col: 2)
  bool winograd = false;           // a 3x3, stride-1, undilated, ungrouped Conv of 16k channels
};

struct OpCase {
  Graph graph;
  std::vector<std::vector<float>> inputs;  // data of graph.inputs, in order
  size_t node = 0;                         // index of the node under test
};

// Seeded random helpers.
int64_t pick(std::mt19937& rng, int64_t lo, int64_t hi);  // uniform in [lo, hi]
float uniform(std::mt19937& rng, float lo, float hi);     // uniform in [lo, hi)
bool chance(std::mt19937& rng, double p);

// Builds a case graph: values get random data, nodes get their output dims from shape
// inference (validate_graph's rules).
class GraphBuilder {
 public:
  explicit GraphBuilder(std::mt19937& rng) : rng_(rng) {}
  // A graph input with data uniform in [lo, hi).
  ValueId input(const std::string& name, const Dims& dims, float lo = -1.f, float hi = 1.f);
  ValueId input(const std::string& name, const Dims& dims, std::vector<float> data);
  // An input of another dtype; `data` holds its values (whole numbers in its range), fed to
  // the engine converted to that type.
  ValueId typed_input(const std::string& name, DType dtype, const Dims& dims, std::vector<float> data);
  // A float32 constant uniform in [lo, hi), or with the given values.
  ValueId constant(const std::string& name, const Dims& dims, float lo = -1.f, float hi = 1.f);
  ValueId constant(const std::string& name, const Dims& dims, const std::vector<float>& values);
  // Adds a node; returns its output. `output_dims` only for Reshape (its output says it all).
  ValueId node(OpKind op, const std::string& onnx_op, OpParams params, std::vector<ValueId> inputs,
               const Dims& output_dims = {});
  void output(ValueId v) { c_.graph.outputs.push_back(v); }
  const Graph& graph() const { return c_.graph; }
  OpCase take() { return std::move(c_); }
  std::mt19937& rng() { return rng_; }

 private:
  std::mt19937& rng_;
  OpCase c_;
};

}  // namespace teeinfer::op_harness
