#!/usr/bin/python3
"""Python PyTorch peer of bench/step_bench.cpp for SimCLR: one training step (zero_grad(set_to_none),
per-view forward of a torchvision ResNet, SimCLR projector and NT-Xent, backward, solo-learn's LARS)
at batch 32, channels_last as solo-learn runs it, same thread count.

Usage: /usr/bin/python3 bench/step_peer.py [--threads 2] [--iters 5] [--arch resnet18] [--size 64]
Prints images/s; compare with `radiossl_bench --benchmark_filter='step_bench<.*SimCLR>'`.
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


class LARS(torch.optim.Optimizer):
    """solo-learn's solo/utils/lars.py (eta 0.02, clip_lr, exclude_bias_n_norm)."""

    def __init__(self, params, lr, momentum=0.9, weight_decay=1e-4, eta=0.02, eps=1e-8):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta, eps=eps))

    @torch.no_grad()
    def step(self):
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is None:
                    continue
                d = p.grad
                if p.ndim != 1:
                    pn, gn = torch.norm(p), torch.norm(d)
                    if pn != 0 and gn != 0:
                        local = g["eta"] * pn / (gn + g["weight_decay"] * pn + g["eps"])
                        local = torch.clamp(local / g["lr"], max=1)
                        d = d.add(p, alpha=g["weight_decay"]) * local
                st = self.state[p]
                if "buf" not in st:
                    st["buf"] = torch.clone(d).detach()
                else:
                    st["buf"].mul_(g["momentum"]).add_(d)
                p.add_(st["buf"], alpha=-g["lr"])


def nt_xent(z, indexes, temperature=0.2):
    z = F.normalize(z, dim=-1)
    sim = torch.exp(z @ z.T / temperature)
    pos = indexes.unsqueeze(0) == indexes.unsqueeze(1)
    pos.fill_diagonal_(False)
    neg = indexes.unsqueeze(0) != indexes.unsqueeze(1)
    return -torch.mean(torch.log(torch.sum(sim * pos, 1) / (torch.sum(sim * pos, 1) + torch.sum(sim * neg, 1))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    backbone = getattr(torchvision.models, a.arch)()
    feat = backbone.fc.in_features
    backbone.fc = nn.Identity()
    projector = nn.Sequential(nn.Linear(feat, 4096), nn.ReLU(), nn.Linear(4096, 512))
    model = nn.ModuleDict({"backbone": backbone, "projector": projector}).to(memory_format=torch.channels_last)
    opt = LARS(model.parameters(), lr=1.2 * a.batch / 256)
    views = [torch.rand(a.batch, 3, a.size, a.size).contiguous(memory_format=torch.channels_last) for _ in range(2)]
    indexes = torch.arange(a.batch).repeat(2)

    def step():
        opt.zero_grad(set_to_none=True)
        z = torch.cat([projector(backbone(v)) for v in views])
        loss = nt_xent(z, indexes)
        loss.backward()
        opt.step()

    step()
    t0 = time.perf_counter()
    for _ in range(a.iters):
        step()
    dt = (time.perf_counter() - t0) / a.iters
    print(f"peer simclr {a.arch} {a.size}px batch {a.batch} threads {a.threads}: "
          f"{dt * 1e3:.1f} ms/step, {a.batch / dt:.1f} images/s")


if __name__ == "__main__":
    main()
