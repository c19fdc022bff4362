#!/usr/bin/env python3
"""In-TEE latency against native, per EPC size: the TEE paging cliff.

For each model (full size, 224x224, batch 1, 1 thread) and execution mode, the model is
sealed once, then run natively (`--tee none`) and inside the emulated EPC
(`--tee sim --epc SIZE`) at every EPC size, all in this one run. The native time is the
median over two native processes, one before the EPC sweep and one after it, so drift
on a shared machine shows up in the spread instead of the ratios.

Three in-TEE numbers per point:
  wall      the emulated run's measured latency (this machine's userfaultfd pager);
  compute   the same session timed while its whole region is resident (no faults);
  modelled  compute + faults x --fault-cycles + host calls x --ocall-cycles at the TSC rate
            (SGX's costs; tee/sim/sgx_latency_model.h). Ratios are over native.
Counters per inference (faults, evictions, host calls, bytes decrypted) explain the curve.
Writes bench/out/tee_latency.{md,json,png}.

  make bench-cliff                        # planned and unmodified, VGG-16 and ResNet-50
  /usr/bin/python3 bench/tee_latency.py --models resnet50 --modes unmodified,planned --epc 128,16
"""
import argparse
import json
import os
import tempfile
import time

import numpy as np

import subprocess
import sys

from benchlib import cpu_model, MODEL_DIR, ROOT, TEEINFER, ensure_full_models, pyplot, sh, write_report


def run_json(args, model, key, mode, tee, epc=None, repeat=None):
    cmd = [args.teeinfer, "run", model, "--key", key, "--input", model.replace(".tee", ".input.npy"), "--json",
           "--threads", "1", "--mode", mode, "--tee", tee, "--warmup", str(args.warmup), "--repeat",
           str(repeat or args.repeat), "--fault-cycles", str(args.fault_cycles), "--ocall-cycles",
           str(args.ocall_cycles)]
    if epc:
        cmd += ["--epc", f"{epc}MiB"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0 and "budget exceeded" in r.stderr:
        return None  # the planned mode cannot fit this EPC: reported, not fatal
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stdout}{r.stderr}")
    return json.loads(r.stdout)


def sweep(args, name, key, mode, progress):
    model = os.path.join(args.work, name + ".tee")
    native_repeat = max(args.repeat, 7)  # native runs are cheap: more samples, steadier ratios
    native = run_json(args, model, key, mode, "none", repeat=native_repeat)
    samples = list(native["latency_ms"]["samples"])
    points = []
    for epc in args.epc:
        progress(f"{name} {mode} --epc {epc}MiB")
        j = run_json(args, model, key, mode, "sim", epc)
        if j is None:
            points.append({"epc_mib": epc, "infeasible": True})
            continue
        e = j["epc"]
        points.append({"epc_mib": epc, "wall_ms": j["latency_ms"]["median"],
                       "modelled_ms": e["modelled_sgx_latency_ms"], "compute_ms": e["compute_ms"],
                       "fault_ms": e["fault_ms"], "transition_ms": e["transition_ms"], **e["per_run"],
                       "peak_resident_bytes": e["peak_resident_bytes"], "pager": e["pager"],
                       "arena_bytes": j["arena_bytes"], "streamed_bytes": j.get("streamed_bytes_per_run", 0)})
    samples += run_json(args, model, key, mode, "none", repeat=native_repeat)["latency_ms"]["samples"]
    native_ms = float(np.median(samples))
    for p in (p for p in points if not p.get("infeasible")):
        p["wall_ratio"] = p["wall_ms"] / native_ms
        p["modelled_ratio"] = p["modelled_ms"] / native_ms
        p["compute_ratio"] = p["compute_ms"] / native_ms
    return {"model": name, "mode": mode, "native_ms": native_ms, "native_min_ms": float(min(samples)),
            "native_max_ms": float(max(samples)), "arena_bytes": native["arena_bytes"], "points": points}


