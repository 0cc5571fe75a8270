"""The PyTorch side of bench/fmnist_throughput.sh: the fmnist-ect-tiny training loop of cm4j's Trainer written in
PyTorch on the same libtorch — the preset's SongUNet (bench/edm_songunet.py, EDM's module tree), EDMPrecond, ECT's
stage −1 loss (Δt = t, pure denoising: the preset's first 20 kimg), mean, item(), backward, ECT's NaN sanitiser on the
gradients, torch.optim.Adam(lr 1e-3) as constructed by default, EMA 0.995; Fashion-MNIST from Debian's
dataset-fashion-mnist, shuffled per epoch, padded 28 → 32, batch B. Prints one JSON line per tick.

Usage: python fmnist_train.py STEPS BATCH TICK_STEPS THREADS
       python fmnist_train.py serve BATCH THREADS
           prints "ready", then runs one training step per "step" line on stdin and answers with the step's thread
           CPU time and wall time in ms; ends at "quit" or end of input (bench/paired.py drives it)
"""
import copy
import gzip
import json
import sys
import time

import numpy as np
import torch

import edm_songunet as E
from step_harness import serve

CFG = {"img_resolution": 32, "img_channels": 1, "model_channels": 32, "channel_mult": [1, 2, 2], "channel_mult_emb": 4,
       "num_blocks": 1, "attn_resolutions": [8], "dropout": 0.0, "embedding_type": "positional",
       "channel_mult_noise": 1, "resample_filter": [1, 1]}
P_MEAN, P_STD = -1.1, 2.0


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return -1


def setup(batch, threads):
    torch.set_num_threads(threads)
    with gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") as f:
        u8 = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    images = np.zeros((u8.shape[0], 1, 32, 32), np.float32) - 1
    images[:, :, 2:30, 2:30] = u8.astype(np.float32) / 127.5 - 1
    torch.manual_seed(0)
    net = E.EDMPrecond(E.SongUNet(**E.songunet_kwargs(CFG))).train()
    print(f"# parameters {sum(p.numel() for p in net.parameters())}", file=sys.stderr)
    ema = copy.deepcopy(net).eval().requires_grad_(False)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    state = {"perm": rng.permutation(len(images)), "pos": 0}

    def step():
        if state["pos"] + batch > len(state["perm"]):
            state["perm"], state["pos"] = rng.permutation(len(images)), 0
        pos = state["pos"]
        y = torch.from_numpy(images[state["perm"][pos:pos + batch]])
        state["pos"] = pos + batch
        n = torch.randn(batch)
        eps = torch.randn_like(y)
        t = (n * P_STD + P_MEAN).exp()
        d = net(y + eps * t.reshape(-1, 1, 1, 1), t)
        loss = ((d - y).square().reshape(batch, -1).sum(1).sqrt() / t).mean()  # stage −1: r = 0, target y
        loss.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for p in net.parameters():
            if p.grad is not None:
                torch.nan_to_num(p.grad, nan=0, posinf=1e5, neginf=-1e5, out=p.grad)
        opt.step()
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), net.parameters()):
                pe.lerp_(p, 1 - 0.995)

    return step


def main():
    if sys.argv[1] == "serve":
        serve(setup(int(sys.argv[2]), int(sys.argv[3])))
        return
    steps, batch, tick_steps, threads = (int(a) for a in sys.argv[1:5])
    step = setup(batch, threads)
    t0, tick = time.perf_counter(), 0
    for i in range(1, steps + 1):
        step()
        if i % tick_steps == 0:
            sec = time.perf_counter() - t0
            print(json.dumps({"side": "python", "tick": tick, "steps": i,
                              "images_per_sec": round(tick_steps * batch / sec, 3), "rss_mb": round(rss_mb(), 1)}),
                  flush=True)
            tick += 1
            t0 = time.perf_counter()


if __name__ == "__main__":
    main()
