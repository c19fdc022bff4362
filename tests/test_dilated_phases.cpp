// Dilated convolutions computed as phases (op_lowering/conv_dilated_phases.h): which
// convolutions qualify, results equal to the im2col lowering (which applies the dilation
// literally) for dilations, pads, groups, bias, activations and a fused residual, used
// exactly where the direct kernel would be oneDNN's GEMM or reference one, and the budget
// planner's minimum never above the direct-only one.
#include <gtest/gtest.h>

#include <iostream>

#include "common/shape_inference.h"
#include "enclave/budget_planner.h"
#include "enclave/enclave_session.h"
#include "enclave/lowering/descriptors.h"
#include "enclave/op_lowering/conv_descriptors.h"
#include "enclave/op_lowering/conv_dilated_phases.h"
#include "enclave/weight_source.h"
#include "host/host_tensor.h"
#include "random_graphs.h"
#include "tee/none/native_platform.h"

using namespace teeinfer;

namespace {

struct DilatedConv {
  int64_t channels = 8, out_channels = 16, height = 20, width = 20;
  Dims dilations{2, 2}, pads{2, 2}, strides{1, 1};
  int64_t kernel = 3, groups = 1;
  bool bias = true, relu = false, residual = false;
};

// x -> Conv(dilated) [-> + residual r] [-> Relu]; the residual is a graph input.
Graph dilated_conv_graph(const DilatedConv& c, std::mt19937& rng) {
  Graph g;
  ValueId x = g.add_value({"x", DType::kF32, {1, c.channels, c.height, c.width}, false, {}});
  g.inputs.push_back(x);
  Node n;
  n.name = "dilated";
  n.op = OpKind::kConv;
  n.onnx_op = "Conv";
  ConvParams p;
  p.kernel = {c.kernel, c.kernel};
  p.strides = c.strides;
  p.dilations = c.dilations;
  p.pads_begin = p.pads_end = c.pads;
  p.groups = c.groups;
  if (c.relu) p.post_ops.push_back({EltwiseKind::kRelu, 0.f, 0.f});
  n.inputs = {x, g.add_value(random_constant("w", {c.out_channels, c.channels / c.groups, c.kernel, c.kernel}, rng))};
  n.inputs.push_back(c.bias ? g.add_value(random_constant("b", {c.out_channels}, rng)) : kNoValue);
  n.params = p;
  Dims y = infer_output_dims(g, n);
  if (c.residual) {
    ValueId r = g.add_value({"r", DType::kF32, y, false, {}});
    g.inputs.push_back(r);
    n.inputs.push_back(r);
    std::get<ConvParams>(n.params).fused_sum = true;
  }
  n.outputs = {g.add_value({"y", DType::kF32, y, false, {}})};
  g.nodes.push_back(n);
  g.outputs.push_back(n.outputs[0]);
  return g;
}

std::vector<HostTensor> random_inputs(const Graph& g, std::mt19937& rng) {
  std::vector<HostTensor> out;
  for (ValueId v : g.inputs) out.push_back({g.value(v).dims, random_floats(g.value(v).dims, rng)});
  return out;
}

std::vector<float> run(const Graph& g, std::vector<HostTensor>& inputs, const EnclaveOptions& o,
                       std::string* strategy = nullptr) {
  NativePlatform native;
  EnclaveSession s(g, native, o);
  std::vector<TensorView> views;
  for (size_t i = 0; i < inputs.size(); ++i) views.push_back(inputs[i].view(g.value(g.inputs[i]).name));
  auto out = s.run(views)[0].data;
  if (strategy) {
    auto it = s.lowering().strategies().find(0);
    *strategy = it == s.lowering().strategies().end() ? "" : it->second;
  }
  return out;
}

// What oneDNN would run for the conv directly (channels-last, as lower_conv does).
std::string direct_impl(const Graph& g) {
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  const Node& n = g.nodes[0];
  const auto& p = std::get<ConvParams>(n.params);
  ConvShapes s = conv_shapes(g, n);
  return conv_pd(engine, s, p, layout_md(s.x, Layout::kChannelsLast), any_weights(s, p),
                 layout_md(s.y, Layout::kChannelsLast), p.pads_begin, p.pads_end)
      .impl_info_str();
}

bool slow(const std::string& impl) {
  return impl.find("gemm") != std::string::npos || impl.find("ref") != std::string::npos;
}

TEST(DilatedPhases, EligibleOnlyForStrideOneAndMultiplesOfTheDilation) {
  std::mt19937 rng(1);
  auto eligible = [&](DilatedConv c) {
    Graph g = dilated_conv_graph(c, rng);
    return dilated_phases_eligible(g, g.nodes[0]);
  };
  EXPECT_TRUE(eligible({}));
  EXPECT_TRUE(eligible({.height = 21, .dilations = {3, 1}, .pads = {3, 0}}));
  EXPECT_FALSE(eligible({.dilations = {1, 1}, .pads = {1, 1}})) << "not dilated";
  EXPECT_FALSE(eligible({.strides = {2, 2}})) << "stride 2";
  EXPECT_TRUE(eligible({.height = 21})) << "21 rows: phase 1 has 10, zero-filled to 11";
  EXPECT_FALSE(eligible({.dilations = {2, 2}, .pads = {1, 1}})) << "pads not a multiple of the dilation";
  Graph g = dilated_conv_graph({}, rng);
  EXPECT_EQ(dilated_phase_candidates(g), std::set<size_t>{0});
}

class DilatedPhasesResults : public ::testing::TestWithParam<DilatedConv> {};

// Planned (phases where the direct kernel is slow) against unmodified (im2col + GEMM over
// the dilated taps); the phase form replaces only a slow direct kernel, and does so for
// every ungrouped conv (which ones are slow depends on the CPU: printed).
TEST_P(DilatedPhasesResults, EqualTheLiteralDilationAndAreUsedWhereTheDirectKernelIsSlow) {
  std::mt19937 rng(11);
  Graph g = dilated_conv_graph(GetParam(), rng);
  std::vector<HostTensor> inputs = random_inputs(g, rng);
  std::string strategy;
  auto planned = run(g, inputs, {}, &strategy);
  auto literal = run(g, inputs, {.mode = ExecutionMode::kUnmodified});
  EXPECT_LE(max_relative_diff(planned, literal), 1e-5f);
  bool phases = strategy.find("phases") != std::string::npos;
  std::string direct = direct_impl(g);
  if (phases) EXPECT_TRUE(slow(direct)) << "phases replace only a GEMM or reference kernel, not " << direct;
  // Ungrouped, the phase convolution gets the direct kernel (grouped ones may stay GEMM).
  if (slow(direct) && GetParam().groups == 1) EXPECT_TRUE(phases) << "strategy '" << strategy << "'";
  std::cout << "direct kernel " << direct << ": " << (strategy.empty() ? "whole" : strategy) << "\n";
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, DilatedPhasesResults,
    ::testing::Values(
        DilatedConv{}, DilatedConv{.dilations = {5, 5}, .pads = {5, 5}},
        DilatedConv{.height = 24, .width = 12, .dilations = {4, 2}, .pads = {4, 2}},
        DilatedConv{.dilations = {2, 2}, .pads = {4, 4}, .kernel = 5}, DilatedConv{.dilations = {2, 2}, .pads = {0, 0}},
        DilatedConv{.channels = 16, .out_channels = 16, .groups = 16}, DilatedConv{.bias = false, .relu = true},
        DilatedConv{.relu = true, .residual = true},
        // Dilation 5: oneDNN 2.6's AVX2 direct kernel does not take it (GEMM).
        DilatedConv{.dilations = {5, 5}, .pads = {5, 5}, .bias = false, .relu = true},
        DilatedConv{.dilations = {5, 5}, .pads = {5, 5}, .relu = true, .residual = true},
        DilatedConv{.channels = 16, .out_channels = 16, .dilations = {5, 5}, .pads = {5, 5}, .groups = 4},
        // Sizes that are not multiples of the dilation: phases of unequal sizes.
        DilatedConv{.height = 23, .width = 17, .dilations = {5, 5}, .pads = {5, 5}},
        DilatedConv{.height = 26, .width = 13, .dilations = {5, 5}, .pads = {5, 5}, .relu = true, .residual = true},
        DilatedConv{.height = 4, .width = 7, .dilations = {5, 5}, .pads = {5, 5}},
        DilatedConv{.height = 22, .width = 22, .dilations = {5, 5}, .pads = {0, 0}}));

// The phase copies are two more activation-sized buffers: the planner searches the phase
// configuration first, and its minimum is never above the direct-only one; at the
// minimum the plan fits and computes the same.
TEST(DilatedPhases, PlannerMinimumNeverAboveDirectAndTheMinimumRuns) {
  std::mt19937 rng(5);
  Graph g = dilated_conv_graph(
      {.channels = 16, .out_channels = 16, .height = 60, .width = 60, .dilations = {5, 5}, .pads = {5, 5}}, rng);
  std::vector<HostTensor> inputs = random_inputs(g, rng);
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  InlineConstants constants(g);
  BudgetOptions with = budget_options(g, engine, constants, {});
  ASSERT_EQ(with.lowering.dilated_phases, std::set<size_t>{0});
  BudgetOptions without = with;
  without.lowering.dilated_phases.clear();
  size_t least = minimum_budget(g, engine, constants, with);
  EXPECT_LE(least, minimum_budget(g, engine, constants, without));
  auto want = run(g, inputs, {.mode = ExecutionMode::kUnmodified});
  EnclaveOptions tight;
  tight.budget_bytes = least;
  EXPECT_LE(max_relative_diff(run(g, inputs, tight), want), 1e-5f);
}

}  // namespace
