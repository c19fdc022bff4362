// `teeinfer keygen`, `teeinfer pack` and `teeinfer inspect`.
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/sealed_format.h"
#include "common/units.h"
#include "enclave/sealed_model.h"
#include "host/calibration.h"
#include "host/cli/commands.h"
#include "host/cli/option_checks.h"
#include "host/cluster_weights.h"
#include "host/file_host.h"
#include "host/file_io.h"
#include "host/key_file.h"
#include "host/model_loader.h"
#include "host/packer.h"
#include "host/quantize_weights.h"
#include "host/runner.h"

namespace teeinfer::cli {
namespace {

using json = nlohmann::json;

std::string hex(const uint8_t* p, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += digits[p[i] >> 4];
    s += digits[p[i] & 15];
  }
  return s;
}

void progress_bar(uint64_t done, uint64_t total) {
  static int last = -1;
  int pct = total ? static_cast<int>(100 * done / total) : 100;
  if (pct == last) return;
  last = pct;
  std::string bar(static_cast<size_t>(pct / 4), '#');
  bar.resize(25, ' ');
  std::fprintf(stderr, "\r  sealing [%s] %3d%%  %s / %s", bar.c_str(), pct, format_bytes(done).c_str(),
               format_bytes(total).c_str());
  if (done == total) std::fprintf(stderr, "\n");
}

}  // namespace

int keygen(const std::string& path, bool force) {
  AesKey key = generate_key();
  write_key_file(path, key, force);
  auto id = kek_id_of(key);
  wipe(key.data(), key.size());
  std::printf("wrote 256-bit key %s (key id %s); keep it secret, it unlocks every model sealed with it\n", path.c_str(),
              hex(id.data(), id.size()).c_str());
  return 0;
}

std::string describe_int8(const QuantizeCounts& q, int full_int8) {
  if (q.total() == 0) return "";
  std::string s = ", int8 weights: " + std::to_string(q.conv) + " conv + " + std::to_string(q.fully_connected) +
                  " fully-connected layers";
  return s + " (" + std::to_string(full_int8) + " compute in int8, " + std::to_string(q.total() - full_int8) +
         " weight-only)";
}

int pack(const PackOptions& p) {
  double t0 = now_ms();
  refuse_output_onto_inputs(
      p.output, "-o", {{p.onnx, "the model to pack"}, {p.key, "the key file"}, {p.calibrate, "the calibration data"}});
  // Options first: a bad value should not cost an import.
  teeinfer::SealOptions o;
  o.model_version = p.model_version;
  if (!p.model_id.empty()) o.model_id = parse_model_id(p.model_id, "--model-id");
  o.chunk_bytes = parse_bytes(p.chunk_size, "--chunk-size");
  o.auto_codec = p.compress == "auto";
  if (!o.auto_codec) o.codec = parse_codec(p.compress, "--compress");
  const KeyFile key(p.key);  // checked before the work; wiped on every path
  OnnxModel model = OnnxModel::open(p.onnx);
  auto specs = model.declared_inputs();
  std::map<std::string, Dims> dims;
  for (const auto& [name, declared] : specs) {
    if (!p.input_shape.empty() && specs.size() == 1)
      dims[name] = parse_dims(p.input_shape, "--input-shape");
    else
      dims[name] = resolve_input_dims(name, declared);
  }
  PassStats passes;
  Graph g = load_onnx_model(model, dims, &passes, parse_max_memory(p.max_memory));
  if (!p.calibrate.empty() && p.quantize == "none")
    throw Error(ErrorCode::kBadArgument, "--calibrate needs --quantize fc or --quantize all");
  std::map<ValueId, ValueRange> ranges;  // measured on the float32 model, before quantizing
  if (!p.calibrate.empty()) {
    if (g.inputs.size() != 1) throw Error(ErrorCode::kBadArgument, "--calibrate: the model must have one input");
    auto batches = load_calibration_set(p.calibrate, g.value(g.inputs[0]).dims, p.calibration_samples);
    ranges = measure_input_ranges(g, batches);
  }
  QuantizeCounts quantized;
  if (p.quantize != "none") {
    quantized = quantize_weights(g, p.quantize == "all" ? QuantizeTarget::kAll : QuantizeTarget::kFullyConnected);
    if (quantized.total() == 0)
      throw Error(ErrorCode::kBadArgument,
                  "--quantize " + p.quantize + ": '" + p.onnx + "' has no " +
                      (p.quantize == "fc" ? "fully-connected layer" : "Conv or fully-connected layer") +
                      " with constant float32 weights");
  }
  int full_int8 = ranges.empty() ? 0 : set_input_scales(g, ranges);
  if (p.cluster > 0) {
    if (p.quantize == "none") throw Error(ErrorCode::kBadArgument, "--cluster needs --quantize fc or --quantize all");
    cluster_int8_weights(g, p.cluster, p.cluster_layers == "all");
  }
  if (!p.quiet && g.values.size() > 0) {
    uint64_t weights = 0;
    for (const Value& v : g.values) weights += v.data.size();
    if (weights > (uint64_t{32} << 20)) o.progress = progress_bar;  // only long packs get a bar
  }
  PackStats s = pack_model(g, key.key(), p.output, o);
  std::string compressed = s.compressed_tensors ? ", " + std::to_string(s.compressed_tensors) +
                                                      " tensors compressed to " + format_bytes(s.stored_weight_bytes)
                                                : std::string();
  std::printf(
      "sealed %s -> %s in %.2f s: %u tensors in %u chunks, %s of weights%s, file %s, model id %s, version %llu%s\n",
      p.onnx.c_str(), p.output.c_str(), (now_ms() - t0) / 1000, s.tensors, s.chunks,
      format_bytes(s.weight_bytes).c_str(), compressed.c_str(), format_bytes(s.file_bytes).c_str(),
      hex(s.model_id.data(), s.model_id.size()).c_str(), static_cast<unsigned long long>(p.model_version),
      describe_int8(quantized, full_int8).c_str());
  return 0;
}

