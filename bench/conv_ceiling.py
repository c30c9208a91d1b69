#!/usr/bin/python3
"""How much of a ResNet-18 training step is convolution, and how fast oneDNN runs each convolution alone.

The ceiling of issue #4's step ratio: radiossl and the eager peer call the same oneDNN convolutions,
so the step can gain only on what is not convolution. Prints (1) torch.profiler's self-CPU shares of
a two-view forward + backward of torchvision's ResNet-18 (batch 32, SGD step, the Trainer's malloc
settings should be set by the caller), and (2) each distinct convolution of ResNet-18 timed alone,
forward and forward + backward, with its GFLOP/s, summed per view.

Usage: MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 /usr/bin/python3 bench/conv_ceiling.py
       [--size 224] [--batch 32] [--threads 2] [--layout channels_last|nchw]
"""
import argparse
import time

import torch
import torchvision
from torch.profiler import ProfilerActivity, profile

p = argparse.ArgumentParser()
p.add_argument("--size", type=int, default=224)
p.add_argument("--batch", type=int, default=32)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--layout", choices=["channels_last", "nchw"], default="channels_last")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.set_flush_denormal(True)
fmt = torch.channels_last if a.layout == "channels_last" else torch.contiguous_format

model = torchvision.models.resnet18()
model.fc = torch.nn.Identity()
model = model.to(memory_format=fmt)
x = torch.rand(a.batch, 3, a.size, a.size).contiguous(memory_format=fmt)
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)


def step():
    opt.zero_grad(set_to_none=True)
    loss = sum(model(x).pow(2).mean() for _ in range(2))  # two views, each forwarded alone
    loss.backward()
    opt.step()


step()
step()
t = time.time()
step()
dt = time.time() - t
print(f"step {dt:.2f} s ({a.batch / dt:.1f} img/s, two views each), {a.layout}")
with profile(activities=[ProfilerActivity.CPU]) as prof:
    step()
events = prof.key_averages()
total = sum(e.self_cpu_time_total for e in events)
conv = 0
for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:8]:
    share = e.self_cpu_time_total / total
    if "convolution" in e.key:
        conv += share
    print(f"  {e.key:45s} {e.self_cpu_time_total / 1e3:8.1f} ms {100 * share:5.1f} %")
print(f"convolutions: {100 * conv:.1f} % of the step's self CPU time")

# (in channels, out channels, kernel, stride, input side at 224 px, how many in ResNet-18)
layers = [(3, 64, 7, 2, 224, 1), (64, 64, 3, 1, 56, 4), (64, 128, 3, 2, 56, 1), (128, 128, 3, 1, 28, 3),
          (64, 128, 1, 2, 56, 1), (128, 256, 3, 2, 28, 1), (256, 256, 3, 1, 14, 3), (128, 256, 1, 2, 28, 1),
          (256, 512, 3, 2, 14, 1), (512, 512, 3, 1, 7, 3), (256, 512, 1, 2, 14, 1)]
sum_f = sum_b = 0.0
for cin, cout, k, s, side, count in layers:
    side = side * a.size // 224
    conv_layer = torch.nn.Conv2d(cin, cout, k, s, k // 2, bias=False).to(memory_format=fmt)
    inp = torch.rand(a.batch, cin, side, side).contiguous(memory_format=fmt).requires_grad_(cin != 3)
    grad = torch.rand_like(conv_layer(inp))
    for _ in range(3):  # warm-up: oneDNN builds its kernels on first use
        conv_layer(inp).backward(grad)
    reps = 3
    t = time.time()
    for _ in range(reps):
        y = conv_layer(inp)
    fwd = (time.time() - t) / reps
    t = time.time()
    for _ in range(reps):
        conv_layer(inp).backward(grad)
    bwd = (time.time() - t) / reps - fwd
    flops = 2 * a.batch * cout * y.shape[2] * y.shape[3] * cin * k * k
    grads = 2 if cin != 3 else 1  # the stem has no input gradient
    sum_f += fwd * count
    sum_b += bwd * count
    print(f"  {cin:4d}->{cout:4d} k{k} s{s} {side:3d} px x{count}: forward {1e3 * fwd:6.1f} ms "
          f"{flops / fwd / 1e9:5.0f} GFLOP/s, backward {1e3 * bwd:6.1f} ms {grads * flops / bwd / 1e9:5.0f} GFLOP/s")
print(f"convolutions alone, per view: forward {1e3 * sum_f:.0f} ms, backward {1e3 * sum_b:.0f} ms")
