// What the server's tests share (tests/test_serve.cpp, tests/test_end_to_end.cpp): a model
// repository in a temp dir, an in-process server on a free loopback port, a `teeinfer
// serve` process, the bundled demo model and image.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "serve/server.h"
#include "teeinfer/teeinfer.h"

namespace serve_fixtures {

namespace fs = std::filesystem;
using namespace teeinfer;
using namespace teeinfer::serve;

inline const std::string kSrc = TEEINFER_SOURCE_DIR;
inline const std::string kDemo = kSrc + "/models/fmnist_vgg.onnx";  // image {N,1,28,28} -> logits {N,10}
inline const std::string kBoot = kSrc + "/models/sample_0_ankle_boot.png";
inline const std::string kStateful = kSrc + "/tests/data/stateful_three_input.onnx";  // audio, state, sr (int64)

// A repository every test starts from: the demo model sealed for batches {1,2,4,8}, the
// same model as ONNX, a three-input model with an int64 input, and a corrupt file.
class Repository {
 public:
  Repository() {
    dir_ = ::testing::TempDir() + "teeinfer_serve_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  ~Repository() { fs::remove_all(dir_); }
  const std::string& dir() const { return dir_; }

  void add_sealed(const std::string& name, const std::string& shapes = "{1,2,4,8}x1x28x28",
                  const std::string& extra_config = "") {
    fs::create_directories(dir_ + "/" + name + "/1");
    KeyFile::generate(dir_ + "/" + name + "/k.bin", true);
    KeyFile key(dir_ + "/" + name + "/k.bin");
    PackOptions o;
    o.shape_profiles = parse_shape_profiles({shapes}, "shapes");
    pack(kDemo, dir_ + "/" + name + "/1/model.tee", key, o);
    write(name + "/config.json", "{\"key_file\": \"k.bin\"" + extra_config + "}");
  }
  void add_onnx(const std::string& name, const std::string& source, const std::string& config = "") {
    fs::create_directories(dir_ + "/" + name + "/1");
    fs::copy_file(source, dir_ + "/" + name + "/1/model.onnx");
    if (!config.empty()) write(name + "/config.json", config);
  }
  void write(const std::string& relative, const std::string& text) {
    fs::create_directories(fs::path(dir_ + "/" + relative).parent_path());
    std::ofstream(dir_ + "/" + relative, std::ios::binary) << text;
  }

 private:
  static inline int counter_ = 0;
  std::string dir_;
};

// A server on a free loopback port, serving until destroyed.
class RunningServer {
 public:
  explicit RunningServer(ServerOptions o) {
    o.host = "127.0.0.1";
    o.port = 0;
    o.access_log = "";
    o.drain_ms = 0;
    server_ = std::make_unique<Server>(o);
    port_ = server_->bind();
    thread_ = std::thread([this] { server_->serve(); });
  }
  ~RunningServer() { stop(); }
  void stop() {
    if (!thread_.joinable()) return;
    server_->stop();
    thread_.join();
  }
  Server& server() { return *server_; }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(60, 0);
    return c;
  }

 private:
  std::unique_ptr<Server> server_;
  int port_ = 0;
  std::thread thread_;
};

// (Every size the model has: which sizes a measurement prefers depends on this CPU, and
// tests assert counts; BatchPolicy tests the measured choice with given timings.)
inline ServerOptions options_for(const Repository& repo) {
  ServerOptions o;
  o.repository = repo.dir();
  o.settings.measure_run_sizes = false;
  return o;
}

inline Tensor boot_image() {
  return load_image(kBoot, "image", {1, 1, 28, 28}, Normalization::for_channels(1));
}

inline void expect_near(const std::vector<float>& got, const std::vector<float>& want, float tolerance,
                        const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], tolerance * (1 + std::fabs(want[i]))) << what << " [" << i << "]";
}

// A teeinfer process whose first line of output names its port (serve, keyserver).
class ServeProcess {
 public:
  // `teeinfer serve --port 0 --access-log '' ARGS`, or `teeinfer COMMAND` when given.
  explicit ServeProcess(const std::string& args, const std::string& command = "serve --port 0 --access-log ''") {
    int out[2];
    if (::pipe(out) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::close(out[0]);
      std::string cmd = std::string(TEEINFER_BINARY_DIR) + "/teeinfer " + command + " " + args;
      ::execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(out[1]);
    FILE* f = ::fdopen(out[0], "r");
    char line[512] = {0};
    if (std::fgets(line, sizeof line, f)) first_line_ = line;
    std::fclose(f);
    size_t colon = first_line_.find("127.0.0.1:");
    if (colon != std::string::npos) port_ = std::atoi(first_line_.c_str() + colon + 10);
  }
  ~ServeProcess() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  int port() const { return port_; }
  const std::string& first_line() const { return first_line_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // SIGTERM, then its exit status.
  int terminate() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  bool exited_ = false;
  std::string first_line_;
};

}  // namespace serve_fixtures
