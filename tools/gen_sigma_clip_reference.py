#!/usr/bin/python3
"""Reference values for tests/sigma_clip.cpp: astropy's sigma_clipped_stats (3 sigma, 5 passes)
on the test's deterministic 40x50 image (integer-hash noise in [-0.5, 0.5), +50 on every 97th
pixel, two NaN). Usage: /usr/bin/python3 tools/gen_sigma_clip_reference.py"""
import numpy as np
from astropy.stats import sigma_clipped_stats

i = np.arange(40 * 50, dtype=np.uint64)
x = (i * np.uint64(2654435761)) % np.uint64(2**32)
v = ((x >> np.uint64(8)).astype(np.float64) / 2**24 - 0.5).astype(np.float32)
v[::97] += np.float32(50)
v[5] = np.nan
v[1234] = np.nan
mean, median, std = sigma_clipped_stats(v.astype(np.float64), sigma=3.0, maxiters=5)
kept = np.count_nonzero(np.abs(v.astype(np.float64) - median) <= 3 * std)  # for the count check only
print(f"mean {mean!r}\nmedian {median!r}\nstd {std!r}\nkept {kept}")
