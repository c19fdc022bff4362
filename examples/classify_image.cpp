// Classify one image with an ONNX or sealed model: the smallest useful teeinfer program.
//
//   classify_image model.onnx image.png
//   classify_image model.tee image.png key.bin
//
// Built against the installed package: find_package(teeinfer) + teeinfer::teeinfer.
#include <teeinfer/teeinfer.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <numeric>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s model.onnx|model.tee image.png [key.bin]\n", argv[0]);
    return 2;
  }
  try {
    std::unique_ptr<teeinfer::KeyFile> key;
    if (argc > 3) key = std::make_unique<teeinfer::KeyFile>(argv[3]);
    teeinfer::Model model = teeinfer::Model::open(argv[1], key.get());
    teeinfer::Session session(model);
    teeinfer::TensorInfo in = session.inputs().at(0);
    teeinfer::Tensor x =
        teeinfer::load_image(argv[2], in.name, in.dims, teeinfer::Normalization::for_channels(in.dims.at(1)));
    std::vector<float> y = session.run({x}).at(0).to_floats();
    std::vector<size_t> order(y.size());
    std::iota(order.begin(), order.end(), 0);
    size_t k = std::min<size_t>(5, y.size());
    std::partial_sort(order.begin(), order.begin() + static_cast<long>(k), order.end(),
                      [&](size_t a, size_t b) { return y[a] > y[b]; });
    std::printf("%s on %s (%s):\n", argv[1], argv[2], session.description().c_str());
    for (size_t i = 0; i < k; ++i) std::printf("  class %zu  score %.4f\n", order[i], y[order[i]]);
    return 0;
  } catch (const teeinfer::Error& e) {
    std::fprintf(stderr, "%s: %s\n", teeinfer::error_code_name(e.code()), e.what());
    return 1;
  }
}
