// The command line's main paths, end to end: run, pack/inspect/run sealed, int8 and
// compression options, the emulated EPC's report and its modelled SGX latency, plan.
// (Its error paths are in test_bad_input.cpp and test_files_and_keys.cpp.)
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <random>

#include "cli_runner.h"
#include "common/error.h"
#include "host/file_io.h"
#include "host/npy.h"

using namespace teeinfer;

namespace {

const std::string kSrc = TEEINFER_SOURCE_DIR;

std::string temp_path(const std::string& name) {
  return std::string(TEEINFER_BINARY_DIR) + "/tests/tmp_cli_" + name;
}

TEST(Cli, RunsAnImageAndWritesTheOutput) {
  std::string out = temp_path("y.npy");
  std::remove(out.c_str());
  CliResult r = run_cli("run " + kSrc + "/models/fmnist_vgg.onnx --input " + kSrc + "/tests/data/shirt.png --output " +
                        out + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"latency_ms\""), std::string::npos) << r.output;
  HostTensor y = read_npy(out);
  EXPECT_EQ(y.dims, (Dims{1, 10}));
}

TEST(CliSealed, PackInspectRunAndErrors) {
  std::string key = temp_path("cli.key"), other = temp_path("cli_other.key"), tee = temp_path("cli.tee");
  std::remove(key.c_str());
  std::remove(other.c_str());
  ASSERT_EQ(run_cli("keygen -o " + key).exit_code, 0);
  ASSERT_EQ(run_cli("keygen -o " + other).exit_code, 0);
  CliResult again = run_cli("keygen -o " + key);
  EXPECT_EQ(again.exit_code, 1) << "keygen must not overwrite a key";
  EXPECT_NE(again.output.find("--force"), std::string::npos) << again.output;

  std::string model = kSrc + "/models/fmnist_vgg.onnx", img = kSrc + "/tests/data/shirt.png";
  CliResult p = run_cli("pack " + model + " -o " + tee + " --key " + key + " --model-version 5 --chunk-size 16KiB");
  ASSERT_EQ(p.exit_code, 0) << p.output;

  CliResult info = run_cli("inspect " + tee);
  EXPECT_EQ(info.exit_code, 0) << info.output;
  EXPECT_NE(info.output.find("version 5"), std::string::npos) << info.output;
  EXPECT_EQ(info.output.find("onnx::Conv"), std::string::npos) << "no tensor names without the key";
  CliResult full = run_cli("inspect " + tee + " --key " + key);
  EXPECT_EQ(full.exit_code, 0) << full.output;
  EXPECT_NE(full.output.find("every chunk authenticates"), std::string::npos) << full.output;

  std::string y_plain = temp_path("y_plain.npy"), y_sealed = temp_path("y_sealed.npy");
  // Bit-identical needs the same kernels in both processes: auto times Winograd in each.
  ASSERT_EQ(run_cli("run " + model + " --conv-algorithm direct --input " + img + " --output " + y_plain).exit_code, 0);
  CliResult r = run_cli("run " + tee + " --key " + key + " --min-version 5 --conv-algorithm direct --input " + img +
                        " --output " + y_sealed);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_file(y_plain), read_file(y_sealed)) << "sealed and plain outputs differ";

  std::string q = temp_path("cli_int8.tee");  // int8 fully-connected weights: smaller, shown as int8
  CliResult qp = run_cli("pack " + model + " -o " + q + " --key " + key + " --quantize fc");
  ASSERT_EQ(qp.exit_code, 0) << qp.output;
  EXPECT_LT(read_file(q).size() * 2, read_file(tee).size());
  CliResult qi = run_cli("inspect " + q + " --key " + key);
  EXPECT_NE(qi.output.find("int8"), std::string::npos) << qi.output;
  EXPECT_EQ(run_cli("run " + q + " --key " + key + " --input " + img).exit_code, 0);
  EXPECT_NE(run_cli("pack " + model + " -o " + q + " --key " + key + " --quantize int4").exit_code, 0);
  CliResult no_q = run_cli("pack " + model + " -o " + q + " --key " + key + " --calibrate " + img);
  EXPECT_NE(no_q.exit_code, 0);
  EXPECT_NE(no_q.output.find("--calibrate needs int8 weights (--quantize fc or all)"), std::string::npos)
      << no_q.output;

  struct Case {
    std::string args, expect;
  };
  std::string trunc = temp_path("cli_truncated.tee");
  std::string bytes = read_file(tee);
  write_file_atomic(trunc, bytes.substr(0, bytes.size() - 100));
  for (const Case& c :
       {Case{"run " + tee + " --key " + other + " --input " + img, "not the one"},
        Case{"run " + tee + " --key " + key + " --min-version 6 --input " + img, "rollback"},
        Case{"run " + tee + " --input " + img, "--key"},
        Case{"run " + trunc + " --key " + key + " --input " + img, "truncated"},
        Case{"pack " + model + " -o " + tee + " --key " + key + " --chunk-size 12XB", "--chunk-size"}}) {
    CliResult e = run_cli(c.args);
    EXPECT_EQ(e.exit_code, 1) << c.args << "\n" << e.output;
    EXPECT_EQ(std::count(e.output.begin(), e.output.end(), '\n'), 1) << e.output;
    EXPECT_NE(e.output.find(c.expect), std::string::npos) << e.output;
  }
}

