"""[attest] end to end through the command line and the Python client (docs/attestation.md).

    /usr/bin/python3 tests/attest/cli_end_to_end.py BUILD/teeinfer SOURCE_DIR

Everything runs on 127.0.0.1 with ports the services pick themselves (--port 0), in a
temporary directory removed at the end; the key broker and the servers are started here and
always stopped (SIGTERM, then SIGKILL after a timeout), even when a check fails.

1. keygen; pack models/fmnist_vgg.onnx at version 3; the key only in the broker's KEYS/<model id>.key
   (0600), the model repository has no key file.
2. `measure --json`; a broker policy allowing that measurement that model id, min_version 2;
   `keyserver --port 0 --allow-simulated`.
3. `serve --tee sim --key-server ...`: the model is READY with the released key.
4. `client --verify --allow-simulated --json`: ok, every step passed, a receipt; refused (exit 1)
   without --allow-simulated (certification chain: simulated evidence) and with a policy pinning
   another measurement (the measurement step); neither refusal writes an output.
5. `run` with the key on the same image: the same outputs (1e-5 relative).
6. The Python client (clients/python/teeinfer_client.py) and `teeinfer client` on the same random
   .npy: both equal `teeinfer run`; receipts for this model id and version, of the verified
   measurement, sequence numbers increasing; the module refuses the same two bad policies; its
   command line works too; the receipt `teeinfer client` got verifies with the attested key.
7. The audit log: an `attested` and a `granted` line for the model id; no line holds the key.
8. Rollback: the same model id packed at version 1 as model `old`; a restarted server has `old`
   UNAVAILABLE ("rollback refused"), fmnist READY; the audit log has the refusal; the previous
   enclave's keys no longer open anything.
9. SIGTERM to both services: exit status 0.
"""

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

import numpy as np

STOP_TIMEOUT_S = 10
START_TIMEOUT_S = 30
COMMAND_TIMEOUT_S = 60
RTOL = 1e-5


class Failure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


def close(actual, expected, what):
    """actual equals expected within RTOL relative to the largest magnitude of expected."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    check(actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}")
    check(np.all(np.isfinite(actual)), f"{what}: non-finite values {actual}")
    err = float(np.max(np.abs(actual.astype(np.float64) - expected.astype(np.float64))))
    scale = max(float(np.max(np.abs(expected))), 1e-30)
    check(err <= RTOL * scale, f"{what}: max |difference| {err:g} exceeds {RTOL:g} x {scale:g}\n"
                               f"  got      {actual.ravel()}\n  expected {expected.ravel()}")


class Service:
    """A teeinfer service started with --port 0: its stdout/stderr go to files; the port comes
    from its first stdout line ("... listening on http://127.0.0.1:PORT ...")."""

    def __init__(self, name, argv, workdir):
        self.name = name
        self.out_path = os.path.join(workdir, f"{name}.stdout")
        self.err_path = os.path.join(workdir, f"{name}.stderr")
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=workdir)
        self.port = None
        self.returncode = None

    def logs(self):
        text = ""
        for path in (self.out_path, self.err_path):
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    text += f"--- {os.path.basename(path)}\n{f.read()[-4000:]}"
            except OSError:
                pass
        return text

    def wait_listening(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            with open(self.out_path, encoding="utf-8", errors="replace") as f:
                first = f.readline()
            if first.endswith("\n"):
                m = re.search(r"listening on http://127\.0\.0\.1:(\d+)\b", first)
                check(m, f"{self.name}: the first stdout line is not 'listening on http://127.0.0.1:PORT': "
                         f"{first!r}\n{self.logs()}")
                self.port = int(m.group(1))
                check(0 < self.port < 65536, f"{self.name}: port {self.port}")
                return first.strip()
            if self.proc.poll() is not None:
                raise Failure(f"{self.name} exited with status {self.proc.returncode} before listening\n{self.logs()}")
            time.sleep(0.02)
        raise Failure(f"{self.name}: no 'listening on' line within {START_TIMEOUT_S} s\n{self.logs()}")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        """SIGTERM, then SIGKILL after STOP_TIMEOUT_S. Returns the exit status (negative: a signal)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                print(f"  {self.name}: still running {STOP_TIMEOUT_S} s after SIGTERM: SIGKILL", flush=True)
                self.proc.kill()
                self.proc.wait()
        self.returncode = self.proc.returncode
        return self.returncode


