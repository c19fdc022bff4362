// The installed library's version (include/teeinfer/teeinfer.h).
#include "teeinfer/teeinfer.h"

namespace teeinfer {

const char* version() {
  return TEEINFER_VERSION;
}

}  // namespace teeinfer
