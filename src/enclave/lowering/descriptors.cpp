#include "enclave/lowering/descriptors.h"

#include <algorithm>

#include "common/error.h"

namespace teeinfer {

using dnnl::memory;

memory::dims to_dnnl_dims(const Dims& d) {
  if (d.empty()) return {1};  // oneDNN has no 0-d tensors; a scalar is {1}
  return memory::dims(d.begin(), d.end());
}

memory::dims plain_strides(const memory::dims& d) {
  memory::dims s(d.size(), 1);
  for (size_t i = d.size(); i-- > 1;) s[i - 1] = s[i] * std::max<memory::dim>(d[i], 1);
  return s;
}

memory::desc raw_md(const Value& v) {
  return memory::desc({static_cast<memory::dim>(byte_size(v.dtype, v.dims, v.name))}, memory::data_type::u8,
                      memory::format_tag::a);
}

memory::desc layout_md(const Dims& dims, Layout layout) {
  memory::dims d = to_dnnl_dims(dims);
  if (layout == Layout::kPlain || d.size() < 3) return memory::desc(d, memory::data_type::f32, plain_strides(d));
  // Channels-last: N, spatial..., C  (C innermost).
  memory::dims s(d.size());
  memory::dim stride = 1;
  s[1] = stride;
  stride *= d[1];
  for (size_t i = d.size(); i-- > 2;) {
    s[i] = stride;
    stride *= d[i];
  }
  s[0] = stride;
  return memory::desc(d, memory::data_type::f32, s);
}

memory::dims strides_of(const memory::desc& md) {
  const auto& b = md.data.format_desc.blocking;
  return memory::dims(b.strides, b.strides + md.data.ndims);
}

bool same_bytes(const memory::desc& a, const memory::desc& b) {
  if (a.data.format_kind != dnnl_blocked || a.data.format_desc.blocking.inner_nblks != 0) return false;
  if (a.dims() != b.dims()) return false;
  memory::dims sa = strides_of(a), sb = strides_of(b), d = a.dims();
  for (size_t i = 0; i < d.size(); ++i)
    if (d[i] > 1 && sa[i] != sb[i]) return false;
  return true;
}

bool is_layout(const memory::desc& md, Layout layout) {
  if (md.data.format_kind != dnnl_blocked || md.data.format_desc.blocking.inner_nblks != 0) return false;
  memory::dims md_dims = md.dims();
  Dims d(md_dims.begin(), md_dims.end());
  return md == layout_md(d, layout);
}

DnnlWindow dnnl_window(const Dims& strides, const Dims& dilations, const Dims& pads_begin, const Dims& pads_end) {
  DnnlWindow w{memory::dims(strides.begin(), strides.end()),
               {},
               memory::dims(pads_begin.begin(), pads_begin.end()),
               memory::dims(pads_end.begin(), pads_end.end())};
  for (int64_t d : dilations) w.dilations.push_back(d - 1);
  return w;
}

dnnl::reorder::primitive_desc scaled_reorder(const dnnl::engine& engine, const memory::desc& from,
                                             const memory::desc& to, const std::vector<float>& scales) {
  if (scales.empty()) return dnnl::reorder::primitive_desc(engine, from, engine, to);
  memory::dims d = to.dims();
  int mask = 0;
  auto product = static_cast<memory::dim>(1);
  for (size_t i = 0; i < d.size() && product < static_cast<memory::dim>(scales.size()); ++i) {
    product *= d[i];
    mask |= 1 << i;
  }
  if (product != static_cast<memory::dim>(scales.size()))
    throw Error(ErrorCode::kBadModel,
                std::to_string(scales.size()) + " scales do not match the leading dims of a weight");
  dnnl::primitive_attr attr;
  attr.set_output_scales(mask, scales);
  return dnnl::reorder::primitive_desc(engine, from, engine, to, attr);
}

std::vector<float> scale_rows(const std::vector<float>& scales, int64_t first, int64_t count) {
  if (scales.empty()) return {};
  return std::vector<float>(scales.begin() + first, scales.begin() + first + count);
}

}  // namespace teeinfer
