// ONNX RNN, GRU and LSTM through the importer and the enclave (the backend node tests cover
// the defaults, biases, peepholes and batch-first layout; the op harness the IR op under
// every strategy): an LSTM against ONNX's equations with runtime initial states (as
// voice-activity models feed them), the reverse and bidirectional directions against
// forward runs, and the attributes oneDNN cannot compute refused by name.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "common/error.h"
#include "enclave/enclave_session.h"
#include "host/onnx_import.h"
#include "onnx_builder.h"
#include "tee/none/native_platform.h"

using namespace teeinfer;
using teeinfer::testing::OnnxModelBuilder;
using teeinfer::testing::OnnxNodeBuilder;

namespace {

std::vector<float> random_values(size_t n, uint32_t seed, float spread = 0.5f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-spread, spread);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

struct Input {
  std::string name;
  Dims dims;
  std::vector<float> data;
};

// Imports and runs the model; the outputs in graph order.
std::vector<std::vector<float>> run(const OnnxModelBuilder& b, const std::vector<Input>& inputs) {
  ImportOptions opt;
  for (const Input& i : inputs) opt.input_dims[i.name] = i.dims;
  Graph g = import_onnx(b.bytes(), "test", opt);
  NativePlatform platform;
  EnclaveSession s(g, platform);
  std::vector<TensorView> views;
  for (const Input& i : inputs)
    views.push_back(TensorView{DType::kF32, i.dims, const_cast<float*>(i.data.data()), i.name});
  std::vector<std::vector<float>> out;
  for (auto& o : s.run(views)) out.push_back(o.data);
  return out;
}

void expect_near(const std::vector<float>& got, const std::vector<double>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << what << " [" << i << "]";
}

double sigmoid(double v) {
  return 1 / (1 + std::exp(-v));
}

// ONNX's LSTM equations (operator spec), gates in ONNX's order i, o, f, c; peepholes i, o, f.
struct OnnxLstm {
  int64_t steps, batch, features, hidden;
  std::vector<float> x, w, r, b, p, h0, c0;  // one direction
  std::vector<double> y, yh, yc;

