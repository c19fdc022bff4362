// Writes the fuzz corpus seeds: a sealed tiny model (mode 0) and its manifest (mode 1).
//   write_seeds tiny_sealed.onnx corpus_dir
#include <cstdio>
#include <fstream>

#include "common/error.h"
#include "fuzz_target_common.h"
#include "host/file_io.h"
#include "host/model_loader.h"
#include "host/packer.h"

using namespace teeinfer;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: write_seeds model.onnx corpus_dir\n");
    return 2;
  }
  try {
    std::string dir = argv[2];
    Graph g = load_onnx_model(argv[1], {{"x", {1, 2, 4, 4}}});
    SealOptions o;
    o.chunk_bytes = 64;
    pack_model(g, fuzz::fuzz_key(), dir + "/tiny.tee.tmp", o);
    std::string file = read_file(dir + "/tiny.tee.tmp");
    std::remove((dir + "/tiny.tee.tmp").c_str());
    write_file_atomic(dir + "/seed_sealed_file", std::string(1, char(fuzz::kModeSealedFile)) + file);
    // Two shape profiles (batch 1 and 2) over one tensor table.
    Graph g2 = load_onnx_model(argv[1], {{"x", {2, 2, 4, 4}}});
    pack_model(std::vector<const Graph*>{&g, &g2}, fuzz::fuzz_key(), dir + "/profiles.tee.tmp", o);
    std::string profiles = read_file(dir + "/profiles.tee.tmp");
    std::remove((dir + "/profiles.tee.tmp").c_str());
    write_file_atomic(dir + "/seed_sealed_profiles", std::string(1, char(fuzz::kModeSealedFile)) + profiles);

    Manifest m = plan_manifest(g, 64);
    uint32_t chunks = 0;
    for (const SealedTensor& t : m.tensors) chunks += t.chunk_count;
    auto manifest = encode_manifest(m);
    std::string seed(1, char(fuzz::kModeManifest));
    seed.append(reinterpret_cast<const char*>(&chunks), 4);
    seed.append(manifest.begin(), manifest.end());
    write_file_atomic(dir + "/seed_manifest", seed);
  } catch (const Error& e) {
    std::fprintf(stderr, "write_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
