// libFuzzer target for the untrusted ONNX path of `plan`, `pack`, `run` and `prune`:
// bytes -> protobuf parse -> import (constant folding, shape inference) -> graph passes
// -> validate_graph, exactly as load_onnx_model does for a file; then, for a model that
// imports, the channel pruner on its protobuf (select, remove, the ONNX checker) as
// `teeinfer prune` does.
//
// Two input forms:
//   * a whole .onnx file (the seeds in corpus/fuzz_onnx_import/ are small models);
//   * 'S' then a recipe: the bytes pick ops, inputs, attributes and constants from tables
//     of valid and extreme values, and the model built from them takes the same path.
//     Byte-level mutation of protobuf rarely makes a new well-formed graph; recipes do.
// Any teeinfer::Error is a clean rejection; a crash, leak or sanitizer report is a bug.
//
//   make fuzz FUZZ_SECONDS=600      # the long run (tests/fuzz/run_fuzz.sh)
#include <onnx/checker.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "host/model_loader.h"
#include "host/onnx_import.h"
#include "host/pruning/channel_pruner.h"

using namespace teeinfer;

namespace {

// Well under libFuzzer's 2 GiB RSS limit, and fast: a model may use at most this much
// host memory (the CLI's default is at least 1 GiB; the checks are the same).
constexpr uint64_t kMaxMemory = uint64_t{64} << 20;

void prune(const onnx::ModelProto& imported) {
  onnx::ModelProto model = imported;
  PruneReport report = select_channels(model, ChannelSelection{Grouping::kLayer, 0.5, {}, kMaxMemory});
  if (report.units.empty()) return;
  remove_channels(model, report);
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception&) {  // `prune` reports this as an Error
  }
}

// Reads the recipe; past its end every read is 0.
class Recipe {
 public:
  Recipe(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool done() const { return pos_ >= size_; }
  uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[byte() % v.size()];
  }
  int64_t small(int64_t n) { return byte() % n; }

 private:
  const uint8_t* data_;
  size_t size_, pos_ = 0;
};

constexpr int64_t kMax = std::numeric_limits<int64_t>::max(), kMin = std::numeric_limits<int64_t>::min();
// Attribute and shape values: mostly ordinary, some at the edges.
const std::vector<int64_t> kInts = {0,
                                    1,
                                    1,
                                    1,
                                    2,
                                    2,
                                    3,
                                    3,
                                    4,
                                    -1,
                                    -1,
                                    -2,
                                    5,
                                    7,
                                    8,
                                    16,
                                    1 << 20,
                                    (1 << 20) + 1,
                                    int64_t{1} << 31,
                                    int64_t{1} << 40,
                                    int64_t{1} << 62,
                                    kMax,
                                    kMin,
                                    -3};
const std::vector<std::string> kOps = {"Conv",
                                       "MaxPool",
                                       "AveragePool",
                                       "GlobalAveragePool",
                                       "GlobalMaxPool",
                                       "Relu",
                                       "LeakyRelu",
                                       "Add",
                                       "Sub",
                                       "Mul",
                                       "Div",
                                       "Concat",
                                       "Reshape",
                                       "Flatten",
                                       "Shape",
                                       "Gather",
                                       "Slice",
                                       "Cast",
                                       "Unsqueeze",
                                       "Squeeze",
                                       "Transpose",
                                       "Pad",
                                       "Gemm",
                                       "MatMul",
                                       "Softmax",
                                       "LRN",
                                       "Clip",
                                       "Dropout",
                                       "Identity",
                                       "ConstantOfShape",
                                       "BatchNormalization",
                                       "Constant",
                                       "Sigmoid",
                                       "HardSwish",
                                       "Erf",
                                       "ReduceMean",
                                       "Max",
                                       "Gelu",
                                       "LayerNormalization"};
const std::vector<std::string> kIntAttrs = {
    "axis", "group",    "ceil_mode",         "allowzero",     "to",           "transB", "transA", "size", "start",
    "end",  "keepdims", "count_include_pad", "storage_order", "training_mode"};
const std::vector<std::string> kIntsAttrs = {"kernel_shape", "strides", "pads", "dilations", "perm",
                                             "axes",         "starts",  "ends", "shape"};
const std::vector<int> kTypes = {onnx::TensorProto::FLOAT, onnx::TensorProto::FLOAT, onnx::TensorProto::INT64,
                                 onnx::TensorProto::INT64, onnx::TensorProto::INT32, onnx::TensorProto::BOOL,
                                 onnx::TensorProto::UINT8, onnx::TensorProto::INT8,  onnx::TensorProto::DOUBLE};

