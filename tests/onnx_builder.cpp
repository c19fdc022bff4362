#include "onnx_builder.h"

#include <limits>

// GCC 12 reports false -Wrestrict overlaps in inlined std::string copies here (a known
// libstdc++ false positive at -O2 with many inlined string operations).
#pragma GCC diagnostic ignored "-Wrestrict"

namespace teeinfer::testing {
namespace {

// "prefix<i>" (spelled out: GCC 12 warns falsely on `"c" + std::to_string(i)`).
std::string numbered(const std::string& prefix, int64_t i) {
  std::string s = prefix;
  s += std::to_string(i);
  return s;
}

}  // namespace

onnx::AttributeProto* OnnxNodeBuilder::add(const std::string& name, onnx::AttributeProto::AttributeType type) {
  onnx::AttributeProto* a = node_->add_attribute();
  a->set_name(name);
  a->set_type(type);
  return a;
}

OnnxNodeBuilder& OnnxNodeBuilder::i(const std::string& name, int64_t v) {
  add(name, onnx::AttributeProto::INT)->set_i(v);
  return *this;
}

OnnxNodeBuilder& OnnxNodeBuilder::ints(const std::string& name, const std::vector<int64_t>& v) {
  onnx::AttributeProto* a = add(name, onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
  return *this;
}

OnnxNodeBuilder& OnnxNodeBuilder::f(const std::string& name, float v) {
  add(name, onnx::AttributeProto::FLOAT)->set_f(v);
  return *this;
}

OnnxNodeBuilder& OnnxNodeBuilder::s(const std::string& name, const std::string& v) {
  add(name, onnx::AttributeProto::STRING)->set_s(v);
  return *this;
}

OnnxNodeBuilder& OnnxNodeBuilder::t(const std::string& name, const onnx::TensorProto& v) {
  *add(name, onnx::AttributeProto::TENSOR)->mutable_t() = v;
  return *this;
}

onnx::TensorProto tensor_proto(const std::string& name, int onnx_type, const std::vector<int64_t>& dims,
                               const std::string& raw) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx_type);
  for (int64_t d : dims) t.add_dims(d);
  t.set_raw_data(raw);
  return t;
}

OnnxModelBuilder::OnnxModelBuilder(int opset) {
  model.set_ir_version(8);
  model.add_opset_import()->set_version(opset);
  graph = model.mutable_graph();
  graph->set_name("hostile");
}

void OnnxModelBuilder::input(const std::string& name, const std::vector<int64_t>& dims, int elem_type) {
  onnx::ValueInfoProto* v = graph->add_input();
  v->set_name(name);
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(elem_type);
  auto* shape = t->mutable_shape();
  for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
}

void OnnxModelBuilder::output(const std::string& name, const std::vector<int64_t>& dims) {
  onnx::ValueInfoProto* v = graph->add_output();
  v->set_name(name);
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  if (dims.empty()) return;
  for (int64_t d : dims) t->mutable_shape()->add_dim()->set_dim_value(d);
}

std::string OnnxModelBuilder::initializer(const std::string& name, int onnx_type, const std::vector<int64_t>& dims,
                                          const std::string& raw) {
  *graph->add_initializer() = tensor_proto(name, onnx_type, dims, raw);
  return name;
}

OnnxNodeBuilder OnnxModelBuilder::node(const std::string& op, const std::vector<std::string>& inputs,
                                       const std::vector<std::string>& outputs) {
  onnx::NodeProto* n = graph->add_node();
  n->set_op_type(op);
  n->set_name(numbered(op + "_", graph->node_size()));
  for (const auto& i : inputs) n->add_input(i);
  for (const auto& o : outputs) n->add_output(o);
  return OnnxNodeBuilder(n);
}

std::string conv_chain_model(int layers, int64_t channels, int64_t size) {
  OnnxModelBuilder b(13);
  b.input("x", {1, channels, size, size});
  std::vector<float> w(static_cast<size_t>(channels * channels * 9));
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>((i * 7919) % 17) / 17.f - 0.5f;
  std::vector<float> bias(static_cast<size_t>(channels), 0.01f);
  std::string x = "x";
  for (int l = 0; l < layers; ++l) {
    std::string id = std::to_string(l);
    std::string wn = b.constant<float>("w" + id, {channels, channels, 3, 3}, w);
    std::string bn = b.constant<float>("b" + id, {channels}, bias);
    b.node("Conv", {x, wn, bn}, {"c" + id}).ints("kernel_shape", {3, 3}).ints("pads", {1, 1, 1, 1});
    x = l + 1 == layers ? "y" : "r" + id;
    b.node("Relu", {"c" + id}, {x});
  }
  b.output("y");
  return b.bytes();
}

