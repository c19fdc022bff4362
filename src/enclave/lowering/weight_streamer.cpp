#include "enclave/lowering/weight_streamer.h"

#include <algorithm>
#include <numeric>

#include "common/error.h"
#include "enclave/lowering/descriptors.h"

namespace teeinfer {

using dnnl::memory;

Slot WeightStreamer::constant(ValueId v, const memory::desc& md, const memory::desc* source_md,
                              std::vector<float> scales) {
  const Value& val = plan_.graph().value(v);
  if (!val.is_constant) throw Error(ErrorCode::kUnsupported, "'" + val.name + "' must be a constant");
  const bool int8 = val.dtype == DType::kS8;
  if (val.dtype != DType::kF32 && !int8)
    throw Error(ErrorCode::kUnsupported, "constant '" + val.name + "' is " + dtype_name(val.dtype) +
                                             "; kernels take float32 or int8 weight constants");
  if (int8 && md.data_type() != memory::data_type::s8 && scales.empty()) scales = weight_scales(v);
  memory::dims dims = md.dims();
  memory::desc src =
      source_md ? *source_md
                : memory::desc(dims, int8 ? memory::data_type::s8 : memory::data_type::f32, plain_strides(dims));
  if (src.get_size() != byte_size(val.dtype, val.dims, val.name))
    throw Error(ErrorCode::kBadModel, "constant '" + val.name + "' does not fit the kernel's expected size");
  if (is_streamed(v)) return streamed_constant(v, md, src, scales);
  Slot s{plan_.new_buffer(md, val.name, true), md};
  bool copy = src == md && scales.empty();
  plan_.add_load({v, src, s, copy ? std::vector<ReorderSlice>{} : reorder_plan(v, src, md, scales), scales});
  return s;
}

const std::vector<float>& WeightStreamer::weight_scales(ValueId v) const {
  // Not necessarily the current node's: a fused band chain loads the weights of all its nodes.
  for (const Node& n : plan_.graph().nodes)
    if (const Int8Weights* q = int8_weights_of(n); q && n.inputs.size() > 1 && n.inputs[1] == v)
      return q->weight_scales;
  throw Error(ErrorCode::kBadModel, "int8 constant '" + plan_.graph().value(v).name + "' is no int8 node's weight");
}

Slot WeightStreamer::constant_bytes(ValueId v) {
  const Value& val = plan_.graph().value(v);
  memory::desc md({static_cast<memory::dim>(byte_size(val.dtype, val.dims, val.name))}, memory::data_type::u8,
                  memory::format_tag::a);
  Slot s{plan_.new_buffer(md, val.name, true), md};
  plan_.add_load({v, md, s, {}});
  return s;
}

// Slices along the source's outermost dim (the tensor's rows, or whole groups of them),
// each a whole number of sealed chunks and of the target layout's blocks on that dim, so
// that every slice is a plain sub-block of the source and a valid sub-memory of the target.
std::vector<ReorderSlice> WeightStreamer::reorder_slices(ValueId v, const memory::desc& source_md,
                                                         const memory::desc& target_md,
                                                         const std::vector<float>& scales) const {
  const Value& val = plan_.graph().value(v);
  if (!plan_.options().weights || val.dims.empty() || target_md.data.format_kind != dnnl_blocked) return {};
  memory::dims dims = source_md.dims(), strides = strides_of(source_md);
  size_t d = static_cast<size_t>(std::max_element(strides.begin(), strides.end()) - strides.begin());
  int64_t units = dims[d], rows = val.dims[0], elements = 1;
  for (auto x : dims) elements *= x;
  if (units <= 1 || rows % units != 0 || strides[d] * units != elements) return {};
  int64_t rows_per_unit = rows / units;
  int64_t block = 1;  // the target layout's block size on dim d
  const auto& b = target_md.data.format_desc.blocking;
  for (int i = 0; i < b.inner_nblks; ++i)
    if (static_cast<size_t>(b.inner_idxs[i]) == d) block *= b.inner_blks[i];
  int64_t chunk_rows = std::max<int64_t>(plan_.options().weights->row_granularity(v), 1);
  int64_t chunk_units = chunk_rows / std::gcd(chunk_rows, rows_per_unit);  // units per whole chunks
  int64_t step = std::lcm(block, chunk_units);
  int64_t unit_bytes = static_cast<int64_t>(source_md.get_size()) / units;
  int64_t per_slice =
      std::max<int64_t>(static_cast<int64_t>(plan_.options().reorder_slice_bytes) / unit_bytes / step, 1) * step;
  if (per_slice >= units) return {};
  std::vector<ReorderSlice> out;
  try {
    for (int64_t first = 0; first < units; first += per_slice) {
      memory::dims part = dims, at(dims.size(), 0);
      part[d] = std::min(per_slice, units - first);
      at[d] = first;
      out.push_back({first * rows_per_unit, part[d] * rows_per_unit, memory::desc(part, source_md.data_type(), strides),
                     target_md.submemory_desc(part, at)});
      if (out.size() == 1 || part[d] != per_slice)  // the distinct shapes: can oneDNN reorder them?
        scaled_reorder(plan_.engine(), out.back().source, out.back().target,
                       scale_rows(scales, out.back().first_row, out.back().rows));
    }
  } catch (const dnnl::error&) {
    return {};  // a layout oneDNN cannot address in slices: the whole tensor at once
  }
  return out;
}

std::vector<ReorderSlice> WeightStreamer::reorder_plan(ValueId v, const memory::desc& source_md,
                                                       const memory::desc& target_md,
                                                       const std::vector<float>& scales) const {
  std::vector<ReorderSlice> slices = reorder_slices(v, source_md, target_md, scales);
  if (slices.empty())
    slices.push_back(
        {0, plan_.graph().value(v).dims.empty() ? 1 : plan_.graph().value(v).dims[0], source_md, target_md});
  return slices;
}

// Read at every run into a buffer that lives only until its consumer has run. A layout
// change goes through a staging buffer of the plain bytes, a slice at a time.
Slot WeightStreamer::streamed_constant(ValueId v, const memory::desc& md, const memory::desc& source_md,
                                       const std::vector<float>& scales) {
  const Value& val = plan_.graph().value(v);
  int64_t rows = val.dims.empty() ? 1 : val.dims[0];
  Slot target{plan_.new_buffer(md, val.name + " (streamed)", false), md};
  if (source_md == md && scales.empty()) {
    add_stream(v, 0, rows, target);
    return target;
  }
  std::vector<ReorderSlice> slices = reorder_plan(v, source_md, md, scales);
  size_t biggest = 0;
  for (const auto& sl : slices) biggest = std::max(biggest, sl.source.get_size());
  Slot stage =
      plan_.scratch(memory::desc({static_cast<memory::dim>(biggest)}, memory::data_type::u8, memory::format_tag::a),
                    val.name + " (streamed, staging)");
  for (const auto& sl : slices) {
    add_stream(v, sl.first_row, sl.rows, Slot{stage.buffer, sl.source});
    bool whole = slices.size() == 1;
    add_weight_reorder(
        "reorder " + val.name + (whole ? "" : " rows " + std::to_string(sl.first_row) + "+" + std::to_string(sl.rows)),
        Slot{stage.buffer, sl.source}, Slot{target.buffer, sl.target}, scale_rows(scales, sl.first_row, sl.rows));
  }
  return target;
}

void WeightStreamer::add_weight_reorder(const std::string& name, const Slot& from, const Slot& to,
                                        const std::vector<float>& scales) {
  auto pd = scaled_reorder(plan_.engine(), from.md, to.md, scales);
  plan_.add_primitive(name, dnnl::reorder(pd), pd, {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}},
                      StepKind::kWeightReorder);
  if (plan_.options().prefetch) plan_.last_step().loader_start = 0;  // the loader reorders what it read
}

