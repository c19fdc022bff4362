// Shape profiles, batches, several inputs and outputs, image layouts — on the public API
// (include/teeinfer/teeinfer.h) and the CLI, as a user would.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "cli_runner.h"
#include "onnx_builder.h"
#include "teeinfer/teeinfer.h"

namespace {

using teeinfer::Dims;
using teeinfer::Error;
using teeinfer::ErrorCode;
using teeinfer::Model;
using teeinfer::Session;
using teeinfer::SessionOptions;
using teeinfer::Tensor;

const std::string kSrc = TEEINFER_SOURCE_DIR;
const std::string kOcr = kSrc + "/tests/data/dynamic_ocr.onnx";    // any N, H, W
const std::string kNhwc = kSrc + "/tests/data/nhwc_grey.onnx";     // {1, 28, 28, 1}
const std::string kVgg = kSrc + "/tests/models/vgg16_small.onnx";  // fixed batch 1
const std::string kDemo = kSrc + "/models/fmnist_vgg.onnx";        // dynamic batch
const std::string kShirt = kSrc + "/tests/data/shirt.png";

Tensor random_input(const std::string& name, const Dims& dims, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d;
  int64_t n = 1;
  for (int64_t x : dims) n *= x;
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(rng);
  return Tensor::f32(name, dims, v);
}

SessionOptions with_dims(const std::string& name, const Dims& dims, size_t budget = 0) {
  SessionOptions o;
  o.input_dims[name] = dims;
  o.budget_bytes = budget;
  o.conv_algorithm = teeinfer::ConvAlgorithm::kDirect;  // the same kernels plain and sealed
  return o;
}

void expect_near(const std::vector<float>& a, const std::vector<float>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  float worst = 0, scale = 1e-3f;
  for (size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, std::fabs(a[i] - b[i]));
    scale = std::max(scale, std::fabs(b[i]));
  }
  EXPECT_LE(worst, 1e-5f * scale) << what;
}

class Shapes : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "teeinfer_shapes_" + std::to_string(::getpid()) + "/";
    std::filesystem::create_directories(dir_);
    teeinfer::KeyFile::generate(dir_ + "k.bin");
    key_ = std::make_unique<teeinfer::KeyFile>(dir_ + "k.bin");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string pack(const std::string& onnx, const std::string& name, const std::vector<std::string>& shapes) {
    teeinfer::PackOptions o;
    auto profiles = teeinfer::parse_shape_profiles(shapes, "--input-shape");
    if (profiles.size() == 1)
      o.input_dims = profiles[0];
    else
      o.shape_profiles = profiles;
    teeinfer::pack(onnx, dir_ + name, *key_, o);
    return dir_ + name;
  }

  std::string dir_;
  std::unique_ptr<teeinfer::KeyFile> key_;
};

TEST(ShapeProfiles, SetsExpandToEveryCombinationAndInputsVaryTogether) {
  using P = std::vector<std::map<std::string, Dims>>;
  EXPECT_EQ(teeinfer::parse_shape_profiles({"1x3x48x{192,320,640}"}, "s"),
            (P{{{"", {1, 3, 48, 192}}}, {{"", {1, 3, 48, 320}}}, {{"", {1, 3, 48, 640}}}}));
  EXPECT_EQ(teeinfer::parse_shape_profiles({"{1,2}x3x{8,9}"}, "s"),
            (P{{{"", {1, 3, 8}}}, {{"", {1, 3, 9}}}, {{"", {2, 3, 8}}}, {{"", {2, 3, 9}}}}));
  EXPECT_EQ(teeinfer::parse_shape_profiles({"1,3,224,224"}, "s"), (P{{{"", {1, 3, 224, 224}}}}));
  EXPECT_EQ(teeinfer::parse_shape_profiles({"a={1,4}x16", "b={1,4}x8", "sr=1"}, "s"),
            (P{{{"a", {1, 16}}, {"b", {1, 8}}, {"sr", {1}}}, {{"a", {4, 16}}, {"b", {4, 8}}, {"sr", {1}}}}));
  EXPECT_TRUE(teeinfer::parse_shape_profiles({}, "s").empty());
  for (const std::vector<std::string>& bad :
       std::vector<std::vector<std::string>>{{"1x{3"},
                                             {"1x{}"},
                                             {"1x{2,2}"},
                                             {"1x{2}3"},
                                             {"1xx3"},
                                             {"1x-3"},
                                             {"{1,2,3,4,5,6,7,8}x{1,2,3,4,5,6,7,8}x{1,2}"},
                                             {"a={1,2}x3", "b={1,2,3}x3"},
                                             {"1x3", "2x3"},
                                             {"a=1x3", "2x3"},
                                             {"=1x3"},
                                             {"a=1x3", "a=2x3"}}) {
    try {
      teeinfer::parse_shape_profiles(bad, "--input-shape");
      ADD_FAILURE() << bad[0] << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kBadArgument) << e.what();
      EXPECT_NE(std::string(e.what()).find("--input-shape"), std::string::npos) << e.what();
    }
  }
}

