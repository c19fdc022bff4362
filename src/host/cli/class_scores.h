// Classifier outputs for people: the best k scores, and class names from a text file
// (run, eval and client print them the same way).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace teeinfer::cli {

// Indices and values of the k largest entries, largest first.
std::vector<std::pair<int, float>> top_k(const std::vector<float>& v, int k);

// One line per class name; a short file only (it is an input like any other). Empty for "".
std::vector<std::string> read_class_names(const std::string& path);

}  // namespace teeinfer::cli
