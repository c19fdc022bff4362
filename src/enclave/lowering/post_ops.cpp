#include "enclave/lowering/post_ops.h"

#include <oneapi/dnnl/dnnl_debug.h>

#include <cfloat>
#include <charconv>
#include <cmath>
#include <string>

#include "common/error.h"

namespace teeinfer {

void append_eltwise(dnnl::post_ops& po, const EltwiseParams& p) {
  auto finite = [](float v) { return std::isinf(v) ? (v > 0 ? FLT_MAX : -FLT_MAX) : v; };
  // The oneDNN steps of each element-wise function: common/eltwise_ops.def.
#define DNNL_ELTWISE(alg, alpha, beta) po.append_eltwise(1.f, dnnl::algorithm::alg, alpha, beta)
#define NO_DNNL_ELTWISE                                                                               \
  throw Error(ErrorCode::kUnsupported, std::string(eltwise_name(p.kind)) +                            \
                                           " has no oneDNN eltwise algorithm (a hand-written kernel " \
                                           "computes it as a standalone node; it cannot be a post-op)")
  switch (p.kind) {
#define TEEINFER_ELTWISE(kind, onnx_op, alpha, beta, converter, reference, ...) \
  case EltwiseKind::kind:                                                       \
    __VA_ARGS__;                                                                \
    return;
#include "common/eltwise_ops.def"
  }
#undef DNNL_ELTWISE
#undef NO_DNNL_ELTWISE
  throw Error(ErrorCode::kBadModel, "unknown element-wise function " + std::to_string(static_cast<int>(p.kind)));
}

dnnl::primitive_attr attr_with(const PostOps& post_ops) {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (!post_ops.empty()) {
    dnnl::post_ops po;
    for (const auto& p : post_ops) append_eltwise(po, p);
    attr.set_post_ops(po);
  }
  return attr;
}

std::vector<dnnl::eltwise_forward::primitive_desc> eltwise_primitives(const EltwiseParams& p,
                                                                      const dnnl::memory::desc& md,
                                                                      const dnnl::engine& engine) {
  dnnl::post_ops po;
  append_eltwise(po, p);
  std::vector<dnnl::eltwise_forward::primitive_desc> out;
  for (int i = 0; i < po.len(); ++i) {
    float scale, alpha, beta;
    dnnl::algorithm algorithm;
    po.get_params_eltwise(i, scale, algorithm, alpha, beta);
    out.emplace_back(dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference, algorithm, md, alpha, beta),
                     attr_with({}), engine);
  }
  return out;
}

namespace {

struct EltwiseOp {
  dnnl::algorithm algorithm;
  float scale, alpha, beta;
};

std::vector<EltwiseOp> eltwise_ops_of(const dnnl::post_ops& po) {
  std::vector<EltwiseOp> out;
  for (int i = 0; i < po.len(); ++i) {
    if (po.kind(i) != dnnl::primitive::kind::eltwise) continue;
    EltwiseOp op{};
    po.get_params_eltwise(i, op.scale, op.algorithm, op.alpha, op.beta);
    out.push_back(op);
  }
  return out;
}

std::string eltwise_algorithm_name(dnnl::algorithm a) {
  switch (a) {
    case dnnl::algorithm::eltwise_relu:
      return "eltwise_relu";
    case dnnl::algorithm::eltwise_clip_v2:
      return "eltwise_clip_v2";
    case dnnl::algorithm::eltwise_linear:
      return "eltwise_linear";
    case dnnl::algorithm::eltwise_logistic:
      return "eltwise_logistic";
    case dnnl::algorithm::eltwise_hardswish:
      return "eltwise_hardswish";
    default:
      return "eltwise algorithm " + std::to_string(static_cast<int>(a));
  }
}

std::string short_float(float v) {
  char s[32];
  return std::string(s, std::to_chars(s, s + sizeof s, v).ptr);
}

// The first algorithm of `ops` used again with other parameters (see split_post_ops).
std::string repeated_algorithm(const std::vector<EltwiseOp>& ops) {
  for (size_t i = 0; i < ops.size(); ++i)
    for (size_t j = i + 1; j < ops.size(); ++j) {
      const EltwiseOp &a = ops[i], &b = ops[j];
      // != is also true for NaN parameters: those never share an injector either.
      if (a.algorithm == b.algorithm && (a.scale != b.scale || a.alpha != b.alpha || a.beta != b.beta))
        return eltwise_algorithm_name(a.algorithm) + " (alpha " + short_float(a.alpha) + ", beta " +
               short_float(a.beta) + " then alpha " + short_float(b.alpha) + ", beta " + short_float(b.beta) + ")";
    }
  return "";
}

}  // namespace

PostOpSplit split_post_ops(const PostOps& ops, const dnnl::post_ops& leading) {
  std::vector<EltwiseOp> chain = eltwise_ops_of(leading);
  PostOpSplit split;
  for (size_t i = 0; i < ops.size(); ++i) {
    dnnl::post_ops one;
    append_eltwise(one, ops[i]);
    std::vector<EltwiseOp> longer = chain, more = eltwise_ops_of(one);
    longer.insert(longer.end(), more.begin(), more.end());
    if (!repeated_algorithm(longer).empty()) {
      split.rest.assign(ops.begin() + static_cast<std::ptrdiff_t>(i), ops.end());
      break;
    }
    chain = std::move(longer);
    split.fused.push_back(ops[i]);
  }
  return split;
}

std::string repeated_eltwise_algorithm(const dnnl::post_ops& po) {
  return repeated_algorithm(eltwise_ops_of(po));
}

std::string describe_post_ops(const dnnl::post_ops& po) {
  std::string out;
  for (int i = 0; i < po.len(); ++i) {
    out += i == 0 ? " + " : ", ";
    switch (po.kind(i)) {
      case dnnl::primitive::kind::eltwise: {
        float scale, alpha, beta;
        dnnl::algorithm algorithm;
        po.get_params_eltwise(i, scale, algorithm, alpha, beta);
        out += dnnl_alg_kind2str(static_cast<dnnl_alg_kind_t>(algorithm));
        break;
      }
      case dnnl::primitive::kind::sum:
        out += "sum";
        break;
      case dnnl::primitive::kind::binary:
        out += "binary";
        break;
      default:
        out += "post-op";
        break;
    }
  }
  return out;
}

}  // namespace teeinfer