  void run() {
    std::vector<double> h(h0.begin(), h0.end()), c(c0.begin(), c0.end());
    y.assign(static_cast<size_t>(steps * batch * hidden), 0);
    for (int64_t t = 0; t < steps; ++t) {
      std::vector<double> nh(h.size()), nc(c.size());
      for (int64_t n = 0; n < batch; ++n)
        for (int64_t o = 0; o < hidden; ++o) {
          auto gate = [&](int64_t k) {
            int64_t row = k * hidden + o;
            double v = b[row] + b[4 * hidden + row];
            for (int64_t i = 0; i < features; ++i) v += w[row * features + i] * x[(t * batch + n) * features + i];
            for (int64_t j = 0; j < hidden; ++j) v += r[row * hidden + j] * h[n * hidden + j];
            return v;
          };
          const double cp = c[n * hidden + o];
          double i = sigmoid(gate(0) + p[o] * cp), f = sigmoid(gate(2) + p[2 * hidden + o] * cp);
          double cn = f * cp + i * std::tanh(gate(3));
          double og = sigmoid(gate(1) + p[hidden + o] * cn);
          nc[n * hidden + o] = cn;
          nh[n * hidden + o] = og * std::tanh(cn);
          y[(t * batch + n) * hidden + o] = nh[n * hidden + o];
        }
      h = nh;
      c = nc;
    }
    yh = h;
    yc = c;
  }
};

TEST(Recurrent, LstmMatchesOnnxEquationsWithRuntimeStates) {
  OnnxLstm ref{3, 2, 3, 4};
  const int64_t T = ref.steps, N = ref.batch, I = ref.features, H = ref.hidden;
  ref.x = random_values(T * N * I, 1, 1.f);
  ref.w = random_values(4 * H * I, 2);
  ref.r = random_values(4 * H * H, 3);
  ref.b = random_values(8 * H, 4);
  ref.p = random_values(3 * H, 5);
  ref.h0 = random_values(N * H, 6, 1.f);
  ref.c0 = random_values(N * H, 7, 1.f);
  ref.run();

  OnnxModelBuilder m(14);
  m.input("x", {T, N, I});
  m.input("h0", {1, N, H});
  m.input("c0", {1, N, H});
  m.node("LSTM",
         {"x", m.constant<float>("W", {1, 4 * H, I}, ref.w), m.constant<float>("R", {1, 4 * H, H}, ref.r),
          m.constant<float>("B", {1, 8 * H}, ref.b), "", "h0", "c0", m.constant<float>("P", {1, 3 * H}, ref.p)},
         {"y", "yh", "yc"})
      .i("hidden_size", H);
  for (const char* o : {"y", "yh", "yc"}) m.output(o);
  auto out = run(m, {{"x", {T, N, I}, ref.x}, {"h0", {1, N, H}, ref.h0}, {"c0", {1, N, H}, ref.c0}});
  ASSERT_EQ(out.size(), 3u);
  expect_near(out[0], ref.y, "Y");
  expect_near(out[1], ref.yh, "Y_h");
  expect_near(out[2], ref.yc, "Y_c");
}

// A one-node model of `op` with constant weights, X of `x_dims` and every output.
OnnxModelBuilder single(const std::string& op, const std::string& direction, int64_t layout, const Dims& x_dims,
                        int64_t dirs, int64_t hidden, uint32_t seed) {
  const int64_t gates = op == "LSTM" ? 4 : op == "GRU" ? 3 : 1, features = x_dims[2];
  OnnxModelBuilder m(14);
  m.input("x", x_dims);
  std::vector<std::string> outs{"y", "yh"};
  if (op == "LSTM") outs.push_back("yc");
  m.node(
       op,
       {"x",
        m.constant<float>("W", {dirs, gates * hidden, features}, random_values(dirs * gates * hidden * features, seed)),
        m.constant<float>("R", {dirs, gates * hidden, hidden}, random_values(dirs * gates * hidden * hidden, seed + 1)),
        m.constant<float>("B", {dirs, 2 * gates * hidden}, random_values(dirs * 2 * gates * hidden, seed + 2))},
       outs)
      .i("hidden_size", hidden)
      .s("direction", direction)
      .i("layout", layout);
  for (const auto& o : outs) m.output(o);
  return m;
}

// x [T, N, I] with its time steps in reverse order.
std::vector<float> reversed_in_time(const std::vector<float>& x, int64_t steps, int64_t per_step) {
  std::vector<float> y(x.size());
  for (int64_t t = 0; t < steps; ++t)
    std::copy_n(x.begin() + (steps - 1 - t) * per_step, per_step, y.begin() + t * per_step);
  return y;
}

TEST(Recurrent, ReverseIsForwardOverTheReversedSequence) {
  const int64_t T = 4, N = 2, I = 3, H = 5;
  for (const char* op : {"LSTM", "GRU", "RNN"}) {
    SCOPED_TRACE(op);
    std::vector<float> x = random_values(T * N * I, 11, 1.f);
    auto backward = run(single(op, "reverse", 0, {T, N, I}, 1, H, 20), {{"x", {T, N, I}, x}});
    auto forward =
        run(single(op, "forward", 0, {T, N, I}, 1, H, 20), {{"x", {T, N, I}, reversed_in_time(x, T, N * I)}});
    ASSERT_EQ(backward.size(), forward.size());
    std::vector<float> y = reversed_in_time(forward[0], T, N * H);
    for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(backward[0][i], y[i], 1e-6) << "Y " << i;
    for (size_t k = 1; k < forward.size(); ++k)
      for (size_t i = 0; i < forward[k].size(); ++i) EXPECT_NEAR(backward[k][i], forward[k][i], 1e-6) << k << " " << i;
  }
}

TEST(Recurrent, BidirectionalIsBothDirectionsConcatenated) {
  const int64_t T = 3, N = 2, I = 4, H = 3;
  for (int64_t layout : {0, 1}) {
    SCOPED_TRACE("layout " + std::to_string(layout));
    const Dims x_dims = layout ? Dims{N, T, I} : Dims{T, N, I};
    std::vector<float> x = random_values(T * N * I, 31, 1.f);
    OnnxModelBuilder both = single("LSTM", "bidirectional", layout, x_dims, 2, H, 40);
    auto got = run(both, {{"x", x_dims, x}});
    // The same weights, one direction at a time: direction d's W, R, B are the d-th blocks.
    std::vector<std::vector<std::vector<float>>> per_direction;
    for (int64_t d = 0; d < 2; ++d) {
      OnnxModelBuilder one = single("LSTM", d == 0 ? "forward" : "reverse", layout, x_dims, 1, H, 40);
      for (int k = 0; k < 3; ++k) {  // W, R, B: keep direction d's half of the bidirectional values
        const auto& all = both.graph->initializer(k).raw_data();
        auto* mine = one.graph->mutable_initializer(k);
        mine->set_raw_data(all.substr(static_cast<size_t>(d) * all.size() / 2, all.size() / 2));
      }
      per_direction.push_back(run(one, {{"x", x_dims, x}}));
    }
    // Y: [T, 2, N, H] (layout 0) or [N, T, 2, H] (layout 1); Y_h, Y_c: [2, N, H] or [N, 2, H].
    const int64_t outer_y = layout ? N * T : T, outer_s = layout ? N : 1, inner_y = layout ? H : N * H,
                  inner_s = layout ? H : N * H;
    for (size_t k = 0; k < 3; ++k) {
      const int64_t outer = k == 0 ? outer_y : outer_s, inner = k == 0 ? inner_y : inner_s;
      ASSERT_EQ(got[k].size(), static_cast<size_t>(outer * 2 * inner)) << k;
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t d = 0; d < 2; ++d)
          for (int64_t i = 0; i < inner; ++i)
            EXPECT_NEAR(got[k][(o * 2 + d) * inner + i], per_direction[d][k][o * inner + i], 1e-6)
                << "output " << k << " outer " << o << " direction " << d << " " << i;
    }
  }
}

