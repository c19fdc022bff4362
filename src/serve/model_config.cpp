#include "serve/model_config.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace teeinfer::serve {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

[[noreturn]] void bad(const std::string& path, const std::string& message) {
  throw Error(ErrorCode::kBadArgument, path + ": " + message);
}

uint64_t size_field(const json& v, const std::string& path, const char* key) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_string()) return parse_size(v.get<std::string>(), path + ": " + key);
  bad(path, std::string(key) + " must be a byte count or a size such as \"8MiB\"");
}

bool is_version_name(const std::string& s) {
  return !s.empty() && s.size() <= 18 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

ModelConfig parse_model_config(const std::string& text, const std::string& path) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) bad(path, "not valid JSON");
  if (!doc.is_object()) bad(path, "must be a JSON object");
  ModelConfig c;
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const std::string& key = it.key();
    const json& v = it.value();
    if (key == "key_file") {
      if (!v.is_string() || v.get<std::string>().empty()) bad(path, "key_file must be a file name");
      c.key_file = v.get<std::string>();
    } else if (key == "max_batch") {
      if (!v.is_number_unsigned() || v.get<uint64_t>() < 1 || v.get<uint64_t>() > 1024)
        bad(path, "max_batch must be an integer from 1 to 1024");
      c.max_batch = v.get<int64_t>();
    } else if (key == "budget") {
      c.budget_bytes = size_field(v, path, "budget");
      if (c.budget_bytes == 0) bad(path, "budget must be more than 0 (leave it out to have it planned)");
    } else if (key == "min_version") {
      if (!v.is_number_unsigned()) bad(path, "min_version must be a non-negative integer");
      c.min_version = v.get<uint64_t>();
    } else if (key == "model_id") {
      if (!v.is_string()) bad(path, "model_id must be 32 hex digits");
      c.model_id = id_from_hex(v.get<std::string>(), path + ": model_id");
    } else if (key == "input_shape") {
      if (!v.is_object()) bad(path, "input_shape must be an object: {\"input name\": \"1x3x224x224\"}");
      for (auto d = v.begin(); d != v.end(); ++d) {
        if (!d->is_string()) bad(path, "input_shape." + d.key() + " must be a string such as \"1x3x224x224\"");
        c.input_dims[d.key()] = parse_dims(d->get<std::string>(), path + ": input_shape." + d.key());
      }
    } else {
      bad(path, "unknown field '" + key + "' (known: key_file, max_batch, budget, min_version, model_id, input_shape)");
    }
  }
  return c;
}

bool valid_model_name(const std::string& name) {
  if (name.empty() || name.size() > 128 || name[0] == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.';
  });
}

std::optional<RepositoryEntry> scan_model(const std::string& dir, const std::string& name) {
  std::error_code ec;
  fs::path model_dir = fs::path(dir) / name;
  if (!valid_model_name(name) || !fs::is_directory(model_dir, ec)) return std::nullopt;
  RepositoryEntry e;
  e.name = name;
  e.dir = model_dir.string();
  for (const fs::directory_entry& v : fs::directory_iterator(model_dir, ec)) {
    std::string version = v.path().filename().string();
    if (is_version_name(version) && v.is_directory(ec)) e.versions.push_back(version);
  }
  std::sort(e.versions.begin(), e.versions.end(),
            [](const std::string& a, const std::string& b) { return std::stoull(a) < std::stoull(b); });
  for (auto v = e.versions.rbegin(); v != e.versions.rend() && e.version.empty(); ++v)
    for (const char* file : {"model.tee", "model.onnx"})
      if (fs::is_regular_file(model_dir / *v / file, ec)) {
        e.version = *v;
        e.model_path = (model_dir / *v / file).string();
        break;
      }
  return e;
}

std::vector<RepositoryEntry> scan_repository(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(ErrorCode::kIo, "--model-repository " + dir + ": not a directory");
  std::vector<std::string> names;
  fs::directory_iterator it(dir, ec);
  if (ec) throw Error(ErrorCode::kIo, "--model-repository " + dir + ": " + ec.message());
  for (const fs::directory_entry& d : it)
    if (d.is_directory(ec) && valid_model_name(d.path().filename().string()))
      names.push_back(d.path().filename().string());
  std::sort(names.begin(), names.end());
  std::vector<RepositoryEntry> out;
  for (const std::string& n : names)
    if (auto e = scan_model(dir, n)) out.push_back(std::move(*e));
  return out;
}

}  // namespace teeinfer::serve