namespace {

constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();
constexpr int kF32 = onnx::TensorProto::FLOAT, kI64 = onnx::TensorProto::INT64, kI32 = onnx::TensorProto::INT32,
              kBool = onnx::TensorProto::BOOL;

const std::vector<int64_t> kX = {1, 1, 4, 4};

// A model on input x {1,1,4,4} whose graph output "y" is built by `body`.
template <class Body>
HostileModel model(const std::string& name, const std::string& expect, Body body, int opset = 13) {
  OnnxModelBuilder b(opset);
  b.input("x", kX);
  body(b);
  b.output("y");
  return {name, b.bytes(), "x", kX, expect};
}

std::vector<float> floats(size_t n, float v = 0.5f) {
  return std::vector<float>(n, v);
}

// Conv on x with a 1x1x3x3 weight and the given attributes.
template <class Attrs>
HostileModel conv(const std::string& name, const std::string& expect, Attrs attrs) {
  return model(name, expect, [&](OnnxModelBuilder& b) {
    b.constant<float>("w", {1, 1, 3, 3}, floats(9));
    OnnxNodeBuilder n = b.node("Conv", {"x", "w"}, {"y"});
    attrs(n);
  });
}

template <class Attrs>
HostileModel pool(const std::string& name, const std::string& op, const std::string& expect, Attrs attrs) {
  return model(name, expect, [&](OnnxModelBuilder& b) {
    OnnxNodeBuilder n = b.node(op, {"x"}, {"y"});
    attrs(n);
  });
}

void add_window_models(std::vector<HostileModel>& m) {
  m.push_back(conv("conv_same_upper_zero_stride", "stride", [](OnnxNodeBuilder& n) {
    n.s("auto_pad", "SAME_UPPER").ints("strides", {0, 0});
  }));
  m.push_back(conv("conv_same_lower_zero_stride", "stride", [](OnnxNodeBuilder& n) {
    n.s("auto_pad", "SAME_LOWER").ints("strides", {1, 0});
  }));
  m.push_back(conv("conv_same_negative_stride", "stride", [](OnnxNodeBuilder& n) {
    n.s("auto_pad", "SAME_UPPER").ints("strides", {-1, -1});
  }));
  m.push_back(conv("conv_same_int64_min_stride", "stride", [](OnnxNodeBuilder& n) {
    n.s("auto_pad", "SAME_UPPER").ints("strides", {kI64Min, 1});
  }));
  m.push_back(conv("conv_same_huge_dilation", "dilation", [](OnnxNodeBuilder& n) {
    n.s("auto_pad", "SAME_UPPER").ints("dilations", {kI64Max, kI64Max});
  }));
  m.push_back(conv("conv_same_zero_dilation", "dilation", [](OnnxNodeBuilder& n) {
    n.s("auto_pad", "SAME_LOWER").ints("dilations", {0, 0});
  }));
  m.push_back(conv("conv_zero_kernel_shape", "kernel", [](OnnxNodeBuilder& n) {
    n.s("auto_pad", "SAME_UPPER").ints("kernel_shape", {0, 0});
  }));
  m.push_back(conv("conv_huge_kernel_shape", "kernel", [](OnnxNodeBuilder& n) {
    n.s("auto_pad", "SAME_UPPER").ints("kernel_shape", {kI64Max, kI64Max});
  }));
  m.push_back(conv("conv_group_zero", "group", [](OnnxNodeBuilder& n) { n.i("group", 0); }));
  m.push_back(conv("conv_group_huge", "group", [](OnnxNodeBuilder& n) { n.i("group", kI64Max); }));
  m.push_back(conv("conv_group_negative", "group", [](OnnxNodeBuilder& n) { n.i("group", -1); }));
  m.push_back(conv("conv_negative_pads", "pad", [](OnnxNodeBuilder& n) { n.ints("pads", {-1, -1, -1, -1}); }));
  m.push_back(conv("conv_huge_pads", "pad", [](OnnxNodeBuilder& n) { n.ints("pads", {kI64Max, 0, kI64Max, 0}); }));
  m.push_back(conv("conv_bad_auto_pad", "auto_pad", [](OnnxNodeBuilder& n) { n.s("auto_pad", "SAME_MIDDLE"); }));
  m.push_back(conv("conv_valid_huge_stride", "stride", [](OnnxNodeBuilder& n) {
    n.s("auto_pad", "VALID").ints("strides", {kI64Max, kI64Max});
  }));
  m.push_back(conv("conv_short_strides", "stride", [](OnnxNodeBuilder& n) { n.ints("strides", {1}); }));
  m.push_back(pool("maxpool_ceil_zero_stride", "MaxPool", "stride", [](OnnxNodeBuilder& n) {
    n.ints("kernel_shape", {2, 2}).ints("strides", {0, 0}).i("ceil_mode", 1);
  }));
  m.push_back(pool("maxpool_ceil_huge_pads", "MaxPool", "pad", [](OnnxNodeBuilder& n) {
    n.ints("kernel_shape", {2, 2}).ints("pads", {kI64Max, kI64Max, kI64Max, kI64Max}).i("ceil_mode", 1);
  }));
  m.push_back(pool("maxpool_ceil_huge_dilation", "MaxPool", "dilation", [](OnnxNodeBuilder& n) {
    n.ints("kernel_shape", {2, 2}).ints("dilations", {kI64Max, 1}).i("ceil_mode", 1);
  }));
  m.push_back(pool("avgpool_same_zero_stride", "AveragePool", "stride", [](OnnxNodeBuilder& n) {
    n.ints("kernel_shape", {2, 2}).ints("strides", {0, 0}).s("auto_pad", "SAME_UPPER");
  }));
  m.push_back(pool("avgpool_zero_kernel", "AveragePool", "kernel", [](OnnxNodeBuilder& n) {
    n.ints("kernel_shape", {0, 0}).i("ceil_mode", 1);
  }));
  m.push_back(pool("maxpool_negative_kernel", "MaxPool", "kernel", [](OnnxNodeBuilder& n) {
    n.ints("kernel_shape", {-3, 2}).s("auto_pad", "SAME_LOWER");
  }));
  m.push_back(
      model("lrn_huge_size", "size", [](OnnxModelBuilder& b) { b.node("LRN", {"x"}, {"y"}).i("size", kI64Max); }));
  m.push_back(model("pad_huge", "pad", [](OnnxModelBuilder& b) {
    b.constant<int64_t>("p", {8}, {0, 0, kI64Max, 0, 0, 0, kI64Max, 0});
    b.node("Pad", {"x", "p"}, {"y"});
  }));
  // Valid but extreme: the kernels must run them (or refuse them) cleanly.
  m.push_back(conv("conv_pads_wider_than_input", "", [](OnnxNodeBuilder& n) { n.ints("pads", {300, 300, 300, 300}); }));
  m.push_back(conv("conv_stride_2_pow_20", "", [](OnnxNodeBuilder& n) {
    n.ints("strides", {1 << 20, 1 << 20}).ints("pads", {1, 1, 1, 1});
  }));
  m.push_back(conv("conv_dilation_2_pow_20", "", [](OnnxNodeBuilder& n) {
    n.ints("dilations", {1 << 20, 1}).ints("pads", {1 << 20, 1, 1 << 20, 1});
  }));
  m.push_back(conv("conv_same_lower_stride_3", "", [](OnnxNodeBuilder& n) {
    n.s("auto_pad", "SAME_LOWER").ints("strides", {3, 3}).ints("dilations", {2, 2});
  }));
  m.push_back(pool("maxpool_pads_wider_than_kernel", "MaxPool", "", [](OnnxNodeBuilder& n) {
    n.ints("kernel_shape", {1, 1}).ints("pads", {5, 5, 5, 5}).i("ceil_mode", 1).ints("strides", {3, 3});
  }));
  m.push_back(pool("avgpool_count_pad_ceil", "AveragePool", "", [](OnnxNodeBuilder& n) {
    n.ints("kernel_shape", {4, 4})
        .ints("pads", {3, 3, 3, 3})
        .i("ceil_mode", 1)
        .i("count_include_pad", 1)
        .ints("strides", {5, 5});
  }));
  m.push_back(pool("maxpool_kernel_2_pow_20", "MaxPool", "", [](OnnxNodeBuilder& n) {
    n.ints("kernel_shape", {1 << 20, 1}).ints("pads", {1 << 20, 0, 0, 0});
  }));
  m.push_back(pool("global_max_pool", "GlobalMaxPool", "", [](OnnxNodeBuilder&) {}));
  m.push_back(model("lrn_size_2_pow_20", "", [](OnnxModelBuilder& b) {
    b.node("LRN", {"x"}, {"y"}).i("size", 1 << 20).f("alpha", 1e30f).f("beta", -3.f).f("bias", 0.f);
  }));
  m.push_back(
      model("softmax_on_batch_axis", "", [](OnnxModelBuilder& b) { b.node("Softmax", {"x"}, {"y"}).i("axis", 0); }));
  m.push_back(model("batchnorm_negative_variance", "", [](OnnxModelBuilder& b) {
    for (const char* p : {"s", "bb", "mm"}) b.constant<float>(p, {1}, floats(1));
    b.constant<float>("vv", {1}, {-5.f});
    b.node("BatchNormalization", {"x", "s", "bb", "mm", "vv"}, {"y"}).f("epsilon", -1.f);
  }));
  m.push_back(model("concat_runtime_with_itself", "", [](OnnxModelBuilder& b) {
    b.node("Concat", std::vector<std::string>(500, "x"), {"y"}).i("axis", 1);
  }));
  m.push_back(model("gemm_with_big_k_and_scalar_c", "", [](OnnxModelBuilder& b) {
    b.node("Flatten", {"x"}, {"f"});
    b.constant<float>("w", {16, 3}, floats(48));
    b.initializer("c", kF32, {}, raw_bytes(floats(1)));
    b.node("Gemm", {"f", "w", "c"}, {"y"}).f("alpha", 0.f).f("beta", 1e30f);
  }));
  m.push_back(model("matmul_broadcast_batch", "", [](OnnxModelBuilder& b) {
    b.constant<float>("w", {3, 1, 4, 2}, floats(24));
    b.node("MatMul", {"x", "w"}, {"y"});
  }));
  m.push_back(model("binary_broadcast_both_ways", "", [](OnnxModelBuilder& b) {
    b.constant<float>("c", {1, 5, 1, 1}, floats(5));
    b.node("Div", {"x", "c"}, {"y"});
  }));
  m.push_back(model("clip_min_above_max", "", [](OnnxModelBuilder& b) {
    b.initializer("lo", kF32, {}, raw_bytes(floats(1, 3.f)));
    b.initializer("hi", kF32, {}, raw_bytes(floats(1, -3.f)));
    b.node("Clip", {"x", "lo", "hi"}, {"y"});
  }));
  m.push_back(model("output_is_input", "", [](OnnxModelBuilder& b) { b.node("Identity", {"x"}, {"y"}); }));
  m.push_back(model("node_without_outputs", "", [](OnnxModelBuilder& b) {
    b.node("Relu", {"x"}, {});
    b.node("Relu", {"x"}, {"y"});
  }));
  m.push_back(model("cycle", "the graph has a cycle", [](OnnxModelBuilder& b) {
    b.node("Relu", {"z"}, {"y"});
    b.node("Relu", {"y"}, {"z"});
  }));
}

void add_folding_models(std::vector<HostileModel>& m) {
  m.push_back(model("concat_non_axis_dims_differ", "differ", [](OnnxModelBuilder& b) {
    b.constant<float>("a", {1, 3}, floats(3));
    b.constant<float>("c", {1, 64}, floats(64));
    b.node("Concat", {"a", "c"}, {"y"}).i("axis", 0);
  }));
  m.push_back(model("concat_rank_differs", "rank", [](OnnxModelBuilder& b) {
    b.constant<float>("a", {2, 3}, floats(6));
    b.constant<float>("c", {6}, floats(6));
    b.node("Concat", {"a", "c"}, {"y"}).i("axis", 0);
  }));
  m.push_back(model("concat_dims_sum_overflows", "", [](OnnxModelBuilder& b) {
    b.initializer("a", kF32, {0, int64_t{1} << 62}, "");
    b.node("Concat", {"a", "a", "a", "a"}, {"y"}).i("axis", 1);
  }));
  m.push_back(model("transpose_repeated_perm", "perm", [](OnnxModelBuilder& b) {
    b.constant<float>("a", {2, 3}, floats(6));
    b.node("Transpose", {"a"}, {"y"}).ints("perm", {1, 1});
  }));
  m.push_back(model("transpose_runtime_repeated_perm", "perm", [](OnnxModelBuilder& b) {
    b.node("Transpose", {"x"}, {"y"}).ints("perm", {0, 2, 2, 1});
  }));
  m.push_back(model("constant_of_shape_empty_value", "value", [](OnnxModelBuilder& b) {
    b.constant<int64_t>("s", {2}, {4, 4});
    b.node("ConstantOfShape", {"s"}, {"y"}).t("value", tensor_proto("v", kF32, {0}, ""));
  }));
  m.push_back(model("constant_of_shape_two_values", "value", [](OnnxModelBuilder& b) {
    b.constant<int64_t>("s", {2}, {4, 4});
    b.node("ConstantOfShape", {"s"}, {"y"}).t("value", tensor_proto("v", kF32, {2}, raw_bytes(floats(2))));
  }));
  m.push_back(model("constant_of_shape_2gb", "--max-memory", [](OnnxModelBuilder& b) {
    b.constant<int64_t>("s", {4}, {1, 1, 23170, 23170});
    b.node("ConstantOfShape", {"s"}, {"y"});
  }));
  m.push_back(model("constant_of_shape_huge", "", [](OnnxModelBuilder& b) {
    b.constant<int64_t>("s", {2}, {int64_t{1} << 40, int64_t{1} << 30});
    b.node("ConstantOfShape", {"s"}, {"y"});
  }));
  m.push_back(model("constant_of_shape_zero_times_huge", "", [](OnnxModelBuilder& b) {
    b.constant<int64_t>("s", {3}, {0, int64_t{1} << 40, int64_t{1} << 40});
    b.node("ConstantOfShape", {"s"}, {"c"});
    b.node("Flatten", {"c"}, {"y"}).i("axis", 2);
  }));
  m.push_back(model("folded_constants_add_up", "--max-memory", [](OnnxModelBuilder& b) {
    // Eight 256 MiB constants: each under the limit, together over it.
    b.constant<int64_t>("s", {1}, {int64_t{1} << 26});
    std::vector<std::string> parts;
    for (int i = 0; i < 8; ++i) {
      b.node("ConstantOfShape", {"s"}, {numbered("c", i)});
      parts.push_back(numbered("c", i));
    }
    b.node("Concat", parts, {"y"}).i("axis", 0);
  }));
  m.push_back(model("gather_float_indices", "indices", [](OnnxModelBuilder& b) {
    b.constant<float>("a", {4}, floats(4));
    b.constant<float>("i", {2}, {1.f, std::numeric_limits<float>::quiet_NaN()});
    b.node("Gather", {"a", "i"}, {"y"});
  }));
  m.push_back(model("gather_index_out_of_range", "index", [](OnnxModelBuilder& b) {
    b.constant<float>("a", {4}, floats(4));
    b.constant<int64_t>("i", {2}, {1, kI64Min});
    b.node("Gather", {"a", "i"}, {"y"});
  }));
  m.push_back(model("gather_many_indices", "--max-memory", [](OnnxModelBuilder& b) {
    // {2048} zero indices into a 1 MiB {1, 2^18} constant: a 2 GiB result.
    b.constant<int64_t>("s", {2}, {1, 1 << 18});
    b.node("ConstantOfShape", {"s"}, {"a"});
    b.constant<int64_t>("n", {1}, {2048});
    b.node("ConstantOfShape", {"n"}, {"i"})
        .t("value", tensor_proto("v", kI64, {1}, raw_bytes(std::vector<int64_t>{0})));
    b.node("Gather", {"a", "i"}, {"y"});
  }));
  m.push_back(model("gather_zero_by_huge", "has no elements", [](OnnxModelBuilder& b) {
    b.initializer("a", kF32, {int64_t{1} << 40, 3, 0}, "");
    b.constant<int64_t>("i", {1}, {1});
    b.node("Gather", {"a", "i"}, {"y"}).i("axis", 1);
  }));
  m.push_back(model("slice_int64_extreme_steps", "", [](OnnxModelBuilder& b) {
    b.constant<float>("a", {8}, floats(8));
    b.constant<int64_t>("st", {1}, {kI64Min});
    b.constant<int64_t>("en", {1}, {kI64Max});
    b.constant<int64_t>("ax", {1}, {0});
    b.constant<int64_t>("sp", {1}, {kI64Max});
    b.node("Slice", {"a", "st", "en", "ax", "sp"}, {"s1"});
    b.constant<int64_t>("sn", {1}, {kI64Min});
    b.node("Slice", {"a", "en", "st", "ax", "sn"}, {"s2"});
    b.node("Concat", {"s1", "s2"}, {"y"}).i("axis", 0);
  }));
  m.push_back(model("slice_zero_step", "step", [](OnnxModelBuilder& b) {
    b.constant<float>("a", {8}, floats(8));
    b.constant<int64_t>("st", {1}, {0});
    b.constant<int64_t>("en", {1}, {4});
    b.constant<int64_t>("ax", {1}, {0});
    b.constant<int64_t>("sp", {1}, {0});
    b.node("Slice", {"a", "st", "en", "ax", "sp"}, {"y"});
  }));
  m.push_back(model("slice_repeated_axis", "repeated axis", [](OnnxModelBuilder& b) {
    b.constant<float>("a", {2, 4}, floats(8));
    b.constant<int64_t>("st", {2}, {0, 1});
    b.constant<int64_t>("en", {2}, {4, 4});
    b.constant<int64_t>("ax", {2}, {0, 0});
    b.node("Slice", {"a", "st", "en", "ax"}, {"y"});
  }));
  m.push_back(model("int64_add_overflow", "", [](OnnxModelBuilder& b) {
    b.constant<int64_t>("a", {2}, {kI64Max, kI64Min});
    b.constant<int64_t>("c", {2}, {1, -1});
    b.node("Add", {"a", "c"}, {"s"});
    b.node("Mul", {"a", "a"}, {"p"});
    b.node("Sub", {"s", "p"}, {"y"});
  }));
  m.push_back(model("int64_min_div_minus_one", "", [](OnnxModelBuilder& b) {
    b.constant<int64_t>("a", {1}, {kI64Min});
    b.constant<int64_t>("c", {1}, {-1});
    b.node("Div", {"a", "c"}, {"y"});
  }));
  m.push_back(model("int32_min_div_minus_one", "", [](OnnxModelBuilder& b) {
    b.constant<int32_t>("a", {1}, {std::numeric_limits<int32_t>::min()});
    b.constant<int32_t>("c", {1}, {-1});
    b.node("Div", {"a", "c"}, {"q"});
    b.node("Add", {"a", "a"}, {"y"});
  }));
  m.push_back(model("int_div_by_zero", "division by zero", [](OnnxModelBuilder& b) {
    b.constant<int64_t>("a", {1}, {7});
    b.constant<int64_t>("c", {1}, {0});
    b.node("Div", {"a", "c"}, {"y"});
  }));
  m.push_back(model("binary_does_not_broadcast", "broadcast", [](OnnxModelBuilder& b) {
    b.constant<float>("a", {3}, floats(3));
    b.constant<float>("c", {4}, floats(4));
    b.node("Add", {"a", "c"}, {"y"});
  }));
  m.push_back(model("binary_mixed_types", "type", [](OnnxModelBuilder& b) {
    b.constant<float>("a", {2}, floats(2));
    b.constant<int64_t>("c", {2}, {1, 2});
    b.node("Mul", {"a", "c"}, {"y"});
  }));
  m.push_back(model("cast_nan_and_huge_to_int", "", [](OnnxModelBuilder& b) {
    b.constant<float>("a", {3}, {std::numeric_limits<float>::quiet_NaN(), 1e30f, -1e30f});
    b.node("Cast", {"a"}, {"i"}).i("to", kI64);
    b.node("Cast", {"a"}, {"j"}).i("to", kI32);
    b.node("Cast", {"a"}, {"k"}).i("to", onnx::TensorProto::UINT8);
    b.node("Cast", {"i"}, {"y"}).i("to", kF32);
  }));
  m.push_back(model("cast_to_unsupported_type", "type", [](OnnxModelBuilder& b) {
    b.constant<float>("a", {1}, floats(1));
    b.node("Cast", {"a"}, {"y"}).i("to", 999);
  }));
  m.push_back(model("reshape_shape_overflows", "", [](OnnxModelBuilder& b) {
    b.constant<float>("a", {4}, floats(4));
    b.constant<int64_t>("s", {3}, {kI64Max, 2, -1});
    b.node("Reshape", {"a", "s"}, {"y"});
  }));
  m.push_back(model("reshape_zero_to_huge", "", [](OnnxModelBuilder& b) {
    b.initializer("a", kF32, {0}, "");
    b.constant<int64_t>("s", {3}, {0, int64_t{1} << 40, int64_t{1} << 40});
    b.node("Reshape", {"a", "s"}, {"y"}).i("allowzero", 1);
  }));
  m.push_back(model("reshape_float_shape", "", [](OnnxModelBuilder& b) {
    b.constant<float>("s", {2}, {std::numeric_limits<float>::infinity(), 4.f});
    b.node("Reshape", {"x", "s"}, {"y"});
  }));
  m.push_back(model("unsqueeze_huge_rank", "at most 32", [](OnnxModelBuilder& b) {
    std::vector<int64_t> axes(10000);
    for (size_t i = 0; i < axes.size(); ++i) axes[i] = static_cast<int64_t>(i);
    b.constant<int64_t>("ax", {static_cast<int64_t>(axes.size())}, axes);
    b.node("Unsqueeze", {"x", "ax"}, {"y"});
  }));
  m.push_back(model("squeeze_bad_axis", "axis", [](OnnxModelBuilder& b) {
    b.constant<int64_t>("ax", {1}, {kI64Min});
    b.node("Squeeze", {"x", "ax"}, {"y"});
  }));
  m.push_back(model("flatten_zero_by_huge", "", [](OnnxModelBuilder& b) {
    b.initializer("a", kF32, {0, int64_t{1} << 40, int64_t{1} << 40}, "");
    b.node("Flatten", {"a"}, {"y"}).i("axis", 1);
  }));
  m.push_back(model("transpose_zero_by_huge", "", [](OnnxModelBuilder& b) {
    b.initializer("a", kF32, {0, int64_t{1} << 40, int64_t{1} << 40}, "");
    b.node("Transpose", {"a"}, {"y"}).ints("perm", {2, 1, 0});
  }));
  m.push_back(model("shape_extreme_start_end", "", [](OnnxModelBuilder& b) {
    b.node("Shape", {"x"}, {"s"}).i("start", kI64Min).i("end", kI64Max);
    b.node("Cast", {"s"}, {"y"}).i("to", kF32);
  }));
  m.push_back(model("dropout_empty_training_mode", "training_mode", [](OnnxModelBuilder& b) {
    b.initializer("r", kF32, {}, raw_bytes(floats(1)));
    b.initializer("t", kBool, {0}, "");
    b.node("Dropout", {"x", "r", "t"}, {"y"});
  }));
  m.push_back(model("dropout_mask_of_big_input_is_output", "", [](OnnxModelBuilder& b) {
    b.node("Dropout", {"x"}, {"d", "y"});
  }));
  m.push_back(model("constant_node_without_value", "",
                    [](OnnxModelBuilder& b) { b.node("Constant", {}, {"y"}).s("value_string", "hello"); }));
  m.push_back(model("bool_output_becomes_float", "", [](OnnxModelBuilder& b) {
    b.constant<int64_t>("s", {1}, {int64_t{1} << 28});
    b.node("ConstantOfShape", {"s"}, {"y"}).t("value", tensor_proto("v", kBool, {1}, std::string(1, '\1')));
  }));
}

void add_tensor_models(std::vector<HostileModel>& m) {
  m.push_back(model("raw_data_shorter_than_dims", "raw bytes", [](OnnxModelBuilder& b) {
    b.initializer("w", kF32, {1, 1, 3, 3}, std::string(8, '\0'));
    b.node("Conv", {"x", "w"}, {"y"});
  }));
  m.push_back(model("external_data", "external", [](OnnxModelBuilder& b) {
    onnx::TensorProto* t = b.graph->add_initializer();
    *t = tensor_proto("w", kF32, {1, 1, 3, 3}, "");
    t->clear_raw_data();
    t->set_data_location(onnx::TensorProto::EXTERNAL);
    auto* e = t->add_external_data();
    e->set_key("location");
    e->set_value("../../../../etc/passwd");
    b.node("Conv", {"x", "w"}, {"y"});
  }));
  m.push_back(model("initializer_negative_dim", "negative", [](OnnxModelBuilder& b) {
    b.initializer("w", kF32, {-1, 1, 3, 3}, "");
    b.node("Conv", {"x", "w"}, {"y"});
  }));
  m.push_back(model("initializer_absurd_dims", "", [](OnnxModelBuilder& b) {
    b.initializer("w", kF32, {kI64Max, kI64Max}, "");
    b.node("Add", {"x", "w"}, {"y"});
  }));
  m.push_back(model("initializer_huge_rank", "at most 32", [](OnnxModelBuilder& b) {
    b.initializer("w", kF32, std::vector<int64_t>(5000, 1), raw_bytes(floats(1)));
    b.node("Add", {"x", "w"}, {"y"});
  }));
  m.push_back(model("value_redefined", "", [](OnnxModelBuilder& b) {
    b.constant<float>("w", {1, 1, 3, 3}, floats(9));
    b.node("Relu", {"x"}, {"w"});
    b.node("Conv", {"x", "w"}, {"y"});
  }));
  m.push_back(model("zero_output_channels", "", [](OnnxModelBuilder& b) {
    b.initializer("w", kF32, {0, 1, 3, 3}, "");
    b.initializer("s", kF32, {0}, "");
    b.node("Conv", {"x", "w"}, {"c"});
    b.node("BatchNormalization", {"c", "s", "s", "s", "s"}, {"y"});
  }));
  m.push_back(model("nested_subgraphs", "", [](OnnxModelBuilder& b) {
    onnx::GraphProto inner;
    for (int depth = 0; depth < 300; ++depth) {
      onnx::GraphProto outer;
      onnx::NodeProto* n = outer.add_node();
      n->set_op_type("If");
      onnx::AttributeProto* a = n->add_attribute();
      a->set_name("then_branch");
      a->set_type(onnx::AttributeProto::GRAPH);
      *a->mutable_g() = inner;
      inner = outer;
    }
    onnx::NodeProto* n = b.graph->add_node();
    *n = inner.node(0);
    n->add_input()->assign("x");
    n->add_output()->assign("y");
  }));
  {
    OnnxModelBuilder b(13);
    b.input("x", {1, 3, 100000, 100000});
    b.node("Relu", {"x"}, {"y"});
    b.output("y");
    m.push_back({"declared_input_enormous", b.bytes(), "x", {1, 3, 100000, 100000}, "--max-memory"});
  }
  {
    OnnxModelBuilder b(13);
    b.input("x", {1, 3, 0, 4});
    b.node("Relu", {"x"}, {"y"});
    b.output("y");
    m.push_back({"declared_input_empty", b.bytes(), "x", {1, 3, 0, 4}, "no elements"});
  }
  {
    OnnxModelBuilder b(13);
    b.input("x", {1, kI64Max, kI64Max, 0});
    b.node("Relu", {"x"}, {"y"});
    b.output("y");
    m.push_back({"declared_input_zero_by_huge", b.bytes(), "x", {1, kI64Max, kI64Max, 0}, ""});
  }
  {
    OnnxModelBuilder b(13);
    b.input("x", {1, 1, 4, 4});
    for (int i = 0; i < 3000; ++i) b.output("x");
    m.push_back({"many_outputs", b.bytes(), "x", kX, ""});
  }
  {
    OnnxModelBuilder b(13);
    b.input("x", {1, 1, 4, 4});
    std::string v = "x";
    for (int i = 0; i < 2000; ++i) {
      std::string out = i + 1 == 2000 ? "y" : numbered("r", i);
      b.node("Relu", {v}, {out});
      v = out;
    }
    b.output("y");
    m.push_back({"deep_relu_chain", b.bytes(), "x", kX, ""});
  }
}

// Conv + BatchNorm (+ Relu) units, a channel Concat, a pool and a Flatten + Gemm head:
// what the channel pruner traces.
HostileModel prunable_model() {
  OnnxModelBuilder b(13);
  b.input("x", {1, 2, 6, 6});
  auto conv_bn = [&](const std::string& in, const std::string& id, int64_t cin, int64_t cout) {
    std::vector<float> w(static_cast<size_t>(cout * cin * 9));
    for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i % 7) / 7.f - 0.4f;
    b.constant<float>("w" + id, {cout, cin, 3, 3}, w);
    std::vector<float> gamma(static_cast<size_t>(cout));
    for (size_t i = 0; i < gamma.size(); ++i)
      gamma[i] = i % 2 ? 1.f + 0.1f * static_cast<float>(i) : 0.001f * static_cast<float>(i + 1);
    b.constant<float>("g" + id, {cout}, gamma);
    b.constant<float>("b" + id, {cout}, floats(static_cast<size_t>(cout), 0.1f));
    b.constant<float>("m" + id, {cout}, floats(static_cast<size_t>(cout), 0.f));
    b.constant<float>("v" + id, {cout}, floats(static_cast<size_t>(cout), 1.f));
    b.node("Conv", {in, "w" + id}, {"c" + id}).ints("kernel_shape", {3, 3}).ints("pads", {1, 1, 1, 1});
    b.node("BatchNormalization", {"c" + id, "g" + id, "b" + id, "m" + id, "v" + id}, {"n" + id});
    b.node("Relu", {"n" + id}, {"r" + id});
    return "r" + id;
  };
  std::string a = conv_bn("x", "1", 2, 4), c = conv_bn(a, "2", 4, 4);
  b.node("Concat", {a, c}, {"cat"}).i("axis", 1);
  b.node("MaxPool", {"cat"}, {"p"}).ints("kernel_shape", {2, 2}).ints("strides", {2, 2});
  std::string d = conv_bn("p", "3", 8, 4);
  b.node("Flatten", {d}, {"f"}).i("axis", 1);
  b.constant<float>("fw", {3, 36}, floats(108, 0.05f));
  b.constant<float>("fb", {3}, floats(3, 0.f));
  b.node("Gemm", {"f", "fw", "fb"}, {"y"}).i("transB", 1);
  b.output("y", {1, 3});
  return {"seed_prunable", b.bytes(), "x", {1, 2, 6, 6}, ""};
}

