#!/usr/bin/python3
"""Checks the KServe manifests under deploy/ against KServe's field names and against the
`teeinfer serve` binary they run.

    validate_manifests.py TEEINFER [--deploy-dir DIR]   check the manifests (exit 1 on any fault)
    validate_manifests.py TEEINFER --self-test          feed it broken manifests; each must be refused

Every *.yaml / *.yml under the directory (default: deploy/ of this checkout) is loaded:
  * valid YAML; every document has apiVersion, kind and metadata.name;
  * ServingRuntime / ClusterServingRuntime: protocolVersions contains v2,
    supportedModelFormats is not empty, containers[0] has an image, the command
    `teeinfer serve` and args; the readiness and liveness probes are httpGet on
    /v2/health/ready and /v2/health/live at the port the server listens on; every flag
    in args is one that `TEEINFER serve --help` lists, none is given twice, and the
    binary accepts the args (it is started with them on a loopback port and an empty
    repository, then stopped);
  * InferenceService: predictor.model.modelFormat.name is a format that a ServingRuntime
    here supports, predictor.model.runtime is that runtime's metadata.name, and the
    replica, concurrency and timeout settings agree with the runtime's flags.

Why not kubectl: Debian 12's kubernetes-client (1.20) still needs an API server for
`kubectl apply --dry-run=client` (it discovers the resource types from it), and both kinds
are KServe CRDs, which no client knows without the CRDs installed in a cluster. So this
script checks the fields that the manifests depend on.
"""

import argparse
import copy
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

try:
    import yaml
except ImportError:
    sys.exit("validate_manifests: needs PyYAML (Debian: apt-get install python3-yaml)")

RUNTIME_KINDS = ("ServingRuntime", "ClusterServingRuntime")
SERVING_GROUP = "serving.kserve.io/"
MODEL_MOUNT = "/mnt/models"  # where KServe mounts an InferenceService's storageUri


# --- `teeinfer serve --help` ---------------------------------------------------------


def serve_flags(teeinfer):
    """{long flag: default value or None} from `TEEINFER serve --help`."""
    try:
        out = subprocess.run([teeinfer, "serve", "--help"], capture_output=True, text=True, timeout=30)
    except OSError as e:
        raise SystemExit(f"validate_manifests: cannot run {teeinfer}: {e}")
    if out.returncode != 0:
        raise SystemExit(f"validate_manifests: `{teeinfer} serve --help` failed ({out.returncode}): {out.stderr.strip()}")
    flags = {}
    for line in out.stdout.splitlines():
        # "  --max-queue UINT:INT in [1, 1000000]=64" or "  -h,--help  Print ..."
        m = re.match(r"^ {1,4}(?:-\w,)?--([a-z][a-z0-9-]*)(.*)$", line)  # not a wrapped description
        if not m:
            continue
        rest = m.group(2).split("  ")[0]  # the type and default, not the description
        flags[m.group(1)] = rest.rsplit("=", 1)[1].strip() if "=" in rest else None
    if "model-repository" not in flags:
        raise SystemExit(f"validate_manifests: `{teeinfer} serve --help` lists no --model-repository: "
                         "not a teeinfer with the serve command (a stale build?)")
    return flags


def parse_args(args):
    """[(flag, value)] from ["--a=1", "--b", "2", "--c"]; a non-flag item not after a flag is an error."""
    out, errors, i = [], [], 0
    while i < len(args):
        a = args[i]
        if not isinstance(a, str) or not a.startswith("--"):
            errors.append(f"argument {a!r} is not a --flag (nor the value of one)")
            i += 1
            continue
        if "=" in a:
            name, value = a[2:].split("=", 1)
        elif i + 1 < len(args) and isinstance(args[i + 1], str) and not args[i + 1].startswith("--"):
            name, value = a[2:], args[i + 1]
            i += 1
        else:
            name, value = a[2:], None
        out.append((name, value))
        i += 1
    return out, errors


