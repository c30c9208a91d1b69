#!/usr/bin/python3
"""Cross-check of the grid's linear probe, independent of radiossl's evaluation code.

Loads radiossl backbones (backbone.pt, or a Trainer last.ckpt) into torchvision's ResNet, computes
features of the synthetic labeled sets (NaN -> min, min-max, bilinear resize, 3 channels, eval
mode) and scores them by kNN (cosine, k 20, T 0.07) and by a converged L-BFGS logistic regression
on standardised features, each the mean over 3 folds. `random` stands for a random-init backbone.

Usage: /usr/bin/python3 tools/probe_features.py DATA_DIR SIZE [--arch resnet18] random|FILE...
(DATA_DIR is simulate_sky's output, e.g. runs/quick/data; SIZE the eval size, 32 for quick.)
Env: T (threads, default 2), BNTRAIN=1 (batch statistics instead of running statistics), CLIP=k (floor
the background at median + k sigma before min-max, as radiossl's clip_sigma; tools/clip_floor.py).
"""
import csv
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from astropy.io import fits

from clip_floor import sigma_clip_floor  # tools/clip_floor.py, beside this script

torch.set_num_threads(int(os.environ.get("T", "2")))
args = sys.argv[1:]
arch = "resnet18"
if "--arch" in args:
    i = args.index("--arch")
    arch = args[i + 1]
    del args[i:i + 2]
DATA, SIZE, ckpts = args[0], int(args[1]), args[2:]


def load_set(name):
    rows = list(csv.DictReader(open(f"{DATA}/labeled/{name}/manifest.csv")))
    classes = sorted(set(r["label"] for r in rows))
    xs = []
    for r in rows:
        a = fits.getdata(f"{DATA}/labeled/{name}/{r['path']}").astype(np.float32).squeeze()
        a = np.where(np.isfinite(a), a, np.nanmin(a))
        a = sigma_clip_floor(a)
        lo, hi = a.min(), a.max()
        a = (a - lo) / (hi - lo) if hi > lo else a * 0
        t = torch.from_numpy(a)[None, None]
        xs.append(F.interpolate(t, size=(SIZE, SIZE), mode="bilinear", align_corners=False)[0])
    return torch.cat(xs).unsqueeze(1).repeat(1, 3, 1, 1), torch.tensor([classes.index(r["label"]) for r in rows])


def model(ck):
    torch.manual_seed(0)
    m = getattr(torchvision.models, arch)()
    m.fc = torch.nn.Identity()
    if ck != "random":
        j = torch.jit.load(ck)
        sd = {**dict(j.named_parameters()), **dict(j.named_buffers())}
        if any(k.startswith("backbone.") for k in sd):  # a Trainer checkpoint
            sd = {k[len("backbone."):]: v for k, v in sd.items() if k.startswith("backbone.")}
        m.load_state_dict(sd, strict=True)
    return m.eval()


def folds(y, k=3):
    idx = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    return [(torch.cat([idx[j::k] for j in range(k) if j != i]), idx[i::k]) for i in range(k)]


def knn(f, y, tr, te, k=20, temp=0.07):
    f = F.normalize(f, dim=1)
    v, i = (f[te] @ f[tr].T).topk(min(k, len(tr)), dim=1)
    votes = torch.zeros(len(te), int(y.max()) + 1).scatter_add_(1, y[tr][i], (v / temp).exp())
    return (votes.argmax(1) == y[te]).float().mean().item()


def logreg(f, y, tr, te):
    mu, sd = f[tr].mean(0), f[tr].std(0) + 1e-6
    a, b = (f[tr] - mu) / sd, (f[te] - mu) / sd
    c = int(y.max()) + 1
    w = torch.zeros(f.shape[1], c, requires_grad=True)
    bias = torch.zeros(c, requires_grad=True)
    opt = torch.optim.LBFGS([w, bias], max_iter=300)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(a @ w + bias, y[tr]) + 1e-3 * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return ((b @ w + bias).argmax(1) == y[te]).float().mean().item()


sets = {n: load_set(n) for n in ["mirabest", "rgz", "msrs", "vlass"]}
print("| backbone | " + " | ".join(f"{n} kNN | {n} logreg" for n in sets) + " |")
for ck in ckpts:
    m = model(ck)
    if os.environ.get("BNTRAIN"):
        m.train()
    cells = []
    for x, y in sets.values():
        with torch.no_grad():
            f = m(x)
        fs = folds(y)
        cells += [f"{100 * np.mean([knn(f, y, a, b) for a, b in fs]):.1f}",
                  f"{100 * np.mean([logreg(f, y, a, b) for a, b in fs]):.1f}"]
    print(f"| {ck} | " + " | ".join(cells) + " |", flush=True)