def http(method, url, body=None):
    """(status, parsed JSON body or text)."""
    data = body if body is not None else (b"" if method == "POST" else None)
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", "replace")


class EndToEnd:
    def __init__(self, binary, source_dir):
        self.binary = os.path.abspath(binary)
        self.src = os.path.abspath(source_dir)
        self.models = os.path.join(self.src, "models")
        self.services = []
        self.timings = []

    # -- helpers ------------------------------------------------------------------------------

    def run(self, *args, expect=0, what=None):
        argv = [self.binary, *map(str, args)]
        r = subprocess.run(argv, capture_output=True, text=True, cwd=self.dir, timeout=COMMAND_TIMEOUT_S)
        if expect is not None and r.returncode != expect:
            raise Failure(f"{what or ' '.join(argv)}: exit status {r.returncode}, expected {expect}\n"
                          f"--- stdout\n{r.stdout[-4000:]}\n--- stderr\n{r.stderr[-4000:]}")
        return r

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def write_json(self, name, doc):
        with open(self.path(name), "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2)
        return self.path(name)

    def start(self, name, *args):
        s = Service(name, [self.binary, *map(str, args)], self.dir)
        self.services.append(s)
        line = s.wait_listening()
        print(f"  {line}", flush=True)
        return s

    def stop(self, service):
        rc = service.stop()
        self.services.remove(service)
        check(rc == 0, f"{service.name}: exit status {rc} after SIGTERM, expected 0\n{service.logs()}")

    def step(self, title, fn):
        print(f"[{len(self.timings) + 1}] {title}", flush=True)
        t0 = time.monotonic()
        fn()
        dt = time.monotonic() - t0
        self.timings.append((title, dt))
        print(f"    ok ({dt:.2f} s)", flush=True)

    def client(self, policy_file, *extra, input_file, output=None, expect=0):
        args = ["client", self.server.url, "--model", "fmnist", "--input", input_file, "--verify", policy_file,
                "--json", *extra]
        if output:
            args += ["--output", output]
        r = self.run(*args, expect=expect)
        try:
            return json.loads(r.stdout)
        except ValueError:
            raise Failure(f"teeinfer client --json printed no JSON document:\n{r.stdout}\n{r.stderr}") from None

    def audit(self):
        with open(self.path("audit.jsonl"), encoding="utf-8") as f:
            lines = f.read().splitlines()
        docs = []
        for i, line in enumerate(lines):
            try:
                docs.append(json.loads(line))
            except ValueError:
                raise Failure(f"audit log line {i + 1} is not JSON: {line!r}") from None
        return lines, docs

    # -- the steps ----------------------------------------------------------------------------

    def keys_and_model(self):
        self.run("keygen", "-o", self.path("model.key"))
        with open(self.path("model.key"), "rb") as f:
            self.key_hex = f.read().hex()
        check(len(self.key_hex) == 64, f"the key file has {len(self.key_hex) // 2} bytes, expected 32")
        os.makedirs(self.path("REPO", "fmnist", "1"))
        sealed = self.path("REPO", "fmnist", "1", "model.tee")
        r = self.run("pack", os.path.join(self.models, "fmnist_vgg.onnx"), "-o", sealed, "--key",
                     self.path("model.key"), "--model-version", 3, "--quiet")
        info = json.loads(self.run("inspect", sealed, "--json").stdout)
        self.model_id = info["model_id"]
        check(re.fullmatch(r"[0-9a-f]{32}", self.model_id), f"inspect: model id {self.model_id!r}")
        check(info["model_version"] == 3, f"inspect: model_version {info['model_version']}, expected 3")
        check(f"model id {self.model_id}" in r.stdout, f"pack did not print the model id {self.model_id}: {r.stdout}")
        with open(self.path("REPO", "fmnist", "config.json"), "w") as f:
            f.write("{}\n")
        os.makedirs(self.path("KEYS"))
        broker_key = self.path("KEYS", f"{self.model_id}.key")
        shutil.copyfile(self.path("model.key"), broker_key)
        os.chmod(broker_key, 0o600)
        check(stat.S_IMODE(os.stat(broker_key).st_mode) == 0o600, "KEYS/<model id>.key is not mode 0600")
        in_repo = [os.path.join(d, n) for d, _, names in os.walk(self.path("REPO")) for n in names
                   if n.endswith(".key") or "key" in n.lower()]
        check(not in_repo, f"the model repository holds key files: {in_repo}")
        print(f"    model id {self.model_id}, version 3")

    def key_broker(self):
        m = json.loads(self.run("measure", "--json").stdout)
        self.measurement = m["measurement"]
        check(re.fullmatch(r"[0-9a-f]{64}", self.measurement), f"measure: {m}")
        check(m["security_version"] >= 1, f"measure: security_version {m['security_version']}")
        print(f"    measurement {self.measurement}")
        # allow_simulated false in the policy: --allow-simulated on the command line turns it on.
        policy = {"allow_simulated": False, "min_security_version": 1,
                  "measurements": {self.measurement: {"models": [self.model_id]}},
                  "models": {self.model_id: {"min_version": 2}},
                  "nonce_ttl_seconds": 60, "session_ttl_seconds": 300}
        self.write_json("broker-policy.json", policy)
        self.broker = self.start("keyserver", "keyserver", "--policy", self.path("broker-policy.json"),
                                 "--keys", self.path("KEYS"), "--audit-log", self.path("audit.jsonl"),
                                 "--port", 0, "--allow-simulated")

    def start_server(self):
        self.servers_started = getattr(self, "servers_started", 0) + 1
        self.server = self.start(f"serve-{self.servers_started}", "serve", "--model-repository", self.path("REPO"), "--tee", "sim",
                                 "--epc", "16MiB", "--port", 0, "--access-log", "",
                                 "--key-server", self.broker.url)

    def serve(self):
        self.start_server()
        self.wait_ready("fmnist")
        status, index = http("POST", self.server.url + "/v2/repository/index")
        check(status == 200, f"POST /v2/repository/index: HTTP {status} {index}")
        states = {m["name"]: m.get("state") for m in index}
        check(states == {"fmnist": "READY"}, f"repository index: {index}")
        status, meta = http("GET", self.server.url + "/v2/models/fmnist")
        check(status == 200 and len(meta.get("inputs", [])) == 1, f"GET /v2/models/fmnist: HTTP {status} {meta}")
        self.input_name = meta["inputs"][0]["name"]
        self.input_shape = meta["inputs"][0]["shape"]
        check(self.input_shape == [1, 1, 28, 28], f"fmnist input shape {self.input_shape}")

    def wait_ready(self, model):
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            status, doc = http("GET", f"{self.server.url}/v2/models/{model}/ready")
            if status == 200 and isinstance(doc, dict) and doc.get("ready") is True:
                return
            check(time.monotonic() < deadline, f"model {model} not ready: HTTP {status} {doc}\n{self.server.logs()}")
            time.sleep(0.05)

    def command_line_client(self):
        self.client_policy = self.write_json("client-policy.json",
                                             {"measurements": [self.measurement], "min_security_version": 1})
        image = os.path.join(self.models, "sample_0_ankle_boot.png")
        doc = self.client(self.client_policy, "--allow-simulated", input_file=image, output=self.path("enc.npy"))
        v = doc.get("verification", {})
        check(v.get("ok") is True, f"client: verification not ok: {v}")
        check(v.get("measurement") == self.measurement, f"client: measurement {v.get('measurement')}")
        check(v.get("simulated") is True, f"client: the report does not say simulated: {v}")
        steps = v.get("steps", [])
        check(len(steps) == 11 and all(s.get("passed") is True for s in steps),
              f"client: expected the 11 steps of docs/attestation.md, all passed: {steps}")
        check([s["check"] for s in steps][6] == "measurement", f"client: step order {[s['check'] for s in steps]}")
        r = doc.get("receipt")
        check(isinstance(r, dict), f"client: no receipt in {doc}")
        check(r.get("format") == "teeinfer-receipt-v1" and r.get("status") == 200, f"client: receipt {r}")
        check(r.get("model_id") == self.model_id and r.get("model_version") == 3,
              f"client: receipt for model {r.get('model_id')} version {r.get('model_version')}, "
              f"expected {self.model_id} version 3")
        check(r.get("measurement") == self.measurement, f"client: receipt measurement {r.get('measurement')}")
        self.receipts = [("teeinfer client (image)", r)]
        self.cpp_receipts = [r]
        check(os.path.exists(self.path("enc.npy")), "client: --output enc.npy not written")

        # Without --allow-simulated: refused at the certification chain, naming simulated evidence.
        doc = self.client(self.client_policy, input_file=image, output=self.path("refused1.npy"), expect=1)
        v = doc.get("verification", {})
        check(v.get("ok") is False and "simulated" in v.get("reason", "").lower(),
              f"client without --allow-simulated: the reason does not name simulated evidence: {v}")
        failed = [s for s in v.get("steps", []) if not s.get("passed")]
        check([s["check"] for s in failed] == ["certification chain"], f"client without --allow-simulated: {v}")
        check("receipt" not in doc and not os.path.exists(self.path("refused1.npy")),
              "client without --allow-simulated: it still sent the request / wrote an output")

        # A policy pinning another measurement: refused at the measurement step.
        other = "%064x" % (int(self.measurement, 16) ^ 1)
        other_policy = self.write_json("other-policy.json", {"measurements": [other], "min_security_version": 1})
        doc = self.client(other_policy, "--allow-simulated", input_file=image, output=self.path("refused2.npy"),
                          expect=1)
        v = doc.get("verification", {})
        check(v.get("ok") is False and v.get("reason", "").startswith("measurement"),
              f"client with another measurement pinned: the reason does not name the measurement step: {v}")
        failed = [s for s in v.get("steps", []) if not s.get("passed")]
        check([s["check"] for s in failed] == ["measurement"], f"client with another measurement: {v}")
        check("receipt" not in doc and not os.path.exists(self.path("refused2.npy")),
              "client with another measurement pinned: it still sent the request / wrote an output")

    def plain_reference(self):
        image = os.path.join(self.models, "sample_0_ankle_boot.png")
        self.run("run", self.path("REPO", "fmnist", "1", "model.tee"), "--key", self.path("model.key"),
                 "--input", image, "--tee", "sim", "--epc", "16MiB", "--repeat", 1, "--warmup", 0,
                 "--output", self.path("plain.npy"))
        enc, plain = np.load(self.path("enc.npy")), np.load(self.path("plain.npy"))
        check(enc.dtype == np.float32 and plain.dtype == np.float32, f"dtypes {enc.dtype}, {plain.dtype}")
        check(plain.shape == (1, 10), f"run: output shape {plain.shape}")
        close(enc, plain, "teeinfer client (encrypted) vs teeinfer run (image)")
        check(int(np.argmax(plain)) == 9, f"the ankle boot is not class 9: {plain}")

    def python_client(self):
        sys.path.insert(0, os.path.join(self.src, "clients", "python"))
        import teeinfer_client as tc

        x = np.random.default_rng(20240607).standard_normal(self.input_shape).astype(np.float32)
        np.save(self.path("random.npy"), x)
        self.run("run", self.path("REPO", "fmnist", "1", "model.tee"), "--key", self.path("model.key"),
                 "--input", self.path("random.npy"), "--tee", "sim", "--epc", "16MiB", "--repeat", 1, "--warmup", 0,
                 "--output", self.path("plain_random.npy"))
        plain = np.load(self.path("plain_random.npy"))
        doc = self.client(self.client_policy, "--allow-simulated", input_file=self.path("random.npy"),
                          output=self.path("enc_random.npy"))
        check(doc.get("verification", {}).get("ok") is True, f"client on random.npy: {doc.get('verification')}")
        close(np.load(self.path("enc_random.npy")), plain, "teeinfer client vs teeinfer run (random.npy)")
        self.receipts.append(("teeinfer client (random.npy)", doc["receipt"]))
        self.cpp_receipts.append(doc["receipt"])

        policy = {"measurements": [self.measurement], "min_security_version": 1, "allow_simulated": True}
        client = tc.TeeinferClient(self.server.url, policy)
        steps = client.attest()
        check(len(steps) == 11, f"python client: {len(steps)} steps passed, expected 11: {steps}")
        check(client.measurement.hex() == self.measurement, f"python client: measurement {client.measurement.hex()}")
        for i in range(3):
            out, receipt = client.infer("fmnist", {self.input_name: (x, None, None)})
            o = out["outputs"][0]
            check(o["datatype"] == "FP32", f"python client: output {o['name']} is {o['datatype']}")
            got = np.asarray(o["data"], dtype=np.float32).reshape(o["shape"])
            close(got, plain, f"python client request {i + 1} vs teeinfer run (random.npy)")
            check(receipt["model_id"] == self.model_id and receipt["model_version"] == 3,
                  f"python client: receipt for model {receipt['model_id']} version {receipt['model_version']}")
            check(receipt["measurement"] == self.measurement, f"python client: receipt measurement {receipt['measurement']}")
            self.receipts.append((f"python client request {i + 1}", receipt))
        seqs = [r["sequence"] for _, r in self.receipts]
        check(all(a < b for a, b in zip(seqs, seqs[1:])),
              "receipt sequence numbers do not increase: " + ", ".join(f"{n}: {r['sequence']}" for n, r in self.receipts))
        print(f"    receipt sequences {seqs}")

        # The receipts `teeinfer client` got are signed by the key this enclave's evidence binds.
        for r in self.cpp_receipts:
            check(tc.ecdsa_verify(client.receipt_key, tc.receipt_message(r), bytes.fromhex(r["signature"])),
                  f"the receipt teeinfer client got does not verify with the attested receipt key: {r}")

        # The same two refusals in the module.
        for bad, step in (({"measurements": [self.measurement], "min_security_version": 1}, "certification chain"),
                          ({"measurements": ["%064x" % (int(self.measurement, 16) ^ 1)], "min_security_version": 1,
                            "allow_simulated": True}, "measurement")):
            try:
                tc.TeeinferClient(self.server.url, bad).attest()
                raise Failure(f"python client: evidence accepted with policy {bad}")
            except tc.VerificationError as e:
                check(e.step == step, f"python client: refused at {e.step!r} ({e.detail}), expected {step!r}")
                if step == "certification chain":
                    check("simulated" in e.detail, f"python client: the refusal does not name simulated evidence: {e}")

        # The module's command line.
        script = os.path.join(self.src, "clients", "python", "teeinfer_client.py")
        r = subprocess.run([sys.executable, script, self.server.url, "--model", "fmnist", "--input",
                            f"{self.input_name}={self.path('random.npy')}", "--policy", self.client_policy,
                            "--allow-simulated", "--json"], capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
        check(r.returncode == 0, f"teeinfer_client.py: exit status {r.returncode}\n{r.stdout}\n{r.stderr}")
        doc = json.loads(r.stdout)
        o = doc["outputs"]["outputs"][0]
        close(np.asarray(o["data"], dtype=np.float32).reshape(o["shape"]), plain, "teeinfer_client.py vs teeinfer run")
        check(doc["receipt"]["sequence"] > seqs[-1], f"teeinfer_client.py: receipt sequence {doc['receipt']['sequence']}")
        self.python_client_module, self.attested_client = tc, client

    def audit_log(self):
        lines, docs = self.audit()
        attested = [d for d in docs if d.get("decision") == "attested"]
        check(attested and all(d.get("measurement") == self.measurement for d in attested),
              f"audit log: no 'attested' line for measurement {self.measurement}:\n" + "\n".join(lines))
        granted = [d for d in docs if d.get("decision") == "granted" and d.get("model_id") == self.model_id]
        check(granted and granted[0].get("model_version") == 3 and granted[0].get("measurement") == self.measurement,
              f"audit log: no 'granted' line for model {self.model_id} version 3:\n" + "\n".join(lines))
        self.check_no_secrets(lines)

    def check_no_secrets(self, lines):
        for i, line in enumerate(lines):
            check(self.key_hex not in line.lower(), f"audit log line {i + 1} holds the model key: {line}")
        for s in self.services:  # nor any service's output
            for p in (s.out_path, s.err_path):
                with open(p, encoding="utf-8", errors="replace") as f:
                    check(self.key_hex not in f.read().lower(), f"{os.path.basename(p)} holds the model key")

    def rollback(self):
        old_dir = self.path("REPO", "old", "1")
        os.makedirs(old_dir)
        self.run("pack", os.path.join(self.models, "fmnist_vgg.onnx"), "-o", os.path.join(old_dir, "model.tee"),
                 "--key", self.path("model.key"), "--model-version", 1, "--model-id", self.model_id, "--quiet")
        info = json.loads(self.run("inspect", os.path.join(old_dir, "model.tee"), "--json").stdout)
        check(info["model_id"] == self.model_id and info["model_version"] == 1, f"inspect old: {info}")
        with open(self.path("REPO", "old", "config.json"), "w") as f:
            f.write("{}\n")
        # Close the Python client's idle keep-alive connection first: the server would wait for
        # it up to --read-timeout (5 s) before exiting.
        self.attested_client.http.close()
        self.stop(self.server)  # (exit status 0 checked)
        self.start_server()
        self.wait_ready("fmnist")
        status, doc = http("GET", self.server.url + "/v2/models/old/ready")
        check(status == 503 and doc.get("ready") is False and "rollback refused" in doc.get("reason", ""),
              f"GET /v2/models/old/ready: HTTP {status} {doc}, expected 503, not ready, 'rollback refused'")
        status, index = http("POST", self.server.url + "/v2/repository/index")
        states = {m["name"]: (m.get("state"), m.get("reason", "")) for m in index}
        check(states.get("fmnist", ("",))[0] == "READY", f"repository index: {index}")
        check(states.get("old", ("",))[0] == "UNAVAILABLE" and "rollback refused" in states["old"][1],
              f"repository index: 'old' is not UNAVAILABLE with 'rollback refused': {index}")
        print(f"    old: {states['old'][1]}")
        lines, docs = self.audit()
        refused = [d for d in docs if d.get("decision") == "refused" and d.get("model_id") == self.model_id
                   and d.get("model_version") == 1]
        check(refused and "rollback refused" in refused[-1].get("reason", ""),
              "audit log: no refusal of version 1 with 'rollback refused':\n" + "\n".join(lines))
        self.check_no_secrets(lines)

        tc, client = self.python_client_module, self.attested_client
        client.url = self.server.url  # (still with the previous enclave's keys)
        try:  # the previous enclave's HPKE key: the new enclave cannot open the request
            client.infer("fmnist", {self.input_name: (np.zeros(self.input_shape, np.float32), None, None)})
            raise Failure("a request encrypted to the previous server's enclave was answered")
        except tc.InferenceError as e:
            check(e.status == 400 and e.receipt is None, f"request to the previous enclave's key: {e}")
        client.attest()
        out, receipt = client.infer("fmnist", {self.input_name: (np.load(self.path("random.npy")), None, None)})
        o = out["outputs"][0]
        close(np.asarray(o["data"], dtype=np.float32).reshape(o["shape"]), np.load(self.path("plain_random.npy")),
              "python client on the restarted server")
        try:
            client.infer("old", {self.input_name: (np.zeros(self.input_shape, np.float32), None, None)})
            raise Failure("model 'old' answered an inference")
        except tc.InferenceError as e:
            print(f"    inference on 'old': HTTP {e.status}")

    def shutdown(self):
        self.attested_client.http.close()  # (its idle keep-alive connection, as above)
        for s in list(self.services):
            self.stop(s)

    def main(self):
        t0 = time.monotonic()
        self.dir = tempfile.mkdtemp(prefix="teeinfer-attest-e2e-")
        try:
            self.step("keygen, pack at version 3, the key only in the broker's KEYS", self.keys_and_model)
            self.step("measure, key broker policy, keyserver --port 0", self.key_broker)
            self.step("serve --tee sim --key-server: fmnist READY", self.serve)
            self.step("teeinfer client --verify: accepted; refused without --allow-simulated or another "
                      "measurement", self.command_line_client)
            self.step("teeinfer run with the key: the same outputs", self.plain_reference)
            self.step("python client and teeinfer client on the same random input", self.python_client)
            self.step("audit log: attested, granted, no key", self.audit_log)
            self.step("rollback: version 1 refused ('old' UNAVAILABLE)", self.rollback)
            self.step("SIGTERM: both services exit 0", self.shutdown)
        except Exception as e:  # (a Failure, or anything unexpected: a traceback then)
            detail = str(e) if isinstance(e, Failure) else traceback.format_exc()
            print(f"\nFAILED: {detail}", file=sys.stderr, flush=True)
            for s in self.services:
                print(s.logs(), file=sys.stderr)
            return 1
        finally:
            for s in self.services:  # after a failure: still stop them
                s.stop()
            shutil.rmtree(self.dir, ignore_errors=True)
        total = time.monotonic() - t0
        print("\ntimings:")
        for title, dt in self.timings:
            print(f"  {dt:6.2f} s  {title}")
        print(f"  {total:6.2f} s  total\nPASSED", flush=True)
        return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(f"usage: {sys.argv[0]} TEEINFER_BINARY SOURCE_DIR", file=sys.stderr)
        sys.exit(2)
    sys.exit(EndToEnd(sys.argv[1], sys.argv[2]).main())