// Acceptance 1: packed once, run sealed at three widths, equal to the plain run at each;
// the minimum budget per shape, and a run at each minimum.
TEST_F(Shapes, ADynamicWidthModelPackedOnceRunsSealedAtEachShape) {
  const std::vector<Dims> shapes{{1, 1, 32, 64}, {1, 1, 32, 100}, {1, 1, 32, 160}};
  const std::string sealed_path = pack(kOcr, "ocr.tee", {"1x1x32x{64,100,160}"});
  Model onnx = Model::open(kOcr);
  Model sealed = Model::open(sealed_path, key_.get());
  ASSERT_EQ(sealed.shape_profiles().size(), 3u);
  EXPECT_EQ(sealed.inputs()[0].dims, (Dims{1, 1, 32, -1}));  // -1 where the profiles differ
  EXPECT_EQ(sealed.outputs()[0].dims, (Dims{1, 4}));
  for (size_t k = 0; k < shapes.size(); ++k) {
    EXPECT_EQ(sealed.shape_profiles()[k].inputs[0].dims, shapes[k]);
    const std::string what = "shape " + teeinfer::to_string(shapes[k]);
    Tensor x = random_input("x", shapes[k], static_cast<unsigned>(k));
    std::vector<float> plain = Session(onnx, with_dims("x", shapes[k])).run({x})[0].to_floats();
    Session s(sealed, with_dims("x", shapes[k]));
    EXPECT_EQ(s.inputs()[0].dims, shapes[k]) << what;
    expect_near(s.run({x})[0].to_floats(), plain, what);
    // The minimum is this shape's own (wider inputs need more), and holds exactly.
    const size_t least = s.minimum_budget();
    EXPECT_EQ(least, teeinfer::plan(sealed, with_dims("x", shapes[k])).min_budget_bytes) << what;
    if (k > 0) {
      EXPECT_GT(least, Session(sealed, with_dims("x", shapes[k - 1])).minimum_budget()) << what;
    }
    Session tight(sealed, with_dims("x", shapes[k], least));
    expect_near(tight.run({x})[0].to_floats(), plain, what + " at its minimum budget");
    EXPECT_LE(tight.counters().arena_peak_bytes, least) << what;
    try {
      Session(sealed, with_dims("x", shapes[k], least - 1));
      ADD_FAILURE() << what << ": a budget below the minimum was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kBudgetExceeded) << e.what();
    }
  }
}

TEST_F(Shapes, ProfilesShareTheirWeightsAndTheFirstIsTheDefault) {
  const std::string one = pack(kOcr, "one.tee", {"1x1x32x64"});
  const std::string three = pack(kOcr, "three.tee", {"1x1x32x{64,100,160}"});
  teeinfer::SealedContents a = teeinfer::inspect_sealed(one, *key_), b = teeinfer::inspect_sealed(three, *key_);
  EXPECT_EQ(a.weights.size(), b.weights.size());  // stored once
  EXPECT_EQ(a.info.chunks, b.info.chunks);
  EXPECT_EQ(b.profiles.size(), 3u);
  EXPECT_EQ(b.profiles[2].inputs[0].dims, (Dims{1, 1, 32, 160}));
  // The files differ only by the two extra graphs in the manifest.
  EXPECT_EQ(b.info.file_bytes - b.info.manifest_bytes, a.info.file_bytes - a.info.manifest_bytes);
  Model sealed = Model::open(three, key_.get());
  EXPECT_EQ(Session(sealed).inputs()[0].dims, (Dims{1, 1, 32, 64}));
}

