#include "host/calibration.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "common/error.h"
#include "enclave/enclave_session.h"
#include "host/image.h"
#include "host/npy.h"
#include "tee/none/native_platform.h"

namespace teeinfer {
namespace {

std::vector<HostTensor> batches_from_npy(const std::string& path, const Dims& input_dims, int limit) {
  HostTensor all = read_npy(path);
  const int64_t sample = element_count(input_dims, "--calibrate") / input_dims[0];
  if (all.dims.size() < input_dims.size() - 1 || sample == 0 || all.data.size() % static_cast<size_t>(sample) != 0 ||
      !std::equal(input_dims.end() - static_cast<long>(input_dims.size() - 1), input_dims.end(),
                  all.dims.end() - static_cast<long>(input_dims.size() - 1)))
    throw Error(ErrorCode::kBadInput, "--calibrate: '" + path + "' holds " + dims_to_string(all.dims) +
                                          "; samples must end with the input's dims " + dims_to_string(input_dims));
  int64_t count = std::min<int64_t>(static_cast<int64_t>(all.data.size()) / sample, limit);
  std::vector<HostTensor> out;
  for (int64_t first = 0; first + input_dims[0] <= count; first += input_dims[0]) {
    auto begin = all.data.begin() + first * sample;
    out.push_back(HostTensor{input_dims, std::vector<float>(begin, begin + input_dims[0] * sample)});
  }
  return out;
}

std::vector<HostTensor> batches_from_images(const std::string& dir, const Dims& input_dims, int limit) {
  if (input_dims.size() != 4)
    throw Error(ErrorCode::kBadInput, "--calibrate: a directory of images needs a 4-D image input, the model's is " +
                                          dims_to_string(input_dims));
  std::vector<std::string> files;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_regular_file(ec)) files.push_back(it->path().string());
  if (ec) throw Error(ErrorCode::kIo, "--calibrate: cannot list '" + dir + "': " + ec.message());
  std::sort(files.begin(), files.end());
  Dims one = input_dims;
  one[0] = 1;
  Normalization norm = Normalization::for_channels(input_dims[1]);
  size_t per_batch = static_cast<size_t>(input_dims[0]);
  size_t usable = std::min(files.size(), static_cast<size_t>(std::max(limit, 0))) / per_batch * per_batch;
  std::vector<HostTensor> out;
  for (size_t first = 0; first < usable; first += per_batch) {
    HostTensor batch{input_dims, {}};
    for (size_t i = first; i < first + per_batch; ++i) {
      HostTensor x = load_image(files[i], one, norm);
      batch.data.insert(batch.data.end(), x.data.begin(), x.data.end());
    }
    out.push_back(std::move(batch));
  }
  return out;
}

}  // namespace

std::vector<HostTensor> load_calibration_set(const std::string& path, const Dims& input_dims, int limit) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw Error(ErrorCode::kBadInput, "--calibrate: '" + path + "' does not exist");
  if (input_dims.empty() || input_dims[0] < 1)
    throw Error(ErrorCode::kBadInput, "--calibrate: the model input has no batch dimension");
  std::vector<HostTensor> out = std::filesystem::is_directory(path, ec) ? batches_from_images(path, input_dims, limit)
                                                                        : batches_from_npy(path, input_dims, limit);
  if (out.empty())
    throw Error(ErrorCode::kBadInput,
                "--calibrate: '" + path + "' holds no whole batch of " + dims_to_string(input_dims));
  for (const HostTensor& batch : out)
    for (float v : batch.data)
      if (!std::isfinite(v)) throw Error(ErrorCode::kBadInput, "--calibrate: '" + path + "' holds NaN or infinity");
  return out;
}

std::map<ValueId, ValueRange> measure_input_ranges(const Graph& g, const std::vector<HostTensor>& batches) {
  if (g.inputs.size() != 1) throw Error(ErrorCode::kUnsupported, "calibration needs a model with one input");
  std::set<ValueId> wanted;
  for (const Node& n : g.nodes)
    if (n.op == OpKind::kConv || (n.op == OpKind::kGemm && std::get<GemmParams>(n.params).trans_b))
      wanted.insert(n.inputs[0]);
  Graph probe = g;  // the same graph, with every wanted activation also an output
  for (ValueId v : wanted)
    if (v != g.inputs[0] && std::find(g.outputs.begin(), g.outputs.end(), v) == g.outputs.end())
      probe.outputs.push_back(v);
  const std::vector<ValueId>& observed = probe.outputs;
  NativePlatform platform;
  EnclaveSession session(probe, platform);
  std::map<ValueId, ValueRange> ranges;
  auto observe = [&](ValueId v, const std::vector<float>& data) {
    if (!wanted.count(v) || data.empty()) return;
    auto [lo, hi] = std::minmax_element(data.begin(), data.end());
    auto [it, fresh] = ranges.emplace(v, ValueRange{*lo, *hi});
    if (!fresh) it->second = {std::min(it->second.min, *lo), std::max(it->second.max, *hi)};
  };
  for (HostTensor batch : batches) {
    observe(g.inputs[0], batch.data);
    std::vector<OutputTensor> outs = session.run({batch.view(g.value(g.inputs[0]).name)});
    for (size_t i = 0; i < outs.size(); ++i) observe(observed[i], outs[i].data);
  }
  return ranges;
}

}  // namespace teeinfer