def start_with_args(teeinfer, args, timeout_s=30):
    """Starts `teeinfer serve ARGS` with the repository, host, port, drain and access log
    replaced (an empty directory, 127.0.0.1, any free port, no drain, stderr), waits for
    it to listen, stops it with SIGTERM. Returns None, or what went wrong."""
    override = {"model-repository": None, "host": "127.0.0.1", "port": "0", "drain-ms": "0", "access-log": "-"}
    parsed, _ = parse_args(args)
    with tempfile.TemporaryDirectory(prefix="teeinfer-manifest-") as repo:
        override["model-repository"] = repo
        argv = [teeinfer, "serve"]
        for name, value in parsed:
            if name in override:
                continue
            argv.append(f"--{name}" if value is None else f"--{name}={value}")
        argv += [f"--{k}={v}" for k, v in override.items()]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + timeout_s
            line = ""
            while time.monotonic() < deadline:
                ready, _, _ = select.select([proc.stdout], [], [], 0.2)
                if ready:
                    line = proc.stdout.readline()
                    if "listening on" in line:
                        break
                if proc.poll() is not None:
                    break
            if "listening on" not in line:
                proc.kill()
                _, err = proc.communicate(timeout=10)
                return f"`teeinfer serve` refused the args: {err.strip() or 'exit ' + str(proc.returncode)}"
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
            if proc.returncode != 0:
                return f"`teeinfer serve` exited {proc.returncode} on SIGTERM: {err.strip()}"
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return "`teeinfer serve` did not stop within 30 s of SIGTERM"
    return None


# --- the manifests -------------------------------------------------------------------


def load_documents(deploy_dir, errors):
    """[(file, document)] of every YAML document under deploy_dir."""
    docs, files = [], []
    for root, _, names in os.walk(deploy_dir):
        files += [os.path.join(root, n) for n in names if n.endswith((".yaml", ".yml"))]
    if not files:
        errors.append(f"{deploy_dir}: no .yaml or .yml file")
    for path in sorted(files):
        rel = os.path.relpath(path, deploy_dir)
        try:
            with open(path, encoding="utf-8") as f:
                loaded = [d for d in yaml.safe_load_all(f) if d is not None]
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            errors.append(f"{rel}: not valid YAML: {e}")
            continue
        if not loaded:
            errors.append(f"{rel}: holds no YAML document")
        for i, d in enumerate(loaded):
            where = rel if len(loaded) == 1 else f"{rel} (document {i + 1})"
            docs.append((where, d))
    return docs


