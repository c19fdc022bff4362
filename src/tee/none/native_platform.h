// tee/none: secure memory is ordinary process memory. The native baseline.
#pragma once

#include "enclave/tee_platform.h"

namespace teeinfer {

class NativePlatform : public TeePlatform {
 public:
  const char* name() const override { return "none"; }
  std::unique_ptr<SecureRegion> allocate_region(size_t bytes) override;
};

}  // namespace teeinfer
