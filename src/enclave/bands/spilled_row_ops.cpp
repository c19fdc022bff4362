// Concat (along channels), a same-shape Binary, a oneDNN element-wise function and a
// Resize that keeps N and C, next to a spilled activation (LoweringOptions::spilled) or
// making a graph output written out in bands, run in bands of output rows
// (analysis/banded_ops.h). Per band: the rows each input needs are unsealed from host
// memory into a band buffer, or viewed in place when the input is in the arena; the band
// is computed; its rows are sealed out when the output is spilled, copied to the host
// when it is written out. A Concat, Binary or element-wise band reads the same rows of
// every input; a Resize band reads the input rows its row
// taps name (for a 2x linear upsampling, about half the band plus one row each side).
// So of a spilled activation only one band is ever in the arena, as for Conv/Pool
// (bands/spilled_bands.cpp).
#include <algorithm>
#include <functional>
#include <map>
#include <memory>

#include "common/error.h"
#include "enclave/analysis/banded_ops.h"
#include "enclave/bands/band_lowering.h"
#include "enclave/op_lowering/op_lowering.h"
#include "enclave/op_lowering/resize_taps.h"

namespace teeinfer {

using dnnl::memory;

namespace {

struct Rows {
  int64_t first, count;
};

// One output band: its rows, and the rows of each input it reads.
struct RowBand {
  Rows out;
  std::vector<Rows> in;
};

// How a node computes a band: the input rows it reads, and the steps that compute it
// from `srcs` (each input's rows, as `in` says) into `dst` (the band's output rows).
struct BandedNode {
  std::function<Rows(size_t input, Rows out)> reads;
  std::function<void(const std::vector<Slot>& srcs, const Slot& dst, const RowBand& band, const std::string& label)>
      add_band;
};

// Bands of at most `rows` rows covering `height`, as even as they can be (see split_bands).
std::vector<Rows> even_bands(int64_t height, int64_t rows) {
  const int64_t count = (height + rows - 1) / rows, base = height / count, longer = height % count;
  std::vector<Rows> out;
  for (int64_t i = 0, first = 0; i < count; ++i) {
    int64_t n = base + (i < longer ? 1 : 0);
    out.push_back({first, n});
    first += n;
  }
  return out;
}

std::string rows_label(const RowBand& b, const std::string& label) {
  return " (rows " + std::to_string(b.out.first) + "+" + std::to_string(b.out.count) + label + ")";
}

void lower_in_bands(LoweringContext& l, const Node& n, const BandedNode& how) {
  const Graph& g = l.graph();
  const ValueId y = n.outputs[0];
  const Dims& yd = g.value(y).dims;
  std::vector<RowBand> bands;
  for (Rows out : even_bands(yd[2], l.spills().band_rows(n))) {
    RowBand b{out, {}};
    for (size_t i = 0; i < n.inputs.size(); ++i) b.in.push_back(how.reads(i, out));
    bands.push_back(std::move(b));
  }
  // As Conv/Pool say it ("spilled: input output"), then which values.
  std::string names;
  bool input_spilled = false;
  for (ValueId v : n.inputs)
    if (l.spills().is_spilled(v)) {
      input_spilled = true;
      names += (names.empty() ? "" : ", ") + g.value(v).name;
    }
  if (l.spills().is_spilled(y)) names += (names.empty() ? "" : ", ") + g.value(y).name;
  std::string strategy = "bands of " + std::to_string(bands.front().out.count) + " rows";
  if (!names.empty())
    strategy += std::string("; spilled:") + (input_spilled ? " input" : "") +
                (l.spills().is_spilled(y) ? " output" : "") + " (" + names + ")";
  if (l.spills().is_written_out(y)) strategy += "; output written out";
  l.note_strategy(n, strategy);

  // Each input: the whole tensor in the arena, or a band buffer for its largest band; a
  // Binary's operand that broadcasts over rows is read whole by every band, as {1,C,1,1}.
  // A plain input (a graph input is NCHW) is not converted whole: each band's rows are
  // reordered into a channels-last band buffer.
  std::vector<Slot> whole(n.inputs.size()), band_buffer(n.inputs.size());
  std::vector<bool> broadcast(n.inputs.size(), false), plain(n.inputs.size(), false);
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    const Dims& xd = g.value(n.inputs[i]).dims;
    broadcast[i] = !reads_in_bands(g, n, i);
    if (broadcast[i]) {
      Slot s = l.input_as_is(n.inputs[i]);
      const int64_t channels = xd.size() >= 3 ? xd[xd.size() - 3] : 1;
      whole[i] =
          Slot{s.buffer, memory::desc({1, channels, 1, 1}, memory::data_type::f32, memory::format_tag::abcd), s.offset};
      continue;
    }
    if (!l.spills().is_spilled(n.inputs[i])) {
      Slot as_is = l.input_as_is(n.inputs[i]);
      plain[i] = is_layout(as_is.md, Layout::kPlain) && !same_bytes(as_is.md, layout_md(xd, Layout::kChannelsLast));
      if (!plain[i]) {
        whole[i] = l.input(n.inputs[i], Layout::kChannelsLast);
        continue;
      }
      whole[i] = as_is;
    }
    int64_t rows = 0;
    for (const RowBand& b : bands) rows = std::max(rows, b.in[i].count);
    band_buffer[i] = l.scratch(slab_md(xd, rows), g.value(n.inputs[i]).name + " (unspilled band)");
  }
  Slot out_whole, out_band;
  if (l.spills().leaves_in_bands(y))
    out_band = l.scratch(slab_md(yd, bands.front().out.count), g.value(y).name + " (band out)");
  else
    out_whole = l.output(y, layout_md(yd, Layout::kChannelsLast));