TEST_F(Shapes, AShapeNoProfileHasIsRefusedNamingTheProfiles) {
  Model sealed = Model::open(pack(kOcr, "ocr.tee", {"1x1x32x{64,100}"}), key_.get());
  for (const Dims& d : std::vector<Dims>{{1, 1, 32, 80}, {2, 1, 32, 64}, {1, 1, 32}}) {
    try {
      Session(sealed, with_dims("x", d));
      ADD_FAILURE() << teeinfer::to_string(d) << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kBadInput) << e.what();
      EXPECT_NE(std::string(e.what()).find("x {1,1,32,64}; x {1,1,32,100}"), std::string::npos) << e.what();
    }
  }
  try {
    Session(sealed, with_dims("y", {1, 1, 32, 64}));
    ADD_FAILURE() << "an unknown input name was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kBadArgument) << e.what();
    EXPECT_NE(std::string(e.what()).find("no input named 'y'"), std::string::npos) << e.what();
  }
  // A session's inputs are its profile's: another profile's dims are a bad input.
  Session s(sealed, with_dims("x", {1, 1, 32, 64}));
  EXPECT_THROW(s.run({random_input("x", {1, 1, 32, 100}, 1)}), Error);
}

// Acceptance 2 (the counting part): a batch of 8 decrypts each streamed weight once per
// run, and its outputs are those of 8 single runs.
TEST_F(Shapes, ABatchDecryptsEachStreamedWeightOncePerRun) {
  const std::string path = pack(kVgg, "vgg.tee", {"{1,8}x3x224x224"});  // fixed batch 1 in the file
  Model sealed = Model::open(path, key_.get());
  const Dims one{1, 3, 224, 224}, eight{8, 3, 224, 224};
  // A budget where batch 8 streams weights (its minimum plus a little).
  const size_t budget = Session(sealed, with_dims("input", eight)).minimum_budget() + (size_t{256} << 10);
  Session batch(sealed, with_dims("input", eight, budget));
  const teeinfer::PlanReport& plan = batch.plan();
  ASSERT_GT(plan.streamed_bytes, 0u);
  Tensor x = random_input("input", eight, 3);
  const int runs = 2;
  std::vector<float> y;
  for (int i = 0; i < runs; ++i) y = batch.run({x})[0].to_floats();
  teeinfer::Counters c = batch.counters();
  EXPECT_EQ(c.bytes_decrypted, runs * plan.streamed_bytes);  // once per run, not per image
  uint64_t weight_bytes = 0;
  for (const auto& w : teeinfer::inspect_sealed(path, *key_).weights) weight_bytes += w.bytes;
  EXPECT_LE(plan.streamed_bytes, weight_bytes);
  Session single(sealed, with_dims("input", one, budget));
  const size_t per_image = y.size() / 8;
  std::vector<float> each;
  for (int64_t i = 0; i < 8; ++i) {
    std::vector<float> all = x.to_floats();
    const size_t n = all.size() / 8;
    Tensor xi = Tensor::f32("input", one, std::vector<float>(all.begin() + i * n, all.begin() + (i + 1) * n));
    std::vector<float> yi = single.run({xi})[0].to_floats();
    ASSERT_EQ(yi.size(), per_image);
    each.insert(each.end(), yi.begin(), yi.end());
  }
  expect_near(y, each, "batch of 8 vs 8 single runs");
}

// Acceptance 4: a channels-last model takes a PNG, decoded in its layout.
TEST_F(Shapes, AnNhwcModelTakesAnImage) {
  EXPECT_EQ(teeinfer::image_layout_of({1, 28, 28, 1}), teeinfer::ImageLayout::kNHWC);
  EXPECT_EQ(teeinfer::image_layout_of({1, 3, 224, 224}), teeinfer::ImageLayout::kNCHW);
  EXPECT_EQ(teeinfer::image_layout_of({1, 8, 8, 8}), std::nullopt);
  auto norm = teeinfer::Normalization::half();
  Tensor nchw = teeinfer::load_image(kShirt, "x", {1, 1, 28, 28}, norm);
  Tensor nhwc = teeinfer::load_image(kShirt, "x", {1, 28, 28, 1}, norm, teeinfer::ImageLayout::kNHWC);
  EXPECT_EQ(nhwc.dims, (Dims{1, 28, 28, 1}));
  EXPECT_EQ(nhwc.to_floats(), nchw.to_floats());  // one channel: the same values
  Tensor rgb_first = teeinfer::load_image(kShirt, "x", {1, 3, 5, 7}, norm);
  Tensor rgb_last = teeinfer::load_image(kShirt, "x", {1, 5, 7, 3}, norm, teeinfer::ImageLayout::kNHWC);
  std::vector<float> a = rgb_first.to_floats(), b = rgb_last.to_floats();
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 35; ++i) EXPECT_EQ(b[i * 3 + c], a[c * 35 + i]);
  // The CLI decodes the PNG for the NHWC model by its dims, and the result is the model's
  // output on that tensor.
  Model m = Model::open(kNhwc);
  std::vector<float> want = Session(m).run({nhwc})[0].to_floats();
  teeinfer::CliResult r = teeinfer::run_cli("run " + kNhwc + " --input " + kShirt + " --output " + dir_ + "y.npy");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(teeinfer::read_npy(dir_ + "y.npy", "y").to_floats(), want);
  r = teeinfer::run_cli("run " + kNhwc + " --input " + kShirt + " --layout nchw");
  EXPECT_NE(r.exit_code, 0);
}

