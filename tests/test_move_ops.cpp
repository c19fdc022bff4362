// The data-movement and resampling ops (Slice, Split, Gather, Tile, Expand, Resize,
// Upsample, ConvTranspose, Pad's reflect/edge modes) through the importer and the enclave:
// which kernel each configuration runs (oneDNN where it computes the ONNX result exactly,
// never its reference kernel), the importer's reading of the attributes the backend node
// tests do not cover, and errors naming the node for bad models.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "common/error.h"
#include "common/sealed_format.h"
#include "enclave/enclave_session.h"
#include "host/onnx_import.h"
#include "host/packer.h"
#include "onnx_builder.h"
#include "tee/none/native_platform.h"

using namespace teeinfer;
using teeinfer::testing::OnnxModelBuilder;

namespace {

struct Result {
  Graph graph;
  std::vector<std::vector<float>> outputs;
  std::vector<StepInfo> steps;
};

Result run(const OnnxModelBuilder& b, const Dims& x_dims, const std::vector<float>& x) {
  Result r;
  ImportOptions opt;
  opt.input_dims["x"] = x_dims;
  r.graph = import_onnx(b.bytes(), "test", opt);
  NativePlatform platform;
  EnclaveSession s(r.graph, platform);
  for (auto& o : s.run({TensorView{DType::kF32, x_dims, const_cast<float*>(x.data()), "x"}}))
    r.outputs.push_back(o.data);
  r.steps = s.steps();
  return r;
}

std::vector<float> iota(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>(i);
  return v;
}

std::string impl_of(const Result& r, const std::string& step) {
  std::string all;
  for (const StepInfo& s : r.steps) {
    if (s.name == step) return s.impl;
    all += " '" + s.name + "'";
  }
  return "(no step " + step + " among" + all + ")";
}

void expect_no_reference_kernels(const Result& r) {
  for (const StepInfo& s : r.steps)
    EXPECT_EQ(s.impl.find("ref"), std::string::npos) << s.name << " runs oneDNN's reference kernel: " << s.impl;
}

void expect_error(const OnnxModelBuilder& b, const Dims& x_dims, ErrorCode code, const std::string& node) {
  try {
    ImportOptions opt;
    opt.input_dims["x"] = x_dims;
    import_onnx(b.bytes(), "test", opt);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(node), std::string::npos) << e.what();
  }
}

TEST(MoveOps, SplitBecomesOneSliceNodePerOutput) {
  OnnxModelBuilder b(18);
  b.input("x", {2, 7});
  b.node("Split", {"x"}, {"a", "b", "c"}).i("axis", 1).i("num_outputs", 3);  // 3, 3, 1
  for (const char* o : {"a", "b", "c"}) b.output(o);
  Result r = run(b, {2, 7}, iota(14));
  ASSERT_EQ(r.graph.nodes.size(), 3u);
  for (const Node& n : r.graph.nodes) EXPECT_EQ(n.op, OpKind::kSlice);
  EXPECT_EQ(r.outputs[0], (std::vector<float>{0, 1, 2, 7, 8, 9}));
  EXPECT_EQ(r.outputs[1], (std::vector<float>{3, 4, 5, 10, 11, 12}));
  EXPECT_EQ(r.outputs[2], (std::vector<float>{6, 13}));
}

TEST(MoveOps, SliceClampsHugeBoundsAndStepsBackward) {
  OnnxModelBuilder b(13);
  b.input("x", {3, 5});
  const int64_t big = std::numeric_limits<int64_t>::max(), small = std::numeric_limits<int64_t>::min();
  b.node("Slice",
         {"x", b.constant<int64_t>("s", {2}, {big, -2}), b.constant<int64_t>("e", {2}, {small, big}),
          b.constant<int64_t>("ax", {2}, {0, -1}), b.constant<int64_t>("st", {2}, {-2, 1})},
         {"y"});
  b.output("y");
  Result r = run(b, {3, 5}, iota(15));
  // rows 2, 0 (backward from the clamped end); columns 3, 4
  EXPECT_EQ(r.outputs[0], (std::vector<float>{13, 14, 3, 4}));
  EXPECT_EQ(impl_of(r, r.graph.nodes[0].name), "teeinfer:slice_strided");
}

