// NumPy .npz archives: several named float32 arrays in one file (numpy.savez's format, a
// ZIP of NAME.npy members, stored uncompressed), written with libzip.
//
//   write_npz("y.npz", {{"logits", dims, data}, {"state", sdims, sdata}});
//   numpy.load("y.npz")["logits"]
#pragma once

#include <string>
#include <vector>

#include "teeinfer/teeinfer.h"

namespace teeinfer {

struct NpzArray {
  std::string name;  // the member is NAME.npy
  Dims dims;
  const float* data = nullptr;
};

// Builds the archive in memory and writes it through AtomicFileWriter (host/file_io.h).
// Throws Error(kBadArgument) for a name numpy could not load back (empty, with '/', or
// twice), Error(kIo) naming `path`.
void write_npz(const std::string& path, const std::vector<NpzArray>& arrays);

}  // namespace teeinfer
