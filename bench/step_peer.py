#!/usr/bin/python3
"""Python PyTorch peer of bench/step_bench.cpp: one training step of SimCLR, BYOL, DINO, W-MSE, SwAV
or All4One as solo-learn runs it (zero_grad(set_to_none), per-view forward of a torchvision ResNet,
the method's heads and loss, backward, solo-learn's LARS, then the EMA teacher update), eager
PyTorch, channels_last, batch 32, same thread count. Heads and hyper-parameters are radiossl's
`XxxOptions::paper()` presets (include/radiossl/method/*.hpp); the lr is batch-scaled (x batch/256)
as the Trainer does. The bench starts at epoch 0 (DINO's last layer and SwAV's prototypes frozen,
DINO's teacher temperature 0.04, SwAV's queue filled but not yet used), as radiossl's does.

By default the peer also does the per-step work solo-learn does that radiossl skips (gradients of the
frozen DINO last layer / SwAV prototypes computed then dropped in on_after_backward, All4One's second
projector+predictor pass and second queue product, the z_std metrics); --lean leaves that out.
The online linear classifier (a no-op on unlabeled data, NaN loss) is left out in both modes.

Usage: /usr/bin/python3 bench/step_peer.py --method byol [--arch resnet18] [--size 64] [--threads 2]
       [--iters 3] [--min-seconds 0] [--json] [--lean] [--device cuda] [--amp] [--cudnn-benchmark]
       [--fits-dir DIR --workers N] [--flops]
Prints images/s; compare with `radiossl_bench --benchmark_filter='step_bench<backbone::ResNet18, method::BYOL>/64'`.
--method takes a comma-separated list (one line each, one Python start-up for all). On a GPU,
--device cuda --amp runs the step as radiossl's Trainer does there: bf16 autocast around the forward
and loss, channels_last (solo-learn's configs ask Lightning for fp16 AMP; bf16 needs no loss
scaling). --fits-dir feeds the step end to end from the FITS files in DIR through a torch DataLoader
with --workers worker processes (the reading and views of bench/data_peer.py at --size; e2e_bench in
bench/step_bench.cpp is radiossl's side). --flops adds the step's model FLOPs per image (convolutions
and linear layers, forward x3 where weights train, x1 for the frozen teacher), counted with forward
hooks on the warm-up step.
"""
import argparse
import json
import math
import sys
import time
import warnings

import glob
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

try:
    from astropy.io import fits as astropy_fits
except ImportError:  # a GPU box without astropy: the small reader below (bench/gpu/make_fits.py's files)
    astropy_fits = None


class LARS(torch.optim.Optimizer):
    """solo-learn's solo/utils/lars.py (Lightning Bolts), with the radio configs' settings: eta 0.02,
    clip_lars_lr, exclude_bias_n_norm_lars, momentum 0.9, no dampening or nesterov."""

    def __init__(self, params, lr, momentum=0.9, weight_decay=0.0, eta=0.02, eps=1e-8,
                 clip_lars_lr=True, exclude_bias_n_norm_lars=True):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta, eps=eps,
                                      clip_lars_lr=clip_lars_lr,
                                      exclude_bias_n_norm_lars=exclude_bias_n_norm_lars))

    @torch.no_grad()
    def step(self):
        for g in self.param_groups:
            wd, momentum = g["weight_decay"], g["momentum"]
            for p in g["params"]:
                if p.grad is None:
                    continue
                d_p = p.grad
                p_norm = torch.norm(p.data)  # solo-learn takes both norms for every parameter
                g_norm = torch.norm(p.grad.data)
                if p.ndim != 1 or not g["exclude_bias_n_norm_lars"]:
                    if p_norm != 0 and g_norm != 0:
                        lars_lr = p_norm / (g_norm + p_norm * wd + g["eps"]) * g["eta"]
                        if g["clip_lars_lr"]:
                            lars_lr = min(lars_lr / g["lr"], 1)
                        d_p = d_p.add(p, alpha=wd)
                        d_p *= lars_lr
                st = self.state[p]
                if "momentum_buffer" not in st:
                    buf = st["momentum_buffer"] = torch.clone(d_p).detach()
                else:
                    buf = st["momentum_buffer"]
                    buf.mul_(momentum).add_(d_p)
                p.add_(buf, alpha=-g["lr"])


