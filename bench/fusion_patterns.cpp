// The graph passes' pattern fusions (GELU, LayerNorm, Max/Min with a constant; issue 19)
// on one ONNX model: the model as imported (every op its own kernel) against the model
// after optimize_graph, same input, one thread, median of `runs` runs after a warm-up.
// Prints both times, the largest difference between the outputs and what the passes did.
//
//   /usr/bin/python3 bench/transformer_block.py /tmp/block.onnx 128 256 1024
//   build/bench/bench_fusion_patterns /tmp/block.onnx 1x128x256 [runs]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "enclave/enclave_session.h"
#include "host/graph_passes.h"
#include "host/onnx_import.h"
#include "tee/none/native_platform.h"
#include "teeinfer/teeinfer.h"

using namespace teeinfer;

namespace {

struct Timed {
  double median_ms;
  std::vector<float> y;
  size_t kernels;
};

Timed time_graph(const Graph& g, const std::vector<float>& x, int runs) {
  NativePlatform platform;
  EnclaveSession s(g, platform);
  TensorView in{DType::kF32, g.value(g.inputs[0]).dims, const_cast<float*>(x.data()), "x"};
  Timed t{0, s.run({in})[0].data, s.steps().size()};
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    auto a = std::chrono::steady_clock::now();
    s.run({in});
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(ms.begin(), ms.end());
  t.median_ms = ms[ms.size() / 2];
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s model.onnx DIMS (e.g. 1x128x256) [runs]\n", argv[0]);
    return 2;
  }
  omp_set_num_threads(1);
  const int runs = argc > 3 ? std::max(1, std::atoi(argv[3])) : 50;
  OnnxModel model = OnnxModel::open(argv[1]);
  ImportOptions options;
  options.input_dims[model.declared_inputs().at(0).first] = parse_dims(argv[2], "DIMS");
  Graph plain = model.import(options);
  Graph fused = plain;
  PassStats stats = optimize_graph(fused);
  std::vector<float> x(static_cast<size_t>(element_count(plain.value(plain.inputs[0]).dims, "x")));
  std::mt19937 rng(1);
  std::normal_distribution<float> d;
  for (float& v : x) v = d(rng);
  Timed a = time_graph(plain, x, runs), b = time_graph(fused, x, runs);
  double diff = 0;
  for (size_t i = 0; i < a.y.size(); ++i) diff = std::max(diff, static_cast<double>(std::fabs(a.y[i] - b.y[i])));
  std::printf("%s %s, 1 thread, median of %d runs\n", argv[1], argv[2], runs);
  std::printf("  unfused: %8.3f ms  (%zu kernels)\n", a.median_ms, a.kernels);
  std::printf("  fused:   %8.3f ms  (%zu kernels)  %.2fx\n", b.median_ms, b.kernels, a.median_ms / b.median_ms);
  std::printf("  max |unfused - fused| %.3g; passes: %s\n", diff, describe(stats).c_str());
  return 0;
}
