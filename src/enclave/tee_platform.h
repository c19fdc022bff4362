// What the enclave needs from the TEE it runs on: one region of secure memory.
//
// `tee/none` hands out ordinary process memory; `tee/sim` (later) an emulated EPC with
// encrypted paging. The enclave never allocates working memory any other way.
//
//   NativePlatform platform;                          // tee/none/native_platform.h
//   auto region = platform.allocate_region(1 << 20);  // region->data(), region->size()
#pragma once

#include <cstddef>
#include <memory>

namespace teeinfer {

class SecureRegion {
 public:
  virtual ~SecureRegion() = default;
  virtual std::byte* data() = 0;  // page-aligned
  virtual size_t size() const = 0;
};

class TeePlatform {
 public:
  virtual ~TeePlatform() = default;
  virtual const char* name() const = 0;
  // A zero-filled region of at least `bytes`; throws Error(kBudgetExceeded) if it cannot.
  virtual std::unique_ptr<SecureRegion> allocate_region(size_t bytes) = 0;
  // Ordinary (untrusted, unencrypted) memory outside the secure region, where the
  // enclave keeps sealed activations it spills (spill_store.h). In SGX: memory the
  // host allocates and the enclave writes ciphertext to.
  virtual std::unique_ptr<std::byte[]> allocate_untrusted(size_t bytes) { return std::make_unique<std::byte[]>(bytes); }
  // Prepares the calling thread and the kernels' worker threads to touch the secure
  // region (the emulated EPC's fault handler needs a stack of its own on each); called
  // when a session is made and before each run. Cheap when nothing is to be done.
  virtual void prepare_threads() {}
};

}  // namespace teeinfer
