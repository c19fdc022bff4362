#!/usr/bin/env python3
"""Int8 and compression against fp32 (issue #6), one command, one run: VGG-16 and ResNet-50
sealed as fp32, int8 weight-only (`--quantize all`), full int8 (`--calibrate`), full int8 +
`--compress auto`, and full int8 clustered to 16 values + palette4. In `--tee sim` at each
EPC, 1 thread, the variants alternate in each round; medians. Also ONNX Runtime's native
fp32 latency (npm onnxruntime-node, 1 thread) in the same run, and top-1 agreement with fp32
over seeded random inputs (run natively). Writes bench/out/int8_compress.{md,json,png}.

  /usr/bin/python3 bench/int8_compress.py                      # after `make bench` exported the models
  /usr/bin/python3 bench/int8_compress.py --models vgg16 --epc 16 --inputs 20
"""
import argparse
import json
import os
import statistics
import tempfile
import time

import numpy as np

from benchlib import MODEL_DIR, ROOT, TEEINFER, ensure_full_models, pyplot, sh, write_report

VARIANTS = {  # name -> pack flags (calibration file added where {calib} appears)
    "fp32": [],
    "int8 weight-only": ["--quantize", "all"],
    "int8 full": ["--quantize", "all", "--calibrate", "{calib}"],
    "int8 full + auto codec": ["--quantize", "all", "--calibrate", "{calib}", "--compress", "auto"],
    # fully-connected layers clustered (--cluster-layers fc, the default): most of the bytes
    "int8 full + cluster16 + palette4": ["--quantize", "all", "--calibrate", "{calib}", "--cluster", "16",
                                         "--compress", "palette4"],
}


def pack(onnx, tee, key, flags, calib):
    extra = [calib if f == "{calib}" else f for f in flags]
    sh([TEEINFER, "pack", onnx, "-o", tee, "--key", key, "--quiet"] + extra)


def run(tee, key, x, extra, repeat=1, out=None, warmup=1):
    cmd = [TEEINFER, "run", tee, "--key", key, "--input", x, "--json", "--repeat", str(repeat), "--warmup",
           str(warmup)] + extra
    if out:
        cmd += ["--output", out]
    return json.loads(sh(cmd))


def ort_ms(onnx, x, repeat):
    out = sh(["node", os.path.join(ROOT, "bench", "ort_latency.js"), onnx, x, "--threads", "1", "--repeat",
              str(repeat)])
    return statistics.median(json.loads(out)["samples_ms"])


def agreement(model, onnx, key, work, inputs):
    """Top-1 agreement of each variant with fp32 over `inputs` seeded random inputs (one stacked .npy)."""
    rng = np.random.default_rng(1)
    x = os.path.join(work, "agree_x.npy")
    calib = os.path.join(work, "agree_calib.npy")
    np.save(x, rng.standard_normal((inputs, 3, 224, 224)).astype(np.float32))
    np.save(calib, rng.standard_normal((inputs, 3, 224, 224)).astype(np.float32))  # other seeds
    tops, outs = {}, {}
    for name, flags in VARIANTS.items():
        if "auto codec" in name:
            continue  # lossless: the same numbers as "int8 full"
        print(f"{model} agreement: {name}", flush=True)
        tee = os.path.join(work, "agree.tee")
        pack(onnx, tee, key, flags, calib)
        out = os.path.join(work, "agree_y.npy")
        run(tee, key, x, [], 1, out, warmup=0)
        outs[name] = np.load(out).reshape(inputs, -1)
        tops[name] = np.argmax(outs[name], axis=1)
    ref = outs["fp32"]
    return {"distinct_fp32_classes": int(len(set(tops["fp32"].tolist()))),
            **{k: {"top1": int((v == tops["fp32"]).sum()),
                   "max_rel_diff": float(np.abs(outs[k] - ref).max() / np.abs(ref).max())}
               for k, v in tops.items() if k != "fp32"}}


