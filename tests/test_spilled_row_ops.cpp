// Concat (along channels), same-shape Binary and Resize next to spilled activations run in
// bands of output rows (bands/spilled_row_ops.cpp): their outputs equal the whole-tensor
// ops' exactly (nearest and the separable Resize kernel, Concat, Add) or within 1e-6
// (linear Resize, which runs whole on oneDNN's resampling), for every band height, one
// and two images, upsampling and downsampling; and the budget planner spills around them,
// so a decoder (Conv, Resize, Concat, Conv, Add) plans below what its whole Concat would
// need, runs at the minimum it reports (arena and peak within it) and refuses a byte less.
#include <gtest/gtest.h>

#include <random>

#include "common/error.h"
#include "common/shape_inference.h"
#include "enclave/analysis/spillable_activations.h"
#include "enclave/budget_planner.h"
#include "enclave/enclave_session.h"
#include "random_graphs.h"
#include "tee/none/native_platform.h"

using namespace teeinfer;

namespace {

ValueId add_output(Graph& g, Node& n, const std::string& name) {
  n.outputs = {g.add_value({name, DType::kF32, infer_output_dims(g, n), false, {}})};
  g.nodes.push_back(n);
  return n.outputs[0];
}

ValueId conv(Graph& g, const std::string& name, ValueId x, int64_t oc, int64_t k, int64_t stride, std::mt19937& rng) {
  ConvParams p;
  p.kernel = {k, k};
  p.strides = {stride, stride};
  p.dilations = {1, 1};
  p.pads_begin = p.pads_end = {k / 2, k / 2};
  p.post_ops.push_back({EltwiseKind::kRelu, 0.f, 0.f});
  int64_t c = g.value(x).dims[1];
  Node n{name,
         "Conv",
         OpKind::kConv,
         {x, g.add_value(random_constant(name + ".w", {oc, c, k, k}, rng)),
          g.add_value(random_constant(name + ".b", {oc}, rng))},
         {},
         p};
  return add_output(g, n, name + ".y");
}

ValueId resize(Graph& g, const std::string& name, ValueId x, ResizeParams p, int64_t out_h, int64_t out_w) {
  const Dims& d = g.value(x).dims;
  p.sizes = {d[0], d[1], out_h, out_w};
  if (p.scales.empty())
    p.scales = {1.f, 1.f, static_cast<float>(out_h) / static_cast<float>(d[2]),
                static_cast<float>(out_w) / static_cast<float>(d[3])};
  Node n{name, "Resize", OpKind::kResize, {x}, {}, p};
  return add_output(g, n, name + ".y");
}

ValueId concat(Graph& g, const std::string& name, std::vector<ValueId> parts) {
  Node n{name, "Concat", OpKind::kConcat, std::move(parts), {}, ConcatParams{1}};
  return add_output(g, n, name + ".y");
}

ValueId add(Graph& g, const std::string& name, ValueId a, ValueId b) {
  Node n{name, "Add", OpKind::kBinary, {a, b}, {}, BinaryParams{BinaryKind::kAdd}};
  return add_output(g, n, name + ".y");
}

std::vector<std::string> spillable_names(const Graph& g) {
  std::vector<bool> ok = spillable_activations(g);
  std::vector<std::string> names;
  for (size_t v = 0; v < ok.size(); ++v)
    if (ok[v]) names.push_back(g.values[v].name);
  return names;
}

struct ResizeCase {
  const char* what;
  ResizeParams params;
  int64_t out_h, out_w;  // of an input of 11 x 9
  bool exact;            // the whole op runs the separable kernel (or copies): bit-equal bands
  bool banded = true;    // false: its taps along C are not the identity, so it runs whole
};

ResizeParams params(ResizeMode mode, ResizeCoordinates coordinates, ResizeNearest nearest = ResizeNearest::kFloor) {
  ResizeParams p;
  p.mode = mode;
  p.coordinates = coordinates;
  p.nearest = nearest;
  return p;
}

std::vector<ResizeCase> resize_cases() {
  using M = ResizeMode;
  using C = ResizeCoordinates;
  ResizeParams upsample = params(M::kNearest, C::kAsymmetric, ResizeNearest::kSimple);
  ResizeParams cubic = params(M::kCubic, C::kHalfPixel);
  cubic.exclude_outside = true;
  ResizeParams crop = params(M::kLinear, C::kTfCropAndResize);
  crop.roi = {0, 0, -0.2f, 0.1f, 1, 1, 0.9f, 1.3f};
  crop.extrapolation_value = 7.f;
  ResizeParams shifted = params(M::kCubic, C::kTfHalfPixelForNn);  // rows at scale 1, yet interpolated
  shifted.exclude_outside = true;
  return {
      {"nearest 2x, asymmetric floor (Upsample; oneDNN whole)", upsample, 22, 18, true},
      {"nearest 2x, half_pixel round_prefer_floor (oneDNN whole)",
       params(M::kNearest, C::kHalfPixel, ResizeNearest::kRoundPreferFloor), 22, 18, true},
      {"nearest 3x rows, 2x cols", params(M::kNearest, C::kAsymmetric, ResizeNearest::kFloor), 33, 18, true},
      {"nearest fractional, ceil", params(M::kNearest, C::kHalfPixel, ResizeNearest::kCeil), 17, 13, true},
      {"linear 2x, half_pixel (oneDNN whole)", params(M::kLinear, C::kHalfPixel), 22, 18, false},
      {"linear 2x, pytorch_half_pixel (oneDNN whole)", params(M::kLinear, C::kPytorchHalfPixel), 22, 18, false},
      {"linear fractional, align_corners", params(M::kLinear, C::kAlignCorners), 23, 14, true},
      {"linear downsampling, asymmetric", params(M::kLinear, C::kAsymmetric), 5, 4, true},
      {"linear rows only (columns kept)", params(M::kLinear, C::kAlignCorners), 30, 9, true},
      {"linear columns only (rows kept)", params(M::kLinear, C::kAlignCorners), 11, 20, true},
      {"cubic, exclude_outside", cubic, 19, 15, true},
      {"tf_crop_and_resize with extrapolation", crop, 16, 12, true},
      {"cubic, tf_half_pixel_for_nn (interpolates C at scale 1: whole)", shifted, 11, 3, true, false},
  };
}

// x -> Resize -> r; Concat(r, z) -> c; Add(c, c) -> s; Resize(s) back to x's size. Every
// activation between the graph's input and output is made and read by a banded op.
Graph row_ops_graph(int64_t images, const ResizeCase& rc) {
  Graph g;
  ValueId x = g.add_value({"x", DType::kF32, {images, 5, 11, 9}, false, {}});
  ValueId z = g.add_value({"z", DType::kF32, {images, 3, rc.out_h, rc.out_w}, false, {}});
  g.inputs = {x, z};
  ValueId r = resize(g, "up", x, rc.params, rc.out_h, rc.out_w);
  ValueId c = concat(g, "cat", {r, z});
  ValueId s = add(g, "sum", c, c);
  ResizeParams back = rc.params;
  back.scales.clear();
  back.roi.clear();
  if (back.coordinates == ResizeCoordinates::kTfCropAndResize) back.coordinates = ResizeCoordinates::kAlignCorners;
  g.outputs = {resize(g, "down", s, back, 11, 9)};
  validate_graph(g);
  return g;
}

std::vector<float> run(EnclaveSession& s, const Graph& g, std::vector<std::vector<float>>& inputs) {
  std::vector<TensorView> views;
  for (size_t i = 0; i < g.inputs.size(); ++i)
    views.push_back(TensorView{DType::kF32, g.value(g.inputs[i]).dims, inputs[i].data(), g.value(g.inputs[i]).name});
  return s.run(views)[0].data;
}

TEST(SpilledRowOps, ConcatAddAndResizeOutputsAreSpillable) {
  Graph g = row_ops_graph(1, resize_cases()[0]);
  EXPECT_EQ(spillable_names(g), (std::vector<std::string>{"up.y", "cat.y", "sum.y"}));
}

TEST(SpilledRowOps, BandsEqualTheWholeOpsForEveryResizeModeAndBandHeight) {
  for (const ResizeCase& rc : resize_cases())
    for (int64_t images : {1, 2}) {
      Graph g = row_ops_graph(images, rc);
      std::mt19937 rng(static_cast<unsigned>(images));
      std::vector<std::vector<float>> inputs;
      for (ValueId v : g.inputs) inputs.push_back(random_floats(g.value(v).dims, rng));
      NativePlatform platform;
      EnclaveSession whole(g, platform);
      std::vector<float> want = run(whole, g, inputs);
      for (size_t band_bytes : {size_t{1}, size_t{300}, size_t{2000}, size_t{1} << 20}) {
        EnclaveOptions o;
        o.spilled_activations = spillable_names(g);
        o.spill_band_bytes = band_bytes;
        EnclaveSession banded(g, platform, o);
        for (size_t node = 0; node < g.nodes.size(); ++node)
          ASSERT_EQ(banded.lowering().strategies().count(node), g.nodes[node].op != OpKind::kResize || rc.banded)
              << rc.what << ": node " << g.nodes[node].name;
        std::vector<float> got = run(banded, g, inputs);
        std::string where = std::string(rc.what) + ", " + std::to_string(images) + " image(s), bands of ~" +
                            std::to_string(band_bytes) + " bytes";
        if (rc.exact)
          EXPECT_EQ(got, want) << where;
        else
          EXPECT_LE(max_relative_diff(got, want), 1e-6f) << where;
      }
    }
}

// DynamicQuantizeLinear's steps (host/quantize_linear.cpp) on an activation a: max(a)
// over every axis, a / max(a) (a runtime scalar), + a constant per channel, Round. The
// max reads a band at a time and each of the rest runs in bands, reading the broadcast
// operand whole, next to the spilled activations: equal to the whole ops.
TEST(SpilledRowOps, GlobalMaxAndBinaryWithAnOperandBroadcastOverRowsRunInBands) {
  for (int64_t images : {1, 2}) {
    std::mt19937 rng(static_cast<unsigned>(20 + images));
    Graph g;
    ValueId input = g.add_value({"x", DType::kF32, {images, 4, 9, 7}, false, {}});
    g.inputs = {input};
    Node relu{"relu", "Relu", OpKind::kEltwise, {input}, {}, EltwiseParams{EltwiseKind::kRelu}};
    ValueId x = add_output(g, relu, "relu.y");
    Node reduce{"max", "ReduceMax", OpKind::kReduce, {x}, {}, ReduceParams{ReduceKind::kMax, {0, 1, 2, 3}, false}};
    ValueId scale = add_output(g, reduce, "max.y");
    Node div{"div", "Div", OpKind::kBinary, {x, scale}, {}, BinaryParams{BinaryKind::kDiv}};
    ValueId q = add_output(g, div, "div.y");
    Node plus{"add",
              "Add",
              OpKind::kBinary,
              {q, g.add_value(random_constant("zp", {4, 1, 1}, rng))},
              {},
              BinaryParams{BinaryKind::kAdd}};
    ValueId sum = add_output(g, plus, "add.y");
    Node round{"round", "Round", OpKind::kEltwise, {sum}, {}, EltwiseParams{EltwiseKind::kRound}};
    g.outputs = {add_output(g, round, "round.y")};
    validate_graph(g);
    EXPECT_EQ(spillable_names(g), (std::vector<std::string>{"relu.y", "div.y", "add.y"}));
    std::vector<std::vector<float>> inputs{random_floats(g.value(x).dims, rng)};
    for (float& v : inputs[0]) v *= 50.f;  // round() then sees many integers apart
    NativePlatform platform;
    EnclaveSession whole(g, platform);
    std::vector<float> want = run(whole, g, inputs);
    for (size_t band_bytes : {size_t{1}, size_t{200}, size_t{1} << 20}) {
      EnclaveOptions o;
      o.spilled_activations = spillable_names(g);
      o.spill_band_bytes = band_bytes;
      EnclaveSession banded(g, platform, o);
      for (size_t node : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{4}})
        EXPECT_NE(banded.lowering().strategies().count(node), 0u) << g.nodes[node].name << " runs whole";
      EXPECT_EQ(run(banded, g, inputs), want) << images << " image(s), bands of ~" << band_bytes << " bytes";
    }
  }
}

