#!/usr/bin/env python3
"""Mean-shift channel pruning recipe (Xu & Lai, 2021, on Network Slimming) for three
reference nets on Fashion-MNIST: VGG-style (a chain), ResNet-style (residual adds) and
DenseNet-style (concatenations).

For each net: train with an L1 penalty on the BatchNorm scales γ (sparsity training);
cluster |γ| with 1-D mean-shift (scikit-learn, bandwidth from a quantile of
nearest-neighbour distances, bin seeding), per block of layers for VGG and per layer for
the others; remove every channel with |γ| at or below the lowest cluster centre (at
least one channel per layer stays); rebuild the smaller net with the surviving weights;
fine-tune; export ONNX (BatchNorm kept, so teeinfer's importer folds it).

Channels that must stay aligned are never pruned: the outputs of layers that feed a
residual Add (ResNet's second conv of each block, its stem and its shortcut convs).

Writes, per net, to models/pruning/:
  <net>_sparse.onnx        after sparsity training (input to `teeinfer prune`)
  <net>_selection.json     the channels this script removes, by BatchNorm scale name
  <net>_pruned.onnx        pruned and fine-tuned
and the results (accuracy before/after pruning/after fine-tuning, params, FLOPs) to
models/pruning/results.{json,md} (docs/pruning.md quotes the table).

  /usr/bin/python3 tools/prune_fmnist.py                      # all three nets
  /usr/bin/python3 tools/prune_fmnist.py --nets vgg --epochs 6 --finetune-epochs 3
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.cluster import MeanShift, estimate_bandwidth

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_fashion_mnist import accuracy, load  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "models", "pruning")


# --- The three nets, each built from its channel counts so a pruned copy is the same class.

class Vgg(nn.Module):
    """Conv3x3-BN-ReLU blocks, max-pool after each block, one Linear on the flattened map."""
    BLOCKS = [[32, 32], [64, 64], [128, 128]]

    def __init__(self, widths=None):
        super().__init__()
        self.widths = widths or [w for b in self.BLOCKS for w in b]
        layers, cin, k = [], 1, 0
        for block in self.BLOCKS:
            for _ in block:
                w = self.widths[k]
                layers += [nn.Conv2d(cin, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
                cin, k = w, k + 1
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(cin * 3 * 3, 10))

    def forward(self, x):
        return self.classifier(self.features(x))

    def units(self):
        """(conv, bn, group) per prunable layer: VGG groups are its blocks."""
        convs = [m for m in self.features if isinstance(m, nn.Conv2d)]
        bns = [m for m in self.features if isinstance(m, nn.BatchNorm2d)]
        groups = [g for g, b in enumerate(self.BLOCKS) for _ in b]
        return list(zip(convs, bns, groups))

    def pruned(self, keep):
        """A smaller Vgg with the kept output channels of every conv (keep: per unit)."""
        small = Vgg([len(k) for k in keep])
        prev = torch.arange(1)
        for (c0, b0, _), (c1, b1, _), k in zip(self.units(), small.units(), keep):
            c1.weight.data = c0.weight.data[k][:, prev].clone()
            copy_bn(b0, b1, k)
            prev = k
        lin0, lin1 = self.classifier[1], small.classifier[1]
        cols = (prev[:, None] * 9 + torch.arange(9)[None, :]).reshape(-1)  # channel-major flatten
        lin1.weight.data = lin0.weight.data[:, cols].clone()
        lin1.bias.data = lin0.bias.data.clone()
        return small


class Block(nn.Module):
    def __init__(self, cin, mid, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, mid, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.shortcut is None else self.shortcut(x)))


class ResNet(nn.Module):
    """Stem, three stages of two basic blocks (16, 32, 64 channels), global pool, Linear.
    Only each block's inner width (conv1's output) is prunable: everything else feeds an Add."""
    STAGES = [(16, 1), (32, 2), (64, 2)]

    def __init__(self, mids=None):
        super().__init__()
        self.mids = mids or [w for w, _ in self.STAGES for _ in range(2)]
        first = self.STAGES[0][0]
        self.stem = nn.Sequential(nn.Conv2d(1, first, 3, padding=1, bias=False), nn.BatchNorm2d(first), nn.ReLU())
        blocks, cin, k = [], first, 0
        for w, stride in self.STAGES:
            for i in range(2):
                blocks.append(Block(cin, self.mids[k], w, stride if i == 0 else 1))
                cin, k = w, k + 1
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 10))

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))

    def units(self):
        return [(b.conv1, b.bn1, g) for g, b in enumerate(self.blocks)]

    def pruned(self, keep):
        small = ResNet([len(k) for k in keep])
        small.load_state_dict({n: t for n, t in self.state_dict().items()
                               if not (".conv1." in n or ".bn1." in n or ".conv2." in n)}, strict=False)
        for b0, b1, k in zip(self.blocks, small.blocks, keep):
            b1.conv1.weight.data = b0.conv1.weight.data[k].clone()
            copy_bn(b0.bn1, b1.bn1, k)
            b1.conv2.weight.data = b0.conv2.weight.data[:, k].clone()
        return small


class Dense(nn.Module):
    """Stem (stride 2), two dense blocks of four Conv3x3-BN-ReLU layers (growth 12) joined by a 1x1
    transition and average pool, global pool, Linear. Every layer's output is concatenated
    onto its block's input, so pruning a layer removes its channels from every later reader."""
    STEM, GROWTH, LAYERS = 16, 12, 4

    def __init__(self, widths=None):
        super().__init__()
        n = 2 * self.LAYERS + 2  # stem, block 1, transition, block 2
        transition = (self.STEM + self.LAYERS * self.GROWTH) // 2
        self.widths = widths or [self.STEM] + [self.GROWTH] * self.LAYERS + [transition] + [self.GROWTH] * self.LAYERS
        assert len(self.widths) == n
        self.convs, self.bns = nn.ModuleList(), nn.ModuleList()
        cin = 1
        for i, w in enumerate(self.widths):
            k = 1 if i == self.LAYERS + 1 else 3
            self.convs.append(nn.Conv2d(self.in_width(i), w, k, stride=2 if i == 0 else 1, padding=k // 2, bias=False))
            self.bns.append(nn.BatchNorm2d(w))
        self.fc = nn.Linear(self.in_width(n), 10)

    def in_width(self, i):
        """Channels reaching layer i (i = len(widths): the classifier)."""
        if i == 0:
            return 1
        t = self.LAYERS + 1
        if i <= t:  # block 1 and the transition read the stem plus the earlier block-1 layers
            return sum(self.widths[:i])
        return sum(self.widths[t:i])  # block 2 reads the transition plus earlier block-2 layers

    def sources(self, i):
        """Which earlier layers' outputs, concatenated in order, layer i reads."""
        t = self.LAYERS + 1
        if i == 0:
            return []
        return list(range(0, i)) if i <= t else list(range(t, i))

    def forward(self, x):
        outs = []
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            src = x if i == 0 else torch.cat([outs[j] for j in self.sources(i)], 1)
            y = F.relu(bn(conv(src)))
            if i == self.LAYERS + 1:
                y = F.avg_pool2d(y, 2)
            outs.append(y)
        feats = torch.cat([outs[j] for j in self.sources(len(self.widths))], 1)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(feats, 1), 1))

    def units(self):
        return [(c, b, i) for i, (c, b) in enumerate(zip(self.convs, self.bns))]

    def pruned(self, keep):
        small = Dense([len(k) for k in keep])

        def inputs(i):  # indices into the concatenated input of layer i that survive
            idx, base = [], 0
            for j in self.sources(i):
                idx.append(keep[j] + base)
                base += self.widths[j]
            return torch.cat(idx) if idx else torch.arange(1)

        for i, k in enumerate(keep):
            small.convs[i].weight.data = self.convs[i].weight.data[k][:, inputs(i)].clone()
            copy_bn(self.bns[i], small.bns[i], k)
        cols = inputs(len(self.widths))
        small.fc.weight.data = self.fc.weight.data[:, cols].clone()
        small.fc.bias.data = self.fc.bias.data.clone()
        return small


