#!/usr/bin/python3
"""The device's measured matmul rate, the yardstick of bench/gpu/run.sh: N x N @ N x N products in a
loop (torch.matmul, the dtype given), synchronised, best of a few timed rounds. Prints one JSON line
with flops_per_s (2 N^3 per product).

Usage: matmul_rate.py [--device cuda] [--dtype bf16] [--n 8192] [--seconds 2] [--threads 2]
"""
import argparse
import json
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "fp16", "fp32"])
    ap.add_argument("--n", type=int, default=8192)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[a.dtype]
    x = torch.randn(a.n, a.n, device=dev).to(dtype)
    y = torch.randn(a.n, a.n, device=dev).to(dtype)
    out = torch.empty(a.n, a.n, device=dev, dtype=dtype)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
    torch.matmul(x, y, out=out)  # warm-up: cuBLAS handles and heuristics
    sync()
    best, reps, t_end = 0.0, 1, time.perf_counter() + a.seconds
    while True:
        t0 = time.perf_counter()
        for _ in range(reps):
            torch.matmul(x, y, out=out)
        sync()
        dt = time.perf_counter() - t0
        best = max(best, 2.0 * a.n ** 3 * reps / dt)
        if time.perf_counter() > t_end:
            break
        if dt < 0.2:
            reps *= 2
    print(json.dumps({"device": str(dev), "dtype": a.dtype, "n": a.n, "flops_per_s": best,
                      "name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"}))


if __name__ == "__main__":
    main()