// Full int8 from a calibration .npy, compression and clustering, shown by inspect; a
// stack of inputs in one .npy runs each and writes the outputs stacked.
TEST(CliSealed, Int8CalibrationCompressionAndInputStacks) {
  std::string key = temp_path("cli_q.key"), tee = temp_path("cli_q.tee"), calib = temp_path("cli_calib.npy");
  std::remove(key.c_str());
  ASSERT_EQ(run_cli("keygen -o " + key).exit_code, 0);
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> pixel(-1.f, 1.f);
  std::vector<float> samples(8 * 28 * 28);
  for (float& v : samples) v = std::max(pixel(rng), -0.8f);
  write_npy(calib, {8, 1, 28, 28}, samples.data());
  std::string model = kSrc + "/models/fmnist_vgg.onnx";
  std::string pack = "pack " + model + " -o " + tee + " --key " + key;
  CliResult full = run_cli(pack + " --quantize all --calibrate " + calib + " --compress lz4 --cluster 16");
  ASSERT_EQ(full.exit_code, 0) << full.output;
  EXPECT_NE(full.output.find("5 compute in int8"), std::string::npos) << full.output;
  EXPECT_NE(full.output.find("compressed to"), std::string::npos) << full.output;
  CliResult info = run_cli("inspect " + tee + " --key " + key);
  EXPECT_NE(info.output.find("lz4"), std::string::npos) << info.output;

  std::string stack = temp_path("cli_stack.npy"), ys = temp_path("cli_stack_y.npy");
  write_npy(stack, {3, 1, 28, 28}, samples.data());
  CliResult r = run_cli("run " + tee + " --key " + key + " --input " + stack + " --output " + ys);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_npy(ys).dims, (Dims{3, 10}));
  CliResult rj = run_cli("run " + tee + " --key " + key + " --input " + stack + " --json");
  EXPECT_NE(rj.output.find("\"inputs\": 3"), std::string::npos) << rj.output;

  EXPECT_NE(run_cli(pack + " --cluster 16").exit_code, 0) << "--cluster needs --quantize";
  EXPECT_NE(run_cli(pack + " --compress brotli").exit_code, 0);
  std::string wrong = temp_path("cli_calib_wrong.npy");
  write_npy(wrong, {2, 3, 28, 28}, std::vector<float>(2 * 3 * 28 * 28).data());
  CliResult bad = run_cli(pack + " --quantize all --calibrate " + wrong);
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("must end with the input's dims"), std::string::npos) << bad.output;
  samples[5] = std::nanf("");
  write_npy(wrong, {8, 1, 28, 28}, samples.data());
  CliResult nan = run_cli(pack + " --quantize all --calibrate " + wrong);
  EXPECT_NE(nan.output.find("NaN or infinity"), std::string::npos) << nan.output;
}