// The shape computations exporters emit (Shape, Gather, Unsqueeze, Concat, Reshape, Slice,
// Cast, ConstantOfShape, Transpose, arithmetic) around runtime ops.
HostileModel folding_model() {
  OnnxModelBuilder b(13);
  b.input("x", {1, 3, 4, 4});
  b.node("Shape", {"x"}, {"s"});
  b.constant<int64_t>("zero", {}, {0});
  b.node("Gather", {"s", "zero"}, {"batch"}).i("axis", 0);
  b.constant<int64_t>("ax0", {1}, {0});
  b.node("Unsqueeze", {"batch", "ax0"}, {"batch1"});
  b.constant<int64_t>("minus1", {1}, {-1});
  b.node("Concat", {"batch1", "minus1"}, {"shape2"}).i("axis", 0);
  b.constant<int64_t>("st", {1}, {1});
  b.constant<int64_t>("en", {1}, {std::numeric_limits<int64_t>::max()});
  b.node("Slice", {"s", "st", "en"}, {"tail"});
  b.node("Cast", {"tail"}, {"tailf"}).i("to", kF32);
  b.constant<int64_t>("two", {1}, {2});
  b.node("Mul", {"tail", "two"}, {"twice"});
  b.node("ConstantOfShape", {"two"}, {"zeros"}).t("value", tensor_proto("v", kF32, {1}, raw_bytes(floats(1, 0.25f))));
  b.node("Transpose", {"x"}, {"t"}).ints("perm", {0, 1, 3, 2});
  b.node("Relu", {"t"}, {"r"});
  b.node("Reshape", {"r", "shape2"}, {"flat"});
  b.constant<float>("w", {48, 2}, floats(96, 0.1f));
  b.node("MatMul", {"flat", "w"}, {"mm"});
  b.node("Add", {"mm", "zeros"}, {"y0"});
  b.node("Softmax", {"y0"}, {"y"}).i("axis", 1);
  b.output("y");
  return {"seed_folding", b.bytes(), "x", {1, 3, 4, 4}, ""};
}

