#include "host/pruning/channel_pruner.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "common/error.h"
#include "host/model_loader.h"
#include "host/onnx_attrs.h"
#include "host/onnx_import.h"
#include "host/onnx_ops.h"
#include "host/onnx_tensor.h"
#include "host/pruning/mean_shift.h"

namespace teeinfer {

namespace {

// What the importer's table says about an op type (kOther for ops it does not convert:
// the model would not import anyway).
PruningRole role_of(const std::string& op_type) {
  const RuntimeOnnxOp* op = find_runtime_onnx_op(op_type);
  return op ? op->pruning_role : PruningRole::kOther;
}

std::string name_of(const onnx::NodeProto& n) {
  return !n.name().empty() ? n.name() : n.output_size() ? n.output(0) : n.op_type();
}

// Node visits one unit's trace may make, and all units' traces together: a model whose
// channels fan out and merge again (Concat of a tensor with itself, repeatedly) has
// exponentially many paths. Real networks need a few hundred per unit (DenseNet-121's
// densest: ~100).
constexpr size_t kMaxTraceSteps = 20000;
constexpr size_t kMaxTotalTraceSteps = 20000000;

struct ModelIndex {
  const onnx::GraphProto& g;
  std::map<std::string, const onnx::TensorProto*> initializers;
  std::map<std::string, const onnx::TensorProto*> constant_nodes;   // a Constant node's output -> its value
  std::map<std::string, std::vector<std::pair<int, int>>> readers;  // value -> (node, input)
  std::set<std::string> graph_outputs;
  std::map<std::string, std::vector<int64_t>> shapes;  // -1: unknown dim

  ModelIndex(const onnx::ModelProto& m, const ChannelSelection& options) : g(m.graph()) {
    for (const auto& t : g.initializer()) initializers[t.name()] = &t;
    for (const auto& n : g.node())
      if (n.op_type() == "Constant" && n.output_size() > 0)
        if (const onnx::TensorProto* t = OnnxAttrs(n).tensor("value")) constant_nodes.emplace(n.output(0), t);
    for (int k = 0; k < g.node_size(); ++k)
      for (int i = 0; i < g.node(k).input_size(); ++i)
        if (!g.node(k).input(i).empty()) readers[g.node(k).input(i)].emplace_back(k, i);
    for (const auto& o : g.output()) graph_outputs.insert(o.name());
    // The dims of every value, for channel counts: from teeinfer's own import, which
    // checks the untrusted model as it goes (ONNX's shape inference crashes on some).
    ImportOptions io;
    io.input_dims = options.input_dims;
    for (const auto& [name, declared] : declared_inputs_of(m))
      if (!io.input_dims.count(name)) io.input_dims[name] = resolve_input_dims(name, declared);
    io.max_memory = options.max_memory;
    io.value_dims = &shapes;
    import_onnx_proto(m, "the model to prune", io);
  }

