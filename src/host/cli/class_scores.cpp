#include "host/cli/class_scores.h"

#include <algorithm>
#include <fstream>
#include <numeric>

#include "teeinfer/teeinfer.h"

namespace teeinfer::cli {

std::vector<std::pair<int, float>> top_k(const std::vector<float>& v, int k) {
  std::vector<int> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  k = std::min<int>(k, static_cast<int>(v.size()));
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int a, int b) { return v[a] > v[b]; });
  std::vector<std::pair<int, float>> out;
  for (int i = 0; i < k; ++i) out.emplace_back(idx[i], v[idx[i]]);
  return out;
}

std::vector<std::string> read_class_names(const std::string& path) {
  std::vector<std::string> names;
  if (path.empty()) return names;
  std::ifstream f(path);
  if (!f) throw Error(ErrorCode::kIo, "cannot read the class names file '" + path + "'");
  for (std::string line; std::getline(f, line) && names.size() < 1000000;) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    names.push_back(line.substr(0, 200));
  }
  return names;
}

}  // namespace teeinfer::cli