// The quantized ops: a dynamically quantized Conv as exporters write it, a QLinearConv and
// a QLinearMatMul on its requantized output, and Q/DQ pairs (per axis, and of constants).
HostileModel quantized_model() {
  OnnxModelBuilder b(13);
  b.input("x", {1, 2, 4, 4});
  b.constant<uint8_t>("w", {2, 2, 3, 3}, std::vector<uint8_t>(36, 200));
  b.constant<uint8_t>("w_zp", {}, {128});
  b.constant<float>("w_scale", {}, {0.01f});
  b.node("DynamicQuantizeLinear", {"x"}, {"xq", "x_scale", "x_zp"});
  b.node("ConvInteger", {"xq", "w", "x_zp", "w_zp"}, {"acc"}).ints("pads", {1, 1, 1, 1});
  b.node("Cast", {"acc"}, {"accf"}).i("to", kF32);
  b.node("Mul", {"x_scale", "w_scale"}, {"scale"});
  b.node("Mul", {"accf", "scale"}, {"c"});
  b.constant<float>("s", {2}, {0.05f, 0.1f});
  b.constant<uint8_t>("z", {2}, {100, 128});
  b.node("QuantizeLinear", {"c", "s", "z"}, {"cq"}).i("axis", 1);
  b.constant<float>("s1", {}, {0.05f});
  b.constant<uint8_t>("z1", {}, {100});
  b.constant<uint8_t>("w2", {2, 2, 1, 1}, {1, 2, 3, 4});
  b.constant<float>("y_s", {}, {0.2f});
  b.constant<uint8_t>("y_z", {}, {0});
  b.node("QLinearConv", {"cq", "s1", "z1", "w2", "s1", "z1", "y_s", "y_z"}, {"q2"});
  b.constant<uint8_t>("m", {4, 3}, std::vector<uint8_t>(12, 7));
  b.node("QLinearMatMul", {"q2", "y_s", "y_z", "m", "s1", "z1", "y_s", "y_z"}, {"q3"});
  b.node("DequantizeLinear", {"q3", "y_s", "y_z"}, {"d"});
  b.constant<uint8_t>("m2", {3, 2}, {0, 50, 100, 150, 200, 250});
  b.node("DequantizeLinear", {"m2", "s1", "z1"}, {"md"});
  b.node("MatMul", {"d", "md"}, {"y0"});
  b.node("Relu", {"y0"}, {"y"});
  b.output("y");
  return {"seed_quantized", b.bytes(), "x", {1, 2, 4, 4}, ""};
}

