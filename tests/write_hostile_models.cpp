// Writes the hostile ONNX models of onnx_builder.h to a directory, one NAME.onnx each
// (for manual runs of the CLI, and as fuzz seeds).
//   write_hostile_models DIR
#include <cstdio>
#include <fstream>

#include "onnx_builder.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: write_hostile_models DIR\n");
    return 2;
  }
  for (const auto& m : teeinfer::testing::hostile_models()) {
    std::ofstream f(std::string(argv[1]) + "/" + m.name + ".onnx", std::ios::binary);
    f << m.bytes;
    if (!f) {
      std::fprintf(stderr, "cannot write %s\n", m.name.c_str());
      return 1;
    }
  }
  return 0;
}