def warmup_cosine(step, base, warmup=10, total=1000, start=3e-5, eta_min=0.0):
    """solo-learn's per-step warmup_cosine (closed form); the bench only needs its per-step cost."""
    if step < warmup:
        return start + step * (base - start) / max(warmup - 1, 1)
    return eta_min + 0.5 * (base - eta_min) * (1 + math.cos(math.pi * (step - warmup) / max(total - warmup, 1)))


def mlp(i, h, o, bn):
    layers = [nn.Linear(i, h)] + ([nn.BatchNorm1d(h)] if bn else []) + [nn.ReLU(), nn.Linear(h, o)]
    return nn.Sequential(*layers)


def unit_norm_linear(i, o):
    """weight_norm(Linear(i, o, bias=False)) with weight_g = 1 frozen (DINO last layer, SwAV prototypes)."""
    layer = nn.utils.weight_norm(nn.Linear(i, o, bias=False))
    layer.weight_g.data.fill_(1)
    layer.weight_g.requires_grad = False
    return layer


def init_momentum(online, momentum):
    for po, pm in zip(online.parameters(), momentum.parameters()):
        pm.data.copy_(po.data)
        pm.requires_grad = False


@torch.no_grad()
def ema(online, momentum, tau):
    # solo-learn's MomentumUpdater.update: out of place, parameters only.
    for op, mp in zip(online.parameters(), momentum.parameters()):
        mp.data = tau * mp.data + (1 - tau) * op.data


def cosine_tau(base, final, progress):
    return final - (final - base) * (math.cos(math.pi * progress) + 1) / 2


class Method(nn.Module):
    lr = 0.3
    wd = 0.0
    momentum_pairs = ()   # names of (online, momentum) attribute pairs besides the backbone
    has_teacher = False

    def __init__(self, a):
        super().__init__()
        self.a = a
        self.tau = getattr(self, "tau_base", 1.0)

    def heads(self):
        return [p for n, p in self.named_parameters() if not n.startswith("momentum_")]

    def param_groups(self, backbone, lr):
        return [{"params": list(backbone.parameters())}, {"params": self.heads()}]

    def after_backward(self):
        pass

    def after_step(self, backbone, progress):
        if not self.has_teacher:
            return
        ema(backbone, self.momentum_backbone, self.tau)
        for on, mn in self.momentum_pairs:
            ema(getattr(self, on), getattr(self, mn), self.tau)
        self.tau = cosine_tau(self.tau_base, 1.0, progress)


class SimCLR(Method):
    lr, wd = 1.2, 1e-4

    def __init__(self, feat, a):
        super().__init__(a)
        self.projector = mlp(feat, 4096, 512, bn=False)
        self.temperature = 0.2

    def loss(self, backbone, views):
        z = torch.cat([self.projector(backbone(v)) for v in views])
        n = views[0].size(0)
        indexes = torch.arange(n, device=z.device).repeat(len(views))
        # solo/losses/simclr.py (one process: gather is the identity)
        z = F.normalize(z, dim=-1)
        sim = torch.exp(torch.einsum("if, jf -> ij", z, z) / self.temperature)
        pos_mask = indexes.unsqueeze(0) == indexes.unsqueeze(1)
        pos_mask[:, :z.size(0)].fill_diagonal_(False)
        neg_mask = indexes.unsqueeze(0) != indexes.unsqueeze(1)
        pos = torch.sum(sim * pos_mask, 1)
        neg = torch.sum(sim * neg_mask, 1)
        return -torch.mean(torch.log(pos / (pos + neg)))