// A residual block and the remaining runtime ops.
HostileModel residual_model() {
  OnnxModelBuilder b(13);
  b.input("x", {1, 2, 5, 5});
  b.constant<float>("w", {2, 2, 3, 3}, floats(36, 0.1f));
  b.constant<float>("bias", {2}, floats(2, 0.f));
  b.node("Conv", {"x", "w", "bias"}, {"c"}).s("auto_pad", "SAME_UPPER");
  b.node("Add", {"c", "x"}, {"sum"});
  b.node("Clip", {"sum"}, {"clip"});
  b.constant<int64_t>("pads", {8}, {0, 0, 1, 1, 0, 0, 1, 1});
  b.node("Pad", {"clip", "pads"}, {"padded"});
  b.node("AveragePool", {"padded"}, {"avg"}).ints("kernel_shape", {3, 3}).i("ceil_mode", 1).ints("strides", {2, 2});
  b.node("LRN", {"avg"}, {"lrn"}).i("size", 3);
  b.node("LeakyRelu", {"lrn"}, {"lr"});
  b.node("Dropout", {"lr"}, {"d"});
  b.node("Identity", {"d"}, {"id"});
  b.node("GlobalAveragePool", {"id"}, {"g"});
  b.constant<int64_t>("sq", {2}, {2, 3});
  b.node("Squeeze", {"g", "sq"}, {"y"});
  b.output("y");
  return {"seed_residual", b.bytes(), "x", {1, 2, 5, 5}, ""};
}