void WeightStreamer::add_stream(ValueId v, int64_t first_row, int64_t rows, const Slot& dst) {
  if (!plan_.options().weights) throw Error(ErrorCode::kBadArgument, "streamed weights need a weight source");
  plan_.touch(dst);
  streams_ = true;
  const Dims& dims = plan_.graph().value(v).dims;
  Step s{"stream " + plan_.graph().value(v).name +
             (first_row || rows != (dims.empty() ? 1 : dims[0])
                  ? " rows " + std::to_string(first_row) + "+" + std::to_string(rows)
                  : ""),
         "teeinfer:stream", StreamReadStep{v, first_row, rows, dst}, -1, StepKind::kWeightRead};
  if (plan_.options().prefetch) s.loader_start = 0;  // set properly by schedule_loader()
  plan_.push(std::move(s));
}

bool WeightStreamer::is_streamed(ValueId v) const {
  const auto& streamed = plan_.options().streamed;
  return v >= 0 && static_cast<size_t>(v) < streamed.size() && streamed[v];
}

int64_t WeightStreamer::row_granularity(ValueId v) const {
  if (!plan_.options().weights) throw Error(ErrorCode::kBadArgument, "streamed weights need a weight source");
  return plan_.options().weights->row_granularity(v);
}

}  // namespace teeinfer
