// Mean-shift channel pruning: the 1-D mean-shift and bandwidth estimate, channel
// selection and structural surgery on small chain / residual / concat graphs (a model
// whose selected channels have γ = β = 0 computes the same outputs after pruning), and
// the cross-check against the Python recipe (scikit-learn) on the committed models.
#include <gtest/gtest.h>
#include <onnx/checker.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "cli_runner.h"
#include "common/error.h"
#include "enclave/enclave_session.h"
#include "host/file_io.h"
#include "host/onnx_import.h"
#include "host/pruning/channel_pruner.h"
#include "host/pruning/mean_shift.h"
#include "random_graphs.h"
#include "tee/none/native_platform.h"

using namespace teeinfer;

namespace {

const std::string kPruning = std::string(TEEINFER_SOURCE_DIR) + "/models/pruning/";

TEST(MeanShift, BandwidthIsTheMeanKthNeighbourDistance) {
  std::vector<double> x = {0, 1, 2, 3, 4};
  EXPECT_DOUBLE_EQ(estimate_bandwidth(x, 0.4), 1.0);  // k = 2: the nearest other point, 1 away for all
  EXPECT_DOUBLE_EQ(estimate_bandwidth(x, 0.1), 0.0);  // k = 1: the point itself
  // k = 3 over {0, 1, 10}: every point's third nearest is the farthest: 10, 9 and 10.
  EXPECT_DOUBLE_EQ(estimate_bandwidth(std::vector<double>{0, 1, 10}, 1.0), 29.0 / 3);
  EXPECT_THROW(estimate_bandwidth(x, 0), Error);
  EXPECT_THROW(estimate_bandwidth(x, 1.5), Error);
}

// Reference values from scikit-learn 1.2.1 (estimate_bandwidth, then
// MeanShift(bandwidth, bin_seeding=True).cluster_centers_) on the same data.
TEST(MeanShift, MatchesScikitLearn) {
  std::vector<double> x = {0.001, 0.002, 0.0025, 0.004, 0.02, 0.35, 0.4, 0.41, 0.42, 0.9, 0.95, 1.0, 1.02, 1.05, 1.1};
  struct Case {
    double quantile, bandwidth;
    std::vector<double> centres;
  } cases[] = {
      {0.2, 0.03290000000000001, {0.0059, 1.0233333333333334, 0.41, 1.1, 0.95, 0.9, 0.35}},
      {0.3, 0.04916666666666669, {0.0059, 0.39499999999999996, 1.0233333333333334, 1.0750000000000002, 0.925}},
      {0.5, 0.46936666666666665, {0.17883333333333334, 1.0033333333333332}},
  };
  for (const Case& c : cases) {
    double h = estimate_bandwidth(x, c.quantile);
    EXPECT_NEAR(h, c.bandwidth, 1e-12) << "quantile " << c.quantile;
    std::vector<double> got = mean_shift_centres(x, h);
    ASSERT_EQ(got.size(), c.centres.size()) << "quantile " << c.quantile;
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], c.centres[i], 1e-12) << "quantile " << c.quantile;
  }
  EXPECT_TRUE(mean_shift_centres(std::vector<double>{}, 1.0).empty());
}

// --- Small ONNX graphs built in code.

struct OnnxBuilder {
  onnx::ModelProto model;
  onnx::GraphProto* g;
  std::mt19937 rng{7};
  int counter = 0;

