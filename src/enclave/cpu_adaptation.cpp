#include "enclave/cpu_adaptation.h"

#include <dnnl.hpp>

namespace teeinfer {

bool int8_products_exact() {
  static const bool exact = [] {
    switch (dnnl::get_effective_cpu_isa()) {
      case dnnl::cpu_isa::avx512_core_vnni:
      case dnnl::cpu_isa::avx512_core_bf16:
      case dnnl::cpu_isa::avx512_core_amx:
      case dnnl::cpu_isa::avx2_vnni:
        return true;
      default:
        return false;
    }
  }();
  return exact;
}

bool computes_full_int8(const Int8Weights& q) {
  return q.full() && int8_products_exact();
}

}  // namespace teeinfer