def copy_bn(b0, b1, k):
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(b1, name).data = getattr(b0, name).data[k].clone()


NETS = {"vgg": (Vgg, 0.1), "resnet": (ResNet, 0.3), "densenet": (Dense, 0.3)}


# --- Training, selection, measurement.

def train(model, xtr, ytr, epochs, lr, sparsity, log):
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    steps = epochs * (len(xtr) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    bns = [bn for _, bn, _ in model.units()]
    t0 = time.time()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(xtr))
        for i in range(len(xtr) // 128):
            idx = perm[i * 128:(i + 1) * 128]
            opt.zero_grad()
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            loss.backward()
            for bn in bns:  # Network Slimming: the subgradient of sparsity * |γ|
                bn.weight.grad.add_(sparsity * torch.sign(bn.weight.data))
            opt.step()
            sched.step()
            if i % 150 == 0:
                log(f"  epoch {epoch + 1}/{epochs} step {i}/{len(xtr) // 128} loss {loss.item():.3f} "
                    f"({time.time() - t0:.0f} s)")


def select(model, quantile):
    """Per unit, the channel indices to keep, and the report of what was removed."""
    units = model.units()
    keep, report = [None] * len(units), {}
    for g in sorted({grp for _, _, grp in units}):
        members = [i for i, (_, _, grp) in enumerate(units) if grp == g]
        gammas = [units[i][1].weight.detach().numpy().astype(np.float32) for i in members]
        x = np.abs(np.concatenate(gammas).astype(np.float64)).reshape(-1, 1)
        bandwidth = estimate_bandwidth(x, quantile=quantile)
        # Bandwidth 0 (too few channels for the quantile): nothing to cluster, keep all.
        threshold = MeanShift(bandwidth=bandwidth, bin_seeding=True).fit(x).cluster_centers_.min() \
            if bandwidth > 0 else -1.0
        for i, gm in zip(members, gammas):
            a = np.abs(gm.astype(np.float64))
            removed = np.nonzero(a <= threshold)[0]
            if len(removed) == len(a):
                removed = np.delete(removed, np.argmax(a))
            keep[i] = torch.tensor(np.setdiff1d(np.arange(len(a)), removed), dtype=torch.long)
            report[i] = {"removed": removed.tolist(), "threshold": float(threshold), "bandwidth": float(bandwidth)}
    return keep, report


def params(model):
    return sum(p.numel() for p in model.parameters())


def flops(model):
    """2 x multiply-accumulates of the convolutions and linear layers for one image."""
    total = [0]

    def conv_hook(m, inp, out):
        total[0] += 2 * out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def linear_hook(m, inp, out):
        total[0] += 2 * out.numel() * m.in_features

    hooks = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    hooks += [m.register_forward_hook(linear_hook) for m in model.modules() if isinstance(m, nn.Linear)]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 1, 28, 28))
    for h in hooks:
        h.remove()
    return total[0]