  const onnx::TensorProto* initializer(const onnx::NodeProto& n, int input) const {
    if (input >= n.input_size() || n.input(input).empty()) return nullptr;
    auto it = initializers.find(n.input(input));
    return it == initializers.end() ? nullptr : it->second;
  }
  // The int64 values of a constant input (an initializer or a Constant node's output).
  std::optional<std::vector<int64_t>> ints(const std::string& value) const {
    const onnx::TensorProto* t = nullptr;
    if (auto it = initializers.find(value); it != initializers.end()) t = it->second;
    if (auto it = constant_nodes.find(value); !t && it != constant_nodes.end()) t = it->second;
    if (!t || t->data_type() != onnx::TensorProto::INT64) return std::nullopt;
    Value v = value_from_tensor_proto(*t, value);
    std::vector<int64_t> out(v.data.size() / sizeof(int64_t));
    std::memcpy(out.data(), v.data.data(), v.data.size());
    return out;
  }
  int64_t dim(const std::string& value, size_t axis) const {
    auto it = shapes.find(value);
    return it == shapes.end() || it->second.size() <= axis ? -1 : it->second[axis];
  }
};

struct Trace {
  std::vector<ChannelReader> readers;
  std::string barrier;  // non-empty: the channels must stay aligned here
  bool crosses_pool = false;
  size_t steps = 0;         // node visits of this unit's trace
  size_t* total = nullptr;  // node visits of all units' traces
};

// Records that input `input` of node `k` (an initializer) holds the unit's channels.
bool read_param(const ModelIndex& ix, int k, int input, ChannelReader r, Trace& tr, const std::string& what) {
  if (!tr.barrier.empty()) return false;  // the first reason stands
  if (!ix.initializer(ix.g.node(k), input)) {
    tr.barrier = what + " is not a constant";
    return false;
  }
  r.tensor = ix.g.node(k).input(input);
  r.node = k;
  r.input = input;
  tr.readers.push_back(r);
  return true;
}

// A constant-mode Pad that pads no batch or channel entries (PyTorch exports some
// average pools as Pad + AveragePool) keeps channel c at channel c.
bool pads_only_spatial(const ModelIndex& ix, const onnx::NodeProto& n) {
  if (OnnxAttrs(n).s("mode", "constant") != "constant" || n.input_size() < 2) return false;
  std::optional<std::vector<int64_t>> pads = ix.ints(n.input(1));
  if (!pads || pads->size() < 4 || pads->size() % 2) return false;
  size_t rank = pads->size() / 2;
  return (*pads)[0] == 0 && (*pads)[1] == 0 && (*pads)[rank] == 0 && (*pads)[rank + 1] == 0;
}

void trace(const ModelIndex& ix, const std::string& value, int64_t offset, Trace& tr, int depth) {
  if (!tr.barrier.empty()) return;
  if (depth > 64) {
    tr.barrier = "the channels pass through too many nodes";
    return;
  }
  if (ix.graph_outputs.count(value)) {
    tr.barrier = "'" + value + "' is a graph output";
    return;
  }
  auto it = ix.readers.find(value);
  if (it == ix.readers.end()) return;
  for (auto [k, input] : it->second) {
    if (++tr.steps > kMaxTraceSteps || ++*tr.total > kMaxTotalTraceSteps) {
      tr.barrier = "the channels reach too many nodes to trace";
      return;
    }
    const onnx::NodeProto& n = ix.g.node(k);
    const std::string& op = n.op_type();
    std::string where = op + " '" + name_of(n) + "'";
    PruningRole role = role_of(op);
    if ((role == PruningRole::kChannelwise || role == PruningRole::kPool) && input == 0) {
      tr.crosses_pool |= role == PruningRole::kPool;
      trace(ix, n.output(0), offset, tr, depth + 1);
    } else if (op == "Pad" && input == 0 && pads_only_spatial(ix, n)) {
      trace(ix, n.output(0), offset, tr, depth + 1);
    } else if (role == PruningRole::kConvLike && input == 0 && OnnxAttrs(n).i("group", 1) == 1) {
      read_param(ix, k, 1, {"", 1, offset, 1}, tr, where + " weight");
    } else if (op == "BatchNormalization" && input == 0) {
      for (int p = 1; p <= 4; ++p) read_param(ix, k, p, {"", 0, offset, 1}, tr, where + " parameter");
      trace(ix, n.output(0), offset, tr, depth + 1);
    } else if (op == "Concat" && OnnxAttrs(n).i("axis", 0) == 1) {
      int64_t before = 0;
      for (int i = 0; i < input && before >= 0; ++i) {
        int64_t c = ix.dim(n.input(i), 1);
        before = c < 0 || c > kMaxDim - before ? -1 : before + c;  // shapes from ONNX: unchecked
      }
      if (before < 0) {
        tr.barrier = where + ": channel counts of its inputs are unknown";
        return;
      }
      trace(ix, n.output(0), offset + before, tr, depth + 1);
    } else if (op == "Flatten" && input == 0 && OnnxAttrs(n).i("axis", 1) == 1 && ix.shapes.count(value) &&
               ix.shapes.at(value).size() >= 2) {
      int64_t block = 1;
      for (size_t a = 2; a < ix.shapes.at(value).size() && block > 0; ++a) {
        int64_t d = ix.shapes.at(value)[a];  // from ONNX shape inference: -1 when unknown
        block = d <= 0 || block > kMaxDim / d ? -1 : block * d;
      }
      if (block <= 0) {
        tr.barrier = where + ": spatial size unknown";
        return;
      }
      for (auto [gk, gi] :
           ix.readers.count(n.output(0)) ? ix.readers.at(n.output(0)) : std::vector<std::pair<int, int>>{}) {
        const onnx::NodeProto& gemm = ix.g.node(gk);
        OnnxAttrs a(gemm);
        if (gemm.op_type() != "Gemm" || gi != 0 || a.i("transA", 0) != 0) {
          tr.barrier = gemm.op_type() + " '" + name_of(gemm) + "' reads a flattened activation";
          return;
        }
        read_param(ix, gk, 1, {"", a.i("transB", 0) ? 1 : 0, offset, block}, tr, "Gemm '" + name_of(gemm) + "' weight");
      }
      if (ix.graph_outputs.count(n.output(0))) tr.barrier = "'" + n.output(0) + "' is a graph output";
    } else {
      tr.barrier = where + " needs the channels aligned";
    }
    if (!tr.barrier.empty()) return;
  }
}

// The values of a float initializer (decoded by the importer's checks).
std::vector<float> floats_of(const onnx::TensorProto& t) {
  Value v = value_from_tensor_proto(t, t.name());
  if (v.dtype != DType::kF32) throw Error(ErrorCode::kUnsupported, "initializer '" + t.name() + "' is not float32");
  std::vector<float> f(v.data.size() / sizeof(float));
  std::memcpy(f.data(), v.data.data(), v.data.size());
  return f;
}

// Removes `indices` (ascending, unique) along `axis` of a float initializer.
void remove_along(onnx::TensorProto& t, int axis, const std::set<int64_t>& indices) {
  std::vector<float> v = floats_of(t);
  if (axis >= t.dims_size())
    throw Error(ErrorCode::kBadModel, "initializer '" + t.name() + "' has no axis " + std::to_string(axis));
  int64_t extent = t.dims(axis), outer = 1, inner = 1;
  for (int a = 0; a < axis; ++a) outer *= t.dims(a);
  for (int a = axis + 1; a < t.dims_size(); ++a) inner *= t.dims(a);
  if (!indices.empty() && *indices.rbegin() >= extent)
    throw Error(ErrorCode::kBadModel, "initializer '" + t.name() + "' is smaller than the channels reaching it");
  std::vector<float> out;
  out.reserve(v.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < extent; ++i)
      if (!indices.count(i)) {
        const float* src = v.data() + (o * extent + i) * inner;
        out.insert(out.end(), src, src + inner);
      }
  t.set_dims(axis, extent - static_cast<int64_t>(indices.size()));
  t.clear_float_data();
  t.set_raw_data(std::string(reinterpret_cast<const char*>(out.data()), out.size() * sizeof(float)));
}

}  // namespace

PruneReport select_channels(const onnx::ModelProto& model, const ChannelSelection& options) {
  ModelIndex ix(model, options);
  PruneReport report;
  size_t trace_steps = 0;
  const auto& g = model.graph();
  for (int k = 0; k < g.node_size(); ++k) {
    const onnx::NodeProto& conv = g.node(k);
    if (conv.op_type() != "Conv" || conv.output_size() < 1) continue;
    auto r = ix.readers.find(conv.output(0));
    if (r == ix.readers.end() || r->second.size() != 1) continue;
    const onnx::NodeProto& bn = g.node(r->second[0].first);
    if (bn.op_type() != "BatchNormalization" || r->second[0].second != 0 || !ix.initializer(bn, 1)) continue;
    UnitPruning u;
    u.conv = name_of(conv);
    u.bn = name_of(bn);
    u.bn_scale = bn.input(1);
    u.channels = ix.initializer(bn, 1)->dims_size() == 1 ? ix.initializer(bn, 1)->dims(0) : -1;
    Trace tr;
    tr.total = &trace_steps;
    if (OnnxAttrs(conv).i("group", 1) != 1) tr.barrier = "the Conv is grouped";
    if (ix.graph_outputs.count(conv.output(0))) tr.barrier = "the Conv's output is a graph output";
    trace(ix, bn.output(0), 0, tr, 0);  // first, so a layer kept whole names the op that needs it
    int bn_k = r->second[0].first;
    read_param(ix, k, 1, {}, tr, "the Conv weight");
    if (conv.input_size() > 2 && !conv.input(2).empty()) read_param(ix, k, 2, {}, tr, "the Conv bias");
    for (int p = 1; p <= 4; ++p) read_param(ix, bn_k, p, {}, tr, "a BatchNormalization parameter");
    u.prunable = tr.barrier.empty() && u.channels > 1;
    u.kept_because = u.channels <= 1 ? "a single channel" : tr.barrier;
    u.readers = std::move(tr.readers);
    u.crosses_pool = tr.crosses_pool;
    report.units.push_back(std::move(u));
  }
  // Groups: one per prunable unit, or per run of them up to a pooling layer (VGG blocks).
  int group = 0;
  for (UnitPruning& u : report.units) {
    if (!u.prunable) continue;
    u.group = group;
    if (options.grouping == Grouping::kLayer || u.crosses_pool) ++group;
  }
  for (int gi = 0; gi <= group; ++gi) {
    std::vector<UnitPruning*> members;
    std::vector<std::vector<float>> gammas;
    std::vector<double> values;
    for (UnitPruning& u : report.units)
      if (u.prunable && u.group == gi) {
        members.push_back(&u);
        gammas.push_back(floats_of(*ix.initializers.at(u.bn_scale)));
        for (float v : gammas.back()) values.push_back(std::fabs(static_cast<double>(v)));
      }
    if (values.empty()) continue;
    double bandwidth = estimate_bandwidth(values, options.quantile);
    if (!(bandwidth > 0)) {  // too few distinct values for the quantile: nothing to cluster
      for (UnitPruning* u : members) u->kept_because = "mean-shift bandwidth 0 (too few channels for the quantile)";
      continue;
    }
    std::vector<double> centres;
    try {
      centres = mean_shift_centres(values, bandwidth);
    } catch (const Error& e) {  // an adversarial distribution: the group stays whole
      for (UnitPruning* u : members) u->kept_because = e.what();
      continue;
    }
    if (centres.empty()) continue;
    double threshold = *std::min_element(centres.begin(), centres.end());
    for (size_t m = 0; m < members.size(); ++m) {
      UnitPruning& u = *members[m];
      u.bandwidth = bandwidth;
      u.threshold = threshold;
      for (int64_t c = 0; c < static_cast<int64_t>(gammas[m].size()); ++c)
        if (std::fabs(static_cast<double>(gammas[m][static_cast<size_t>(c)])) <= threshold) u.removed.push_back(c);
      if (u.removed.size() == gammas[m].size()) {  // keep the strongest channel
        auto best = std::max_element(gammas[m].begin(), gammas[m].end(),
                                     [](float a, float b) { return std::fabs(a) < std::fabs(b); });
        u.removed.erase(std::find(u.removed.begin(), u.removed.end(), best - gammas[m].begin()));
      }
    }
  }
  return report;
}

void remove_channels(onnx::ModelProto& model, const PruneReport& report) {
  // Indices to drop, by where the graph reads the tensor and by axis.
  std::map<std::tuple<std::string, int, int>, std::map<int, std::set<int64_t>>> cuts;
  for (const UnitPruning& u : report.units) {
    if (!u.prunable || u.removed.empty()) continue;
    for (const ChannelReader& r : u.readers)
      for (int64_t c : u.removed)
        for (int64_t j = 0; j < r.block; ++j)
          cuts[{r.tensor, r.node, r.input}][r.axis].insert((c + r.offset) * r.block + j);
  }
  auto* g = model.mutable_graph();
  std::map<std::string, int> readers;  // nodes reading each value
  for (const auto& n : g->node())
    for (const auto& i : n.input()) ++readers[i];
  std::map<std::string, int> by_name;
  for (int i = 0; i < g->initializer_size(); ++i) by_name[g->initializer(i).name()] = i;
  for (const auto& [where, axes] : cuts) {
    const auto& [tensor, node, input] = where;
    auto it = by_name.find(tensor);
    if (it == by_name.end() || node < 0 || node >= g->node_size())
      throw Error(ErrorCode::kBadModel, "initializer '" + tensor + "' vanished");
    onnx::TensorProto* t = g->mutable_initializer(it->second);
    if (readers[tensor] > 1) {  // shared: this node gets its own copy to cut
      onnx::TensorProto* copy = g->add_initializer();
      *copy = *g->mutable_initializer(it->second);
      copy->set_name(tensor + ".pruned_for_node" + std::to_string(node));
      g->mutable_node(node)->set_input(input, copy->name());
      --readers[tensor];
      t = copy;
    }
    for (const auto& [axis, indices] : axes) remove_along(*t, axis, indices);
  }
  g->clear_value_info();  // shapes of pruned activations changed
}

}  // namespace teeinfer