class BYOL(Method):
    lr, wd, tau_base = 1.2, 1e-6, 0.99
    momentum_pairs = (("projector", "momentum_projector"),)
    has_teacher = True

    def __init__(self, feat, a, backbone):
        super().__init__(a)
        self.projector = mlp(feat, 1024, 512, bn=True)
        self.momentum_projector = mlp(feat, 1024, 512, bn=True)
        init_momentum(self.projector, self.momentum_projector)
        self.predictor = mlp(512, 1024, 512, bn=True)
        self.momentum_backbone = teacher_of(backbone)

    def loss(self, backbone, views):
        z = [self.projector(backbone(v)) for v in views]
        p = [self.predictor(zi) for zi in z]
        with torch.no_grad():
            zm = [self.momentum_projector(self.momentum_backbone(v)) for v in views[:2]]
        total = 0
        for v1 in range(2):
            for v2 in range(len(views)):
                if v2 != v1:  # solo/losses/byol.py, simplified
                    total = total + (2 - 2 * F.cosine_similarity(p[v2], zm[v1].detach(), dim=-1).mean())
        if not self.a.lean:
            with torch.no_grad():
                F.normalize(torch.stack(z[:2]), dim=-1).std(dim=1).mean()
        return total


class DINOHead(nn.Module):
    def __init__(self, feat, hidden, bottleneck, k):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(feat, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, bottleneck))
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.constant_(m.bias, 0)
        self.last_layer = unit_norm_linear(bottleneck, k)

    def forward(self, x):
        return self.last_layer(F.normalize(self.mlp(x), dim=-1))


class DINO(Method):
    lr, wd, tau_base = 0.016, 1e-6, 0.9995
    momentum_pairs = (("head", "momentum_head"),)
    has_teacher = True

    def __init__(self, feat, a, backbone):
        super().__init__(a)
        self.head = DINOHead(feat, 2048, 256, 4096)
        self.momentum_head = DINOHead(feat, 2048, 256, 4096)
        init_momentum(self.head, self.momentum_head)
        self.momentum_backbone = teacher_of(backbone)
        self.register_buffer("center", torch.zeros(1, 4096))
        w = 50  # warmup_teacher_temperature_epochs
        sched = torch.linspace(0.04, 0.07, w).tolist()
        self.teacher_temp = sched[a.epoch] if a.epoch < w else 0.07
        self.freeze_last_layer = a.epoch < 1
        if a.lean and self.freeze_last_layer:
            self.head.last_layer.weight_v.requires_grad = False

    def loss(self, backbone, views):
        p = torch.cat([self.head(backbone(v)) for v in views])
        with torch.no_grad():
            t = torch.cat([self.momentum_head(self.momentum_backbone(v)) for v in views[:2]])
        # solo/losses/dino.py
        student = (p / 0.1).chunk(len(views))
        teacher = F.softmax((t - self.center) / self.teacher_temp, dim=-1).detach().chunk(2)
        total, n = 0, 0
        for iq, q in enumerate(teacher):
            for iv, v in enumerate(student):
                if iv == iq:
                    continue
                total = total + torch.sum(-q * F.log_softmax(v, dim=-1), dim=-1).mean()
                n += 1
        total = total / n
        with torch.no_grad():
            batch_center = torch.sum(t, dim=0, keepdim=True) / len(t)
            self.center = self.center * 0.9 + batch_center * (1 - 0.9)
        return total

    def after_backward(self):
        if self.freeze_last_layer:
            for p in self.head.last_layer.parameters():
                p.grad = None


class Whitening2d(nn.Module):
    """solo/utils/whitening.py (float32 on CPU; its custom_fwd cast only acts under CUDA autocast)."""

    def __init__(self, dim, eps=0.0):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x):
        # solo-learn runs the whitening in float32 under AMP (custom_fwd(cast_inputs=torch.float32))
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self.whiten(x.float())

    def whiten(self, x):
        x = x.unsqueeze(2).unsqueeze(3)
        m = x.mean(0).view(self.dim, -1).mean(-1).view(1, -1, 1, 1)
        xn = x - m
        t = xn.permute(1, 0, 2, 3).contiguous().view(self.dim, -1)
        f_cov = torch.mm(t, t.permute(1, 0)) / (t.shape[-1] - 1)
        eye = torch.eye(self.dim).type(f_cov.type())
        f_cov_shrinked = (1 - self.eps) * f_cov + self.eps * eye
        inv_sqrt = torch.triangular_solve(eye, torch.cholesky(f_cov_shrinked), upper=False)[0]
        inv_sqrt = inv_sqrt.contiguous().view(self.dim, self.dim, 1, 1)
        return F.conv2d(xn, inv_sqrt).squeeze(2).squeeze(2)


