#include "enclave/lowering/conv_algorithm.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <optional>
#include <sstream>
#include <unordered_map>

#include "enclave/lowering/descriptors.h"
#include "enclave/lowering/post_ops.h"
#include "enclave/op_lowering/conv_descriptors.h"
#include "enclave/op_lowering/conv_winograd.h"

namespace teeinfer {

using dnnl::memory;

namespace {

// What decides a convolution's timings: shapes, window, bias, fused ops, threads.
std::string measurement_key(const Graph& g, const Node& n) {
  const auto& p = std::get<ConvParams>(n.params);
  ConvShapes s = conv_shapes(g, n);
  std::ostringstream k;
  k << dims_to_string(s.x) << dims_to_string(s.w) << dims_to_string(s.y) << dims_to_string(p.pads_begin)
    << dims_to_string(p.pads_end) << s.has_bias << p.fused_sum << omp_get_max_threads();
  for (const EltwiseParams& e : p.post_ops) k << '/' << static_cast<int>(e.kind) << ',' << e.alpha << ',' << e.beta;
  return k.str();
}

// A buffer for md, filled with a small constant (not left uninitialised: denormals or
// NaNs in garbage would change the timings).
dnnl::memory dummy(const dnnl::engine& engine, const memory::desc& md) {
  dnnl::memory m(md, engine);
  if (md.data_type() == memory::data_type::f32 && md.data.format_kind == dnnl_blocked) {
    auto* f = static_cast<float*>(m.get_data_handle());
    std::fill(f, f + md.get_size() / sizeof(float), 0.01f);
  } else {
    std::memset(m.get_data_handle(), 0, md.get_size());
  }
  return m;
}

struct Timed {
  dnnl::primitive prim;
  std::unordered_map<int, dnnl::memory> args;
};

using Clock = std::function<uint64_t()>;

// The least of three runs after one warm-up, in ns.
uint64_t time_steps(const dnnl::engine& engine, std::vector<Timed>& steps, const Clock& clock) {
  dnnl::stream stream(engine);
  uint64_t best = UINT64_MAX;
  for (int run = 0; run < 4; ++run) {
    uint64_t t0 = clock();
    for (Timed& s : steps) s.prim.execute(stream, s.args);
    stream.wait();
    uint64_t ns = clock() - t0;
    if (run > 0) best = std::min(best, ns);
  }
  return best;
}

Timed conv_step(const dnnl::engine& engine, const dnnl::convolution_forward::primitive_desc& pd,
                const dnnl::memory& src, const dnnl::memory& dst, bool has_bias) {
  Timed t{dnnl::convolution_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}}};
  t.args.emplace(DNNL_ARG_WEIGHTS, dummy(engine, pd.weights_desc()));
  if (has_bias) t.args.emplace(DNNL_ARG_BIAS, dummy(engine, pd.bias_desc()));
  if (pd.scratchpad_desc().get_size()) t.args.emplace(DNNL_ARG_SCRATCHPAD, dummy(engine, pd.scratchpad_desc()));
  return t;
}

Timed reorder_step(const dnnl::memory& from, const dnnl::memory& to) {
  return {dnnl::reorder(from, to), {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}}};
}

// Activations a conv could not fuse, in place on `y` (LoweringContext::add_eltwise_steps).
void add_activation_steps(const dnnl::engine& engine, const PostOps& ops, const dnnl::memory& y,
                          std::vector<Timed>& steps) {
  for (const EltwiseParams& e : ops)
    for (const auto& pd : eltwise_primitives(e, y.get_desc(), engine)) {
      Timed t{dnnl::eltwise_forward(pd), {{DNNL_ARG_SRC, y}, {DNNL_ARG_DST, y}}};
      if (pd.scratchpad_desc().get_size()) t.args.emplace(DNNL_ARG_SCRATCHPAD, dummy(engine, pd.scratchpad_desc()));
      steps.push_back(std::move(t));
    }
}

// The direct conv as lower_conv_whole runs it: channels-last, then what it did not fuse.
uint64_t time_direct(const dnnl::engine& engine, const Graph& g, const Node& n, const Clock& clock) {
  const auto& p = std::get<ConvParams>(n.params);
  ConvShapes s = conv_shapes(g, n);
  auto pd = conv_pd(engine, s, p, layout_md(s.x, Layout::kChannelsLast), any_weights(s, p),
                    layout_md(s.y, Layout::kChannelsLast), p.pads_begin, p.pads_end);
  dnnl::memory y = dummy(engine, pd.dst_desc());
  std::vector<Timed> steps{conv_step(engine, pd, dummy(engine, pd.src_desc()), y, s.has_bias)};
  add_activation_steps(engine, split_post_ops(p.post_ops).rest, y, steps);
  return time_steps(engine, steps, clock);
}

