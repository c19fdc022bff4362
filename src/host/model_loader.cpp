#include "host/model_loader.h"

#include "common/error.h"
#include "common/units.h"
#include "host/file_io.h"
#include "host/onnx_import.h"

namespace teeinfer {

Dims resolve_input_dims(const std::string& input_name, Dims declared) {
  for (size_t i = 0; i < declared.size(); ++i) {
    if (declared[i] >= 0) continue;
    if (i == 0) {
      declared[i] = 1;
    } else {
      throw Error(ErrorCode::kBadInput, "input '" + input_name + "' has dynamic dim " + std::to_string(i) +
                                            "; give its shape with --input-shape (e.g. 1x3x224x224)");
    }
  }
  return declared;
}

Dims parse_dims(const std::string& text, const std::string& option) {
  Dims d;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find_first_of("x,", pos);
    if (end == std::string::npos) end = text.size();
    std::string part = text.substr(pos, end - pos);
    if (part.empty() || part.size() > 9 || part.find_first_not_of("0123456789") != std::string::npos)
      throw Error(ErrorCode::kBadArgument, option + ": '" + text + "' is not a shape like 1x3x224x224");
    d.push_back(std::stoll(part));
    pos = end + 1;
  }
  return d;
}

Graph load_onnx_model(const std::string& path, const std::map<std::string, Dims>& input_dims, PassStats* stats,
                      uint64_t max_memory, const std::map<std::string, Value>& bound) {
  OnnxModel model = OnnxModel::open(path);
  return load_onnx_model(model, input_dims, stats, max_memory, bound);
}

Graph load_onnx_model(OnnxModel& model, const std::map<std::string, Dims>& input_dims, PassStats* stats,
                      uint64_t max_memory, const std::map<std::string, Value>& bound) {
  ImportOptions options;
  options.input_dims = input_dims;
  options.max_memory = max_memory;
  options.constant_inputs = bound;
  Graph g = model.import(options);
  PassStats s = optimize_graph(g);
  validate_graph(g);
  if (stats) *stats = s;
  return g;
}

}  // namespace teeinfer

namespace teeinfer {

uint64_t parse_max_memory(const std::string& text) {
  if (text.empty()) return 0;
  uint64_t bytes = parse_bytes(text, "--max-memory");
  if (bytes == 0) throw Error(ErrorCode::kBadArgument, "--max-memory must be more than 0");
  return bytes;
}

std::map<std::string, Dims> instantiation_dims(const std::vector<std::pair<std::string, Dims>>& declared,
                                               const std::map<std::string, Dims>& given, const std::string& source) {
  std::map<std::string, Dims> named = given;
  if (auto only = named.find(""); only != named.end()) {
    if (declared.size() != 1)
      throw Error(ErrorCode::kBadArgument, "'" + source + "' has " + std::to_string(declared.size()) +
                                               " inputs: name the one whose dims are given");
    Dims d = only->second;
    named.erase(only);
    named[declared[0].first] = d;
  }
  std::map<std::string, Dims> dims;
  for (const auto& [name, d] : declared) {
    auto it = named.find(name);
    dims[name] = it != named.end() ? it->second : resolve_input_dims(name, d);
  }
  for (const auto& [name, _] : named)
    if (!dims.count(name)) throw Error(ErrorCode::kBadArgument, "'" + source + "' has no input named '" + name + "'");
  return dims;
}

}  // namespace teeinfer
