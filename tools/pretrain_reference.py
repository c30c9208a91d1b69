#!/usr/bin/python3
"""Independent PyTorch reference for the science check (docs/science-check.md).

Trains torchvision's ResNet-18 with solo-learn's step for one method (bench/step_peer.py's heads,
losses and LARS) on the synthetic quick data, with the paper's pretraining augmentations written
in torchvision, then saves the backbone as TorchScript for tools/probe_features.py. It shares no
code with radiossl's training, so if both lose against random init, radiossl is not the cause.

Usage: /usr/bin/python3 tools/pretrain_reference.py DATA_DIR METHOD curated|labeled STEPS OUT.pt
  DATA_DIR    simulate_sky's output (e.g. runs/quick/data)
  METHOD      simclr, byol, dino, wmse, swav or all4one
  curated     the curated pretraining cut-outs; labeled: the four labeled sets' images
Env: T threads (2), SIZE view side (32), BATCH (32), LR_SCALE (1.0, times the paper's lr x batch/256),
  RRC_MIN smallest crop area (0.65; 1.0 = no crop), NOISE std of independent noise added to each view
  (0), SEED (0), BN_ONLY=1 (no training: random init with BatchNorm statistics averaged over the set),
  ROT (90: rotate each view by a random multiple of 90 degrees; any: by a uniform angle),
  CLIP=k (floor the background at median + k sigma before min-max, as radiossl's clip_sigma).
Schedule: linear warm-up over the first tenth of the steps, then cosine to 0.
"""
import csv
import math
import os
import random
import sys
import types

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from astropy.io import fits

from clip_floor import sigma_clip_floor  # tools/clip_floor.py, beside this script

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
import step_peer as sp  # noqa: E402

if len(sys.argv) != 6:
    sys.exit(__doc__)
data, method, which, steps, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
env = os.environ.get
size, batch = int(env("SIZE", "32")), int(env("BATCH", "32"))
torch.set_num_threads(int(env("T", "2")))
seed = int(env("SEED", "0"))
torch.manual_seed(seed)
random.seed(seed)


def load(path, side=64):
    """NaN -> minimum, min-max to [0, 1], bilinear to side x side (as probe_features.py)."""
    a = fits.getdata(path).astype(np.float32).squeeze()
    a = np.where(np.isfinite(a), a, np.nanmin(a))
    a = sigma_clip_floor(a)
    lo, hi = a.min(), a.max()
    a = (a - lo) / (hi - lo) if hi > lo else a * 0
    return F.interpolate(torch.from_numpy(a)[None, None], size=(side, side), mode="bilinear", align_corners=False)[0]


if which == "curated":
    base = f"{data}/pretrain/curated"
    X = torch.stack([load(f"{base}/{r['path']}") for r in csv.DictReader(open(f"{base}/manifest.csv"))])
elif which == "labeled":
    X = torch.stack([load(f"{data}/labeled/{n}/{r['path']}") for n in ["mirabest", "rgz", "msrs", "vlass"]
                     for r in csv.DictReader(open(f"{data}/labeled/{n}/manifest.csv"))])
else:
    sys.exit(f"pretrain_reference.py: '{which}': expected curated or labeled")
print(f"{len(X)} images from {which}", flush=True)

rrc = torchvision.transforms.RandomResizedCrop(size, scale=(float(env("RRC_MIN", "0.65")), 1.0), antialias=True)
noise = float(env("NOISE", "0"))
rot = env("ROT", "")  # "90": a random multiple of 90 degrees; "any": a uniform angle (fill: the median)


def view(x):
    """The paper's pretraining augmentations (section 4.1), the blur sigma scaled to the view size."""
    if rot == "90":
        x = torch.rot90(x, random.randrange(4), (-2, -1))
    elif rot == "any":
        x = torchvision.transforms.functional.rotate(x, random.uniform(0, 360), torchvision.transforms.InterpolationMode.BILINEAR, fill=float(x.median()))
    x = rrc(x)
    if random.random() < 0.5:
        x = x.flip(-1)
    if random.random() < 0.5:
        x = x.flip(-2)
    if random.random() < 0.5:
        f = random.uniform(0.2, 1.8)
        x = (x.mean() + f * (x - x.mean())).clamp(0, 1)
    if random.random() < 0.25:
        s = random.uniform(0.1, 2.0) * size / 224
        x = torchvision.transforms.functional.gaussian_blur(x, max(3, 2 * math.ceil(3 * s) + 1), s)
    if noise > 0:
        x = (x + noise * torch.randn_like(x)).clamp(0, 1)
    return x.repeat(3, 1, 1)


backbone, feat = sp.make_backbone("resnet18", torch.contiguous_format)
if env("BN_ONLY") == "1":
    for m in backbone.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # cumulative average
            m.reset_running_stats()
    backbone.train()
    with torch.no_grad():
        for i in range(0, len(X), batch):
            x = F.interpolate(X[i:i + batch], size=(size, size), mode="bilinear", align_corners=False)
            backbone(x.repeat(1, 3, 1, 1))
else:
    a = types.SimpleNamespace(lean=True, wmse_whitening_size=batch, wmse_proj_dim=64, wmse_eps=1e-3, epoch=0)
    cls = sp.METHODS[method]
    m = cls(feat, a, backbone) if cls.has_teacher else cls(feat, a)
    lr = cls.lr * batch / 256 * float(env("LR_SCALE", "1.0"))
    groups = m.param_groups(backbone, lr)
    for g in groups:
        g.setdefault("base_lr", lr)
    opt = sp.LARS(groups, lr=lr, weight_decay=cls.wd)
    backbone.train()
    m.train()
    warm = max(1, steps // 10)
    for s in range(steps):
        idx = torch.randint(len(X), (batch,))
        views = [torch.stack([view(X[i]) for i in idx]) for _ in range(2)]
        for g in opt.param_groups:
            b = g["base_lr"]
            g["lr"] = b * (s + 1) / warm if s < warm else b * 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, steps - warm)))
        loss = m.loss(backbone, views)
        opt.zero_grad()
        loss.backward()
        m.after_backward()
        opt.step()
        m.after_step(backbone, (s + 1) / steps)
        if s % 20 == 0 or s == steps - 1:
            print(f"step {s} loss {float(loss):.4f}", flush=True)
torch.jit.save(torch.jit.script(backbone.eval()), out)
print(f"saved {out}")