int inspect(const std::string& model, const std::string& key, bool as_json) {
  FileHost host(model);
  uint8_t header_bytes[kHeaderBytes] = {};
  if (host.model_bytes() >= kHeaderBytes) host.read_model(0, header_bytes, kHeaderBytes);
  SealedHeader h = decode_header(header_bytes, host.model_bytes());
  json j{{"file", model},
         {"format_version", h.format_version},
         {"model_id", hex(h.model_id.data(), 16)},
         {"model_version", h.model_version},
         {"file_bytes", h.file_bytes},
         {"manifest_bytes", h.manifest_bytes},
         {"chunks", h.chunk_count},
         {"key_id", hex(h.kek_id.data(), 16)}};
  if (!key.empty()) {
    KeyFile keys(key);
    SealedModel sealed(host, keys);
    const Graph& g = sealed.graph();
    std::map<std::string, int> ops;
    for (const Node& n : g.nodes) ++ops[op_name(n.op)];
    j["nodes"] = ops;
    for (ValueId v : g.inputs) j["inputs"].push_back({{"name", g.value(v).name}, {"dims", g.value(v).dims}});
    for (ValueId v : g.outputs) j["outputs"].push_back({{"name", g.value(v).name}, {"dims", g.value(v).dims}});
    // Authenticate every chunk (decrypting into ordinary memory: inspect runs for the key holder).
    std::vector<std::byte> scratch(sealed.scratch_bytes());
    sealed.set_scratch(scratch.data());
    uint64_t total = 0;
    for (const SealedTensor& t : sealed.tensors()) {
      std::vector<std::byte> plain(t.bytes);
      sealed.read(t.value, plain.data(), plain.size());
      uint64_t stored = t.stored_total();
      wipe(plain.data(), plain.size());
      total += t.bytes;
      j["tensors"].push_back({{"name", g.value(t.value).name},
                              {"dtype", dtype_name(g.value(t.value).dtype)},
                              {"dims", g.value(t.value).dims},
                              {"bytes", t.bytes},
                              {"stored_bytes", stored},
                              {"codec", codec_name(t.codec)},
                              {"ratio", static_cast<double>(t.bytes) / static_cast<double>(stored)},
                              {"chunks", t.chunk_count}});
    }
    j["weight_bytes"] = total;
    j["all_chunks_authentic"] = true;
  }
  if (as_json) {
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("%s: teeinfer sealed model, format %u\n", model.c_str(), h.format_version);
  std::printf("  model id %s, version %llu\n", hex(h.model_id.data(), 16).c_str(),
              static_cast<unsigned long long>(h.model_version));
  std::printf("  %s: manifest %s, %u weight chunks; sealed for key id %s\n", format_bytes(h.file_bytes).c_str(),
              format_bytes(h.manifest_bytes).c_str(), h.chunk_count, hex(h.kek_id.data(), 16).c_str());
  if (key.empty()) {
    std::printf("  (give --key to see the graph and tensors)\n");
    return 0;
  }
  for (const auto& in : j["inputs"])
    std::printf("  input  %s %s\n", in["name"].get<std::string>().c_str(), in["dims"].dump().c_str());
  for (const auto& out : j["outputs"])
    std::printf("  output %s %s\n", out["name"].get<std::string>().c_str(), out["dims"].dump().c_str());
  std::printf("  nodes:");
  for (const auto& [op, count] : j["nodes"].items()) std::printf(" %s×%d", op.c_str(), count.get<int>());
  std::printf("\n  %zu tensors, %s of weights, every chunk authenticates:\n", j["tensors"].size(),
              format_bytes(j["weight_bytes"].get<uint64_t>()).c_str());
  for (const auto& t : j["tensors"])
    std::printf("    %-48s %-8s %-22s %10s  %-8s %5.2fx  %u chunk(s)\n", t["name"].get<std::string>().c_str(),
                t["dtype"].get<std::string>().c_str(), t["dims"].dump().c_str(),
                format_bytes(t["bytes"].get<uint64_t>()).c_str(), t["codec"].get<std::string>().c_str(),
                t["ratio"].get<double>(), t["chunks"].get<unsigned>());
  return 0;
}

}  // namespace teeinfer::cli