size_t type_size(int t) {
  switch (t) {
    case onnx::TensorProto::INT64:
    case onnx::TensorProto::DOUBLE:
      return 8;
    case onnx::TensorProto::FLOAT:
    case onnx::TensorProto::INT32:
      return 4;
    default:
      return 1;
  }
}

// A constant of small dims whose bytes come from the recipe (sometimes too few or many).
void add_constant(Recipe& r, onnx::GraphProto* g, const std::string& name) {
  onnx::TensorProto* t = g->add_initializer();
  t->set_name(name);
  int type = r.pick(kTypes);
  t->set_data_type(type);
  int64_t rank = r.small(4), count = 1;
  for (int64_t i = 0; i < rank; ++i) {
    int64_t d = r.byte() < 240 ? r.small(5) : r.pick(kInts);
    t->add_dims(d);
    count = d >= 0 && d < 64 && count < 4096 ? count * d : count;
  }
  size_t bytes = static_cast<size_t>(count) * type_size(type);
  if (r.byte() >= 250) bytes = r.small(16);  // a payload that does not match the dims
  std::string raw(bytes, '\0');
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<char>(r.byte() < 128 ? 0 : r.byte());
  if (type == onnx::TensorProto::INT64 && raw.size() >= 8 && r.byte() < 128) {
    int64_t v = r.pick(kInts);  // a plausible shape/axis value up front
    std::memcpy(raw.data(), &v, 8);
  }
  t->set_raw_data(raw);
}

onnx::ModelProto model_from_recipe(Recipe& r) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(r.byte() < 200 ? 13 : 7 + r.small(12));
  onnx::GraphProto* g = m.mutable_graph();
  onnx::ValueInfoProto* in = g->add_input();
  in->set_name("x");
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  int64_t rank = 1 + r.small(5);
  for (int64_t i = 0; i < rank; ++i)
    tt->mutable_shape()->add_dim()->set_dim_value(r.byte() < 245 ? 1 + r.small(6) : r.pick(kInts));
  std::vector<std::string> names = {"x"};
  int nodes = 1 + static_cast<int>(r.small(12));
  for (int k = 0; k < nodes && !r.done(); ++k) {
    onnx::NodeProto* n = g->add_node();
    n->set_op_type(r.pick(kOps));
    n->set_name("n" + std::to_string(k));
    int inputs = static_cast<int>(r.small(4));
    for (int i = 0; i <= inputs; ++i) {
      if (r.byte() < 100) {  // a fresh constant
        std::string c = "c" + std::to_string(k) + "_" + std::to_string(i);
        add_constant(r, g, c);
        n->add_input(c);
      } else {
        n->add_input(names[r.small(static_cast<int64_t>(names.size()))]);
      }
    }
    int attrs = static_cast<int>(r.small(4));
    for (int i = 0; i < attrs; ++i) {
      onnx::AttributeProto* a = n->add_attribute();
      uint8_t kind = r.byte() % 4;
      if (kind == 0) {
        a->set_name(r.pick(kIntAttrs));
        a->set_type(onnx::AttributeProto::INT);
        a->set_i(r.pick(kInts));
      } else if (kind == 1) {
        a->set_name(r.pick(kIntsAttrs));
        a->set_type(onnx::AttributeProto::INTS);
        int64_t count = r.small(9);
        for (int64_t j = 0; j < count; ++j) a->add_ints(r.pick(kInts));
      } else if (kind == 2) {
        a->set_name("auto_pad");
        a->set_type(onnx::AttributeProto::STRING);
        a->set_s(r.pick(std::vector<std::string>{"SAME_UPPER", "SAME_LOWER", "VALID", "NOTSET"}));
      } else {
        a->set_name("value");
        a->set_type(onnx::AttributeProto::TENSOR);
        onnx::GraphProto scratch;
        add_constant(r, &scratch, "v");
        *a->mutable_t() = scratch.initializer(0);
      }
    }
    std::string out = "v" + std::to_string(k);
    n->add_output(out);
    if (r.byte() >= 240) n->add_output(out + "_mask");
    names.push_back(out);
  }
  g->add_output()->set_name(names.back());
  return m;
}

void import_and_prune(std::string_view bytes) {
  OnnxModel model = OnnxModel::from_bytes(bytes, "fuzz.onnx");
  std::map<std::string, Dims> dims;
  for (const auto& [name, declared] : model.declared_inputs()) dims[name] = resolve_input_dims(name, declared);
  load_onnx_model(model, dims, nullptr, kMaxMemory);
  prune(model.proto());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    if (size > 0 && data[0] == 'S') {
      Recipe r(data + 1, size - 1);
      import_and_prune(model_from_recipe(r).SerializeAsString());
    } else {
      import_and_prune(std::string_view(reinterpret_cast<const char*>(data), size));
    }
  } catch (const Error&) {
  }
  return 0;
}
