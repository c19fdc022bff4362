"""Tests of clients/python/teeinfer_client.py that need no teeinfer server.

    /usr/bin/python3 tests/python/test_python_client.py [-v]

- HPKE against RFC 9180's test vectors, and against npm @hpke (tools/hpke-interop, `make deps-build`)
- quote parsing and evidence verification on synthetic quotes (and one the C++ enclave made)
- receipts: the signed layout, and every change refused
- the client's wire format against an in-process fake enclave server (and its command line)
"""

import contextlib
import hashlib
import http.server
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import unittest
import urllib.parse

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))
import teeinfer_client as tc  # noqa: E402

try:
    import numpy
except ImportError:  # numpy is optional for the module; its tests are skipped without it
    numpy = None

# ---------------------------------------------------------------------------------------------
# RFC 9180 test vectors for mode_base, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, as
# tests/test_hpke.cpp embeds them: the entry {"mode":0,"kem_id":32,"kdf_id":1,"aead_id":2} of
# test-vectors.json in github.com/cfrg/draft-irtf-cfrg-hpke at commit 5f503c5 (the RFC's; git
# blob 514dd8bb), which RFC 9180 Appendix A points to. pt = "Beauty is truth, truth beauty" and
# aad = "Count-<seq>" in every encryption.

VEC_INFO = "4f6465206f6e2061204772656369616e2055726e"  # "Ode on a Grecian Urn"
VEC_IKM_E = "2cd7c601cefb3d42a62b04b7a9041494c06c7843818e0ce28a8f704ae7ab20f9"
VEC_IKM_R = "dac33b0e9db1b59dbbea58d59a14e7b5896e9bdf98fad6891e99d1686492b9ee"
VEC_SK_EM = "179d4b53b6365c45b600c4163b61d95cbc2f4d9e36f1695558dce265ab8bab11"
VEC_PK_EM = "6c93e09869df3402d7bf231bf540fadd35cd56be14f97178f0954db94b7fc256"
VEC_SK_RM = "497b4502664cfea5d5af0b39934dac72242a74f8480451e1aee7d6a53320333d"
VEC_PK_RM = "430f4b9859665145a6b1ba274024487bd66f03a2dd577d7753c68d7d7d00c00c"
VEC_ENC = "6c93e09869df3402d7bf231bf540fadd35cd56be14f97178f0954db94b7fc256"
VEC_KEY = "f50b0609186798729ed0564b36ef2ef8044f1f9d05636874d1f46c819c7a669f"
VEC_BASE_NONCE = "151d9929e2449747889bc923"
VEC_EXPORTER_SECRET = "86017151bbff6a1940e8abae2ac9e0e7032e33df1eaaecc02ca6259b130d62df"
VEC_PT = "4265617574792069732074727574682c20747275746820626561757479"
VEC_ENCRYPTIONS = {  # seq -> (nonce, ct)
    0: ("151d9929e2449747889bc923",
        "e5d84cd531cfb583096e7cfa9641bd3079cf3a91cda813c52deb5f512be9931980a41de125a925cdad859d5b7a"),
    1: ("151d9929e2449747889bc922",
        "2c43aff25343fdbff864506f0818b9d87df84ea01b1a2144d23b4d40c26bf655fdf197fe40297a8aebeed5cc2d"),
    2: ("151d9929e2449747889bc921",
        "e0a8f2cf92ff61215edbb8c55dc31fe9e2eb42a5685867bb6854211542099f9e940c4b41c192bc390835b1a5f7"),
    127: ("151d9929e2449747889bc95c",
          "99f8286c7921b46fc90023361caa5b4b2e0c3d3b71b65de596876eb70a2211d89b4a90acc225b24954224919b1"),
    128: ("151d9929e2449747889bc9a3",
          "b9b31bc2dafa1c31154322fe4d23b5f130cdc8f6c92da9ccc937503f4173d5cbc6df18d7847b77aeaa11be32da"),
    255: ("151d9929e2449747889bc9dc",
          "f6ad1823eb0b932d04b6e23010eea64f1fe5edd0583dae5ba27ca6363f4ea104bd217331460ef4208040423641"),
    256: ("151d9929e2449747889bc823",
          "53624f4f9f173453b14e633b45390ff54cacaa4428d44baee1bff8133fab1ab3afe60f88e4634b525c54e92eda"),
}
VEC_EXPORTS = [  # (exporter_context, L, exported_value): every export entry of the vector
    ("", 32, "ded6cffafaea6b812cbf3e241e88332adbc077aca81512914213810ee291770a"),
    ("00", 32, "04d3cb6cc116b28ffd22ad5bc276c60d31fec71ceb87ae24db811c64b7507339"),
    ("54657374436f6e74657874", 32, "7c5ded445732c14fe09727d29b4251c0fd38455fe8440571e687f0886aac94d2"),
]

h = bytes.fromhex