// Several outputs: .npz with every output by name, NAME=FILE for one; an .npz read back
// by name, float32 or exactly as the dtype asked.
TEST_F(Shapes, OutputsAreWrittenByName) {
  Tensor y1 = Tensor::f32("a", {2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor y2 = Tensor::f32("b", {1}, {7});
  teeinfer::write_npz(dir_ + "y.npz", {y1, y2});
  std::vector<Tensor> back = teeinfer::read_npz(dir_ + "y.npz", {{"b", teeinfer::DType::kI64}});
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].name, "a");
  EXPECT_EQ(back[0].dims, (Dims{2, 3}));
  EXPECT_EQ(back[0].to_floats(), y1.to_floats());
  EXPECT_EQ(back[1].dtype, teeinfer::DType::kI64);
  EXPECT_EQ(*static_cast<const int64_t*>(back[1].data()), 7);
  std::string bytes(std::filesystem::file_size(dir_ + "y.npz"), '\0');
  {
    std::ifstream f(dir_ + "y.npz", std::ios::binary);
    f.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  for (size_t cut : {size_t{0}, size_t{30}, bytes.size() / 2, bytes.size() - 1}) {  // truncated: refused
    std::ofstream(dir_ + "cut.npz", std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(cut));
    EXPECT_THROW(teeinfer::read_npz(dir_ + "cut.npz"), Error) << cut;
  }
  std::string flipped = bytes;
  flipped[100] = static_cast<char>(flipped[100] ^ 0x40);  // inside a member: its CRC fails
  std::ofstream(dir_ + "flip.npz", std::ios::binary)
      .write(flipped.data(), static_cast<std::streamsize>(flipped.size()));
  EXPECT_THROW(teeinfer::read_npz(dir_ + "flip.npz"), Error);
  EXPECT_THROW(teeinfer::write_npz(dir_ + "z.npz", {y1, y1}), Error);
  EXPECT_THROW(teeinfer::write_npz(dir_ + "z.npz", {Tensor::f32("a/b", {1}, {1})}), Error);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "z.npz"));
}