def export(model, path):
    model.eval()
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), path, opset_version=13,
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False,
                      input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})


def scale_names(model):
    """The state_dict name of each unit's BatchNorm scale (the ONNX initializer name)."""
    names = {id(p): n for n, p in model.named_parameters()}
    return [names[id(bn.weight)] for _, bn, _ in model.units()]


def run_net(name, args, data, log):
    cls, quantile = NETS[name]
    quantile = args.quantile or quantile
    xtr, ytr, xte, yte = data
    torch.manual_seed(args.seed)
    model = cls()
    log(f"{name}: sparsity training, {args.epochs} epochs, L1 {args.sparsity} on BatchNorm scales")
    train(model, xtr, ytr, args.epochs, args.lr, args.sparsity, log)
    acc_sparse = accuracy(model, xte, yte)
    export(model, os.path.join(OUT, f"{name}_sparse.onnx"))
    keep, report = select(model, quantile)
    names = scale_names(model)
    with open(os.path.join(OUT, f"{name}_selection.json"), "w") as f:
        json.dump({"quantile": quantile, "group": "block" if name == "vgg" else "layer",
                   "removed": {names[i]: r["removed"] for i, r in report.items()}}, f, indent=1)
    small = model.pruned(keep)
    acc_pruned = accuracy(small, xte, yte)
    log(f"{name}: kept {[len(k) for k in keep]}; accuracy {acc_sparse:.4f} -> {acc_pruned:.4f} before fine-tuning")
    train(small, xtr, ytr, args.finetune_epochs, args.lr / 5, 0.0, log)
    acc_tuned = accuracy(small, xte, yte)
    export(small, os.path.join(OUT, f"{name}_pruned.onnx"))
    r = {"net": name, "quantile": quantile, "epochs": args.epochs, "finetune_epochs": args.finetune_epochs,
         "sparsity": args.sparsity, "acc_before": acc_sparse, "acc_pruned": acc_pruned, "acc_finetuned": acc_tuned,
         "params": [params(model), params(small)], "flops": [flops(model), flops(small)],
         "channels": [[int(u[1].num_features) for u in model.units()], [len(k) for k in keep]]}
    log(f"{name}: {json.dumps(r)}")
    return r


