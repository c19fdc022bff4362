// LayerNorm: oneDNN's layer normalization over the plain row-major tensor viewed as 2-D,
// {elements before axis, elements from axis on}, so that any run of trailing dims is the
// one normalized dim oneDNN wants. The statistics are computed per row (not global).
#include "common/error.h"
#include "enclave/op_lowering/op_lowering.h"

namespace teeinfer {

using dnnl::memory;

namespace {

// A scale or bias, constant or computed, as the {D} vector oneDNN reads.
Slot per_element_vector(LoweringContext& l, ValueId v, const memory::desc& flat) {
  const Value& value = l.graph().value(v);
  Slot s = value.is_constant ? l.constant(v, layout_md(value.dims, Layout::kPlain)) : l.input(v, Layout::kPlain);
  return Slot{s.buffer, flat, s.offset};
}

}  // namespace

void lower_layer_norm(LoweringContext& l, const Node& n) {
  const auto& p = std::get<LayerNormParams>(n.params);
  const Dims& x = l.graph().value(n.inputs[0]).dims;
  Dims outer(x.begin(), x.begin() + p.axis), inner(x.begin() + p.axis, x.end());
  const int64_t d = element_count(inner, n.name);
  const memory::desc rows = layout_md({element_count(outer, n.name), d}, Layout::kPlain);
  const memory::desc flat = layout_md({d}, Layout::kPlain);
  auto present = [&](size_t i) { return n.inputs.size() > i && n.inputs[i] != kNoValue; };

  auto flags = dnnl::normalization_flags::none;
  if (present(1)) flags |= dnnl::normalization_flags::use_scale;
  if (present(2)) flags |= dnnl::normalization_flags::use_shift;
  dnnl::layer_normalization_forward::desc desc(dnnl::prop_kind::forward_inference, rows, p.epsilon, flags);
  dnnl::layer_normalization_forward::primitive_desc pd(desc, attr_with({}), l.engine());

  Slot src = l.input(n.inputs[0], Layout::kPlain);
  std::vector<std::pair<int, Slot>> args{{DNNL_ARG_SRC, Slot{src.buffer, rows, src.offset}}};
  if (present(1)) args.emplace_back(DNNL_ARG_SCALE, per_element_vector(l, n.inputs[1], flat));
  if (present(2)) args.emplace_back(DNNL_ARG_SHIFT, per_element_vector(l, n.inputs[2], flat));
  Slot dst = l.output(n.outputs[0], layout_md(x, Layout::kPlain));
  args.emplace_back(DNNL_ARG_DST, Slot{dst.buffer, rows, dst.offset});
  l.add_primitive(n.name, dnnl::layer_normalization_forward(pd), pd, std::move(args));
}

}  // namespace teeinfer
