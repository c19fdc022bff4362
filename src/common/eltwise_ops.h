// The element-wise functions of kEltwise nodes and fused activations, generated from
// common/eltwise_ops.def: their enum, ONNX names, attributes and scalar reference.
//
//   EltwiseParams p{EltwiseKind::kLeakyRelu, 0.1f};
//   float y = eltwise_reference(p, -2.f);            // -0.2 (ONNX semantics)
//   const char* onnx = eltwise_info(p.kind).onnx_op;  // "LeakyRelu"
#pragma once

#include <cstddef>
#include <cstdint>

namespace teeinfer {

enum class EltwiseKind : uint8_t {
#define TEEINFER_ELTWISE(kind, ...) kind,
#include "common/eltwise_ops.def"
};

inline constexpr size_t kEltwiseCount = 0
#define TEEINFER_ELTWISE(...) +1
#include "common/eltwise_ops.def"
    ;

struct EltwiseParams {
  EltwiseKind kind = EltwiseKind::kRelu;
  float alpha = 0.f;  // LeakyRelu slope, Clip min, HardSigmoid alpha
  float beta = 0.f;   // Clip max, HardSigmoid beta
};

// An ONNX attribute that sets EltwiseParams::alpha or ::beta, and its default. (The
// constructors let the table write EltwiseAttribute("alpha", 0.01f), which clang 14 does
// not accept for an aggregate.)
struct EltwiseAttribute {
  constexpr EltwiseAttribute() = default;
  constexpr EltwiseAttribute(const char* name, float value) : onnx_name(name), default_value(value) {}
  const char* onnx_name = nullptr;  // nullptr: none (the parameter stays `default_value`)
  float default_value = 0.f;
};
inline constexpr EltwiseAttribute kNoAttribute{};

struct EltwiseInfo {
  const char* onnx_op;  // "Relu"
  EltwiseAttribute alpha, beta;
  // False when another function's importer entry (the same onnx_op) converts to this one:
  // converter `none` in the table (GeluTanh, made by Gelu's converter).
  bool own_importer_entry = true;
};

// `kind`'s line of the table; throws Error(kBadModel) for a value outside EltwiseKind.
const EltwiseInfo& eltwise_info(EltwiseKind kind);
const char* eltwise_name(EltwiseKind kind);  // its ONNX op type; "?" outside EltwiseKind
// Whether oneDNN computes `kind` (eltwise steps, also as a post-op fused into a Conv/Gemm/
// MatMul); false for the functions of the table marked NO_DNNL_ELTWISE, which run a
// hand-written kernel as standalone nodes only. False outside EltwiseKind.
bool eltwise_fusible(EltwiseKind kind);
// p.kind's function of x, with p.alpha and p.beta, as ONNX defines it (scalar code).
float eltwise_reference(const EltwiseParams& p, float x);

}  // namespace teeinfer
