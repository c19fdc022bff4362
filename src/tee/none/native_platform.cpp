#include "tee/none/native_platform.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "common/error.h"

namespace teeinfer {
namespace {

class HeapRegion : public SecureRegion {
 public:
  explicit HeapRegion(size_t bytes) : size_(bytes) {
    constexpr size_t kPage = 4096;
    size_t rounded = (std::max<size_t>(bytes, 1) + kPage - 1) / kPage * kPage;
    data_ = static_cast<std::byte*>(std::aligned_alloc(kPage, rounded));
    if (!data_)
      throw Error(ErrorCode::kBudgetExceeded, "cannot allocate a " + std::to_string(bytes) + "-byte secure region");
    std::memset(data_, 0, rounded);
  }
  ~HeapRegion() override { std::free(data_); }
  std::byte* data() override { return data_; }
  size_t size() const override { return size_; }

 private:
  std::byte* data_;
  size_t size_;
};

}  // namespace

std::unique_ptr<SecureRegion> NativePlatform::allocate_region(size_t bytes) {
  return std::make_unique<HeapRegion>(bytes);
}

}  // namespace teeinfer