TEST(MoveOps, ForwardSliceIsOneOneDnnReorder) {
  OnnxModelBuilder b(9);  // attributes before opset 10
  b.input("x", {2, 3, 4});
  b.node("Slice", {"x"}, {"y"}).ints("starts", {1, -3}).ints("ends", {100, 3}).ints("axes", {0, 2});
  b.output("y");
  Result r = run(b, {2, 3, 4}, iota(24));
  EXPECT_EQ(r.outputs[0], (std::vector<float>{13, 14, 17, 18, 21, 22}));
  EXPECT_EQ(impl_of(r, r.graph.nodes[0].name).rfind("teeinfer", 0), std::string::npos)
      << impl_of(r, r.graph.nodes[0].name);
  expect_no_reference_kernels(r);
}

TEST(MoveOps, GatherOfARuntimeTensorAtNegativeIndices) {
  OnnxModelBuilder b(13);
  b.input("x", {2, 3});
  b.node("Gather", {"x", b.constant<int64_t>("i", {2, 2}, {-1, 0, 1, -3})}, {"y"}).i("axis", 1);
  b.output("y");
  Result r = run(b, {2, 3}, iota(6));
  EXPECT_EQ(r.outputs[0], (std::vector<float>{2, 0, 1, 0, 5, 3, 4, 3}));
}

TEST(MoveOps, ExpandAddsLeadingDimsAndBroadcastsOnes) {
  OnnxModelBuilder b(13);
  b.input("x", {3, 1});
  b.node("Expand", {"x", b.constant<int64_t>("s", {3}, {2, 1, 2})}, {"y"});
  b.output("y");
  Result r = run(b, {3, 1}, {1, 2, 3});
  EXPECT_EQ(r.graph.nodes[0].op, OpKind::kTile);
  EXPECT_EQ(r.outputs[0], (std::vector<float>{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}));
}

TEST(MoveOps, BilinearHalfPixelAndIntegerNearestRunOnOneDnn) {
  OnnxModelBuilder b(13);
  b.input("x", {1, 2, 3, 4});
  std::string roi = b.constant<float>("roi", {0}, {});
  b.node("Resize", {"x", roi, b.constant<float>("sc", {4}, {1, 1, 2, 2})}, {"lin"}).s("mode", "linear");
  b.node("Upsample", {"x", b.constant<float>("up", {4}, {1, 1, 2, 3})}, {"near"}).s("mode", "nearest");
  b.node("Resize", {"x", roi, b.constant<float>("sc2", {4}, {1, 1, 2, 2})}, {"corners"})
      .s("mode", "linear")
      .s("coordinate_transformation_mode", "align_corners");
  for (const char* o : {"lin", "near", "corners"}) b.output(o);
  Result r = run(b, {1, 2, 3, 4}, iota(24));
  for (const char* node : {"Resize_1", "Upsample_2"}) {
    std::string impl = impl_of(r, node);
    EXPECT_EQ(impl.find("teeinfer"), std::string::npos) << node << ": " << impl;
  }
  EXPECT_EQ(impl_of(r, "Resize_3"), "teeinfer:resize_separable");  // oneDNN has no align_corners
  expect_no_reference_kernels(r);
  // nearest x2 rows, x3 columns: row 0 of channel 0 is 0 0 0 1 1 1 2 2 2 3 3 3
  for (int i = 0; i < 12; ++i) EXPECT_EQ(r.outputs[1][static_cast<size_t>(i)], static_cast<float>(i / 3));
  // linear half_pixel, row 0: clamped at the left border, then 0.25 steps
  EXPECT_FLOAT_EQ(r.outputs[0][0], 0.f);
  EXPECT_FLOAT_EQ(r.outputs[0][1], 0.25f);
  EXPECT_FLOAT_EQ(r.outputs[0][2], 0.75f);
  EXPECT_FLOAT_EQ(r.outputs[0][7], 3.f);
  // align_corners, row 0: 0 .. 3 in 7 steps
  EXPECT_NEAR(r.outputs[2][1], 3.f / 7, 1e-6);
  EXPECT_FLOAT_EQ(r.outputs[2][7], 3.f);
}