// A 1x1 Conv (1 -> `channels`) + BatchNorm unit on x {1,1,1,1} with scales `gamma`.
void conv_bn_unit(OnnxModelBuilder& b, const std::vector<float>& gamma, const std::string& out) {
  int64_t c = static_cast<int64_t>(gamma.size());
  b.constant<float>("w", {c, 1, 1, 1}, floats(gamma.size(), 0.5f));
  b.constant<float>("g", {c}, gamma);
  b.constant<float>("b", {c}, floats(gamma.size(), 0.f));
  b.constant<float>("m", {c}, floats(gamma.size(), 0.f));
  b.constant<float>("v", {c}, floats(gamma.size(), 1.f));
  b.node("Conv", {"x", "w"}, {"c"});
  b.node("BatchNormalization", {"c", "g", "b", "m", "v"}, {out});
}

}  // namespace

HostileModel prune_fanout_model(int levels) {
  OnnxModelBuilder b(13);
  b.input("x", {1, 1, 1, 1});
  conv_bn_unit(b, {0.01f, 1.f}, "r0");
  for (int k = 1; k <= levels; ++k) {
    std::string prev = numbered("r", k - 1), cat = numbered("cat", k);
    b.node("Concat", {prev, prev}, {cat}).i("axis", 1);
    b.node("Relu", {cat}, {numbered("r", k)});  // the last one is read by nothing
  }
  b.node("Relu", {"x"}, {"y"});
  b.output("y", {1, 1, 1, 1});
  return {"prune_fanout", b.bytes(), "x", {1, 1, 1, 1}, ""};
}

