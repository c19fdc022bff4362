// libFuzzer target for the command line's value parsers: shape profiles (pack/plan
// --input-shape with sets), dims and sizes. The input is split at newlines into up to four
// --input-shape values. Any teeinfer::Error is a clean rejection.
#include <cstdint>
#include <string>
#include <vector>

#include "teeinfer/teeinfer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> specs;
  for (size_t pos = 0; pos <= text.size() && specs.size() < 4;) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    specs.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  try {
    auto profiles = teeinfer::parse_shape_profiles(specs, "--input-shape");
    if (profiles.size() > 64) __builtin_trap();  // the format's limit, promised by the parser
    for (const auto& p : profiles)
      for (const auto& [name, dims] : p)
        if (dims.size() > 32) __builtin_trap();
  } catch (const teeinfer::Error&) {
  }
  try {
    teeinfer::parse_dims(text, "--input-shape");
  } catch (const teeinfer::Error&) {
  }
  try {
    teeinfer::parse_size(text, "--budget");
  } catch (const teeinfer::Error&) {
  }
  return 0;
}
