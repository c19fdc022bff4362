// The SGX DCAP ECDSA quote, version 3, as Intel's "SGX ECDSA Quote Library API" lays it
// out (all integers little-endian):
//
//   header            48  version=3, att_key_type=2 (ECDSA-256 with P-256), tee_type=0 (SGX),
//                         qe_svn, pce_svn, qe_vendor_id[16], user_data[20]
//   report body      384  cpu_svn[16] misc_select attributes[16] MRENCLAVE[32] MRSIGNER[32]
//                         ISV_PROD_ID ISV_SVN REPORT_DATA[64] (and reserved fields)
//   signature length   4
//   signature data        ISV report signature[64] (attestation key over header || body),
//                         attestation public key[64], QE report body[384], QE report
//                         signature[64], QE auth data (u16 length + bytes), certification
//                         data (u16 type, u32 length, bytes)
//
// teeinfer's emulated TEE produces quotes in exactly this layout (tee/sim/quoting_enclave.h)
// with certification data of its own type (kCertSimulatedRoot: the simulated root's public
// key) where real hardware puts the PCK certificate chain (type 5). Pure computation.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/ecdsa_p256.h"

namespace teeinfer::sgx_quote {

constexpr uint16_t kVersion = 3;
constexpr uint16_t kAttestationKeyEcdsaP256 = 2;
constexpr uint32_t kTeeTypeSgx = 0;
constexpr size_t kHeaderBytes = 48, kReportBodyBytes = 384, kSignedBytes = kHeaderBytes + kReportBodyBytes;
constexpr uint16_t kCertPckChain = 5;            // real DCAP: PEM PCK certificate chain
constexpr uint16_t kCertSimulatedRoot = 0x7E51;  // teeinfer's emulated TEE: the root's public key
constexpr size_t kMaxQuoteBytes = 64 * 1024;     // a quote with a PCK chain is ~4-5 KiB
constexpr uint64_t kAttributeDebug = 0x02;       // attributes.flags bit 1: a debug enclave

struct ReportBody {
  std::array<uint8_t, 16> cpu_svn{};
  uint32_t misc_select = 0;
  uint64_t attribute_flags = 0, attribute_xfrm = 0;
  std::array<uint8_t, 32> mr_enclave{}, mr_signer{};
  uint16_t isv_prod_id = 0, isv_svn = 0;
  std::array<uint8_t, 64> report_data{};
  // The reserved fields (28 + 32 + 96 + 60 bytes, in order), kept as received: signatures
  // cover them, and a decoded quote re-encodes to exactly its bytes.
  std::array<uint8_t, 216> reserved{};
};

struct Quote {
  uint16_t version = kVersion, attestation_key_type = kAttestationKeyEcdsaP256;
  uint32_t tee_type = kTeeTypeSgx;
  uint16_t qe_svn = 0, pce_svn = 0;
  std::array<uint8_t, 16> qe_vendor_id{};
  std::array<uint8_t, 20> user_data{};
  ReportBody body;
  ecdsa_p256::Signature isv_signature{};  // by attestation_key over header || body
  ecdsa_p256::PublicKey attestation_key{};
  ReportBody qe_report;  // REPORT_DATA[0..32] = SHA-256(attestation_key || qe_auth_data)
  ecdsa_p256::Signature qe_report_signature{};
  std::vector<uint8_t> qe_auth_data;
  uint16_t cert_type = 0;
  std::vector<uint8_t> cert_data;
};

std::array<uint8_t, kReportBodyBytes> encode_report_body(const ReportBody& body);
std::vector<uint8_t> encode(const Quote& quote);
// The bytes the ISV signature covers: header || report body.
std::vector<uint8_t> signed_bytes(const Quote& quote);
// Parses every field with bounds checks (sizes against the bytes present and
// kMaxQuoteBytes; trailing bytes refused); throws Error(kBadInput) naming the field.
// Checks nothing cryptographic: that is the verifier's job.
Quote decode(const uint8_t* bytes, size_t n);

}  // namespace teeinfer::sgx_quote
