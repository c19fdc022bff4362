// oneDNN memory descriptors of IR tensors: the two activation layouts, strides, conv/pool
// windows, and (scaled) reorders between descriptors.
//
// Layout rule (measured: oneDNN's brgconv is fastest channels-last, where a band of rows is
// one contiguous slab): activations of 3-D..5-D tensors stay channels-last between conv/pool
// layers; ops that depend on element order (Reshape, Transpose, Gemm/MatMul, Softmax over
// flattened dims) ask for plain row-major, and the lowering context inserts one reorder per
// value and layout when needed.
#pragma once

#include <dnnl.hpp>
#include <vector>

#include "common/graph.h"

namespace teeinfer {

enum class Layout { kPlain, kChannelsLast };

dnnl::memory::dims to_dnnl_dims(const Dims& d);
// Row-major strides of dims d, in elements.
dnnl::memory::dims plain_strides(const dnnl::memory::dims& d);
dnnl::memory::desc layout_md(const Dims& dims, Layout layout);
// A tensor of another dtype than float32 (an integer graph input, ArgMaxMin's int64
// output) as oneDNN sees it: its bytes (oneDNN has no 64-bit integers).
dnnl::memory::desc raw_md(const Value& v);
bool is_layout(const dnnl::memory::desc& md, Layout layout);
// Strides of a strided (non-blocked) md, in elements.
dnnl::memory::dims strides_of(const dnnl::memory::desc& md);
// True when two strided descriptors address every element at the same offset (strides may
// differ only along dims of extent 1).
bool same_bytes(const dnnl::memory::desc& a, const dnnl::memory::desc& b);

// A conv/pool window in oneDNN's terms (dilation counts the gaps: ONNX d -> d - 1).
struct DnnlWindow {
  dnnl::memory::dims strides, dilations, pads_begin, pads_end;
};
DnnlWindow dnnl_window(const Dims& strides, const Dims& dilations, const Dims& pads_begin, const Dims& pads_end);

// A reorder from `from` to `to`, multiplying by `scales` (one per index of the leading
// dims whose product is scales.size(); empty: none).
dnnl::reorder::primitive_desc scaled_reorder(const dnnl::engine& engine, const dnnl::memory::desc& from,
                                             const dnnl::memory::desc& to, const std::vector<float>& scales);
// The scales of rows [first, first + count).
std::vector<float> scale_rows(const std::vector<float>& scales, int64_t first, int64_t count);

}  // namespace teeinfer
