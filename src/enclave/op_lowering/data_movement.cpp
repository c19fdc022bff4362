// Slice (and Split), Gather at constant indices, Tile (and Expand): copies of a plain
// tensor's elements. A Slice with positive steps is one oneDNN reorder from a strided view
// of its input; negative steps (and steps oneDNN's strides cannot describe), Gather and
// Tile are hand-written (oneDNN 2.6 has no gather or broadcast-copy primitive, and its
// memory descriptors take no negative strides).
#include <algorithm>
#include <cstring>
#include <optional>

#include "enclave/op_lowering/op_lowering.h"

namespace teeinfer {

using dnnl::memory;

void lower_slice(LoweringContext& l, const Node& n) {
  const auto& p = std::get<SliceParams>(n.params);
  const Dims& x = l.graph().value(n.inputs[0]).dims;
  const Dims& y = l.graph().value(n.outputs[0]).dims;
  Slot src = l.input(n.inputs[0], Layout::kPlain);
  Slot dst = l.output(n.outputs[0], layout_md(y, Layout::kPlain));
  if (y.empty()) {  // a scalar: a copy
    l.add_reorder(n.name, src, dst);
    return;
  }
  Dims xs = plain_strides(x);
  int64_t base = 0;
  bool forward = true;
  for (size_t k = 0; k < x.size(); ++k) {
    base += p.starts[k] * xs[k];
    if (p.steps[k] < 0 && y[k] > 1) forward = false;
  }
  if (forward) {
    memory::dims strides(x.size());
    for (size_t k = 0; k < x.size(); ++k) strides[k] = y[k] > 1 ? p.steps[k] * xs[k] : xs[k];
    // oneDNN refuses strides whose spans interleave (a step longer than the next outer
    // dim's stride), though no two elements meet: those run in the kernel below.
    std::optional<memory::desc> view;
    try {
      view = memory::desc(to_dnnl_dims(y), memory::data_type::f32, strides);
    } catch (const dnnl::error&) {
    }
    if (view) {
      view->data.offset0 = base;
      l.add_reorder(n.name, Slot{src.buffer, *view, src.offset}, dst);
      return;
    }
  }
  auto kernel = [y, xs, p, base](const std::vector<void*>& ptr) {
    const float* in = static_cast<const float*>(ptr[0]);
    float* out = static_cast<float*>(ptr[1]);
    size_t r = y.size();
    int64_t row = y[r - 1], step = p.steps[r - 1] * xs[r - 1];
    int64_t rows = element_count(y, "slice") / row;
    std::vector<int64_t> idx(r, 0);
    for (int64_t q = 0; q < rows; ++q) {
      int64_t at = base;
      for (size_t k = 0; k + 1 < r; ++k) at += idx[k] * p.steps[k] * xs[k];
      for (int64_t i = 0; i < row; ++i) out[q * row + i] = in[at + i * step];
      for (size_t k = r - 1; k-- > 0;) {
        if (++idx[k] < y[k]) break;
        idx[k] = 0;
      }
    }
  };
  l.add_custom(n.name, "slice_strided", kernel, {src, dst});
}

void lower_gather(LoweringContext& l, const Node& n) {
  const auto& p = std::get<GatherParams>(n.params);
  const Dims& x = l.graph().value(n.inputs[0]).dims;
  const Dims& y = l.graph().value(n.outputs[0]).dims;
  Slot src = l.input(n.inputs[0], Layout::kPlain);
  Slot dst = l.output(n.outputs[0], layout_md(y, Layout::kPlain));
  size_t ax = static_cast<size_t>(p.axis);
  int64_t outer = element_count(Dims(x.begin(), x.begin() + p.axis), n.name);
  int64_t inner = element_count(Dims(x.begin() + p.axis + 1, x.end()), n.name);
  int64_t extent = x[ax];
  auto kernel = [outer, inner, extent, indices = p.indices](const std::vector<void*>& ptr) {
    const float* in = static_cast<const float*>(ptr[0]);
    float* out = static_cast<float*>(ptr[1]);
    size_t block = static_cast<size_t>(inner) * sizeof(float);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t k : indices) {
        std::memcpy(out, in + (o * extent + k) * inner, block);
        out += inner;
      }
  };
  l.add_custom(n.name, "gather", kernel, {src, dst});
}

namespace {

// Writes the tile of x's dims [k, rank) at `out` (y's strides), then its repeats along k.
void tile_dims(const float* in, float* out, size_t k, const Dims& xd, const Dims& xs, const Dims& ys,
               const Dims& reps) {
  size_t r = xd.size();
  int64_t block = xd[k] * ys[k];  // elements of one copy of x along dim k, in y
  if (k + 1 == r) {
    std::memcpy(out, in, static_cast<size_t>(xd[k]) * sizeof(float));
  } else {
    for (int64_t i = 0; i < xd[k]; ++i) tile_dims(in + i * xs[k], out + i * ys[k], k + 1, xd, xs, ys, reps);
  }
  // the repeats: double the filled prefix (a few large copies, even for a broadcast of 1)
  int64_t total = block * reps[k];
  for (int64_t filled = block; filled < total;) {
    int64_t n = std::min(filled, total - filled);
    std::memcpy(out + filled, out, static_cast<size_t>(n) * sizeof(float));
    filled += n;
  }
}

}  // namespace

