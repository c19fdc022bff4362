// teeinfer command-line interface (untrusted host side): wires the subcommands of
// cli/commands.h to their options.
//
//   teeinfer keygen  -o k.bin
//   teeinfer pack    model.onnx -o model.tee --key k.bin [--model-version N] [--chunk-size 256KiB]
//   teeinfer run     model.onnx|model.tee [--key k.bin] --input x.npy|image.png [--json]
//   teeinfer eval    model.onnx|model.tee [--key k.bin] [--images idx.gz --labels idx.gz]
//   teeinfer inspect model.tee [--key k.bin]
//   teeinfer serve   --model-repository DIR [--tee sim --epc 64MiB] [--port 8000]
//   teeinfer client  http://127.0.0.1:8000 --model M --input image.png [--binary]
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <string>

#include "host/cli/commands.h"
#include "host/cli/option_checks.h"
#include "teeinfer/teeinfer.h"

using namespace teeinfer;

namespace {

// Large models mean hundreds of MB of fresh allocations; on these VMs first-touch page
// faults then dominate (packing VGG-16: 4.6 s, of which 2.4 s in the kernel). glibc's
// `glibc.malloc.hugetlb=1` tunable makes malloc use transparent huge pages for large
// blocks (VGG-16 pack: 1.0-2.8 s), but glibc reads tunables only at start-up, so the CLI
// re-executes itself once with it set. Failure to re-exec just carries on.
void use_huge_pages_for_malloc(char** argv) {
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  std::string value = tunables ? tunables : "";
  if (value.find("glibc.malloc.hugetlb") != std::string::npos) return;
  value += (value.empty() ? "" : ":") + std::string("glibc.malloc.hugetlb=1");
  if (::setenv("GLIBC_TUNABLES", value.c_str(), 1) != 0) return;
  ::execv("/proc/self/exe", argv);
}

// An error message on one line of printable text: messages quote names from untrusted
// files (a node name may hold a newline or a terminal escape), so control bytes are shown
// escaped, never sent to the terminal.
std::string printable(const char* message) {
  std::string out;
  for (const char* p = message; *p; ++p) {
    unsigned char c = static_cast<unsigned char>(*p);
    if (c >= 0x20 && c != 0x7f) {
      out += static_cast<char>(c);
    } else {
      static const char* hex = "0123456789abcdef";
      out += c == '\n' ? std::string("\\n") : std::string("\\x") + hex[c >> 4] + hex[c & 15];
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  use_huge_pages_for_malloc(argv);
  CLI::App app{"teeinfer: DNN inference for trusted execution environments with tiny secure memory"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("teeinfer ") + version());

  // Each command registers its own options (cli/cmd_*.cpp).
  const cli::Command commands[] = {cli::add_run(app),       cli::add_eval(app),   cli::add_keygen(app),
                                   cli::add_pack(app),      cli::add_plan(app),   cli::add_prune(app),
                                   cli::add_inspect(app),   cli::add_serve(app),  cli::add_client(app),
                                   cli::add_keyserver(app), cli::add_measure(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // Like every other error: one line, exit status 1.
    std::fprintf(stderr, "teeinfer: bad argument: %s (see --help)\n", e.what());
    return 1;
  }
  try {
    for (const cli::Command& c : commands)
      if (c.app->parsed()) return c.run();
  } catch (const Error& e) {
    std::fprintf(stderr, "teeinfer: %s: %s\n", error_code_name(e.code()),
                 printable(cli::with_flag_names(e.what()).c_str()).c_str());
    return 1;
  } catch (const std::bad_alloc&) {
    // A last resort: inputs are checked against --max-memory before anything large is
    // allocated, but the machine may still have less memory than the limit allows.
    std::fprintf(stderr,
                 "teeinfer: out of memory: the model or input needs more memory than this process can get "
                 "(a lower --max-memory refuses such models up front)\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "teeinfer: internal error: %s\n", printable(e.what()).c_str());
    return 3;
  }
  return 0;
}