HostileModel prune_many_channels_model(int64_t channels) {
  OnnxModelBuilder b(13);
  b.input("x", {1, 1, 1, 1});
  std::vector<float> gamma(static_cast<size_t>(channels));
  for (size_t i = 0; i < gamma.size(); ++i)
    gamma[i] = static_cast<float>(i % 1000) * 0.001f + 1e-7f * static_cast<float>(i);
  conv_bn_unit(b, gamma, "n");
  b.node("Relu", {"n"}, {"r"});
  b.constant<float>("w2", {1, channels, 1, 1}, floats(gamma.size(), 0.25f));
  b.node("Conv", {"r", "w2"}, {"y"});
  b.output("y", {1, 1, 1, 1});
  return {"prune_many_channels", b.bytes(), "x", {1, 1, 1, 1}, ""};
}

// The patterns the graph passes fuse (GELU spelled with Erf, LayerNorm spelled out, Max
// with a constant) and the ONNX ops LayerNormalization and Gelu.
HostileModel fusion_patterns_model() {
  OnnxModelBuilder b(17);
  b.input("x", {1, 4, 8});
  b.constant<float>("w", {8, 8}, floats(64, 0.1f));
  b.node("MatMul", {"x", "w"}, {"h"});
  b.constant<float>("sqrt2", {}, floats(1, 1.4142135f));
  b.constant<float>("one", {}, floats(1, 1.f));
  b.constant<float>("half", {}, floats(1, 0.5f));
  b.node("Div", {"h", "sqrt2"}, {"z"});
  b.node("Erf", {"z"}, {"e"});
  b.node("Add", {"e", "one"}, {"ep1"});
  b.node("Mul", {"h", "ep1"}, {"m"});
  b.node("Mul", {"m", "half"}, {"gelu"});
  b.node("ReduceMean", {"gelu"}, {"mean"}).ints("axes", {-1});
  b.node("Sub", {"gelu", "mean"}, {"d"});
  b.constant<float>("two", {}, floats(1, 2.f));
  b.node("Pow", {"d", "two"}, {"sq"});
  b.node("ReduceMean", {"sq"}, {"var"}).ints("axes", {-1});
  b.constant<float>("eps", {}, floats(1, 1e-5f));
  b.node("Add", {"var", "eps"}, {"ve"});
  b.node("Sqrt", {"ve"}, {"sd"});
  b.node("Div", {"d", "sd"}, {"n"});
  b.constant<float>("zero", {}, floats(1, 0.f));
  b.node("Max", {"n", "zero"}, {"relu"});
  b.constant<float>("scale", {8}, floats(8, 1.5f));
  b.node("LayerNormalization", {"relu", "scale"}, {"ln"});
  b.node("Gelu", {"ln"}, {"y"}).s("approximate", "tanh");
  b.output("y");
  return {"seed_fusion_patterns", b.bytes(), "x", {1, 4, 8}, ""};
}

