// libFuzzer target for the trusted loader of sealed models.
//   first byte 0: the rest is a whole .tee file, opened with the fuzz key and every tensor
//                 decrypted (header checks, key unwrap, manifest and chunk authentication);
//   first byte 1: the rest is a manifest's plaintext (the parser and graph validation,
//                 which authentication normally shields).
// Any teeinfer::Error is a clean rejection; a crash, leak or sanitizer report is a bug.
//
//   make fuzz FUZZ_SECONDS=600      # the long run (tests/fuzz/run_fuzz.sh)
#include <cstdint>
#include <vector>

#include "common/error.h"
#include "enclave/sealed_model.h"
#include "fuzz_target_common.h"

using namespace teeinfer;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  uint8_t mode = data[0];
  ++data;
  --size;
  try {
    if (mode == fuzz::kModeSealedFile) {
      MemoryHost host(std::string_view(reinterpret_cast<const char*>(data), size));
      fuzz::FuzzKey keys;
      SealedModel m(host, keys);
      std::vector<std::byte> scratch(m.scratch_bytes());
      m.set_scratch(scratch.data());
      for (size_t i = 0; i < m.tensors().size(); ++i) {
        const SealedTensor& t = m.tensors()[i];
        if (t.bytes > (uint64_t{64} << 20)) continue;  // valid, just too big to bother
        std::vector<std::byte> plain(t.bytes);
        m.read_tensor(i, plain.data(), plain.size());
      }
      for (size_t p = 0; p < m.profiles().size(); ++p) m.select_profile(p);
    } else if (mode == fuzz::kModeManifest && size >= 4) {
      uint32_t chunks;
      std::memcpy(&chunks, data, 4);
      decode_manifest(data + 4, size - 4, chunks);
    }
  } catch (const Error&) {
  }
  return 0;
}
