#include "enclave/weight_source.h"

#include <cstring>

#include "common/error.h"

namespace teeinfer {

void InlineConstants::read(ValueId v, std::byte* dst, size_t bytes) {
  const Value& val = g_.value(v);
  if (!val.is_constant || val.data.size() != bytes)
    throw Error(ErrorCode::kBadModel, "constant '" + val.name + "' does not hold " + std::to_string(bytes) + " bytes");
  std::memcpy(dst, val.data.data(), bytes);
}

const std::byte* InlineConstants::in_place(ValueId v) const {
  return reinterpret_cast<const std::byte*>(g_.value(v).data.data());
}

}  // namespace teeinfer
