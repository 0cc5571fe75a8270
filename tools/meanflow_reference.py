#!/usr/bin/env python3
"""MeanFlow parity fixture: a PyTorch transcription of the official JAX MeanFlow loss, run on a small network with
fixed weights and draws; writes cm-core/src/test/resources/reference/meanflow-mlp-small.safetensors, which
dev.cm4j.objectives.MeanFlowParityTest compares cm4j's MeanFlow against (per-sample losses to <= 1e-4 relative).

Usage (the reference venv: torch, safetensors):
    $CM4J_PYTHON tools/meanflow_reference.py [--out DIR] [--check]

What is transcribed, and from where (read from the git mirrors, not imported: JAX/flax are not in the venv):
  * Gsunshine/meanflow @ d70cb55d298ee03c53bf6da67bec281082e4e2d9, meanflow.py
      - sample_tr, lines 147-157: two logit-normal draws (_logit_normal_dist, lines 138-142), t, r = max, min, then
        r = t for part of the batch;
      - forward, lines 206-246: z_t = (1 - t) x + t e, v = e - x (214-216); jax.jvp of u_fn(z_t, t, r) =
        net(z_t, t, t - r) along (v_g, 1, 0) (226-231); u_tgt = sg(v_g - clip(t - r, 0, 1) * du_dt) (235-236);
        loss = sum over pixels of (u - u_tgt)^2 (238-239); adaptive weight loss / sg((loss + norm_eps)^norm_p)
        (242-243). We keep the per-sample values (before line 246's batch mean).
    Here jax.jvp becomes torch.func.jvp over all three inputs (z, t, r) with tangents (v, 1, 0) -- r gets its zero
    tangent explicitly, while cm4j holds r fixed instead; the fixture checks that the two agree.
  * The time sampler variants of the official PyTorch CIFAR-10 code, Gsunshine/py-meanflow @
    1f6d72d94247c8fdeb89489acca1a8007a6baf6c, meanflow/models/time_sampler.py lines 22-59 ("v0": order, then
    r = t with probability 1 - ratio; "v1": r = t with probability 1 - ratio, then r = min(t, r)).

Where the re-implementations differ from the JAX code (all noted in docs/algorithms/meanflow.md §4):
  * JAX (sample_tr, 152-155) sets r = t for the *first* int(B * data_proportion) samples of the batch, a fixed
    count; py-meanflow draws a per-sample Bernoulli mask (prob < 1 - ratio). Both, and cm4j, take the mask from a
    draw here: the fixture passes the uniform draw u and sets r = t where u >= ratio (JAX's fraction of r = t is
    data_proportion = 1 - ratio).
  * JAX clips t - r to [0, 1] in the target (235); py-meanflow does not (meanflow.py line 57). With t >= r in [0, 1]
    the clip never acts.
  * JAX's default norm_eps is 0.01 (meanflow.py 84), py-meanflow's 1e-3 (train_arg_parser.py 65); the CIFAR-10 value
    is py-meanflow's.
  * py-meanflow computes the JVP in one pass with gradients (torch.func.jvp under autocast off, meanflow.py 54-57)
    and recommends, without compilation, a separate u pass plus a no-grad JVP pass sharing dropout masks (README):
    cm4j does the latter. Values are the same; the fixture uses dropout 0.
  * lucidrains' rectified-flow-pytorch mean_flow.py (another re-implementation) uses torch.autograd.functional.jvp,
    an optional Huber loss and a "prob_default_flow_obj" of r = t; not followed here.

The network is a transcription of cm4j's MLPDenoiser with the second-time path (dev.cm4j.nn.MLPDenoiser,
s_embedding = true) under the two-time adapter dev.cm4j.nn.TwoTimeNetwork (inputs t and h = t - r, time scale 1),
with every weight drawn at random (the zero-initialised layers too, so that each one matters), saved under net.*.

iMF's v-loss (arXiv 2512.02012) is also written out (imf.*): V = u + (t - r) sg(du/dt) with the JVP tangent
sg(u(z_t, t, t)), loss ||V - v||^2 with the same adaptive weight. No reference code of iMF was available: this is
cm4j's reading of the paper's description (docs/algorithms/meanflow.md §2.5), a check of the implementation against
an independent transcription of the same formula, not parity with an upstream source.
"""
import argparse
import json
import math
import os
import sys

import torch
from fixture_file import write_or_check  # tools/ is on sys.path: the script's own directory

torch.set_default_dtype(torch.float32)

DIM, HIDDEN, BLOCKS, EMB, N = 8, 32, 2, 16, 16


# ---------------------------------------------------------------------------
# The network: cm4j's MLPDenoiser with the s path (see the Java class for the structure).

