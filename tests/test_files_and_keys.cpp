// How the host writes files and handles keys and model identity: temporary files that
// cannot be planted or left behind, key files checked on read, outputs that never land on
// a key or an input, numeric options range-checked, and sealed models pinned by id and
// version before any of their weights is read.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <thread>

#include "cli_runner.h"
#include "common/error.h"
#include "common/sealed_format.h"
#include "enclave/sealed_model.h"
#include "host/file_io.h"
#include "host/key_file.h"
#include "host/memory_host.h"
#include "host/model_loader.h"
#include "host/npy.h"
#include "host/packer.h"

using namespace teeinfer;
namespace fs = std::filesystem;

namespace {

const std::string kSrc = TEEINFER_SOURCE_DIR;
const std::string kCli = std::string(TEEINFER_BINARY_DIR) + "/teeinfer";
const std::string kModel = kSrc + "/models/fmnist_vgg.onnx";
const std::string kImage = kSrc + "/tests/data/shirt.png";

// A fresh, empty directory per test (ctest runs test cases as parallel processes),
// removed at the end.
class TestDir {
 public:
  explicit TestDir(const std::string& name)
      : path_(std::string(TEEINFER_BINARY_DIR) + "/tests/files_" + name + "_" + std::to_string(::getpid()) + "/") {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TestDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

void write_bytes(const std::string& path, const std::string& bytes, mode_t mode = 0600) {
  std::remove(path.c_str());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  ::close(fd);
  ::chmod(path.c_str(), mode);
}

// The CLI in a child process; `in_child` runs after fork, before exec (plant files, set
// limits or the environment). Its output goes to `log`.
pid_t spawn_cli(const std::vector<std::string>& args, const std::string& log,
                const std::function<void()>& in_child = {}) {
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ::dup2(fd, 1);
  ::dup2(fd, 2);
  if (in_child) in_child();
  std::vector<char*> argv{const_cast<char*>(kCli.c_str())};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ::execv(kCli.c_str(), argv.data());
  ::_exit(127);
}

int wait_status(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

void expect_one_line_error(const CliResult& r, const std::string& expect, const std::string& what) {
  EXPECT_EQ(r.exit_code, 1) << what << "\n" << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << what << "\n" << r.output;
  EXPECT_NE(r.output.find(expect), std::string::npos) << what << ": expected '" << expect << "' in\n" << r.output;
}

std::string make_key(const std::string& path) {
  EXPECT_EQ(run_cli("keygen -o " + path).exit_code, 0);
  return path;
}

// ---- Item 7: temporary files ---------------------------------------------------------

TEST(TempFiles, NameIsRandomInTheTargetDirectoryAndModeIsRight) {
  TestDir scratch("temp_name");
  const std::string& dir = scratch.path();
  mode_t old_umask = ::umask(022);
  {
    AtomicFileWriter a(dir + "out.npy"), b(dir + "out.npy");
    EXPECT_NE(a.temp_path(), b.temp_path()) << "two writers of one target share a temporary name";
    for (const AtomicFileWriter* w : {&a, &b}) {
      EXPECT_EQ(fs::path(w->temp_path()).parent_path(), fs::path(dir + "out.npy").parent_path());
      EXPECT_NE(w->temp_path(), dir + "out.npy.tmp." + std::to_string(::getpid())) << "predictable name";
      EXPECT_EQ(mode_of(w->temp_path()), 0644u);
    }
    AtomicFileWriter secret(dir + "k.bin", FileAccess::kOwnerOnly);
    EXPECT_EQ(mode_of(secret.temp_path()), 0600u);
    secret.write("0123456789abcdef0123456789abcdef", 32);
    secret.commit();
    a.write("x", 1);
    a.commit();
  }  // b is never committed: its temporary file goes
  ::umask(old_umask);
  EXPECT_EQ(entries(dir), (std::vector<std::string>{"k.bin", "out.npy"}));
  EXPECT_EQ(mode_of(dir + "k.bin"), 0600u);
  EXPECT_EQ(mode_of(dir + "out.npy"), 0644u);
  EXPECT_EQ(read_file(dir + "out.npy"), "x");
}

// The old writers used `<path>.tmp.<pid>` and followed a symlink planted there: the key
// went into the attacker's file. The child plants one for its own pid, then runs keygen.
TEST(TempFiles, SymlinkPlantedAtTheOldPredictableNameIsNotFollowed) {
  TestDir scratch("planted");
  const std::string& dir = scratch.path();
  std::string victim = dir + "attacker_file", key = dir + "k.bin";
  write_bytes(victim, "attacker", 0644);
  pid_t pid = spawn_cli({"keygen", "-o", key}, dir + "log", [&] {
    std::string planted = key + ".tmp." + std::to_string(::getpid());
    if (::symlink(victim.c_str(), planted.c_str()) != 0) ::_exit(126);
  });
  int status = wait_status(pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_file(dir + "log");
  EXPECT_EQ(read_file(victim), "attacker") << "the key was written through the planted symlink";
  EXPECT_EQ(read_file(key).size(), 32u);
  EXPECT_EQ(mode_of(key), 0600u);
}

// rename() replaces a symlink at the target itself; the file it points to is untouched.
TEST(TempFiles, SymlinkAtTheTargetIsReplacedNotFollowed) {
  TestDir scratch("target_link");
  const std::string& dir = scratch.path();
  std::string victim = dir + "victim", out = dir + "y.npy";
  write_bytes(victim, "victim", 0644);
  ASSERT_EQ(::symlink(victim.c_str(), out.c_str()), 0);
  float y[2] = {1, 2};
  write_npy(out, {2}, y);
  EXPECT_EQ(read_file(victim), "victim");
  struct stat st {};
  ASSERT_EQ(::lstat(out.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  // A key is never written over a symlink, even with --force.
  std::string key_link = dir + "k.bin";
  ASSERT_EQ(::symlink(victim.c_str(), key_link.c_str()), 0);
  EXPECT_THROW(write_key_file(key_link, generate_key(), true), Error);
  EXPECT_EQ(read_file(victim), "victim");
}

TEST(TempFiles, FailedWritesLeaveNoTemporaryFile) {
  TestDir scratch("failed");
  const std::string& dir = scratch.path();
  // The target is a directory: the rename fails after every byte was written.
  fs::create_directories(dir + "taken/inner");
  EXPECT_THROW(write_file_atomic(dir + "taken", std::string(100000, 'x')), Error);
  // A write error half way (file size limit, as on a full disk), in a child process.
  pid_t pid = ::fork();
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    rlimit limit{40000, 40000};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    try {
      write_file_atomic(dir + "big.bin", std::string(1 << 20, 'x'));
    } catch (const Error&) {
      ::_exit(0);
    }
    ::_exit(1);
  }
  int status = wait_status(pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the write did not fail with a teeinfer::Error";
  // The same through `pack`.
  std::string key = make_key(dir + "k.bin");
  pid = spawn_cli({"pack", kModel, "-o", dir + "m.tee", "--key", key, "--quiet"}, dir + "log", [] {
    ::signal(SIGXFSZ, SIG_IGN);
    rlimit limit{100000, 100000};
    ::setrlimit(RLIMIT_FSIZE, &limit);
  });
  status = wait_status(pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << read_file(dir + "log");
  EXPECT_NE(read_file(dir + "log").find("error writing"), std::string::npos);
  EXPECT_EQ(entries(dir), (std::vector<std::string>{"k.bin", "log", "taken"}));
}

// (SIGTERM only: a test run in the background inherits an ignored SIGINT, which the
// writer leaves alone. The CLI test below covers SIGINT.)
TEST(TempFiles, SignalRemovesTheTemporaryFileAndStillKills) {
  TestDir scratch("signal_inprocess");
  const std::string& dir = scratch.path();
  for (int sig : {SIGTERM}) {
    pid_t pid = ::fork();
    if (pid == 0) {
      AtomicFileWriter w(dir + "out.bin");
      w.write("partial", 7);
      ::raise(sig);
      ::_exit(0);
    }
    int status = wait_status(pid);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == sig) << "status " << status;
    EXPECT_EQ(entries(dir), std::vector<std::string>{}) << "signal " << sig;
  }
}

// A pack interrupted by SIGTERM or SIGINT while it writes (the test hook slows every
// write down) leaves nothing behind, and the process still dies of the signal.
TEST(TempFiles, InterruptedPackLeavesNoTemporaryFile) {
  TestDir scratch("signal_pack");
  const std::string& dir = scratch.path();
  TestDir key_dir("signal_pack_key");
  std::string key = make_key(key_dir.path() + "k.bin");
  for (int sig : {SIGTERM, SIGINT}) {
    pid_t pid = spawn_cli({"pack", kModel, "-o", dir + "m.tee", "--key", key, "--chunk-size", "16KiB", "--quiet"},
                          key + ".log", [] {
                            ::signal(SIGINT, SIG_DFL);  // a background test run inherits it ignored
                            ::signal(SIGTERM, SIG_DFL);
                            ::setenv("TEEINFER_TEST_WRITE_DELAY_US", "50000", 1);
                          });
    auto start = std::chrono::steady_clock::now();
    bool seen = false;
    while (!seen && std::chrono::steady_clock::now() - start < std::chrono::seconds(20)) {
      seen = !entries(dir).empty();
      if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_TRUE(seen) << "pack never created its file";
    ASSERT_EQ(entries(dir).size(), 1u);
    EXPECT_NE(entries(dir)[0], "m.tee") << "pack finished before it could be interrupted";
    ::kill(pid, sig);
    int status = wait_status(pid);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == sig) << "status " << status << "\n"
                                                                << read_file(key + ".log");
    EXPECT_EQ(entries(dir), std::vector<std::string>{}) << "left behind after signal " << sig;
  }
}

// ---- Item 10: keys and outputs -------------------------------------------------------

TEST(KeyFiles, GroupOrWorldReadableKeyWarnsOnce) {
  TestDir scratch("key_mode");
  const std::string& dir = scratch.path();
  std::string key = make_key(dir + "k.bin"), tee = dir + "m.tee";
  CliResult packed = run_cli("pack " + kModel + " -o " + tee + " --key " + key + " --quiet");
  ASSERT_EQ(packed.exit_code, 0) << packed.output;
  EXPECT_EQ(packed.output.find("warning"), std::string::npos) << "0600 key: " << packed.output;
  CliResult quiet = run_cli("inspect " + tee + " --key " + key);
  EXPECT_EQ(quiet.output.find("warning"), std::string::npos) << "0600 key: " << quiet.output;
  for (mode_t mode : {0644, 0640, 0604}) {
    ::chmod(key.c_str(), mode);
    CliResult r = run_cli("inspect " + tee + " --key " + key);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    char expect[512];
    std::snprintf(expect, sizeof expect, "teeinfer: warning: key file '%s' has mode %04o", key.c_str(), mode);
    EXPECT_NE(r.output.find(expect), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("chmod 600"), std::string::npos) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'),
              std::count(quiet.output.begin(), quiet.output.end(), '\n') + 1)
        << "one line of warning\n"
        << r.output;
  }
}

TEST(KeyFiles, AllZeroAndWrongSizeKeysAreRefused) {
  TestDir scratch("key_content");
  const std::string& dir = scratch.path();
  std::string key = dir + "k.bin";
  struct Case {
    std::string bytes, expect;
  };
  for (const Case& c : {Case{std::string(32, '\0'), "all-zero key"}, Case{std::string(31, 'k'), "holds 31 bytes"},
                        Case{std::string(33, 'k'), "holds more than 32 bytes"},
                        Case{std::string(1 << 20, 'k'), "holds more than 32 bytes"}, Case{"", "holds 0 bytes"}}) {
    write_bytes(key, c.bytes);
    EXPECT_THROW(read_key_file(key), Error);
    expect_one_line_error(run_cli("pack " + kModel + " -o " + dir + "m.tee --key " + key), c.expect,
                          std::to_string(c.bytes.size()) + " bytes");
  }
  EXPECT_FALSE(fs::exists(dir + "m.tee"));
  expect_one_line_error(run_cli("pack " + kModel + " -o " + dir + "m.tee --key " + dir), "key file", "a directory");
}

TEST(KeyFiles, NoOutputIsWrittenOntoTheKeyOrAnInput) {
  TestDir scratch("outputs");
  const std::string& dir = scratch.path();
  std::string key = make_key(dir + "k.bin"), model = dir + "model.onnx", tee = dir + "m.tee";
  write_bytes(model, read_file(kModel), 0644);
  const std::string key_bytes = read_file(key), model_bytes = read_file(model);
  ASSERT_EQ(::link(key.c_str(), (dir + "hard.bin").c_str()), 0);
  ASSERT_EQ(::symlink(key.c_str(), (dir + "soft.bin").c_str()), 0);
  fs::create_directories(dir + "sub");
  ASSERT_EQ(run_cli("pack " + model + " -o " + tee + " --key " + key + " --quiet").exit_code, 0);
  const std::string tee_bytes = read_file(tee);
  const std::string img = dir + "x.png";
  write_bytes(img, read_file(kImage), 0644);
  struct Case {
    std::string args, expect;
  };
  for (const Case& c : {
           Case{"pack " + model + " -o " + key + " --key " + key, "-o '" + key + "' is the key file"},
           Case{"pack " + model + " -o " + dir + "hard.bin --key " + key, "is the key file"},
           Case{"pack " + model + " -o " + dir + "soft.bin --key " + key, "is the key file"},
           Case{"pack " + model + " -o " + dir + "sub/../k.bin --key " + key, "is the key file"},
           Case{"pack " + model + " -o " + model + " --key " + key, "is the model to pack"},
           Case{"run " + tee + " --key " + key + " --input " + img + " --output " + key, "is the key file"},
           Case{"run " + tee + " --key " + key + " --input " + img + " --output " + tee, "is the model"},
           Case{"run " + model + " --input " + img + " --output " + model, "is the model"},
           Case{"run " + model + " --input " + img + " --output " + img, "is the input"},
           Case{"prune " + model + " -o " + model, "is the model to prune"},
           Case{"keygen -o " + tee + " --force", "is not a key file"},
           Case{"keygen -o " + model + " --force", "is not a key file"},
       })
    expect_one_line_error(run_cli(c.args), c.expect, c.args);
  EXPECT_EQ(read_file(key), key_bytes);
  EXPECT_EQ(read_file(model), model_bytes);
  EXPECT_EQ(read_file(tee), tee_bytes);
  // --force still replaces an old key.
  ASSERT_EQ(run_cli("keygen -o " + dir + "old.bin").exit_code, 0);
  EXPECT_EQ(run_cli("keygen -o " + dir + "old.bin --force").exit_code, 0);
}

// CLI11 wraps "-1" into an unsigned option (2^64 - 1), reads "010" as octal and saturates
// out-of-range numbers; every numeric option is checked before any work.
TEST(Options, NegativeAndOutOfRangeNumbersAreRejected) {
  TestDir scratch("numbers");
  const std::string& dir = scratch.path();
  std::string key = make_key(dir + "k.bin"), tee = dir + "m.tee";
  const std::string run = "run " + kModel + " --input " + kImage + " ";
  const std::string pack = "pack " + kModel + " -o " + tee + " --key " + key + " ";
  const std::string huge = "99999999999999999999999";
  struct Case {
    std::string command, option;
    std::vector<std::string> bad;
  };
  for (const Case& c : {
           Case{pack, "--model-version", {"-1", huge, "1.5", "0x10", "+3"}},
           Case{pack, "--chunk-size", {"-1", "0", "2GiB", huge}},
           Case{pack, "--calibration-samples", {"-1", "0", huge}},
           Case{pack, "--cluster", {"-1", "1", "256", huge}},
           Case{pack, "--model-id", {"-1", "00", std::string(32, 'g'), std::string(34, '0')}},
           Case{run, "--min-version", {"-1", huge}},
           Case{run, "--threads", {"-1", "0", "257", huge}},
           Case{run, "--repeat", {"-1", "0", huge}},
           Case{run, "--warmup", {"-1", huge}},
           Case{run, "--top", {"-1", "0", huge}},
           Case{run, "--fault-cycles", {"-1", huge}},
           Case{run, "--epc", {"-1", "0", huge + "GiB"}},
           Case{run, "--budget", {"-1", "0", huge}},
           Case{run, "--mean", {"nan", "inf", "-1e400"}},
           Case{run, "--std", {"nan", "-inf", "0"}},
           Case{run, "--input-shape", {"-1x1x28x28", "1x1x28x" + huge}},
           Case{"eval " + kModel + " ", "--limit", {"-1", huge}},
           Case{"eval " + kModel + " ", "--min-version", {"-1"}},
           Case{"plan " + kModel + " ", "--min-version", {"-1", huge}},
           Case{"plan " + kModel + " ", "--budget", {"-1", "0", huge}},
           Case{"prune " + kModel + " -o " + dir + "p.onnx ", "--quantile", {"-1", "0", "nan", "1e999", "2"}},
       })
    for (const std::string& v : c.bad) {
      std::string args = c.command + c.option + " " + v + (c.option == "--epc" ? " --tee sim" : "");
      expect_one_line_error(run_cli(args), c.option, args);
    }
  EXPECT_FALSE(fs::exists(tee));
  // Leading zeros are decimal, not octal.
  ASSERT_EQ(run_cli(pack + "--model-version 010 --quiet").exit_code, 0);
  EXPECT_NE(run_cli("inspect " + tee).output.find("version 10"), std::string::npos);
}

// ---- Item 8: model pinning -----------------------------------------------------------

AesKey test_key(uint8_t seed) {
  AesKey k{};
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(seed * 31 + i + 1);
  return k;
}

class FixedKey : public KeyProvider {
 public:
  explicit FixedKey(AesKey k) : key_(k) {}
  bool key_encryption_key(const std::array<uint8_t, 16>& id, AesKey& out) noexcept override {
    if (kek_id_of(key_) != id) return false;
    out = key_;
    ++requests;
    return true;
  }
  int requests = 0;

 private:
  AesKey key_;
};

std::string pack_tiny(const std::string& path, const AesKey& key, uint64_t version,
                      std::optional<std::array<uint8_t, 16>> id) {
  Graph g = load_onnx_model(kSrc + "/tests/data/tiny_sealed.onnx", {{"x", {1, 2, 4, 4}}});
  SealOptions o;
  o.model_version = version;
  o.model_id = id;
  o.chunk_bytes = 64;
  pack_model(g, key, path, o);
  return read_file(path);
}

TEST(ModelPinning, WrongIdOrOldVersionIsRefusedBeforeAnythingButTheHeaderIsRead) {
  TestDir scratch("pinning");
  const std::string& dir = scratch.path();
  AesKey key = test_key(3);
  const std::array<uint8_t, 16> id{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  std::string right = pack_tiny(dir + "right.tee", key, 3, id);
  // Another model sealed with the same key, newer, with a random id.
  std::string other = pack_tiny(dir + "other.tee", key, 99, std::nullopt);
  SealedHeader h = decode_header(reinterpret_cast<const uint8_t*>(right.data()), right.size());
  EXPECT_EQ(h.model_id, id);
  EXPECT_EQ(h.model_version, 3u);
  SealedLoadOptions pin;
  pin.expected_model_id = id;
  pin.min_version = 3;
  {
    MemoryHost host(right);
    FixedKey keys(key);
    EXPECT_NO_THROW(SealedModel(host, keys, pin));
  }
  auto expect_refused = [&](const std::string& file, const SealedLoadOptions& o, const std::string& expect) {
    MemoryHost host(file, /*record=*/true);
    FixedKey keys(key);
    try {
      SealedModel m(host, keys, o);
      ADD_FAILURE() << "accepted; expected: " << expect;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kBadInput);
      EXPECT_NE(std::string(e.what()).find(expect), std::string::npos) << e.what();
    }
    EXPECT_EQ(host.served().size(), kHeaderBytes) << "read past the header: wrapped key, manifest or chunks";
    EXPECT_EQ(keys.requests, 0) << "the key was asked for";
  };
  expect_refused(other, pin, "is not the expected 0102030405060708090a0b0c0d0e0f10");
  SealedLoadOptions newer = pin;
  newer.min_version = 4;
  expect_refused(right, newer, "rollback refused");
  // A header whose id was edited to match fails authentication: the id is bound to the key.
  std::string forged = other;
  std::memcpy(forged.data() + 16, id.data(), id.size());
  MemoryHost host(forged);
  FixedKey keys(key);
  EXPECT_THROW(SealedModel(host, keys, pin), Error);
}

TEST(ModelPinning, CliPinsTheModelIdInRunEvalAndPlan) {
  TestDir scratch("pinning_cli");
  const std::string& dir = scratch.path();
  std::string key = make_key(dir + "k.bin"), tee = dir + "m.tee", other = dir + "other.tee";
  const std::string id = "00112233445566778899aabbccddeeff";
  CliResult p = run_cli("pack " + kModel + " -o " + tee + " --key " + key + " --model-version 5 --model-id " +
                        "00112233445566778899AABBCCDDEEFF --quiet");
  ASSERT_EQ(p.exit_code, 0) << p.output;
  EXPECT_NE(p.output.find("model id " + id + ", version 5"), std::string::npos) << p.output;
  ASSERT_EQ(run_cli("pack " + kModel + " -o " + other + " --key " + key + " --model-version 99 --quiet").exit_code, 0);
  // inspect shows both without the key, and in JSON.
  CliResult info = run_cli("inspect " + tee);
  EXPECT_NE(info.output.find("model id " + id + ", version 5"), std::string::npos) << info.output;
  CliResult js = run_cli("inspect " + tee + " --json");
  EXPECT_NE(js.output.find("\"model_id\": \"" + id + "\""), std::string::npos) << js.output;
  EXPECT_NE(js.output.find("\"model_version\": 5"), std::string::npos) << js.output;

  const std::string pin = " --key " + key + " --model-id " + id;
  EXPECT_EQ(run_cli("run " + tee + pin + " --min-version 5 --input " + kImage + " --repeat 1").exit_code, 0);
  EXPECT_EQ(run_cli("plan " + tee + pin).exit_code, 0);
  for (const std::string& cmd :
       {"run " + other + pin + " --input " + kImage, "plan " + other + pin, "eval " + other + pin + " --limit 1"})
    expect_one_line_error(run_cli(cmd), "is not the expected " + id, cmd);
  expect_one_line_error(run_cli("run " + tee + pin + " --min-version 6 --input " + kImage), "rollback refused",
                        "min-version");
  expect_one_line_error(run_cli("run " + kModel + " --model-id " + id + " --input " + kImage),
                        "--model-id pins a sealed model", "onnx");
}

// Hostile headers through the CLI: a clean one-line error, never a crash.
TEST(ModelPinning, HostileHeadersGiveOneLineErrors) {
  TestDir scratch("hostile_header");
  const std::string& dir = scratch.path();
  std::string key = make_key(dir + "k.bin"), tee = dir + "m.tee";
  ASSERT_EQ(run_cli("pack " + kModel + " -o " + tee + " --key " + key + " --quiet").exit_code, 0);
  const std::string good = read_file(tee);
  struct Edit {
    size_t offset;
    std::string bytes;
  };
  const std::string ff8(8, '\xff');
  for (const Edit& e : {Edit{8, "\x07\0\0\0"}, Edit{12, "\xff\xff\xff\xff"}, Edit{40, ff8}, Edit{48, ff8},
                        Edit{56, ff8}, Edit{64, "\xff\xff\xff\xff"}, Edit{68, "\x01\0\0\0"}, Edit{72, ff8},
                        Edit{32, ff8}, Edit{80, std::string(16, '\0')}}) {
    std::string bad = good;
    bad.replace(e.offset, e.bytes.size(), e.bytes);
    write_bytes(dir + "bad.tee", bad, 0644);
    CliResult info = run_cli("inspect " + dir + "bad.tee");
    EXPECT_TRUE(info.exit_code == 0 || info.exit_code == 1) << e.offset << "\n" << info.output;
    if (e.offset != 32 && e.offset != 80)  // version and key id: any value is well-formed
      expect_one_line_error(info, "sealed model", "inspect, edit at " + std::to_string(e.offset));
    for (const std::string& cmd :
         {"inspect " + dir + "bad.tee --key " + key, "run " + dir + "bad.tee --key " + key + " --input " + kImage})
      expect_one_line_error(run_cli(cmd), "sealed model", cmd + ", edit at " + std::to_string(e.offset));
  }
  write_bytes(dir + "short.tee", good.substr(0, 100), 0644);
  expect_one_line_error(run_cli("inspect " + dir + "short.tee"), "shorter than a header", "short");
}

}  // namespace
