#!/usr/bin/env python3
"""Batch 8 against batch 1, sealed in a 16 MiB emulated EPC (issue #16, acceptance 2).

For each model and variant (fp32; full int8: `--quantize all --calibrate`), one sealed
file with two shape profiles (`pack --input-shape '{1,8}x3x224x224'`), 1 thread, medians
of `--repeat` runs of the same build in this run:

  native_b   the sealed model with no budget (every weight resident, nothing streamed)
  tee_b      the same in the emulated EPC (`--tee sim --epc 16MiB`)

and per batch size b the per-image times t/b. Checks:

  decrypted per run at batch 8 (counters) vs batch 1: each streamed weight once per batch
  images/s at batch 8 ÷ images/s at batch 1 (in the EPC)
  bound = native_8 / 8 + (tee_1 − native_1) / 8     (batching removes the decryption, not more)
  holds = tee_8 / 8 ≤ 1.15 × bound

Writes bench/out/batch_throughput.{md,json}.

  /usr/bin/python3 bench/batch_throughput.py                    # alexnet, vgg16, resnet50
  /usr/bin/python3 bench/batch_throughput.py --models alexnet --variants fp32
"""
import argparse
import os
import tempfile

import numpy as np

from benchlib import MODEL_DIR, ROOT, TEEINFER, cpu_model, models_to_run, run_sealed_json, sh, write_report

VARIANTS = {"fp32": [], "int8 full": ["--quantize", "all", "--calibrate", "{calib}"]}


def run_json(args, tee, key, x, extra):
    return run_sealed_json(args.teeinfer, tee, key, x, 1, args.repeat, extra)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="alexnet,vgg16,resnet50")
    ap.add_argument("--variants", default="fp32,int8 full")
    ap.add_argument("--epc", default="16MiB")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--model-dir", default=MODEL_DIR)
    ap.add_argument("--teeinfer", default=TEEINFER)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "out"))
    args = ap.parse_args()
    models = models_to_run(args)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        key = os.path.join(work, "k.bin")
        sh([args.teeinfer, "keygen", "-o", key])
        rng = np.random.default_rng(3)
        calib = os.path.join(work, "calib.npy")
        np.save(calib, rng.standard_normal((16, 3, 224, 224)).astype(np.float32))
        for name in models:
            stem = os.path.join(args.model_dir, name)
            x1 = stem + ".input.npy"
            x8 = os.path.join(work, "x8.npy")
            one = np.load(x1)
            np.save(x8, np.concatenate([one] + [rng.standard_normal(one.shape).astype(np.float32)
                                                for _ in range(7)]))
            for variant in args.variants.split(","):
                tee = os.path.join(work, name + ".tee")
                flags = [calib if f == "{calib}" else f for f in VARIANTS[variant]]
                sh([args.teeinfer, "pack", stem + ".onnx", "-o", tee, "--key", key, "--quiet", "--input-shape",
                    "{1,8}x3x224x224"] + flags)
                r = {"model": name, "variant": variant}
                for b, x in ((1, x1), (8, x8)):
                    print(f"{name} {variant} batch {b}", flush=True)
                    native = run_json(args, tee, key, x, [])
                    tee_run = run_json(args, tee, key, x, ["--tee", "sim", "--epc", args.epc])
                    r[f"native_{b}_ms"] = native["latency_ms"]["median"]
                    r[f"tee_{b}_ms"] = tee_run["latency_ms"]["median"]
                    r[f"decrypted_{b}"] = tee_run["sealed_per_run"]["bytes_decrypted"]
                    r[f"spilled_{b}"] = tee_run["spilled_bytes_per_run"]
                    r[f"evictions_{b}"] = tee_run["epc"]["per_run"]["evictions"]
                    r[f"peak_{b}"] = tee_run["epc"]["peak_resident_bytes"]
                r["speedup"] = (8 / r["tee_8_ms"]) / (1 / r["tee_1_ms"])
                r["bound_ms"] = r["native_8_ms"] / 8 + (r["tee_1_ms"] - r["native_1_ms"]) / 8
                r["per_image_8_ms"] = r["tee_8_ms"] / 8
                r["holds"] = r["per_image_8_ms"] <= 1.15 * r["bound_ms"]
                rows.append(r)
    lines = [f"CPU: {cpu_model()}; 1 thread; EPC {args.epc}; medians of {args.repeat} runs each, "
             "the same build in one run.", "",
             "| model | variant | decrypted/run b1 → b8 (MB) | spilled b8 (MB) | native ms/img b1, b8 | "
             "in-EPC ms/img b1, b8 | images/s b8 ÷ b1 | bound ms/img | b8 ÷ bound | evictions |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['variant']} | {r['decrypted_1'] / 1e6:.1f} → {r['decrypted_8'] / 1e6:.1f} | "
            f"{r['spilled_8'] / 1e6:.0f} | {r['native_1_ms']:.1f}, {r['native_8_ms'] / 8:.1f} | "
            f"{r['tee_1_ms']:.1f}, {r['per_image_8_ms']:.1f} | {r['speedup']:.2f}× | {r['bound_ms']:.1f} | "
            f"{r['per_image_8_ms'] / r['bound_ms']:.2f} {'✓' if r['holds'] else '✗'} | "
            f"{r['evictions_1']:.0f}, {r['evictions_8']:.0f} |")
    lines += ["", "bound = native batch-8 per image + one eighth of batch 1's in-EPC overhead; "
              "✓ = per-image time at batch 8 within 1.15 × bound.",
              "Reproduce: `/usr/bin/python3 bench/batch_throughput.py` (after `make bench` exported the models)."]
    write_report(args.out, "batch_throughput", lines, rows)


if __name__ == "__main__":
    main()