// x -> enc (3x3 stride 2) -> Resize 2x (linear) -> up; x -> skip (3x3); Concat(skip, up)
// -> cat; fuse (3x3) -> Add(fuse, cat) -> head (1x1): M-LSD's decoder block, shrunk.
Graph decoder_graph(std::mt19937& rng) {
  Graph g;
  ValueId x = g.add_value({"x", DType::kF32, {1, 3, 96, 96}, false, {}});
  g.inputs = {x};
  ValueId enc = conv(g, "enc", x, 8, 3, 2, rng);
  ValueId up = resize(g, "resize", enc, params(ResizeMode::kLinear, ResizeCoordinates::kHalfPixel), 96, 96);
  ValueId skip = conv(g, "skip", x, 8, 3, 1, rng);
  ValueId cat = concat(g, "cat", {skip, up});
  ValueId fuse = conv(g, "fuse", cat, 16, 3, 1, rng);
  ValueId sum = add(g, "add", fuse, cat);
  g.outputs = {conv(g, "head", sum, 2, 1, 1, rng)};
  validate_graph(g);
  return g;
}

TEST(SpilledRowOps, PlannerSpillsAroundThemAndRunsAtTheMinimumBudget) {
  std::mt19937 rng(7);
  Graph g = decoder_graph(rng);
  std::vector<std::vector<float>> inputs{random_floats(g.value(g.inputs[0]).dims, rng)};
  NativePlatform native;
  EnclaveSession unlimited(g, native);
  std::vector<float> want = run(unlimited, g, inputs);
  InlineConstants w(g);
  size_t least = minimum_budget(g, dnnl::engine(dnnl::engine::kind::cpu, 0), w, {});
  // The whole Concat holds both parts and its output: 288 + 288 + 576 KiB.
  const size_t whole_concat = (288 + 288 + 576) << 10;
  EXPECT_LT(least, whole_concat);
  EnclaveSession s(g, native, {.budget_bytes = least});
  EXPECT_LE(s.arena_bytes(), least);
  std::vector<float> got = run(s, g, inputs);
  EXPECT_LE(s.peak_bytes(), least);
  EXPECT_LE(max_relative_diff(got, want), 1e-5f);
  for (const char* banded : {"resize", "cat", "add"}) {
    size_t node = 0;
    while (g.nodes[node].name != banded) ++node;
    ASSERT_TRUE(s.lowering().strategies().count(node)) << banded << " runs whole";
    EXPECT_NE(s.lowering().strategies().at(node).find("bands of"), std::string::npos)
        << s.lowering().strategies().at(node);
  }
  try {
    EnclaveSession short_one(g, native, {.budget_bytes = least - 1});
    ADD_FAILURE() << "a budget one byte below the minimum " << least << " was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kBudgetExceeded) << e.what();
  }
}

}  // namespace