def pos_emb(x, ch, max_positions=10000.0):
    half = ch // 2
    freqs = torch.arange(half, dtype=torch.float32) / (half - 1)
    freqs = (1.0 / max_positions) ** freqs
    xf = x[:, None] * freqs[None, :]
    return torch.cat([xf.cos(), xf.sin()], dim=1)


def linear(p, name, x):
    return torch.nn.functional.linear(x, p[name + ".weight"], p[name + ".bias"])


def mlp_forward(p, x, t, h):
    silu = torch.nn.functional.silu
    emb = silu(linear(p, "net.map_layer1", silu(linear(p, "net.map_layer0", pos_emb(t, EMB)))))
    emb_s = silu(linear(p, "net.map_layer1_s", silu(linear(p, "net.map_layer0_s", pos_emb(h, EMB)))))
    y = linear(p, "net.in_proj", x)
    for i in range(BLOCKS):
        b = f"net.block{i}"
        cond = linear(p, b + ".affine", emb) + linear(p, b + ".affine_s", emb_s)
        a = silu(linear(p, b + ".lin0", silu(torch.nn.functional.layer_norm(y, (HIDDEN,), eps=1e-5))) + cond)
        y = y + linear(p, b + ".lin1", a)
    return linear(p, "net.out_proj", silu(y))


def make_params(gen):
    shapes = {"net.map_layer0": (HIDDEN, EMB), "net.map_layer1": (HIDDEN, HIDDEN), "net.in_proj": (HIDDEN, DIM),
              "net.out_proj": (DIM, HIDDEN), "net.map_layer0_s": (HIDDEN, EMB), "net.map_layer1_s": (HIDDEN, HIDDEN)}
    for i in range(BLOCKS):
        for n in ("lin0", "affine", "lin1", "affine_s"):
            shapes[f"net.block{i}.{n}"] = (HIDDEN, HIDDEN)
    p = {}
    for name, (o, i) in shapes.items():
        bound = math.sqrt(6.0 / (o + i))
        p[name + ".weight"] = (torch.rand(o, i, generator=gen) * 2 - 1) * bound
        p[name + ".bias"] = (torch.rand(o, generator=gen) * 2 - 1) * 0.1
    return p


# ---------------------------------------------------------------------------
# The time samplers (JAX sample_tr / py-meanflow v0 and v1) with explicit draws.

def logit_normal(n, P_mean, P_std):
    return torch.sigmoid(n * P_std + P_mean)


def sample_tr(n_t, n_r, u, c):
    t = logit_normal(n_t, c["P_mean_t"], c["P_std_t"])
    r = logit_normal(n_r, c["P_mean_r"], c["P_std_r"])
    same = u >= c["ratio"]  # r = t with probability 1 - ratio (JAX: data_proportion)
    if c["tr_sampler"] == "v0":
        t, r = torch.maximum(t, r), torch.minimum(t, r)
        r = torch.where(same, t, r)
    else:
        r = torch.where(same, t, r)
        r = torch.minimum(t, r)
    return t, r


# ---------------------------------------------------------------------------
# The JAX forward (meanflow.py 206-246), per sample, with torch.func.jvp.

def bcast(t, x):
    """t [N] viewed as [N, 1, ...] to broadcast against x."""
    return t.view(-1, *([1] * (x.dim() - 1)))


def jvp_func(u_fn, primals, tangents):
    """(u, du/dt) in one torch.func.jvp call: JAX's jax.jvp (meanflow.py 226-231) and py-meanflow's one-pass form
    (meanflow.py 54-57); the primal output keeps its graph, so u's gradient flows as in a training step."""
    return torch.func.jvp(u_fn, primals, tangents)


def meanflow_loss(u_fn, x, e, t, r, c, jvp=jvp_func):
    """Per-sample MeanFlow loss of the network u_fn(z_t, t, r) (any shape of x: the sum runs over all but the batch
    dimension); jvp(u_fn, (z_t, t, r), (v, 1, 0)) -> (u, du/dt) may be replaced by another way of computing the same
    pair (bench/objective_step.py: a u pass plus a no-grad forward_ad pass)."""
    tb, rb = bcast(t, x), bcast(r, x)
    z_t = (1 - tb) * x + tb * e
    v = e - x
    v_g = v  # unconditional: guidance_eq off (no guidance for an unconditional model)
    u, du_dt = jvp(u_fn, (z_t, t, r), (v_g, torch.ones_like(t), torch.zeros_like(r)))
    u_tgt = (v_g - torch.clamp(tb - rb, 0.0, 1.0) * du_dt).detach()
    loss = ((u - u_tgt) ** 2).flatten(1).sum(dim=1)
    if c["norm_p"] > 0:
        loss = loss / ((loss + c["norm_eps"]) ** c["norm_p"]).detach()
    return loss, u, du_dt


