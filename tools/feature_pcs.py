#!/usr/bin/python3
"""What a backbone's features follow: their effective rank on one labeled set, and how the first
three principal components correlate with simple image statistics (after the same NaN fill,
min-max and resize as tools/probe_features.py, whose loaders it reuses; CLIP=k floors the
background as there).

Usage: /usr/bin/python3 tools/feature_pcs.py DATA_DIR SIZE SET random|FILE...
  e.g. /usr/bin/python3 tools/feature_pcs.py runs/quick/data 32 rgz random ref.pt
Effective rank: exp of the entropy of the normalised singular values of the centred features.
"""
import os
import sys

import torch

if len(sys.argv) < 5:
    sys.exit(__doc__)
set_name = sys.argv[3]
sys.argv = sys.argv[:3] + sys.argv[4:]  # probe_features.py's argument layout: DATA SIZE FILE...
source = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "probe_features.py")).read()
exec(source.split("\nsets = {")[0])  # its loaders and model builder, not its scoring loop

X, y = load_set(set_name)  # noqa: F821 (defined by probe_features.py)
img = X[:, 0]
stats = {"mean": img.mean((1, 2)), "std": img.std((1, 2)), "median": img.flatten(1).median(1).values,
         "label": y.float()}
for ck in ckpts:  # noqa: F821
    m = model(ck)  # noqa: F821
    with torch.no_grad():
        f = m(X)
    f = f - f.mean(0)
    U, S, _ = torch.linalg.svd(f, full_matrices=False)
    p = S / S.sum()
    rank = float(torch.exp(-(p * p.clamp_min(1e-30).log()).sum()))
    pcs = []
    for k in range(3):
        cors = []
        for name, v in stats.items():
            c = torch.corrcoef(torch.stack([U[:, k], v]))[0, 1]
            cors.append(f"{name} {float(c):+.2f}" if torch.isfinite(c) else f"{name} n/a")
        pcs.append(f"PC{k + 1}: " + ", ".join(cors))
    print(f"{ck}: effective rank {rank:.1f}; " + "; ".join(pcs), flush=True)