void expect_refused(OnnxModelBuilder& m, const Dims& x_dims, ErrorCode code, const std::string& words) {
  try {
    ImportOptions opt;
    opt.input_dims["x"] = x_dims;
    import_onnx(m.bytes(), "test", opt);
    ADD_FAILURE() << "no error (" << words << ")";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find("'rnn'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
  }
}

TEST(Recurrent, WhatOneDnnCannotComputeIsRefusedByName) {
  const Dims x{2, 1, 3};
  auto model = [&](const std::string& op) {
    OnnxModelBuilder m = single(op, "forward", 0, x, 1, 4, 50);
    m.graph->mutable_node(0)->set_name("rnn");
    return m;
  };
  {
    OnnxModelBuilder m = model("LSTM");
    OnnxNodeBuilder(m.graph->mutable_node(0)).f("clip", 3.f);
    expect_refused(m, x, ErrorCode::kUnsupported, "clip");
  }
  {
    OnnxModelBuilder m = model("LSTM");
    OnnxNodeBuilder(m.graph->mutable_node(0)).i("input_forget", 1);
    expect_refused(m, x, ErrorCode::kUnsupported, "input_forget");
  }
  {
    OnnxModelBuilder m = model("GRU");
    auto* a = m.graph->mutable_node(0)->add_attribute();
    a->set_name("activations");
    a->set_type(onnx::AttributeProto::STRINGS);
    a->add_strings("HardSigmoid");
    a->add_strings("Tanh");
    expect_refused(m, x, ErrorCode::kUnsupported, "HardSigmoid");
  }
  {
    OnnxModelBuilder m = model("RNN");
    m.graph->mutable_node(0)->add_input(m.constant<int32_t>("lens", {1}, {1}));  // 1 of 2 steps
    expect_refused(m, x, ErrorCode::kUnsupported, "sequence_lens");
  }
  {
    OnnxModelBuilder m = model("GRU");
    for (auto& a : *m.graph->mutable_node(0)->mutable_attribute())
      if (a.name() == "hidden_size") a.set_i(5);  // W holds 3 x 4 rows
    expect_refused(m, x, ErrorCode::kBadModel, "hidden_size");
  }
}

TEST(Recurrent, RnnComputesTheActivationNamed) {
  // H_t = f(W x_t + R H_{t-1} + Wb + Rb) (ONNX RNN), with the weights single() makes.
  const int64_t T = 3, N = 2, I = 2, H = 3;
  const uint32_t seed = 61;
  std::vector<float> x = random_values(T * N * I, 60, 2.f), w = random_values(H * I, seed),
                     r = random_values(H * H, seed + 1), b = random_values(2 * H, seed + 2);
  for (const char* f : {"Relu", "Sigmoid", "Tanh"}) {
    SCOPED_TRACE(f);
    OnnxModelBuilder m = single("RNN", "forward", 0, {T, N, I}, 1, H, seed);
    auto* a = m.graph->mutable_node(0)->add_attribute();
    a->set_name("activations");
    a->set_type(onnx::AttributeProto::STRINGS);
    a->add_strings(f);
    auto got = run(m, {{"x", {T, N, I}, x}});
    std::vector<double> h(static_cast<size_t>(N * H), 0), y;
    for (int64_t t = 0; t < T; ++t) {
      std::vector<double> next(h.size());
      for (int64_t n = 0; n < N; ++n)
        for (int64_t o = 0; o < H; ++o) {
          double v = b[o] + b[H + o];
          for (int64_t i = 0; i < I; ++i) v += w[o * I + i] * x[(t * N + n) * I + i];
          for (int64_t j = 0; j < H; ++j) v += r[o * H + j] * h[n * H + j];
          next[n * H + o] = std::string(f) == "Relu"      ? std::max(v, 0.0)
                            : std::string(f) == "Sigmoid" ? sigmoid(v)
                                                          : std::tanh(v);
        }
      h = next;
      y.insert(y.end(), h.begin(), h.end());
    }
    expect_near(got[0], y, "Y");
    expect_near(got[1], h, "Y_h");
  }
}

}  // namespace
