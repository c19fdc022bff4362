// Whole models: small versions of torchvision architectures (same graph structure as the
// full ones, narrower and/or smaller input; tools/export_models.py) must match PyTorch's
// output within max|diff| <= 1e-4 * max|ref| + 1e-5.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "enclave/enclave_session.h"
#include "host/idx_dataset.h"
#include "host/model_loader.h"
#include "host/npy.h"
#include "tee/none/native_platform.h"

using namespace teeinfer;

namespace {

struct ModelCase {
  std::string name;
  bool has_batchnorm;
  int batchnorms_folded, residual_adds_fused;  // what the graph passes must do
  int batchnorms_into_concat = 0;
};

class WholeModel : public ::testing::TestWithParam<ModelCase> {};

TEST_P(WholeModel, MatchesPyTorch) {
  const ModelCase& c = GetParam();
  std::string stem = std::string(TEEINFER_SOURCE_DIR) + "/tests/models/" + c.name;
  HostTensor x = read_npy(stem + ".input.npy");
  HostTensor ref = read_npy(stem + ".output.npy");
  PassStats passes;
  Graph g = load_onnx_model(stem + ".onnx", {{"input", x.dims}}, &passes);
  EXPECT_EQ(passes.batchnorms_folded, c.batchnorms_folded);
  EXPECT_EQ(passes.residual_adds_fused, c.residual_adds_fused);
  // A BatchNorm fed by a Conv must be folded into it (pre-activation nets, e.g. DenseNet,
  // keep BatchNorms after Concat: those run as kernels).
  std::vector<OpKind> producer(g.values.size(), OpKind::kPad);
  for (const Node& n : g.nodes) producer[n.outputs[0]] = n.op;
  for (const Node& n : g.nodes) {
    if (n.op == OpKind::kBatchNorm) {
      EXPECT_NE(producer[n.inputs[0]], OpKind::kConv) << n.name << " was not folded";
    }
  }
  EXPECT_EQ(passes.batchnorms_into_concat, c.batchnorms_into_concat);
  NativePlatform platform;
  EnclaveSession planned(g, platform);
  EnclaveSession unmodified(g, platform, {.mode = ExecutionMode::kUnmodified});
  EnclaveOptions wino;  // every eligible 3x3 conv on a Winograd kernel: also within tolerance, no ref kernel
  wino.winograd = WinogradPolicy::kWherePossible;
  EnclaveSession winograd(g, platform, wino);
  for (EnclaveSession* s : {&planned, &unmodified, &winograd}) {
    auto y = s->run({x.view("input")});
    ASSERT_EQ(y.size(), 1u);
    ASSERT_EQ(y[0].dims, ref.dims);
    double max_ref = 0, max_diff = 0;
    for (size_t i = 0; i < ref.data.size(); ++i) {
      max_ref = std::max(max_ref, static_cast<double>(std::fabs(ref.data[i])));
      max_diff = std::max(max_diff, static_cast<double>(std::fabs(ref.data[i] - y[0].data[i])));
    }
    std::string mode = s == &planned ? "planned" : s == &winograd ? "planned, Winograd" : "unmodified";
    EXPECT_LE(max_diff, 1e-4 * max_ref + 1e-5)
        << c.name << " (" << mode << "): max|diff| " << max_diff << ", max|ref| " << max_ref;
    EXPECT_LE(s->peak_bytes(), s->arena_bytes());
    for (const auto& step : s->steps())
      EXPECT_EQ(step.impl.find("ref"), std::string::npos) << step.name << " runs oneDNN's slow reference kernel";
  }
  // The baseline really is naive: convolutions through im2col, and no buffer reused.
  auto steps = unmodified.steps();
  EXPECT_TRUE(std::any_of(steps.begin(), steps.end(), [](const StepInfo& i) { return i.impl == "teeinfer:im2col"; }));
  EXPECT_GT(unmodified.arena_bytes(), planned.arena_bytes());
}

INSTANTIATE_TEST_SUITE_P(
    Torchvision, WholeModel,
    ::testing::Values(ModelCase{"vgg16_small", false, 0, 0}, ModelCase{"resnet18_small", true, 20, 8},
                      ModelCase{"resnet50_small", true, 53, 16},
                      // 11: at width 0.25 the first block has in == out channels (8), so a residual too
                      ModelCase{"mobilenet_v2_small", true, 52, 11}, ModelCase{"squeezenet1_1_small", false, 0, 0},
                      ModelCase{"alexnet_small", false, 0, 0},
                      // pre-activation: of its 121 BatchNorms, 59 follow a Conv and
                      // 62 a Concat (58 dense layers, 3 transitions, norm5)
                      ModelCase{"densenet121_small", true, 59, 0, 62}),
    [](const auto& info) { return info.param.name; });

TEST(FashionMnistModel, ClassifiesTheFirstThousandTestImages) {
  // The demo model scores 92.70% in PyTorch on the full test set; the first 1000 images
  // score 93.9% in teeinfer (`teeinfer eval models/fmnist_vgg.onnx --limit 1000`).
  std::string dir = "/usr/share/datasets/fashion-mnist/";
  IdxImages images = read_idx_images(dir + "t10k-images-idx3-ubyte.gz");
  std::vector<uint8_t> labels = read_idx_labels(dir + "t10k-labels-idx1-ubyte.gz");
  Graph g = load_onnx_model(std::string(TEEINFER_SOURCE_DIR) + "/models/fmnist_vgg.onnx", {{"image", {1, 1, 28, 28}}});
  NativePlatform platform;
  EnclaveSession s(g, platform);
  HostTensor x{{1, 1, 28, 28}, std::vector<float>(784)};
  int correct = 0;
  for (int i = 0; i < 1000; ++i) {
    for (int k = 0; k < 784; ++k) x.data[k] = (images.pixels[i * 784 + k] / 255.f - 0.5f) / 0.5f;
    auto y = s.run({x.view("image")});
    correct += std::max_element(y[0].data.begin(), y[0].data.end()) - y[0].data.begin() == labels[i];
  }
  EXPECT_EQ(correct, 939);
}

}  // namespace
