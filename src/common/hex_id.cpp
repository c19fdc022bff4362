// 128-bit ids (model ids, key ids) as 32 hex digits (include/teeinfer/teeinfer.h).
#include "teeinfer/teeinfer.h"

namespace teeinfer {

std::string to_hex(const std::array<uint8_t, 16>& id) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (uint8_t b : id) {
    s += digits[b >> 4];
    s += digits[b & 15];
  }
  return s;
}

std::array<uint8_t, 16> id_from_hex(const std::string& hex, const std::string& what) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::array<uint8_t, 16> id{};
  bool ok = hex.size() == 2 * id.size();
  for (size_t i = 0; ok && i < id.size(); ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    ok = hi >= 0 && lo >= 0;
    id[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  if (!ok)
    throw Error(ErrorCode::kBadArgument,
                what + ": '" + hex + "' is not a 128-bit id (32 hex digits, as `teeinfer inspect` shows)");
  return id;
}

}  // namespace teeinfer
