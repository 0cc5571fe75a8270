"""One SongUNet training step, Python side of bench/songunet_step.sh (the Java side: cm-bench's
dev.cm4j.bench.SongUNetStep).

EDMPrecond(SongUNet) from bench/edm_songunet.py (EDM's network: same parameters, initialisation and ops), loss =
mean((D(x + σn, σ) − x)²) with σ = exp(1.2·N(0,1) − 1.2), backward, Adam (lr 1e-3), as a user writes it.

Usage:
  python songunet_step.py time <small|ddpmpp> [--timing W,S,R] [--variants default,fused]
      default: torch.optim.Adam as constructed by default (on the CPU: the per-tensor for-loop implementation)
      fused:   torch.optim.Adam(fused=True), the same ATen kernel cm4j's Adam uses by default
  python songunet_step.py serve <small|ddpmpp> [--variants default|fused]
      builds the model, prints "ready", then runs one step per "step" line on stdin and answers with the step's
      thread CPU time and wall time in ms; ends at "quit" or end of input (bench/paired.py drives it)
  python songunet_step.py check <small|ddpmpp> <java-export.safetensors> [--upstream DIR]
      parity with cm4j: parameter names, shapes and count; the eval-mode output D and the gradients for the
      weights Java exported; with --upstream, also against the EDM fixture in DIR (songunet-ddpmpp-small).
"""
import argparse
import json
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file

import edm_songunet as E
from step_harness import measure, parse_timing, serve

SMALL = {"img_resolution": 16, "img_channels": 3, "model_channels": 32, "channel_mult": [1, 2], "num_blocks": 1,
         "attn_resolutions": [8]}
# CIFAR-10 DDPM++ as EDM/ECT configure it (cm4j's SongUNet.Config.ddpmpp(32, 3, 0)).
DDPMPP = {"img_resolution": 32, "img_channels": 3, "model_channels": 128, "channel_mult": [2, 2, 2],
          "channel_mult_emb": 4, "num_blocks": 4, "attn_resolutions": [16], "dropout": 0.0,
          "embedding_type": "positional", "channel_mult_noise": 1, "encoder_type": "standard",
          "decoder_type": "standard", "resample_filter": [1, 1]}
CASES = {"small": (SMALL, 8), "ddpmpp": (DDPMPP, 4)}


def build(case, **extra):
    cfg, batch = CASES[case]
    kw = E.songunet_kwargs(cfg)
    kw.update(extra)
    return E.EDMPrecond(E.SongUNet(**kw)), batch


def make_step(case, variant):
    """The training step of `case` with Adam `variant` ("default" or "fused"), on a data batch kept for the run."""
    torch.manual_seed(0)
    net, b = build(case)
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, **({"fused": True} if variant == "fused" else {}))
    res = CASES[case][0]["img_resolution"]
    ch = CASES[case][0]["img_channels"]
    x = torch.randn(b, ch, res, res)

    def step():
        sigma = (torch.randn(b) * 1.2 - 1.2).exp()
        n = torch.randn_like(x)
        D = net(x + n * sigma.reshape(-1, 1, 1, 1), sigma)
        loss = (D - x).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def time_case(case, timing, variants):
    for variant in variants:
        measure(f"songunet_{case}", f"py_{variant}", timing, make_step(case, variant))


def rel(a, b):
    """max |a − b| / max |b|."""
    return ((a - b).abs().max() / b.abs().max().clamp(min=1e-30)).item()


def check(case, path, upstream):
    ok = True
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    t = load_file(path)
    java_sd = {k: v for k, v in t.items() if k.startswith("model.")}
    torch.manual_seed(0)
    net, _ = build(case, dropout=0.0)  # parity in eval mode: dropout has no effect there anyway
    sd = net.state_dict()
    same_keys = set(sd) == set(java_sd)
    bad_shapes = [k for k in sd if k in java_sd and tuple(sd[k].shape) != tuple(java_sd[k].shape)]
    n_py = sum(p.numel() for p in net.parameters())
    n_java = int(meta["parameter_count"])
    print(f"[{case}] state dict: python {len(sd)} keys, java {len(java_sd)} keys, same names {same_keys}, "
          f"shape mismatches {len(bad_shapes)}; parameters python {n_py:,} java {n_java:,}")
    if not same_keys:
        print("  only python:", sorted(set(sd) - set(java_sd))[:10], " only java:", sorted(set(java_sd) - set(sd))[:10])
    ok &= same_keys and not bad_shapes and n_py == n_java
    init_diff = max((sd[k] - java_sd[k]).abs().max().item() for k in sd if k in java_sd) if same_keys else float("nan")
    print(f"[{case}] initial weights from seed 0: max |python − java| = {init_diff:.3g} (informational)")

    net.load_state_dict(java_sd, strict=True)
    net.eval()
    x, sigma, n = t["in.x"], t["in.sigma"], t["in.noise"]
    D = net(x + n * sigma.reshape(-1, 1, 1, 1), sigma)
    loss = (D - x).square().mean()
    loss.backward()
    r_d = rel(D.detach(), t["out.D"])
    r_loss = rel(loss.detach(), t["out.loss"])
    r_grad, worst = 0.0, ""
    for name, p in net.named_parameters():
        r = rel(p.grad, t["grad." + name])
        if r > r_grad:
            r_grad, worst = r, name
    print(f"[{case}] eval output D: max|Δ|/max|D| = {r_d:.2e}; loss {r_loss:.2e}; "
          f"gradients: worst max|Δ|/max|g| = {r_grad:.2e} ({worst})")
    ok &= r_d <= 1e-4 and r_loss <= 1e-4 and r_grad <= 1e-3

    if upstream:
        p = f"{upstream}/songunet-ddpmpp-small.safetensors"
        with safe_open(p, "pt") as f:
            ucfg = json.loads(f.metadata()["config"])
        u = load_file(p)
        unet = E.EDMPrecond(E.SongUNet(**E.songunet_kwargs(ucfg), dropout=0.0))
        unet.load_state_dict({k[4:]: v for k, v in u.items() if k.startswith("net.")}, strict=True)
        unet.eval()
        with torch.no_grad():
            ud = unet(u["input.x_noisy"], u["input.sigma"])
        r_up = rel(ud, u["expected.D"])
        print(f"[upstream] bench/edm_songunet.py vs EDM's own networks.py on the reference fixture: "
              f"max|Δ|/max|D| = {r_up:.2e}")
        ok &= r_up <= 1e-4
    print(f"[{case}] parity: {'PASS' if ok else 'FAIL'}")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["time", "check", "serve"])
    ap.add_argument("case", choices=list(CASES))
    ap.add_argument("file", nargs="?")
    ap.add_argument("--timing")
    ap.add_argument("--variants", default="default,fused")
    ap.add_argument("--upstream")
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.cmd == "serve":
        serve(make_step(a.case, a.variants.split(",")[0]))
    elif a.cmd == "time":
        dflt = (3, 2.0, 21) if a.case == "small" else (2, 0.0, 5)
        time_case(a.case, parse_timing(a.timing, dflt), a.variants.split(","))
    else:
        sys.exit(0 if check(a.case, a.file, a.upstream) else 1)


if __name__ == "__main__":
    main()
