// Weight-only int8 quantization of fully-connected layers (`pack --quantize fc`): the
// per-row round trip bound; the quantized graph validates and stays close to fp32; sealed,
// the int8 weights decrypt 4x fewer bytes whether resident or streamed, and both give the
// same output; int8 anywhere else is rejected.
#include <gtest/gtest.h>

#include <random>

#include "common/error.h"
#include "common/quantize.h"
#include "enclave/budget_planner.h"
#include "enclave/enclave_session.h"
#include "enclave/sealed_model.h"
#include "host/file_host.h"
#include "host/key_file.h"
#include "host/model_loader.h"
#include "host/npy.h"
#include "host/packer.h"
#include "host/quantize_weights.h"
#include "random_graphs.h"
#include "tee/none/native_platform.h"

using namespace teeinfer;

namespace {

const std::string kModels = std::string(TEEINFER_SOURCE_DIR) + "/tests/models/";

TEST(Int8Rows, RoundTripIsWithinHalfAStep) {
  std::mt19937 rng(5);
  const int64_t rows = 7, cols = 300;
  std::vector<float> w = random_floats({rows, cols}, rng);
  for (int64_t c = 0; c < cols; ++c) w[static_cast<size_t>(3 * cols + c)] = 0.f;     // an all-zero row
  for (int64_t c = 0; c < cols; ++c) w[static_cast<size_t>(5 * cols + c)] *= 1e-6f;  // a tiny one
  QuantizedRows q = quantize_rows(w.data(), rows, cols);
  std::vector<float> back(w.size());
  dequantize_rows(q.values.data(), q.scales.data(), rows, cols, back.data());
  for (int64_t r = 0; r < rows; ++r) {
    float peak = 0, scale = q.scales[static_cast<size_t>(r)];
    for (int64_t c = 0; c < cols; ++c) peak = std::max(peak, std::fabs(w[static_cast<size_t>(r * cols + c)]));
    EXPECT_FLOAT_EQ(scale, peak > 0 ? peak / 127 : 1.f) << "row " << r;
    for (int64_t c = 0; c < cols; ++c) {
      size_t i = static_cast<size_t>(r * cols + c);
      EXPECT_LE(std::abs(static_cast<int>(q.values[i])), 127);
      EXPECT_LE(std::fabs(back[i] - w[i]), scale * 0.5f * 1.0001f) << "row " << r << " col " << c;
    }
  }
}

struct Fixture {
  HostTensor x = read_npy(kModels + "alexnet_small.input.npy");  // three fully-connected layers
  Graph fp32 = load_onnx_model(kModels + "alexnet_small.onnx", {{"input", x.dims}});
};

TEST(Int8Fc, QuantizedGraphValidatesAndStaysCloseToFp32) {
  Fixture f;
  Graph q = f.fp32;
  EXPECT_EQ(quantize_weights(q, QuantizeTarget::kFullyConnected).total(), 3);
  EXPECT_NO_THROW(validate_graph(q));
  NativePlatform native;
  auto want = EnclaveSession(f.fp32, native).run({f.x.view("input")})[0].data;
  EnclaveSession s(q, native);
  auto got = s.run({f.x.view("input")})[0].data;
  float diff = max_relative_diff(got, want);
  EXPECT_LT(diff, 0.02f);
  EXPECT_GT(diff, 0.f) << "int8 weights cannot be exact";
  EXPECT_EQ(std::max_element(got.begin(), got.end()) - got.begin(),
            std::max_element(want.begin(), want.end()) - want.begin());
  bool dequantized = false;
  for (const StepInfo& i : s.steps()) dequantized |= i.impl == "teeinfer:dequantize_int8";
  EXPECT_TRUE(dequantized);
}

TEST(Int8Fc, SealedInt8StreamsAQuarterOfTheBytesAndMatchesResident) {
  Fixture f;
  Graph q = f.fp32;
  quantize_weights(q, QuantizeTarget::kFullyConnected).total();
  std::string dir = std::string(TEEINFER_BINARY_DIR) + "/tests/";
  write_key_file(dir + "int8.key", generate_key(), /*overwrite=*/true);
  KeyFile keys(dir + "int8.key");
  pack_model(q, keys.key(), dir + "int8.tee", {});
  pack_model(f.fp32, keys.key(), dir + "int8_fp32.tee", {});
  NativePlatform native;
  auto want = EnclaveSession(q, native).run({f.x.view("input")})[0].data;  // plain int8 graph

  FileHost host(dir + "int8.tee"), fp32_host(dir + "int8_fp32.tee");
  SealedModel sealed(host, keys), sealed_fp32(fp32_host, keys);
  EnclaveSession resident(sealed.graph(), native, {}, &sealed);
  EXPECT_EQ(resident.run({f.x.view("input")})[0].data, want);
  // At their minimum budgets everything that can stream does: each run decrypts the
  // int8 rows, not fp32 ones.
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  auto least = [&](SealedModel& m) {
    return minimum_budget(m.graph(), engine, m, {.load_scratch_bytes = m.scratch_bytes(), .staged = true});
  };
  size_t budget = least(sealed);
  EnclaveSession streamed(sealed.graph(), native, {.budget_bytes = budget}, &sealed);
  EnclaveSession streamed_fp32(sealed_fp32.graph(), native, {.budget_bytes = least(sealed_fp32)}, &sealed_fp32);
  EXPECT_GT(streamed.streamed_bytes(), 0u);
  EXPECT_LE(streamed.streamed_bytes() * 3, streamed_fp32.streamed_bytes()) << "about 4x fewer bytes per run";
  // A streamed plan runs other kernels (output-channel tiles, row windows): on CPUs where
  // oneDNN blocks their reductions by width (AVX2) that moves float32 rounding.
  for (int run = 0; run < 2; ++run)
    EXPECT_LT(max_relative_diff(streamed.run({f.x.view("input")})[0].data, want), 1e-5f);
  EXPECT_LE(streamed.peak_bytes(), budget);
}

TEST(Int8Fc, Int8OutsideAQuantizedGemmIsRejected) {
  Fixture f;
  Graph q = f.fp32;
  quantize_weights(q, QuantizeTarget::kFullyConnected).total();
  for (Node& n : q.nodes)
    if (n.op == OpKind::kGemm) {
      std::get<GemmParams>(n.params).int8.weight_scales.clear();  // B is now int8 without scales
      break;
    }
  EXPECT_THROW(validate_graph(q), Error);
}

}  // namespace