// ArgMax's indices are int64 as ONNX types them: they reach the caller as int64 values (API,
// sealed model, .npz, .npy, the CLI's JSON), equal to numpy's argmax, also after a
// Squeeze (a view) and a Cast to int32 (the same values, int64); another output computing
// with them (+ 1) reads them as float32.
TEST_F(Shapes, ArgMaxOutputsAreInt64) {
  teeinfer::testing::OnnxModelBuilder b(13);
  b.input("logits", {1, 3, 2, 4});
  b.node("ArgMax", {"logits"}, {"labels_4d"}).i("axis", 1).i("keepdims", 1);
  b.node("Squeeze", {"labels_4d", b.constant<int64_t>("axes", {1}, {1})}, {"labels"});
  b.node("Add", {"labels", b.constant<int64_t>("one", {}, {1})}, {"labels_plus_one"});
  b.node("Cast", {"labels"}, {"labels32"}).i("to", onnx::TensorProto::INT32);  // stays int64
  b.output("labels");
  b.output("labels_plus_one");
  b.output("labels32");
  b.model.mutable_graph()->mutable_output(0)->mutable_type()->mutable_tensor_type()->set_elem_type(
      onnx::TensorProto::INT64);
  const std::string onnx = dir_ + "argmax.onnx";
  std::ofstream(onnx, std::ios::binary) << b.bytes();
  std::vector<float> x(24);
  std::mt19937 rng(3);
  for (float& v : x) v = std::uniform_real_distribution<float>(-1.f, 1.f)(rng);
  std::vector<int64_t> want;
  for (int64_t p = 0; p < 8; ++p) {  // numpy.argmax(x, axis=1): the first largest
    int64_t best = 0;
    for (int64_t c = 1; c < 3; ++c)
      if (x[static_cast<size_t>(c * 8 + p)] > x[static_cast<size_t>(best * 8 + p)]) best = c;
    want.push_back(best);
  }
  Tensor in = Tensor::f32("logits", {1, 3, 2, 4}, x);
  const std::string sealed_path = pack(onnx, "argmax.tee", {});
  for (bool sealed : {false, true}) {
    Model m = sealed ? Model::open(sealed_path, key_.get()) : Model::open(onnx);
    Session s(m);
    std::vector<Tensor> y = s.run({in});
    ASSERT_EQ(y.size(), 3u);
    ASSERT_EQ(y[0].dtype, teeinfer::DType::kI64) << (sealed ? "sealed" : "plain");
    EXPECT_EQ(y[0].dims, (Dims{1, 2, 4}));
    std::vector<int64_t> got(8);
    std::memcpy(got.data(), y[0].data(), 8 * sizeof(int64_t));
    EXPECT_EQ(got, want);
    EXPECT_EQ(y[1].dtype, teeinfer::DType::kF32);  // computed with: float32
    for (size_t i = 0; i < 8; ++i) EXPECT_EQ(y[1].to_floats()[i], static_cast<float>(want[i] + 1));
    EXPECT_EQ(y[2].dtype, teeinfer::DType::kI64);
    EXPECT_EQ(y[2].bytes, y[0].bytes);
    EXPECT_EQ(s.outputs()[0].dtype, teeinfer::DType::kI64);
    teeinfer::write_npz(dir_ + "y.npz", y);
    std::vector<Tensor> back = teeinfer::read_npz(dir_ + "y.npz", {{"labels", teeinfer::DType::kI64}});
    ASSERT_EQ(back.size(), 3u);
    EXPECT_EQ(back[0].bytes, y[0].bytes);
  }
  teeinfer::write_npy(dir_ + "labels.npy", Tensor::i64("labels", {8}, want));
  std::ifstream f(dir_ + "labels.npy", std::ios::binary);
  std::string header(64, '\0');
  f.read(header.data(), 64);
  EXPECT_NE(header.find("'descr': '<i8'"), std::string::npos) << header;
  std::ofstream(dir_ + "x.npy", std::ios::binary).write("", 0);
  teeinfer::write_npy(dir_ + "x.npy", in);
  teeinfer::CliResult r =
      teeinfer::run_cli("run " + onnx + " --input logits=" + dir_ + "x.npy --output " + dir_ + "cli.npz --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"dtype\": \"int64\""), std::string::npos) << r.output;
  std::vector<Tensor> cli = teeinfer::read_npz(dir_ + "cli.npz", {{"labels", teeinfer::DType::kI64}});
  ASSERT_EQ(cli.size(), 3u);
  std::vector<int64_t> got(8);
  std::memcpy(got.data(), cli[0].data(), 8 * sizeof(int64_t));
  EXPECT_EQ(got, want);
}