TEST(MoveOps, ResizeSizesWithKeepAspectRatioAndAxes) {
  OnnxModelBuilder b(18);
  b.input("x", {1, 1, 4, 6});
  std::string none;
  b.node("Resize", {"x", "", "", b.constant<int64_t>("sz", {2}, {2, 2})}, {"y"})
      .ints("axes", {2, 3})
      .s("keep_aspect_ratio_policy", "not_larger");
  b.output("y");
  Result r = run(b, {1, 1, 4, 6}, iota(24));
  // scale min(2/4, 2/6) = 1/3: output {1, 1, round(4/3), 2} = {1, 1, 1, 2}
  EXPECT_EQ(r.graph.value(r.graph.outputs[0]).dims, (Dims{1, 1, 1, 2}));
}

TEST(MoveOps, ConvTransposeRunsOnOneDnnDeconvolution) {
  OnnxModelBuilder b(13);
  b.input("x", {1, 2, 3, 3});
  std::vector<float> w(2 * 3 * 2 * 2, 1.f);
  b.node("ConvTranspose", {"x", b.constant<float>("w", {2, 3, 2, 2}, w), b.constant<float>("b", {3}, {1, 2, 3})}, {"y"})
      .ints("strides", {2, 2})
      .ints("output_padding", {1, 1});
  b.output("y");
  Result r = run(b, {1, 2, 3, 3}, std::vector<float>(18, 1.f));
  EXPECT_EQ(r.graph.value(r.graph.outputs[0]).dims, (Dims{1, 3, 7, 7}));
  // every covered position sums 2 channels x one tap of 1: 2 + bias; the output_padding row
  // and column see only the bias
  const auto& y = r.outputs[0];
  EXPECT_FLOAT_EQ(y[0], 3.f);
  EXPECT_FLOAT_EQ(y[6], 1.f);               // column 6 of row 0, channel 0: bias only
  EXPECT_FLOAT_EQ(y[49 + 6 * 7 + 3], 2.f);  // row 6 of channel 1
  expect_no_reference_kernels(r);
}

TEST(MoveOps, PadModesReflectAndEdge) {
  OnnxModelBuilder b(13);
  b.input("x", {1, 4});
  std::string pads = b.constant<int64_t>("p", {4}, {0, 2, 0, 3});
  b.node("Pad", {"x", pads}, {"r"}).s("mode", "reflect");
  b.node("Pad", {"x", pads}, {"e"}).s("mode", "edge");
  b.output("r");
  b.output("e");
  Result r = run(b, {1, 4}, {1, 2, 3, 4});
  EXPECT_EQ(r.outputs[0], (std::vector<float>{3, 2, 1, 2, 3, 4, 3, 2, 1}));
  EXPECT_EQ(r.outputs[1], (std::vector<float>{1, 1, 1, 2, 3, 4, 4, 4, 4}));
}

