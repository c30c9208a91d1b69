"""The background floor of radiossl's PreprocessOptions::clip_sigma, for the Python science-check
tools (probe_features.py, pretrain_reference.py): CLIP=k in the environment floors every image
at median + k sigma of its 3-sigma-clipped statistics before min-max; unset or 0 leaves it."""
import os

import numpy as np


def sigma_clip_floor(a):
    k = float(os.environ.get("CLIP", "0"))
    if k <= 0:
        return a
    from astropy.stats import sigma_clipped_stats
    _, med, std = sigma_clipped_stats(a, sigma=3.0, maxiters=5)
    return np.maximum(a, med + k * std)