class WMSE(Method):
    lr, wd = 0.002, 1e-6

    def __init__(self, feat, a):
        super().__init__(a)
        self.projector = mlp(feat, 1024, a.wmse_proj_dim, bn=True)
        self.w_size = a.wmse_whitening_size
        self.whitening = Whitening2d(a.wmse_proj_dim, eps=a.wmse_eps)
        bs = a.batch
        if self.w_size < 2 or self.w_size > bs or bs % self.w_size != 0:
            raise SystemExit(f"step_peer: wmse: whitening_size {self.w_size} must be >= 2 and divide the "
                             f"batch size {bs}")

    def loss(self, backbone, views):
        v = torch.cat([self.projector(backbone(x)) for x in views[:2]])
        bs = views[0].size(0)
        z = torch.empty_like(v)
        perm = torch.randperm(bs, device=v.device).view(-1, self.w_size)
        for idx in perm:
            for i in range(2):
                z[idx + i * bs] = self.whitening(v[idx + i * bs]).type_as(z)
        x0, x1 = z[:bs], z[bs:2 * bs]
        return 2 - 2 * F.cosine_similarity(x0, x1.detach(), dim=-1).mean()  # simplified=True


class SwAV(Method):
    lr, wd = 1.2, 1e-6

    def __init__(self, feat, a):
        super().__init__(a)
        self.projector = mlp(feat, 2048, 128, bn=True)
        self.prototypes = unit_norm_linear(128, 300)
        self.register_buffer("queue", torch.zeros(2, 3840, 128))
        self.use_queue = a.epoch >= 50
        self.freeze_prototypes = a.epoch < 2
        if a.lean and self.freeze_prototypes:
            self.prototypes.weight_v.requires_grad = False

    @torch.no_grad()
    def sinkhorn(self, q, eps=0.05, iters=3):
        # solo/utils/sinkhorn_knopp.py, one process
        q = torch.exp(q / eps).t()
        b, k = q.shape[1], q.shape[0]
        q /= torch.sum(q)
        for _ in range(iters):
            q /= torch.sum(q, dim=1, keepdim=True)
            q /= k
            q /= torch.sum(q, dim=0, keepdim=True)
            q /= b
        q *= b
        return q.t()

    def loss(self, backbone, views):
        z = [F.normalize(self.projector(backbone(v)), dim=-1) for v in views]
        p = [self.prototypes(zi) for zi in z]
        bs = views[0].size(0)
        with torch.no_grad():
            assignments = []
            for i, pi in enumerate(p[:2]):
                if self.use_queue:
                    pi = torch.cat((pi, self.prototypes(self.queue[i])))
                assignments.append(self.sinkhorn(pi)[:bs])
        losses = []
        for v1, q in enumerate(assignments):  # solo/losses/swav.py
            for v2 in range(len(p)):
                if v2 != v1:
                    losses.append(-torch.mean(torch.sum(q * torch.log_softmax(p[v2] / 0.1, dim=1), dim=1)))
        total = sum(losses) / len(losses)
        with torch.no_grad():
            self.queue[:, bs:] = self.queue[:, :-bs].clone()
            self.queue[:, :bs] = torch.stack(z[:2]).detach()
        return total

    def after_backward(self):
        if self.freeze_prototypes:
            for p in self.prototypes.parameters():
                p.grad = None


class PositionalEncodingSum(nn.Module):
    """Summer(PositionalEncodingPermute1D(tokens)) of solo/utils/positional_encodings.py: a sinusoid
    along the feature axis, cached per input shape, added to the input."""

    def __init__(self, tokens):
        super().__init__()
        self.channels = int(math.ceil(tokens / 2) * 2)
        self.inv_freq = 1.0 / (10000 ** (torch.arange(0, self.channels, 2).float() / self.channels))
        self.cached = None

    def forward(self, x):
        t = x.permute(0, 2, 1)  # (N, D, tokens)
        if self.cached is None or self.cached.shape != t.shape:
            n, d, ch = t.shape
            sin_inp = torch.einsum("i,j->ij", torch.arange(d).type(self.inv_freq.type()), self.inv_freq)
            emb_x = torch.flatten(torch.stack((sin_inp.sin(), sin_inp.cos()), dim=-1), -2, -1)
            emb = torch.zeros((d, self.channels)).type(t.type())
            emb[:, :self.channels] = emb_x
            self.cached = emb[None, :, :ch].repeat(n, 1, 1)
        return x + self.cached.permute(0, 2, 1)


