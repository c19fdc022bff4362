#!/usr/bin/env python3
"""`teeinfer serve` under load (issue #17, acceptance 2 and 3). Every server runs on
127.0.0.1 with `--tee sim --epc 16MiB --threads 1`, models sealed with shape profiles
{1,2,4,8}x3x224x224 (or the demo model's {1,2,4,8}x1x28x28); the load comes from
bench/oip_load (C++, binary tensors, seeded random inputs) in the same run.

batching  for each model: 16 closed-loop connections for --duration s, with --max-batch 1
          and then 8; images/s and weight bytes decrypted per image (the server's
          counters, /metrics). Checks throughput(8)/throughput(1) >= 2.5 and decrypted
          per image (1)/(8) >= 5 for AlexNet.
load      for each model: capacity (closed loop, --connections, 15 s), then a fixed rate of
          --load-fraction x capacity for --load-duration s (open loop: latency counted from
          each request's scheduled time): errors, p50/p99, throughput. Overhead at low load:
          --rounds alternating rounds of `teeinfer run` (the same sealed model, the same EPC
          share and kernels) and one client in a closed loop; the median per-round ratio.
e2e       [attest] acceptance 6, for each model at batch 1 (--max-batch 1): --rounds
          rounds of 2 x --low-duration s of one client in a closed loop alternating
          plaintext (binary tensors) and end-to-end encrypted requests (oip_load --alternate:
          a fresh HPKE context per encrypted request, the response opened and its receipt
          verified by the client; the request opened, run, sealed and signed inside
          Enclave::answer); each round's median over adjacent (plaintext, encrypted) pairs
          of the latency ratio, and the median of the rounds.

Writes bench/out/serve_{batching,load,e2e}.{md,json}.

  /usr/bin/python3 bench/serve_bench.py batching                      # alexnet, vgg16, resnet50
  /usr/bin/python3 bench/serve_bench.py load --models resnet18,demo
  /usr/bin/python3 bench/serve_bench.py e2e --models resnet18,demo
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.request

from benchlib import MODEL_DIR, ROOT, TEEINFER, cpu_model, ensure_full_models, sh, write_report

OIP_LOAD = os.path.join(ROOT, "build", "bench", "oip_load")
DEMO = os.path.join(ROOT, "models", "fmnist_vgg.onnx")


def model_file(name):
    return DEMO if name == "demo" else os.path.join(MODEL_DIR, name + ".onnx")


def make_repository(tmp, name, max_batch):
    """A repository of this model alone: <name>/{k.bin, config.json, 1/model.tee}, sealed for
    batches 1, 2, 4, 8."""
    repo = os.path.join(tmp, "repo_" + name)
    d = os.path.join(repo, name)
    if not os.path.exists(os.path.join(d, "1", "model.tee")):
        os.makedirs(os.path.join(d, "1"), exist_ok=True)
        sh([TEEINFER, "keygen", "-o", os.path.join(d, "k.bin"), "--force"])
        shape = "{1,2,4,8}x1x28x28" if name == "demo" else "{1,2,4,8}x3x224x224"
        sh([TEEINFER, "pack", model_file(name), "-o", os.path.join(d, "1", "model.tee"), "--key",
            os.path.join(d, "k.bin"), "--input-shape", shape, "--quiet"])
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({"key_file": "k.bin", "max_batch": max_batch}, f)
    return repo


class Server:
    def __init__(self, repo, extra):
        self.log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
        self.p = subprocess.Popen([TEEINFER, "serve", "--model-repository", repo, "--port", "0", "--access-log", "",
                                   "--drain-ms", "0"] + extra, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.p.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if not m:
            self.log.seek(0)
            raise SystemExit(f"server did not start: {line}{self.log.read()}")
        self.url = "http://127.0.0.1:" + m.group(1)

    def metrics(self):
        text = urllib.request.urlopen(self.url + "/metrics").read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, value = line.rsplit(" ", 1)
                out[key] = float(value)
        return out

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(timeout=120)


def load(url, model, args, connections, rate, duration, encrypted=False, alternate=False):
    cmd = [OIP_LOAD, url, "--model", model, "--binary", "--json", "--connections", str(connections), "--rate",
           str(rate), "--duration", str(duration)] + (["--encrypted"] if encrypted else []) + \
          (["--alternate"] if alternate else [])
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode not in (0, 2):
        raise SystemExit(f"oip_load failed: {r.stderr}")
    return json.loads(r.stdout)


def counter(metrics, name, model):
    return metrics.get(f'{name}{{model="{model}"}}', 0)


def batching(args, tmp):
    rows = []
    for name in args.models.split(","):
        for max_batch in (1, 8):
            repo = make_repository(tmp, name, max_batch)
            s = Server(repo, ["--tee", "sim", "--epc", args.epc, "--max-batch", str(max_batch), "--threads", "1",
                              "--batch-delay-us", str(args.batch_delay_us)])
            try:
                load(s.url, name, args, 2, 0, 3)  # warm-up
                before = s.metrics()
                r = load(s.url, name, args, 16, 0, args.duration)
                after = s.metrics()
            finally:
                s.stop()
            samples = counter(after, "teeinfer_samples_total", name) - counter(before, "teeinfer_samples_total", name)
            runs = counter(after, "teeinfer_runs_total", name) - counter(before, "teeinfer_runs_total", name)
            decrypted = (counter(after, "teeinfer_weight_bytes_decrypted_total", name) -
                         counter(before, "teeinfer_weight_bytes_decrypted_total", name))
            row = {"model": name, "max_batch": max_batch, "images_per_s": r["throughput_rps"], "errors": r["errors"],
                   "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"], "runs": runs, "samples": samples,
                   "mean_batch": samples / runs if runs else 0, "decrypted_per_image": decrypted / samples if samples else 0,
                   "evictions": counter(after, "teeinfer_epc_evictions_total", name),
                   "share": counter(after, "teeinfer_secure_memory_share_bytes", name)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    lines = [f"## `teeinfer serve`: dynamic batching, 16 concurrent clients, sealed, `--tee sim --epc {args.epc}`, "
             f"`--batch-delay-us {args.batch_delay_us}`",
             "", f"CPU: {cpu_model()}, 1 kernel thread, {args.duration} s closed loop per row "
             f"(`/usr/bin/python3 bench/serve_bench.py batching --models {args.models}`).", "",
             "| model | --max-batch | images/s | mean batch | p50 ms | p99 ms | MB decrypted / image | errors | evictions |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['max_batch']} | {r['images_per_s']:.2f} | {r['mean_batch']:.2f} | "
                     f"{r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {r['decrypted_per_image'] / 1e6:.1f} | {r['errors']} | "
                     f"{r['evictions']:.0f} |")
    lines += ["", "| model | throughput 8 ÷ 1 | decrypted per image 1 ÷ 8 |", "|---|---|---|"]
    for name in args.models.split(","):
        one = next(r for r in rows if r["model"] == name and r["max_batch"] == 1)
        eight = next(r for r in rows if r["model"] == name and r["max_batch"] == 8)
        ratio = eight["images_per_s"] / one["images_per_s"] if one["images_per_s"] else 0
        dec = one["decrypted_per_image"] / eight["decrypted_per_image"] if eight["decrypted_per_image"] else float("inf")
        lines.append(f"| {name} | {ratio:.2f}× | {dec:.2f}× |")
    write_report(args.out, "serve_batching", lines, rows)


def run_median_ms(name, key, tee, share, repeat, conv_algorithm):
    """`teeinfer run` of the same sealed model, in the same EPC share: its median ms."""
    x = os.path.join(tempfile.mkdtemp(), "x.png")
    import shutil
    if name == "demo":
        shutil.copy(os.path.join(ROOT, "models", "sample_0_ankle_boot.png"), x)
    else:
        shutil.copy(os.path.join(ROOT, "tests", "data", "shirt.png"), x)
    out = json.loads(sh([TEEINFER, "run", tee, "--key", key, "--input", x, "--json", "--tee", "sim", "--epc",
                         str(int(share)), "--repeat", str(repeat), "--warmup", "3", "--conv-algorithm", conv_algorithm]))
    return out["latency_ms"]["median"]


def interleaved_overhead(args, s, name, key, tee, share):
    """Low load against `teeinfer run`, in alternating rounds (this machine's speed drifts by
    10% between minutes): each round `run` (median of --repeat), then one client in a closed
    loop for --low-duration s. Medians over the rounds of: run, serve p50, the server's own
    time inside Session::run, and the per-round ratio serve p50 / run."""
    rounds = []
    for _ in range(args.rounds):
        run_ms = run_median_ms(name, key, tee, share, args.repeat, args.conv_algorithm)
        before = s.metrics()
        low = load(s.url, name, args, 1, 0, args.low_duration)
        after = s.metrics()
        runs = counter(after, "teeinfer_runs_total", name) - counter(before, "teeinfer_runs_total", name)
        run_s = counter(after, "teeinfer_run_seconds_total", name) - counter(before, "teeinfer_run_seconds_total", name)
        rounds.append((run_ms, low["p50_ms"], 1000 * run_s / runs if runs else 0))
        print(f"  {name} round: run {run_ms:.3f} ms, serve p50 {low['p50_ms']:.3f} ms, in run {rounds[-1][2]:.3f} ms",
              flush=True)
    median = statistics.median
    return {"run_median_ms": median(r[0] for r in rounds), "low_p50_ms": median(r[1] for r in rounds),
            "server_run_ms": median(r[2] for r in rounds), "overhead": median(r[1] / r[0] for r in rounds) - 1,
            "rounds": rounds}


def load_test(args, tmp):
    rows = []
    for name in args.models.split(","):
        repo = make_repository(tmp, name, 8)
        d = os.path.join(repo, name)
        tee, key = os.path.join(d, "1", "model.tee"), os.path.join(d, "k.bin")
        s = Server(repo, ["--tee", "sim", "--epc", args.epc, "--max-batch", "8", "--threads", "1",
                          "--batch-delay-us", str(args.batch_delay_us), "--conv-algorithm", args.conv_algorithm])
        try:
            load(s.url, name, args, 2, 0, 3)  # warm-up
            share = counter(s.metrics(), "teeinfer_secure_memory_share_bytes", name)
            low = interleaved_overhead(args, s, name, key, tee, share)
            capacity = load(s.url, name, args, args.connections, 0, 15)
            rate = max(1, int(capacity["throughput_rps"] * args.load_fraction))
            # Open loop: enough connections that none has to wait for its previous answer.
            fixed = load(s.url, name, args, args.open_connections, rate, args.load_duration)
        finally:
            s.stop()
        row = {"model": name, "capacity_rps": capacity["throughput_rps"], "rate": rate, "fixed": fixed, **low}
        print(json.dumps(row), flush=True)
        rows.append(row)
    lines = [f"## `teeinfer serve` under a fixed load, sealed, `--tee sim --epc {args.epc}`, `--max-batch 8`, "
             f"`--batch-delay-us {args.batch_delay_us}`", "",
             f"CPU: {cpu_model()}, 1 kernel thread; `/usr/bin/python3 bench/serve_bench.py load --models {args.models}`. "
             f"Capacity: {args.connections} closed-loop connections for 15 s; then {args.load_fraction:.0%} of it as a "
             f"fixed rate on {args.open_connections} connections for {args.load_duration} s (latency from each request's "
             "scheduled send time).", "",
             "| model | capacity req/s | fixed rate req/s | served req/s | errors | p50 ms | p99 ms | max ms |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        f = r["fixed"]
        lines.append(f"| {r['model']} | {r['capacity_rps']:.1f} | {r['rate']} | {f['throughput_rps']:.1f} | "
                     f"{f['errors']} | {f['p50_ms']:.1f} | {f['p99_ms']:.1f} | {f['max_ms']:.1f} |")
    lines += ["", "Low load (one client, closed loop, binary tensors) against `teeinfer run` of the same sealed model in "
              f"the same EPC share, {args.rounds} alternating rounds (medians; overhead = median of the per-round "
              f"ratios), both `--conv-algorithm {args.conv_algorithm}`; "
              "'in run' is the server's own mean time inside `Session::run` (its counters), the rest of the p50 is "
              "HTTP, the request codec and the queue:", "",
              "| model | serve p50 ms | in run ms | HTTP + codec + queue ms | `teeinfer run` median ms | p50 overhead vs run |",
              "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['low_p50_ms']:.3f} | {r['server_run_ms']:.3f} | "
                     f"{r['low_p50_ms'] - r['server_run_ms']:.3f} | {r['run_median_ms']:.3f} | {r['overhead']:+.1%} |")
    write_report(args.out, "serve_load", lines, rows)


def e2e(args, tmp):
    rows = []
    for name in args.models.split(","):
        repo = make_repository(tmp, name, 1)
        s = Server(repo, ["--tee", "sim", "--epc", args.epc, "--max-batch", "1", "--threads", "1",
                          "--conv-algorithm", args.conv_algorithm])
        try:
            load(s.url, name, args, 1, 0, 2, alternate=True)  # warm-up
            rounds = []
            for _ in range(args.rounds):
                # Plaintext and encrypted requests alternate on one connection: each pair sees
                # the same moment of this shared machine, so its ratio is free of drift.
                r = load(s.url, name, args, 1, 0, 2 * args.low_duration, alternate=True)
                if r["errors"]:
                    raise SystemExit(f"errors: {r['statuses']}")
                a = r["alternate"]
                rounds.append((a["plain_p50_ms"], a["encrypted_p50_ms"], a["pair_ratio_median"], a["pairs"]))
                print(f"  {name} round: plaintext p50 {a['plain_p50_ms']:.3f} ms, encrypted p50 "
                      f"{a['encrypted_p50_ms']:.3f} ms, paired ratio {a['pair_ratio_median']:.4f} "
                      f"({a['pairs']} pairs)", flush=True)
            encrypted_total = counter(s.metrics(), "teeinfer_encrypted_requests_total", name)
        finally:
            s.stop()
        median = statistics.median
        rows.append({"model": name, "plain_p50_ms": median(r[0] for r in rounds),
                     "encrypted_p50_ms": median(r[1] for r in rounds),
                     "ratio": median(r[2] for r in rounds),
                     "ratio_range": [min(r[2] for r in rounds), max(r[2] for r in rounds)],
                     "pairs": sum(r[3] for r in rounds), "rounds": rounds,
                     "encrypted_requests_counted_by_server": encrypted_total})
    lines = ["# End-to-end encryption + receipt: latency cost per request (batch 1)", "",
             f"CPU: {cpu_model()}, 1 kernel thread, `--tee sim --epc {args.epc} --max-batch 1`, one client in a "
             f"closed loop alternating plaintext and encrypted requests, {args.rounds} rounds of "
             f"{2 * args.low_duration} s (`/usr/bin/python3 bench/serve_bench.py e2e --models {args.models}`).", "",
             "| model | plaintext p50 ms | encrypted p50 ms | encrypted ÷ plaintext (median of paired ratios; "
             "rounds' range) | pairs |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['plain_p50_ms']:.3f} | {r['encrypted_p50_ms']:.3f} | {r['ratio']:.3f} "
                     f"({r['ratio_range'][0]:.3f}–{r['ratio_range'][1]:.3f}) | {r['pairs']} |")
    write_report(args.out, "serve_e2e", lines, rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["batching", "load", "e2e"])
    ap.add_argument("--models", default=None)
    ap.add_argument("--epc", default="16MiB")
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--open-connections", type=int, default=16)
    ap.add_argument("--load-fraction", type=float, default=0.7)
    ap.add_argument("--load-duration", type=float, default=60)
    ap.add_argument("--low-duration", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--batch-delay-us", type=int, default=0)
    ap.add_argument("--conv-algorithm", default="direct", help="load: the same kernels in serve and run")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "out"))
    args = ap.parse_args()
    if args.models is None:
        args.models = "alexnet,vgg16,resnet50" if args.what == "batching" else "resnet18,demo"
    os.makedirs(args.out, exist_ok=True)
    ensure_full_models([m for m in args.models.split(",") if m != "demo"])
    with tempfile.TemporaryDirectory() as tmp:
        {"batching": batching, "load": load_test, "e2e": e2e}[args.what](args, tmp)


if __name__ == "__main__":
    main()
