// The enclave's side of attested key release (serve --key-server URL): for each sealed
// model, the Trustee KBS steps against the key broker (keybroker/key_broker.h) — auth (a
// nonce), attest (this enclave's evidence for that nonce and its public keys), resource
// (the model's key sealed to the enclave) — and the grant opened inside the Enclave. No key
// is ever on the server's disk or in its untrusted memory.
#pragma once

#include <mutex>
#include <string>

#include "teeinfer/teeinfer.h"

namespace teeinfer::serve {

class KeyRelease {
 public:
  // `url`: http://host:port of the key broker. The enclave must outlive this object.
  KeyRelease(std::string url, Enclave& enclave);

  // Obtains the key of the sealed model `info` describes (once per model id and version).
  // Throws Error naming the broker's reason (kBadArgument: refused; kIo: unreachable).
  void obtain(const SealedInfo& info);
  Enclave& enclave() { return enclave_; }

 private:
  void attest();  // a fresh session: auth, then attest

  std::string url_;
  Enclave& enclave_;
  std::mutex mutex_;
  std::string session_;
};

}  // namespace teeinfer::serve
