// Mean-shift channel pruning on an ONNX model (Xu & Lai, 2021, after Network Slimming).
//
// A *unit* is a Conv (group 1) whose only reader is a BatchNormalization: its output
// channels are scaled by the BN's γ. The channels of each group of units (one unit, or a
// VGG block: the units up to a pooling layer) are clustered by |γ| with 1-D mean-shift
// (bandwidth from a quantile of nearest-neighbour distances, bin seeding); channels with
// |γ| at or below the lowest cluster centre are removed (at least one channel per unit
// stays). Removal is structural: the Conv's filters and bias, the BN's four vectors, and
// wherever the channels flow, through activations, pools, Concat (at the right offset),
// BatchNorm, to every reading Conv's input channels and a Flatten + Gemm's columns.
// A unit whose channels reach a tensor they must stay aligned with (an Add, a Mul, a graph
// output, a grouped Conv, an op not listed) is kept whole: pruned together or not at all.
// An initializer several nodes share (exporters merge identical ones) is copied for each
// node that needs it cut.
//
//   PruneReport r = select_channels(model, {.grouping = Grouping::kBlock, .quantile = 0.1});
//   remove_channels(model, r);
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace teeinfer {

enum class Grouping { kLayer, kBlock };

struct ChannelSelection {
  Grouping grouping = Grouping::kLayer;
  double quantile = 0.3;  // of nearest-neighbour distances, for the bandwidth
  // The model is imported (checked) for these input dims to know every tensor's channel
  // count; inputs not listed get their declared dims, a dynamic batch as 1.
  std::map<std::string, std::vector<int64_t>> input_dims = {};
  uint64_t max_memory = 0;  // the import's host memory limit (0: the default for the model)
};

// Where a unit's channel c lives in another tensor: indices [(c + offset) * block,
// (c + offset + 1) * block) along `axis` of initializer `tensor`.
// `node`/`input`: where the graph reads it, so a shared initializer can be given a
// private copy before it is cut.
struct ChannelReader {
  std::string tensor;
  int axis = 0;
  int64_t offset = 0, block = 1;
  int node = -1, input = -1;
};

struct UnitPruning {
  std::string conv, bn;  // node names (or their first output when unnamed)
  std::string bn_scale;  // initializer holding γ
  int64_t channels = 0;
  bool prunable = false;
  std::string kept_because;  // why not prunable
  int group = -1;
  double bandwidth = 0, threshold = 0;
  std::vector<int64_t> removed;        // channel indices, ascending
  std::vector<ChannelReader> readers;  // the unit's own tensors and everything downstream
  bool crosses_pool = false;           // a pooling layer lies between it and its readers
};

struct PruneReport {
  std::vector<UnitPruning> units;  // in node order
};

// Chooses the channels to remove; the model is not changed. Throws Error(kBadModel) for
// a model whose tensors are inconsistent (it is imported first, with every check of
// import_onnx), kUnsupported for one it cannot analyse.
PruneReport select_channels(const onnx::ModelProto& model, const ChannelSelection& options);

// Removes the channels `report` selected, in place, and drops stale value_info shapes.
void remove_channels(onnx::ModelProto& model, const PruneReport& report);

}  // namespace teeinfer
