#include "tee/none/native_platform.h"

#include <sys/mman.h>

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
    mapped_ = (std::max<size_t>(bytes, 1) + kPage - 1) / kPage * kPage;
    void* p = ::mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
      throw Error(ErrorCode::kBudgetExceeded, "cannot allocate a " + std::to_string(bytes) + "-byte secure region");
    // Native memory is not an EPC: huge pages make the first touch of a large arena
    // cheap (the emulated EPC in tee/sim keeps 4 KiB pages, as SGX does). Zero-filled.
    ::madvise(p, mapped_, MADV_HUGEPAGE);
    data_ = static_cast<std::byte*>(p);
  }
  ~HeapRegion() override { ::munmap(data_, mapped_); }
  std::byte* data() override { return data_; }
  size_t size() const override { return size_; }

 private:
  std::byte* data_;
  size_t size_, mapped_;
};

}  // namespace

std::unique_ptr<SecureRegion> NativePlatform::allocate_region(size_t bytes) {
  return std::make_unique<HeapRegion>(bytes);
}

}  // namespace teeinfer
