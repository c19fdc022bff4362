#!/usr/bin/env python3
"""teeinfer vs ONNX Runtime, native fp32, full-size torchvision models, side by side.

For each model, alternating processes in several rounds: `teeinfer run` and ORT
(onnxruntime-node 1.30, bench/ort_latency.js), both with 1 thread, each doing warm-up
runs then timed runs. Reports medians over all timed runs and the ratio teeinfer/ORT,
and checks both outputs against PyTorch's reference (max|diff| <= 1e-4*max|ref| + 1e-5).
Writes bench/out/foundation.{md,json,png}.

  make bench                     # installs what it needs, builds, runs this
  /usr/bin/python3 bench/foundation_bench.py --models resnet50,vgg16 --rounds 3
"""
import argparse
import json
import os
import sys
import time

import numpy as np

from benchlib import MODEL_DIR, ROOT, TEEINFER, models_to_run, pyplot, sh, write_report

ALL = ["vgg16", "resnet18", "resnet50", "mobilenet_v2", "squeezenet1_1", "alexnet", "densenet121"]


def rel_err(y, ref):
    return float(np.max(np.abs(y - ref))), float(np.max(np.abs(ref)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(ALL))
    ap.add_argument("--model-dir", default=MODEL_DIR)
    ap.add_argument("--teeinfer", default=TEEINFER)
    ap.add_argument("--rounds", type=int, default=3, help="alternating process rounds per engine")
    ap.add_argument("--repeat", type=int, default=7, help="timed runs per process")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "out"))
    args = ap.parse_args()
    models = models_to_run(args)
    rows = []
    for mi, name in enumerate(models):
        stem = os.path.join(args.model_dir, name)
        ref = np.load(stem + ".output.npy")
        tee, ort = [], []
        y_path = os.path.join(args.out, name + ".teeinfer.npy")
        for r in range(args.rounds):
            print(f"[{mi + 1}/{len(models)}] {name}: round {r + 1}/{args.rounds}", flush=True)
            j = json.loads(sh([args.teeinfer, "run", stem + ".onnx", "--input", stem + ".input.npy", "--json",
                               "--threads", str(args.threads), "--warmup", str(args.warmup), "--repeat",
                               str(args.repeat), "--output", y_path]))
            tee += j["latency_ms"]["samples"]
            arena = j["arena_bytes"]
            o = json.loads(sh(["node", os.path.join(ROOT, "bench", "ort_latency.js"), stem + ".onnx",
                               stem + ".input.npy", "--threads", str(args.threads), "--warmup", str(args.warmup),
                               "--repeat", str(args.repeat)]))
            ort += o["samples_ms"]
            y_ort = np.array(o["output"], dtype=np.float32).reshape(o["output_dims"])
        y = np.load(y_path)
        d_tee, m = rel_err(y, ref)
        d_ort, _ = rel_err(y_ort, ref)
        row = {"model": name, "teeinfer_ms": float(np.median(tee)), "ort_ms": float(np.median(ort)),
               "runs_each": len(tee), "threads": args.threads, "arena_mib": arena / 2**20,
               "teeinfer_max_diff": d_tee, "ort_max_diff": d_ort, "max_ref": m,
               "teeinfer_matches": d_tee <= 1e-4 * m + 1e-5}
        row["ratio"] = row["teeinfer_ms"] / row["ort_ms"]
        rows.append(row)
        print(f"    teeinfer {row['teeinfer_ms']:.2f} ms  ORT {row['ort_ms']:.2f} ms  ratio {row['ratio']:.3f}  "
              f"max|diff| {d_tee:.2e} (max|ref| {m:.2e}) {'OK' if row['teeinfer_matches'] else 'MISMATCH'}", flush=True)

    lines = [f"Native fp32, batch 1, {args.threads} thread(s); medians of {args.rounds}x{args.repeat} timed runs per engine "
             f"after {args.warmup} warm-up runs, processes alternating. Generated {time.strftime('%Y-%m-%d')} by "
             "`make bench` (bench/foundation_bench.py).", "",
             "| model | teeinfer ms | ORT 1.30 ms | teeinfer/ORT | secure arena MiB | matches PyTorch |",
             "|---|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['teeinfer_ms']:.2f} | {r['ort_ms']:.2f} | {r['ratio']:.3f} | "
                     f"{r['arena_mib']:.1f} | {'yes' if r['teeinfer_matches'] else 'NO'} ({r['teeinfer_max_diff']:.1e}) |")
    write_report(args.out, "foundation", lines, rows)
    plt = pyplot()
    if plt:
        fig, ax = plt.subplots(figsize=(8, 4))
        ax.bar([r["model"] for r in rows], [r["ratio"] for r in rows], color="tab:blue")
        ax.axhline(1.0, color="black", linewidth=1, linestyle="--")
        ax.set_ylabel("latency teeinfer / ONNX Runtime")
        ax.set_title(f"Native fp32, batch 1, {args.threads} thread (lower is better)")
        plt.xticks(rotation=20)
        plt.tight_layout()
        plt.savefig(os.path.join(args.out, "foundation.png"), dpi=120)
    if not all(r["teeinfer_matches"] for r in rows):
        sys.exit("teeinfer output does not match PyTorch on some model")


if __name__ == "__main__":
    main()
