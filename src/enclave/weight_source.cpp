#include "enclave/weight_source.h"

#include <cstring>

#include "common/error.h"

namespace teeinfer {

void InlineConstants::read(ValueId v, std::byte* dst, size_t bytes) {
  const Value& val = g_.value(v);
  if (!val.is_constant || val.data.size() != bytes)
    throw Error(ErrorCode::kBadModel, "constant '" + val.name + "' does not hold " + std::to_string(bytes) + " bytes");
  if (bytes) std::memcpy(dst, val.data.data(), bytes);  // an empty constant has no data pointer
}

void InlineConstants::read_rows(ValueId v, int64_t first, int64_t count, std::byte* dst) {
  const Value& val = g_.value(v);
  size_t row = row_bytes(val);
  if (first < 0 || count < 0 || static_cast<size_t>(first + count) * row > val.data.size())
    throw Error(ErrorCode::kBadModel, "constant '" + val.name + "': rows out of range");
  if (count > 0 && row > 0)
    std::memcpy(dst, val.data.data() + static_cast<size_t>(first) * row, static_cast<size_t>(count) * row);
}

size_t row_bytes(const Value& v) {
  int64_t rows = v.dims.empty() ? 1 : v.dims[0];
  return rows > 0 ? byte_size(v.dtype, v.dims, v.name) / static_cast<size_t>(rows) : 0;
}

const std::byte* InlineConstants::in_place(ValueId v) const {
  return reinterpret_cast<const std::byte*>(g_.value(v).data.data());
}

}  // namespace teeinfer
