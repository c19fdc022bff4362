// `teeinfer keygen`, `teeinfer pack` and `teeinfer inspect`, on the public API only.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "host/cli/commands.h"
#include "host/cli/option_checks.h"
#include "teeinfer/teeinfer.h"

namespace teeinfer::cli {
namespace {

using json = nlohmann::json;

// Only long packs (over 32 MiB of weights) get a bar.
void progress_bar(uint64_t done, uint64_t total) {
  if (total <= (uint64_t{32} << 20)) return;
  static int last = -1;
  int pct = total ? static_cast<int>(100 * done / total) : 100;
  if (pct == last) return;
  last = pct;
  std::string bar(static_cast<size_t>(pct / 4), '#');
  bar.resize(25, ' ');
  std::fprintf(stderr, "\r  sealing [%s] %3d%%  %s / %s", bar.c_str(), pct, format_size(done).c_str(),
               format_size(total).c_str());
  if (done == total) std::fprintf(stderr, "\n");
}

std::string describe_int8(const PackResult& r) {
  uint32_t total = r.quantized_conv + r.quantized_fc;
  if (total == 0) return "";
  return ", int8 weights: " + std::to_string(r.quantized_conv) + " conv + " + std::to_string(r.quantized_fc) +
         " fully-connected layers (" + std::to_string(r.full_int8) + " compute in int8, " +
         std::to_string(total - r.full_int8) + " weight-only)";
}

Compression compression_of(const std::string& name) {
  if (name == "zstd") return Compression::kZstd;
  if (name == "lz4") return Compression::kLz4;
  if (name == "palette4") return Compression::kPalette4;
  if (name == "auto") return Compression::kAuto;
  return Compression::kNone;
}

}  // namespace

int keygen(const std::string& path, bool force) {
  KeyId id = KeyFile::generate(path, force);
  std::printf("wrote 256-bit key %s (key id %s); keep it secret, it unlocks every model sealed with it\n", path.c_str(),
              to_hex(id).c_str());
  return 0;
}

namespace {

// --input-value NAME=V[,V...]: an integer or bool input bound to these values, typed and
// shaped as the model declares it (a scalar, or as many values as its dims hold).
std::vector<Tensor> parse_input_values(const std::vector<std::string>& specs, const std::string& onnx) {
  std::vector<Tensor> out;
  if (specs.empty()) return out;
  const Model model = Model::open(onnx);
  for (const std::string& spec : specs) {
    auto bad = [&](const std::string& why) {
      return Error(ErrorCode::kBadArgument, "--input-value '" + spec + "': " + why);
    };
    size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0) throw bad("give NAME=VALUE (e.g. sr=16000)");
    const std::string name = spec.substr(0, eq);
    auto in =
        std::find_if(model.inputs().begin(), model.inputs().end(), [&](const TensorInfo& t) { return t.name == name; });
    if (in == model.inputs().end()) throw bad("the model has no input named '" + name + "'");
    if (in->dtype == DType::kF32) throw bad("'" + name + "' is float32: only integer and bool inputs can be bound");
    std::vector<int64_t> values;
    std::stringstream list(spec.substr(eq + 1));
    for (std::string item; std::getline(list, item, ',');) {
      size_t used = 0;
      long long v = 0;
      try {
        v = std::stoll(item, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || used != item.size()) throw bad("'" + item + "' is not an integer");
      values.push_back(v);
    }
    if (values.empty()) throw bad("give a value");  // (pack checks how many may be bound)
    Dims dims = in->dims;
    int64_t declared = 1;
    for (int64_t& d : dims) {
      if (d < 0) d = dims.size() == 1 ? static_cast<int64_t>(values.size()) : 1;
      declared *= d;
    }
    if (declared != static_cast<int64_t>(values.size()))
      throw bad("'" + name + "' holds " + std::to_string(declared) + " values (dims " + to_string(in->dims) + "), " +
                std::to_string(values.size()) + " given");
    Tensor t{name, in->dtype, dims, std::vector<uint8_t>(values.size() * dtype_size(in->dtype))};
    for (size_t i = 0; i < values.size(); ++i) {
      int64_t v = values[i];
      uint8_t* at = t.bytes.data() + i * dtype_size(in->dtype);
      auto fits = [&](int64_t lo, int64_t hi) {
        if (v < lo || v > hi) throw bad(std::to_string(v) + " does not fit " + dtype_name(in->dtype));
      };
      switch (in->dtype) {
        case DType::kI64:
          std::memcpy(at, &v, 8);
          break;
        case DType::kI32: {
          fits(INT32_MIN, INT32_MAX);
          int32_t x = static_cast<int32_t>(v);
          std::memcpy(at, &x, 4);
          break;
        }
        case DType::kU8:
          fits(0, 255);
          *at = static_cast<uint8_t>(v);
          break;
        case DType::kS8:
          fits(-128, 127);
          *at = static_cast<uint8_t>(static_cast<int8_t>(v));
          break;
        case DType::kBool:
          fits(0, 1);
          *at = static_cast<uint8_t>(v);
          break;
        case DType::kF32:
          break;
      }
    }
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

int pack(const PackOptions& p) {
  auto t0 = std::chrono::steady_clock::now();
  refuse_output_onto_inputs(
      p.output, "-o", {{p.onnx, "the model to pack"}, {p.key, "the key file"}, {p.calibrate, "the calibration data"}});
  teeinfer::PackOptions o;  // options first: a bad value should not cost an import
  o.model_version = p.model_version;
  if (!p.model_id.empty()) o.model_id = id_from_hex(p.model_id, "--model-id");
  o.chunk_bytes = parse_size(p.chunk_size, "--chunk-size");
  o.compression = compression_of(p.compress);
  o.quantize = p.quantize == "all" ? Quantize::kAll : p.quantize == "fc" ? Quantize::kFullyConnected : Quantize::kNone;
  o.calibration = p.calibrate;
  o.calibration_samples = p.calibration_samples;
  o.cluster = p.cluster;
  o.cluster_all = p.cluster_layers == "all";
  o.max_memory_bytes = parse_max_memory(p.max_memory);
  auto profiles = parse_shape_profiles(p.input_shape, "--input-shape");
  o.input_values = parse_input_values(p.input_value, p.onnx);
  if (profiles.size() == 1) o.input_dims = profiles[0];
  if (profiles.size() > 1) o.shape_profiles = profiles;
  if (!p.quiet) o.progress = progress_bar;
  const KeyFile key(p.key);  // checked before the work; wiped on every path
  PackResult r = teeinfer::pack(p.onnx, p.output, key, o);
  std::string compressed = r.compressed_tensors ? ", " + std::to_string(r.compressed_tensors) +
                                                      " tensors compressed to " + format_size(r.stored_weight_bytes)
                                                : std::string();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "sealed %s -> %s in %.2f s: %s%u tensors in %u chunks, %s of weights%s, file %s, model id %s, version %llu%s\n",
      p.onnx.c_str(), p.output.c_str(), seconds,
      r.profiles > 1 ? (std::to_string(r.profiles) + " shape profiles sharing ").c_str() : "", r.tensors, r.chunks,
      format_size(r.weight_bytes).c_str(), compressed.c_str(), format_size(r.file_bytes).c_str(),
      to_hex(r.model_id).c_str(), static_cast<unsigned long long>(p.model_version), describe_int8(r).c_str());
  return 0;
}

int inspect(const std::string& model, const std::string& key, bool as_json) {
  SealedInfo h = read_sealed_info(model);
  json j{{"file", model},
         {"format_version", h.format_version},
         {"model_id", to_hex(h.model_id)},
         {"model_version", h.model_version},
         {"file_bytes", h.file_bytes},
         {"manifest_bytes", h.manifest_bytes},
         {"chunks", h.chunks},
         {"key_id", to_hex(h.kek_id)}};
  if (!key.empty()) {
    KeyFile keys(key);
    SealedContents c = inspect_sealed(model, keys);
    j["nodes"] = c.op_counts;
    auto infos = [](const std::vector<TensorInfo>& ts) {
      json a = json::array();
      for (const TensorInfo& t : ts) a.push_back({{"name", t.name}, {"dtype", dtype_name(t.dtype)}, {"dims", t.dims}});
      return a;
    };
    j["inputs"] = infos(c.inputs);
    j["outputs"] = infos(c.outputs);
    for (const Model::ShapeProfile& p : c.profiles)
      j["profiles"].push_back({{"inputs", infos(p.inputs)}, {"outputs", infos(p.outputs)}});
    uint64_t total = 0;
    for (const SealedContents::Weight& w : c.weights) {
      total += w.bytes;
      j["tensors"].push_back({{"name", w.name},
                              {"dtype", dtype_name(w.dtype)},
                              {"dims", w.dims},
                              {"bytes", w.bytes},
                              {"stored_bytes", w.stored_bytes},
                              {"codec", w.codec},
                              {"ratio", static_cast<double>(w.bytes) / static_cast<double>(w.stored_bytes)},
                              {"chunks", w.chunks}});
    }
    j["weight_bytes"] = total;
    j["all_chunks_authentic"] = true;
  }
  if (as_json) {
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("%s: teeinfer sealed model, format %u\n", model.c_str(), h.format_version);
  std::printf("  model id %s, version %llu\n", to_hex(h.model_id).c_str(),
              static_cast<unsigned long long>(h.model_version));
  std::printf("  %s: manifest %s, %u weight chunks; sealed for key id %s\n", format_size(h.file_bytes).c_str(),
              format_size(h.manifest_bytes).c_str(), h.chunks, to_hex(h.kek_id).c_str());
  if (key.empty()) {
    std::printf("  (give --key to see the graph and tensors)\n");
    return 0;
  }
  const json& profiles = j["profiles"];
  for (size_t k = 0; k < profiles.size(); ++k) {
    if (profiles.size() > 1) std::printf("  shape profile %zu:\n", k);
    for (const auto& in : profiles[k]["inputs"])
      std::printf("  input  %s %s %s\n", in["name"].get<std::string>().c_str(), in["dtype"].get<std::string>().c_str(),
                  in["dims"].dump().c_str());
    for (const auto& out : profiles[k]["outputs"])
      std::printf("  output %s %s %s\n", out["name"].get<std::string>().c_str(),
                  out["dtype"].get<std::string>().c_str(), out["dims"].dump().c_str());
  }
  std::printf("  nodes:");
  for (const auto& [op, count] : j["nodes"].items()) std::printf(" %s×%d", op.c_str(), count.get<int>());
  std::printf("\n  %zu tensors, %s of weights, every chunk authenticates:\n", j["tensors"].size(),
              format_size(j["weight_bytes"].get<uint64_t>()).c_str());
  for (const auto& t : j["tensors"])
    std::printf("    %-48s %-8s %-22s %10s  %-8s %5.2fx  %u chunk(s)\n", t["name"].get<std::string>().c_str(),
                t["dtype"].get<std::string>().c_str(), t["dims"].dump().c_str(),
                format_size(t["bytes"].get<uint64_t>()).c_str(), t["codec"].get<std::string>().c_str(),
                t["ratio"].get<double>(), t["chunks"].get<unsigned>());
  return 0;
}

Command add_keygen(CLI::App& app) {
  auto o = std::make_shared<KeygenOptions>();
  CLI::App* keygen = app.add_subcommand("keygen", "make a 256-bit key-encryption key file (mode 0600)");
  keygen->add_option("-o,--output", o->output, "key file to write")->required();
  keygen->add_flag("--force", o->force, "overwrite an existing file");
  return {keygen, [o] { return cli::keygen(o->output, o->force); }};
}

Command add_pack(CLI::App& app) {
  auto o = std::make_shared<PackOptions>();
  CLI::App* pack = app.add_subcommand("pack", "seal an ONNX model: optimise, encrypt and authenticate it (.tee)");
  pack->add_option("model", o->onnx, "ONNX model")->required();
  pack->add_option("-o,--output", o->output, "sealed model to write")->required();
  pack->add_option("--key", o->key, "key file (teeinfer keygen)")->required();
  pack->add_option("--model-version", o->model_version, "version number, for --min-version checks")
      ->transform(whole_number(0, kMaxU64))
      ->capture_default_str();
  pack->add_option("--model-id", o->model_id,
                   "model id for the header (32 hex digits): keep one id across the versions of a model so runs "
                   "can pin it with --model-id (default: a random id)");
  pack->add_option("--chunk-size", o->chunk_size, "largest weight chunk (whole rows), e.g. 64KiB, 1MiB")
      ->capture_default_str();
  pack->add_option("--input-shape", o->input_shape,
                   std::string(kShapeProfilesHelp) +
                       ". Each shape is a profile the sealed model runs at (weights stored once); default: the "
                       "model's dims, a dynamic batch as 1");
  pack->add_option(
      "--input-value", o->input_value,
      "NAME=VALUE[,VALUE...]: bind an integer or bool input (a sample rate, a mode) to this value: what it "
      "selects folds (If branches, shapes), and runs must give this value or none (repeatable)");
  pack->add_option("--quantize", o->quantize,
                   "int8 weights, one scale per output channel (4x fewer bytes to decrypt): fc = fully-connected "
                   "layers only, all = also convolutions. Without --calibrate the enclave dequantizes them and "
                   "computes in fp32 (weight-only)")
      ->check(CLI::IsMember({"none", "fc", "all"}))
      ->capture_default_str();
  pack->add_option("--calibrate", o->calibrate,
                   "calibration inputs (.npy of samples, or a directory of images): layers whose input is never "
                   "negative then compute in int8 (u8 activations x s8 weights); needs --quantize")
      ->check(CLI::ExistingPath);
  pack->add_option("--calibration-samples", o->calibration_samples, "use at most this many samples")
      ->transform(whole_number(1, 1'000'000))
      ->capture_default_str();
  pack->add_option("--compress", o->compress,
                   "weight chunks compressed before encryption: none, zstd, lz4, palette4 (4-bit indices for chunks "
                   "of at most 16 values, see --cluster), or auto: per tensor, a codec only where decrypting fewer "
                   "bytes and decoding them is measured faster here than decrypting them all")
      ->check(CLI::IsMember({"none", "zstd", "lz4", "palette4", "auto"}))
      ->capture_default_str();
  pack->add_option("--cluster", o->cluster,
                   "snap each int8 weight to this many shared values (k-means, Deep Compression style; 16 makes "
                   "palette4 pay); lossy, needs --quantize")
      ->transform(whole_number(2, 255));
  pack->add_option("--cluster-layers", o->cluster_layers,
                   "which int8 weights --cluster snaps: fc (fully-connected layers: most of the bytes, and they "
                   "tolerate it best) or all")
      ->check(CLI::IsMember({"fc", "all"}))
      ->capture_default_str();
  pack->add_flag("--quiet", o->quiet, "no progress bar");
  pack->add_option("--max-memory", o->max_memory, kMaxMemoryHelp);
  return {pack, [o] { return cli::pack(*o); }};
}

Command add_inspect(CLI::App& app) {
  auto o = std::make_shared<InspectOptions>();
  CLI::App* inspect = app.add_subcommand("inspect", "show a sealed model: sizes without the key, graph with it");
  inspect->add_option("model", o->model, "sealed .tee model")->required();
  inspect->add_option("--key", o->key, "key file: also show the graph and authenticate every chunk");
  inspect->add_flag("--json", o->json, "print machine-readable JSON");
  return {inspect, [o] { return cli::inspect(o->model, o->key, o->json); }};
}

}  // namespace teeinfer::cli