// The Winograd conv as lower_conv_winograd runs it: reorders in, the conv, reorder out.
uint64_t time_winograd(const dnnl::engine& engine, const Graph& g, const Node& n,
                       const dnnl::convolution_forward::primitive_desc& pd, const PostOps& after, const Clock& clock) {
  const auto& p = std::get<ConvParams>(n.params);
  ConvShapes s = conv_shapes(g, n);
  dnnl::memory x = dummy(engine, layout_md(s.x, Layout::kChannelsLast));
  dnnl::memory y = dummy(engine, layout_md(s.y, Layout::kChannelsLast));
  dnnl::memory bx = dummy(engine, pd.src_desc()), by = dummy(engine, pd.dst_desc());
  std::vector<Timed> steps{reorder_step(x, bx)};
  if (p.fused_sum) steps.push_back(reorder_step(y, by));
  steps.push_back(conv_step(engine, pd, bx, by, s.has_bias));
  steps.push_back(reorder_step(by, y));
  add_activation_steps(engine, after, y, steps);
  return time_steps(engine, steps, clock);
}

// The buffers timing a Winograd conv takes: activations in both layouts, its weights and
// scratchpad (the direct conv's are smaller).
size_t measurement_bytes(const Graph& g, const Node& n, const dnnl::convolution_forward::primitive_desc& pd) {
  ConvShapes s = conv_shapes(g, n);
  return layout_md(s.x, Layout::kChannelsLast).get_size() + layout_md(s.y, Layout::kChannelsLast).get_size() +
         pd.src_desc().get_size() + pd.dst_desc().get_size() + pd.weights_desc().get_size() +
         pd.scratchpad_desc().get_size();
}

// The fastest Winograd implementation when it pays, else nothing. A convolution whose
// measurement would take more than kMaxMeasurementBytes of plain memory (the arena does
// not exist yet, and a hostile model may declare huge activations) is not measured: direct.
std::optional<std::string> measure(const dnnl::engine& engine, const Graph& g, const Node& n, const Clock& clock) {
  WinogradKernels kernels = winograd_kernels(engine, g, n, std::get<ConvParams>(n.params));
  if (kernels.pds.empty()) return std::nullopt;
  for (const auto& pd : kernels.pds)
    if (measurement_bytes(g, n, pd) > kMaxMeasurementBytes) return std::nullopt;
  double best_ns = static_cast<double>(time_direct(engine, g, n, clock)) * kWinogradGain;
  std::optional<std::string> best;
  for (const auto& pd : kernels.pds)
    if (auto ns = static_cast<double>(time_winograd(engine, g, n, pd, kernels.after, clock)); ns <= best_ns) {
      best_ns = ns;
      best = pd.impl_info_str();
    }
  return best;
}

std::mutex measured_mutex;
std::map<std::string, std::optional<std::string>> measured;  // by measurement_key

}  // namespace

size_t winograd_measurements() {
  std::lock_guard lock(measured_mutex);
  return measured.size();
}

std::map<size_t, std::string> choose_winograd(const Graph& g, const dnnl::engine& engine, WinogradPolicy policy,
                                              const Clock& clock, size_t budget_bytes) {
  std::map<size_t, std::string> out;
  if (policy == WinogradPolicy::kNever || (policy == WinogradPolicy::kMeasured && !clock)) return out;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (!winograd_eligible(g, n)) continue;
    const Value& w = g.value(n.inputs[1]);
    if (budget_bytes && 2 * byte_size(w.dtype, w.dims, w.name) > budget_bytes) continue;
    if (policy == WinogradPolicy::kWherePossible) {
      auto kernels = winograd_kernels(engine, g, n, std::get<ConvParams>(n.params));
      if (!kernels.pds.empty()) out[i] = kernels.pds.front().impl_info_str();
      continue;
    }
    std::string key = measurement_key(g, n);
    std::lock_guard lock(measured_mutex);
    auto it = measured.find(key);
    if (it == measured.end()) it = measured.emplace(key, measure(engine, g, n, clock)).first;
    if (it->second) out[i] = *it->second;
  }
  return out;
}

bool winograd_kernels_exist() {
  static const bool exist = [] {
    using dnnl::memory;
    dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    auto any = [](memory::dims d) { return memory::desc(d, memory::data_type::f32, memory::format_tag::any); };
    try {
      dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_winograd,
                                        any({1, 16, 16, 16}), any({16, 16, 3, 3}), any({1, 16, 16, 16}), {1, 1}, {1, 1},
                                        {1, 1});
      dnnl::convolution_forward::primitive_desc pd(d, engine);
      return true;
    } catch (const dnnl::error&) {
      return false;
    }
  }();
  return exist;
}

}  // namespace teeinfer