def imf_loss(u_fn, x, e, t, r, c, jvp=jvp_func):
    """iMF's v-loss for the network u_fn(z_t, t, r) (see the module doc)."""
    tb, rb = bcast(t, x), bcast(r, x)
    z_t = (1 - tb) * x + tb * e
    v = e - x
    with torch.no_grad():
        v_hat = u_fn(z_t, t, t)  # u(z_t, t, t): the instantaneous velocity (h = t - t = 0)
    u, du_dt = jvp(u_fn, (z_t, t, r), (v_hat, torch.ones_like(t), torch.zeros_like(r)))
    V = u + (tb - rb) * du_dt.detach()
    loss = ((V - v) ** 2).flatten(1).sum(dim=1)
    if c["norm_p"] > 0:
        loss = loss / ((loss + c["norm_eps"]) ** c["norm_p"]).detach()
    return loss, u, du_dt


def mlp_u_fn(p):
    """u(z_t, t, r) of the fixture's MLP: the network fed (t, h = t - r), as dev.cm4j.nn.TwoTimeNetwork does."""
    return lambda z_t, t, r: mlp_forward(p, z_t, t, t - r)


CASES = {
    # the paper's CIFAR-10 settings (py-meanflow scripts/cifar10_v0.sh, train_arg_parser.py norm_eps)
    "cifar10": dict(P_mean_t=-2.0, P_std_t=2.0, P_mean_r=-2.0, P_std_r=2.0, ratio=0.75, tr_sampler="v0",
                    norm_p=0.75, norm_eps=1e-3),
    # py-meanflow's improved CIFAR-10 sampler (scripts/cifar10_v1.sh), without weighting
    "v1_plain": dict(P_mean_t=-0.6, P_std_t=1.6, P_mean_r=-4.0, P_std_r=1.6, ratio=0.75, tr_sampler="v1",
                     norm_p=0.0, norm_eps=1e-3),
    # the JAX defaults (configs/default.py: P -0.4/1.0, data_proportion 0.75 -> ratio 0.25, norm_p 1, norm_eps 0.01)
    "jax_default": dict(P_mean_t=-0.4, P_std_t=1.0, P_mean_r=-0.4, P_std_r=1.0, ratio=0.25, tr_sampler="v0",
                        norm_p=1.0, norm_eps=0.01),
}


def build():
    gen = torch.Generator().manual_seed(20250518)
    p = make_params(gen)
    out = dict(p)
    x = torch.randn(N, DIM, generator=gen) * 0.5
    e = torch.randn(N, DIM, generator=gen)
    n_t = torch.randn(N, generator=gen)
    n_r = torch.randn(N, generator=gen)
    u_ratio = torch.rand(N, generator=gen)
    out.update({"draw.x": x, "draw.eps": e, "draw.n_t": n_t, "draw.n_r": n_r, "draw.u_ratio": u_ratio})
    meta = {"network": json.dumps({"dim": DIM, "hidden": HIDDEN, "blocks": BLOCKS, "emb_channels": EMB,
                                   "dropout": 0.0, "s_embedding": True, "time_scale": 1.0}),
            "source": "Gsunshine/meanflow@d70cb55 meanflow.py 138-157, 206-246; "
                      "Gsunshine/py-meanflow@1f6d72d meanflow/models/time_sampler.py 22-59"}
    for name, c in CASES.items():
        t, r = sample_tr(n_t, n_r, u_ratio, c)
        loss, u, dudt = meanflow_loss(mlp_u_fn(p), x, e, t, r, c)
        out.update({f"{name}.t": t, f"{name}.r": r, f"{name}.loss": loss.detach(), f"{name}.u": u.detach(),
                    f"{name}.dudt": dudt.detach()})
        meta[name] = json.dumps(c)
    c = CASES["cifar10"]
    t, r = sample_tr(n_t, n_r, u_ratio, c)
    loss, u, dudt = imf_loss(mlp_u_fn(p), x, e, t, r, c)
    out.update({"imf.loss": loss.detach(), "imf.dudt": dudt.detach()})
    meta["imf"] = json.dumps(dict(c, loss="v"))
    return {k: v.contiguous() for k, v in out.items()}, meta


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "cm-core", "src", "test",
                                                  "resources", "reference"))
    ap.add_argument("--check", action="store_true", help="compare a rebuild with the committed file")
    a = ap.parse_args()
    path = os.path.join(a.out, "meanflow-mlp-small.safetensors")
    tensors, meta = build()
    write_or_check(path, tensors, meta, a.check, atol=1e-7)


if __name__ == "__main__":
    main()