def table(rows, args):
    lines = [f"Batch 1, 1 thread, fp32; each point: median of {args.repeat} runs after {args.warmup} warm-up run(s); "
             f"{args.fault_cycles} cycles per modelled SGX fault, {args.ocall_cycles} per host call (OCALL). "
             "Modelled SGX = compute (same plan, no faults) + faults x fault cost + host calls x OCALL cost. "
             f"CPU: {cpu_model()}. Generated {time.strftime('%Y-%m-%d')} by "
             "`make bench-cliff` (bench/tee_latency.py).", ""]
    for r in rows:
        lines += [f"**{r['model']}, {r['mode']} mode**: native {r['native_ms']:.1f} ms "
                  f"(range {r['native_min_ms']:.1f}-{r['native_max_ms']:.1f}), secure memory needed "
                  f"{r['arena_bytes'] / 2**20:.1f} MiB", "",
                  "| EPC MiB | wall ms | wall/native | compute ms | modelled SGX ms | modelled/native | faults | "
                  "host calls | evictions | MiB paged in | arena MiB | weights streamed MiB/run |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for p in r["points"]:
            if p.get("infeasible"):
                lines.append(f"| {p['epc_mib']} | does not fit (see `teeinfer plan`) | | | | | | | | | | |")
                continue
            lines.append(f"| {p['epc_mib']} | {p['wall_ms']:.1f} | {p['wall_ratio']:.2f} | {p['compute_ms']:.1f} | "
                         f"{p['modelled_ms']:.1f} | {p['modelled_ratio']:.2f} | {p['faults']:.0f} | "
                         f"{p['host_calls']:.0f} | {p['evictions']:.0f} | {p['bytes_decrypted'] / 2**20:.1f} | "
                         f"{p['arena_bytes'] / 2**20:.1f} | {p['streamed_bytes'] / 2**20:.1f} |")
        lines.append("")
    return "\n".join(lines)


def plot(rows, path):
    plt = pyplot()
    if not plt:
        return
    models = sorted({r["model"] for r in rows}, key=[r["model"] for r in rows].index)
    fig, axes = plt.subplots(1, len(models), figsize=(6 * len(models), 4.2), squeeze=False)
    for ax, m in zip(axes[0], models):
        for i, r in enumerate(x for x in rows if x["model"] == m):
            pts = [p for p in r["points"] if not p.get("infeasible")]
            epc = [p["epc_mib"] for p in pts]
            color = f"C{i}"
            ax.plot(epc, [p["modelled_ratio"] for p in pts], "o-", color=color, label=f"{r['mode']}: modelled SGX")
            ax.plot(epc, [p["wall_ratio"] for p in pts], "s--", color=color, alpha=0.6,
                    label=f"{r['mode']}: emulated wall")
            ax.axvline(r["arena_bytes"] / 2**20, color=color, linestyle=":", linewidth=1)
        ax.axhline(1.0, color="black", linewidth=1)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("EPC size, MiB (dotted: secure memory the mode needs)")
        ax.set_ylabel("in-TEE latency / native latency")
        ax.set_title(f"{m}, 1 thread")
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    plt.tight_layout()
    plt.savefig(path, dpi=120)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="vgg16,resnet50")
    ap.add_argument("--modes", default="planned,unmodified", help="comma-separated: planned, unmodified")
    ap.add_argument("--epc", default="1024,256,128,93,64,32,16,8", help="EPC sizes in MiB")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--fault-cycles", type=int, default=40000)
    ap.add_argument("--ocall-cycles", type=int, default=8000)
    ap.add_argument("--model-dir", default=MODEL_DIR)
    ap.add_argument("--teeinfer", default=TEEINFER)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "out"))
    args = ap.parse_args()
    args.epc = [int(e) for e in args.epc.split(",")]
    models, modes = args.models.split(","), args.modes.split(",")
    os.makedirs(args.out, exist_ok=True)
    ensure_full_models(models, args.model_dir)
    with tempfile.TemporaryDirectory(prefix="teeinfer-bench-") as work:
        args.work = work
        key = os.path.join(work, "key.bin")
        sh([args.teeinfer, "keygen", "-o", key])
        for name in models:
            print(f"sealing {name}", flush=True)
            stem = os.path.join(args.model_dir, name)
            sh([args.teeinfer, "pack", stem + ".onnx", "-o", os.path.join(work, name + ".tee"), "--key", key])
            os.symlink(stem + ".input.npy", os.path.join(work, name + ".input.npy"))
        total, done = len(models) * len(modes) * len(args.epc), [0]

        def progress(what):
            done[0] += 1
            print(f"[{done[0]}/{total}] {what}", flush=True)

        rows = [sweep(args, name, key, mode, progress) for name in models for mode in modes]
    write_report(args.out, "tee_latency", [table(rows, args)], rows)
    plot(rows, os.path.join(args.out, "tee_latency.png"))


if __name__ == "__main__":
    main()