  OnnxBuilder(const std::vector<int64_t>& input_dims) {
    model.set_ir_version(8);
    model.add_opset_import()->set_version(13);
    g = model.mutable_graph();
    g->set_name("test");
    value_info(g->add_input(), "x", input_dims);
  }
  static void value_info(onnx::ValueInfoProto* v, const std::string& name, const std::vector<int64_t>& dims) {
    v->set_name(name);
    auto* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->mutable_shape()->add_dim()->set_dim_value(d);
  }
  std::string initializer(const std::vector<int64_t>& dims, std::vector<float> data) {
    auto* t = g->add_initializer();
    t->set_name("init" + std::to_string(counter++));
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    t->set_raw_data(std::string(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(float)));
    return t->name();
  }
  std::string random(const std::vector<int64_t>& dims, float lo, float hi) {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    std::uniform_real_distribution<float> u(lo, hi);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& f : v) f = u(rng);
    return initializer(dims, v);
  }
  std::string node(const std::string& op, std::vector<std::string> inputs,
                   const std::vector<std::pair<std::string, std::vector<int64_t>>>& ints = {}) {
    auto* n = g->add_node();
    n->set_op_type(op);
    n->set_name(op + std::to_string(counter));
    for (const auto& i : inputs) n->add_input(i);
    std::string out = "v" + std::to_string(counter++);
    n->add_output(out);
    for (const auto& [name, values] : ints) {
      auto* a = n->add_attribute();
      a->set_name(name);
      if (values.size() == 1 && name != "kernel_shape" && name != "pads") {
        a->set_type(onnx::AttributeProto::INT);
        a->set_i(values[0]);
      } else {
        a->set_type(onnx::AttributeProto::INTS);
        for (int64_t v : values) a->add_ints(v);
      }
    }
    return out;
  }
  // Conv 3x3 (pad 1) + BN (+ ReLU); channels listed in `dead` get γ = β = 0.
  std::string conv_bn(const std::string& x, int64_t cin, int64_t cout, const std::set<int64_t>& dead,
                      bool relu = true) {
    std::string y = node("Conv", {x, random({cout, cin, 3, 3}, -0.5f, 0.5f), random({cout}, -0.1f, 0.1f)},
                         {{"kernel_shape", {3, 3}}, {"pads", {1, 1, 1, 1}}});
    std::uniform_real_distribution<float> u(0.5f, 1.5f), b(-0.2f, 0.2f);
    std::vector<float> gamma(static_cast<size_t>(cout)), beta(static_cast<size_t>(cout));
    for (int64_t c = 0; c < cout; ++c) {
      bool d = dead.count(c) > 0;
      gamma[static_cast<size_t>(c)] = d ? 0.f : u(rng);
      beta[static_cast<size_t>(c)] = d ? 0.f : b(rng);
    }
    std::string s = initializer({cout}, gamma), bb = initializer({cout}, beta);
    y = node("BatchNormalization", {y, s, bb, random({cout}, -0.1f, 0.1f), random({cout}, 0.5f, 1.5f)});
    return relu ? node("Relu", {y}) : y;
  }
  // The last node added becomes the graph output "y".
  void finish(int64_t classes) {
    g->mutable_node(g->node_size() - 1)->set_output(0, "y");
    value_info(g->add_output(), "y", {1, classes});
  }
  std::string head(const std::string& x, int64_t channels, int64_t spatial, int64_t classes) {
    std::string f = node("Flatten", {x}, {{"axis", {1}}});
    return node("Gemm", {f, random({classes, channels * spatial}, -0.3f, 0.3f), random({classes}, -0.1f, 0.1f)},
                {{"transB", {1}}});
  }
};

std::vector<float> run_model(const onnx::ModelProto& m, std::vector<float> x, const Dims& dims) {
  ImportOptions opt;
  opt.input_dims["x"] = dims;
  Graph g = import_onnx(m.SerializeAsString(), "test model", opt);
  NativePlatform platform;
  EnclaveSession s(g, platform);
  return s.run({TensorView{DType::kF32, dims, x.data(), "x"}})[0].data;
}

// Selects and prunes; checks the selection is exactly `dead` per unit (by conv order),
// the result passes the ONNX checker, and outputs match the original.
void check_surgery(OnnxBuilder& b, const Dims& dims, const std::vector<std::set<int64_t>>& dead,
                   const std::vector<bool>& prunable, Grouping grouping = Grouping::kLayer) {
  ASSERT_NO_THROW(onnx::checker::check_model(b.model));
  std::mt19937 rng(3);
  std::vector<float> x = random_floats(dims, rng);
  std::vector<float> want = run_model(b.model, x, dims);
  PruneReport r = select_channels(b.model, {grouping, 0.3});
  ASSERT_EQ(r.units.size(), dead.size());
  size_t removed = 0;
  for (size_t u = 0; u < r.units.size(); ++u) {
    EXPECT_EQ(r.units[u].prunable, prunable[u]) << r.units[u].conv << ": " << r.units[u].kept_because;
    std::set<int64_t> got(r.units[u].removed.begin(), r.units[u].removed.end());
    EXPECT_EQ(got, prunable[u] ? dead[u] : std::set<int64_t>{}) << r.units[u].conv;
    removed += got.size();
  }
  EXPECT_GT(removed, 0u);
  onnx::ModelProto pruned = b.model;
  remove_channels(pruned, r);
  EXPECT_NO_THROW(onnx::checker::check_model(pruned));
  EXPECT_LT(pruned.ByteSizeLong(), b.model.ByteSizeLong());
  EXPECT_LE(max_relative_diff(run_model(pruned, x, dims), want), 1e-5f);
}

