// NumPy .npz archives: several named float32 arrays in one file (numpy.savez's format, a
// ZIP of NAME.npy members, stored uncompressed), written with libzip.
//
//   write_npz("y.npz", {{"logits", dims, data}, {"state", sdims, sdata}});
//   numpy.load("y.npz")["logits"]
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "teeinfer/teeinfer.h"

namespace teeinfer {

struct NpzArray {
  std::string name;  // the member is NAME.npy
  Dims dims;
  const void* data = nullptr;  // row-major, of `dtype`
  DType dtype = DType::kF32;
};

// The most a .npz may hold: what one .npy may (kMaxNpyElements of 8 bytes, plus header)
// per member, 2 GiB in all, 4096 members. Checked on the archive's directory before any
// member is inflated, and again on the bytes actually inflated.
constexpr uint64_t kMaxNpzMemberBytes = (uint64_t{1} << 30) + 65536 + 16;
constexpr uint64_t kMaxNpzBytes = uint64_t{2} << 30;
constexpr uint64_t kMaxNpzMembers = 4096;

// The members NAME.npy of a whole .npz file held in memory, in archive order, each as
// (NAME, its .npy bytes). Throws Error(kBadInput) naming `what` for anything else in the
// archive, a corrupt or oversized archive, or a name twice.
std::vector<std::pair<std::string, std::string>> npz_members(std::string_view archive, const std::string& what);

// Builds the archive in memory and writes it through AtomicFileWriter (host/file_io.h).
// Throws Error(kBadArgument) for a name numpy could not load back (empty, with '/', or
// twice), Error(kIo) naming `path`.
void write_npz(const std::string& path, const std::vector<NpzArray>& arrays);

}  // namespace teeinfer
