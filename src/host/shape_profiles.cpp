// parse_shape_profiles (include/teeinfer/teeinfer.h): `pack --input-shape` with sets of
// dims, e.g. "1x3x48x{192,320,640}" or "images={1,8}x3x224x224".
#include <algorithm>

#include "common/error.h"
#include "teeinfer/teeinfer.h"

namespace teeinfer {
namespace {

constexpr size_t kMaxChoices = 64;  // kMaxProfiles: more could never be sealed

[[noreturn]] void bad_spec(const std::string& option, const std::string& spec, const std::string& why) {
  throw Error(ErrorCode::kBadArgument,
              option + ": '" + spec + "' " + why + " (a shape like 1x3x224x224, 1x3x48x{192,320} or NAME=1x3x224x224)");
}

int64_t parse_extent(const std::string& text, const std::string& option, const std::string& spec) {
  if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos)
    bad_spec(option, spec, "has a dim '" + text + "' that is not a whole number");
  return std::stoll(text);
}

// Each dim's choices: "48" -> {48}, "{192,320}" -> {192, 320}.
std::vector<std::vector<int64_t>> parse_dim_sets(const std::string& dims, const std::string& option,
                                                 const std::string& spec) {
  std::vector<std::vector<int64_t>> sets;
  size_t pos = 0;
  // Without braces, commas separate dims as in parse_dims ("1,3,224,224").
  const char* separators = dims.find('{') == std::string::npos ? "x," : "x";
  while (pos <= dims.size()) {
    std::vector<int64_t> choices;
    if (pos < dims.size() && dims[pos] == '{') {
      size_t close = dims.find('}', pos);
      if (close == std::string::npos) bad_spec(option, spec, "has a '{' without '}'");
      std::string inner = dims.substr(pos + 1, close - pos - 1);
      for (size_t p = 0; p <= inner.size();) {
        size_t comma = std::min(inner.find(',', p), inner.size());
        int64_t v = parse_extent(inner.substr(p, comma - p), option, spec);
        if (std::find(choices.begin(), choices.end(), v) != choices.end())
          bad_spec(option, spec, "lists " + std::to_string(v) + " twice");
        choices.push_back(v);
        if (choices.size() > kMaxChoices) bad_spec(option, spec, "lists more than 64 values in one set");
        p = comma + 1;
      }
      pos = close + 1;
      if (pos < dims.size() && dims[pos] != 'x') bad_spec(option, spec, "has something after '}' other than 'x'");
    } else {
      size_t end = std::min(dims.find_first_of(separators, pos), dims.size());
      choices.push_back(parse_extent(dims.substr(pos, end - pos), option, spec));
      pos = end;
    }
    sets.push_back(std::move(choices));
    if (sets.size() > 32) bad_spec(option, spec, "has more than 32 dims");
    pos += 1;  // past the separator (or the end)
  }
  return sets;
}

// Every combination of the choices, first dim slowest.
std::vector<Dims> expand(const std::vector<std::vector<int64_t>>& sets, const std::string& option,
                         const std::string& spec) {
  std::vector<Dims> out{Dims{}};
  for (const auto& choices : sets) {
    std::vector<Dims> next;
    for (const Dims& prefix : out)
      for (int64_t c : choices) {
        next.push_back(prefix);
        next.back().push_back(c);
      }
    out = std::move(next);
    if (out.size() > kMaxChoices) bad_spec(option, spec, "makes more than 64 shapes");
  }
  return out;
}

}  // namespace

std::vector<std::map<std::string, Dims>> parse_shape_profiles(const std::vector<std::string>& specs,
                                                              const std::string& option) {
  // Per input (in the order given): its name ("" for a model's only input) and shapes.
  std::vector<std::pair<std::string, std::vector<Dims>>> inputs;
  for (const std::string& spec : specs) {
    size_t eq = spec.find('=');
    std::string name = eq == std::string::npos ? "" : spec.substr(0, eq);
    std::string dims = eq == std::string::npos ? spec : spec.substr(eq + 1);
    if (eq != std::string::npos && name.empty()) bad_spec(option, spec, "names no input before '='");
    for (const auto& earlier : inputs)
      if (earlier.first == name)
        bad_spec(option, spec, name.empty() ? "is a second shape without an input name" : "names its input twice");
    inputs.emplace_back(name, expand(parse_dim_sets(dims, option, spec), option, spec));
  }
  if (inputs.size() > 1 && std::any_of(inputs.begin(), inputs.end(), [](const auto& i) { return i.first.empty(); }))
    throw Error(ErrorCode::kBadArgument, option + ": with several inputs, name each (NAME=DIMS)");
  // Inputs with several shapes vary together (profile k takes the k-th of each); an input
  // with one shape has it in every profile.
  size_t count = 1;
  for (const auto& [name, shapes] : inputs) {
    if (shapes.size() == 1 || shapes.size() == count) continue;
    if (count != 1)
      throw Error(ErrorCode::kBadArgument, option + ": inputs list " + std::to_string(count) + " and " +
                                               std::to_string(shapes.size()) +
                                               " shapes; inputs with several shapes must list as many (profile k "
                                               "takes the k-th of each)");
    count = shapes.size();
  }
  std::vector<std::map<std::string, Dims>> profiles(inputs.empty() ? 0 : count);
  for (size_t k = 0; k < profiles.size(); ++k)
    for (const auto& [name, shapes] : inputs) profiles[k][name] = shapes.size() == 1 ? shapes[0] : shapes[k];
  return profiles;
}

}  // namespace teeinfer
