#!/usr/bin/python3
"""Effective rank of features written by examples/embed (PREFIX.npy, PREFIX.csv), as
tools/feature_pcs.py defines it (exp of the entropy of the normalised singular values of the
centred features), the share of variance along the first principal component, and the ratio of
between-class to within-class scatter of the standardised features (labels from PREFIX.csv).

Usage: /usr/bin/python3 tools/feature_rank.py PREFIX...
  e.g. embed --data runs/big/labeled/vlass/manifest.csv --weights CELL/backbone.pt --size 32 \\
             --clip-sigma 3 --out byol_vlass; /usr/bin/python3 tools/feature_rank.py byol_vlass
"""
import csv
import sys

import numpy as np

if len(sys.argv) < 2:
    sys.exit(__doc__)
print("%-24s %8s %9s %9s" % ("features", "eff.rank", "PC1 var%", "scatter"))
for prefix in sys.argv[1:]:
    X = np.load(prefix + ".npy").astype(np.float64)
    y = np.array([row[1] for row in csv.reader(open(prefix + ".csv"))][1:])
    centred = X - X.mean(0)
    s = np.linalg.svd(centred, compute_uv=False)
    p = s / s.sum()
    erank = np.exp(-(p[p > 0] * np.log(p[p > 0])).sum())
    pc1 = 100 * s[0] ** 2 / (s ** 2).sum()
    Z = centred / (X.std(0) + 1e-6)
    between = sum((y == c).sum() * np.sum(Z[y == c].mean(0) ** 2) for c in np.unique(y))
    within = sum(np.sum((Z[y == c] - Z[y == c].mean(0)) ** 2) for c in np.unique(y))
    print("%-24s %8.1f %9.1f %9.3f" % (prefix.split("/")[-1], erank, pc1, between / within))