TEST(PruningSurgery, ChainWithPoolFlattenAndGemm) {
  OnnxBuilder b({1, 3, 8, 8});
  std::vector<std::set<int64_t>> dead = {{1, 4}, {0, 2, 5}, {3}};
  std::string v = b.conv_bn("x", 3, 8, dead[0]);
  v = b.conv_bn(v, 8, 8, dead[1]);
  v = b.node("MaxPool", {v}, {{"kernel_shape", {2, 2}}, {"strides", {2, 2}}});
  v = b.conv_bn(v, 8, 7, dead[2]);
  b.head(v, 7, 16, 4);
  b.finish(4);
  check_surgery(b, {1, 3, 8, 8}, dead, {true, true, true});
}

TEST(PruningSurgery, BlocksPoolTheirLayers) {
  OnnxBuilder b({1, 3, 8, 8});
  std::vector<std::set<int64_t>> dead = {{1}, {0, 2}, {3, 6}};
  std::string v = b.conv_bn("x", 3, 6, dead[0]);
  v = b.conv_bn(v, 6, 6, dead[1]);
  v = b.node("MaxPool", {v}, {{"kernel_shape", {2, 2}}, {"strides", {2, 2}}});
  v = b.conv_bn(v, 6, 7, dead[2]);
  b.head(v, 7, 16, 4);
  b.finish(4);
  check_surgery(b, {1, 3, 8, 8}, dead, {true, true, true}, Grouping::kBlock);
  PruneReport r = select_channels(b.model, {Grouping::kBlock, 0.3});
  EXPECT_EQ(r.units[0].group, r.units[1].group);  // one block up to the pool
  EXPECT_NE(r.units[1].group, r.units[2].group);
}

TEST(PruningSurgery, SharedInitializersAreCopiedBeforeCutting) {
  OnnxBuilder b({1, 3, 8, 8});
  std::vector<std::set<int64_t>> dead = {{1, 4}, {0, 2, 5}};
  std::string v = b.conv_bn("x", 3, 8, dead[0]);
  v = b.conv_bn(v, 8, 8, dead[1]);
  b.head(b.node("GlobalAveragePool", {v}), 8, 1, 4);
  b.finish(4);
  // As exporters merge identical tensors: both BatchNorms read one running-mean tensor.
  std::vector<onnx::NodeProto*> bns;
  for (auto& n : *b.g->mutable_node())
    if (n.op_type() == "BatchNormalization") bns.push_back(&n);
  ASSERT_EQ(bns.size(), 2u);
  bns[1]->set_input(3, bns[0]->input(3));
  check_surgery(b, {1, 3, 8, 8}, dead, {true, true});
}

TEST(PruningSurgery, ResidualAddKeepsAlignedChannelsWhole) {
  OnnxBuilder b({1, 2, 6, 6});
  // stem -> [inner -> outer] + stem -> ReLU -> GAP -> Gemm: only `inner` may be pruned.
  std::vector<std::set<int64_t>> dead = {{}, {0, 3}, {}};
  std::string stem = b.conv_bn("x", 2, 4, dead[0]);
  std::string v = b.conv_bn(stem, 4, 8, dead[1]);
  v = b.conv_bn(v, 8, 4, dead[2], /*relu=*/false);
  v = b.node("Relu", {b.node("Add", {v, stem})});
  v = b.node("GlobalAveragePool", {v});
  b.head(v, 4, 1, 3);
  b.finish(3);
  check_surgery(b, {1, 2, 6, 6}, dead, {false, true, false});
  PruneReport r = select_channels(b.model, {});
  EXPECT_NE(r.units[0].kept_because.find("Add"), std::string::npos) << r.units[0].kept_because;
}

