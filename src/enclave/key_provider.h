// KeyProvider: hands the enclave the key-encryption key (KEK) that unwraps a sealed
// model's data key. Development: a key file read by the host (host/key_file.h). Later:
// attested key release, where the KEK never exists outside the TEE.
#pragma once

#include "common/aes_gcm.h"
#include "teeinfer/teeinfer.h"  // KeyProvider (AesKey and Key are the same type)
