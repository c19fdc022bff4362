// The trusted core (src/enclave) and the shared code (src/common) do no I/O of their
// own: no file, socket, process or environment access. Everything from outside comes
// through HostInterface. And the command line (src/host/cli) is built on the public API
// only: of the project's headers it includes teeinfer/teeinfer.h and its own. This test
// reads the sources and fails on any violation.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

namespace fs = std::filesystem;

namespace {

std::vector<std::string> violations(const std::string& dir, const std::regex& forbidden) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::ifstream f(e.path());
    std::string line;
    for (int n = 1; std::getline(f, line); ++n) {
      size_t code = line.find_first_not_of(" \t");
      if (code != std::string::npos && line.compare(code, 2, "//") == 0) continue;  // usage examples in comments
      if (std::regex_search(line, forbidden)) out.push_back(e.path().string() + ":" + std::to_string(n) + ": " + line);
    }
  }
  return out;
}

const std::regex kIo(
    R"(#include\s*<(fstream|cstdio|stdio\.h|filesystem|sys/socket\.h|netinet/.*|fcntl\.h|unistd\.h|sys/mman\.h|dirent\.h)>)"
    R"(|\b(getenv|setenv|fopen|open|socket|connect|system|popen|exec[lv]p?e?)\s*\()"
    R"(|std::(ifstream|ofstream|fstream|cout|cerr)\b)");
const std::regex kHostInclude(R"(#include\s*"(host|tee)/)");

TEST(EnclaveIsolation, TrustedCoreDoesNoIo) {
  // (src/protocol too: the wire codecs the trusted entry point of encrypted requests uses)
  for (const char* dir : {"/src/enclave", "/src/common", "/src/protocol"}) {
    auto v = violations(std::string(TEEINFER_SOURCE_DIR) + dir, kIo);
    EXPECT_TRUE(v.empty()) << "direct I/O in trusted code:\n" << ::testing::PrintToString(v);
  }
}

TEST(EnclaveIsolation, TrustedCoreDoesNotIncludeHostCode) {
  for (const char* dir : {"/src/enclave", "/src/common"}) {
    auto v = violations(std::string(TEEINFER_SOURCE_DIR) + dir, kHostInclude);
    EXPECT_TRUE(v.empty()) << "trusted code includes host/tee code:\n" << ::testing::PrintToString(v);
  }
}

// Any project header but the public one, the CLI's own, the server's (src/serve) and the
// key broker's (src/keybroker).
const std::regex kInternalInclude(R"(#include\s*"(?!teeinfer/teeinfer\.h"|host/cli/|serve/|keybroker/|protocol/))");

TEST(EnclaveIsolation, TheCommandLineUsesOnlyThePublicApi) {
  auto v = violations(std::string(TEEINFER_SOURCE_DIR) + "/src/host/cli", kInternalInclude);
  EXPECT_TRUE(v.empty()) << "the CLI reaches past include/teeinfer/teeinfer.h:\n" << ::testing::PrintToString(v);
}

// The server (src/serve) is built on the public API alone, like any user's program (and the
// wire codecs of src/protocol, pure functions compiled into libteeinfer).
TEST(EnclaveIsolation, TheServerUsesOnlyThePublicApi) {
  const std::regex server_include(R"(#include\s*"(?!teeinfer/teeinfer\.h"|serve/|protocol/))");
  auto v = violations(std::string(TEEINFER_SOURCE_DIR) + "/src/serve", server_include);
  EXPECT_TRUE(v.empty()) << "the server reaches past include/teeinfer/teeinfer.h:\n" << ::testing::PrintToString(v);
  EXPECT_TRUE(std::regex_search("#include \"host/cli/commands.h\"", server_include));
  EXPECT_FALSE(std::regex_search("#include \"protocol/oip_codec.h\"", server_include));
  EXPECT_TRUE(std::regex_search("#include \"enclave/attest/enclave_identity.h\"", server_include));
}

// The key broker (src/keybroker) is a relying party: it verifies evidence through the
// public API, as any other would.
TEST(EnclaveIsolation, TheKeyBrokerUsesOnlyThePublicApi) {
  const std::regex broker_include(R"(#include\s*"(?!teeinfer/teeinfer\.h"|keybroker/))");
  auto v = violations(std::string(TEEINFER_SOURCE_DIR) + "/src/keybroker", broker_include);
  EXPECT_TRUE(v.empty()) << "the key broker reaches past include/teeinfer/teeinfer.h:\n" << ::testing::PrintToString(v);
  EXPECT_TRUE(std::regex_search("#include \"common/sgx_quote.h\"", broker_include));
}

TEST(EnclaveIsolation, TheCheckCatchesViolations) {
  // The patterns themselves must match what they are meant to forbid.
  EXPECT_TRUE(std::regex_search("#include <fstream>", kIo));
  EXPECT_TRUE(std::regex_search("  const char* k = getenv(\"KEY\");", kIo));
  EXPECT_TRUE(std::regex_search("std::ifstream f(path);", kIo));
  EXPECT_TRUE(std::regex_search("int fd = open(path, O_RDONLY);", kIo));
  EXPECT_TRUE(std::regex_search("#include \"host/npy.h\"", kHostInclude));
  EXPECT_FALSE(std::regex_search("#include <dnnl.hpp>", kIo));
  EXPECT_FALSE(std::regex_search("reopen_count(x);", kIo));
  EXPECT_TRUE(std::regex_search("#include \"enclave/enclave_session.h\"", kInternalInclude));
  EXPECT_TRUE(std::regex_search("#include \"common/units.h\"", kInternalInclude));
  EXPECT_FALSE(std::regex_search("#include \"teeinfer/teeinfer.h\"", kInternalInclude));
  EXPECT_FALSE(std::regex_search("#include \"host/cli/commands.h\"", kInternalInclude));
  EXPECT_FALSE(std::regex_search("#include <CLI/CLI.hpp>", kInternalInclude));
}

}  // namespace