def nnclr_loss(nn_, p, temperature=0.1):
    nn_ = F.normalize(nn_, dim=-1)
    p = F.normalize(p, dim=-1)
    logits = nn_ @ p.T / temperature
    return F.cross_entropy(logits, torch.arange(nn_.size(0), device=logits.device))


class All4One(Method):
    lr, wd, tau_base = 1.0, 1e-5, 0.99
    momentum_pairs = (("projector", "momentum_projector"),)
    has_teacher = True

    def __init__(self, feat, a, backbone):
        super().__init__(a)
        h, d, pr = 2048, 512, 4096

        def projector():
            return nn.Sequential(nn.Linear(feat, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Linear(h, h),
                                 nn.BatchNorm1d(h), nn.ReLU(), nn.Linear(h, d), nn.BatchNorm1d(d))
        self.projector = projector()
        self.momentum_projector = projector()
        init_momentum(self.projector, self.momentum_projector)
        self.predictor = mlp(d, pr, d, bn=True)
        self.predictor2 = mlp(d, pr, d, bn=True)
        layer = nn.TransformerEncoderLayer(d_model=d, nhead=8, dim_feedforward=2 * d, batch_first=True, dropout=0.1)
        self.transformer_encoder = nn.TransformerEncoder(layer, num_layers=3)
        self.pos_enc = PositionalEncodingSum(5)
        self.queue_size = 65536
        self.register_buffer("queue", F.normalize(torch.randn(self.queue_size, d), dim=1))
        self.register_buffer("queue_y", -torch.ones(self.queue_size, dtype=torch.long))
        self.register_buffer("queue_index", -torch.ones(self.queue_size, dtype=torch.long))
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))
        self.momentum_backbone = teacher_of(backbone)
        if self.queue_size % a.batch != 0:
            raise SystemExit(f"step_peer: all4one: queue_size {self.queue_size} must be a multiple of the batch size")

    def param_groups(self, backbone, lr):
        tr = {id(p) for p in self.transformer_encoder.parameters()}
        return [{"params": list(backbone.parameters())},
                {"params": [p for p in self.heads() if id(p) not in tr]},
                {"params": list(self.transformer_encoder.parameters()), "lr": 0.1, "base_lr": 0.1}]

    @torch.no_grad()
    def find_nn(self, z):
        idxx = (z @ self.queue.T).max(dim=1)[1] if not self.a.lean else None
        _, idx = (z @ self.queue.T).topk(5, dim=1)
        if not self.a.lean:
            self.queue_index[idx], self.queue_y[idx]
        return idxx, self.queue[idx]

    def loss(self, backbone, views):
        n = views[0].size(0)
        dev = views[0].device
        targets, img_indexes = -torch.ones(n, dtype=torch.long, device=dev), torch.arange(n, device=dev)
        feats = [backbone(v) for v in views[:2]]
        if not self.a.lean:  # All4One.forward in the base step: its z and p are not used afterwards
            for f in feats:
                self.predictor(self.projector(f))
        with torch.no_grad():
            m1, m2 = [F.normalize(self.momentum_projector(self.momentum_backbone(v)), dim=-1) for v in views[:2]]
        z1, z2 = self.projector(feats[0]), self.projector(feats[1])
        p1, p2 = self.predictor(z1), self.predictor(z2)
        p1_2, p2_2 = self.predictor2(z1), self.predictor2(z2)
        idx1, nn1 = self.find_nn(m1)
        _, nn2 = self.find_nn(m2)
        trans1, trans2 = self.pos_enc(nn1), self.pos_enc(nn2)
        strange1 = self.pos_enc(torch.cat((p1_2.unsqueeze(1), nn1), 1)[:, :5, :])
        strange2 = self.pos_enc(torch.cat((p2_2.unsqueeze(1), nn2), 1)[:, :5, :])
        c1 = F.normalize(m1, dim=0).T @ F.normalize(z2, dim=0)
        c2 = F.normalize(m2, dim=0).T @ F.normalize(z1, dim=0)

        def off_diagonal(x):
            k = x.shape[0]
            return x.flatten()[:-1].view(k - 1, k + 1)[:, 1:].flatten()
        on = ((torch.diagonal(c1).add(-1).pow(2).mean() + torch.diagonal(c2).add(-1).pow(2).mean()) * 0.5).sqrt()
        off = ((off_diagonal(c1).pow(2).mean() + off_diagonal(c2).pow(2).mean()) * 0.5).sqrt()
        rich1 = self.transformer_encoder(trans1)[:, 0, :]
        rich2 = self.transformer_encoder(trans2)[:, 0, :]
        se1 = self.transformer_encoder(strange1)[:, 0, :]
        se2 = self.transformer_encoder(strange2)[:, 0, :]
        att = nnclr_loss(rich1, se2) / 2 + nnclr_loss(rich2, se1) / 2
        nnl = nnclr_loss(nn1[:, 0, :], p2, 0.2) / 2 + nnclr_loss(nn2[:, 0, :], p1, 0.2) / 2
        feature = (0.5 * on + 0.5 * off) * 10
        total = 0.5 * att + 0.5 * nnl + 0.5 * feature
        with torch.no_grad():  # dequeue_and_enqueue (view 1)
            ptr = int(self.queue_ptr)
            self.queue[ptr:ptr + n, :] = m1
            if not self.a.lean:
                self.queue_y[ptr:ptr + n] = targets
                self.queue_index[ptr:ptr + n] = img_indexes
            self.queue_ptr[0] = (ptr + n) % self.queue_size
        if not self.a.lean:  # nn_acc and z_std metrics
            (targets == self.queue_y[idx1]).sum() / n
            (F.normalize(z1, dim=-1).std(dim=0).mean() + F.normalize(z2, dim=-1).std(dim=0).mean()) / 2
        return total


