#include "host/cli/run_inputs.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>

#include "host/cli/option_checks.h"

namespace teeinfer::cli {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "a, b, c": the names, for messages.
std::string names_of(const std::vector<TensorInfo>& tensors) {
  std::string s;
  for (const TensorInfo& t : tensors) s += (s.empty() ? "" : ", ") + t.name;
  return s;
}

// An input of the model, or one a sealed model was packed with bound to a value (a run may
// give it: the session checks it is that value).
std::optional<TensorInfo> input_named(const Model& m, const std::string& name) {
  for (const TensorInfo& t : m.inputs())
    if (t.name == name) return t;
  for (const Tensor& b : m.bound_inputs())
    if (b.name == name) return TensorInfo{b.name, b.dtype, b.dims};
  return std::nullopt;
}

bool all_known(const Dims& d) {
  return std::all_of(d.begin(), d.end(), [](int64_t x) { return x > 0; });
}

Tensor load_image_input(const std::string& path, const TensorInfo& in, const ModelOptions& o) {
  auto shapes = one_shape(o.input_shape);
  Dims dims = in.dims;
  if (auto it = shapes.find(in.name); it != shapes.end()) dims = it->second;
  if (auto it = shapes.find(""); it != shapes.end()) dims = it->second;
  if (!dims.empty() && dims[0] < 0) dims[0] = 1;
  if (!all_known(dims))
    throw Error(ErrorCode::kBadInput, "input '" + in.name + "' has dynamic dims " + to_string(dims) +
                                          ": give --input-shape to decode an image into it");
  std::optional<ImageLayout> layout = image_layout_of(dims);
  if (o.layout == "nchw") layout = ImageLayout::kNCHW;
  if (o.layout == "nhwc") layout = ImageLayout::kNHWC;
  if (!layout)
    throw Error(ErrorCode::kBadInput, "input '" + in.name + "' " + to_string(dims) +
                                          " is not an image input (1 or 3 channels, NCHW or NHWC); give an .npy, "
                                          "or --layout if it is one");
  const int64_t channels = dims.size() == 4 ? (*layout == ImageLayout::kNCHW ? dims[1] : dims[3]) : 3;
  return load_image(path, in.name, dims, image_normalization(o, channels), *layout);
}

void check_every_input_given(const std::vector<InputFile>& files, const Model& m) {
  for (const TensorInfo& in : m.inputs())
    if (std::none_of(files.begin(), files.end(), [&](const InputFile& f) { return f.name == in.name; }))
      throw Error(ErrorCode::kBadArgument,
                  "input '" + in.name + "' has no --input (give --input " + in.name +
                      "=FILE.npy, or an .npz holding it; the model's inputs: " + names_of(m.inputs()) + ")");
}

}  // namespace

Normalization image_normalization(const ModelOptions& o, int64_t channels) {
  Normalization n = Normalization::for_channels(channels);
  if (!o.mean.empty()) n.mean = o.mean;
  if (!o.std.empty()) n.std = o.std;
  for (float s : n.std)
    if (s == 0.f) throw Error(ErrorCode::kBadArgument, "--std values must be non-zero");
  return n;
}