std::vector<HostileModel> seed_models() {
  return {prunable_model(),        folding_model(),
          residual_model(),        quantized_model(),
          fusion_patterns_model(), {"seed_conv_chain", conv_chain_model(3, 2, 6), "x", {1, 2, 6, 6}, ""}};
}

namespace {

// Found by fuzz_onnx_import: the prunable seed with its first Conv's kernel_shape renamed,
// BatchNorm parameters swapped between units and the graph output renamed to the input's
// name. It imports; ONNX's own shape inference (which the pruner used) dereferenced null.
HostileModel prune_onnx_shape_inference_crash() {
  onnx::ModelProto m;
  m.ParseFromString(prunable_model().bytes);
  onnx::GraphProto* g = m.mutable_graph();
  for (int k = 0; k < g->node_size(); ++k) {
    onnx::NodeProto* n = g->mutable_node(k);
    if (k == 0) n->mutable_attribute(0)->set_name("kLRNel_shape");
    for (int i = 0; i < n->input_size(); ++i) {
      static const std::vector<std::pair<std::string, std::string>> swaps = {
          {"g2", "g1"}, {"v2", "v1"}, {"b3", "b2"}, {"m3", "m2"}};
      for (const auto& [from, to] : swaps)
        if (n->input(i) == from && n->op_type() == "BatchNormalization") n->set_input(i, to);
    }
  }
  g->mutable_output(0)->set_name("x");
  return {"prune_onnx_shape_inference_crash", m.SerializeAsString(), "x", {1, 2, 6, 6}, ""};
}

// Names from the file end up in messages: a newline or an escape must not split the
// one-line error or reach the terminal.
HostileModel control_characters_in_names() {
  OnnxModelBuilder b(13);
  b.input("x", kX);
  b.constant<float>("w", {1, 1, 3, 3}, floats(9));
  b.node("Conv", {"x", "w"}, {"y"}).i("group", 0).proto()->set_name("evil\nname\x1b[2J");
  b.output("y");
  return {"control_characters_in_names", b.bytes(), "x", kX, "group"};
}

}  // namespace

std::vector<HostileModel> hostile_models() {
  std::vector<HostileModel> m;
  add_window_models(m);
  add_folding_models(m);
  add_tensor_models(m);
  m.push_back(prune_onnx_shape_inference_crash());
  m.push_back(control_characters_in_names());
  return m;
}

}  // namespace teeinfer::testing
