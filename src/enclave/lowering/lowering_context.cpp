#include "enclave/lowering/lowering_context.h"

#include <algorithm>

#include "common/eltwise_ops.h"
#include "common/error.h"

namespace teeinfer {

using dnnl::memory;

LoweringContext::LoweringContext(PlanBuilder& plan, WeightStreamer& weights, SpillPlan& spills)
    : plan_(plan), weights_(weights), spills_(spills) {}

Layout LoweringContext::activation_layout() const {
  return mode() == ExecutionMode::kUnmodified ? Layout::kPlain : Layout::kChannelsLast;
}

int64_t LoweringContext::conv_band_rows(const Node& n) const {
  const auto& rows = plan_.options().conv_band_rows;
  auto it = rows.find(index_of(n));
  return it == rows.end() ? 0 : it->second;
}

std::string LoweringContext::winograd_impl(const Node& n) const {
  const auto& chosen = plan_.options().winograd;
  auto it = chosen.find(index_of(n));
  if (it == chosen.end() || n.inputs.size() < 2 || weights_.is_streamed(n.inputs[1])) return "";
  return it->second;
}

bool LoweringContext::dilated_phases(const Node& n) const {
  return plan_.options().dilated_phases.count(index_of(n)) && n.inputs.size() >= 2 &&
         !weights_.is_streamed(n.inputs[1]);
}

void LoweringContext::begin_graph() {
  const Graph& g = graph();
  for (ValueId v : g.inputs) {
    // An integer or bool input is bytes to oneDNN (it has no 64-bit integers): only Cast
    // and Reshape read it (validate_graph).
    const Value& val = g.value(v);
    plan_.add_input(v, output(v, val.dtype == DType::kF32 ? layout_md(val.dims, Layout::kPlain) : raw_md(val)));
  }
  last_reader_.assign(g.values.size(), -1);
  for (size_t k = 0; k < g.nodes.size(); ++k)
    for (ValueId v : g.nodes[k].inputs)
      if (v != kNoValue) last_reader_[v] = static_cast<int>(k);
  for (ValueId v : g.outputs) last_reader_[v] = INT32_MAX;
}

Slot LoweringContext::input_as_is(ValueId v) {
  const Value& val = graph().value(v);
  auto it = slots_.find(v);
  if (it == slots_.end()) {
    if (spills_.is_spilled(v))
      throw Error(ErrorCode::kUnsupported, "activation '" + val.name +
                                               "' is spilled but read by a node that cannot "
                                               "read it in bands (node " +
                                               graph().nodes[static_cast<size_t>(current_node_)].name + ")");
    if (spills_.is_written_out(v))
      throw Error(ErrorCode::kUnsupported, "graph output '" + val.name + "' leaves in bands, and node " +
                                               graph().nodes[static_cast<size_t>(current_node_)].name +
                                               " reads it: it must be spilled too, for its readers to read it back");
    if (!val.is_constant) throw Error(ErrorCode::kBadModel, "value '" + val.name + "' is read before it is computed");
    Slot s = constant(v, layout_md(val.dims, Layout::kPlain));
    slots_[v] = s;
    return s;
  }
  plan_.touch(it->second);
  return it->second;
}

Slot LoweringContext::input(ValueId v, Layout layout) {
  Slot s = input_as_is(v);
  if (is_layout(s.md, layout) || s.md.dims().size() < 3) return s;
  const Value& val = graph().value(v);
  memory::desc want = layout_md(val.dims, layout);
  if (same_bytes(s.md, want)) return Slot{s.buffer, want};  // e.g. {N,C,1,1}: no copy needed
  auto key = std::make_pair(v, static_cast<int>(layout));
  if (auto it = converted_.find(key); it != converted_.end()) {
    plan_.touch(it->second);
    return it->second;
  }
  Slot dst{plan_.new_buffer(want, val.name + ".reordered", false), want};
  add_reorder("reorder " + val.name, s, dst, StepKind::kLayout);
  converted_[key] = dst;
  return dst;
}

Slot LoweringContext::output(ValueId v, const memory::desc& md) {
  Slot s{plan_.new_buffer(md, graph().value(v).name, false), md};
  slots_[v] = s;
  ++values_per_buffer_[s.buffer];
  return s;
}

void LoweringContext::alias_output(ValueId v, const Slot& base, const memory::desc& md) {
  plan_.touch(base);
  slots_[v] = Slot{base.buffer, md};
  ++values_per_buffer_[base.buffer];
}

std::optional<Slot> LoweringContext::reuse_for_output(ValueId donor, ValueId out, const memory::desc& md) {
  auto it = slots_.find(donor);
  if (it == slots_.end() || !(it->second.md == md)) return std::nullopt;
  int b = it->second.buffer;
  const auto& inputs = plan_.inputs();
  bool is_input = std::any_of(inputs.begin(), inputs.end(), [&](const auto& i) { return i.first == donor; });
  if (mode() == ExecutionMode::kUnmodified || plan_.is_persistent(b) || values_per_buffer_[b] != 1 || is_input ||
      last_reader_[donor] != current_node_)
    return std::nullopt;
  plan_.touch(it->second);
  slots_[out] = Slot{b, md};  // the donor dies here, so the buffer still has one owner
  return slots_[out];
}

Slot LoweringContext::scratch(const memory::desc& md, const std::string& what) {
  return plan_.scratch(md, what);
}

Slot LoweringContext::shared_workspace(const memory::desc& md) {
  if (shared_workspace_ < 0) shared_workspace_ = plan_.new_buffer(md, "shared workspace", false);
  plan_.grow(shared_workspace_, md.get_size());
  plan_.touch(Slot{shared_workspace_, md});
  return Slot{shared_workspace_, md};
}

Slot LoweringContext::constant(ValueId v, const memory::desc& md, const memory::desc* source_md,
                               std::vector<float> scales) {
  return weights_.constant(v, md, source_md, std::move(scales));
}

Slot LoweringContext::constant_bytes(ValueId v) {
  return weights_.constant_bytes(v);
}

void LoweringContext::add_primitive(const std::string& name, const dnnl::primitive& prim,
                                    const dnnl::primitive_desc_base& pd, std::vector<std::pair<int, Slot>> args,
                                    StepKind kind) {
  plan_.add_primitive(name, prim, pd, std::move(args), kind);
}

void LoweringContext::add_reorder(const std::string& name, const Slot& from, const Slot& to, StepKind kind) {
  auto pd = dnnl::reorder::primitive_desc(engine(), from.md, engine(), to.md);
  add_primitive(name, dnnl::reorder(pd), pd, {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}}, kind);
}

void LoweringContext::add_eltwise_steps(const std::string& name, const PostOps& ops, const Slot& dst) {
  for (const EltwiseParams& e : ops) add_eltwise(name + " then " + eltwise_name(e.kind), e, dst, dst);
}

void LoweringContext::add_eltwise(const std::string& name, const EltwiseParams& e, const Slot& src, const Slot& dst) {
  bool first = true;
  for (const auto& pd : eltwise_primitives(e, src.md, engine())) {
    add_primitive(name, dnnl::eltwise_forward(pd), pd, {{DNNL_ARG_SRC, first ? src : dst}, {DNNL_ARG_DST, dst}});
    first = false;
  }
}

void LoweringContext::add_custom(const std::string& name, const std::string& impl, CustomKernel kernel,
                                 std::vector<Slot> slots) {
  plan_.add_custom(name, impl, std::move(kernel), std::move(slots));
}

void LoweringContext::note_strategy(const Node& n, const std::string& how) {
  plan_.note_strategy(index_of(n), how);
}

}  // namespace teeinfer
