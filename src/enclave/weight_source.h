// WeightSource: where the enclave gets the plaintext bytes of a graph's constants.
//
// The EnclaveSession asks for each resident constant once, at load, into arena memory; a
// streamed constant (the budget planner's choice) is read again at every run, whole or
// in row ranges, just before the step that consumes it. InlineConstants
// serves plain graphs (ONNX run directly: the bytes are already in the Graph); the sealed
// loader (sealed_model.h) decrypts chunks read through HostInterface.
//
//   InlineConstants w(graph);
//   EnclaveSession s(graph, platform, {}, &w);
#pragma once

#include <cstddef>

#include "common/graph.h"

namespace teeinfer {

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  // Writes constant `v`'s plain row-major bytes (exactly `bytes`) to `dst` in the arena.
  virtual void read(ValueId v, std::byte* dst, size_t bytes) = 0;
  // Rows [first, first + count) of `v` (a row: one index of dim 0). `first` must be a
  // multiple of row_granularity(v), and so must `count` unless the range ends at the last row.
  virtual void read_rows(ValueId v, int64_t first, int64_t count, std::byte* dst) = 0;
  // Rows that can only be read together (the sealed format authenticates whole chunks).
  virtual int64_t row_granularity(ValueId /*v*/) const { return 1; }
  // The bytes of `v` in place, when the source already holds them in plain memory (an
  // unsealed model); nullptr when they must be produced by read() (decrypted).
  virtual const std::byte* in_place(ValueId /*v*/) const { return nullptr; }
  // Whether read() produces the bytes (decryption), so a constant that needs a layout
  // change passes through an arena staging buffer; false when in_place() serves them all.
  virtual bool needs_staging() const { return true; }
  // Arena bytes the source needs while loading (e.g. one ciphertext chunk), and where.
  virtual size_t scratch_bytes() const { return 0; }
  virtual void set_scratch(std::byte* /*scratch*/) {}
};

// Bytes in one row (one index of dim 0) of a constant.
size_t row_bytes(const Value& v);

// Constants held in the Graph itself.
class InlineConstants : public WeightSource {
 public:
  explicit InlineConstants(const Graph& g) : g_(g) {}
  void read(ValueId v, std::byte* dst, size_t bytes) override;
  void read_rows(ValueId v, int64_t first, int64_t count, std::byte* dst) override;
  const std::byte* in_place(ValueId v) const override;
  bool needs_staging() const override { return false; }

 private:
  const Graph& g_;
};

}  // namespace teeinfer