  for (int64_t img = 0; img < yd[0]; ++img)
    for (const RowBand& b : bands) {
      std::string label = yd[0] > 1 ? ", image " + std::to_string(img) : "";
      std::vector<Slot> srcs;
      for (size_t i = 0; i < n.inputs.size(); ++i) {
        if (broadcast[i]) {
          srcs.push_back(whole[i]);
          continue;
        }
        const Dims& xd = g.value(n.inputs[i]).dims;
        memory::desc md = slab_md(xd, b.in[i].count);
        if (l.spills().is_spilled(n.inputs[i])) {
          srcs.push_back(view_at(band_buffer[i], md, 0));
          l.spills().add_spill(n.inputs[i], false, img, b.in[i].first, b.in[i].count, srcs.back());
        } else if (plain[i]) {
          srcs.push_back(view_at(band_buffer[i], md, 0));
          l.add_reorder(n.name + " (input rows " + std::to_string(b.in[i].first) + "+" + std::to_string(b.in[i].count) +
                            label + " to channels-last)",
                        plain_rows_at(whole[i], xd, img, b.in[i].first, b.in[i].count), srcs.back(), StepKind::kLayout);
        } else {
          srcs.push_back(view_at(whole[i], md, (img * xd[2] + b.in[i].first) * row_floats(xd)));
        }
      }
      memory::desc out_md = slab_md(yd, b.out.count);
      Slot dst = l.spills().leaves_in_bands(y)
                     ? view_at(out_band, out_md, 0)
                     : view_at(out_whole, out_md, (img * yd[2] + b.out.first) * row_floats(yd));
      how.add_band(srcs, dst, b, label);
      if (l.spills().leaves_in_bands(y)) l.spills().add_band_out(y, img, b.out.first, b.out.count, dst);
    }
}

BandedNode banded_concat(LoweringContext& l, const Node& n) {
  std::vector<int64_t> channels;
  for (ValueId v : n.inputs) channels.push_back(l.graph().value(v).dims[1]);
  const int64_t width = l.graph().value(n.outputs[0]).dims[3];
  return {[](size_t, Rows out) { return out; },
          [&l, &n, channels, width](const std::vector<Slot>& srcs, const Slot& dst, const RowBand& b,
                                    const std::string& label) {
            std::vector<Slot> slots = srcs;
            slots.push_back(dst);
            l.add_custom(n.name + rows_label(b, label), "concat_channels_last",
                         concat_channels_last_kernel(channels, b.out.count * width), slots);
          }};
}

BandedNode banded_binary(LoweringContext& l, const Node& n) {
  auto alg = onednn_binary_algorithm(std::get<BinaryParams>(n.params).kind);
  // One primitive per band height (bands differ by at most one row).
  auto primitives = std::make_shared<std::map<int64_t, dnnl::binary::primitive_desc>>();
  return {[](size_t, Rows out) { return out; },
          [&l, &n, alg, primitives](const std::vector<Slot>& srcs, const Slot& dst, const RowBand& b,
                                    const std::string& label) {
            auto it = primitives->find(b.out.count);
            if (it == primitives->end()) {
              dnnl::binary::desc d(alg, srcs[0].md, srcs[1].md, dst.md);
              it = primitives->emplace(b.out.count, dnnl::binary::primitive_desc(d, attr_with({}), l.engine())).first;
            }
            l.add_primitive(n.name + rows_label(b, label), dnnl::binary(it->second), it->second,
                            {{DNNL_ARG_SRC_0, srcs[0]}, {DNNL_ARG_SRC_1, srcs[1]}, {DNNL_ARG_DST, dst}});
          }};
}

// A oneDNN element-wise function (Sigmoid, Relu, ...) of a band: its own rows, in place of
// the whole tensor's steps (op_lowering/eltwise.cpp) over the same channels-last rows.
BandedNode banded_eltwise(LoweringContext& l, const Node& n) {
  const auto& p = std::get<EltwiseParams>(n.params);
  return {[](size_t, Rows out) { return out; },
          [&l, &n, p](const std::vector<Slot>& srcs, const Slot& dst, const RowBand& b, const std::string& label) {
            l.add_eltwise(n.name + rows_label(b, label), p, srcs[0], dst);
          }};
}

// The rows and the W pass of a Resize band run the same separable passes as the whole
// kernel (resize.cpp: H, then W), in channels-last order: the H pass over [rows][W*C],
// the W pass over [rows][W][C].
BandedNode banded_resize(LoweringContext& l, const Node& n) {
  const auto& p = std::get<ResizeParams>(n.params);
  const Dims &x = l.graph().value(n.inputs[0]).dims, &y = l.graph().value(n.outputs[0]).dims;
  auto rows = std::make_shared<DimTaps>(dim_taps(p, 2, x[2], y[2]));
  auto cols = std::make_shared<DimTaps>(dim_taps(p, 3, x[3], y[3]));
  const bool resize_rows = !is_identity(*rows, x[2]), resize_cols = !is_identity(*cols, x[3]);
  auto reads = [rows](size_t, Rows out) {
    int64_t first = INT64_MAX, last = -1;
    for (int64_t o = out.first; o < out.first + out.count; ++o)
      for (const Tap& t : (*rows)[static_cast<size_t>(o)]) {
        first = std::min(first, t.index);
        last = std::max(last, t.index);
      }
    if (last < 0) return Rows{0, 1};  // every row is the extrapolation value: read any one
    return Rows{first, last - first + 1};
  };
  auto add_band = [&l, &n, x, rows, cols, resize_rows, resize_cols, extrapolation = p.extrapolation_value](
                      const std::vector<Slot>& srcs, const Slot& dst, const RowBand& b, const std::string& label) {
    std::string name = n.name + rows_label(b, label);
    if (!resize_rows && !resize_cols) return l.add_reorder(name, srcs[0], dst);
    // This band's row taps, as indices into the rows read.
    DimTaps band_rows;
    for (int64_t o = b.out.first; o < b.out.first + b.out.count; ++o) {
      band_rows.push_back((*rows)[static_cast<size_t>(o)]);
      for (Tap& t : band_rows.back()) t.index -= b.in[0].first;
    }
    const int64_t channels = x[1], in_rows = b.in[0].count;
    std::vector<Slot> slots{srcs[0], dst};
    if (resize_rows && resize_cols)
      slots.push_back(l.scratch(slab_md(Dims{1, x[1], b.out.count, x[3]}, b.out.count), n.name + " (rows resized)"));
    auto kernel = [band_rows = std::move(band_rows), cols, resize_rows, resize_cols, in_rows, out_rows = b.out.count,
                   in_w = x[3], channels, extrapolation](const std::vector<void*>& ptr) {
      const auto* src = static_cast<const float*>(ptr[0]);
      auto* dst = static_cast<float*>(ptr[1]);
      float* mid = resize_cols && resize_rows ? static_cast<float*>(ptr[2]) : dst;
      if (resize_rows) resize_pass(src, mid, 1, in_rows, in_w * channels, band_rows, extrapolation);
      if (resize_cols) resize_pass(resize_rows ? mid : src, dst, out_rows, in_w, channels, *cols, extrapolation);
    };
    l.add_custom(name, "resize_separable_band", kernel, slots);
  };
  return {reads, add_band};
}

}  // namespace

void lower_spilled_row_op(LoweringContext& l, const Node& n) {
  const Graph& g = l.graph();
  if (is_banded_reduce(g, n)) return lower_banded_reduce(l, n);
  if (is_banded_resize(g, n)) return lower_in_bands(l, n, banded_resize(l, n));
  if (is_row_aligned(g, n) && n.op == OpKind::kConcat) return lower_in_bands(l, n, banded_concat(l, n));
  if (is_row_aligned(g, n) && n.op == OpKind::kBinary) return lower_in_bands(l, n, banded_binary(l, n));
  if (is_row_aligned(g, n) && n.op == OpKind::kEltwise) return lower_in_bands(l, n, banded_eltwise(l, n));
  throw Error(ErrorCode::kUnsupported,
              n.onnx_op + " node '" + n.name + "' cannot run in bands next to a spilled activation");
}

}  // namespace teeinfer
