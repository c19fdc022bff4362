"""Helpers shared by the Python benchmarks under bench/."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_DIR = os.path.join(ROOT, "build", "models")
TEEINFER = os.path.join(ROOT, "build", "teeinfer")


def sh(cmd):
    """Runs a command; exits with its output if it fails; returns stdout."""
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stdout}{r.stderr}")
    return r.stdout


def cpu_model():
    """'Intel(R) Xeon(R) Processor, family 6 model 207': the name alone is not enough under KVM."""
    fields = {}
    with open("/proc/cpuinfo") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    return f"{fields.get('model name', 'unknown CPU')}, family {fields.get('cpu family', '?')} model {fields.get('model', '?')}"


def ensure_full_models(models, model_dir=MODEL_DIR):
    """Exports the full-size torchvision models (seeded weights) that are not there yet."""
    missing = [m for m in models if not os.path.exists(os.path.join(model_dir, m + ".onnx"))]
    if missing:
        print(f"exporting full-size models: {', '.join(missing)}", flush=True)
        subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tools", "export_models.py"), "--size", "full", "-o",
                        model_dir, "--models", ",".join(missing)], check=True)


def models_to_run(args):
    """The --models list; makes --out and exports the full-size models that are missing."""
    models = args.models.split(",")
    os.makedirs(args.out, exist_ok=True)
    ensure_full_models(models, getattr(args, "model_dir", MODEL_DIR))
    return models


def run_sealed_json(teeinfer, model, key, x, warmup, repeat, extra):
    """`teeinfer run MODEL --key KEY --input X --json` with warm-up and timed runs; its JSON."""
    import json
    cmd = [teeinfer, "run", model, "--key", key, "--input", x, "--json", "--warmup", str(warmup), "--repeat",
           str(repeat)] + extra
    return json.loads(sh(cmd))


def write_report(out_dir, stem, lines, rows):
    """Prints the markdown report and writes it to OUT/STEM.md, the raw rows to STEM.json."""
    import json
    text = "\n".join(lines)
    print("\n" + text)
    with open(os.path.join(out_dir, stem + ".md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(out_dir, stem + ".json"), "w") as f:
        json.dump(rows, f, indent=2)


def pyplot():
    """matplotlib's pyplot with a file backend, or None when it is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        return plt
    except ImportError:
        print("matplotlib missing: no plot")
        return None
