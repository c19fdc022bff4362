#include "common/sgx_quote.h"

#include <string>

#include "common/byte_codec.h"

namespace teeinfer::sgx_quote {
namespace {

// Offsets of the reserved fields within ReportBody::reserved.
constexpr size_t kReserved1 = 0, kReserved2 = 28, kReserved3 = 60, kReserved4 = 156;

void write_body(ByteWriter& w, const ReportBody& b) {
  const uint8_t* reserved = b.reserved.data();
  w.raw(b.cpu_svn.data(), 16);
  w.u32(b.misc_select);
  w.raw(reserved + kReserved1, 28);
  w.u64(b.attribute_flags);
  w.u64(b.attribute_xfrm);
  w.raw(b.mr_enclave.data(), 32);
  w.raw(reserved + kReserved2, 32);
  w.raw(b.mr_signer.data(), 32);
  w.raw(reserved + kReserved3, 96);
  w.u16(b.isv_prod_id);
  w.u16(b.isv_svn);
  w.raw(reserved + kReserved4, 60);
  w.raw(b.report_data.data(), 64);
}

ReportBody read_body(ByteReader& r) {
  ReportBody b;
  uint8_t* reserved = b.reserved.data();
  r.raw(b.cpu_svn.data(), 16);
  b.misc_select = r.u32();
  r.raw(reserved + kReserved1, 28);
  b.attribute_flags = r.u64();
  b.attribute_xfrm = r.u64();
  r.raw(b.mr_enclave.data(), 32);
  r.raw(reserved + kReserved2, 32);
  r.raw(b.mr_signer.data(), 32);
  r.raw(reserved + kReserved3, 96);
  b.isv_prod_id = r.u16();
  b.isv_svn = r.u16();
  r.raw(reserved + kReserved4, 60);
  r.raw(b.report_data.data(), 64);
  return b;
}

void write_header(ByteWriter& w, const Quote& q) {
  w.u16(q.version);
  w.u16(q.attestation_key_type);
  w.u32(q.tee_type);
  w.u16(q.qe_svn);
  w.u16(q.pce_svn);
  w.raw(q.qe_vendor_id.data(), 16);
  w.raw(q.user_data.data(), 20);
}

}  // namespace

std::array<uint8_t, kReportBodyBytes> encode_report_body(const ReportBody& body) {
  ByteWriter w;
  write_body(w, body);
  std::array<uint8_t, kReportBodyBytes> out{};
  std::copy(w.bytes().begin(), w.bytes().end(), out.begin());
  return out;
}

std::vector<uint8_t> signed_bytes(const Quote& quote) {
  ByteWriter w;
  write_header(w, quote);
  write_body(w, quote.body);
  return std::move(w.bytes());
}

std::vector<uint8_t> encode(const Quote& q) {
  ByteWriter sig;
  sig.raw(q.isv_signature.data(), 64);
  sig.raw(q.attestation_key.data(), 64);
  write_body(sig, q.qe_report);
  sig.raw(q.qe_report_signature.data(), 64);
  if (q.qe_auth_data.size() > 0xFFFF) throw Error(ErrorCode::kBadArgument, "quote: QE auth data over 65535 bytes");
  sig.u16(static_cast<uint16_t>(q.qe_auth_data.size()));
  sig.raw(q.qe_auth_data.data(), q.qe_auth_data.size());
  sig.u16(q.cert_type);
  sig.u32(static_cast<uint32_t>(q.cert_data.size()));
  sig.raw(q.cert_data.data(), q.cert_data.size());

  std::vector<uint8_t> out = signed_bytes(q);
  ByteWriter len;
  len.u32(static_cast<uint32_t>(sig.bytes().size()));
  out.insert(out.end(), len.bytes().begin(), len.bytes().end());
  out.insert(out.end(), sig.bytes().begin(), sig.bytes().end());
  if (out.size() > kMaxQuoteBytes) throw Error(ErrorCode::kBadArgument, "quote: over the 64 KiB limit");
  return out;
}

Quote decode(const uint8_t* bytes, size_t n) {
  if (n > kMaxQuoteBytes)
    throw Error(ErrorCode::kBadInput, "quote: " + std::to_string(n) + " bytes, over the 64 KiB limit");
  ByteReader r(bytes, n, "quote", ErrorCode::kBadInput);
  Quote q;
  q.version = r.u16();
  q.attestation_key_type = r.u16();
  q.tee_type = r.u32();
  q.qe_svn = r.u16();
  q.pce_svn = r.u16();
  r.raw(q.qe_vendor_id.data(), 16);
  r.raw(q.user_data.data(), 20);
  q.body = read_body(r);
  uint32_t sig_len = r.u32();
  if (sig_len != r.remaining())
    r.fail("signature data length " + std::to_string(sig_len) + " but " + std::to_string(r.remaining()) +
           " bytes follow");
  r.raw(q.isv_signature.data(), 64);
  r.raw(q.attestation_key.data(), 64);
  q.qe_report = read_body(r);
  r.raw(q.qe_report_signature.data(), 64);
  uint16_t auth_len = r.u16();
  if (auth_len > r.remaining()) r.fail("QE auth data of " + std::to_string(auth_len) + " bytes is truncated");
  q.qe_auth_data.resize(auth_len);
  r.raw(q.qe_auth_data.data(), auth_len);
  q.cert_type = r.u16();
  uint32_t cert_len = r.u32();
  if (cert_len != r.remaining())
    r.fail("certification data length " + std::to_string(cert_len) + " but " + std::to_string(r.remaining()) +
           " bytes follow");
  q.cert_data.resize(cert_len);
  r.raw(q.cert_data.data(), cert_len);
  return q;
}

}  // namespace teeinfer::sgx_quote