class HpkeVectors(unittest.TestCase):
    def setUp(self):
        self.enc, self.ctx = tc.hpke_setup_sender(h(VEC_PK_RM), h(VEC_INFO), ephemeral_sk=h(VEC_SK_EM))

    def test_derive_key_pair(self):
        self.assertEqual(tc.derive_key_pair(h(VEC_IKM_E)), (h(VEC_SK_EM), h(VEC_PK_EM)))
        self.assertEqual(tc.derive_key_pair(h(VEC_IKM_R)), (h(VEC_SK_RM), h(VEC_PK_RM)))

    def test_encap_and_key_schedule(self):
        self.assertEqual(self.enc.hex(), VEC_ENC)
        recipient = tc.hpke_setup_recipient(self.enc, h(VEC_SK_RM), h(VEC_INFO))
        for c in (self.ctx, recipient):
            self.assertEqual(c.key.hex(), VEC_KEY)
            self.assertEqual(c.base_nonce.hex(), VEC_BASE_NONCE)
            self.assertEqual(c.exporter_secret.hex(), VEC_EXPORTER_SECRET)

    def test_encryptions_in_sequence(self):
        recipient = tc.hpke_setup_recipient(self.enc, h(VEC_SK_RM), h(VEC_INFO))
        for seq in range(max(VEC_ENCRYPTIONS) + 1):
            aad = b"Count-%d" % seq
            if seq in VEC_ENCRYPTIONS:
                nonce = bytes(a ^ b for a, b in zip(self.ctx.base_nonce, seq.to_bytes(12, "big")))
                self.assertEqual(nonce.hex(), VEC_ENCRYPTIONS[seq][0], f"seq {seq}")
            ct = self.ctx.seal(aad, h(VEC_PT))
            if seq in VEC_ENCRYPTIONS:
                self.assertEqual(ct.hex(), VEC_ENCRYPTIONS[seq][1], f"seq {seq}")
            self.assertEqual(recipient.open(aad, ct), h(VEC_PT))
        self.assertEqual(self.ctx.seq, 257)

    def test_every_export(self):
        for context, length, value in VEC_EXPORTS:
            self.assertEqual(self.ctx.export(h(context), length).hex(), value, f"exporter_context '{context}'")

    def test_refusals(self):
        with self.assertRaises(ValueError):  # a low-order point: the all-zero shared secret
            tc.hpke_setup_sender(bytes(32), b"info")
        with self.assertRaises(ValueError):
            tc.hpke_setup_sender(bytes(31), b"info")
        with self.assertRaises(ValueError):
            self.ctx.export(b"", 255 * 32 + 1)
        self.assertEqual(len(self.ctx.export(b"", 255 * 32)), 255 * 32)
        recipient = tc.hpke_setup_recipient(self.enc, h(VEC_SK_RM), h(VEC_INFO))
        ct = bytearray(self.ctx.seal(b"aad", b"message"))
        ct[0] ^= 1
        with self.assertRaises(Exception):
            recipient.open(b"aad", bytes(ct))
        self.assertEqual(recipient.seq, 0)  # a failed open leaves the sequence number


# ---------------------------------------------------------------------------------------------
# Interoperability with npm @hpke/core + @hpke/dhkem-x25519 (tools/hpke-interop/interop.mjs).

INTEROP = os.path.join(ROOT, "tools", "hpke-interop")