double json_number(const std::string& text, const std::string& key) {
  size_t at = text.find("\"" + key + "\"");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(text.find(':', at) + 1));
}

// The modelled SGX time is the fault-free compute time of the same plan plus counted
// faults and host calls at their cycle costs: the test checks counts and that formula on
// the numbers the run reports, never one measured time against another (those flip
// between CPUs: on a host with cheap faults the emulated wall time is below the model).
void expect_modelled_formula(const std::string& out) {
  const double hz = json_number(out, "cycles_per_second"), compute = json_number(out, "compute_ms");
  const double faults = json_number(out, "faults"), calls = json_number(out, "host_calls");
  const double expected = compute + faults * json_number(out, "fault_cycles") / hz * 1e3 +
                          calls * json_number(out, "ocall_cycles") / hz * 1e3;
  EXPECT_GT(hz, 1e8) << out;
  EXPECT_GT(compute, 0.0) << out;
  EXPECT_EQ(json_number(out, "compute_faults_per_run"), 0.0) << "the compute pass holds the whole region\n" << out;
  EXPECT_NEAR(json_number(out, "modelled_sgx_latency_ms"), expected, 1e-9 * expected) << out;
  EXPECT_NEAR(json_number(out, "fault_ms"), faults * json_number(out, "fault_cycles") / hz * 1e3, 1e-9 * expected);
}

TEST(CliSim, EmulatedEpcReportsPagingAndModelledLatency) {
  std::string base =
      "run " + kSrc + "/models/fmnist_vgg.onnx --input " + kSrc + "/tests/data/shirt.png --json --repeat 3";
  CliResult fits = run_cli(base + " --tee sim --epc 64MiB");
  ASSERT_EQ(fits.exit_code, 0) << fits.output;
  EXPECT_EQ(json_number(fits.output, "faults"), 0.0) << "a 2 MiB arena fits a 64 MiB EPC: no faults after warm-up";
  EXPECT_EQ(json_number(fits.output, "host_calls"), 0.0) << "an ONNX model's weights are not read through the host";
  expect_modelled_formula(fits.output);
  // The unmodified baseline does not fit 1 MiB and pages; the planned mode fits it by
  // streaming weights, and never faults.
  CliResult small = run_cli(base + " --tee sim --epc 1MiB --mode unmodified");
  ASSERT_EQ(small.exit_code, 0) << small.output;
  EXPECT_GT(json_number(small.output, "faults"), 100.0) << small.output;
  EXPECT_GT(json_number(small.output, "evictions"), 100.0) << small.output;
  EXPECT_EQ(json_number(small.output, "fault_cycles"), 40000.0);
  EXPECT_EQ(json_number(small.output, "ocall_cycles"), 8000.0);
  expect_modelled_formula(small.output);
  // Free faults: the model is the compute time itself.
  CliResult free = run_cli(base + " --tee sim --epc 1MiB --mode unmodified --fault-cycles 0 --ocall-cycles 0");
  ASSERT_EQ(free.exit_code, 0) << free.output;
  EXPECT_EQ(json_number(free.output, "modelled_sgx_latency_ms"), json_number(free.output, "compute_ms"));
  CliResult planned = run_cli(base + " --tee sim --epc 1MiB");
  ASSERT_EQ(planned.exit_code, 0) << planned.output;
  EXPECT_EQ(json_number(planned.output, "faults"), 0.0) << planned.output;
  EXPECT_GT(json_number(planned.output, "streamed_bytes_per_run"), 0.0) << planned.output;
  expect_modelled_formula(planned.output);
  CliResult too_small = run_cli(base + " --tee sim --epc 64KiB");  // below the minimum on every CPU
  EXPECT_EQ(too_small.exit_code, 1) << too_small.output;
  EXPECT_NE(too_small.output.find("needs at least"), std::string::npos) << too_small.output;
  CliResult bad = run_cli(base + " --tee sim --epc 12");
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_NE(bad.output.find("--epc"), std::string::npos) << bad.output;
  EXPECT_NE(run_cli(base + " --tee sgx").exit_code, 0);
  EXPECT_NE(run_cli(base + " --tee sim --ocall-cycles -1").exit_code, 0);
}

