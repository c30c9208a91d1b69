"""Where each cut-out's background sits after the paper's min-max, and what solo-learn-radio's 8-bit
truncation (np.uint8(y * 255), radiossl's `eight_bit`) does to it.

Usage: /usr/bin/python3 tools/background_levels.py SET_DIR [SET_DIR ...]
SET_DIR holds a manifest.csv whose first column names FITS files relative to it (a grid's curated
set, or a labeled set written by simulate_sky).

Per set: percentiles of the background's median and sigma in units of the min-max range
(3-sigma-clipped statistics, as clip_sigma uses), the fraction of pixels that truncation sets to 0,
and the share of cut-outs whose background median itself truncates to 0. Min-max puts the
noise's lowest pixel at 0, so the background sits a few sigma above it; truncation zeroes the
background only where the range spans more than about 255 times that."""
import csv
import os
import sys

import numpy as np
from astropy.io import fits
from astropy.stats import sigma_clipped_stats


def levels(set_dir):
    with open(os.path.join(set_dir, "manifest.csv")) as f:
        rows = list(csv.reader(f))[1:]
    med, sig, zero = [], [], []
    for row in rows:
        d = np.squeeze(fits.getdata(os.path.join(set_dir, row[0]))).astype(np.float32)
        d = np.where(np.isfinite(d), d, np.nanmin(d))
        span = float(d.max() - d.min())
        y = (d - d.min()) / span if span > 0 else np.zeros_like(d)
        _, m, s = sigma_clipped_stats(y, sigma=3.0, maxiters=5)
        med.append(m)
        sig.append(s)
        zero.append(np.mean(np.uint8(y * 255) == 0))
    return np.array(med), np.array(sig), np.array(zero)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print("set | cut-outs | median p10/p50/p90 | sigma p10/p50/p90 | zeroed pixels p10/p50/p90 | median to 0")
    for set_dir in sys.argv[1:]:
        med, sig, zero = levels(set_dir)
        pct = lambda a, f: "/".join(f % v for v in np.percentile(a, [10, 50, 90]))
        print("%s | %d | %s | %s | %s | %.3f" % (os.path.basename(os.path.normpath(set_dir)), len(med),
                                                 pct(med, "%.4f"), pct(sig, "%.4f"), pct(zero, "%.3f"),
                                                 np.mean(np.floor(med * 255) == 0)))


if __name__ == "__main__":
    main()