def fmnist_accuracy(key, work):
    """Fashion-MNIST test accuracy (10k images) of the trained reference model per variant; calibration on
    256 training images, normalised as `teeinfer eval` does ((x/255 - 0.5) / 0.5)."""
    import gzip
    with gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") as f:
        train = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    pick = np.random.default_rng(0).choice(len(train), 256, replace=False)
    calib = os.path.join(work, "fmnist_calib.npy")
    np.save(calib, (train[pick].astype(np.float32) / 255 - 0.5) / 0.5)
    onnx = os.path.join(ROOT, "models", "fmnist_vgg.onnx")
    variants = dict(VARIANTS)
    variants["int8 full + cluster16 (all layers) + palette4"] = variants["int8 full + cluster16 + palette4"] + [
        "--cluster-layers", "all"]
    acc = {}
    for name, flags in variants.items():
        print(f"fmnist accuracy: {name}", flush=True)
        tee = os.path.join(work, "fmnist.tee")
        pack(onnx, tee, key, flags + (["--calibration-samples", "256"] if "{calib}" in flags else []), calib)
        j = json.loads(sh([TEEINFER, "eval", tee, "--key", key, "--json"]))
        acc[name] = {"accuracy_percent": j["accuracy_percent"], "latency_ms": j["latency_ms"]["median"]}
    return acc


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="vgg16,resnet50")
    ap.add_argument("--epc", default="16,64", help="EPC sizes in MiB")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--inputs", type=int, default=100, help="seeded random inputs for top-1 agreement")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "out"))
    args = ap.parse_args()
    models = args.models.split(",")
    ensure_full_models(models)
    os.makedirs(args.out, exist_ok=True)
    rows, ort, agree = [], {}, {}
    with tempfile.TemporaryDirectory(prefix="teeinfer-int8-") as work:
        key = os.path.join(work, "k.bin")
        sh([TEEINFER, "keygen", "-o", key])
        calib = os.path.join(work, "calib.npy")
        np.save(calib, np.random.default_rng(7).standard_normal((16, 3, 224, 224)).astype(np.float32))
        for model in models:
            onnx = os.path.join(MODEL_DIR, model + ".onnx")
            x = os.path.join(MODEL_DIR, model + ".input.npy")
            tees = {}
            for name, flags in VARIANTS.items():
                tees[name] = os.path.join(work, f"{model}-{len(tees)}.tee")
                pack(onnx, tees[name], key, flags, calib)
            for epc in [int(e) for e in args.epc.split(",")]:
                ms, dec = {k: [] for k in tees}, {}
                ort_samples = []
                for r in range(args.rounds):
                    print(f"{model} --epc {epc}MiB round {r + 1}/{args.rounds}", flush=True)
                    for name, tee in tees.items():
                        j = run(tee, key, x, ["--tee", "sim", "--epc", f"{epc}MiB"], args.repeat)
                        assert j["epc"]["per_run"]["evictions"] == 0, (model, name, epc)
                        ms[name].append(j["latency_ms"]["median"])
                        dec[name] = j["sealed_per_run"]["bytes_decrypted"]
                    ort_samples.append(ort_ms(onnx, x, args.repeat))
                ort[model] = statistics.median(ort_samples)
                for name in tees:
                    rows.append({"model": model, "epc_mib": epc, "variant": name,
                                 "ms": statistics.median(ms[name]), "decrypted_mib": dec[name] / 2**20,
                                 "vs_ort": statistics.median(ms[name]) / ort[model]})
            agree[model] = agreement(model, onnx, key, work, args.inputs)
        fmnist = fmnist_accuracy(key, work)
    lines = [f"Sealed models in `--tee sim`, 1 thread, batch 1; medians of {args.rounds} rounds (variants alternate) "
             f"× {args.repeat} runs; ONNX Runtime native fp32, 1 thread, measured in the same rounds. Generated "
             f"{time.strftime('%Y-%m-%d')} by `/usr/bin/python3 bench/int8_compress.py`.", "",
             "| model | EPC MiB | variant | MiB decrypted/run | in-TEE ms | / fp32 in-TEE | / ORT native fp32 |",
             "|---|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        base = next(b for b in rows if b["model"] == r["model"] and b["epc_mib"] == r["epc_mib"]
                    and b["variant"] == "fp32")
        lines.append(f"| {r['model']} | {r['epc_mib']} | {r['variant']} | {r['decrypted_mib']:.1f} | {r['ms']:.1f} | "
                     f"{r['ms'] / base['ms']:.2f} | {r['vs_ort']:.2f} |")
    lines += ["", "ONNX Runtime native fp32 (median ms): " + ", ".join(f"{m} {v:.1f}" for m, v in ort.items()), "",
              f"Top-1 agreement with fp32 over {args.inputs} seeded random inputs (randomly initialised weights: no "
              "pretrained ones exist here):", ""]
    for m, a in agree.items():
        lines.append(f"- {m} (fp32 predicts {a['distinct_fp32_classes']} distinct classes over them): " +
                     ", ".join(f"{k} {v['top1']}/{args.inputs} (largest output difference "
                               f"{100 * v['max_rel_diff']:.1f}% of the largest output)"
                               for k, v in a.items() if k != "distinct_fp32_classes"))
    lines += ["", "Fashion-MNIST reference model (models/fmnist_vgg.onnx, trained by tools/train_fashion_mnist.py), "
              "10k test images, native, 1 thread (calibration: 256 training images):", "",
              "| variant | accuracy % | vs fp32 pp | ms per image |", "|---|---:|---:|---:|"]
    for name, a in fmnist.items():
        lines.append(f"| {name} | {a['accuracy_percent']:.2f} | "
                     f"{a['accuracy_percent'] - fmnist['fp32']['accuracy_percent']:+.2f} | {a['latency_ms']:.3f} |")
    write_report(args.out, "int8_compress", lines,
                 {"rows": rows, "ort_ms": ort, "top1_agree": agree, "fmnist": fmnist})
    plt = pyplot()
    if plt:
        fig, axes = plt.subplots(1, len(models), figsize=(6 * len(models), 4.5), squeeze=False)
        for ax, model in zip(axes[0], models):
            epcs = sorted({r["epc_mib"] for r in rows if r["model"] == model})
            width = 0.8 / len(VARIANTS)
            for i, name in enumerate(VARIANTS):
                vals = [next(r["ms"] for r in rows if r["model"] == model and r["epc_mib"] == e and r["variant"] == name)
                        for e in epcs]
                ax.bar([k + i * width for k in range(len(epcs))], vals, width, label=name)
            ax.axhline(ort[model], color="k", linestyle="--", label="ORT native fp32")
            ax.set_xticks([k + 0.4 - width / 2 for k in range(len(epcs))], [f"EPC {e} MiB" for e in epcs])
            ax.set_ylabel("in-TEE latency, ms (1 thread)")
            ax.set_title(model)
        axes[0][0].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(os.path.join(args.out, "int8_compress.png"), dpi=110)


if __name__ == "__main__":
    main()
