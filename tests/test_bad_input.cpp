// Untrusted input must give a clear teeinfer::Error (and, from the CLI, a one-line
// message and a non-zero exit), never a crash or a wrong answer.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <random>

#include "cli_runner.h"
#include "common/error.h"
#include "common/units.h"
#include "host/file_io.h"
#include "host/model_loader.h"
#include "host/npy.h"
#include "host/onnx_import.h"

using namespace teeinfer;

namespace {

const std::string kSrc = TEEINFER_SOURCE_DIR;
const std::string kConvModel = "/usr/share/libonnx-testdata/data/node/test_conv_with_strides_padding/model.onnx";

std::string temp_path(const std::string& name) {
  return std::string(TEEINFER_BINARY_DIR) + "/tests/tmp_" + name;
}

// Import must either succeed or throw teeinfer::Error; anything else is a bug.
void expect_clean_import(const std::string& bytes, const std::string& what) {
  ImportOptions opt;
  opt.input_dims["x"] = {1, 1, 7, 5};
  try {
    import_onnx(bytes, what, opt);
  } catch (const Error&) {
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": non-teeinfer exception: " << e.what();
  }
}

TEST(BadModel, EveryTruncationIsRejectedCleanly) {
  std::string bytes = read_file(kConvModel);
  for (size_t len = 0; len < bytes.size(); ++len) {
    ImportOptions opt;
    EXPECT_THROW(import_onnx(bytes.substr(0, len), "truncated", opt), Error) << "truncated at " << len;
  }
}

TEST(BadModel, EveryByteFlipIsHandledCleanly) {
  std::string bytes = read_file(kConvModel);
  for (size_t i = 0; i < bytes.size(); ++i)
    for (uint8_t mask : {0x01, 0x80, 0xff}) {
      std::string m = bytes;
      m[i] = static_cast<char>(m[i] ^ mask);
      expect_clean_import(m, "flip at " + std::to_string(i));
    }
}

TEST(BadModel, RandomGarbageIsRejected) {
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    std::string junk(rng() % 512, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    expect_clean_import(junk, "garbage");
  }
}

TEST(BadModel, UnsupportedOpNamesOpAndNode) {
  ImportOptions opt;
  std::string path = "/usr/share/libonnx-testdata/data/node/test_convtranspose/model.onnx";
  try {
    import_onnx(read_file(path), path, opt);
    FAIL() << "ConvTranspose imported";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("ConvTranspose"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("node"), std::string::npos) << e.what();
  }
}

TEST(BadModel, AbsurdDimensionsAreRejected) {
  EXPECT_THROW(element_count({1 << 30, 1 << 30, 1 << 30}, "t"), Error);
  EXPECT_THROW(element_count({-1, 3}, "t"), Error);
  EXPECT_THROW(byte_size(DType::kI64, {int64_t{1} << 61}, "t"), Error);
}

TEST(BadNpy, MalformedFilesAreRejected) {
  EXPECT_THROW(parse_npy("", "empty"), Error);
  EXPECT_THROW(parse_npy("\x93NUMPY\x01", "short"), Error);
  std::string good = read_file(kSrc + "/tests/models/resnet18_small.input.npy");
  EXPECT_NO_THROW(parse_npy(good, "good"));
  EXPECT_THROW(parse_npy(good.substr(0, good.size() - 4), "truncated data"), Error);
  EXPECT_THROW(parse_npy(good + "xxxx", "extra data"), Error);
  std::string big = good;
  big.replace(big.find("64, 64"), 6, "99, 99");
  EXPECT_THROW(parse_npy(big, "shape larger than data"), Error);
}

TEST(Cli, TruncatedModelGivesOneLineError) {
  std::string bytes = read_file(kSrc + "/models/fmnist_vgg.onnx");
  std::string path = temp_path("truncated.onnx");
  write_file_atomic(path, bytes.substr(0, bytes.size() / 2));
  CliResult r = run_cli("run " + path + " --input-shape 1x1x28x28 --input " + kSrc + "/tests/data/shirt.png");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_NE(r.output.find("not a valid ONNX model"), std::string::npos) << r.output;
}

TEST(Cli, UnsupportedOpGivesOneLineError) {
  CliResult r =
      run_cli("run " + kSrc + "/tests/data/unsupported_op.onnx --input " + kSrc + "/tests/data/x_1x1x8x8.npy");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_NE(r.output.find("'Det'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("det_node"), std::string::npos) << r.output;
}

TEST(Cli, WrongInputShapeGivesOneLineError) {
  // resnet18_small takes {1,3,64,64}; vgg16_small's input is {1,3,224,224}.
  CliResult r = run_cli("run " + kSrc + "/tests/models/resnet18_small.onnx --input " + kSrc +
                        "/tests/models/vgg16_small.input.npy");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_NE(r.output.find("must have dim"), std::string::npos) << r.output;
}

TEST(Cli, UnreadableImageGivesOneLineError) {
  std::string path = temp_path("not_an_image.png");
  write_file_atomic(path, "this is not a PNG");
  for (const std::string& img : {path, std::string("/nonexistent/x.png")}) {
    CliResult r = run_cli("run " + kSrc + "/models/fmnist_vgg.onnx --input " + img);
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    EXPECT_NE(r.output.find("cannot read image"), std::string::npos) << r.output;
  }
}

TEST(Cli, MissingModelAndBadOptions) {
  CliResult r = run_cli("run /nonexistent.onnx --input x.npy");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("/nonexistent.onnx"), std::string::npos) << r.output;
  EXPECT_NE(run_cli("run").exit_code, 0);
  EXPECT_NE(run_cli("run m.onnx --input x.npy --threads 0").exit_code, 0);
  EXPECT_EQ(run_cli("--help").exit_code, 0);
  EXPECT_EQ(run_cli("run --help").exit_code, 0);
  EXPECT_EQ(run_cli("eval --help").exit_code, 0);
}

TEST(Units, SizesTakeUnitsAndFractionsAndRejectTheRest) {
  EXPECT_EQ(parse_bytes("4096", "--x"), 4096u);
  EXPECT_EQ(parse_bytes("256KiB", "--x"), 256u << 10);
  EXPECT_EQ(parse_bytes("16mib", "--x"), 16u << 20);
  EXPECT_EQ(parse_bytes("9.5MiB", "--x"), (9u << 20) + (1u << 19));
  EXPECT_EQ(parse_bytes("0.25KiB", "--x"), 256u);
  EXPECT_EQ(parse_bytes("1.000001MiB", "--x"), (1u << 20) + 1u);  // 1.048576 bytes, rounded down
  for (const char* bad :
       {"", "MiB", "12 MiB", "1.5", "1.MiB", ".5MiB", "1.1234567MiB", "3TiB", "-1MiB", "99999999999999MiB"})
    EXPECT_THROW(parse_bytes(bad, "--x"), Error) << bad;
}

}  // namespace