def teacher_of(backbone):
    """The momentum backbone: a fresh ResNet of the same architecture, parameters copied and frozen
    (solo-learn's BaseMomentumMethod), in channels_last like the online one."""
    t = type(backbone)(block=backbone._block, layers=backbone._layers)
    t.fc = nn.Identity()
    t = t.to(memory_format=backbone._memory_format)
    init_momentum(backbone, t)
    return t


METHODS = {"simclr": SimCLR, "byol": BYOL, "dino": DINO, "wmse": WMSE, "swav": SwAV, "all4one": All4One}


def make_backbone(arch, memory_format):
    blocks = {"resnet18": (torchvision.models.resnet.BasicBlock, [2, 2, 2, 2]),
              "resnet50": (torchvision.models.resnet.Bottleneck, [3, 4, 6, 3])}
    block, layers = blocks[arch]
    b = torchvision.models.resnet.ResNet(block, layers)  # torchvision.models.<arch>() without weights
    b._block, b._layers, b._memory_format = block, layers, memory_format
    feat = b.fc.in_features
    b.fc = nn.Identity()
    return b.to(memory_format=memory_format), feat


def read_fits(path):
    """The primary image as float32: astropy's fits.getdata when installed (solo-learn's radio fork),
    else a small reader for the simple image files bench/gpu/make_fits.py writes."""
    if astropy_fits is not None:
        return astropy_fits.getdata(path).astype(np.float32)
    with open(path, "rb") as f:
        head, ended = {}, False
        while not ended:
            block = f.read(2880)
            if len(block) < 2880:
                raise ValueError(f"{path}: truncated FITS header")
            for i in range(0, 2880, 80):
                card = block[i:i + 80].decode("ascii", "replace")
                if card[:8].strip() == "END":
                    ended = True
                    break
                if card[8:10] == "= ":
                    head[card[:8].strip()] = card[10:].split("/")[0].strip()
        bitpix, naxis = int(head["BITPIX"]), int(head["NAXIS"])
        shape = [int(head[f"NAXIS{k}"]) for k in range(naxis, 0, -1)]
        dtype = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}[bitpix]
        n = int(np.prod(shape))
        data = np.frombuffer(f.read(n * abs(bitpix) // 8), dtype=dtype).reshape(shape).astype(np.float32)
    scale, zero = float(head.get("BSCALE", 1)), float(head.get("BZERO", 0))
    return data * scale + zero if (scale, zero) != (1.0, 0.0) else data


class FitsViews(torch.utils.data.Dataset):
    """bench/data_peer.py's work per image at `size`: read, NaN -> finite minimum, min-max to [0, 1], two
    views (random resized crop, contrast jitter, blur, flips), each replicated to 3 channels."""

    def __init__(self, files, size):
        from torchvision import transforms as T
        self.files = files
        self.view = T.Compose([
            T.RandomResizedCrop(size, scale=(0.65, 1.0), ratio=(1.0, 1.0),
                                interpolation=T.InterpolationMode.BICUBIC, antialias=True),
            T.RandomApply([T.ColorJitter(contrast=0.8)], p=0.5),
            T.RandomApply([T.GaussianBlur(13, sigma=(0.1, 2.0))], p=0.25),
            T.RandomHorizontalFlip(p=0.5),
            T.RandomVerticalFlip(p=0.5),
        ])

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        img = read_fits(self.files[i])
        img = img.reshape(img.shape[-2:]) if img.ndim > 2 else img
        finite = np.isfinite(img)
        lo = img[finite].min() if finite.any() else 0.0
        img = np.where(finite, img, lo)
        hi = img.max()
        img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
        t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))[None]
        return tuple(self.view(t).clamp_(0, 1).expand(3, -1, -1).contiguous() for _ in range(2))


