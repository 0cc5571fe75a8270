#!/usr/bin/env python3
"""IMM parity fixture: a transcription of Inductive Moment Matching's training loss (Zhou, Ermon, Song 2025,
arXiv 2503.07565: Algorithm 1 / 3, Eq. 13, Eq. 67, Appendix C.5-C.8) built on the official preconditioner, and the
official pushforward sampler, run on a small network with fixed weights and draws. Writes
cm-core/src/test/resources/reference/imm-mlp-small.safetensors, which dev.cm4j.objectives.IMMTest compares cm4j's
IMM against (per-group losses to <= 1e-4 relative, the sampler's step schedules and samples).

Usage (the reference venv: torch, safetensors, numpy):
    $CM4J_PYTHON tools/imm_reference.py --imm PATH [--out DIR] [--check]

PATH is a checkout of github.com/lumalabs/imm, or its bare git directory (the fetch tool's mirror,
/work/.mirror/lumalabs+imm/repo); the files are read at the pinned commit below (a bare directory is extracted with
`git archive` into a temporary directory). No upstream code is copied into this repository: it is imported at run
time. Upstream's third-party imports that the used code never calls (timm, einops, requests, distutils, hydra,
omegaconf, torchvision) are stubbed in sys.modules.

What comes from upstream (lumalabs/imm @ PINNED, imported):
  * training/preconds.py IMMPrecond: get_logsnr / get_log_nt (eta = exp(log_nt)), get_alpha_sigma, add_noise, ddim
    (x_r from the same noise, Algorithm 3 lines 4-5), nt_to_t (eta^-1), nt_low / nt_high (eta_min, eta_max), and
    forward: c_in, the time labels (temb_type identity (t, s) / stride (t, t - s), time_scale), the float32 network
    call, and the three maps (f_type identity / simple_edm / euler_fm).
  * generate_images.py pushforward_generator_fn: the sampler and its step schedules (mid_nt, 'uniform', 'edm');
    restart_generator_fn: the restart sampler (its noise from torch's default generator, seeded).
What is transcribed from the paper (there is no official training code):
  * times: p(t) = U(eps, T), p(s|t) = U(eps, t) (Sec. 4.2, Appendix C.7), from uniform draws, in float64;
  * r(s, t) (Appendix C.6): constant decrement in eta (with the clamp at eta_min), in t, in lambda (sign: lambda_t +
    delta, so that r < t), constant increment in 1/eta; the minimum gap of Appendix I.6;
  * w(s, t) = 1/2 sigmoid(b - lambda_t) (-d lambda/dt) alpha_t^a / (alpha_t^2 + sigma_t^2) (Eq. 13);
  * the Laplace kernel exp(-w~(s,t) max(||x - y||, eps)/D) with w~ = 1/|c_out(s,t)| (Sec. 4.2, Appendix C.8, the
    c_out of Appendix C.5), the max on the squared norm; the RBF alternative exp(-w~ ||x - y||^2 / (2D)) (Eq. 68);
  * the per-group V-statistic (Eq. 67): mean k(y_t, y_t) + mean k(y_r, y_r) - 2 mean k(y_t, y_r), times w(s, t);
    y_t = f_{s,t}(x_t) with gradients, y_r = f_{s,r}(x_r) without (theta^- = sg(theta), Sec. 4.1).

The network is cm4j's MLPDenoiser with the second-time path (the transcription in tools/meanflow_reference.py,
imported), every weight drawn at random, registered into upstream's preconds module namespace so that IMMPrecond
builds it by model_type; IMMPrecond's 4-d reshapes take points as [N, D, 1, 1].
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import types

import torch

PINNED = "c9473e9395910d3dd03ffffb6b0a8b4fb760c3a1"
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import meanflow_reference as mf  # noqa: E402  (cm4j's MLPDenoiser transcription)
from fixture_file import write_or_check  # noqa: E402

B = 16


# ---------------------------------------------------------------------------
# Importing upstream at the pinned commit.

def _stub(name, **attrs):
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    sys.modules[name] = m
    return m


def import_upstream(path):
    if os.path.isdir(os.path.join(path, "training")):
        root = path
        head = subprocess.run(["git", "-C", path, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        if head and head != PINNED:
            print(f"warning: checkout at {head}, fixture pinned to {PINNED}", file=sys.stderr)
    else:
        root = tempfile.mkdtemp(prefix="imm-upstream-")
        arch = subprocess.run(["git", "--git-dir", path, "archive", PINNED], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", root], input=arch, check=True)

    class _Any:
        def __init__(self, *a, **k):
            pass

    _stub("timm"); _stub("timm.models"); _stub("timm.models.vision_transformer", PatchEmbed=_Any, Attention=_Any, Mlp=_Any)
    _stub("einops", repeat=None, rearrange=None, einsum=None)
    _stub("requests")
    _stub("distutils"); _stub("distutils.util", strtobool=lambda v: v)
    _stub("hydra", main=lambda *a, **k: (lambda f: f))
    _stub("omegaconf", OmegaConf=None)
    _stub("torchvision"); _stub("torchvision.utils")
    sys.path.insert(0, root)
    import training.preconds as preconds
    import generate_images
    return preconds, generate_images


# ---------------------------------------------------------------------------
# The network: cm4j's MLPDenoiser with the s path, as an upstream model_type.

class CmMLP(torch.nn.Module):
    """Upstream model_type calling convention around mf.mlp_forward; the weights are CmMLP.PARAMS (module level, so
    that upstream's persistence check can pickle the preconditioner)."""
    PARAMS = None

    def __init__(self, **kwargs):
        super().__init__()

    def forward(self, x, noise_labels_t, noise_labels_s=None, class_labels=None, **kw):
        n = x.shape[0]
        t = noise_labels_t.expand(n) if noise_labels_t.numel() == 1 else noise_labels_t
        s = noise_labels_s.expand(n) if noise_labels_s.numel() == 1 else noise_labels_s
        return mf.mlp_forward(CmMLP.PARAMS, x.reshape(n, -1), t, s).reshape(x.shape)


# ---------------------------------------------------------------------------
# The loss (paper transcription on top of IMMPrecond).

def c_out(net, s, t):
    at, st = net.get_alpha_sigma(t)
    as_, ss = net.get_alpha_sigma(s)
    if net.f_type == "identity":
        return as_ - at * ss / st
    if net.f_type == "simple_edm":
        return -(as_ * st - at * ss) * (at ** 2 + st ** 2).rsqrt() * net.sigma_data
    return -(t - s) * net.sigma_data  # euler_fm


def logsnr_prime(net, t):
    if net.noise_schedule == "fm":
        return -2.0 / (t * (1 - t))
    return -math.pi / (torch.sin(t * math.pi * 0.5) * torch.cos(t * math.pi * 0.5))


def mapping(net, s, t, c):
    k = 2.0 ** c["k"]
    eta = lambda u: net.get_log_nt(u).exp()
    if c["mapping"] == "eta":
        r = net.nt_to_t((eta(t) - (net.nt_high - net.nt_low) / k).clamp(min=net.nt_low))
    elif c["mapping"] == "t":
        r = t - (net.T - net.eps) / k
    elif c["mapping"] == "lambda":
        lam_max = net.get_logsnr(torch.tensor(net.eps, dtype=torch.float64))
        lam_min = net.get_logsnr(torch.tensor(net.T, dtype=torch.float64))
        lam = torch.minimum(net.get_logsnr(t) + (lam_max - lam_min) / k, lam_max)
        r = net.nt_to_t((-0.5 * lam).exp())
    else:  # inv_eta
        inv = torch.minimum(1 / eta(t) + (1 / net.nt_low - 1 / net.nt_high) / k,
                            torch.tensor(1 / net.nt_low, dtype=torch.float64))
        r = net.nt_to_t(1 / inv)
    if c["min_tr_gap"] > 0:
        r = torch.minimum(r, t - c["min_tr_gap"])
    return torch.maximum(r, s)


def weight(net, t, c):
    at, st = net.get_alpha_sigma(t)
    lam = net.get_logsnr(t)
    return 0.5 * torch.sigmoid(c["b"] - lam) * (-logsnr_prime(net, t)) * at ** c["a"] / (at ** 2 + st ** 2)


def laplace(x, y, w, eps):
    d = x.shape[-1]
    dist = ((x[:, :, None] - y[:, None]) ** 2).sum(-1).clamp_min(eps * eps).sqrt()
    return torch.exp(-w[:, None, None] * dist / d)


def rbf(x, y, w):
    d = x.shape[-1]
    return torch.exp(-0.5 * w[:, None, None] * ((x[:, :, None] - y[:, None]) ** 2).sum(-1) / d)


def imm_loss(net, x, e, u_t, u_s, c):
    """Per-group IMM losses (Eq. 67 times Eq. 13) for data x [B, ...] (points [B, D] or images [B, C, H, W]), noise e
    like x (standard normal; scaled by sigma_d here) and per-group uniforms u_t, u_s [B/M] (float64)."""
    M = c["M"]
    B = x.shape[0]
    t = net.eps + u_t * (net.T - net.eps)
    s = net.eps + u_s * (t - net.eps)
    r = mapping(net, s, t, c)
    rep = lambda v: v.repeat_interleave(M).view(-1, 1, 1, 1)
    x4, e4 = (x, e) if x.dim() == 4 else (x.view(B, -1, 1, 1), e.view(B, -1, 1, 1))
    yt, noise = net.add_noise(x4, rep(t), noise=e4 * net.sigma_data)
    yr = net.ddim(yt, x4, rep(t), rep(r), noise=noise)
    f_st = net(yt, rep(t), rep(s))
    with torch.no_grad():
        f_sr = net(yr, rep(r), rep(s))
    w_tilde = 1.0 / c_out(net, s, t).abs()
    a, b = f_st.reshape(B // M, M, -1), f_sr.reshape(B // M, M, -1)
    if c["kernel"] == "laplace":
        k = lambda p, q: laplace(p, q, w_tilde, c["kernel_eps"])
    else:  # the RBF kernel of Appendix C.8, Eq. 68
        k = lambda p, q: rbf(p, q, w_tilde)
    mmd = k(a, a).mean((1, 2)) + k(b, b).mean((1, 2)) - 2 * k(a, b).mean((1, 2))
    w = weight(net, t, c)
    return w * mmd, mmd, w, t, s, r, f_st, f_sr


def imm_train_step(net, optimizer, x, c, gen=None):
    """One IMM training step in PyTorch, for benchmarks: per-group uniforms (float64) and noise from gen (on x's
    device), imm_loss, the mean over groups, backward, optimizer.step(). net is an upstream IMMPrecond (e.g. built with
    model_type="SongUNet" and s_embed=True, the official CIFAR-10 network; or make_net's MLP), c a CASES-style dict
    whose schedule entries match net's. Returns the mean loss as a tensor (no host synchronisation)."""
    g = x.shape[0] // c["M"]
    u_t = torch.rand(g, generator=gen, dtype=torch.float64, device=x.device)
    u_s = torch.rand(g, generator=gen, dtype=torch.float64, device=x.device)
    e = torch.randn(x.shape, generator=gen, dtype=x.dtype, device=x.device)
    optimizer.zero_grad(set_to_none=True)
    loss = imm_loss(net, x, e, u_t, u_s, c)[0].mean()
    loss.backward()
    optimizer.step()
    return loss.detach()


BASE = dict(noise_schedule="fm", f_type="simple_edm", temb_type="identity", T=0.994, eps=0.006, time_scale=1000.0,
            sigma_data=0.5, M=4, mapping="eta", k=15, min_tr_gap=0.0, a=1.0, b=5.0, kernel_eps=1e-8,
            kernel="laplace")
CASES = {
    # the CIFAR-10 run (paper Table 5; configs/cifar10_generate_images.yaml)
    "cifar10": dict(BASE),
    # the ImageNet DiT-XL column's choices: Euler-FM, (t, t - s), eps 0, k 12, a 2, b 4, minimum gap 1e-4; M 2
    "eulerfm_stride": dict(BASE, f_type="euler_fm", temb_type="stride", eps=0.0, k=12, a=2.0, b=4.0, min_tr_gap=1e-4,
                           M=2),
    # cosine schedule, identity parameterisation, constant decrement in t (T 0.996, Appendix I.1)
    "cosine_identity_t": dict(BASE, noise_schedule="vp_cosine", f_type="identity", T=0.996, mapping="t", k=6),
    # constant decrement in lambda (eps 0.001, Appendix C.7) and increment in 1/eta (eps 0.005), small k
    "lambda": dict(BASE, eps=0.001, mapping="lambda", k=4, time_scale=1.0),
    "inv_eta": dict(BASE, eps=0.005, mapping="inv_eta", k=3, sigma_data=0.7),
    # the RBF kernel (Appendix C.8's alternative), k 8
    "rbf": dict(BASE, kernel="rbf", k=8),
}


def make_net(preconds, params, c):
    CmMLP.PARAMS = params
    preconds.CmMLP = CmMLP
    return preconds.IMMPrecond(img_resolution=1, img_channels=mf.DIM, label_dim=0, noise_schedule=c["noise_schedule"],
                               model_type="CmMLP", sigma_data=c["sigma_data"], f_type=c["f_type"], T=c["T"],
                               eps=c["eps"], temb_type=c["temb_type"], time_scale=c["time_scale"])


def build(upstream):
    preconds, gen_images = upstream
    gen = torch.Generator().manual_seed(20250311)
    params = mf.make_params(gen)
    for v in params.values():
        v.requires_grad_(True)
    out = {k: v.detach().clone() for k, v in params.items()}
    x = torch.randn(B, mf.DIM, generator=gen) * 0.5
    e = torch.randn(B, mf.DIM, generator=gen)
    u_t = torch.rand(B, generator=gen, dtype=torch.float64)
    u_s = torch.rand(B, generator=gen, dtype=torch.float64)
    out.update({"draw.x": x, "draw.eps": e, "draw.u_t": u_t, "draw.u_s": u_s})
    meta = {"network": json.dumps({"dim": mf.DIM, "hidden": mf.HIDDEN, "blocks": mf.BLOCKS,
                                   "emb_channels": mf.EMB, "dropout": 0.0, "s_embedding": True}),
            "source": f"lumalabs/imm@{PINNED} training/preconds.py IMMPrecond, generate_images.py "
                      "pushforward_generator_fn; arXiv 2503.07565 Alg. 1/3, Eq. 13, Eq. 67, App. C.5-C.8"}
    for name, c in CASES.items():
        net = make_net(preconds, params, c)
        g = B // c["M"]
        loss, mmd, w, t, s, r, yt, yr = imm_loss(net, x, e, u_t[:g], u_s[:g], c)
        for p in params.values():
            p.grad = None
        loss.mean().backward()
        out.update({f"{name}.loss": loss.detach(), f"{name}.mmd": mmd.detach(), f"{name}.weight": w,
                    f"{name}.t": t, f"{name}.s": s, f"{name}.r": r, f"{name}.yt": yt.detach().reshape(B, -1),
                    f"{name}.yr": yr.reshape(B, -1),
                    f"{name}.grad.out_proj": params["net.out_proj.weight"].grad.clone(),
                    f"{name}.grad.map_layer0_s": params["net.map_layer0_s.weight"].grad.clone()})
        meta[name] = json.dumps(c)

    # The official sampler: its step schedules, and its samples on the CIFAR-10 configuration.
    class Recorder:
        def __init__(self, net):
            self.net, self.steps = net, []

        def __getattr__(self, a):
            return getattr(self.net, a)

        def cfg_forward(self, x, t, s, **kw):
            self.steps.append((float(t), float(s)))
            return x

    z = torch.randn(B, mf.DIM, generator=gen)
    out["sample.z"] = z
    for cname in ("cifar10", "eulerfm_stride"):
        net = make_net(preconds, params, CASES[cname])
        kinds = {"one": dict(), "mid": dict(mid_nt=[1.4]), "mid3": dict(mid_nt=[9.0, 1.4, 0.3]),
                 "uniform4": dict(discretization="uniform", num_steps=4),
                 "uniform8": dict(discretization="uniform", num_steps=8),
                 "edm4": dict(discretization="edm", num_steps=4), "edm8": dict(discretization="edm", num_steps=8)}
        for kname, kw in kinds.items():
            rec = Recorder(net)
            gen_images.pushforward_generator_fn(rec, torch.zeros(1, 1), **kw)
            times = [rec.steps[0][0]] + [st[1] for st in rec.steps]
            out[f"schedule.{cname}.{kname}"] = torch.tensor(times, dtype=torch.float64)
        with torch.no_grad():
            for kname, kw in (("one", dict()), ("mid", dict(mid_nt=[1.4])), ("uniform4", dict(discretization="uniform", num_steps=4))):
                y = gen_images.pushforward_generator_fn(net, (z * net.sigma_data).view(B, -1, 1, 1), **kw)
                out[f"sample.{cname}.{kname}"] = y.reshape(B, -1).clone()
            # the restart sampler (Algorithm 5), its re-noising drawn from torch's default generator, seed 77
            for kname, kw in (("mid", dict(mid_nt=[1.4])), ("uniform4", dict(discretization="uniform", num_steps=4))):
                torch.manual_seed(77)
                y = gen_images.restart_generator_fn(net, (z * net.sigma_data).view(B, -1, 1, 1), **kw)
                out[f"restart.{cname}.{kname}"] = y.reshape(B, -1).clone()
    return {k: v.detach().contiguous() for k, v in out.items()}, meta


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--imm", required=True, help="lumalabs/imm checkout or bare git directory")
    ap.add_argument("--out", default=os.path.join(HERE, "..", "cm-core", "src", "test", "resources", "reference"))
    ap.add_argument("--check", action="store_true", help="compare a rebuild with the committed file")
    a = ap.parse_args()
    path = os.path.join(a.out, "imm-mlp-small.safetensors")
    tensors, meta = build(import_upstream(a.imm))
    write_or_check(path, tensors, meta, a.check, atol=1e-9)


if __name__ == "__main__":
    main()