TEST(PruningSurgery, ConcatRemapsChannelsForEveryReader) {
  OnnxBuilder b({1, 2, 6, 6});
  // a; b = f(a); c = g(concat(a, b)); head reads concat(a, b, c).
  std::vector<std::set<int64_t>> dead = {{2}, {0, 1}, {4, 6}};
  std::string a = b.conv_bn("x", 2, 7, dead[0]);
  std::string bb = b.conv_bn(a, 7, 8, dead[1]);
  std::string c = b.conv_bn(b.node("Concat", {a, bb}, {{"axis", {1}}}), 15, 9, dead[2]);
  std::string all = b.node("Concat", {a, bb, c}, {{"axis", {1}}});
  b.head(b.node("GlobalAveragePool", {all}), 24, 1, 3);
  b.finish(3);
  check_surgery(b, {1, 2, 6, 6}, dead, {true, true, true});
}

// --- The Python recipe's models: C++ selects exactly the channels scikit-learn did.

class PythonCrossCheck : public ::testing::TestWithParam<std::string> {};

TEST_P(PythonCrossCheck, SameChannelsAsTheRecipe) {
  std::string stem = kPruning + GetParam();
  auto expected = nlohmann::json::parse(read_file(stem + "_selection.json"));
  onnx::ModelProto m = read_onnx_proto(stem + "_sparse.onnx");
  ChannelSelection o{expected["group"] == "block" ? Grouping::kBlock : Grouping::kLayer,
                     expected["quantile"].get<double>()};
  PruneReport r = select_channels(m, o);
  std::set<std::string> seen;
  int compared = 0;
  for (const UnitPruning& u : r.units) {
    if (!expected["removed"].contains(u.bn_scale)) {
      EXPECT_FALSE(u.prunable && !u.removed.empty()) << u.bn_scale << ": C++ prunes a layer the recipe keeps whole";
      continue;
    }
    seen.insert(u.bn_scale);
    EXPECT_TRUE(u.prunable) << u.bn_scale << ": " << u.kept_because;
    EXPECT_EQ(u.removed, expected["removed"][u.bn_scale].get<std::vector<int64_t>>()) << u.bn_scale;
    ++compared;
  }
  EXPECT_EQ(seen.size(), expected["removed"].size()) << "layers the recipe prunes that C++ did not find";
  EXPECT_GT(compared, 0);
}

INSTANTIATE_TEST_SUITE_P(ReferenceNets, PythonCrossCheck, ::testing::Values("vgg", "resnet", "densenet"));

TEST(PruneCli, PrunesTheSparseVggAndTheResultRuns) {
  std::string out = std::string(TEEINFER_BINARY_DIR) + "/tests/tmp_pruned_vgg.onnx";
  CliResult r = run_cli("prune " + kPruning + "vgg_sparse.onnx -o " + out + " --group block --quantile 0.1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("parameters"), std::string::npos) << r.output;
  EXPECT_NO_THROW(onnx::checker::check_model(read_onnx_proto(out)));
  CliResult eval = run_cli("eval " + out + " --limit 100");  // Fashion-MNIST test images
  EXPECT_EQ(eval.exit_code, 0) << eval.output;
  EXPECT_NE(eval.output.find("accuracy"), std::string::npos) << eval.output;
  EXPECT_NE(run_cli("prune " + kPruning + "vgg_sparse.onnx -o " + out + " --quantile 2").exit_code, 0);
  EXPECT_NE(run_cli("prune /nonexistent.onnx -o " + out).exit_code, 0);
  CliResult folded = run_cli("prune " + std::string(TEEINFER_SOURCE_DIR) + "/models/fmnist_vgg.onnx -o " + out);
  EXPECT_EQ(folded.exit_code, 1) << folded.output;  // BatchNorm folded at export: nothing to prune
  EXPECT_NE(folded.output.find("nothing to prune"), std::string::npos) << folded.output;
  std::remove(out.c_str());
}

}  // namespace
