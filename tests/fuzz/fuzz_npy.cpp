// libFuzzer target for the .npy reader: the input is a whole .npy file.
// Any teeinfer::Error is a clean rejection; a crash, leak or sanitizer report is a bug.
#include <cstdint>
#include <string_view>

#include "common/error.h"
#include "host/npy.h"

using namespace teeinfer;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    HostTensor t = parse_npy(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.npy");
    // The result must be as large as its dims say.
    size_t n = 1;
    for (int64_t d : t.dims) n *= static_cast<size_t>(d);
    if (n != t.data.size()) __builtin_trap();
  } catch (const Error&) {
  }
  try {  // the exact integer reading (typed inputs) of the same bytes
    Dims dims;
    std::vector<int64_t> v =
        parse_npy_integers(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.npy", dims);
    size_t n = 1;
    for (int64_t d : dims) n *= static_cast<size_t>(d);
    if (n != v.size()) __builtin_trap();
  } catch (const Error&) {
  }
  return 0;
}