// Acceptance 3: three inputs (float audio, float state, an int64 scalar sample rate) and
// two outputs, plain and sealed, from the API and the CLI, against outputs computed
// independently (numpy, tools/make_test_models.py).
TEST_F(Shapes, AModelWithThreeTypedInputsAndTwoOutputsRuns) {
  const std::string d = kSrc + "/tests/data/stateful_";
  const std::string onnx = kSrc + "/tests/data/stateful_three_input.onnx";
  Tensor audio = teeinfer::read_npy(d + "audio.npy", "audio");
  Tensor state = teeinfer::read_npy(d + "state.npy", "state");
  Tensor sr = teeinfer::read_npy(d + "sr.npy", "sr", teeinfer::DType::kI64);
  EXPECT_EQ(sr.dtype, teeinfer::DType::kI64);
  EXPECT_EQ(sr.dims, Dims{});
  std::vector<float> prob = teeinfer::read_npy(d + "expected_prob.npy", "p").to_floats();
  std::vector<float> next = teeinfer::read_npy(d + "expected_state_out.npy", "s").to_floats();
  const std::string sealed_path = pack(onnx, "stateful.tee", {"audio={1,3}x64", "state={1,3}x16"});
  for (bool sealed : {false, true}) {
    Model m = sealed ? Model::open(sealed_path, key_.get()) : Model::open(onnx);
    ASSERT_EQ(m.inputs().size(), 3u);
    EXPECT_EQ(m.inputs()[2].dtype, teeinfer::DType::kI64);
    SessionOptions o;
    o.input_dims = {{"audio", {3, 64}}, {"state", {3, 16}}};
    Session s(m, o);
    std::vector<Tensor> y = s.run({sr, state, audio});  // by name, in any order
    ASSERT_EQ(y.size(), 2u);
    EXPECT_EQ(y[0].name, "prob");
    EXPECT_EQ(y[1].name, "state_out");
    expect_near(y[0].to_floats(), prob, sealed ? "sealed prob" : "prob");
    expect_near(y[1].to_floats(), next, sealed ? "sealed state_out" : "state_out");
    Tensor float_sr = Tensor::f32("sr", {}, {16000.f});
    try {
      s.run({audio, state, float_sr});
      ADD_FAILURE() << "a float32 sample rate was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kBadInput) << e.what();
      EXPECT_NE(std::string(e.what()).find("'sr' must be int64 {}"), std::string::npos) << e.what();
    }
  }
  // The CLI: each input by name, every output into one .npz or one by name.
  const std::string in =
      " --input audio=" + d + "audio.npy --input state=" + d + "state.npy --input sr=" + d + "sr.npy";
  teeinfer::CliResult r = teeinfer::run_cli("run " + sealed_path + " --key " + dir_ + "k.bin" + in +
                                            " --output state_out=" + dir_ + "next.npy --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"name\": \"state_out\""), std::string::npos) << r.output;
  expect_near(teeinfer::read_npy(dir_ + "next.npy", "s").to_floats(), next, "CLI state_out");
  r = teeinfer::run_cli("run " + onnx + " --input audio=" + d + "audio.npy --input state=" + d + "state.npy");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("input 'sr' has no --input"), std::string::npos) << r.output;
  r = teeinfer::run_cli("run " + onnx + " --input " + d + "audio.npy");
  EXPECT_NE(r.output.find("the model has 3 inputs (audio, state, sr); give each as --input NAME=FILE"),
            std::string::npos)
      << r.output;
  // All inputs from one .npz (numpy.savez), or some from it and the rest by name.
  teeinfer::write_npz(dir_ + "in.npz", {audio, state, Tensor::f32("sr", {}, {16000.f})});
  r = teeinfer::run_cli("run " + onnx + " --input " + dir_ + "in.npz --output " + dir_ + "all.npz");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<Tensor> outs = teeinfer::read_npz(dir_ + "all.npz");
  ASSERT_EQ(outs.size(), 2u);
  expect_near(outs[1].to_floats(), next, "state_out through .npz in and out");
  teeinfer::write_npz(dir_ + "two.npz", {audio, state});
  r = teeinfer::run_cli("run " + onnx + " --input " + dir_ + "two.npz --input sr=" + d + "sr.npy");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = teeinfer::run_cli("run " + onnx + " --input " + dir_ + "two.npz");
  EXPECT_NE(r.output.find("input 'sr' has no --input"), std::string::npos) << r.output;
  r = teeinfer::run_cli("run " + onnx + " --input " + dir_ + "in.npz --input state=" + d + "state.npy");
  EXPECT_NE(r.output.find("input 'state' is given twice"), std::string::npos) << r.output;
  teeinfer::write_npz(dir_ + "extra.npz", {audio, state, Tensor::f32("sr", {}, {1.f}), Tensor::f32("x", {1}, {1.f})});
  r = teeinfer::run_cli("run " + onnx + " --input " + dir_ + "extra.npz");
  EXPECT_NE(r.output.find("its array 'x' is no input of the model"), std::string::npos) << r.output;
  // An integer input from an .npy that does not hold whole numbers is refused.
  teeinfer::write_npy(dir_ + "half.npy", Tensor::f32("sr", {}, {0.5f}));
  r = teeinfer::run_cli("run " + onnx + " --input audio=" + d + "audio.npy --input state=" + d +
                        "state.npy --input sr=" + dir_ + "half.npy");
  EXPECT_NE(r.output.find("not a whole number"), std::string::npos) << r.output;
  teeinfer::write_npy(dir_ + "big.npy", Tensor::f32("b", {}, {300.f}));
  EXPECT_THROW(teeinfer::read_npy(dir_ + "big.npy", "b", teeinfer::DType::kU8), Error);
  EXPECT_EQ(teeinfer::read_npy(dir_ + "big.npy", "b", teeinfer::DType::kI32).bytes.size(), 4u);
}