class HpkeInteropWithNode(unittest.TestCase):
    def node(self, *args, **kwargs):
        node = shutil.which("node") or "/usr/bin/node"
        if not os.path.exists(node):
            self.fail("node (Node.js) is not installed: the HPKE interop test needs it (make deps-build)")
        if not os.path.isdir(os.path.join(INTEROP, "node_modules", "@hpke", "core")):
            self.fail(f"{INTEROP}/node_modules is missing: run `make deps-build` (npm ci in tools/hpke-interop)")
        return [node, os.path.join(INTEROP, "interop.mjs"), *args]

    def run_node(self, *args):
        r = subprocess.run(self.node(*args), capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.splitlines()

    def test_derive_key_pair_agrees(self):
        for ikm in (os.urandom(32), os.urandom(64), h(VEC_IKM_R)):
            sk, pk = tc.derive_key_pair(ikm)
            self.assertEqual(self.run_node("derive", ikm.hex()), [sk.hex(), pk.hex()])

    def test_python_seals_node_opens(self):
        # The wire format's own info and exporter context, and generic ones.
        for info, exp_ctx, length in ((tc.REQUEST_INFO, b"teeinfer response key", 32),
                                      (b"", b"", 0), (os.urandom(100), os.urandom(7), 45)):
            proc = subprocess.Popen(self.node("open", info.hex(), exp_ctx.hex(), str(length)), stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            pk_r = h(proc.stdout.readline().strip())
            enc, ctx = tc.hpke_setup_sender(pk_r, info)
            messages = [(b"POST /v2/models/fmnist/infer", struct.pack("<Q", 0) + b'{"inputs":[]}'),
                        (b"", b""), (os.urandom(13), os.urandom(1)), (b"x", os.urandom(10000))]
            lines = [enc.hex()]
            for aad, pt in messages:
                lines += [aad.hex(), ctx.seal(aad, pt).hex()]
            tampered = bytearray(ctx.seal(b"last", b"tampered"))
            tampered[-1] ^= 0x80
            lines += [b"last".hex(), tampered.hex()]
            out, err = proc.communicate("\n".join(lines) + "\n", timeout=60)
            self.assertEqual(proc.returncode, 0, err)
            out = out.splitlines()
            self.assertEqual(out[:len(messages)], [pt.hex() for _, pt in messages])
            self.assertTrue(out[len(messages)].startswith("!"), out[len(messages)])  # the tampered one
            self.assertEqual(out[-1], ctx.export(exp_ctx, length).hex())

    def test_node_seals_python_opens(self):
        sk_r, pk_r = tc.derive_key_pair(os.urandom(32))
        info, exp_ctx = b"teeinfer request v1", b"teeinfer response nonce"
        messages = [(b"aad-1", b"hello"), (b"", b""), (b"POST /v2/models/m/infer", os.urandom(3000))]
        args = [pk_r.hex(), info.hex(), exp_ctx.hex(), "12"]
        for aad, pt in messages:
            args += [aad.hex(), pt.hex()]
        out = self.run_node("seal", *args)
        recipient = tc.hpke_setup_recipient(h(out[0]), sk_r, info)
        for (aad, pt), ct in zip(messages, out[1:-1]):
            self.assertEqual(recipient.open(aad, h(ct)), pt)
        self.assertEqual(recipient.export(exp_ctx, 12).hex(), out[-1])


# ---------------------------------------------------------------------------------------------
# Synthetic quotes in the SGX DCAP v3 layout, made here independently of the module.

SEED = b"teeinfer simulated attestation root v1 (public: never trust)"  # src/common/simulated_root.h
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def derived_scalar(seed):
    """As src/common/ecdsa_p256.cpp derive_private_key: SHA-256(u32 BE counter || seed) in [1, n-1]."""
    for counter in range(1 << 32):
        k = int.from_bytes(hashlib.sha256(struct.pack(">I", counter) + seed).digest(), "big")
        if 0 < k < P256_N:
            return k


ROOT_KEY = ec.derive_private_key(derived_scalar(SEED), ec.SECP256R1())


def raw_public(key):
    n = key.public_key().public_numbers()
    return n.x.to_bytes(32, "big") + n.y.to_bytes(32, "big")


def raw_sign(key, message):
    r, s = utils.decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def report_body(mr_enclave=bytes(32), mr_signer=bytes(32), prod_id=0, svn=0, flags=0x04, report_data=bytes(64)):
    body = (bytes(16) + struct.pack("<I", 0) + bytes(28) + struct.pack("<QQ", flags, 3) + mr_enclave + bytes(32)
            + mr_signer + bytes(96) + struct.pack("<HH", prod_id, svn) + bytes(60) + report_data)
    assert len(body) == 384
    return body


MEASUREMENT = hashlib.sha256(b"a trusted core").digest()
SIGNER = hashlib.sha256(b"a signer").digest()
QE_AUTH = b"teeinfer-sim"


class Evidence:
    """A quote and what it binds; keyword arguments change one thing from the genuine one."""

    def __init__(self, nonce=None, mr_enclave=MEASUREMENT, svn=2, debug=False, version=3, cert_type=0x7E51,
                 cert_data=None, qe_signer=None, bind_attestation_key=True, qe_tail=bytes(32), isv_signer=None,
                 report_data=None,
                 mutate_signed=None, hpke_key=None, receipt_sk=None):
        self.nonce = nonce or os.urandom(32)
        self.hpke_key = hpke_key or os.urandom(32)
        self.receipt_sk = receipt_sk or ec.generate_private_key(ec.SECP256R1())
        self.receipt_key = raw_public(self.receipt_sk)
        att_sk = ec.generate_private_key(ec.SECP256R1())
        att_pk = raw_public(att_sk)
        bound = att_pk if bind_attestation_key else raw_public(ec.generate_private_key(ec.SECP256R1()))
        qe_body = report_body(prod_id=1, svn=1, report_data=hashlib.sha256(bound + QE_AUTH).digest() + qe_tail)
        keys_digest = hashlib.sha256(b"teeinfer keys v1" + self.hpke_key + self.receipt_key).digest()
        body = report_body(mr_enclave, SIGNER, 1, svn, 0x04 | (0x02 if debug else 0),
                           report_data if report_data is not None else keys_digest + self.nonce)
        header = (struct.pack("<HHIHH", version, 2, 0, 1, 1) + b"teeinfer-sim-qe1" + bytes(20))
        signed = header + body
        isv_signature = raw_sign(isv_signer or att_sk, signed)
        if mutate_signed:
            signed = mutate_signed(signed)
        cert = raw_public(ROOT_KEY) if cert_data is None else cert_data
        sig_data = (isv_signature + att_pk + qe_body + raw_sign(qe_signer or ROOT_KEY, qe_body)
                    + struct.pack("<H", len(QE_AUTH)) + QE_AUTH + struct.pack("<HI", cert_type, len(cert)) + cert)
        self.quote = signed + struct.pack("<I", len(sig_data)) + sig_data

    def verify(self, policy=None, **override):
        pol = {"measurements": [MEASUREMENT.hex()], "min_security_version": 1, "allow_simulated": True}
        pol.update(policy or {})
        args = dict(hpke_key=self.hpke_key, receipt_key=self.receipt_key, nonce=self.nonce)
        args.update(override)
        return tc.verify_evidence(self.quote, pol, args["hpke_key"], args["receipt_key"], args["nonce"])


POLICY = {"measurements": [MEASUREMENT.hex()], "min_security_version": 1, "allow_simulated": True}
STEPS = ["quote format", "certification chain", "QE report signature", "attestation key", "quote signature",
         "debug attribute", "measurement", "signer", "security version", "report data: keys", "report data: nonce"]

# A quote teeinfer's emulated TEE made (build/teeinfer serve --tee sim --key-server, to a
# throwaway key broker that recorded the tee-evidence, tee-pubkey and the nonce it issued).
CPP_QUOTE = h(
    "030002000000000001000100746565696e6665722d73696d2d7165310000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "04000000000000000300000000000000f8c4ad2b34a5712d8fa3e35339a1115ffd74d6ce972ebc5595694493c0f68a98"
    "0000000000000000000000000000000000000000000000000000000000000000bce7878d73e989fbf8c81201062e0999"
    "ca5a3141927ef5b840872807cfa62dae0000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000100010000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000533d7544dcfaaeffdd23e59f7a2c861b"
    "9bd5ce34d5201733162839e22562c1f92c09364d27b321446332716feffe641a03cbcdff7c4d36359515382de88ba89e"
    "940200003f1078fc8b729dbbac9adec35f49b1208e7c51e1021b202ed627266a250e17ffca027fb6f43216edbd17f574"
    "683700d9515f468a56e4bd4d02f500147bb22152a075969e9b9047b77bd7575e3b90a20e9fe36b1911e5f25527302dd9"
    "c751a5f684bb0f0270f2967b4db2783a58055ab4615aabb2a93d900eba16aa7055a6b330000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000100010000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000bbe72ae4be6c0533d03482b4b586fe6030c4828ca0be81364a8fbd0a"
    "dcec5d500000000000000000000000000000000000000000000000000000000000000000462034bbaaebbcb4ef7a75e9"
    "eaa69adbd9231a69f71d61f4ba6955e4d1a75bf1b62be476c5208ad601eda3e0ac9a564eb3a669467914f2d9035a1ef4"
    "233605b70c00746565696e6665722d73696d517e400000000ba54a5b2c4bc6183c77b99b987fb62d6818bc4e5d421cc1"
    "b4133756a2556d03eedc21714c8ea7c01d5a1ab66a35314f2a357966c9597cb1fc1fa92dda504917")
CPP_HPKE_KEY = h("c1eca9ff8c2c345ee465f52214e05fd2d1a6d876ac91caf5115775f0bd2bac02")
CPP_RECEIPT_KEY = h("3ccdb568a28f575fa5fcc2db197dc51327e150ef5b55727c8b1216b2701498f6"
                    "9d20eb573953bfac4d49fa795f1220eb6c77b8c778dda11aeede8222c08e7664")
CPP_NONCE = h("2c09364d27b321446332716feffe641a03cbcdff7c4d36359515382de88ba89e")


class Quotes(unittest.TestCase):
    def assertRefused(self, step, fn, *args, **kwargs):
        with self.assertRaises(tc.VerificationError) as cm:
            fn(*args, **kwargs)
        self.assertEqual(cm.exception.step, step, cm.exception.detail)
        return cm.exception

    def test_simulated_root_is_derived_from_the_seed(self):
        self.assertEqual(tc.simulated_root_public_key(), raw_public(ROOT_KEY))
        # ... and it is the key the C++ quoting enclave puts in its certification data.
        self.assertEqual(CPP_QUOTE[-64:], raw_public(ROOT_KEY))

    def test_genuine_quote_passes_every_step_in_order(self):
        e = Evidence()
        steps = e.verify()
        self.assertEqual([s.check for s in steps], STEPS)
        self.assertIn(MEASUREMENT.hex(), steps[STEPS.index("measurement")].detail)
        q = tc.parse_quote(e.quote)
        self.assertEqual((q["version"], q["attestation_key_type"], q["tee_type"]), (3, 2, 0))
        body = q["body"]
        self.assertEqual((body["mr_enclave"], body["mr_signer"], body["isv_svn"]), (MEASUREMENT, SIGNER, 2))
        self.assertEqual(q["body"]["report_data"][32:], e.nonce)
        self.assertEqual((q["qe_auth_data"], q["cert_type"]), (QE_AUTH, 0x7E51))

    def test_quote_from_the_cpp_enclave(self):
        q = tc.parse_quote(CPP_QUOTE)
        self.assertEqual((q["qe_vendor_id"], q["body"]["isv_prod_id"], q["body"]["isv_svn"]),
                         (b"teeinfer-sim-qe1", 1, 1))
        policy = {"measurements": [q["body"]["mr_enclave"].hex()], "min_security_version": 1, "allow_simulated": True}
        steps = tc.verify_evidence(CPP_QUOTE, policy, CPP_HPKE_KEY, CPP_RECEIPT_KEY, CPP_NONCE)
        self.assertEqual([s.check for s in steps], STEPS)
        self.assertRefused("report data: nonce", tc.verify_evidence, CPP_QUOTE, policy, CPP_HPKE_KEY, CPP_RECEIPT_KEY,
                           os.urandom(32))

    def test_simulated_evidence_refused_unless_allowed(self):
        e = self.assertRefused("certification chain", Evidence().verify, {"allow_simulated": False})
        self.assertIn("allow_simulated", e.detail)
        self.assertEqual([s.check for s in e.steps], ["quote format"])
        e = Evidence()  # allow_simulated is false unless the policy says otherwise
        self.assertRefused("certification chain", tc.verify_evidence, e.quote, {"measurements": [MEASUREMENT.hex()]},
                           e.hpke_key, e.receipt_key, e.nonce)

    def test_other_certification_data_refused(self):
        pck = Evidence(cert_type=5, cert_data=b"-----BEGIN CERTIFICATE-----")
        self.assertRefused("certification chain", pck.verify)
        self.assertRefused("certification chain", Evidence(cert_type=6).verify)
        other_root = raw_public(ec.generate_private_key(ec.SECP256R1()))
        self.assertRefused("certification chain", Evidence(cert_data=other_root).verify)

    def test_wrong_header_refused(self):
        self.assertRefused("quote format", Evidence(version=4).verify)

    def test_bad_qe_signature(self):
        self.assertRefused("QE report signature", Evidence(qe_signer=ec.generate_private_key(ec.SECP256R1())).verify)
        e = Evidence()
        q = bytearray(e.quote)
        qe_sig_at = 432 + 4 + 64 + 64 + 384
        q[qe_sig_at + 5] ^= 1
        e.quote = bytes(q)
        self.assertRefused("QE report signature", e.verify)

    def test_attestation_key_not_bound(self):
        self.assertRefused("attestation key", Evidence(bind_attestation_key=False).verify)
        # (REPORT_DATA[32..64] of the QE report is zero, as the C++ verifier requires)
        self.assertRefused("attestation key", Evidence(qe_tail=b"\1" + bytes(31)).verify)

    def test_bad_quote_signature(self):
        self.assertRefused("quote signature", Evidence(isv_signer=ec.generate_private_key(ec.SECP256R1())).verify)
        # A measurement changed after signing.
        changed = Evidence(mutate_signed=lambda s: s[:48 + 64] + bytes(32) + s[48 + 96:])
        self.assertRefused("quote signature", changed.verify, {"measurements": ["00" * 32]})
        e = Evidence()
        q = bytearray(e.quote)
        q[436 + 40] ^= 1  # inside the ISV signature
        e.quote = bytes(q)
        self.assertRefused("quote signature", e.verify)

    def test_debug_enclave(self):
        self.assertRefused("debug attribute", Evidence(debug=True).verify)
        self.assertEqual(len(Evidence(debug=True).verify({"allow_debug": True})), len(STEPS))

    def test_measurement(self):
        e = self.assertRefused("measurement", Evidence(mr_enclave=os.urandom(32)).verify)
        self.assertEqual(len(e.steps), STEPS.index("measurement"))
        self.assertRefused("measurement", Evidence().verify, {"measurements": []})
        other = os.urandom(32).hex()
        self.assertEqual(len(Evidence().verify({"measurements": [other, MEASUREMENT.hex().upper()]})), len(STEPS))

    def test_signer(self):
        self.assertRefused("signer", Evidence().verify, {"signers": [os.urandom(32).hex()]})
        self.assertEqual(len(Evidence().verify({"signers": [SIGNER.hex()]})), len(STEPS))

    def test_security_version(self):
        self.assertRefused("security version", Evidence(svn=1).verify, {"min_security_version": 2})
        self.assertEqual(len(Evidence(svn=2).verify({"min_security_version": 2})), len(STEPS))

    def test_keys_not_bound(self):
        e = Evidence()
        self.assertRefused("report data: keys", e.verify, hpke_key=os.urandom(32))
        other = raw_public(ec.generate_private_key(ec.SECP256R1()))
        self.assertRefused("report data: keys", e.verify, receipt_key=other)
        self.assertRefused("report data: keys", e.verify, hpke_key=e.hpke_key[:31])
        self.assertRefused("report data: keys", Evidence(report_data=bytes(64)).verify)

    def test_wrong_nonce(self):
        e = self.assertRefused("report data: nonce", Evidence().verify, nonce=os.urandom(32))
        self.assertEqual([s.check for s in e.steps], STEPS[:-1])
        self.assertRefused("report data: nonce", Evidence().verify, nonce=b"")

    def test_every_truncation_refused(self):
        quote = Evidence().quote
        for n in range(len(quote)):
            with self.assertRaises(tc.VerificationError, msg=f"{n} bytes") as cm:
                tc.parse_quote(quote[:n])
            self.assertEqual(cm.exception.step, "quote format")
        self.assertIn("header.version", self.assertRefused("quote format", tc.parse_quote, quote[:1]).detail)
        self.assertIn("report body", self.assertRefused("quote format", tc.parse_quote, quote[:100]).detail)
        self.assertIn("signature data length", self.assertRefused("quote format", tc.parse_quote, quote[:-1]).detail)

    def test_truncated_fields_inside_the_signature_data(self):
        quote = Evidence().quote

        def cut(n):  # drops the last n bytes and keeps the signature data length consistent
            sig = quote[436:len(quote) - n]
            return quote[:432] + struct.pack("<I", len(sig)) + sig

        self.assertIn("certification data length", self.assertRefused("quote format", tc.parse_quote, cut(1)).detail)
        self.assertIn("certification data type", self.assertRefused("quote format", tc.parse_quote, cut(64 + 6)).detail)
        self.assertIn("QE auth data", self.assertRefused("quote format", tc.parse_quote, cut(64 + 6 + 2)).detail)
        self.assertIn("QE report signature",
                      self.assertRefused("quote format", tc.parse_quote, cut(64 + 6 + len(QE_AUTH) + 2 + 10)).detail)
        short = quote[:432] + struct.pack("<I", 10) + bytes(10)
        self.assertIn("ISV report signature", self.assertRefused("quote format", tc.parse_quote, short).detail)

    def test_trailing_bytes_refused(self):
        quote = Evidence().quote
        self.assertIn("trailing", self.assertRefused("quote format", tc.parse_quote, quote + b"\0").detail)
        sig = quote[436:] + b"\0"  # the signature data length says so too: the certification data's does not
        e = self.assertRefused("quote format", tc.parse_quote, quote[:432] + struct.pack("<I", len(sig)) + sig)
        self.assertIn("certification data length", e.detail)
        self.assertRefused("quote format", tc.verify_evidence, quote + b"\0", POLICY, bytes(32), bytes(64), bytes(32))
        self.assertRefused("quote format", tc.parse_quote, quote + bytes(64 * 1024))
        big = Evidence(cert_data=bytes(64 * 1024)).quote  # consistent lengths, over the 64 KiB limit
        self.assertIn("limit", self.assertRefused("quote format", tc.parse_quote, big).detail)

    def test_malformed_policy_is_an_error(self):
        for bad in ({"measurement": []}, {"measurements": ["zz"]}, {"min_security_version": -1},
                    {"allow_simulated": "yes"}):
            with self.assertRaises(ValueError, msg=str(bad)):
                Evidence().verify(bad)


# ---------------------------------------------------------------------------------------------
# Receipts.

def make_receipt(key, **fields):
    r = {"format": "teeinfer-receipt-v1", "model_id": os.urandom(16).hex(), "model_version": 3,
         "manifest_sha256": os.urandom(32).hex(), "request_sha256": os.urandom(32).hex(),
         "response_sha256": os.urandom(32).hex(), "measurement": MEASUREMENT.hex(), "status": 200,
         "sequence": 41, "host_time_untrusted_ms": 1767225600000}
    r.update(fields)
    r["signature"] = raw_sign(key, tc.receipt_message(r)).hex()
    return r


class Receipts(unittest.TestCase):
    def setUp(self):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.pub = raw_public(self.key)
        self.receipt = make_receipt(self.key)

    def verify(self, receipt, **override):
        args = dict(receipt_key=self.pub, measurement=MEASUREMENT, request_sha256=h(self.receipt["request_sha256"]),
                    response_sha256=h(self.receipt["response_sha256"]), status=200)
        args.update(override)
        return tc.verify_receipt(receipt, **args)

    def refused(self, step, receipt, **override):
        with self.assertRaises(tc.VerificationError) as cm:
            self.verify(receipt, **override)
        self.assertEqual(cm.exception.step, step, cm.exception.detail)

    def test_signed_layout(self):
        r = self.receipt
        expected = (b"teeinfer receipt v1" + h(r["model_id"]) + struct.pack("<Q", 3) + h(r["manifest_sha256"])
                    + h(r["request_sha256"]) + h(r["response_sha256"]) + MEASUREMENT + struct.pack("<H", 200)
                    + struct.pack("<Q", 41) + struct.pack("<Q", 1767225600000))
        self.assertEqual(tc.receipt_message(r), expected)
        self.assertEqual(len(expected), 19 + 16 + 8 + 4 * 32 + 2 + 8 + 8)

    def test_genuine_receipt_verifies(self):
        self.assertIs(self.verify(self.receipt), self.receipt)
        self.verify(dict(self.receipt, signature=self.receipt["signature"].upper()))

    def test_every_changed_field_refused(self):
        for name, value in self.receipt.items():
            if name in ("format", "signature"):
                continue
            changed = dict(self.receipt)
            if isinstance(value, int):
                changed[name] = value + 1
            else:
                b = bytearray(h(value))
                b[len(b) // 2] ^= 0x01
                changed[name] = b.hex()
            self.refused("receipt signature", changed)

    def test_changed_signature_refused(self):
        sig = h(self.receipt["signature"])
        for i in (0, 31, 32, 63):
            b = bytearray(sig)
            b[i] ^= 0x40
            self.refused("receipt signature", dict(self.receipt, signature=b.hex()))
        self.refused("receipt signature", dict(self.receipt, signature="00" * 64))
        self.refused("receipt signature", self.receipt, receipt_key=raw_public(ec.generate_private_key(ec.SECP256R1())))

    def test_signed_but_not_ours(self):
        self.refused("receipt measurement", make_receipt(self.key, measurement=os.urandom(32).hex()),
                     request_sha256=h(self.receipt["request_sha256"]))
        self.refused("receipt request", self.receipt, request_sha256=os.urandom(32))
        self.refused("receipt response", self.receipt, response_sha256=os.urandom(32))
        self.refused("receipt status", self.receipt, status=400)

    def test_malformed_receipt_refused(self):
        for bad in (dict(self.receipt, format="teeinfer-receipt-v2"), dict(self.receipt, extra=1),
                    {k: v for k, v in self.receipt.items() if k != "sequence"}, dict(self.receipt, status=True),
                    dict(self.receipt, model_version=-1), dict(self.receipt, sequence=1 << 64),
                    dict(self.receipt, model_id="ab" * 15), dict(self.receipt, measurement=" " + MEASUREMENT.hex()[1:]),
                    [self.receipt]):
            self.refused("receipt format", bad)


class ResponseFormat(unittest.TestCase):
    """R = receipt_length (u32 LE) || receipt || json_length (u64 LE) || OIP body, encrypted."""

    def seal(self, r):
        enc, ctx = tc.hpke_setup_sender(tc.derive_key_pair(os.urandom(32))[1], b"teeinfer request v1")
        key, nonce = ctx.export(b"teeinfer response key", 32), ctx.export(b"teeinfer response nonce", 12)
        return ctx, AESGCM(key).encrypt(nonce, r, b"teeinfer response v1")

    def test_split(self):
        receipt, oip = b'{"format": "x"}', b'{"outputs": []}'
        ctx, body = self.seal(struct.pack("<I", len(receipt)) + receipt + struct.pack("<Q", 0) + oip)
        self.assertEqual(tc.decrypt_response(ctx, body), ({"format": "x"}, 0, oip))

    def test_malformed(self):
        receipt = b"{}"
        for r in (b"", b"\1\0\0", struct.pack("<I", 3) + receipt + bytes(8),  # receipt longer than R
                  struct.pack("<I", 2) + receipt + bytes(7),  # json_length truncated
                  struct.pack("<I", 2) + receipt + struct.pack("<Q", 5) + b"{}"):  # json_length over the body
            ctx, body = self.seal(r)
            with self.assertRaises(tc.VerificationError, msg=r.hex()) as cm:
                tc.decrypt_response(ctx, body)
            self.assertEqual(cm.exception.step, "response")
        ctx, body = self.seal(struct.pack("<I", 2) + b"{]" + bytes(8))
        with self.assertRaises(tc.VerificationError) as cm:
            tc.decrypt_response(ctx, body)
        self.assertEqual(cm.exception.step, "receipt format")
        ctx, body = self.seal(struct.pack("<I", 2) + receipt + bytes(8))
        with self.assertRaises(tc.VerificationError) as cm:
            tc.decrypt_response(ctx, body[:-1])  # does not decrypt
        self.assertEqual(cm.exception.step, "response")

    def test_binary_outputs(self):
        header = json.dumps({"outputs": [{"name": "y", "datatype": "FP32", "shape": [2],
                                          "parameters": {"binary_data_size": 8}}]}).encode()
        doc = tc._oip_response(header + struct.pack("<2f", 1.5, -2.0), len(header))
        self.assertEqual(doc["outputs"][0]["data"], [1.5, -2.0])
        with self.assertRaises(tc.VerificationError):
            tc._oip_response(header + struct.pack("<f", 1.5), len(header))


# ---------------------------------------------------------------------------------------------
# The client against a fake enclave server (the real server's end-to-end test lives elsewhere).

class FakeEnclaveServer:
    """/v2/attestation and encrypted POST .../infer, as docs/attestation.md specifies them,
    answering each request with `self.answer(path, inputs) -> (status, OIP response dict)`.
    `self.mode` breaks one thing: plaintext, tamper, foreign-receipt, wrong-measurement,
    stale-nonce, plain-error."""

    def __init__(self):
        self.hpke_sk, self.hpke_pk = tc.derive_key_pair(os.urandom(32))
        self.receipt_sk = ec.generate_private_key(ec.SECP256R1())
        self.mode, self.requests, self.sequence = None, [], 0
        self.answer = lambda path, doc: (200, {"model_name": path.split("/")[3], "model_version": "1", "outputs": [
            {"name": "scores", "datatype": "FP32", "shape": [1, 10], "data": [0.1 * i for i in range(10)]}]})
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, body, headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                nonce = h(urllib.parse.parse_qs(url.query)["nonce"][0])
                e = Evidence(nonce=os.urandom(32) if fake.mode == "stale-nonce" else nonce, hpke_key=fake.hpke_pk,
                             receipt_sk=fake.receipt_sk)
                doc = {"evidence": e.quote.hex(), "keys": {"hpke": fake.hpke_pk.hex(), "receipt": e.receipt_key.hex()},
                       "measurement": MEASUREMENT.hex()}
                self.reply(200, json.dumps(doc).encode())

            def do_POST(self):
                ct = self.rfile.read(int(self.headers["Content-Length"]))
                enc = h(self.headers["Teeinfer-Encapsulated-Key"])
                ctx = tc.hpke_setup_recipient(enc, fake.hpke_sk, b"teeinfer request v1")
                try:
                    plain = ctx.open(b"POST " + self.path.encode(), ct)
                except Exception:
                    return self.reply(400, b'{"error":"the request does not open"}')
                json_length = struct.unpack("<Q", plain[:8])[0]
                request = json.loads(plain[8:])
                fake.requests.append((self.path, json_length, request))
                status, response = fake.answer(self.path, request)
                if fake.mode == "plain-error":
                    return self.reply(404, b'{"error":"no such model"}')
                oip = json.dumps(response).encode()
                fake.sequence += 1
                signer = ec.generate_private_key(ec.SECP256R1()) if fake.mode == "foreign-receipt" else fake.receipt_sk
                measurement = os.urandom(32) if fake.mode == "wrong-measurement" else MEASUREMENT
                receipt = json.dumps(make_receipt(
                    signer, request_sha256=hashlib.sha256(plain).hexdigest(),
                    response_sha256=hashlib.sha256(oip).hexdigest(), measurement=measurement.hex(), status=status,
                    sequence=fake.sequence)).encode()
                r = struct.pack("<I", len(receipt)) + receipt + struct.pack("<Q", 0) + oip
                key, nonce = ctx.export(b"teeinfer response key", 32), ctx.export(b"teeinfer response nonce", 12)
                body = bytearray(AESGCM(key).encrypt(nonce, r, b"teeinfer response v1"))
                if fake.mode == "tamper":
                    body[10] ^= 1
                if fake.mode == "plaintext":
                    return self.reply(status, oip)
                self.reply(status, bytes(body), [("Teeinfer-Encrypted", "1")])

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class ClientAgainstFakeServer(unittest.TestCase):
    def setUp(self):
        self.server = FakeEnclaveServer()
        self.client = tc.TeeinferClient(self.server.url, POLICY, timeout=10)

    def tearDown(self):
        self.server.close()

    def test_attest_and_infer(self):
        steps = self.client.attest()
        self.assertEqual([s.check for s in steps], STEPS)
        self.assertEqual(self.client.measurement, MEASUREMENT)
        doc, receipt = self.client.infer("fmnist", {"input": ([[0.5, 1.0], [2.0, -3.25]], "FP32", [1, 2, 2])})
        self.assertEqual(doc["outputs"][0]["name"], "scores")
        self.assertEqual(receipt["sequence"], 1)
        path, json_length, request = self.server.requests[-1]
        self.assertEqual((path, json_length), ("/v2/models/fmnist/infer", 0))
        self.assertEqual(request["inputs"], [{"name": "input", "shape": [1, 2, 2], "datatype": "FP32",
                                              "data": [0.5, 1.0, 2.0, -3.25]}])
        self.client.infer("fmnist", {"input": ([1, 2, 3], "INT64", [3])}, version=2)
        self.assertEqual(self.server.requests[-1][0], "/v2/models/fmnist/versions/2/infer")

    @unittest.skipIf(numpy is None, "numpy is not installed")
    def test_numpy_inputs(self):
        image = numpy.arange(6, dtype=numpy.float32).reshape(1, 2, 3) / 4
        self.client.infer("m", {"x": (image, None, None), "ids": (numpy.array([[7, 8]]), "INT64", None)})
        inputs = self.server.requests[-1][2]["inputs"]
        self.assertEqual(inputs[0], {"name": "x", "shape": [1, 2, 3], "datatype": "FP32",
                                     "data": [0.0, 0.25, 0.5, 0.75, 1.0, 1.25]})
        self.assertEqual(inputs[1]["shape"], [1, 2])

    def test_refusals(self):
        cases = {"plaintext": "response", "tamper": "response", "foreign-receipt": "receipt signature",
                 "wrong-measurement": "receipt measurement"}
        self.client.attest()
        for mode, step in cases.items():
            self.server.mode = mode
            with self.assertRaises(tc.VerificationError, msg=mode) as cm:
                self.client.infer("m", {"x": ([1.0], "FP32", [1])})
            self.assertEqual(cm.exception.step, step, mode)
            if mode == "plaintext":
                self.assertIn("Teeinfer-Encrypted", cm.exception.detail)

    def test_error_statuses(self):
        self.server.answer = lambda path, doc: (400, {"error": "input 'x': wrong shape"})
        with self.assertRaises(tc.InferenceError) as cm:
            self.client.infer("m", {"x": ([1.0], "FP32", [1])})
        self.assertEqual(cm.exception.status, 400)
        self.assertIsNotNone(cm.exception.receipt)  # the enclave said so, signed
        self.server.mode = "plain-error"
        with self.assertRaises(tc.InferenceError) as cm:
            self.client.infer("m", {"x": ([1.0], "FP32", [1])})
        self.assertEqual((cm.exception.status, cm.exception.receipt), (404, None))

    def test_replayed_evidence_refused(self):
        self.server.mode = "stale-nonce"
        with self.assertRaises(tc.VerificationError) as cm:
            self.client.infer("m", {"x": ([1.0], "FP32", [1])})  # attests first
        self.assertEqual(cm.exception.step, "report data: nonce")
        self.assertIsNone(self.client.hpke_key)

    def test_bad_inputs(self):
        with self.assertRaises(ValueError):
            self.client.infer("m", {"x": ([1.0, 2.0], "FP32", [3])})
        with self.assertRaises(ValueError):
            self.client.infer("m", {"x": ([float("nan")], "FP32", [1])})

    @unittest.skipIf(numpy is None, "numpy is not installed")
    def test_command_line(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "x.npy")
            numpy.save(path, numpy.zeros((1, 4), dtype=numpy.float32))
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                rc = tc.main([self.server.url, "--model", "m", "--input", f"x={path}", "--allow-simulated",
                              "--measurement", MEASUREMENT.hex()])
            self.assertEqual(rc, 0, out.getvalue())
            self.assertIn("report data: nonce", out.getvalue())
            self.assertIn("top-5 of 'scores'", out.getvalue())
            self.assertIn("     9  0.9", out.getvalue())
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                rc = tc.main([self.server.url, "--model", "m", "--input", f"x={path}", "--json",
                              "--measurement", MEASUREMENT.hex()])  # simulated evidence not allowed
            self.assertEqual(rc, 1)
            self.assertEqual(json.loads(out.getvalue())["failed"]["check"], "certification chain")


if __name__ == "__main__":
    unittest.main()