TEST(MoveOps, BadModelsNameTheNode) {
  {
    OnnxModelBuilder b(13);
    b.input("x", {2, 3});
    b.node("Gather", {"x", b.constant<int64_t>("i", {1}, {3})}, {"y"}).i("axis", 1);
    b.output("y");
    expect_error(b, {2, 3}, ErrorCode::kBadModel, "Gather");
  }
  {
    OnnxModelBuilder b(13);
    b.input("x", {2, 6});
    b.node("Split", {"x", b.constant<int64_t>("s", {2}, {2, 3})}, {"a", "c"}).i("axis", 1);
    b.output("a");
    expect_error(b, {2, 6}, ErrorCode::kBadModel, "Split");
  }
  {
    OnnxModelBuilder b(13);
    b.input("x", {1, 1, 2, 2});
    b.node("Resize",
           {"x", "", b.constant<float>("sc", {4}, {1, 1, 2, 2}), b.constant<int64_t>("sz", {4}, {1, 1, 4, 4})}, {"y"});
    b.output("y");
    expect_error(b, {1, 1, 2, 2}, ErrorCode::kBadModel, "Resize");
  }
  {
    OnnxModelBuilder b(13);
    b.input("x", {1, 3});
    b.node("Pad", {"x", b.constant<int64_t>("p", {4}, {0, 3, 0, 0})}, {"y"}).s("mode", "reflect");
    b.output("y");
    expect_error(b, {1, 3}, ErrorCode::kBadModel, "Pad");
  }
  {
    OnnxModelBuilder b(13);
    b.input("x", {1, 2, 3, 3});
    b.input("w", {2, 1, 2, 2});
    b.node("ConvTranspose", {"x", "w"}, {"y"});
    b.output("y");
    expect_error(b, {1, 2, 3, 3}, ErrorCode::kUnsupported, "ConvTranspose");
  }
  {
    OnnxModelBuilder b(13);
    b.input("x", {1, 2, 3, 3});
    b.node("ConvTranspose", {"x", b.constant<float>("w", {3, 1, 2, 2}, std::vector<float>(12, 1.f))}, {"y"});
    b.output("y");
    expect_error(b, {1, 2, 3, 3}, ErrorCode::kBadModel, "ConvTranspose");
  }
  {
    OnnxModelBuilder b(13);
    b.input("x", {2, 3});
    b.node("Tile", {"x", b.constant<int64_t>("r", {1}, {2})}, {"y"});
    b.output("y");
    expect_error(b, {2, 3}, ErrorCode::kBadModel, "Tile");
  }
}

}  // namespace

namespace {

TEST(MoveOps, WhereWithAConstantConditionRunsOnRuntimeTensors) {
  OnnxModelBuilder b(13);
  b.input("x", {2, 3});
  std::string cond = b.initializer("c", onnx::TensorProto::BOOL, {3}, std::string("\x01\x00\x01", 3));
  b.node("Where", {cond, "x", b.constant<float>("y", {1}, {-1.f})}, {"out"});
  b.output("out");
  Result r = run(b, {2, 3}, iota(6));
  EXPECT_EQ(r.graph.nodes[0].op, OpKind::kWhere);
  EXPECT_EQ(r.outputs[0], (std::vector<float>{0, -1, 2, 3, -1, 5}));
}

// A runtime condition is a comparison's mask: Where(x < 0, x, 0) is min(x, 0). A runtime
// condition of another dtype than bool (an integer graph input) is refused naming the node.
TEST(MoveOps, WhereTakesAComparisonsMaskAsItsCondition) {
  OnnxModelBuilder b(13);
  b.input("x", {3});
  b.node("Less", {"x", b.constant<float>("z", {1}, {0.f})}, {"c"});
  b.node("Where", {"c", "x", b.constant<float>("y", {1}, {0.f})}, {"out"});
  b.output("out");
  ImportOptions opt;
  opt.input_dims["x"] = {3};
  Graph g = import_onnx(b.bytes(), "where", opt);
  NativePlatform platform;
  EnclaveSession s(g, platform);
  std::vector<float> x = {-2.f, 0.f, 3.f};
  EXPECT_EQ(s.run({TensorView{DType::kF32, {3}, x.data(), "x"}})[0].data, (std::vector<float>{-2.f, 0.f, 0.f}));
  OnnxModelBuilder i(13);
  i.input("x", {3});
  i.input("flag", {3}, onnx::TensorProto::INT64);
  i.node("Where", {"flag", "x", i.constant<float>("y", {1}, {0.f})}, {"out"});
  i.output("out");
  opt.input_dims["flag"] = {3};
  try {
    import_onnx(i.bytes(), "where", opt);
    ADD_FAILURE() << "an int64 runtime condition was imported";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Where"), std::string::npos) << e.what();
  }
}

}  // namespace

