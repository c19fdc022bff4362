"""A Python client for teeinfer's attested, end-to-end encrypted inference (docs/attestation.md).

It verifies the server's evidence (a simulated SGX DCAP v3 quote) against a policy, encrypts
Open Inference Protocol requests to the attested enclave key with HPKE (RFC 9180 base mode,
DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM), decrypts the response and checks the
signed receipt. Standard library plus python3-cryptography and python3-requests; numpy is
optional (only for numpy inputs and the command line's .npy files).

    from teeinfer_client import TeeinferClient
    client = TeeinferClient("http://127.0.0.1:8000",
                            {"measurements": ["<MRENCLAVE hex from `teeinfer measure`>"],
                             "min_security_version": 1, "allow_simulated": True})
    for step in client.attest():
        print(step.check, "-", step.detail)
    outputs, receipt = client.infer("fmnist", {"input": (image, "FP32", [1, 1, 28, 28])})

Command line:

    python3 teeinfer_client.py URL --model M --input NAME=FILE.npy [--policy policy.json]
        [--allow-simulated] [--measurement HEX] [--json]

Every check fails closed: a check that cannot be made raises VerificationError(step, detail).
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import hmac
import json
import os
import re
import struct
import sys
import urllib.parse

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "VerificationError", "InferenceError", "Step",
    "derive_key_pair", "hpke_setup_sender", "hpke_setup_recipient", "SenderContext", "RecipientContext",
    "derive_p256_private_key", "p256_public_bytes", "simulated_root_public_key", "ecdsa_verify",
    "parse_quote", "report_data", "verify_evidence",
    "receipt_message", "verify_receipt", "decrypt_response", "TeeinferClient", "main",
]


class VerificationError(Exception):
    """A check that failed or could not be made: `step` names it, `detail` says why.

    `steps` holds the checks that passed before it (for a report)."""

    def __init__(self, step: str, detail: str, steps: list | None = None):
        super().__init__(f"{step}: {detail}")
        self.step, self.detail, self.steps = step, detail, list(steps or [])


class InferenceError(Exception):
    """The server answered with an error status. `receipt` is the verified receipt when the
    error came from the enclave (encrypted), None when only the untrusted host said so."""

    def __init__(self, status: int, message: str, receipt: dict | None = None):
        super().__init__(f"HTTP {status}: {message}")
        self.status, self.message, self.receipt = status, message, receipt


Step = collections.namedtuple("Step", "check detail")  # one passed verification step


# ---------------------------------------------------------------------------------------------
# HPKE (RFC 9180), base mode, for exactly one suite.

KEM_ID, KDF_ID, AEAD_ID = 0x0020, 0x0001, 0x0002
_KEM_SUITE = b"KEM" + struct.pack(">H", KEM_ID)
_HPKE_SUITE = b"HPKE" + struct.pack(">HHH", KEM_ID, KDF_ID, AEAD_ID)
_NSK, _NPK, _NK, _NN, _NH = 32, 32, 32, 12, 32
_MODE_BASE = 0


def _labeled_extract(suite: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    """LabeledExtract (RFC 9180 §4): HKDF-Extract(salt, "HPKE-v1" || suite || label || ikm)."""
    return hmac.new(salt or bytes(_NH), b"HPKE-v1" + suite + label + ikm, hashlib.sha256).digest()


def _labeled_expand(suite: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    """LabeledExpand (RFC 9180 §4): HKDF-Expand(prk, I2OSP(L, 2) || "HPKE-v1" || suite || label || info, L)."""
    if not 0 <= length <= 255 * _NH:
        raise ValueError(f"HPKE: cannot expand to {length} bytes (at most {255 * _NH})")
    labeled_info = struct.pack(">H", length) + b"HPKE-v1" + suite + label + info
    out, block, counter = b"", b"", 1
    while len(out) < length:  # RFC 5869 §2.3
        block = hmac.new(prk, block + labeled_info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def _x25519_public(sk: bytes) -> bytes:
    return x25519.X25519PrivateKey.from_private_bytes(sk).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _dh(sk: bytes, pk: bytes) -> bytes:
    """X25519(sk, pk), refusing a low-order pk (the all-zero shared secret of RFC 7748 §6.1)."""
    try:
        dh = x25519.X25519PrivateKey.from_private_bytes(sk).exchange(x25519.X25519PublicKey.from_public_bytes(pk))
    except ValueError as e:
        raise ValueError(f"HPKE: X25519 refused the key ({e})") from None
    if dh == bytes(32):
        raise ValueError("HPKE: a low-order X25519 public key (the shared secret would be all zero)")
    return dh


def derive_key_pair(ikm: bytes) -> tuple[bytes, bytes]:
    """DeriveKeyPair(ikm) for X25519 (RFC 9180 §7.1.3): returns (sk, pk), 32 bytes each."""
    dkp_prk = _labeled_extract(_KEM_SUITE, b"", b"dkp_prk", ikm)
    sk = _labeled_expand(_KEM_SUITE, dkp_prk, b"sk", b"", _NSK)
    return sk, _x25519_public(sk)


def _shared_secret(dh: bytes, enc: bytes, pk_r: bytes) -> bytes:
    """ExtractAndExpand of DHKEM (RFC 9180 §4.1) with kem_context = enc || pkR."""
    eae_prk = _labeled_extract(_KEM_SUITE, b"", b"eae_prk", dh)
    return _labeled_expand(_KEM_SUITE, eae_prk, b"shared_secret", enc + pk_r, _NH)


class _Context:
    """The key schedule's outputs (RFC 9180 §5.1 KeySchedule, base mode) and Export (§5.3)."""

    def __init__(self, shared_secret: bytes, info: bytes):
        psk_id_hash = _labeled_extract(_HPKE_SUITE, b"", b"psk_id_hash", b"")
        info_hash = _labeled_extract(_HPKE_SUITE, b"", b"info_hash", info)
        context = bytes([_MODE_BASE]) + psk_id_hash + info_hash
        secret = _labeled_extract(_HPKE_SUITE, shared_secret, b"secret", b"")  # psk = ""
        self.key = _labeled_expand(_HPKE_SUITE, secret, b"key", context, _NK)
        self.base_nonce = _labeled_expand(_HPKE_SUITE, secret, b"base_nonce", context, _NN)
        self.exporter_secret = _labeled_expand(_HPKE_SUITE, secret, b"exp", context, _NH)
        self.seq = 0
        self._aead = AESGCM(self.key)

    def _next_nonce(self) -> bytes:
        """base_nonce XOR I2OSP(seq, Nn), then seq += 1 (RFC 9180 §5.2)."""
        if self.seq >= (1 << (8 * _NN)) - 1:
            raise ValueError("HPKE: message limit reached")
        nonce = bytes(a ^ b for a, b in zip(self.base_nonce, self.seq.to_bytes(_NN, "big")))
        self.seq += 1
        return nonce

    def export(self, exporter_context: bytes, length: int) -> bytes:
        """Export(exporter_context, L) = LabeledExpand(exporter_secret, "sec", exporter_context, L)."""
        return _labeled_expand(_HPKE_SUITE, self.exporter_secret, b"sec", exporter_context, length)