std::vector<InputFile> input_files(const std::vector<std::string>& args, const Model& m) {
  std::vector<InputFile> files;
  for (const std::string& arg : args) {
    size_t eq = arg.find('=');
    std::string name = eq == std::string::npos ? "" : arg.substr(0, eq);
    if (!name.empty() && input_named(m, name)) {
      files.push_back({name, arg.substr(eq + 1)});
      continue;
    }
    if (!name.empty() && !std::filesystem::exists(arg))
      throw Error(ErrorCode::kBadArgument, "--input " + arg + ": the model has no input named '" + name +
                                               "' (its inputs: " + names_of(m.inputs()) + ")");
    if (ends_with(arg, ".npz")) {  // every input it holds, by member name
      files.push_back({"", arg});
      continue;
    }
    if (m.inputs().size() != 1)
      throw Error(ErrorCode::kBadArgument, "--input " + arg + ": the model has " + std::to_string(m.inputs().size()) +
                                               " inputs (" + names_of(m.inputs()) +
                                               "); give each as --input NAME=FILE");
    files.push_back({m.inputs()[0].name, arg});
  }
  for (size_t i = 0; i < files.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (!files[i].name.empty() && files[i].name == files[j].name)
        throw Error(ErrorCode::kBadArgument, "--input: input '" + files[i].name + "' is given twice");
  const bool archive = std::any_of(files.begin(), files.end(), [](const InputFile& f) { return f.name.empty(); });
  if (!archive) check_every_input_given(files, m);  // else once the archive says what it holds
  return files;
}

std::vector<Tensor> load_inputs(const std::vector<InputFile>& files, const Model& m, const ModelOptions& o) {
  std::vector<Tensor> tensors;
  std::vector<InputFile> given;  // each input with its file, archives expanded
  auto add = [&](const std::string& name, const std::string& path) {
    for (const InputFile& g : given)
      if (g.name == name)
        throw Error(ErrorCode::kBadArgument,
                    "--input: input '" + name + "' is given twice (" + g.path + " and " + path + ")");
    given.push_back({name, path});
  };
  for (const InputFile& f : files) {
    if (!f.name.empty()) {
      add(f.name, f.path);
      continue;
    }
    std::map<std::string, DType> dtypes;
    for (const TensorInfo& in : m.inputs()) dtypes[in.name] = in.dtype;
    for (const Tensor& b : m.bound_inputs()) dtypes[b.name] = b.dtype;
    for (Tensor& t : read_npz(f.path, dtypes)) {
      if (!input_named(m, t.name))
        throw Error(ErrorCode::kBadArgument, "--input " + f.path + ": its array '" + t.name +
                                                 "' is no input of the model (its inputs: " + names_of(m.inputs()) +
                                                 ")");
      add(t.name, f.path);
      tensors.push_back(std::move(t));
    }
  }
  check_every_input_given(given, m);
  for (const InputFile& f : files) {
    if (f.name.empty()) continue;
    const TensorInfo in = *input_named(m, f.name);
    tensors.push_back(ends_with(f.path, ".npy") ? read_npy(f.path, in.name, in.dtype)
                                                : load_image_input(f.path, in, o));
  }
  return tensors;
}

Dims per_run_dims(const Tensor& x, const Model& m, const ModelOptions& o, int64_t batch) {
  const TensorInfo in = *input_named(m, x.name);
  if (x.dims.empty() || x.dims.size() != in.dims.size()) return x.dims;  // the session says what is wrong
  const int64_t samples = x.dims[0];
  auto with_batch = [&](int64_t b) {
    Dims d = x.dims;
    d[0] = b;
    return d;
  };
  auto shapes = one_shape(o.input_shape);
  auto given = shapes.count(in.name) ? shapes.find(in.name) : shapes.find("");
  if (given != shapes.end()) {
    const Dims& d = given->second;
    bool stack = d.size() == x.dims.size() && d[0] > 0 && samples % d[0] == 0 &&
                 std::equal(d.begin() + 1, d.end(), x.dims.begin() + 1);
    return stack ? d : x.dims;
  }
  if (batch > 0) return with_batch(std::min(batch, samples));
  if (!m.sealed()) return in.dims[0] > 0 && samples % in.dims[0] == 0 ? with_batch(in.dims[0]) : x.dims;
  // Sealed: the whole stack if a profile takes it, else the largest profile batch that
  // divides it.
  int64_t best = 0;
  for (const Model::ShapeProfile& p : m.shape_profiles()) {
    auto it = std::find_if(p.inputs.begin(), p.inputs.end(), [&](const TensorInfo& t) { return t.name == in.name; });
    if (it == p.inputs.end() || it->dims.size() != x.dims.size() ||
        !std::equal(it->dims.begin() + 1, it->dims.end(), x.dims.begin() + 1))
      continue;
    if (it->dims[0] > 0 && samples % it->dims[0] == 0) best = std::max(best, it->dims[0]);
  }
  return best > 0 ? with_batch(best) : x.dims;
}

std::vector<OutputFile> output_files(const std::vector<std::string>& args, const Model& m) {
  std::vector<OutputFile> files;
  for (const std::string& arg : args) {
    size_t eq = arg.find('=');
    OutputFile f{"", arg};
    if (eq != std::string::npos) {
      std::string name = arg.substr(0, eq);
      if (std::none_of(m.outputs().begin(), m.outputs().end(), [&](const TensorInfo& t) { return t.name == name; }))
        throw Error(ErrorCode::kBadArgument, "--output " + arg + ": the model has no output named '" + name +
                                                 "' (its outputs: " + names_of(m.outputs()) + ")");
      f = {name, arg.substr(eq + 1)};
    }
    if (!f.name.empty() && ends_with(f.path, ".npz"))
      throw Error(ErrorCode::kBadArgument,
                  "--output " + arg + ": one output is written as .npy (FILE.npz takes them all)");
    files.push_back(f);
  }
  for (size_t i = 0; i < files.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (files[i].path == files[j].path)
        throw Error(ErrorCode::kBadArgument, "--output: '" + files[i].path + "' is given twice");
  return files;
}

void write_outputs(const std::vector<OutputFile>& files, const std::vector<Tensor>& outputs) {
  for (const OutputFile& f : files) {
    if (ends_with(f.path, ".npz") && f.name.empty()) {
      write_npz(f.path, outputs);
      continue;
    }
    auto it = f.name.empty()
                  ? outputs.begin()
                  : std::find_if(outputs.begin(), outputs.end(), [&](const Tensor& t) { return t.name == f.name; });
    if (it == outputs.end())
      throw Error(ErrorCode::kBadArgument, "--output: the model gave no output '" + f.name + "'");
    write_npy(f.path, *it);
  }
}

Tensor slice_samples(const Tensor& x, int64_t begin, int64_t count) {
  Tensor t{x.name, x.dtype, x.dims, {}};
  t.dims[0] = count;
  const size_t per = x.bytes.size() / static_cast<size_t>(x.dims[0]);
  auto first = x.bytes.begin() + static_cast<std::ptrdiff_t>(per * static_cast<size_t>(begin));
  t.bytes.assign(first, first + static_cast<std::ptrdiff_t>(per * static_cast<size_t>(count)));
  return t;
}

void append_samples(std::vector<Tensor>& all, const std::vector<Tensor>& batch) {
  if (all.empty()) {
    all = batch;
    return;
  }
  for (size_t i = 0; i < all.size(); ++i) {
    const Tensor& b = batch[i];
    if (b.dims.empty() || all[i].dims.size() != b.dims.size() ||
        !std::equal(b.dims.begin() + 1, b.dims.end(), all[i].dims.begin() + 1))
      throw Error(ErrorCode::kBadInput,
                  "output '" + b.name + "' " + to_string(b.dims) + " has no batch dim to join batches along");
    all[i].dims[0] += b.dims[0];
    all[i].bytes.insert(all[i].bytes.end(), b.bytes.begin(), b.bytes.end());
  }
}

}  // namespace teeinfer::cli
