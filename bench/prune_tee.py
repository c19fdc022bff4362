#!/usr/bin/env python3
"""What mean-shift pruning buys inside the TEE: each reference net of tools/prune_fmnist.py,
unpruned (after sparsity training) and pruned (after fine-tuning), sealed and run with
`--tee sim` at a small EPC, 1 thread, alternating the two models in one run.

The latency of one image is tiny, so each sample is a batch of images (`--batch`):
the EPC must then hold a batch's activations, which is where pruning's smaller feature
maps show. Writes bench/out/prune_tee.{md,json}.

  /usr/bin/python3 bench/prune_tee.py                        # after tools/prune_fmnist.py
  /usr/bin/python3 bench/prune_tee.py --epc 1 --rounds 5
"""
import argparse
import json
import os
import statistics
import tempfile
import time

import numpy as np

from benchlib import ROOT, TEEINFER, sh, write_report

NETS = ["vgg", "resnet", "densenet"]


def latency(tee, key, x, epc_mib, repeat):
    out = sh([TEEINFER, "run", tee, "--key", key, "--input", x, "--json", "--repeat", str(repeat), "--warmup", "2",
              "--tee", "sim", "--epc", f"{epc_mib}MiB"])
    j = json.loads(out)
    return j["latency_ms"]["median"], j["epc"]["per_run"]["evictions"], j["arena_bytes"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nets", default=",".join(NETS))
    ap.add_argument("--epc", type=int, default=2, help="EPC in MiB")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=20, help="timed runs per process")
    ap.add_argument("--rounds", type=int, default=3, help="alternating processes per model")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "out"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="teeinfer-prune-") as work:
        key = os.path.join(work, "k.bin")
        sh([TEEINFER, "keygen", "-o", key])
        x = os.path.join(work, "x.npy")
        np.save(x, np.random.default_rng(0).uniform(-1, 1, (args.batch, 1, 28, 28)).astype(np.float32))
        for ni, net in enumerate(args.nets.split(",")):
            samples, info = {"sparse": [], "pruned": []}, {}
            for kind in samples:
                onnx = os.path.join(ROOT, "models", "pruning", f"{net}_{kind}.onnx")
                tee = os.path.join(work, f"{net}_{kind}.tee")
                sh([TEEINFER, "pack", onnx, "-o", tee, "--key", key, "--quiet",
                    "--input-shape", f"{args.batch}x1x28x28"])
                info[kind] = tee
            for r in range(args.rounds):
                for kind in samples:
                    print(f"[{ni + 1}] {net} {kind} round {r + 1}/{args.rounds}", flush=True)
                    ms, evictions, arena = latency(info[kind], key, x, args.epc, args.repeat)
                    samples[kind].append(ms)
                    assert evictions == 0, f"{net} {kind} paged at {args.epc} MiB"
                    info[kind + "_arena"] = arena
            a, b = statistics.median(samples["sparse"]), statistics.median(samples["pruned"])
            rows.append({"net": net, "unpruned_ms": a, "pruned_ms": b, "speedup": a / b, "samples": samples,
                         "arena_mib": [info["sparse_arena"] / 2**20, info["pruned_arena"] / 2**20]})
    lines = [f"Sealed, `--tee sim --epc {args.epc}MiB`, batch {args.batch}, 1 thread; medians over "
             f"{args.rounds} alternating processes × {args.repeat} runs. Generated {time.strftime('%Y-%m-%d')} by "
             f"`/usr/bin/python3 bench/prune_tee.py`.", "",
             "| net | unpruned ms per batch | pruned ms per batch | speed-up | arena MiB unpruned → pruned |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['net']} | {r['unpruned_ms']:.2f} | {r['pruned_ms']:.2f} | {r['speedup']:.2f}× | "
                     f"{r['arena_mib'][0]:.2f} → {r['arena_mib'][1]:.2f} |")
    write_report(args.out, "prune_tee", lines, rows)


if __name__ == "__main__":
    main()
