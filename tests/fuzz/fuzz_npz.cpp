// libFuzzer target for the .npz reader (`run --input FILE.npz`): the input is a whole
// archive; each member is then parsed as float32 and as exact integers. Any
// teeinfer::Error is a clean rejection; a crash, leak, sanitizer report or an allocation
// over the limits is a bug.
#include <cstdint>
#include <string_view>

#include "common/error.h"
#include "host/npy.h"
#include "host/npz.h"

using namespace teeinfer;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto members = npz_members(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.npz");
    if (members.size() > kMaxNpzMembers) __builtin_trap();
    for (const auto& [name, bytes] : members) {
      if (bytes.size() > kMaxNpzMemberBytes) __builtin_trap();
      try {
        parse_npy(bytes, name);
      } catch (const Error&) {
      }
      try {
        Dims dims;
        parse_npy_integers(bytes, name, dims);
      } catch (const Error&) {
      }
    }
  } catch (const Error&) {
  }
  return 0;
}