void lower_tile(LoweringContext& l, const Node& n) {
  const auto& p = std::get<TileParams>(n.params);
  const Dims& x = l.graph().value(n.inputs[0]).dims;
  const Dims& y = l.graph().value(n.outputs[0]).dims;
  Slot src = l.input(n.inputs[0], Layout::kPlain);
  Slot dst = l.output(n.outputs[0], layout_md(y, Layout::kPlain));
  Dims xd(y.size() - x.size(), 1);
  xd.insert(xd.end(), x.begin(), x.end());
  if (xd.empty()) xd = {1};
  Dims reps = p.repeats.empty() ? Dims{1} : p.repeats;
  Dims yd = y.empty() ? Dims{1} : y;
  auto kernel = [xd, reps, xs = plain_strides(xd), ys = plain_strides(yd)](const std::vector<void*>& ptr) {
    tile_dims(static_cast<const float*>(ptr[0]), static_cast<float*>(ptr[1]), 0, xd, xs, ys, reps);
  };
  l.add_custom(n.name, "tile", kernel, {src, dst});
}

// Where: y = c != 0 ? x : y, the three broadcast (numpy rules). Hand-written: oneDNN 2.6's
// binary primitive has no select.
void lower_where(LoweringContext& l, const Node& n) {
  const Graph& g = l.graph();
  const Dims& y = g.value(n.outputs[0]).dims;
  std::vector<Slot> slots;
  std::vector<Dims> strides;  // of each input broadcast to y's rank (0 along broadcast dims)
  for (ValueId v : n.inputs) {
    slots.push_back(l.input(v, Layout::kPlain));
    const Dims& d = g.value(v).dims;
    Dims padded(y.size() - d.size(), 1);
    padded.insert(padded.end(), d.begin(), d.end());
    Dims s = plain_strides(padded);
    for (size_t k = 0; k < s.size(); ++k)
      if (padded[k] == 1) s[k] = 0;
    strides.push_back(s);
  }
  slots.push_back(l.output(n.outputs[0], layout_md(y, Layout::kPlain)));
  Dims yd = y.empty() ? Dims{1} : y;
  if (y.empty())
    for (Dims& s : strides) s = {0};
  auto kernel = [yd, strides](const std::vector<void*>& ptr) {
    const float* c = static_cast<const float*>(ptr[0]);
    const float* a = static_cast<const float*>(ptr[1]);
    const float* b = static_cast<const float*>(ptr[2]);
    float* out = static_cast<float*>(ptr[3]);
    size_t r = yd.size();
    int64_t row = yd[r - 1], rows = element_count(yd, "where") / row;
    int64_t sc = strides[0][r - 1], sa = strides[1][r - 1], sb = strides[2][r - 1];
    std::vector<int64_t> idx(r, 0);
    for (int64_t q = 0; q < rows; ++q, out += row) {
      int64_t oc = 0, oa = 0, ob = 0;
      for (size_t k = 0; k + 1 < r; ++k) {
        oc += idx[k] * strides[0][k];
        oa += idx[k] * strides[1][k];
        ob += idx[k] * strides[2][k];
      }
      for (int64_t i = 0; i < row; ++i) out[i] = c[oc + i * sc] != 0.f ? a[oa + i * sa] : b[ob + i * sb];
      for (size_t k = r - 1; k-- > 0;) {
        if (++idx[k] < yd[k]) break;
        idx[k] = 0;
      }
    }
  };
  l.add_custom(n.name, "where", kernel, slots);
}

// DepthToSpace / SpaceToDepth: a 6-D view of the input (its dims split into blocks),
// permuted, read by one oneDNN reorder into the output (whose bytes are that 6-D tensor).
void lower_depth_to_space(LoweringContext& l, const Node& n) {
  const auto& p = std::get<DepthToSpaceParams>(n.params);
  const Dims& x = l.graph().value(n.inputs[0]).dims;
  const Dims& y = l.graph().value(n.outputs[0]).dims;
  int64_t b = p.block, N = x[0], C = x[1], H = x[2], W = x[3];
  Dims split, perm;  // the input as 6 dims, and the order the output reads them in
  if (p.space_to_depth) {
    split = {N, C, H / b, b, W / b, b};
    perm = {0, 3, 5, 1, 2, 4};
  } else if (p.crd) {
    split = {N, C / (b * b), b, b, H, W};
    perm = {0, 1, 4, 2, 5, 3};
  } else {
    split = {N, b, b, C / (b * b), H, W};
    perm = {0, 3, 4, 1, 5, 2};
  }
  Dims ss = plain_strides(split);
  memory::dims dims, strides;
  for (int64_t a : perm) {
    dims.push_back(split[static_cast<size_t>(a)]);
    strides.push_back(ss[static_cast<size_t>(a)]);
  }
  Slot src = l.input(n.inputs[0], Layout::kPlain);
  Slot dst = l.output(n.outputs[0], layout_md(y, Layout::kPlain));
  memory::desc view(dims, memory::data_type::f32, strides);
  memory::desc out6(dims, memory::data_type::f32, plain_strides(dims));
  l.add_reorder(n.name, Slot{src.buffer, view, src.offset}, Slot{dst.buffer, out6, dst.offset});
}

}  // namespace teeinfer