def write_table(results):
    lines = ["Generated by `/usr/bin/python3 tools/prune_fmnist.py` (PyTorch on CPU, 2 threads; "
             "accuracy on the 10,000 test images).", "",
             "| net | accuracy after sparsity training | after pruning | after fine-tuning | change | "
             "params | pruned | params removed | FLOPs (M) | pruned | FLOPs removed |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        p0, p1 = r["params"]
        f0, f1 = r["flops"]
        lines.append(f"| {r['net']} | {100 * r['acc_before']:.2f}% | {100 * r['acc_pruned']:.2f}% | "
                     f"{100 * r['acc_finetuned']:.2f}% | {100 * (r['acc_finetuned'] - r['acc_before']):+.2f} pp | "
                     f"{p0:,} | {p1:,} | {100 * (1 - p1 / p0):.1f}% | {f0 / 1e6:.2f} | {f1 / 1e6:.2f} | "
                     f"{100 * (1 - f1 / f0):.1f}% |")
    lines += ["", "Channels per prunable layer (before → after):", ""]
    for r in results:
        lines.append(f"* {r['net']}: " + ", ".join(f"{a}→{b}" for a, b in zip(*r["channels"])))
    lines += ["", "Settings: " + "; ".join(f"{r['net']}: quantile {r['quantile']}, {r['epochs']} epochs with L1 "
                                          f"{r['sparsity']} on γ, {r['finetune_epochs']} fine-tuning epochs"
                                          for r in results)]
    with open(os.path.join(OUT, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nets", default="vgg,resnet,densenet")
    ap.add_argument("--epochs", type=int, default=5, help="sparsity-training epochs")
    ap.add_argument("--finetune-epochs", type=int, default=3)
    # Network Slimming used 1e-4 over 160 CIFAR epochs; these few epochs need a stronger pull.
    ap.add_argument("--sparsity", type=float, default=5e-3, help="L1 weight on the BatchNorm scales")
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--quantile", type=float, default=0, help="default: 0.1 for vgg, 0.3 for the others")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0, help="train on the first N images only (smoke tests)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(OUT, exist_ok=True)
    xtr, ytr = load("train")
    xte, yte = load("t10k")
    if args.limit:
        xtr, ytr = xtr[:args.limit], ytr[:args.limit]

    def log(msg):
        print(msg, flush=True)

    results_path = os.path.join(OUT, "results.json")
    results = {r["net"]: r for r in json.load(open(results_path))} if os.path.exists(results_path) else {}
    for name in args.nets.split(","):
        results[name] = run_net(name, args, (xtr, ytr, xte, yte), log)
        with open(results_path, "w") as f:
            json.dump(list(results.values()), f, indent=1)
    write_table([results[n] for n in NETS if n in results])


if __name__ == "__main__":
    main()