// The command line: pack with sets of shapes, plan per shape, run a stack in batches, and
// every new error path with a message naming what is wrong.
TEST_F(Shapes, TheCommandLineTakesShapesBatchesAndNamedFiles) {
  using teeinfer::run_cli;
  const std::string key = " --key " + dir_ + "k.bin";
  teeinfer::CliResult r =
      run_cli("pack " + kDemo + " -o " + dir_ + "m.tee" + key + " --quiet --input-shape '{1,4}x1x28x28'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("2 shape profiles"), std::string::npos) << r.output;
  const std::string m = dir_ + "m.tee" + key;
  r = run_cli("plan " + m);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("image={1,1,28,28}"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("image={4,1,28,28}"), std::string::npos) << r.output;
  r = run_cli("plan " + m + " --json");
  EXPECT_NE(r.output.find("\"shapes\""), std::string::npos) << r.output;
  r = run_cli("plan " + m + " --budget 200KiB");  // neither fits: each says what it needs
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("does not fit the budget"), std::string::npos) << r.output;
  r = run_cli("inspect " + m);
  EXPECT_NE(r.output.find("shape profile 1:"), std::string::npos) << r.output;

  // A stack of 8 runs as 2 batches of 4 (the largest profile that divides it); outputs
  // equal those of the plain model run one by one.
  Tensor x = random_input("image", {8, 1, 28, 28}, 5);
  teeinfer::write_npy(dir_ + "x8.npy", x);
  r = run_cli("run " + m + " --input " + dir_ + "x8.npy --output " + dir_ + "y.npz --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"batches\": 2"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("images_per_second"), std::string::npos) << r.output;
  r = run_cli("run " + kDemo + " --input " + dir_ + "x8.npy --batch 1 --output logits=" + dir_ + "y1.npy");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("8 batch(es) of 1"), std::string::npos) << r.output;
  r = run_cli("run " + kDemo + " --input image=" + dir_ + "x8.npy --output " + dir_ + "y8.npy");  // one batch of 8
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("input   image {8,1,28,28}"), std::string::npos) << r.output;
  expect_near(teeinfer::read_npy(dir_ + "y8.npy", "y").to_floats(),
              teeinfer::read_npy(dir_ + "y1.npy", "y").to_floats(), "batch 8 vs batch 1");

  const std::string x8 = " --input " + dir_ + "x8.npy";
  const std::vector<std::pair<std::string, std::string>> errors{
      {"run " + m + " --input foo=" + dir_ + "x8.npy", "no input named 'foo' (its inputs: image)"},
      {"run " + m + x8 + x8, "input 'image' is given twice"},
      {"run " + m + x8 + " --output nope=" + dir_ + "y.npy", "no output named 'nope' (its outputs: logits)"},
      {"run " + m + x8 + " --output logits=" + dir_ + "y.npz", "one output is written as .npy"},
      {"run " + m + x8 + " --output " + dir_ + "a.npy --output " + dir_ + "a.npy", "is given twice"},
      {"run " + m + x8 + " --batch 3", "packed for no input shape image {3,1,28,28}"},
      {"run " + m + x8 + " --batch 0", "--batch"},
      {"run " + m + x8 + " --input-shape 2x1x28x28", "packed for no input shape image {2,1,28,28}"},
      {"run " + m + x8 + " --input-shape '{1,4}x1x28x28'", "one shape per input here"},
      {"run " + m + " --input " + kShirt + " --layout sideways", "--layout"},
      {"run " + kOcr + " --input " + kShirt, "give --input-shape to decode an image"},
      {"pack " + kDemo + " -o " + dir_ + "b.tee" + key + " --input-shape '1x{1'", "has a '{' without '}'"},
      {"pack " + kDemo + " -o " + dir_ + "b.tee" + key + " --input-shape '{1,1}x1x28x28'", "lists 1 twice"},
      {"pack " + kDemo + " -o " + dir_ + "b.tee" + key + " --input-shape nope=1x1x28x28", "no input named 'nope'"},
      {"plan " + m + " --input-shape 2x1x28x28", "packed for no input shape"},
  };
  for (const auto& [args, expect] : errors) {
    r = run_cli(args);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_NE(r.output.find(expect), std::string::npos) << args << "\n" << r.output;
    EXPECT_EQ(r.output.find("internal"), std::string::npos) << args << "\n" << r.output;
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ + "b.tee"));
}

}  // namespace

