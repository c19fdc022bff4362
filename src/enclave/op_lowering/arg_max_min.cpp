// ArgMax / ArgMin: the int64 index of the largest (smallest) element along an axis.
// Hand-written: oneDNN 2.6 has no arg-reduction (its reduction primitive returns values,
// not indices) and no 64-bit integer type. The input is read in whatever strided layout it
// has (a channels-last segmentation head then scans contiguous channels); only a blocked
// layout is reordered to plain first.
#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "enclave/op_lowering/op_lowering.h"

namespace teeinfer {

using dnnl::memory;

namespace {

// Whether `v` replaces `best` as the extreme so far (numpy's rule, which ONNX's reference
// implementation is: a NaN wins over every number; among equals, the first unless
// select_last_index). ONNX Runtime's CPU kernel differs there: its comparisons (Eigen's
// maxCoeff, or v >= best) pass over a NaN unless it is the first element.
template <bool kMin, bool kLast>
inline bool replaces(float v, float best) {
  const bool nan_wins = v != v && (kLast || best == best);  // (v != v: v is NaN)
  if constexpr (kMin)
    return nan_wins || (kLast ? v <= best : v < best);
  else
    return nan_wins || (kLast ? v >= best : v > best);
}

// The geometry of the scan: the output positions are the input's positions with the axis
// dropped, in row-major order. When the last of them is contiguous in the input (a plain
// layout, the axis not last) `run` of them are scanned together, row by row along the
// axis, so that the reads stream (a segmentation map's classes are a plane apart); an
// odometer over the other dims (`dims`, `strides`: the input's, in elements) finds each run.
struct ArgScan {
  std::vector<int64_t> dims, strides;
  int64_t run = 1;
  int64_t axis_dim = 1, axis_stride = 1, outputs = 1;
};

constexpr int64_t kBlock = 256;  // positions of a run scanned at once (their extremes on the stack)

template <bool kMin, bool kLast>
[[gnu::always_inline]] inline void arg_scan(const ArgScan& s, const float* x, int64_t* y) {
  std::vector<int64_t> at(s.dims.size(), 0);
  int64_t base = 0;
  float best[kBlock];
  for (int64_t o = 0; o < s.outputs; o += s.run) {
    for (int64_t j0 = 0; j0 < s.run; j0 += kBlock) {
      const int64_t n = std::min(kBlock, s.run - j0);
      const float* p = x + base + j0;
      int64_t* index = y + o + j0;
      for (int64_t j = 0; j < n; ++j) best[j] = p[j], index[j] = 0;
      for (int64_t k = 1; k < s.axis_dim; ++k) {
        const float* row = p + k * s.axis_stride;
        for (int64_t j = 0; j < n; ++j) {  // selects, not branches: the loop vectorises
          const bool r = replaces<kMin, kLast>(row[j], best[j]);
          best[j] = r ? row[j] : best[j];
          index[j] = r ? k : index[j];
        }
      }
    }
    for (size_t d = s.dims.size(); d-- > 0;) {  // the next run
      base += s.strides[d];
      if (++at[d] < s.dims[d]) break;
      base -= s.strides[d] * s.dims[d];
      at[d] = 0;
    }
  }
}

// Multiversioned so the scan vectorises for AVX2/AVX-512 without -march flags; one plain
// function per variant because clang cannot multiversion a template (the body is inlined
// into each clone, compiled for that clone's target).
#define TEEINFER_ARG_SCAN(name, min, last)                                                                 \
  __attribute__((target_clones("avx512f", "avx2", "default"))) void name(const ArgScan& s, const float* x, \
                                                                         int64_t* y) {                     \
    arg_scan<min, last>(s, x, y);                                                                          \
  }
TEEINFER_ARG_SCAN(arg_min_first, true, false)
TEEINFER_ARG_SCAN(arg_min_last, true, true)
TEEINFER_ARG_SCAN(arg_max_first, false, false)
TEEINFER_ARG_SCAN(arg_max_last, false, true)
#undef TEEINFER_ARG_SCAN

CustomKernel arg_kernel(ArgScan s, const ArgMaxMinParams& p) {
  using Fn = void (*)(const ArgScan&, const float*, int64_t*);
  Fn fn = p.kind == ArgKind::kMin ? (p.select_last_index ? arg_min_last : arg_min_first)
                                  : (p.select_last_index ? arg_max_last : arg_max_first);
  return [s = std::move(s), fn](const std::vector<void*>& ptr) {
    fn(s, static_cast<const float*>(ptr[0]), static_cast<int64_t*>(ptr[1]));
  };
}

bool strided(const memory::desc& md) {
  return md.data.format_kind == dnnl_blocked && md.data.format_desc.blocking.inner_nblks == 0;
}

}  // namespace

void lower_arg_max_min(LoweringContext& l, const Node& n) {
  const auto& p = std::get<ArgMaxMinParams>(n.params);
  const Value& x = l.graph().value(n.inputs[0]);
  const Value& y = l.graph().value(n.outputs[0]);
  Slot src = l.input_as_is(n.inputs[0]);
  if (!strided(src.md)) src = l.input(n.inputs[0], Layout::kPlain);
  memory::dims strides = strides_of(src.md);
  ArgScan s;
  for (size_t d = 0; d < x.dims.size(); ++d) {
    if (static_cast<int64_t>(d) == p.axis) {
      s.axis_dim = x.dims[d];
      s.axis_stride = strides[d];
    } else {
      s.dims.push_back(x.dims[d]);
      s.strides.push_back(strides[d]);
    }
  }
  if (!s.dims.empty() && s.strides.back() == 1 && s.axis_stride != 1) {
    s.run = s.dims.back();
    s.dims.pop_back();
    s.strides.pop_back();
  }
  s.outputs = element_count(y.dims, y.name);
  Slot dst = l.output(n.outputs[0], raw_md(y));
  l.add_custom(n.name, p.kind == ArgKind::kMin ? "argmin" : "argmax", arg_kernel(std::move(s), p), {src, dst});
}

}  // namespace teeinfer