// A sealed model streamed under a small EPC reads its chunks through the host at every
// run: each read is a host call in the model, at least one per chunk decrypted.
TEST(CliSim, SealedStreamingCountsHostCalls) {
  std::string dir = ::testing::TempDir() + "clisim_sealed_" + std::to_string(::getpid()) + "/";
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  ASSERT_EQ(run_cli("keygen -o " + dir + "k.bin").exit_code, 0);
  CliResult pack = run_cli("pack " + kSrc + "/models/fmnist_vgg.onnx -o " + dir + "m.tee --key " + dir +
                           "k.bin --chunk-size 64KiB --quiet");
  ASSERT_EQ(pack.exit_code, 0) << pack.output;
  CliResult r = run_cli("run " + dir + "m.tee --key " + dir + "k.bin --input " + kSrc +
                        "/tests/data/shirt.png --json --repeat 2 --tee sim --epc 1MiB");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(json_number(r.output, "faults"), 0.0) << r.output;
  const double calls = json_number(r.output, "host_calls"), chunks = json_number(r.output, "chunks");
  EXPECT_GT(chunks, 0.0) << r.output;
  EXPECT_GE(calls, chunks) << r.output;
  EXPECT_GT(json_number(r.output, "transition_ms"), 0.0) << r.output;
  expect_modelled_formula(r.output);
  // --profile splits the run by step kind, the streamed reads by the loader's counters.
  CliResult prof = run_cli("run " + dir + "m.tee --key " + dir + "k.bin --input " + kSrc +
                           "/tests/data/shirt.png --repeat 2 --tee sim --epc 1MiB --profile");
  ASSERT_EQ(prof.exit_code, 0) << prof.output;
  EXPECT_NE(prof.output.find("time per run by kind: compute "), std::string::npos) << prof.output;
  EXPECT_NE(prof.output.find("(copy-in "), std::string::npos) << prof.output;
  EXPECT_NE(prof.output.find(" per run, decrypted at "), std::string::npos) << prof.output;
  std::system(("rm -rf " + dir).c_str());
}

TEST(CliPlan, PrintsStepsLayersAndTheMinimumBudget) {
  std::string model = kSrc + "/models/fmnist_vgg.onnx";
  CliResult roomy = run_cli("plan " + model);
  ASSERT_EQ(roomy.exit_code, 0) << roomy.output;
  EXPECT_NE(roomy.output.find("per layer"), std::string::npos) << roomy.output;
  EXPECT_NE(roomy.output.find("minimum feasible budget"), std::string::npos) << roomy.output;
  CliResult tight = run_cli("plan " + model + " --budget 700KiB");  // above the 331 KiB minimum (1 thread)
  ASSERT_EQ(tight.exit_code, 0) << tight.output;
  EXPECT_NE(tight.output.find("weights streamed in windows of"), std::string::npos) << tight.output;
  EXPECT_NE(tight.output.find("stream "), std::string::npos) << tight.output;
  CliResult json = run_cli("plan " + model + " --budget 700KiB --json");
  ASSERT_EQ(json.exit_code, 0) << json.output;
  EXPECT_LE(json_number(json.output, "arena_bytes"), 700.0 * 1024);
  EXPECT_NE(json.output.find("\"strategy\""), std::string::npos);
  CliResult below = run_cli("plan " + model + " --budget 100KiB");
  EXPECT_EQ(below.exit_code, 1) << below.output;
  EXPECT_NE(below.output.find("needs at least"), std::string::npos) << below.output;
}

}  // namespace
