#!/usr/bin/python3
"""Writes tests/support/baselines.hpp: reference values of radiossl's losses (and gradients).

Each loss is written here from the formulas of shared/spec/methods.md (what solo-learn computes),
in float64 on small seeded inputs, which are written out too. Run by hand with Debian's
python3-torch (/usr/bin/python3 tools/gen_baselines.py); CI only compiles the output.
"""
import os
import sys

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
gen = torch.Generator().manual_seed(20240601)


def randn(*shape):
    return torch.randn(*shape, generator=gen, dtype=torch.float64)


# ---- reference formulas (single process: every gather is the identity) -------------------------

def nt_xent(z, idx, t):
    z = F.normalize(z, dim=1)
    s = torch.exp(z @ z.T / t)
    pos = idx[:, None] == idx[None, :]
    pos.fill_diagonal_(False)
    neg = idx[:, None] != idx[None, :]
    p = (s * pos).sum(1)
    n = (s * neg).sum(1)
    return -torch.mean(torch.log(p / (p + n)))


def byol(p, z):
    return 2 - 2 * F.cosine_similarity(p, z.detach(), dim=-1).mean()


def dino(student, teacher, center, ts, tt, n_large):
    n = teacher.shape[0] // n_large
    s = (student / ts).chunk(student.shape[0] // n)
    t = F.softmax((teacher - center) / tt, dim=-1).detach().chunk(n_large)
    total, terms = 0.0, 0
    for iq, q in enumerate(t):
        for iv, v in enumerate(s):
            if iv == iq:
                continue
            total = total + torch.sum(-q * F.log_softmax(v, dim=-1), dim=-1).mean()
            terms += 1
    return total / terms


def dino_center(center, teacher, m=0.9):
    return center * m + teacher.sum(0, keepdim=True) / teacher.shape[0] * (1 - m)


def whiten(x, eps=0.0):
    m = x.mean(0, keepdim=True)
    xc = x - m
    c = xc.T @ xc / (x.shape[0] - 1)
    c = (1 - eps) * c + eps * torch.eye(x.shape[1])
    l = torch.linalg.cholesky(c)
    w = torch.linalg.solve_triangular(l, torch.eye(x.shape[1]), upper=False)
    return xc @ w.T


def wmse(z1, z2, simplified):
    if simplified:
        return 2 - 2 * F.cosine_similarity(z1, z2.detach(), dim=-1).mean()
    return 2 - 2 * (F.normalize(z1, dim=-1) * F.normalize(z2, dim=-1)).sum(-1).mean()


@torch.no_grad()
def sinkhorn(scores, eps=0.05, iters=3):
    q = torch.exp(scores / eps).T
    b, k = q.shape[1], q.shape[0]
    q = q / q.sum()
    for _ in range(iters):
        q = q / q.sum(1, keepdim=True) / k
        q = q / q.sum(0, keepdim=True) / b
    return (q * b).T


def swav(preds, assignments, t):
    losses = []
    for v1 in range(len(assignments)):
        for v2 in range(len(preds)):
            if v2 == v1:
                continue
            losses.append(-torch.mean(torch.sum(assignments[v1] * F.log_softmax(preds[v2] / t, dim=1), dim=1)))
    return sum(losses) / len(losses)


def nnclr(nn, p, t=0.1):
    nn = F.normalize(nn, dim=-1)
    p = F.normalize(p, dim=-1)
    logits = nn @ p.T / t
    return F.cross_entropy(logits, torch.arange(nn.shape[0]))


def off_diagonal(x):
    n = x.shape[0]
    return x.flatten()[:-1].view(n - 1, n + 1)[:, 1:].flatten()


def all4one_feature(m1, z2, m2, z1):
    c1 = F.normalize(m1, dim=0).T @ F.normalize(z2, dim=0)
    c2 = F.normalize(m2, dim=0).T @ F.normalize(z1, dim=0)
    on = ((torch.diagonal(c1).add(-1).pow(2).mean() + torch.diagonal(c2).add(-1).pow(2).mean()) * 0.5).sqrt()
    off = ((off_diagonal(c1).pow(2).mean() + off_diagonal(c2).pow(2).mean()) * 0.5).sqrt()
    return (0.5 * on + 0.5 * off) * 10


def all4one(r1, r2, s1, s2, nn1, nn2, p1, p2, m1, m2, z1, z2, t):
    att = nnclr(r1, s2) / 2 + nnclr(r2, s1) / 2
    nnl = nnclr(nn1, p2, t) / 2 + nnclr(nn2, p1, t) / 2
    return 0.5 * att + 0.5 * nnl + 0.5 * all4one_feature(m1, z2, m2, z1)


# ---- cases ------------------------------------------------------------------------------------

out = []  # (name, tensor)


def grad(loss, *xs):
    return torch.autograd.grad(loss, xs, allow_unused=True)


def emit(name, t):
    out.append((name, t.detach().reshape(-1) if t.dim() else t.detach().reshape(1), list(t.shape)))


N, D = 6, 8

z = randn(2 * N, D).requires_grad_()
idx = torch.arange(N).repeat(2)
l = nt_xent(z, idx, 0.2)
emit("nt_xent_z", z); emit("nt_xent_loss", l); emit("nt_xent_grad_z", grad(l, z)[0])

p, zt = randn(N, D).requires_grad_(), randn(N, D)
l = byol(p, zt)
emit("byol_p", p); emit("byol_z", zt); emit("byol_loss", l); emit("byol_grad_p", grad(l, p)[0])

student = randn(3 * N, D).requires_grad_()  # 2 large crops + 1 small
teacher, center = randn(2 * N, D), 0.1 * randn(1, D)
l = dino(student, teacher, center, 0.1, 0.04, 2)
emit("dino_student", student); emit("dino_teacher", teacher); emit("dino_center", center)
emit("dino_loss", l); emit("dino_grad_student", grad(l, student)[0])
emit("dino_next_center", dino_center(center, teacher))

WN, WD = 12, 4  # whitening needs more samples than dimensions
w1, w2 = randn(WN, WD).requires_grad_(), randn(WN, WD).requires_grad_()
emit("wmse_z1", w1); emit("wmse_z2", w2); emit("whiten_z1", whiten(w1))
l = wmse(whiten(w1), whiten(w2), True)
g = grad(l, w1, w2)
emit("wmse_loss", l); emit("wmse_grad_z1", g[0])
l = wmse(whiten(w1), whiten(w2), False)
g = grad(l, w1, w2)
emit("wmse_original_loss", l); emit("wmse_original_grad_z1", g[0]); emit("wmse_original_grad_z2", g[1])

K = 5
preds = [F.normalize(randn(N, D), dim=1) @ F.normalize(randn(K, D), dim=1).T for _ in range(3)]
preds = [x.detach().requires_grad_() for x in preds]
codes = [sinkhorn(x) for x in preds[:2]]
l = swav(preds, codes, 0.1)
g = grad(l, *preds)
for i in range(3):
    emit(f"swav_p{i}", preds[i]); emit(f"swav_grad_p{i}", g[i])
emit("sinkhorn_q0", codes[0]); emit("sinkhorn_q1", codes[1]); emit("swav_loss", l)

a, b = randn(N, D).requires_grad_(), randn(N, D).requires_grad_()
l = nnclr(a, b, 0.2)
g = grad(l, a, b)
emit("nnclr_nn", a); emit("nnclr_p", b); emit("nnclr_loss", l); emit("nnclr_grad_nn", g[0]); emit("nnclr_grad_p", g[1])

names = ["rich1", "rich2", "strange1", "strange2", "nn1", "nn2", "p1", "p2", "m1", "m2", "z1", "z2"]
xs = {k: randn(N, D).requires_grad_() for k in names}
l = all4one_feature(xs["m1"], xs["z2"], xs["m2"], xs["z1"])
g = grad(l, xs["z1"], xs["z2"])
emit("all4one_feature_loss", l); emit("all4one_feature_grad_z1", g[0]); emit("all4one_feature_grad_z2", g[1])
l = all4one(*[xs[k] for k in names], 0.2)
g = grad(l, xs["strange1"], xs["p1"], xs["z1"], xs["rich1"])
for k in names:
    emit(f"all4one_{k}", xs[k])
emit("all4one_loss", l); emit("all4one_grad_strange1", g[0]); emit("all4one_grad_p1", g[1])
emit("all4one_grad_z1", g[2]); emit("all4one_grad_rich1", g[3])

# ---- write -----------------------------------------------------------------------------------

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
path = os.path.join(root, "tests", "support", "baselines.hpp")
lines = [
    "// @generated by tools/gen_baselines.py (torch %s, float64); do not edit." % torch.__version__,
    "/// @file",
    "/// Reference inputs, losses and gradients of radiossl's losses, from the spec's formulas.",
    "#pragma once",
    "",
    "#include <cstdint>",
    "#include <vector>",
    "",
    "namespace radiossl::test::baselines {",
    "",
    "/// A float64 tensor as shape + row-major values.",
    "struct Array {",
    "  std::vector<std::int64_t> shape;",
    "  std::vector<double> values;",
    "};",
    "",
]
for name, t, shape in out:
    vals = ", ".join(repr(float(v)) for v in t.tolist())
    lines.append("inline const Array %s{{%s}, {%s}};" % (name, ", ".join(str(s) for s in shape), vals))
lines += ["", "}  // namespace radiossl::test::baselines", ""]
with open(path, "w") as f:
    f.write("\n".join(lines))
print("wrote", path, len(out), "arrays", file=sys.stderr)