namespace {

// The new ops' parameters survive the sealed manifest, Pad's mode included (its constant
// mode keeps format version 2's bytes: test_graph pins those).
TEST(MoveOps, ParamsRoundTripThroughTheManifest) {
  OnnxModelBuilder b(18);
  b.input("x", {1, 2, 4, 4});
  b.node("Pad", {"x", b.constant<int64_t>("p", {8}, {0, 0, 1, 2, 0, 0, 2, 1})}, {"pad"}).s("mode", "edge");
  b.node("Resize",
         {"pad", b.constant<float>("roi", {8}, {0, 0, 0.1f, 0.2f, 1, 1, 0.9f, 0.8f}),
          b.constant<float>("sc", {4}, {1, 1, 1.5f, 0.5f})},
         {"rs"})
      .s("mode", "cubic")
      .s("coordinate_transformation_mode", "tf_crop_and_resize")
      .f("extrapolation_value", 2.5f)
      .i("exclude_outside", 1);
  b.node("Gather", {"rs", b.constant<int64_t>("i", {3}, {0, -1, 1})}, {"g"}).i("axis", 3);
  b.node("Slice",
         {"g", b.constant<int64_t>("s", {1}, {-1}), b.constant<int64_t>("e", {1}, {-100}),
          b.constant<int64_t>("a", {1}, {2}), b.constant<int64_t>("st", {1}, {-2})},
         {"y"});
  b.output("y");
  ImportOptions opt;
  Graph g = import_onnx(b.bytes(), "test", opt);
  Manifest m = plan_manifest(g, 64);
  uint32_t chunks = 0;
  for (const SealedTensor& t : m.tensors) chunks += t.chunk_count;
  std::vector<uint8_t> bytes = encode_manifest(m);
  Manifest back = decode_manifest(bytes.data(), bytes.size(), chunks);
  const Graph& h = back.profiles[0].graph;
  ASSERT_EQ(h.nodes.size(), g.nodes.size());
  const auto& pad = std::get<PadParams>(h.nodes[0].params);
  EXPECT_EQ(pad.mode, PadMode::kEdge);
  EXPECT_EQ(pad.pads_begin, (Dims{0, 0, 1, 2}));
  const auto& rs = std::get<ResizeParams>(h.nodes[1].params);
  const auto& rs0 = std::get<ResizeParams>(g.nodes[1].params);
  EXPECT_EQ(rs.mode, ResizeMode::kCubic);
  EXPECT_EQ(rs.coordinates, ResizeCoordinates::kTfCropAndResize);
  EXPECT_TRUE(rs.exclude_outside);
  EXPECT_EQ(rs.extrapolation_value, 2.5f);
  EXPECT_EQ(rs.scales, rs0.scales);
  EXPECT_EQ(rs.roi, rs0.roi);
  EXPECT_EQ(rs.sizes, rs0.sizes);
  EXPECT_EQ(std::get<GatherParams>(h.nodes[2].params).indices, (std::vector<int64_t>{0, 1, 1}));
  EXPECT_EQ(std::get<SliceParams>(h.nodes[3].params).steps, std::get<SliceParams>(g.nodes[3].params).steps);
  validate_graph(h, false);
}

}  // namespace

namespace {

// output_shape: an odd total padding goes to the beginning (NOTSET, SAME_LOWER) or the
// end (SAME_UPPER), as the spec and ONNX's reference split it.
TEST(MoveOps, ConvTransposeOutputShapeSplitsPadsAsTheSpec) {
  for (const char* auto_pad : {"NOTSET", "SAME_UPPER"}) {
    OnnxModelBuilder b(13);
    b.input("x", {1, 1, 3});
    b.node("ConvTranspose", {"x", b.constant<float>("w", {1, 1, 3}, {1, 1, 1})}, {"y"})
        .ints("strides", {2})
        .ints("output_shape", {6})
        .s("auto_pad", auto_pad);
    b.output("y");
    Result r = run(b, {1, 1, 3}, {1, 2, 3});
    // the full output is 1 1 3 2 5 3 3
    std::vector<float> want =
        std::string(auto_pad) == "NOTSET" ? std::vector<float>{1, 3, 2, 5, 3, 3} : std::vector<float>{1, 1, 3, 2, 5, 3};
    EXPECT_EQ(r.outputs[0], want) << auto_pad;
  }
}

}  // namespace
