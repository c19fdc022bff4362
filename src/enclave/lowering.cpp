#include "enclave/lowering.h"

#include <algorithm>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>

#include "common/error.h"
#include "enclave/kernels/kernels.h"

namespace teeinfer {

using dnnl::memory;

memory::dims to_dnnl_dims(const Dims& d) {
  if (d.empty()) return {1};  // oneDNN has no 0-d tensors; a scalar is {1}
  return memory::dims(d.begin(), d.end());
}

static memory::dims plain_strides(const memory::dims& d) {
  memory::dims s(d.size(), 1);
  for (size_t i = d.size(); i-- > 1;) s[i - 1] = s[i] * std::max<memory::dim>(d[i], 1);
  return s;
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

// True when two strided descriptors address every element at the same offset (strides
// may differ only along dims of extent 1).
static bool same_bytes(const memory::desc& a, const memory::desc& b) {
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

void append_eltwise(dnnl::post_ops& po, const EltwiseParams& p) {
  using dnnl::algorithm;
  auto finite = [](float v) { return std::isinf(v) ? (v > 0 ? FLT_MAX : -FLT_MAX) : v; };
  switch (p.kind) {
    case EltwiseKind::kRelu:
      po.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
      break;
    case EltwiseKind::kLeakyRelu:
      po.append_eltwise(1.f, algorithm::eltwise_relu, p.alpha, 0.f);
      break;
    case EltwiseKind::kClip:
      po.append_eltwise(1.f, algorithm::eltwise_clip_v2, finite(p.alpha), finite(p.beta));
      break;
    case EltwiseKind::kSigmoid:
      po.append_eltwise(1.f, algorithm::eltwise_logistic, 0.f, 0.f);
      break;
    case EltwiseKind::kHardSigmoid:  // max(0, min(1, alpha*x + beta)); oneDNN 2.6 has no single op for it
      po.append_eltwise(1.f, algorithm::eltwise_linear, p.alpha, p.beta);
      po.append_eltwise(1.f, algorithm::eltwise_clip_v2, 0.f, 1.f);
      break;
    case EltwiseKind::kHardSwish:
      po.append_eltwise(1.f, algorithm::eltwise_hardswish, 0.f, 0.f);
      break;
  }
}

namespace {

struct EltwiseOp {
  dnnl::algorithm algorithm;
  float scale, alpha, beta;
};

std::vector<EltwiseOp> eltwise_ops_of(const dnnl::post_ops& po) {
  std::vector<EltwiseOp> out;
  for (int i = 0; i < po.len(); ++i) {
    if (po.kind(i) != dnnl::primitive::kind::eltwise) continue;
    EltwiseOp op{};
    po.get_params_eltwise(i, op.scale, op.algorithm, op.alpha, op.beta);
    out.push_back(op);
  }
  return out;
}

std::string eltwise_algorithm_name(dnnl::algorithm a) {
  switch (a) {
    case dnnl::algorithm::eltwise_relu:
      return "eltwise_relu";
    case dnnl::algorithm::eltwise_clip_v2:
      return "eltwise_clip_v2";
    case dnnl::algorithm::eltwise_linear:
      return "eltwise_linear";
    case dnnl::algorithm::eltwise_logistic:
      return "eltwise_logistic";
    case dnnl::algorithm::eltwise_hardswish:
      return "eltwise_hardswish";
    default:
      return "eltwise algorithm " + std::to_string(static_cast<int>(a));
  }
}

std::string short_float(float v) {
  char s[32];
  return std::string(s, std::to_chars(s, s + sizeof s, v).ptr);
}

// The first algorithm of `ops` used again with other parameters (see split_post_ops).
std::string repeated_algorithm(const std::vector<EltwiseOp>& ops) {
  for (size_t i = 0; i < ops.size(); ++i)
    for (size_t j = i + 1; j < ops.size(); ++j) {
      const EltwiseOp &a = ops[i], &b = ops[j];
      // != is also true for NaN parameters: those never share an injector either.
      if (a.algorithm == b.algorithm && (a.scale != b.scale || a.alpha != b.alpha || a.beta != b.beta))
        return eltwise_algorithm_name(a.algorithm) + " (alpha " + short_float(a.alpha) + ", beta " +
               short_float(a.beta) + " then alpha " + short_float(b.alpha) + ", beta " + short_float(b.beta) + ")";
    }
  return "";
}

}  // namespace

PostOpSplit split_post_ops(const PostOps& ops, const dnnl::post_ops& leading) {
  std::vector<EltwiseOp> chain = eltwise_ops_of(leading);
  PostOpSplit split;
  for (size_t i = 0; i < ops.size(); ++i) {
    dnnl::post_ops one;
    append_eltwise(one, ops[i]);
    std::vector<EltwiseOp> longer = chain, more = eltwise_ops_of(one);
    longer.insert(longer.end(), more.begin(), more.end());
    if (!repeated_algorithm(longer).empty()) {
      split.rest.assign(ops.begin() + static_cast<std::ptrdiff_t>(i), ops.end());
      break;
    }
    chain = std::move(longer);
    split.fused.push_back(ops[i]);
  }
  return split;
}

std::string repeated_eltwise_algorithm(const dnnl::post_ops& po) {
  return repeated_algorithm(eltwise_ops_of(po));
}

dnnl::primitive_attr attr_with(const PostOps& post_ops) {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (!post_ops.empty()) {
    dnnl::post_ops po;
    for (const auto& p : post_ops) append_eltwise(po, p);
    attr.set_post_ops(po);
  }
  return attr;
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

Lowering::Lowering(const Graph& g, const dnnl::engine& engine, LoweringOptions options)
    : g_(g), engine_(engine), options_(std::move(options)) {}

int Lowering::new_buffer(const memory::desc& md, const std::string& name, bool persistent) {
  int id = planner_.add_buffer(md.get_size(), current_step(), current_step());
  buffer_names_.push_back(name);
  persistent_.push_back(persistent);
  values_per_buffer_.push_back(0);
  return id;
}

void Lowering::touch(const Slot& s) {
  planner_.extend_lifetime(s.buffer, current_step());
}

Slot Lowering::input_as_is(ValueId v) {
  const Value& val = g_.value(v);
  auto it = slots_.find(v);
  if (it == slots_.end()) {
    if (is_spilled(v))
      throw Error(ErrorCode::kUnsupported, "activation '" + val.name +
                                               "' is spilled but read by a node that cannot "
                                               "read it in bands (node " +
                                               g_.nodes[static_cast<size_t>(current_node_)].name + ")");
    if (!val.is_constant) throw Error(ErrorCode::kBadModel, "value '" + val.name + "' is read before it is computed");
    Slot s = constant(v, layout_md(val.dims, Layout::kPlain));
    slots_[v] = s;
    return s;
  }
  touch(it->second);
  return it->second;
}

Slot Lowering::input(ValueId v, Layout layout) {
  Slot s = input_as_is(v);
  if (is_layout(s.md, layout) || s.md.dims().size() < 3) return s;
  memory::desc want = layout_md(g_.value(v).dims, layout);
  if (same_bytes(s.md, want)) return Slot{s.buffer, want};  // e.g. {N,C,1,1}: no copy needed
  auto key = std::make_pair(v, static_cast<int>(layout));
  if (auto it = converted_.find(key); it != converted_.end()) {
    touch(it->second);
    return it->second;
  }
  Slot dst{new_buffer(layout_md(g_.value(v).dims, layout), g_.value(v).name + ".reordered", false),
           layout_md(g_.value(v).dims, layout)};
  auto pd = dnnl::reorder::primitive_desc(engine_, s.md, engine_, dst.md);
  add_primitive("reorder " + g_.value(v).name, dnnl::reorder(pd), pd, {{DNNL_ARG_FROM, s}, {DNNL_ARG_TO, dst}});
  converted_[key] = dst;
  return dst;
}

Slot Lowering::constant(ValueId v, const memory::desc& md, const memory::desc* source_md, std::vector<float> scales) {
  const Value& val = g_.value(v);
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
  Slot s{new_buffer(md, val.name, true), md};
  bool copy = src == md && scales.empty();
  loads_.push_back({v, src, s, copy ? std::vector<ReorderSlice>{} : reorder_plan(v, src, md, scales), scales});
  return s;
}

const std::vector<float>& Lowering::weight_scales(ValueId v) const {
  // Not necessarily the current node's: a fused band chain loads the weights of all its nodes.
  for (const Node& n : g_.nodes)
    if (const Int8Weights* q = int8_weights_of(n); q && n.inputs.size() > 1 && n.inputs[1] == v)
      return q->weight_scales;
  throw Error(ErrorCode::kBadModel, "int8 constant '" + g_.value(v).name + "' is no int8 node's weight");
}

Slot Lowering::constant_bytes(ValueId v) {
  const Value& val = g_.value(v);
  memory::desc md({static_cast<memory::dim>(byte_size(val.dtype, val.dims, val.name))}, memory::data_type::u8,
                  memory::format_tag::a);
  Slot s{new_buffer(md, val.name, true), md};
  loads_.push_back({v, md, s, {}});
  return s;
}

// Slices along the source's outermost dim (the tensor's rows, or whole groups of them),
// each a whole number of sealed chunks and of the target layout's blocks on that dim, so
// that every slice is a plain sub-block of the source and a valid sub-memory of the target.
std::vector<ReorderSlice> Lowering::reorder_slices(ValueId v, const memory::desc& source_md,
                                                   const memory::desc& target_md,
                                                   const std::vector<float>& scales) const {
  const Value& val = g_.value(v);
  if (!options_.weights || val.dims.empty() || target_md.data.format_kind != dnnl_blocked) return {};
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
  int64_t chunk_rows = std::max<int64_t>(options_.weights->row_granularity(v), 1);
  int64_t chunk_units = chunk_rows / std::gcd(chunk_rows, rows_per_unit);  // units per whole chunks
  int64_t step = std::lcm(block, chunk_units);
  int64_t unit_bytes = static_cast<int64_t>(source_md.get_size()) / units;
  int64_t per_slice =
      std::max<int64_t>(static_cast<int64_t>(options_.reorder_slice_bytes) / unit_bytes / step, 1) * step;
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
        scaled_reorder(engine_, out.back().source, out.back().target,
                       scale_rows(scales, out.back().first_row, out.back().rows));
    }
  } catch (const dnnl::error&) {
    return {};  // a layout oneDNN cannot address in slices: the whole tensor at once
  }
  return out;
}

std::vector<ReorderSlice> Lowering::reorder_plan(ValueId v, const memory::desc& source_md,
                                                 const memory::desc& target_md,
                                                 const std::vector<float>& scales) const {
  std::vector<ReorderSlice> slices = reorder_slices(v, source_md, target_md, scales);
  if (slices.empty()) slices.push_back({0, g_.value(v).dims.empty() ? 1 : g_.value(v).dims[0], source_md, target_md});
  return slices;
}

// Read at every run into a buffer that lives only until its consumer has run. A layout
// change goes through a staging buffer of the plain bytes, a slice at a time.
Slot Lowering::streamed_constant(ValueId v, const memory::desc& md, const memory::desc& source_md,
                                 const std::vector<float>& scales) {
  const Value& val = g_.value(v);
  int64_t rows = val.dims.empty() ? 1 : val.dims[0];
  Slot target{new_buffer(md, val.name + " (streamed)", false), md};
  if (source_md == md && scales.empty()) {
    add_stream(v, 0, rows, target);
    return target;
  }
  std::vector<ReorderSlice> slices = reorder_plan(v, source_md, md, scales);
  size_t biggest = 0;
  for (const auto& sl : slices) biggest = std::max(biggest, sl.source.get_size());
  Slot stage = scratch(memory::desc({static_cast<memory::dim>(biggest)}, memory::data_type::u8, memory::format_tag::a),
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

void Lowering::add_weight_reorder(const std::string& name, const Slot& from, const Slot& to,
                                  const std::vector<float>& scales) {
  auto pd = scaled_reorder(engine_, from.md, to.md, scales);
  add_primitive(name, dnnl::reorder(pd), pd, {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}});
  if (options_.prefetch) steps_.back().loader_start = 0;  // the loader reorders what it read
}

void Lowering::add_stream(ValueId v, int64_t first_row, int64_t rows, const Slot& dst) {
  if (!options_.weights) throw Error(ErrorCode::kBadArgument, "streamed weights need a weight source");
  touch(dst);
  streams_ = true;
  Step s;
  s.name = "stream " + g_.value(v).name +
           (first_row || rows != (g_.value(v).dims.empty() ? 1 : g_.value(v).dims[0])
                ? " rows " + std::to_string(first_row) + "+" + std::to_string(rows)
                : "");
  s.impl = "teeinfer:stream";
  s.custom_slots = {dst};
  s.stream = StreamRead{v, first_row, rows};
  if (options_.prefetch) s.loader_start = 0;  // set properly by schedule_loader()
  steps_.push_back(std::move(s));
}

bool Lowering::spills_at(const Node& n) const {
  if (n.op != OpKind::kConv && n.op != OpKind::kPool) return false;
  bool residual = n.op == OpKind::kConv && std::get<ConvParams>(n.params).fused_sum && is_spilled(n.inputs[3]);
  return is_spilled(n.inputs[0]) || residual || is_spilled(n.outputs[0]);
}

int64_t Lowering::spill_band_rows(const Node& n) const {
  auto row_bytes = static_cast<int64_t>(row_floats(g_.value(n.outputs[0]).dims) * sizeof(float));
  return std::max<int64_t>(static_cast<int64_t>(options_.spill_band_bytes) / row_bytes, 1);
}

void Lowering::add_spill(ValueId v, bool seal, int64_t image, int64_t first_row, int64_t rows, const Slot& band) {
  const Dims& d = g_.value(v).dims;  // channels-last {N, C, H, W}: a block is one row of one image
  size_t block_bytes = static_cast<size_t>(row_floats(d)) * sizeof(float);
  auto [it, fresh] = spill_base_.emplace(v, spill_blocks_);
  if (fresh) spill_blocks_ += static_cast<uint64_t>(d[0] * d[2]);
  spill_block_bytes_ = std::max(spill_block_bytes_, block_bytes);
  touch(band);
  Step s;
  s.name = std::string(seal ? "spill " : "unspill ") + g_.value(v).name + " rows " + std::to_string(first_row) + "+" +
           std::to_string(rows) + (d[0] > 1 ? ", image " + std::to_string(image) : "");
  s.impl = seal ? "teeinfer:seal" : "teeinfer:unseal";
  s.custom_slots = {band};
  s.spill = SpillIo{seal, it->second + static_cast<uint64_t>(image * d[2] + first_row), rows, block_bytes};
  steps_.push_back(std::move(s));
}

Slot Lowering::output(ValueId v, const memory::desc& md) {
  Slot s{new_buffer(md, g_.value(v).name, false), md};
  slots_[v] = s;
  ++values_per_buffer_[s.buffer];
  return s;
}

void Lowering::alias_output(ValueId v, const Slot& base, const memory::desc& md) {
  touch(base);
  slots_[v] = Slot{base.buffer, md};
  ++values_per_buffer_[base.buffer];
}

std::optional<Slot> Lowering::reuse_for_output(ValueId donor, ValueId out, const memory::desc& md) {
  auto it = slots_.find(donor);
  if (it == slots_.end() || !(it->second.md == md)) return std::nullopt;
  int b = it->second.buffer;
  bool is_input = std::any_of(inputs_.begin(), inputs_.end(), [&](const auto& i) { return i.first == donor; });
  if (options_.mode == ExecutionMode::kUnmodified || persistent_[b] || values_per_buffer_[b] != 1 || is_input ||
      last_reader_[donor] != current_node_)
    return std::nullopt;
  touch(it->second);
  slots_[out] = Slot{b, md};  // the donor dies here, so the buffer still has one owner
  return slots_[out];
}

Slot Lowering::scratch(const memory::desc& md, const std::string& what) {
  return Slot{new_buffer(md, what, false), md};
}

Slot Lowering::shared_workspace(const memory::desc& md) {
  if (shared_workspace_ < 0) shared_workspace_ = new_buffer(md, "shared workspace", false);
  planner_.grow(shared_workspace_, md.get_size());
  touch(Slot{shared_workspace_, md});
  return Slot{shared_workspace_, md};
}

// Each run of consecutive loader steps may start when the main-thread step before it
// begins (it overlaps that step's compute), so every buffer the run touches is reserved
// from that step on. Safe by construction: a buffer whose bytes the loader's buffers
// reuse has a last use before that step, which has completed when the loader starts.
void Lowering::schedule_loader() {
  int last_main = -1;
  for (size_t i = 0; i < steps_.size(); ++i) {
    Step& s = steps_[i];
    if (s.loader_start < 0) {
      last_main = static_cast<int>(i);
      continue;
    }
    ++loader_steps_;
    s.loader_start = std::max(last_main, 0);
    auto reserve = [&](const Slot& slot) { planner_.extend_lifetime(slot.buffer, s.loader_start); };
    for (const Slot& slot : s.custom_slots) reserve(slot);
    for (const auto& a : s.args) reserve(a.second);
  }
}

void Lowering::add_primitive(const std::string& name, const dnnl::primitive& prim, const dnnl::primitive_desc_base& pd,
                             std::vector<std::pair<int, Slot>> args) {
  // The last defence against oneDNN 2.6's repeated-algorithm bug: every kernel splits its
  // activations with split_post_ops, so this never fires unless one forgot to.
  if (std::string repeated = repeated_eltwise_algorithm(pd.get_primitive_attr().get_post_ops()); !repeated.empty())
    throw Error(ErrorCode::kKernel, "step '" + name + "': its fused post-ops repeat " + repeated +
                                        ", which oneDNN 2.6 computes with the first parameters");
  memory::desc pad = pd.scratchpad_desc();
  if (pad.get_size() > 0) args.emplace_back(DNNL_ARG_SCRATCHPAD, scratch(pad, name + ".scratchpad"));
  for (const auto& a : args) touch(a.second);
  Step s;
  s.name = name;
  s.impl = pd.impl_info_str();
  s.primitive = prim;
  s.args = std::move(args);
  steps_.push_back(std::move(s));
}

void Lowering::add_eltwise_steps(const std::string& name, const PostOps& ops, const Slot& dst) {
  for (const EltwiseParams& e : ops) {
    dnnl::post_ops po;
    append_eltwise(po, e);
    for (int i = 0; i < po.len(); ++i) {
      EltwiseOp op{};
      po.get_params_eltwise(i, op.scale, op.algorithm, op.alpha, op.beta);
      dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_inference, op.algorithm, dst.md, op.alpha, op.beta);
      dnnl::eltwise_forward::primitive_desc pd(d, attr_with({}), engine_);
      add_primitive(name + " then " + eltwise_name(e.kind), dnnl::eltwise_forward(pd), pd,
                    {{DNNL_ARG_SRC, dst}, {DNNL_ARG_DST, dst}});
    }
  }
}

void Lowering::add_custom(const std::string& name, const std::string& impl, CustomKernel kernel,
                          std::vector<Slot> slots) {
  for (const auto& s : slots) touch(s);
  Step s;
  s.name = name;
  s.impl = "teeinfer:" + impl;
  s.custom = std::move(kernel);
  s.custom_slots = std::move(slots);
  steps_.push_back(std::move(s));
}

void Lowering::lower_all(size_t load_scratch_bytes, bool staged) {
  for (ValueId v : g_.inputs) {
    memory::desc md = layout_md(g_.value(v).dims, Layout::kPlain);
    Slot s = output(v, md);
    inputs_.emplace_back(v, s);
  }
  last_reader_.assign(g_.values.size(), -1);
  for (size_t k = 0; k < g_.nodes.size(); ++k)
    for (ValueId v : g_.nodes[k].inputs)
      if (v != kNoValue) last_reader_[v] = static_cast<int>(k);
  for (ValueId v : g_.outputs) last_reader_[v] = INT32_MAX;
  while (static_cast<size_t>(current_node_) < g_.nodes.size()) {
    const Node& n = g_.nodes[static_cast<size_t>(current_node_)];
    try {
      auto fused = options_.fused_bands.find(static_cast<size_t>(current_node_));
      if (fused != options_.fused_bands.end()) {
        lower_band_chain(*this, fused->first, fused->second.first, fused->second.second);
        current_node_ = static_cast<int>(fused->second.first) + 1;
        continue;
      }
      lower_node(*this, n);
      ++current_node_;
    } catch (const dnnl::error& e) {
      throw Error(ErrorCode::kKernel, n.onnx_op + " node '" + n.name + "': oneDNN refused it (" + e.what() + ")");
    }
  }
  // Outputs leave the enclave in plain row-major order.
  for (ValueId v : g_.outputs) outputs_.emplace_back(v, input(v, Layout::kPlain));
  // Everything read at the end, and all constants, stay alive across the whole run. The
  // outputs are read once more after the final step (copied out): that is step `last`.
  int last = current_step();
  for (auto& o : outputs_) planner_.extend_lifetime(o.second.buffer, last);
  for (size_t b = 0; b < persistent_.size(); ++b) {
    if (persistent_[b]) planner_.extend_lifetime(static_cast<int>(b), kLoadStep);
    // Unmodified mode frees nothing: every activation and scratchpad lives to the end.
    if (persistent_[b] || options_.mode == ExecutionMode::kUnmodified)
      planner_.extend_lifetime(static_cast<int>(b), last);
  }
  schedule_loader();
  // Load-phase buffers overlap activations freely: no step runs while weights load.
  size_t staging = 0;
  for (const ConstantLoad& c : loads_)
    if (staged)
      for (const ReorderSlice& sl : c.slices) staging = std::max(staging, sl.source.get_size());
  if (staging) {
    staging_buffer_ = planner_.add_buffer(staging, kLoadStep, kLoadStep);
    buffer_names_.push_back("load staging");
  }
  if (load_scratch_bytes) {  // streamed weights need it at every run too
    load_scratch_buffer_ = planner_.add_buffer(load_scratch_bytes, kLoadStep, streams_ ? last : kLoadStep);
    buffer_names_.push_back("load scratch");
  }
  for (auto& i : inputs_) planner_.extend_lifetime(i.second.buffer, 0);
}

}  // namespace teeinfer
