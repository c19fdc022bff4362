// Band-fused chains: random chains of 2-4 real Conv layers (and a MaxPool) computed band
// by band through every layer, each band recomputing the halo its layers' windows need,
// equal the layer-by-layer result. (A single Conv in bands, in output-channel tiles, and
// in fused chains with 1x1 neighbours is swept against a reference by the op harness,
// tests/op_harness: strategies bands, windows and fused.)
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "enclave/enclave_session.h"
#include "enclave/kernels/kernels.h"
#include "random_graphs.h"
#include "tee/none/native_platform.h"

using namespace teeinfer;

namespace {

// Band-fused chains: random Conv/Conv/MaxPool chains computed band by band through every
// layer equal the layer-by-layer result.
std::vector<float> run_fused(const Graph& g, std::vector<float>& input,
                             std::map<size_t, std::pair<size_t, int64_t>> fused, size_t* steps) {
  NativePlatform platform;
  EnclaveOptions o;
  o.fused_bands = std::move(fused);
  EnclaveSession s(g, platform, o);
  *steps = s.steps().size();
  return s.run({TensorView{DType::kF32, g.value(g.inputs[0]).dims, input.data(), "x"}})[0].data;
}

TEST(BandFusion, ChainsEqualLayerByLayerOverARandomSweep) {
  std::mt19937 rng(7);
  for (int i = 0; i < 60; ++i) {
    int64_t out_h = 0;
    Graph g = chain_graph(rng, &out_h);
    std::vector<float> x = random_floats(g.value(g.inputs[0]).dims, rng);
    auto chains = fusable_chains(g);
    ASSERT_EQ(chains.size(), 1u);
    ASSERT_EQ(chains[0], std::make_pair(size_t{0}, g.nodes.size() - 1));
    int64_t rows = std::uniform_int_distribution<int64_t>(1, std::max<int64_t>(out_h - 1, 1))(rng);
    size_t plain_steps = 0, fused_steps = 0;
    std::vector<float> want = run_fused(g, x, {}, &plain_steps);
    std::vector<float> got = run_fused(g, x, {{0, {g.nodes.size() - 1, rows}}}, &fused_steps);
    if (rows < out_h) {
      EXPECT_GT(fused_steps, plain_steps);
    }
    EXPECT_LE(max_relative_diff(got, want), 1e-5f)
        << "case " << i << ", " << g.nodes.size() << " layers, bands of " << rows;
  }
}

}  // namespace
