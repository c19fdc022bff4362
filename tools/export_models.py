#!/usr/bin/env python3
"""Exports torchvision architectures to ONNX (opset 13) with seeded random weights and
randomised BatchNorm statistics, plus a seeded input and PyTorch's reference output.

Two sizes:
  --size small : same graph structure, channel widths divided by a factor and (where the
                 architecture allows) a smaller input; committed under tests/models/ and
                 run by the test suite.
  --size full  : the real architectures at 224x224; for benchmarks (not committed).

BatchNorm layers are kept in the ONNX graph (TrainingMode.PRESERVE on an eval-mode model)
so teeinfer's own BN folding is what gets tested.

  /usr/bin/python3 tools/export_models.py --size small -o tests/models
  /usr/bin/python3 tools/export_models.py --size full -o build/models --models vgg16,resnet50
"""
import argparse
import contextlib
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torchvision

NUM_CLASSES = 1000
# name: (constructor, width divisor for small, small input side)
MODELS = {
    "vgg16": (lambda: torchvision.models.vgg16(num_classes=NUM_CLASSES), 16, 224),
    "resnet18": (lambda: torchvision.models.resnet18(num_classes=NUM_CLASSES), 8, 64),
    "resnet50": (lambda: torchvision.models.resnet50(num_classes=NUM_CLASSES), 8, 64),
    "mobilenet_v2": (None, 0, 64),  # uses width_mult instead of patching
    "squeezenet1_1": (lambda: torchvision.models.squeezenet1_1(num_classes=NUM_CLASSES), 8, 64),
    "alexnet": (lambda: torchvision.models.alexnet(num_classes=NUM_CLASSES), 16, 224),
    "densenet121": (lambda: torchvision.models.densenet121(num_classes=NUM_CLASSES), 8, 64),
}


@contextlib.contextmanager
def narrowed(factor):
    """Divides channel counts of Conv2d / BatchNorm2d / Linear built inside the block by
    `factor` (image channels 3 and the class count stay), keeping depthwise groups."""
    if factor <= 1:
        yield
        return
    conv_init, bn_init, lin_init = nn.Conv2d.__init__, nn.BatchNorm2d.__init__, nn.Linear.__init__
    s = lambda c: max(1, c // factor)

    def conv(self, cin, cout, *args, groups=1, **kw):
        cin2 = cin if cin == 3 else s(cin)
        cout2 = cout if cout == NUM_CLASSES else s(cout)
        groups2 = 1 if groups == 1 else (cin2 if groups == cin else max(1, groups // factor))
        conv_init(self, cin2, cout2, *args, groups=groups2, **kw)

    def bn(self, n, *args, **kw):
        bn_init(self, s(n), *args, **kw)

    def lin(self, fin, fout, *args, **kw):
        lin_init(self, s(fin), fout if fout == NUM_CLASSES else s(fout), *args, **kw)

    nn.Conv2d.__init__, nn.BatchNorm2d.__init__, nn.Linear.__init__ = conv, bn, lin
    try:
        yield
    finally:
        nn.Conv2d.__init__, nn.BatchNorm2d.__init__, nn.Linear.__init__ = conv_init, bn_init, lin_init


def build(name, size):
    ctor, factor, _ = MODELS[name]
    if name == "mobilenet_v2":
        # width_mult leaves the 1280-wide classifier input; fewer classes keep the file small.
        if size == "small":
            return torchvision.models.mobilenet_v2(num_classes=100, width_mult=0.25)
        return torchvision.models.mobilenet_v2(num_classes=NUM_CLASSES)
    with narrowed(factor if size == "small" else 1):
        return ctor()


def randomise_batchnorm(model, gen):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.weight.data = torch.rand(c, generator=gen) + 0.5
            m.bias.data = torch.randn(c, generator=gen) * 0.1
            m.running_mean.data = torch.randn(c, generator=gen) * 0.1
            m.running_var.data = torch.rand(c, generator=gen) * 1.5 + 0.5


def export(name, size, out_dir, seed):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = build(name, size).eval()
    randomise_batchnorm(model, gen)
    side = MODELS[name][2] if size == "small" else 224
    x = torch.randn(1, 3, side, side, generator=gen)
    with torch.no_grad():
        y = model(x)
    stem = os.path.join(out_dir, f"{name}_{size}" if size == "small" else name)
    torch.onnx.export(model, x, stem + ".onnx", opset_version=13, training=torch.onnx.TrainingMode.PRESERVE,
                      input_names=["input"], output_names=["output"])
    np.save(stem + ".input.npy", x.numpy().astype(np.float32))
    np.save(stem + ".output.npy", y.numpy().astype(np.float32))
    params = sum(p.numel() for p in model.parameters())
    return stem, params


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=["small", "full"], default="small")
    ap.add_argument("-o", "--out-dir", default="tests/models")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ",".join(MODELS))
    ap.add_argument("--seed", type=int, default=2024)
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    names = args.models.split(",")
    for i, name in enumerate(names):
        if name not in MODELS:
            sys.exit(f"unknown model '{name}'; choose from {','.join(MODELS)}")
        t0 = time.time()
        stem, params = export(name, args.size, args.out_dir, args.seed)
        print(f"[{i + 1}/{len(names)}] {stem}.onnx  {params / 1e6:.2f} M params  ({time.time() - t0:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