class SenderContext(_Context):
    """A sender's HPKE context: seal() messages in order, export() secrets."""

    def seal(self, aad: bytes, pt: bytes) -> bytes:
        """Seal(aad, pt): ciphertext || 16-byte tag, under the next nonce."""
        return self._aead.encrypt(self._next_nonce(), pt, aad)


class RecipientContext(_Context):
    """A recipient's HPKE context (the enclave's side; for tests and fake servers)."""

    def open(self, aad: bytes, ct: bytes) -> bytes:
        """Open(aad, ct): raises cryptography's InvalidTag when it does not authenticate (the
        sequence number then stays, as RFC 9180 §5.2 requires)."""
        nonce = bytes(a ^ b for a, b in zip(self.base_nonce, self.seq.to_bytes(_NN, "big")))
        pt = self._aead.decrypt(nonce, ct, aad)
        self.seq += 1
        return pt


def hpke_setup_sender(pk_r: bytes, info: bytes, ephemeral_sk: bytes | None = None) -> tuple[bytes, SenderContext]:
    """SetupBaseS(pkR, info) (RFC 9180 §5.1.1): returns (enc, context). Encap uses a fresh
    ephemeral X25519 key; `ephemeral_sk` is for test vectors only (reusing one breaks HPKE)."""
    if len(pk_r) != _NPK:
        raise ValueError(f"HPKE: the recipient key has {len(pk_r)} bytes, not {_NPK}")
    sk_e = ephemeral_sk if ephemeral_sk is not None else os.urandom(_NSK)
    enc = _x25519_public(sk_e)
    return enc, SenderContext(_shared_secret(_dh(sk_e, pk_r), enc, pk_r), info)


def hpke_setup_recipient(enc: bytes, sk_r: bytes, info: bytes) -> RecipientContext:
    """SetupBaseR(enc, skR, info) (RFC 9180 §5.1.1)."""
    if len(enc) != _NPK:
        raise ValueError(f"HPKE: enc has {len(enc)} bytes, not {_NPK}")
    return RecipientContext(_shared_secret(_dh(sk_r, enc), enc, _x25519_public(sk_r)), info)


