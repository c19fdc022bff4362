// Reshape (zero-copy view of a plain tensor), Transpose (one reorder) and Concat.
#include "common/error.h"
#include "enclave/kernels/kernels.h"

namespace teeinfer {

using dnnl::memory;

void lower_reshape(Lowering& l, const Node& n) {
  Slot src = l.input(n.inputs[0], Layout::kPlain);
  l.alias_output(n.outputs[0], src, layout_md(l.graph().value(n.outputs[0]).dims, Layout::kPlain));
}

void lower_transpose(Lowering& l, const Node& n) {
  const auto& p = std::get<TransposeParams>(n.params);
  Slot src = l.input_as_is(n.inputs[0]);
  memory::dims in_dims = src.md.dims(), in_strides = strides_of(src.md), dims, strides;
  for (int64_t a : p.perm) {
    dims.push_back(in_dims[a]);
    strides.push_back(in_strides[a]);
  }
  memory::desc view(dims, memory::data_type::f32, strides);  // the input, seen in output order
  memory::desc out_md = layout_md(l.graph().value(n.outputs[0]).dims, Layout::kPlain);
  auto pd = dnnl::reorder::primitive_desc(l.engine(), view, l.engine(), out_md);
  Slot dst = l.output(n.outputs[0], out_md);
  l.add_primitive(n.name, dnnl::reorder(pd), pd, {{DNNL_ARG_FROM, Slot{src.buffer, view}}, {DNNL_ARG_TO, dst}});
}

void lower_concat(Lowering& l, const Node& n) {
  const auto& p = std::get<ConcatParams>(n.params);
  const Dims& y = l.graph().value(n.outputs[0]).dims;
  std::vector<Slot> srcs;
  std::vector<memory::desc> mds;
  for (ValueId v : n.inputs) {
    srcs.push_back(l.input_as_is(v));
    mds.push_back(srcs.back().md);
  }
  Layout layout = is_layout(mds[0], Layout::kChannelsLast) ? Layout::kChannelsLast : Layout::kPlain;
  dnnl::concat::primitive_desc pd(layout_md(y, layout), static_cast<int>(p.axis), mds, l.engine(), attr_with({}));
  std::vector<std::pair<int, Slot>> args;
  for (size_t i = 0; i < srcs.size(); ++i) args.emplace_back(DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i), srcs[i]);
  args.emplace_back(DNNL_ARG_DST, l.output(n.outputs[0], pd.dst_desc()));
  l.add_primitive(n.name, dnnl::concat(pd), pd, std::move(args));
}

}  // namespace teeinfer
