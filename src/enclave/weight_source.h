// WeightSource: where the enclave gets the plaintext bytes of a graph's constants.
//
// The Session asks for each constant once, at load, into arena memory. InlineConstants
// serves plain graphs (ONNX run directly: the bytes are already in the Graph); the sealed
// loader (sealed_model.h) decrypts chunks read through HostInterface.
//
//   InlineConstants w(graph);
//   Session s(graph, platform, {}, &w);
#pragma once

#include <cstddef>

#include "common/graph.h"

namespace teeinfer {

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  // Writes constant `v`'s plain row-major bytes (exactly `bytes`) to `dst` in the arena.
  virtual void read(ValueId v, std::byte* dst, size_t bytes) = 0;
  // The bytes of `v` in place, when the source already holds them in plain memory (an
  // unsealed model); nullptr when they must be produced by read() (decrypted).
  virtual const std::byte* in_place(ValueId /*v*/) const { return nullptr; }
  // Arena bytes the source needs while loading (e.g. one ciphertext chunk), and where.
  virtual size_t scratch_bytes() const { return 0; }
  virtual void set_scratch(std::byte* /*scratch*/) {}
};

// Constants held in the Graph itself.
class InlineConstants : public WeightSource {
 public:
  explicit InlineConstants(const Graph& g) : g_(g) {}
  void read(ValueId v, std::byte* dst, size_t bytes) override;
  const std::byte* in_place(ValueId v) const override;

 private:
  const Graph& g_;
};

}  // namespace teeinfer
