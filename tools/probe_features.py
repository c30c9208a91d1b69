#!/usr/bin/python3
"""Cross-check of the grid's linear probe, independent of radiossl's evaluation code.

Loads radiossl backbones (backbone.pt, or a Trainer last.ckpt) into torchvision's ResNet, computes
features of the synthetic labeled sets (NaN -> min, min-max, bilinear resize, 3 channels, eval
mode) and scores them by kNN (cosine, k 20, T 0.07) and by a converged L-BFGS logistic regression
on standardised features, each the mean over 3 folds. `random` stands for a random-init backbone.
Two baselines without a network tell how much of a set simple image statistics already separate:
`pixels` (the SIZE x SIZE prepared pixels themselves) and `stats` (15 hand-made statistics: the
intensity's mean, std and percentiles, the fraction of pixels over 0.1/0.25/0.5, the source's
second moments, and the counts of islands and peaks; see stats_features).

Usage: /usr/bin/python3 tools/probe_features.py DATA_DIR SIZE [--arch resnet18] random|pixels|stats|FILE...
(DATA_DIR is simulate_sky's output, e.g. runs/quick/data; SIZE the eval size, 32 for quick.)
Env: T (threads, default 2), BNTRAIN=1 (batch statistics instead of running statistics), CLIP=k (floor
the background at median + k sigma before min-max, as radiossl's clip_sigma; tools/clip_floor.py), AA=1
(the centre square of the shorter side, then an antialiased bicubic resize, as radiossl's evaluation
prepares images, instead of squashing to a square by plain bilinear: at 32 px plain bilinear samples a
224 px VLASS cut-out one pixel in seven and misses faint components).
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
        if os.environ.get("AA") == "1":
            # augment::Resize: the centre square of the shorter side first (rectangular MSRS cut-outs).
            h, w = a.shape
            side = min(h, w)
            t = t[..., (h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
            t = F.interpolate(t, size=(SIZE, SIZE), mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
        else:
            t = F.interpolate(t, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
        xs.append(t[0])
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


def islands(mask):
    """Number of 4-connected components of a 2-D boolean array (a flood fill: no scipy here)."""
    seen = np.zeros_like(mask)
    count = 0
    h, w = mask.shape
    for i, j in zip(*np.nonzero(mask)):
        if seen[i, j]:
            continue
        count += 1
        stack = [(i, j)]
        seen[i, j] = True
        while stack:
            a, b = stack.pop()
            for c, d in ((a + 1, b), (a - 1, b), (a, b + 1), (a, b - 1)):
                if 0 <= c < h and 0 <= d < w and mask[c, d] and not seen[c, d]:
                    seen[c, d] = True
                    stack.append((c, d))
    return count


def stats_features(x):
    """15 statistics per prepared image (one plane of x [N, 3, S, S], values in [0, 1])."""
    img = x[:, 0]
    n, s, _ = img.shape
    flat = img.reshape(n, -1)
    q = torch.quantile(flat, torch.tensor([0.5, 0.9, 0.99]), dim=1).T
    frac = torch.stack([(flat > t).float().mean(1) for t in (0.1, 0.25, 0.5)], 1)
    # Second moments of the intensity above the median: the source's extent and elongation.
    wgt = (img - q[:, 0, None, None]).clamp(min=0)
    wsum = wgt.sum((1, 2)) + 1e-9
    yy, xx = torch.meshgrid(torch.arange(s, dtype=torch.float32), torch.arange(s, dtype=torch.float32), indexing="ij")
    my, mx = (wgt * yy).sum((1, 2)) / wsum, (wgt * xx).sum((1, 2)) / wsum
    dy, dx = yy - my[:, None, None], xx - mx[:, None, None]
    cyy, cxx, cxy = [(wgt * v).sum((1, 2)) / wsum for v in (dy * dy, dx * dx, dx * dy)]
    tr, det = cyy + cxx, cyy * cxx - cxy * cxy
    disc = (tr * tr / 4 - det).clamp(min=0).sqrt()
    major, minor = tr / 2 + disc, (tr / 2 - disc).clamp(min=0)
    peaks = ((img == F.max_pool2d(img[:, None], 3, 1, 1)[:, 0]) & (img > 0.3)).sum((1, 2)).float()
    isl = torch.tensor([[islands((im > t).numpy()) for t in (0.1, 0.3)] for im in img], dtype=torch.float32)
    return torch.cat([flat.mean(1, keepdim=True), flat.std(1, keepdim=True), q, frac,
                      torch.stack([major.sqrt(), minor.sqrt(), minor.sqrt() / (major.sqrt() + 1e-9), peaks], 1),
                      isl, wsum[:, None] / (s * s)], 1)


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
features = {"pixels": lambda x: x[:, 0].flatten(1), "stats": stats_features}
for ck in ckpts:
    m = features.get(ck) or model(ck)
    if os.environ.get("BNTRAIN") and ck not in features:
        m.train()
    cells = []
    for x, y in sets.values():
        with torch.no_grad():
            f = m(x)
        fs = folds(y)
        cells += [f"{100 * np.mean([knn(f, y, a, b) for a, b in fs]):.1f}",
                  f"{100 * np.mean([logreg(f, y, a, b) for a, b in fs]):.1f}"]
    print(f"| {ck} | " + " | ".join(cells) + " |", flush=True)