# ---------------------------------------------------------------------------------------------
# ECDSA P-256 (raw 64-byte keys x || y and signatures r || s) and the simulated root.

SIMULATED_ROOT_SEED = b"teeinfer simulated attestation root v1 (public: never trust)"  # src/common/simulated_root.h
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def derive_p256_private_key(seed: bytes) -> int:
    """ecdsa_p256::derive_private_key: the first SHA-256(u32 BE counter || seed), counter = 0, 1, ...
    that lies in [1, n - 1]."""
    counter = 0
    while True:
        k = int.from_bytes(hashlib.sha256(counter.to_bytes(4, "big") + seed).digest(), "big")
        if 1 <= k < _P256_ORDER:
            return k
        counter += 1


def p256_public_bytes(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """The 64-byte x || y form teeinfer uses for P-256 public keys."""
    numbers = public_key.public_numbers()
    return numbers.x.to_bytes(32, "big") + numbers.y.to_bytes(32, "big")


def simulated_root_public_key() -> bytes:
    """The public key (x || y) of teeinfer's simulated attestation root, derived from its published seed."""
    sk = ec.derive_private_key(derive_p256_private_key(SIMULATED_ROOT_SEED), ec.SECP256R1())
    return p256_public_bytes(sk.public_key())


def ecdsa_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """ECDSA P-256 / SHA-256 with a raw key (x || y) and signature (r || s); False for anything
    that does not verify, including a key that is not a point of the curve."""
    if len(public_key) != 64 or len(signature) != 64:
        return False
    try:
        x, y = int.from_bytes(public_key[:32], "big"), int.from_bytes(public_key[32:], "big")
        key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
        der = utils.encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        key.verify(der, message, ec.ECDSA(hashes.SHA256()))
        return True
    except (InvalidSignature, ValueError):
        return False


# ---------------------------------------------------------------------------------------------
# The quote (SGX DCAP ECDSA v3 layout, src/common/sgx_quote.h) and its verification.

CERT_PCK_CHAIN, CERT_SIMULATED_ROOT = 5, 0x7E51
MAX_QUOTE_BYTES = 64 * 1024
ATTRIBUTE_DEBUG = 0x02
HEADER_BYTES, REPORT_BODY_BYTES = 48, 384


class _Reader:
    """Bounds-checked little-endian reads; failures raise VerificationError("quote format")."""

    def __init__(self, data: bytes, end: int | None = None):
        self.data, self.pos, self.end = data, 0, len(data) if end is None else end

    def take(self, n: int, field: str) -> bytes:
        if n > self.end - self.pos:
            raise VerificationError("quote format", f"truncated at {field} (offset {self.pos}: needs {n} bytes, "
                                                    f"{self.end - self.pos} left)")
        self.pos += n
        return self.data[self.pos - n:self.pos]

    def uint(self, n: int, field: str) -> int:
        return int.from_bytes(self.take(n, field), "little")


def _report_body(raw: bytes) -> dict:
    """The fields of a 384-byte report body (reserved fields skipped), with `raw` kept for signatures."""
    return {
        "cpu_svn": raw[0:16], "misc_select": int.from_bytes(raw[16:20], "little"),
        "attribute_flags": int.from_bytes(raw[48:56], "little"), "attribute_xfrm": int.from_bytes(raw[56:64], "little"),
        "mr_enclave": raw[64:96], "mr_signer": raw[128:160],
        "isv_prod_id": int.from_bytes(raw[256:258], "little"), "isv_svn": int.from_bytes(raw[258:260], "little"),
        "report_data": raw[320:384], "raw": raw,
    }


def parse_quote(quote: bytes) -> dict:
    """Parses a quote in the DCAP v3 layout. Every length is checked against the bytes present
    (and 64 KiB); truncation or trailing bytes raise VerificationError("quote format", field).
    Nothing cryptographic is checked here."""
    if len(quote) > MAX_QUOTE_BYTES:
        raise VerificationError("quote format", f"{len(quote)} bytes, over the {MAX_QUOTE_BYTES}-byte limit")
    r = _Reader(quote)
    q = {"version": r.uint(2, "header.version"), "attestation_key_type": r.uint(2, "header.attestation_key_type"),
         "tee_type": r.uint(4, "header.tee_type"), "qe_svn": r.uint(2, "header.qe_svn"),
         "pce_svn": r.uint(2, "header.pce_svn"), "qe_vendor_id": r.take(16, "header.qe_vendor_id"),
         "user_data": r.take(20, "header.user_data")}
    q["body"] = _report_body(r.take(REPORT_BODY_BYTES, "report body"))
    q["signed_bytes"] = quote[:HEADER_BYTES + REPORT_BODY_BYTES]
    sig_len = r.uint(4, "signature data length")
    if sig_len != r.end - r.pos:
        kind = "truncated" if sig_len > r.end - r.pos else "trailing bytes"
        raise VerificationError("quote format", f"{kind}: signature data length {sig_len} but "
                                                f"{r.end - r.pos} bytes follow")
    q["isv_signature"] = r.take(64, "ISV report signature")
    q["attestation_key"] = r.take(64, "attestation public key")
    q["qe_report"] = _report_body(r.take(REPORT_BODY_BYTES, "QE report body"))
    q["qe_report_signature"] = r.take(64, "QE report signature")
    q["qe_auth_data"] = r.take(r.uint(2, "QE auth data length"), "QE auth data")
    q["cert_type"] = r.uint(2, "certification data type")
    cert_len = r.uint(4, "certification data length")
    if cert_len != r.end - r.pos:
        kind = "truncated" if cert_len > r.end - r.pos else "trailing bytes"
        raise VerificationError("quote format", f"{kind}: certification data length {cert_len} but "
                                                f"{r.end - r.pos} bytes follow")
    q["cert_data"] = r.take(cert_len, "certification data")
    return q


def report_data(hpke_key: bytes, receipt_key: bytes, nonce: bytes) -> bytes:
    """The REPORT_DATA evidence for these keys and nonce carries:
    SHA-256("teeinfer keys v1" || HPKE key (32) || receipt key (64)) || nonce (32)."""
    return hashlib.sha256(b"teeinfer keys v1" + hpke_key + receipt_key).digest() + nonce


def _hex_set(values, what: str) -> list[bytes]:
    """Policy digests from hex (a list, or a dict keyed by them as in a key broker's policy)."""
    out = []
    for v in values or []:
        if not isinstance(v, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", v):
            raise ValueError(f"policy: {what} {v!r} is not 64 hex digits")
        out.append(bytes.fromhex(v))
    return out


def _policy(policy: dict) -> dict:
    """Checks and normalises a policy dict (unknown keys are refused: a typo must not loosen it)."""
    known = {"measurements", "signers", "min_security_version", "allow_simulated", "allow_debug"}
    if not isinstance(policy, dict) or set(policy) - known:
        raise ValueError(f"policy: must be a dict with keys among {sorted(known)}")
    svn = policy.get("min_security_version", 0)
    if not isinstance(svn, int) or isinstance(svn, bool) or not 0 <= svn <= 0xFFFF:
        raise ValueError("policy: min_security_version must be an integer from 0 to 65535")
    for flag in ("allow_simulated", "allow_debug"):
        if not isinstance(policy.get(flag, False), bool):
            raise ValueError(f"policy: {flag} must be true or false")
    return {"measurements": _hex_set(policy.get("measurements"), "measurement"),
            "signers": _hex_set(policy.get("signers"), "signer"), "min_security_version": svn,
            "allow_simulated": policy.get("allow_simulated", False), "allow_debug": policy.get("allow_debug", False)}


def verify_evidence(evidence: bytes, policy: dict, hpke_key: bytes, receipt_key: bytes, nonce: bytes) -> list:
    """Verifies a quote against `policy` and that it binds the presented keys and `nonce`, in
    the order of docs/attestation.md. Returns the passed steps ([Step(check, detail), ...]);
    the first failure raises VerificationError(step, detail) carrying the steps before it."""
    pol = _policy(policy)
    steps = []

    def check(step: str, passed: bool, detail: str, failure: str | None = None):
        if not passed:
            raise VerificationError(step, failure or detail, steps)
        steps.append(Step(step, detail))

    try:
        q = parse_quote(bytes(evidence))
    except VerificationError as e:
        raise VerificationError(e.step, e.detail, steps) from None
    header_ok = (q["version"], q["attestation_key_type"], q["tee_type"]) == (3, 2, 0)
    check("quote format", header_ok, f"DCAP ECDSA quote v3, {len(evidence)} bytes",
          f"version {q['version']}, attestation key type {q['attestation_key_type']}, TEE type {q['tee_type']} "
          "(expected 3, 2 (ECDSA P-256), 0 (SGX))")

    root = simulated_root_public_key()
    if q["cert_type"] == CERT_PCK_CHAIN:
        chain_failure = ("a PCK certificate chain (SGX hardware): this client has no DCAP collateral (Intel's root, "
                         "TCB info, revocation lists) to verify it, so it is refused")
    elif q["cert_type"] != CERT_SIMULATED_ROOT:
        chain_failure = f"unknown certification data type {q['cert_type']:#x}"
    elif not hmac.compare_digest(q["cert_data"], root):
        chain_failure = "certification data names a root that is not teeinfer's simulated root"
    elif not pol["allow_simulated"]:
        chain_failure = ("simulated evidence (teeinfer's emulated TEE, whose root key is public) is refused unless "
                         "the policy allows simulated evidence (allow_simulated)")
    else:
        chain_failure = None
    check("certification chain", chain_failure is None, "teeinfer's simulated root (allowed by the policy)",
          chain_failure)
    qe = q["qe_report"]
    check("QE report signature", ecdsa_verify(root, qe["raw"], q["qe_report_signature"]),
          "the quoting enclave's report is signed by the root",
          "the quoting enclave's report is not signed by the root")
    bound = hashlib.sha256(q["attestation_key"] + q["qe_auth_data"]).digest() + bytes(32)
    check("attestation key", hmac.compare_digest(qe["report_data"], bound), "bound by the QE report",
          "the QE report does not bind it")
    check("quote signature", ecdsa_verify(q["attestation_key"], q["signed_bytes"], q["isv_signature"]),
          "header and report body signed by the attestation key",
          "header and report body are not signed by the attestation key")
    body = q["body"]
    debug = bool(body["attribute_flags"] & ATTRIBUTE_DEBUG)
    check("debug attribute", not debug or pol["allow_debug"],
          "a DEBUG enclave (allowed by the policy)" if debug else "not a debug enclave",
          "a DEBUG enclave (its memory is readable by the host)")
    mr_enclave = body["mr_enclave"]
    check("measurement", mr_enclave in pol["measurements"], f"MRENCLAVE {mr_enclave.hex()}",
          f"MRENCLAVE {mr_enclave.hex()} is not one of the policy's"
          + (" (the policy allows no measurement)" if not pol["measurements"] else ""))
    check("signer", not pol["signers"] or body["mr_signer"] in pol["signers"],
          f"MRSIGNER {body['mr_signer'].hex()}" + ("" if pol["signers"] else " (the policy allows any)"),
          f"MRSIGNER {body['mr_signer'].hex()} is not one of the policy's")
    check("security version", body["isv_svn"] >= pol["min_security_version"],
          f"ISV_SVN {body['isv_svn']}, policy minimum {pol['min_security_version']}",
          f"ISV_SVN {body['isv_svn']} is below the policy minimum {pol['min_security_version']}")
    keys_ok = len(hpke_key) == 32 and len(receipt_key) == 64
    check("report data: keys", keys_ok and hmac.compare_digest(body["report_data"][:32],
                                                               report_data(hpke_key, receipt_key, b"")),
          "binds the presented HPKE and receipt keys",
          "does not bind the presented keys" if keys_ok else
          f"the presented keys have {len(hpke_key)} and {len(receipt_key)} bytes (expected 32 and 64)")
    check("report data: nonce", len(nonce) == 32 and hmac.compare_digest(body["report_data"][32:], bytes(nonce)),
          "binds this verifier's nonce", "carries another nonce (replayed?)")
    return steps


# ---------------------------------------------------------------------------------------------
# Responses and receipts.

REQUEST_INFO = b"teeinfer request v1"
RESPONSE_AAD = b"teeinfer response v1"
RECEIPT_FORMAT = "teeinfer-receipt-v1"
_RECEIPT_FIELDS = {  # name -> hex bytes (int) or the integer's byte width (for u16/u64)
    "model_id": ("hex", 16), "model_version": ("int", 8), "manifest_sha256": ("hex", 32),
    "request_sha256": ("hex", 32), "response_sha256": ("hex", 32), "measurement": ("hex", 32),
    "status": ("int", 2), "sequence": ("int", 8), "host_time_untrusted_ms": ("int", 8), "signature": ("hex", 64),
}


def _receipt_fields(receipt: dict) -> dict:
    """The receipt's fields as bytes and ints; VerificationError("receipt format") if any is missing,
    malformed, or not one of the documented ones."""
    if not isinstance(receipt, dict):
        raise VerificationError("receipt format", "the receipt is not a JSON object")
    if receipt.get("format") != RECEIPT_FORMAT:
        raise VerificationError("receipt format", f"format is {receipt.get('format')!r}, not {RECEIPT_FORMAT!r}")
    unknown = set(receipt) - set(_RECEIPT_FIELDS) - {"format"}
    if unknown:
        raise VerificationError("receipt format", f"unknown (unsigned) fields {sorted(unknown)}")
    out = {}
    for name, (kind, size) in _RECEIPT_FIELDS.items():
        v = receipt.get(name)
        if kind == "hex":
            if not isinstance(v, str) or not re.fullmatch(f"[0-9a-fA-F]{{{2 * size}}}", v):
                raise VerificationError("receipt format", f"{name} must be {2 * size} hex digits")
            out[name] = bytes.fromhex(v)
        else:
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 1 << (8 * size):
                raise VerificationError("receipt format", f"{name} must be an integer from 0 to {(1 << 8 * size) - 1}")
            out[name] = v
    return out


def receipt_message(receipt: dict) -> bytes:
    """The bytes a receipt's signature covers (docs/attestation.md, Receipts)."""
    f = _receipt_fields(dict(receipt, signature=receipt.get("signature", "00" * 64)))
    return (b"teeinfer receipt v1" + f["model_id"] + struct.pack("<Q", f["model_version"]) + f["manifest_sha256"]
            + f["request_sha256"] + f["response_sha256"] + f["measurement"] + struct.pack("<H", f["status"])
            + struct.pack("<QQ", f["sequence"], f["host_time_untrusted_ms"]))


def verify_receipt(receipt: dict, receipt_key: bytes, measurement: bytes, request_sha256: bytes,
                   response_sha256: bytes, status: int | None = None) -> dict:
    """Checks a receipt: signed by `receipt_key` (the attested one), for the verified
    `measurement`, over what was sent and what was decrypted (and with the HTTP `status`, if
    given). Returns it; raises VerificationError("receipt ...", detail) otherwise."""
    f = _receipt_fields(receipt)
    if not ecdsa_verify(receipt_key, receipt_message(receipt), f["signature"]):
        raise VerificationError("receipt signature", "does not verify with the attested receipt key")
    if not hmac.compare_digest(f["measurement"], measurement):
        raise VerificationError("receipt measurement",
                                f"{f['measurement'].hex()} is not the verified {measurement.hex()}")
    if not hmac.compare_digest(f["request_sha256"], request_sha256):
        raise VerificationError("receipt request", "request_sha256 is not SHA-256 of the request sent")
    if not hmac.compare_digest(f["response_sha256"], response_sha256):
        raise VerificationError("receipt response", "response_sha256 is not SHA-256 of the response decrypted")
    if status is not None and f["status"] != status:
        raise VerificationError("receipt status", f"the receipt says {f['status']}, the HTTP status is {status}")
    return receipt


def decrypt_response(context: SenderContext, body: bytes) -> tuple[dict, int, bytes]:
    """Opens an encrypted response body with keys exported from the request's context and
    splits R = receipt_length (u32 LE) || receipt || json_length (u64 LE) || OIP body.
    Returns (receipt dict, json_length, OIP body); VerificationError("response", ...) otherwise."""
    key = context.export(b"teeinfer response key", 32)
    nonce = context.export(b"teeinfer response nonce", 12)
    try:
        r = AESGCM(key).decrypt(nonce, bytes(body), RESPONSE_AAD)
    except (InvalidTag, ValueError):
        raise VerificationError("response", "the body does not decrypt with this request's keys "
                                            "(altered, or not the enclave's answer)") from None
    if len(r) < 4 or int.from_bytes(r[:4], "little") > len(r) - 12:
        raise VerificationError("response", "truncated: receipt length exceeds the response")
    n = int.from_bytes(r[:4], "little")
    try:
        receipt = json.loads(r[4:4 + n])
    except (ValueError, UnicodeDecodeError):
        raise VerificationError("receipt format", "the receipt is not JSON") from None
    json_length = int.from_bytes(r[4 + n:12 + n], "little")
    oip = r[12 + n:]
    if json_length > len(oip):
        raise VerificationError("response", f"json_length {json_length} exceeds the {len(oip)}-byte body")
    return receipt, json_length, oip


# ---------------------------------------------------------------------------------------------
# Open Inference Protocol bodies.

_NUMPY_DATATYPES = {"float32": "FP32", "float64": "FP32", "int64": "INT64", "int32": "INT32", "uint8": "UINT8",
                    "int8": "INT8", "bool": "BOOL"}
_BINARY_FORMATS = {"FP32": "f", "INT64": "q", "INT32": "i", "UINT8": "B", "INT8": "b", "BOOL": "?"}


def _flatten(data) -> list:
    if isinstance(data, (list, tuple)):
        return [x for item in data for x in _flatten(item)]
    return [data]


def _oip_input(name: str, spec) -> dict:
    """One OIP input tensor from (data, datatype, shape); datatype and shape may be None for a
    numpy array (FP32 for float64 arrays)."""
    data, datatype, shape = spec
    if hasattr(data, "dtype") and hasattr(data, "reshape"):  # numpy, without importing it
        datatype = datatype or _NUMPY_DATATYPES.get(str(data.dtype))
        shape = list(data.shape) if shape is None else shape
        if datatype == "FP32":
            data = data.astype("float32")
        data = data.reshape(-1).tolist()
    else:
        data = _flatten(data)
    if not datatype or shape is None:
        raise ValueError(f"input '{name}': give its datatype and shape")
    count = 1
    for d in shape:
        count *= int(d)
    if count != len(data):
        raise ValueError(f"input '{name}': shape {list(shape)} needs {count} elements, not {len(data)}")
    return {"name": name, "shape": [int(d) for d in shape], "datatype": datatype, "data": data}


def _oip_response(body: bytes, json_length: int) -> dict:
    """Parses an OIP response body; with binary outputs (json_length > 0) their bytes are
    decoded into each output's "data" as a flat list."""
    header = body[:json_length] if json_length else body
    doc = json.loads(header)
    if not isinstance(doc, dict):
        raise VerificationError("response", "the OIP response is not a JSON object")
    pos = json_length
    for out in doc.get("outputs", []) if json_length else []:
        size = (out.get("parameters") or {}).get("binary_data_size")
        if size is None:
            continue
        fmt = _BINARY_FORMATS[out["datatype"]]
        chunk = body[pos:pos + size]
        if len(chunk) != size or size % struct.calcsize(fmt):
            raise VerificationError("response", f"output '{out.get('name')}': binary data truncated")
        out["data"] = list(struct.unpack(f"<{size // struct.calcsize(fmt)}{fmt}", chunk))
        pos += size
    return doc


# ---------------------------------------------------------------------------------------------
# The client.


class TeeinferClient:
    """A client of `teeinfer serve --tee sim` that only talks to an attested enclave.

    attest() verifies the server's evidence against `policy` (see verify_evidence); infer()
    attests first if needed, then sends end-to-end encrypted requests."""

    def __init__(self, url: str, policy: dict, timeout: float = 60, session=None):
        import requests  # (here, so the HPKE and verification functions work without it)

        self.url = url.rstrip("/")
        self.policy = dict(policy)
        _policy(self.policy)  # refuse a malformed policy now
        self.timeout = timeout
        self.http = session or requests.Session()
        self.hpke_key = self.receipt_key = self.measurement = None
        self.report = []

    def attest(self) -> list:
        """GET /v2/attestation with a fresh 32-byte nonce and verifies the evidence; keeps the
        attested keys and the verified measurement. Returns the verification report (steps)."""
        nonce = os.urandom(32)
        r = self.http.get(f"{self.url}/v2/attestation", params={"nonce": nonce.hex()}, timeout=self.timeout)
        if r.status_code != 200:
            why = " (the server runs without an enclave)" if r.status_code == 404 else ""
            raise VerificationError("evidence", f"GET /v2/attestation answered HTTP {r.status_code}{why}")
        try:
            doc = r.json()
            evidence = bytes.fromhex(doc["evidence"])
            hpke_key, receipt_key = bytes.fromhex(doc["keys"]["hpke"]), bytes.fromhex(doc["keys"]["receipt"])
        except (ValueError, KeyError, TypeError):
            raise VerificationError("evidence",
                                    "the attestation answer is not {evidence, keys: {hpke, receipt}} in hex") from None
        self.hpke_key = self.receipt_key = self.measurement = None
        steps = verify_evidence(evidence, self.policy, hpke_key, receipt_key, nonce)
        self.hpke_key, self.receipt_key = hpke_key, receipt_key
        self.measurement = parse_quote(evidence)["body"]["mr_enclave"]
        self.report = steps
        return steps

    def infer(self, model: str, inputs: dict, version: str | None = None,
              outputs: list | None = None) -> tuple[dict, dict]:
        """Runs `model` on `inputs` ({name: (data, datatype, shape)}) end to end encrypted.
        Returns (the OIP response as a dict, the verified receipt). Raises VerificationError
        for anything that does not verify, InferenceError for an error status."""
        if self.receipt_key is None:
            self.attest()
        request = {"inputs": [_oip_input(name, spec) for name, spec in inputs.items()]}
        if outputs:
            request["outputs"] = [{"name": o} for o in outputs]
        body = json.dumps(request, separators=(",", ":"), allow_nan=False).encode()
        plain = struct.pack("<Q", 0) + body
        path = "/v2/models/" + urllib.parse.quote(model, safe="")
        if version is not None:
            path += "/versions/" + urllib.parse.quote(str(version), safe="")
        path += "/infer"
        aad = b"POST " + (urllib.parse.urlsplit(self.url).path + path).encode()
        enc, context = hpke_setup_sender(self.hpke_key, REQUEST_INFO)
        r = self.http.post(self.url + path, data=context.seal(aad, plain), timeout=self.timeout,
                           headers={"Teeinfer-Encapsulated-Key": enc.hex(), "Content-Type": "application/octet-stream"})
        if r.headers.get("Teeinfer-Encrypted") != "1":
            if r.status_code == 200:
                raise VerificationError("response", "HTTP 200 without Teeinfer-Encrypted: 1 (not the enclave's answer)")
            raise InferenceError(r.status_code, f"{r.text[:500]} (from the host, unauthenticated)")
        receipt, json_length, oip = decrypt_response(context, r.content)
        verify_receipt(receipt, self.receipt_key, self.measurement, hashlib.sha256(plain).digest(),
                       hashlib.sha256(oip).digest(), status=r.status_code)
        if r.status_code != 200:
            raise InferenceError(r.status_code, oip[:2000].decode("utf-8", "replace"), receipt)
        try:
            return _oip_response(oip, json_length), receipt
        except (ValueError, KeyError, TypeError, struct.error):
            raise VerificationError("response", "the decrypted OIP response does not parse") from None


# ---------------------------------------------------------------------------------------------
# Command line.


def _top5(doc: dict) -> list | None:
    """[(index, score)] of the 5 highest scores when the response is one FP32 vector (batch 1)."""
    outs = doc.get("outputs", [])
    if len(outs) != 1 or outs[0].get("datatype") != "FP32":
        return None
    shape, data = outs[0].get("shape", []), outs[0].get("data", [])
    if sum(1 for d in shape if d != 1) > 1 or len(data) < 2:
        return None
    return sorted(enumerate(data), key=lambda p: -p[1])[:5]


def main(argv: list | None = None) -> int:
    """`python3 teeinfer_client.py URL --model M --input NAME=FILE.npy ...`: attest, infer, print."""
    ap = argparse.ArgumentParser(
        description="End-to-end encrypted, attested inference against `teeinfer serve --tee sim`.")
    ap.add_argument("url", help="the server, e.g. http://127.0.0.1:8000")
    ap.add_argument("--model", required=True)
    ap.add_argument("--model-version", dest="version", help="a model version (default: the server's choice)")
    ap.add_argument("--input", action="append", required=True, metavar="NAME=FILE.npy", help="an input tensor (repeat)")
    ap.add_argument("--policy", help="a JSON policy: measurements (a list of hex), signers, min_security_version, "
                    "allow_simulated, allow_debug")
    ap.add_argument("--allow-simulated", action="store_true",
                    help="accept the emulated TEE's evidence (anyone can forge it)")
    ap.add_argument("--measurement", action="append", default=[], metavar="HEX", help="an accepted MRENCLAVE (repeat)")
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    args = ap.parse_args(argv)

    policy = {}
    if args.policy:
        with open(args.policy, encoding="utf-8") as f:
            policy = json.load(f)
    policy["measurements"] = list(policy.get("measurements", [])) + args.measurement
    if args.allow_simulated:
        policy["allow_simulated"] = True
    try:
        import numpy as np
    except ImportError:
        ap.error("--input FILE.npy needs numpy (python3-numpy)")
    inputs = {}
    for item in args.input:
        name, sep, path = item.partition("=")
        if not sep:
            ap.error(f"--input {item!r}: expected NAME=FILE.npy")
        try:
            inputs[name] = (np.load(path, allow_pickle=False), None, None)
        except (OSError, ValueError) as e:
            ap.error(f"--input {item!r}: not a .npy file ({e})")

    client = TeeinferClient(args.url, policy)
    report = []
    try:
        report = client.attest()
        doc, receipt = client.infer(args.model, inputs, version=args.version)
    except VerificationError as e:
        steps = report or e.steps  # (attest() failed: the steps before the failure)
        if args.json:
            print(json.dumps({"ok": False, "verification": [s._asdict() for s in steps],
                              "failed": {"check": e.step, "detail": e.detail}}, indent=2))
        else:
            print("evidence:")
            for s in steps:
                print(f"  ok    {s.check}: {s.detail}")
            print(f"  FAIL  {e.step}: {e.detail}")
        return 1
    except (InferenceError, OSError) as e:  # (requests' errors are OSErrors)
        print(f"teeinfer_client: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"ok": True, "verification": [s._asdict() for s in report],
                          "measurement": client.measurement.hex(), "outputs": doc, "receipt": receipt}, indent=2))
        return 0
    print("evidence:")
    for s in report:
        print(f"  ok    {s.check}: {s.detail}")
    print(f"receipt: sequence {receipt['sequence']}, model {receipt['model_id']} version {receipt['model_version']}, "
          f"status {receipt['status']} (signature verified)")
    top = _top5(doc)
    if top is not None:
        print(f"top-5 of '{doc['outputs'][0]['name']}':")
        for index, score in top:
            print(f"  {index:6d}  {score:.6g}")
    else:
        for out in doc.get("outputs", []):
            print(f"{out.get('name')} {out.get('datatype')} {out.get('shape')}: {out.get('data')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
