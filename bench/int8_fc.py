#!/usr/bin/env python3
"""Weight-only int8 for fully-connected layers (`pack --quantize fc`) against fp32:
VGG-16 sealed both ways, in `--tee sim` at each EPC, 1 thread, alternating the two
models in one run; bytes of weights decrypted per inference and latency (medians), plus
top-1 agreement between the two over seeded random inputs. Writes bench/out/int8_fc.{md,json}.

  /usr/bin/python3 bench/int8_fc.py                       # after `make bench` exported vgg16
  /usr/bin/python3 bench/int8_fc.py --epc 16,64 --inputs 20
"""
import argparse
import json
import os
import statistics
import tempfile
import time

import numpy as np

from benchlib import MODEL_DIR, ROOT, TEEINFER, ensure_full_models, sh, write_report


def run(tee, key, x, extra, repeat=1, out=None, warmup=1):
    cmd = [TEEINFER, "run", tee, "--key", key, "--input", x, "--json", "--repeat", str(repeat), "--warmup",
           str(warmup)] + extra
    if out:
        cmd += ["--output", out]
    return json.loads(sh(cmd))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="vgg16")
    ap.add_argument("--epc", default="16,64", help="EPC sizes in MiB")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--inputs", type=int, default=20, help="seeded random inputs for top-1 agreement")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "out"))
    args = ap.parse_args()
    ensure_full_models([args.model])
    os.makedirs(args.out, exist_ok=True)
    onnx = os.path.join(MODEL_DIR, args.model + ".onnx")
    rows = []
    with tempfile.TemporaryDirectory(prefix="teeinfer-int8-") as work:
        key = os.path.join(work, "k.bin")
        sh([TEEINFER, "keygen", "-o", key])
        tees = {}
        for kind, extra in (("fp32", []), ("int8-fc", ["--quantize", "fc"])):
            tees[kind] = os.path.join(work, kind + ".tee")
            sh([TEEINFER, "pack", onnx, "-o", tees[kind], "--key", key, "--quiet"] + extra)
        x = os.path.join(MODEL_DIR, args.model + ".input.npy")
        for epc in [int(e) for e in args.epc.split(",")]:
            ms, streamed = {k: [] for k in tees}, {}
            for r in range(args.rounds):
                for kind, tee in tees.items():
                    print(f"{args.model} {kind} --epc {epc}MiB round {r + 1}/{args.rounds}", flush=True)
                    j = run(tee, key, x, ["--tee", "sim", "--epc", f"{epc}MiB"], args.repeat)
                    assert j["epc"]["per_run"]["evictions"] == 0
                    ms[kind].append(j["latency_ms"]["median"])
                    streamed[kind] = j["streamed_bytes_per_run"]
            rows.append({"epc_mib": epc, **{f"{k}_ms": statistics.median(v) for k, v in ms.items()},
                         **{f"{k}_streamed_mib": streamed[k] / 2**20 for k in tees}})
        # Native: every weight resident; the first runs touch 550 MB of fresh arena, so warm up longer.
        native = {k: run(t, key, x, [], 10, warmup=3)["latency_ms"]["median"] for k, t in tees.items()}
        agree = 0
        rng = np.random.default_rng(0)
        for i in range(args.inputs):
            xi = os.path.join(work, "x.npy")
            np.save(xi, rng.standard_normal((1, 3, 224, 224)).astype(np.float32))
            top = []
            for kind, tee in tees.items():
                out = os.path.join(work, kind + ".npy")
                run(tee, key, xi, [], 1, out)
                top.append(int(np.argmax(np.load(out))))
            agree += top[0] == top[1]
            print(f"input {i + 1}/{args.inputs}: top-1 {top}", flush=True)
    lines = [f"{args.model}, sealed, `--tee sim`, 1 thread, batch 1; medians of {args.rounds} alternating processes × "
             f"{args.repeat} runs. Generated {time.strftime('%Y-%m-%d')} by `/usr/bin/python3 bench/int8_fc.py`.", "",
             f"Native (no TEE): fp32 {native['fp32']:.1f} ms, int8-fc {native['int8-fc']:.1f} ms. Top-1 agreement "
             f"int8-fc vs fp32 over {args.inputs} seeded random inputs: {agree}/{args.inputs}.", "",
             "| EPC MiB | fp32 MiB decrypted/run | int8-fc MiB decrypted/run | fp32 ms | int8-fc ms | int8-fc / fp32 |"
             " fp32 / native fp32 | int8-fc / native fp32 |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['epc_mib']} | {r['fp32_streamed_mib']:.1f} | {r['int8-fc_streamed_mib']:.1f} | "
                     f"{r['fp32_ms']:.1f} | {r['int8-fc_ms']:.1f} | {r['int8-fc_ms'] / r['fp32_ms']:.2f} | "
                     f"{r['fp32_ms'] / native['fp32']:.2f} | {r['int8-fc_ms'] / native['fp32']:.2f} |")
    write_report(args.out, "int8_fc", lines, {"rows": rows, "native_ms": native, "top1_agree": agree,
                                              "inputs": args.inputs})


if __name__ == "__main__":
    main()
