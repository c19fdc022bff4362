// libFuzzer target for the IDX dataset reader (`eval --images/--labels`).
//   first byte even: the rest is an images file (3-D), odd: a labels file (1-D);
//   plain or gzip, as the file's own first bytes say.
// Any teeinfer::Error is a clean rejection; a crash, leak or sanitizer report is a bug.
#include <cstdint>
#include <string_view>

#include "common/error.h"
#include "host/idx_dataset.h"

using namespace teeinfer;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string_view file(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    if (data[0] % 2 == 0) {
      IdxImages x = parse_idx_images(file, "fuzz-images");
      if (x.pixels.size() != static_cast<size_t>(x.count * x.rows * x.cols)) __builtin_trap();
    } else {
      parse_idx_labels(file, "fuzz-labels");
    }
  } catch (const Error&) {
  }
  return 0;
}
