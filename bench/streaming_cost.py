#!/usr/bin/env python3
"""What planned in-TEE execution costs over native, term by term (issue #15, acceptance 3).

For each model, sealed, 1 thread: native runs of the sealed model (no budget: every weight
resident), once with the default `--conv-algorithm auto` and once `direct`; then, in the
emulated EPC at each size, `teeinfer run --tee sim --epc SIZE --profile --json`, which
reports per run the streamed bytes, the loader's copy-in and decrypt + verify time (its
counters), and the step time by kind (weight read, weight reorder, layout, compute).
Per point:

  overhead = in-TEE − native (medians of the same build, this run)
  bound    = 1.3 × streamed bytes ÷ the decrypt rate measured in the same run
           = 1.3 × the run's decrypt + verify time
  holds    = overhead ≤ bound

and the terms of the overhead: decrypt, copy-in, weight reorders, and the rest (compute
differences: streamed conv weights run direct, Winograd needs resident weights; tiles
and bands; layout). Also checks 0 evictions and peak ≤ EPC. Writes
bench/out/streaming_cost.{md,json}.

  /usr/bin/python3 bench/streaming_cost.py                       # vgg16, resnet50, resnet18
  /usr/bin/python3 bench/streaming_cost.py --models resnet50 --epc 16,32
"""
import argparse
import os
import statistics
import tempfile

from benchlib import MODEL_DIR, ROOT, TEEINFER, cpu_model, models_to_run, run_sealed_json, sh, write_report


def run_json(args, model, key, x, extra):
    return run_sealed_json(args.teeinfer, model, key, x, 2, args.repeat, extra)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="vgg16,resnet50,resnet18")
    ap.add_argument("--epc", default="256,128,64,32,16,8", help="EPC sizes in MiB")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--model-dir", default=MODEL_DIR)
    ap.add_argument("--teeinfer", default=TEEINFER)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "out"))
    args = ap.parse_args()
    models = models_to_run(args)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        key = os.path.join(work, "k.bin")
        sh([args.teeinfer, "keygen", "-o", key])
        for name in models:
            stem = os.path.join(args.model_dir, name)
            tee = os.path.join(work, name + ".tee")
            sh([args.teeinfer, "pack", stem + ".onnx", "-o", tee, "--key", key, "--quiet"])
            x = stem + ".input.npy"
            native = {a: statistics.median(run_json(args, tee, key, x, ["--conv-algorithm", a])["latency_ms"]["samples"])
                      for a in ("auto", "direct")}
            for epc in [int(e) for e in args.epc.split(",")]:
                print(f"{name} at {epc} MiB", flush=True)
                j = run_json(args, tee, key, x, ["--tee", "sim", "--epc", f"{epc}MiB", "--profile"])
                s = j["sealed_per_run"]
                kinds = j["profile"]["by_kind_ms"]
                in_tee = j["latency_ms"]["median"]
                overhead = in_tee - native["auto"]
                decrypt, copy_in = s["decrypt_ms"], s["copy_in_ms"]
                rows.append({
                    "model": name, "epc_mib": epc, "native_ms": native["auto"], "native_direct_ms": native["direct"],
                    "in_tee_ms": in_tee, "streamed_mb": s["bytes_decrypted"] / 1e6,
                    "decrypt_gbps": s["bytes_decrypted"] / decrypt / 1e6 if decrypt else 0.0,
                    "decrypt_ms": decrypt, "copy_in_ms": copy_in, "weight_reorder_ms": kinds["weight reorder"],
                    "layout_ms": kinds["layout"],
                    "rest_ms": overhead - decrypt - copy_in - kinds["weight reorder"],
                    "overhead_ms": overhead, "bound_ms": 1.3 * decrypt, "holds": overhead <= 1.3 * decrypt,
                    "ratio": in_tee / native["auto"], "ratio_vs_direct": in_tee / native["direct"],
                    "evictions": j["epc"]["per_run"]["evictions"], "peak_ok": j["arena_peak_bytes"] <= epc << 20})
    lines = [f"Planned in-TEE cost over native, sealed, 1 thread, medians of {args.repeat} runs "
             f"(`/usr/bin/python3 bench/streaming_cost.py`, {cpu_model()}). Native: the sealed model with "
             "no budget (every weight resident; `auto`: Winograd where measured faster, `direct`: never). "
             "Bound: 1.3 × streamed bytes ÷ the decrypt rate of the same run.", "",
             "| model | EPC MiB | native ms (auto / direct) | in-TEE ms | MB streamed | decrypt GB/s | decrypt ms | "
             "copy-in ms | weight reorder ms | rest ms | in-TEE − native | ≤ bound? | in-TEE / native (auto / direct) "
             "| evictions, peak ≤ EPC |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|"]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['epc_mib']} | {r['native_ms']:.1f} / {r['native_direct_ms']:.1f} | "
            f"{r['in_tee_ms']:.1f} | {r['streamed_mb']:.1f} | {r['decrypt_gbps']:.2f} | {r['decrypt_ms']:.1f} | "
            f"{r['copy_in_ms']:.1f} | {r['weight_reorder_ms']:.1f} | {r['rest_ms']:.1f} | {r['overhead_ms']:.1f} | "
            f"{'yes' if r['holds'] else 'no'} ({r['bound_ms']:.1f}) | {r['ratio']:.2f} / {r['ratio_vs_direct']:.2f} | "
            f"{r['evictions']:.0f}, {'yes' if r['peak_ok'] else 'NO'} |")
    write_report(args.out, "streaming_cost", lines, rows)


if __name__ == "__main__":
    main()