def count_flops(modules, fn):
    """Model FLOPs of `fn()`: 2 x MACs of every Conv2d and Linear forward under `modules`, x3 (forward,
    input and weight gradients) where the weight trains, x1 under no_grad (the teachers)."""
    total = [0]

    def hook(m, inp, out):
        train = torch.is_grad_enabled() and m.weight.requires_grad
        per_out = (m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
                   if isinstance(m, nn.Conv2d) else m.in_features)
        total[0] += 2 * out.numel() * per_out * (3 if train else 1)
    hooks = [m.register_forward_hook(hook) for root in modules for m in root.modules()
             if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        fn()
    finally:
        for h in hooks:
            h.remove()
    return total[0]


def run_method(a, name, device, fmt):
    """Builds `name`'s step on `device` and times it; returns the result as a dict."""
    torch.manual_seed(a.seed)
    a.method = name
    backbone, feat = make_backbone(a.arch, fmt)
    cls = METHODS[name]
    method = cls(feat, a, backbone) if cls.has_teacher else cls(feat, a)
    backbone.to(device)
    method.to(device)
    lr = cls.lr * a.batch / 256  # parse_cfg's batch scaling, as TrainerOptions::scale_lr_by_batch
    groups = method.param_groups(backbone, lr)
    for g in groups:
        g.setdefault("base_lr", lr)
    opt = LARS(groups, lr=lr, weight_decay=cls.wd)
    backbone.train()
    method.train()
    total_steps = 1000
    state = {"step": 0, "loss": float("nan")}

    if a.fits_dir:
        files = sorted(glob.glob(os.path.join(a.fits_dir, "*.fits")))
        if len(files) < a.batch:
            raise SystemExit(f"step_peer: --fits-dir {a.fits_dir}: {len(files)} .fits files, fewer than one batch")
        loader = torch.utils.data.DataLoader(FitsViews(files, a.size), batch_size=a.batch, shuffle=True,
                                             drop_last=True, num_workers=a.workers,
                                             pin_memory=device.type == "cuda", persistent_workers=a.workers > 0)

        def batches():
            while True:
                for b in loader:
                    yield [v.to(device, non_blocking=True) for v in b]
        it = batches()

        def next_views():
            return next(it)
    else:
        views = [torch.rand(a.batch, 3, a.size, a.size, device=device).contiguous(memory_format=fmt) for _ in range(2)]

        def next_views():
            return views

    def step():
        for g in opt.param_groups:
            g["lr"] = warmup_cosine(state["step"], g["base_lr"], total=total_steps)
        vs = [v.to(memory_format=fmt) for v in next_views()]
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=a.amp):
            loss = method.loss(backbone, vs)
        loss.backward()
        method.after_backward()
        opt.step()
        state["step"] += 1
        method.after_step(backbone, state["step"] / total_steps)
        state["loss"] = loss.item()  # also waits for the GPU: every timed step is complete

    # Warm-up (allocations, LARS momentum buffers, cuDNN's choices, the loader's workers).
    flops = count_flops([backbone, method], step) / a.batch if a.flops else None
    step()
    t0 = time.perf_counter()
    iters = 0
    while iters < a.iters or time.perf_counter() - t0 < a.min_seconds:
        step()
        iters += 1
    dt = (time.perf_counter() - t0) / iters
    return {"method": name, "arch": a.arch, "size": a.size, "batch": a.batch, "threads": a.threads,
            "iters": iters, "ms_per_step": dt * 1e3, "images_per_s": a.batch / dt, "loss": state["loss"],
            "loss_finite": math.isfinite(state["loss"]), "lean": a.lean, "channels_last": not a.no_channels_last,
            "device": str(device), "amp": a.amp, "mode": "e2e" if a.fits_dir else "step",
            "workers": a.workers if a.fits_dir else 0, "flops_per_image": flops,
            "fits_reader": ("astropy" if astropy_fits is not None else "numpy") if a.fits_dir else None}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--method", default="simclr", help="one of %s, or a comma-separated list" % ",".join(sorted(METHODS)))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=3, help="timed steps (at least)")
    ap.add_argument("--min-seconds", type=float, default=0.0, help="keep stepping until this much time passed")
    ap.add_argument("--arch", default="resnet18", choices=["resnet18", "resnet50"])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--epoch", type=int, default=0, help="epoch of the step (DINO/SwAV schedules); bench: 0")
    ap.add_argument("--lean", action="store_true", help="skip solo-learn's work that radiossl skips")
    ap.add_argument("--no-channels-last", action="store_true", help="NCHW instead of solo-learn's channels_last")
    ap.add_argument("--wmse-whitening-size", type=int, default=256)
    ap.add_argument("--wmse-proj-dim", type=int, default=128)
    ap.add_argument("--wmse-eps", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="print one JSON object per method instead of a text line")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    ap.add_argument("--amp", action="store_true", help="bf16 autocast around forward and loss (bf16-mixed)")
    ap.add_argument("--cudnn-benchmark", action="store_true", help="torch.backends.cudnn.benchmark = True")
    ap.add_argument("--fits-dir", default="", help="end to end: read the batches from the FITS files here")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader worker processes (--fits-dir)")
    ap.add_argument("--flops", action="store_true", help="also report the step's model FLOPs per image")
    a = ap.parse_args()
    names = [m for m in a.method.split(",") if m]
    bad = [m for m in names if m not in METHODS]
    if not names or bad:
        ap.error(f"--method: unknown {','.join(bad) or 'empty list'} (expected {','.join(sorted(METHODS))})")
    warnings.filterwarnings("ignore")  # torch.cholesky / triangular_solve deprecation (as solo-learn calls them)
    torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("step_peer: --device cuda but torch sees no CUDA device")
    torch.backends.cudnn.benchmark = a.cudnn_benchmark
    fmt = torch.contiguous_format if a.no_channels_last else torch.channels_last
    failed = 0
    for name in names:
        try:
            out = run_method(a, name, device, fmt)
        except (Exception, SystemExit) as e:  # one failing method must not hide the others' numbers
            if len(names) == 1:
                raise
            failed += 1
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            print(f"step_peer: {name}: {msg}", file=sys.stderr)
            out = {"method": name, "arch": a.arch, "error": msg}
        if device.type == "cuda":
            torch.cuda.empty_cache()
        if a.json:
            print(json.dumps(out), flush=True)
        elif "error" not in out:
            print(f"peer {name} {a.arch} {a.size}px batch {a.batch} threads {a.threads}: {out['ms_per_step']:.1f} "
                  f"ms/step, {out['images_per_s']:.1f} images/s, loss {out['loss']:.4f}", flush=True)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
