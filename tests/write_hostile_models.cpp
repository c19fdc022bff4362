// Writes the hostile ONNX models of onnx_builder.h to a directory, one NAME.onnx each
// (for manual runs of the CLI); with --seeds, the valid seed models instead (fuzzing).
//   write_hostile_models DIR [--seeds]
#include <cstdio>
#include <fstream>
#include <string>

#include "onnx_builder.h"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3 || (argc == 3 && std::string(argv[2]) != "--seeds")) {
    std::fprintf(stderr, "usage: write_hostile_models DIR [--seeds]\n");
    return 2;
  }
  bool seeds = argc == 3;
  for (const auto& m : seeds ? teeinfer::testing::seed_models() : teeinfer::testing::hostile_models()) {
    std::ofstream f(std::string(argv[1]) + "/" + m.name + ".onnx", std::ios::binary);
    f << m.bytes;
    if (!f) {
      std::fprintf(stderr, "cannot write %s\n", m.name.c_str());
      return 1;
    }
  }
  return 0;
}
