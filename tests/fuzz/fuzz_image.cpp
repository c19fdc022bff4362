// libFuzzer target for the image decoders (PNG via libpng, JPEG via libjpeg-turbo, our BMP
// reader; the format chosen by the first bytes): the input is a whole image file, decoded
// from memory as `--input` decodes it, to a small RGB and a small grey model input.
// Any teeinfer::Error is a clean rejection; a crash, leak or sanitizer report is a bug.
#include <cstdint>
#include <string_view>

#include "common/error.h"
#include "host/image.h"

using namespace teeinfer;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  for (int64_t channels : {3, 1}) {
    try {
      HostTensor t = decode_image(bytes, "fuzz", {1, channels, 8, 8}, Normalization::for_channels(channels));
      if (t.data.size() != static_cast<size_t>(channels * 64)) __builtin_trap();
    } catch (const Error&) {
    }
  }
  return 0;
}
