// Little-endian byte writer and bounds-checked reader for teeinfer's binary formats.
//
//   ByteWriter w;  w.u32(7);  w.str("conv1");
//   ByteReader r(w.bytes(), "manifest");  uint32_t n = r.u32();  std::string s = r.str(4096);
//
// Every read past the end, and every length above its stated limit, throws
// Error(kBadModel) naming `what` and the byte offset.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "common/error.h"

namespace teeinfer {

class ByteWriter {
 public:
  void u8(uint8_t v) { bytes_.push_back(v); }
  void u16(uint16_t v) { put(&v, 2); }
  void u32(uint32_t v) { put(&v, 4); }
  void u64(uint64_t v) { put(&v, 8); }
  void i32(int32_t v) { put(&v, 4); }
  void i64(int64_t v) { put(&v, 8); }
  void f32(float v) { put(&v, 4); }
  void str(const std::string& s) {
    u32(static_cast<uint32_t>(s.size()));
    put(s.data(), s.size());
  }
  void raw(const void* p, size_t n) { put(p, n); }
  const std::vector<uint8_t>& bytes() const { return bytes_; }
  std::vector<uint8_t>& bytes() { return bytes_; }

 private:
  void put(const void* p, size_t n) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    bytes_.insert(bytes_.end(), b, b + n);
  }
  std::vector<uint8_t> bytes_;
};

class ByteReader {
 public:
  // Failures throw Error(`code`): kBadModel for model files, kBadInput for other untrusted
  // input (evidence, wire formats).
  ByteReader(const uint8_t* data, size_t size, std::string what, ErrorCode code = ErrorCode::kBadModel)
      : p_(data), n_(size), what_(std::move(what)), code_(code) {}
  ByteReader(const std::vector<uint8_t>& v, std::string what) : ByteReader(v.data(), v.size(), std::move(what)) {}

  uint8_t u8() { return get<uint8_t>(); }
  uint16_t u16() { return get<uint16_t>(); }
  uint32_t u32() { return get<uint32_t>(); }
  uint64_t u64() { return get<uint64_t>(); }
  int32_t i32() { return get<int32_t>(); }
  int64_t i64() { return get<int64_t>(); }
  float f32() { return get<float>(); }
  bool boolean() {
    uint8_t b = u8();
    if (b > 1) fail("a boolean is " + std::to_string(b));
    return b == 1;
  }
  // A count bounded by `limit`, and by the bytes left when each item takes at least
  // `min_item_bytes`: checked before anything is allocated for it, so a hostile count
  // cannot make the reader allocate more than the input could describe.
  uint32_t count(uint32_t limit, const char* of, size_t min_item_bytes = 1) {
    uint32_t c = u32();
    if (c > limit || (min_item_bytes > 0 && c > remaining() / min_item_bytes))
      fail(std::string("too many ") + of + " (" + std::to_string(c) + ")");
    return c;
  }
  std::string str(uint32_t limit) {
    uint32_t len = count(limit, "string bytes");
    need(len);
    std::string s(reinterpret_cast<const char*>(p_ + pos_), len);
    pos_ += len;
    return s;
  }
  void raw(void* dst, size_t n) {
    need(n);
    if (n == 0) return;  // (dst may be an empty vector's null data(): memcpy must not see it)
    std::memcpy(dst, p_ + pos_, n);
    pos_ += n;
  }
  size_t position() const { return pos_; }
  size_t remaining() const { return n_ - pos_; }
  [[noreturn]] void fail(const std::string& why) const {
    throw Error(code_, what_ + ": " + why + " at byte " + std::to_string(pos_));
  }

 private:
  void need(size_t k) const {
    if (k > n_ - pos_) fail("truncated (needs " + std::to_string(k) + " more bytes)");
  }
  template <class T>
  T get() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  const uint8_t* p_;
  size_t n_, pos_ = 0;
  std::string what_;
  ErrorCode code_;
};

}  // namespace teeinfer