// Bound inputs: an integer input fixed to a value folds at import (here the sample rate
// the model multiplies by; an If on it would take one branch), with outputs equal to the
// unbound model's. A run may give it (the same value) or not; another value is refused by
// name, for an ONNX session and for a model packed with it bound (recorded in the file).
TEST_F(Shapes, BoundIntegerInputsFoldAndRefuseAnotherValue) {
  const std::string d = kSrc + "/tests/data/stateful_";
  const std::string onnx = kSrc + "/tests/data/stateful_three_input.onnx";
  Tensor audio = teeinfer::read_npy(d + "audio.npy", "audio");
  Tensor state = teeinfer::read_npy(d + "state.npy", "state");
  Tensor sr = teeinfer::read_npy(d + "sr.npy", "sr", teeinfer::DType::kI64);
  std::vector<float> next = teeinfer::read_npy(d + "expected_state_out.npy", "s").to_floats();
  Tensor other_sr = Tensor::i64("sr", {}, {8000});
  ASSERT_NE(other_sr.bytes, sr.bytes);

  teeinfer::PackOptions po;
  po.input_dims = {{"audio", {3, 64}}, {"state", {3, 16}}};
  po.input_values = {sr};
  teeinfer::pack(onnx, dir_ + "bound.tee", *key_, po);
  for (bool sealed : {false, true}) {
    SCOPED_TRACE(sealed ? "sealed" : "ONNX");
    Model m = sealed ? Model::open(dir_ + "bound.tee", key_.get()) : Model::open(onnx);
    SessionOptions o;
    o.input_dims = {{"audio", {3, 64}}, {"state", {3, 16}}};
    if (!sealed) o.input_values = {sr};
    if (sealed) {
      ASSERT_EQ(m.bound_inputs().size(), 1u);
      EXPECT_EQ(m.bound_inputs()[0].name, "sr");
      EXPECT_EQ(m.bound_inputs()[0].bytes, sr.bytes);
      EXPECT_EQ(m.inputs().size(), 2u) << "a bound input is not an input of the sealed model";
    }
    Session s(m, o);
    EXPECT_EQ(s.inputs().size(), 2u);
    expect_near(s.run({audio, state, sr})[1].to_floats(), next, "given the bound value");
    expect_near(s.run({audio, state})[1].to_floats(), next, "without it");
    try {
      s.run({audio, state, other_sr});
      ADD_FAILURE() << "another sample rate was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kBadInput);
      EXPECT_NE(std::string(e.what()).find("input 'sr' is bound to int64 {} " + std::to_string(16000)),
                std::string::npos)
          << e.what();
      EXPECT_NE(std::string(e.what()).find("got int64 {} 8000"), std::string::npos) << e.what();
    }
  }
  // Binding is for integer and bool inputs of a few values, of the model's dtype.
  SessionOptions bad;
  bad.input_dims = {{"audio", {3, 64}}, {"state", {3, 16}}};
  bad.input_values = {Tensor::f32("audio", {3, 64}, std::vector<float>(192, 0.f))};
  EXPECT_THROW(Session(Model::open(onnx), bad), Error);
  bad.input_values = {Tensor::i64("nope", {}, {1})};
  EXPECT_THROW(Session(Model::open(onnx), bad), Error);
  SessionOptions on_sealed;
  on_sealed.input_values = {sr};
  EXPECT_THROW(Session(Model::open(dir_ + "bound.tee", key_.get()), on_sealed), Error)
      << "a sealed model's inputs are bound when packed";
  // The CLI binds when packing, and a sealed run then refuses another value.
  teeinfer::CliResult r = teeinfer::run_cli("pack " + onnx + " -o " + dir_ + "bound_cli.tee --key " + dir_ +
                                            "k.bin --input-shape audio=3x64 --input-shape state=3x16 "
                                            "--input-value sr=16000 --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  {  // an int64 scalar .npy (write_npy writes float32 only)
    std::string header = "{'descr': '<i8', 'fortran_order': False, 'shape': (), }";
    header.resize(128 - 10 - 1, ' ');
    header += '\n';
    std::string file = std::string("\x93NUMPY\x01\x00", 8) + std::string(1, static_cast<char>(header.size())) +
                       std::string(1, '\0') + header;
    int64_t v = 8000;
    file.append(reinterpret_cast<const char*>(&v), 8);
    std::ofstream(dir_ + "sr8k.npy", std::ios::binary) << file;
  }
  r = teeinfer::run_cli("run " + dir_ + "bound_cli.tee --key " + dir_ + "k.bin --input audio=" + d +
                        "audio.npy --input state=" + d + "state.npy --input sr=" + dir_ + "sr8k.npy");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("'sr' is bound to"), std::string::npos) << r.output;
  r = teeinfer::run_cli("pack " + onnx + " -o " + dir_ + "x.tee --key " + dir_ + "k.bin --input-value audio=1");
  EXPECT_NE(r.output.find("only integer and bool inputs can be bound"), std::string::npos) << r.output;
}
