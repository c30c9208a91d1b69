#!/usr/bin/python3
"""Python peer of bench/data_bench.cpp (BM_data_fits_two_views): the same work per image with
astropy and torchvision transforms, on the same files, on one core.

Per image: astropy fits.getdata -> float32, NaN -> finite minimum, min-max to [0, 1], a [1, H, W]
tensor, then two views of torchvision's RandomResizedCrop(224, scale (0.65, 1), ratio 1, bicubic,
antialias), RandomApply(ColorJitter(contrast=0.8), p 0.5), RandomApply(GaussianBlur(13,
sigma (0.1, 2)), p 0.25), horizontal and vertical flips (p 0.5), each replicated to 3 channels.
The kernel size 13 covers 3 sigma at sigma 2, like radiossl's blur radius.

Usage: data_peer.py DIR [--seconds S] [--ftz]; prints one JSON line with images per second.
--ftz sets torch.set_flush_denormal(True) (perf-notes: denormals slow the augmentations down).
"""
import argparse
import glob
import json
import os
import time

import numpy as np
import torch
from astropy.io import fits
from torchvision import transforms as T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--ftz", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    if args.ftz:
        torch.set_flush_denormal(True)
    files = sorted(glob.glob(os.path.join(args.dir, "cutout_*.fits")))
    if not files:
        raise SystemExit(f"{args.dir}: no cutout_*.fits (run the C++ bench first)")
    view = T.Compose([
        T.RandomResizedCrop(224, scale=(0.65, 1.0), ratio=(1.0, 1.0),
                            interpolation=T.InterpolationMode.BICUBIC, antialias=True),
        T.RandomApply([T.ColorJitter(contrast=0.8)], p=0.5),
        T.RandomApply([T.GaussianBlur(13, sigma=(0.1, 2.0))], p=0.25),
        T.RandomHorizontalFlip(p=0.5),
        T.RandomVerticalFlip(p=0.5),
    ])

    def one(path):
        img = fits.getdata(path).astype(np.float32)
        finite = np.isfinite(img)
        lo = img[finite].min() if finite.any() else 0.0
        img = np.where(finite, img, lo)
        hi = img.max()
        img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
        t = torch.from_numpy(img)[None]
        return [view(t).clamp_(0, 1).expand(3, -1, -1).contiguous() for _ in range(2)]

    for p in files[:4]:  # warm-up: imports, first-call caches
        one(p)
    n = 0
    start = time.perf_counter()
    cpu0 = time.process_time()
    while time.perf_counter() - start < args.seconds:
        one(files[n % len(files)])
        n += 1
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    print(json.dumps({"peer": "astropy+torchvision", "ftz": args.ftz, "images": n,
                      "images_per_s": n / wall, "images_per_cpu_s": n / cpu}))


if __name__ == "__main__":
    main()
