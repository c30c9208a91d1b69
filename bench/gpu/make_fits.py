#!/usr/bin/python3
"""Writes N radio-like cut-outs (noise, a few Gaussian sources, a NaN border on every 4th) as float32
FITS files DIR/cutout_<i>.fits, SIDE x SIDE, for the end-to-end benches of bench/gpu/run.sh (radiossl
reads them with CFITSIO, the peer with astropy or step_peer.py's small reader). Existing files are kept.
numpy only (no astropy needed): a primary HDU with BITPIX -32 is a header block and big-endian data.

Usage: make_fits.py DIR [--count 256] [--side 256] [--seed 0]
"""
import argparse
import os

import numpy as np


def header(side):
    cards = ["SIMPLE  =                    T", "BITPIX  =                  -32", "NAXIS   =                    2",
             f"NAXIS1  = {side:20d}", f"NAXIS2  = {side:20d}", "END"]
    text = "".join(c.ljust(80) for c in cards)
    return (text + " " * (-len(text) % 2880)).encode("ascii")


def cutout(rng, side, nan_border):
    img = rng.normal(0.0, 1e-4, (side, side)).astype(np.float32)
    y, x = np.mgrid[0:side, 0:side]
    for _ in range(3):
        cy, cx = rng.uniform(0.25 * side, 0.75 * side, 2)
        sig, amp = rng.uniform(side / 128, side / 16), rng.uniform(1e-3, 5e-2)
        img += (amp * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * sig * sig))).astype(np.float32)
    if nan_border:
        img[:, : max(1, side // 12)] = np.nan
    return img


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--count", type=int, default=256)
    ap.add_argument("--side", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    for i in range(a.count):
        path = os.path.join(a.dir, f"cutout_{i}.fits")
        img = cutout(rng, a.side, i % 4 == 0)
        if os.path.exists(path):
            continue
        data = img.astype(">f4").tobytes()
        with open(path + ".tmp", "wb") as f:
            f.write(header(a.side) + data + b"\0" * (-len(data) % 2880))
        os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