def get(d, *path):
    for key in path:
        if isinstance(key, int):
            if not isinstance(d, list) or len(d) <= key:
                return None
        elif not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def check_common(where, doc, errors):
    if not isinstance(doc, dict):
        errors.append(f"{where}: a document must be a mapping, not {type(doc).__name__}")
        return False
    ok = True
    for key in ("apiVersion", "kind"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            errors.append(f"{where}: no {key}")
            ok = False
    if not isinstance(get(doc, "metadata", "name"), str) or not get(doc, "metadata", "name"):
        errors.append(f"{where}: no metadata.name")
        ok = False
    return ok


def check_runtime(where, doc, flags, teeinfer, errors):
    """Returns the runtime's effective serve settings {flag: value} (defaults filled in)."""
    name = doc["metadata"]["name"]
    where = f"{where}: {doc['kind']} {name}"
    if doc["apiVersion"] != SERVING_GROUP + "v1alpha1":
        errors.append(f"{where}: apiVersion is {doc['apiVersion']!r}, not {SERVING_GROUP}v1alpha1")
    spec = doc.get("spec") or {}
    protocols = spec.get("protocolVersions") or []
    if "v2" not in protocols:
        errors.append(f"{where}: spec.protocolVersions {protocols} does not contain v2 (the server speaks OIP v2 REST)")
    formats = spec.get("supportedModelFormats")
    if not isinstance(formats, list) or not formats:
        errors.append(f"{where}: spec.supportedModelFormats is empty")
    else:
        for i, f in enumerate(formats):
            if not isinstance(get(f, "name"), str) or not f["name"]:
                errors.append(f"{where}: spec.supportedModelFormats[{i}] has no name")
    c = get(spec, "containers", 0)
    if not isinstance(c, dict):
        errors.append(f"{where}: spec.containers[0] is missing")
        return {}
    if not c.get("image"):
        errors.append(f"{where}: spec.containers[0] has no image")
    args = c.get("args")
    if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
        errors.append(f"{where}: spec.containers[0].args must be a non-empty list of strings")
        return {}
    command = c.get("command")
    if not (isinstance(command, list) and len(command) == 2 and isinstance(command[0], str)
            and os.path.basename(command[0]) == "teeinfer" and command[1] == "serve"):
        errors.append(f"{where}: spec.containers[0].command must be [teeinfer, serve], not {command!r} (without it "
                      "the args follow the image's ENTRYPOINT, which already sets --model-repository, --host and "
                      "--port, and the CLI refuses an option given twice)")

    parsed, arg_errors = parse_args(args)
    errors += [f"{where}: args: {e}" for e in arg_errors]
    settings = {k: v for k, v in flags.items()}
    seen = set()
    faulty = bool(arg_errors)
    for flag, value in parsed:
        if flag not in flags:
            errors.append(f"{where}: args: --{flag} is not a flag of `teeinfer serve` (see teeinfer serve --help)")
            faulty = True
        if flag in seen:
            errors.append(f"{where}: args: --{flag} is given twice (teeinfer refuses that)")
            faulty = True
        seen.add(flag)
        settings[flag] = value
    if settings.get("model-repository") != MODEL_MOUNT:
        errors.append(f"{where}: args: --model-repository must be {MODEL_MOUNT} (where KServe mounts the storageUri), "
                      f"not {settings.get('model-repository')!r}")
    port = settings.get("port")
    if settings.get("host") not in ("0.0.0.0", "::"):
        errors.append(f"{where}: args: --host {settings.get('host')!r} is not reachable from outside the pod; "
                      "give --host=0.0.0.0")
    for probe, path in (("readinessProbe", "/v2/health/ready"), ("livenessProbe", "/v2/health/live")):
        got = get(c, probe, "httpGet", "path")
        if got != path:
            errors.append(f"{where}: spec.containers[0].{probe}.httpGet.path is {got!r}, not {path}")
        probe_port = get(c, probe, "httpGet", "port")
        for p in c.get("ports") or []:  # a named port
            if isinstance(probe_port, str) and get(p, "name") == probe_port:
                probe_port = get(p, "containerPort")
        if probe_port is not None and str(probe_port) != str(port):
            errors.append(f"{where}: spec.containers[0].{probe} probes port {probe_port}, the server listens on {port}")
    for p in c.get("ports") or []:
        if str(get(p, "containerPort")) != str(port):
            errors.append(f"{where}: spec.containers[0].ports has {get(p, 'containerPort')}, the server listens on {port}")
    if not faulty:  # the binary's own verdict on the values (ranges, sizes, --tee)
        failure = start_with_args(teeinfer, args)
        if failure:
            errors.append(f"{where}: {failure}")
    return settings


def number(settings, flag):
    try:
        return int(settings.get(flag))
    except (TypeError, ValueError):
        return None


def check_inference_service(where, doc, runtimes, errors):
    name = doc["metadata"]["name"]
    where = f"{where}: InferenceService {name}"
    if doc["apiVersion"] != SERVING_GROUP + "v1beta1":
        errors.append(f"{where}: apiVersion is {doc['apiVersion']!r}, not {SERVING_GROUP}v1beta1")
    predictor = get(doc, "spec", "predictor")
    model = get(predictor, "model")
    if not isinstance(model, dict):
        errors.append(f"{where}: no spec.predictor.model")
        return
    fmt = get(model, "modelFormat", "name")
    fmt_version = get(model, "modelFormat", "version")
    runtime = model.get("runtime")
    supporting = [r for r in runtimes.values()
                  if any(get(f, "name") == fmt for f in get(r["doc"], "spec", "supportedModelFormats") or [])]
    if not supporting:
        known = sorted({get(f, "name") for r in runtimes.values()
                        for f in get(r["doc"], "spec", "supportedModelFormats") or []})
        errors.append(f"{where}: spec.predictor.model.modelFormat.name {fmt!r} is no supportedModelFormats name of a "
                      f"ServingRuntime here ({', '.join(map(str, known)) or 'none'})")
    if runtime not in runtimes:
        errors.append(f"{where}: spec.predictor.model.runtime {runtime!r} is no ServingRuntime's metadata.name here "
                      f"({', '.join(sorted(runtimes)) or 'none'})")
        return
    r = runtimes[runtime]
    if supporting and r not in supporting:
        errors.append(f"{where}: runtime {runtime!r} does not support model format {fmt!r}")
    if fmt_version is not None and not any(get(f, "name") == fmt and str(get(f, "version")) == str(fmt_version)
                                           for f in get(r["doc"], "spec", "supportedModelFormats") or []):
        errors.append(f"{where}: runtime {runtime!r} lists no format {fmt!r} version {fmt_version!r}")
    protocol = model.get("protocolVersion")
    if protocol is not None and protocol not in (get(r["doc"], "spec", "protocolVersions") or []):
        errors.append(f"{where}: protocolVersion {protocol!r} is not one of runtime {runtime!r}'s protocolVersions")
    if not model.get("storageUri") and not get(predictor, "storageUris"):
        errors.append(f"{where}: no spec.predictor.model.storageUri (the model repository to mount at {MODEL_MOUNT})")

    lo, hi = predictor.get("minReplicas"), predictor.get("maxReplicas")
    if lo is not None and hi is not None and hi != 0 and lo > hi:
        errors.append(f"{where}: minReplicas {lo} is above maxReplicas {hi}")
    s = r["settings"]
    concurrency = predictor.get("containerConcurrency")
    queue, threads = number(s, "max-queue"), number(s, "http-threads")
    if concurrency is not None and queue is not None and concurrency > queue:
        errors.append(f"{where}: containerConcurrency {concurrency} is above the runtime's --max-queue {queue}: "
                      "requests past the queue would get 503 from the server instead of waiting in the queue-proxy")
    if concurrency is not None and threads is not None and concurrency >= threads:
        errors.append(f"{where}: containerConcurrency {concurrency} leaves no --http-threads ({threads}) for probes")
    timeout = predictor.get("timeout")
    drain, queued, read = number(s, "drain-ms"), number(s, "timeout-ms"), number(s, "read-timeout")
    if timeout is not None and None not in (drain, queued, read) and timeout * 1000 < drain + queued + read * 1000:
        errors.append(f"{where}: timeout {timeout} s (the grace period after SIGTERM) is shorter than the runtime's "
                      f"--drain-ms {drain} + --timeout-ms {queued} + --read-timeout {read} s")


def validate(deploy_dir, teeinfer, flags):
    errors = []
    docs = load_documents(deploy_dir, errors)
    runtimes, services = {}, []
    for where, doc in docs:
        if not check_common(where, doc, errors):
            continue
        if doc["kind"] in RUNTIME_KINDS:
            settings = check_runtime(where, doc, flags, teeinfer, errors)
            runtimes[doc["metadata"]["name"]] = {"doc": doc, "settings": settings}
        elif doc["kind"] == "InferenceService":
            services.append((where, doc))
    for where, doc in services:
        check_inference_service(where, doc, runtimes, errors)
    if not errors and not runtimes:
        errors.append(f"{deploy_dir}: no ServingRuntime")
    if not errors and not services:
        errors.append(f"{deploy_dir}: no InferenceService")
    return errors, len(docs)


# --- --self-test: every broken copy must be refused, for the reason it was broken ------


def self_test(deploy_dir, teeinfer, flags):
    errors, _ = validate(deploy_dir, teeinfer, flags)
    if errors:
        print("self-test: the manifests themselves do not pass:\n  " + "\n  ".join(errors))
        return 1
    files = {}
    for root, _, names in os.walk(deploy_dir):
        for n in names:
            if n.endswith((".yaml", ".yml")):
                with open(os.path.join(root, n), encoding="utf-8") as f:
                    files[os.path.relpath(os.path.join(root, n), deploy_dir)] = list(yaml.safe_load_all(f))

    def first(kind):
        for rel, docs in files.items():
            for i, d in enumerate(docs):
                if isinstance(d, dict) and d.get("kind") == kind:
                    return rel, i
        raise SystemExit(f"self-test: no {kind} under {deploy_dir} to break")

    rt, isvc = first("ServingRuntime"), first("InferenceService")

    def container(docs):
        return docs[rt[0]][rt[1]]["spec"]["containers"][0]

    def set_arg(docs, flag, value):
        args = container(docs)["args"]
        for i, a in enumerate(args):
            if a == f"--{flag}" or a.startswith(f"--{flag}="):
                args[i] = f"--{flag}={value}"
                return
        args.append(f"--{flag}={value}")

    def predictor(docs):
        return docs[isvc[0]][isvc[1]]["spec"]["predictor"]

    # (what is broken, how, a phrase the refusal must contain)
    cases = [
        ("not YAML", "raw", "not valid YAML"),
        ("no metadata.name", lambda d: d[rt[0]][rt[1]]["metadata"].pop("name"), "no metadata.name"),
        ("no kind", lambda d: d[isvc[0]][isvc[1]].pop("kind"), "no kind"),
        ("protocolVersions without v2", lambda d: d[rt[0]][rt[1]]["spec"].update(protocolVersions=["v1"]),
         "does not contain v2"),
        ("no supportedModelFormats", lambda d: d[rt[0]][rt[1]]["spec"].update(supportedModelFormats=[]),
         "supportedModelFormats is empty"),
        ("no image", lambda d: container(d).pop("image"), "has no image"),
        ("no args", lambda d: container(d).pop("args"), "args must be a non-empty list"),
        ("readiness probe elsewhere", lambda d: container(d)["readinessProbe"]["httpGet"].update(path="/healthz"),
         "readinessProbe.httpGet.path"),
        ("no liveness probe", lambda d: container(d).pop("livenessProbe"), "livenessProbe.httpGet.path"),
        ("a flag serve does not have", lambda d: container(d)["args"].append("--epc-size=64MiB"),
         "--epc-size is not a flag"),
        ("a flag given twice", lambda d: container(d)["args"].append("--tee=none"), "--tee is given twice"),
        ("a value the CLI refuses", lambda d: set_arg(d, "max-queue", "0"), "refused the args"),
        ("the image's ENTRYPOINT left in charge", lambda d: container(d).pop("command"), "command must be"),
        ("repository not at /mnt/models", lambda d: set_arg(d, "model-repository", "/models"),
         "--model-repository must be"),
        ("model format no runtime supports",
         lambda d: d[isvc[0]][isvc[1]]["spec"]["predictor"]["model"]["modelFormat"].update(name="onnx"),
         "is no supportedModelFormats name"),
        ("runtime that is not here", lambda d: predictor(d)["model"].update(runtime="kserve-tritonserver"),
         "is no ServingRuntime's metadata.name"),
        ("containerConcurrency above --max-queue", lambda d: predictor(d).update(containerConcurrency=1000),
         "above the runtime's --max-queue"),
        ("grace period shorter than the drain", lambda d: predictor(d).update(timeout=1), "shorter than the runtime's"),
    ]
    failed = 0
    for what, mutate, phrase in cases:
        docs = copy.deepcopy(files)
        with tempfile.TemporaryDirectory(prefix="teeinfer-selftest-") as tmp:
            for rel, content in docs.items():
                os.makedirs(os.path.dirname(os.path.join(tmp, rel)), exist_ok=True)
            if mutate == "raw":
                for rel, content in docs.items():
                    with open(os.path.join(tmp, rel), "w", encoding="utf-8") as f:
                        yaml.safe_dump_all(content, f, sort_keys=False)
                with open(os.path.join(tmp, rt[0]), "a", encoding="utf-8") as f:
                    f.write("spec: [unclosed\n  - : :\n")
            else:
                mutate(docs)
                for rel, content in docs.items():
                    with open(os.path.join(tmp, rel), "w", encoding="utf-8") as f:
                        yaml.safe_dump_all(content, f, sort_keys=False)
            errs, _ = validate(tmp, teeinfer, flags)
        if any(phrase in e for e in errs):
            print(f"self-test: refused as it should be: {what}")
        else:
            failed += 1
            print(f"self-test: FAILED: {what}: expected a refusal containing {phrase!r}, got "
                  + ("none" if not errs else "\n    " + "\n    ".join(errs)))
    if failed:
        print(f"self-test: {failed} of {len(cases)} broken manifests were not refused")
        return 1
    print(f"self-test: all {len(cases)} broken manifests refused; the real ones pass")
    return 0


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("teeinfer", help="the teeinfer binary (its `serve --help` lists the flags)")
    ap.add_argument("--deploy-dir", default=os.path.normpath(os.path.join(here, "..", "..", "deploy")),
                    help="the directory of manifests (default: deploy/ of this checkout)")
    ap.add_argument("--self-test", action="store_true", help="check that broken manifests are refused")
    o = ap.parse_args()
    teeinfer = o.teeinfer if os.sep in o.teeinfer else (shutil.which(o.teeinfer) or o.teeinfer)
    flags = serve_flags(teeinfer)
    if o.self_test:
        return self_test(o.deploy_dir, teeinfer, flags)
    errors, n = validate(o.deploy_dir, teeinfer, flags)
    if errors:
        print(f"validate_manifests: {len(errors)} problem(s) in {o.deploy_dir}:")
        for e in errors:
            print(f"  {e}")
        return 1
    print(f"validate_manifests: {n} documents in {o.deploy_dir} are valid; their serve flags are known to "
          f"{teeinfer} and accepted by it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
