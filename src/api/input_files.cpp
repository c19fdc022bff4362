// Input files and sizes (include/teeinfer/teeinfer.h), over the host's readers.
#include <climits>
#include <cstring>

#include "common/error.h"
#include "common/tensor.h"
#include "common/units.h"
#include "host/idx_dataset.h"
#include "host/image.h"
#include "host/input_file.h"
#include "host/npy.h"
#include "host/npz.h"
#include "teeinfer/teeinfer.h"

namespace teeinfer {

Tensor load_image(const std::string& path, const std::string& name, const Dims& dims, const Normalization& norm,
                  ImageLayout layout) {
  if (layout == ImageLayout::kNCHW) {
    HostTensor t = load_image(path, dims, norm);
    return Tensor::f32(name, t.dims, t.data);
  }
  if (dims.size() != 4)
    throw Error(ErrorCode::kBadInput, "an image input must have 4 dims {1, H, W, C}, got " + dims_to_string(dims));
  HostTensor t = load_image(path, {dims[0], dims[3], dims[1], dims[2]}, norm);  // decoded channels first
  const int64_t c = dims[3], hw = dims[1] * dims[2];
  std::vector<float> nhwc(t.data.size());
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t i = 0; i < hw; ++i) nhwc[static_cast<size_t>(i * c + ch)] = t.data[static_cast<size_t>(ch * hw + i)];
  return Tensor::f32(name, dims, nhwc);
}

std::optional<ImageLayout> image_layout_of(const Dims& dims) {
  if (dims.size() != 4) return std::nullopt;
  if (dims[1] == 1 || dims[1] == 3) return ImageLayout::kNCHW;
  if (dims[3] == 1 || dims[3] == 3) return ImageLayout::kNHWC;
  return std::nullopt;
}

Tensor read_npy(const std::string& path, const std::string& name) {
  HostTensor t = read_npy(path);
  return Tensor::f32(name, t.dims, t.data);
}

namespace {

template <class T>
Tensor narrowed(const std::string& path, const std::string& name, DType as, const Dims& dims,
                const std::vector<int64_t>& v, int64_t lo, int64_t hi) {
  Tensor t{name, as, dims, std::vector<uint8_t>(v.size() * sizeof(T))};
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] < lo || v[i] > hi)
      throw Error(ErrorCode::kBadInput, "'" + path + "' holds " + std::to_string(v[i]) + ", outside " + dtype_name(as) +
                                            " (input '" + name + "')");
    T x = static_cast<T>(v[i]);
    std::memcpy(t.bytes.data() + i * sizeof(T), &x, sizeof(T));
  }
  return t;
}

}  // namespace

namespace {

// Exact integer values as a tensor of `as` (any type but float32).
Tensor integer_tensor(const std::string& what, const std::string& name, DType as, const Dims& dims,
                      const std::vector<int64_t>& v) {
  switch (as) {
    case DType::kI64:
      return Tensor::i64(name, dims, v);
    case DType::kI32:
      return narrowed<int32_t>(what, name, as, dims, v, INT32_MIN, INT32_MAX);
    case DType::kU8:
      return narrowed<uint8_t>(what, name, as, dims, v, 0, 255);
    case DType::kS8:
      return narrowed<int8_t>(what, name, as, dims, v, -128, 127);
    case DType::kBool:
      return narrowed<uint8_t>(what, name, as, dims, v, 0, 1);
    case DType::kF32:
      break;
  }
  throw Error(ErrorCode::kBadArgument, "read_npy: no integer dtype given");
}

}  // namespace

Tensor read_npy(const std::string& path, const std::string& name, DType as) {
  if (as == DType::kF32) return read_npy(path, name);
  Dims dims;
  std::vector<int64_t> v = read_npy_integers(path, dims);
  return integer_tensor(path, name, as, dims, v);
}

std::vector<Tensor> read_npz(const std::string& path, const std::map<std::string, DType>& as) {
  std::string archive = read_input_file(path, kMaxNpzBytes, ".npz file");
  std::vector<Tensor> out;
  for (const auto& [name, bytes] : npz_members(archive, path)) {
    const std::string what = path + ":" + name + ".npy";
    auto it = as.find(name);
    if (it == as.end() || it->second == DType::kF32) {
      HostTensor t = parse_npy(bytes, what);
      out.push_back(Tensor::f32(name, t.dims, t.data));
      continue;
    }
    Dims dims;
    std::vector<int64_t> v = parse_npy_integers(bytes, what, dims);
    out.push_back(integer_tensor(what, name, it->second, dims, v));
  }
  return out;
}

void write_npy(const std::string& path, const Tensor& t) {
  write_npy(path, t.dims, t.data(), t.dtype);
}

void write_npz(const std::string& path, const std::vector<Tensor>& tensors) {
  std::vector<NpzArray> arrays;
  for (const Tensor& t : tensors) arrays.push_back({t.name, t.dims, t.data(), t.dtype});
  write_npz(path, arrays);
}

uint64_t parse_size(const std::string& text, const std::string& what) {
  return parse_bytes(text, what);
}

std::string format_size(uint64_t bytes) {
  return format_bytes(bytes);
}

std::string to_string(const Dims& dims) {
  return dims_to_string(dims);
}

}  // namespace teeinfer
