// oneDNN's direct and Winograd convolutions on the 3x3 stride-1 layers of VGG-16 and
// ResNet, as teeinfer lowers them: direct on channels-last activations; Winograd with the
// reorders into and out of its blocked layout; and the one-off weight transform (plain
// OIHW into each kernel's layout). Medians of 5 runs after one warm-up, 1 thread unless
// OMP_NUM_THREADS says otherwise. The table in docs/architecture.md ("Winograd
// convolutions") comes from:
//
//   OMP_NUM_THREADS=1 build/bench/bench_conv_algorithms
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <dnnl.hpp>
#include <vector>

using dnnl::memory;
using tag = memory::format_tag;

namespace {

template <class F>
double median_ms(F&& f) {
  f();
  std::vector<double> t;
  for (int i = 0; i < 5; ++i) {
    auto a = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return t[2];
}

memory filled(const memory::desc& md, const dnnl::engine& e) {
  memory m(md, e);
  std::memset(m.get_data_handle(), 0, md.get_size());
  return m;
}

struct Result {
  double conv_ms, total_ms, transform_ms, weight_ratio;
  std::string impl;
};

Result measure(const dnnl::engine& e, dnnl::stream& s, int c, int k, int hw, dnnl::algorithm alg) {
  memory::dims src{1, c, hw, hw}, wei{k, c, 3, 3}, bia{k}, dst{1, k, hw, hw};
  const bool direct = alg == dnnl::algorithm::convolution_direct;
  auto act = [&](const memory::dims& d) {
    return memory::desc(d, memory::data_type::f32, direct ? tag::nhwc : tag::any);
  };
  dnnl::convolution_forward::desc d(
      dnnl::prop_kind::forward_inference, alg, act(src), memory::desc(wei, memory::data_type::f32, tag::any),
      memory::desc(bia, memory::data_type::f32, tag::a), act(dst), {1, 1}, {1, 1}, {1, 1});
  dnnl::primitive_attr attr;
  dnnl::post_ops po;
  po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
  attr.set_post_ops(po);
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::convolution_forward::primitive_desc pd(d, attr, e);
  memory x = filled(memory::desc(src, memory::data_type::f32, tag::nhwc), e);
  memory y = filled(memory::desc(dst, memory::data_type::f32, tag::nhwc), e);
  memory plain = filled(memory::desc(wei, memory::data_type::f32, tag::oihw), e);
  memory bx = filled(pd.src_desc(), e), by = filled(pd.dst_desc(), e), w = filled(pd.weights_desc(), e);
  memory b = filled(pd.bias_desc(), e), pad = filled(pd.scratchpad_desc(), e);
  dnnl::convolution_forward conv(pd);
  auto run_conv = [&] {
    conv.execute(s, {{DNNL_ARG_SRC, direct ? x : bx},
                     {DNNL_ARG_WEIGHTS, w},
                     {DNNL_ARG_BIAS, b},
                     {DNNL_ARG_DST, direct ? y : by},
                     {DNNL_ARG_SCRATCHPAD, pad}});
    s.wait();
  };
  dnnl::reorder in(x, bx), out(by, y), transform(plain, w);
  Result r;
  r.conv_ms = median_ms(run_conv);
  r.total_ms = direct ? r.conv_ms : median_ms([&] {
    in.execute(s, x, bx);
    run_conv();
    out.execute(s, by, y);
    s.wait();
  });
  r.transform_ms = median_ms([&] {
    transform.execute(s, plain, w);
    s.wait();
  });
  r.weight_ratio = static_cast<double>(pd.weights_desc().get_size()) / (static_cast<double>(k) * c * 9 * 4);
  r.impl = pd.impl_info_str();
  return r;
}

}  // namespace

int main() {
  dnnl::engine e(dnnl::engine::kind::cpu, 0);
  dnnl::stream s(e);
  const int shapes[][3] = {{64, 64, 224},  {64, 128, 112}, {128, 128, 112}, {128, 256, 56},
                           {256, 256, 56}, {256, 512, 28}, {512, 512, 28},  {512, 512, 14},
                           {64, 64, 56},   {128, 128, 28}, {256, 256, 14},  {512, 512, 7}};
  std::printf(
      "| conv (batch 1) | direct ms | Winograd + reorders ms | ratio | kernel | weight transform ms | "
      "weights x |\n|---|---:|---:|---:|---|---:|---:|\n");
  for (const auto& sh : shapes) {
    Result d = measure(e, s, sh[0], sh[1], sh[2], dnnl::algorithm::convolution_direct);
    try {
      Result w = measure(e, s, sh[0], sh[1], sh[2], dnnl::algorithm::convolution_winograd);
      std::printf("| %d→%d @%d² | %.2f | %.2f | %.2f | %s | %.1f | %.1f |\n", sh[0], sh[1], sh[2], d.total_ms,
                  w.total_ms, w.total_ms / d.total_ms, w.impl.c_str(), w.transform_ms, w.weight_ratio);
    } catch (const dnnl::error&) {
      std::printf("| %d→%d @%d² | %.2f | - | - | none | - | - |\n", sh[0], sh[1], sh[2], d.total_ms);
    }
    std::fflush(stdout);
  }
}
