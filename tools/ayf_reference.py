#!/usr/bin/env python3
"""Align Your Flow parity fixture: a PyTorch transcription of the paper's two continuous-time flow-map distillation
objectives (Sabour, Fidler, Kreis 2025, arXiv 2506.14603), run on a small network with fixed weights and draws;
writes cm-core/src/test/resources/reference/ayf-mlp-small.safetensors, which dev.cm4j.objectives.AlignYourFlowTest
compares cm4j's AlignYourFlow against (per-sample losses, tangents and the parameter gradient, <= 1e-4 relative).

Usage (the reference venv: torch, safetensors):
    $CM4J_PYTHON tools/ayf_reference.py [--out DIR] [--check]

No official code of AYF exists (NVIDIA released none; searched 2026-12). The paper's text was not reachable from this
machine; what is transcribed comes from the statements of its Theorems 3.1 and 3.2 as quoted in DSL-Lab's "A Unified
Framework for Diffusion Distillation" (DSL-Lab/DSL-Lab.github.io, _posts/2025-08-18-diff-distill.md) and from the
structure of its Algorithm 1 as two unofficial re-implementations give it (tec-works/FlowWithMe main.py
get_ayf_emd_loss; revsic/flowmodels AlignYourFlow.loss); docs/algorithms/ayf.md §1 lists what is assumed.

Written here in the paper's own terms, in the flow map f, not in cm4j's F-space form:
  * Euler parameterisation f(x_t, t, s) = x_t + (s - t) F(x_t, t, s) (Sec. 3.2), F fed (t, t - s);
  * flow path x_t = (1 - t) x_0 + t eps, teacher ODE dx_t/dt = v_phi(x_t, t);
  * AYF-EMD (Theorem 3.1): grad E[ w' sign(t - s) f^T sg(df/dt) ], df/dt the total derivative along the teacher's
    ODE = torch.func.jvp of f in (x_t, t) along (v_phi, 1) at fixed s;
  * AYF-LMD (Theorem 3.2): grad E[ w' sign(s - t) f^T sg(df/ds - v_phi(f, s)) ], df/ds = jvp of f in s;
  * tangent normalisation T / (||T|| + c) (Sec. 3.4, from sCM) and the regularised tangent warm-up, which scales the
    (s - t) dF/d. term of the tangent by r (for r < 1 the tangent is assembled from the parts: jvp of F);
  * autoguidance (Sec. 3.3): v = v_weak + lambda (v_strong - v_weak);
  * guidance-scale conditioning (cases *_wcond; cm4j's option, docs/algorithms/ayf.md sec. 2.1, not a transcription of
    the paper): a per-sample scale w ~ U[1, 3], the teacher v_weak + w (v_strong - v_weak) at each sample's w, and the
    student F(x, t, s; w) = the MLP with w's sinusoidal embedding times a weight W_g added to the noise embedding
    (cm4j's GuidanceEmbedding; W_g random here so that the path is exercised, zero at initialisation in cm4j).
With w' = 2 / |t - s| the theorems' gradient is that of cm4j's per-sample loss ||F - sg(F - g_hat)||^2; the fixture
stores the gradient of the theorem form (summed over the batch) for two weight matrices, the per-sample value of the
squared-norm form (= ||g_hat||^2) and the unnormalised tangent g in F's units (EMD: -df/dt, LMD: df/ds - v_phi).

The teacher is analytic: Gaussian data x_0 ~ N(mu, std^2 I), whose flow velocity is
v(x_t, t) = E[eps - x_0 | x_t] in closed form (written here directly from the Gaussian posterior; the Java test builds
it from the EDM denoiser D(x; sigma) = mu + std^2/(std^2 + sigma^2) (x - mu) through cm4j's D -> v conversion, so the
fixture also checks that conversion). The weak teacher of the autoguided cases is the same with a wrong std.

The network is cm4j's MLPDenoiser with the second-time path under TwoTimeNetwork, as transcribed in
tools/meanflow_reference.py (imported from there), with every weight drawn at random.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from meanflow_reference import DIM, HIDDEN, BLOCKS, EMB, make_params, mlp_forward, pos_emb, linear  # noqa: E402
from fixture_file import write_or_check  # noqa: E402

torch.set_default_dtype(torch.float32)
N = 16
MU, STD, STD_WEAK = 0.3, 0.8, 0.5


def gaussian_velocity(x, t, std=STD, mu=MU):
    """v(x_t, t) = E[eps | x_t] - E[x_0 | x_t] for x_0 ~ N(mu, std^2), eps ~ N(0, 1), x_t = (1 - t) x_0 + t eps."""
    tb = t.view(-1, 1)
    var = (1 - tb) ** 2 * std ** 2 + tb ** 2
    resid = x - (1 - tb) * mu
    e_x0 = mu + (1 - tb) * std ** 2 / var * resid
    e_eps = tb / var * resid
    return e_eps - e_x0


def teacher(guidance):
    if guidance == 1.0:
        return gaussian_velocity
    return lambda x, t: gaussian_velocity(x, t, STD_WEAK) + guidance * (
        gaussian_velocity(x, t) - gaussian_velocity(x, t, STD_WEAK))


def sample_ts(n_a, n_b, u, c):
    if c["tr_sampler"] == "interval":
        d = torch.sigmoid(n_a * c["P_std"] + c["P_mean"])
        s = u * (1 - d)
        return s + d, s
    a = torch.sigmoid(n_a * c["P_std"] + c["P_mean"])
    b = torch.sigmoid(n_b * c["P_std"] + c["P_mean"])
    return torch.maximum(a, b), torch.minimum(a, b)


def bc(t, x):
    """t [N] viewed as [N, 1, ...] against x."""
    return t.reshape([-1] + [1] * (x.dim() - 1))


def normalised(T, c):
    norm = T.reshape(T.shape[0], -1).norm(dim=1)
    return (T / bc(norm + c, T) if c > 0 else T), norm


def ayf(F_fn, v_phi, x0, eps, t, s, c):
    """One batch of AYF-EMD or AYF-LMD (c["loss"]) for the network F_fn(x, t, s) and the teacher v_phi(x, t).

    Returns (loss [N], g [N, ...], ||g|| [N], surrogate [N]); the surrogate's gradient is the theorem's.
    """
    tb, sb = bc(t, x0), bc(s, x0)
    x_t = (1 - tb) * x0 + tb * eps
    r = c["r"]

    def f_fn(x, t_, s_):
        return x + bc(s_ - t_, x) * F_fn(x, t_, s_)

    F = F_fn(x_t, t, s)
    f = x_t + (sb - tb) * F
    if c["loss"] == "emd":
        with torch.no_grad():
            v = v_phi(x_t, t)
            if r == 1.0:
                _, dfdt = torch.func.jvp(f_fn, (x_t, t, s), (v, torch.ones_like(t), torch.zeros_like(s)))
            else:
                _, dFdt = torch.func.jvp(F_fn, (x_t, t, s), (v, torch.ones_like(t), torch.zeros_like(s)))
                dfdt = (v - F) + r * (sb - tb) * dFdt
        T = dfdt                      # Theorem 3.1's tangent
        sign = torch.sign(t - s)
        g = -T                        # in F's units: f = x + (s - t) F
    else:
        with torch.no_grad():
            if r == 1.0:
                _, dfds = torch.func.jvp(f_fn, (x_t, t, s), (torch.zeros_like(x_t), torch.zeros_like(t),
                                                             torch.ones_like(s)))
            else:
                _, dFds = torch.func.jvp(F_fn, (x_t, t, s), (torch.zeros_like(x_t), torch.zeros_like(t),
                                                             torch.ones_like(s)))
                dfds = F + r * (sb - tb) * dFds
            T = dfds - v_phi(f, s)    # Theorem 3.2's tangent, the teacher at the map's end point
        sign = torch.sign(s - t)
        g = T
    T_hat, norm = normalised(T.detach(), c["c"])
    w = 2.0 / (t - s).abs()           # w' that makes the theorem's gradient cm4j's ||F - sg(F - g_hat)||^2's
    surrogate = w * sign * (f * T_hat).reshape(f.shape[0], -1).sum(dim=1)
    g_hat, _ = normalised(g.detach(), c["c"])
    loss = ((F - (F.detach() - g_hat)) ** 2).reshape(F.shape[0], -1).sum(dim=1)
    return loss, g.detach(), norm, surrogate


def mlp_F(p):
    return lambda x, t, s: mlp_forward(p, x, t, t - s)


def mlp_forward_w(p, x, t, h, w):
    """meanflow_reference.mlp_forward (cm4j's MLPDenoiser with the second-time path) with the guidance-scale embedding
    of cm4j's GuidanceEmbedding: pos_emb(w) W_g^T added to the noise embedding pos_emb(t) before map_layer0."""
    silu = torch.nn.functional.silu
    e0 = pos_emb(t, EMB) + torch.nn.functional.linear(pos_emb(w, EMB), p["wcond.map_guidance.weight"])
    emb = silu(linear(p, "net.map_layer1", silu(linear(p, "net.map_layer0", e0))))
    emb_s = silu(linear(p, "net.map_layer1_s", silu(linear(p, "net.map_layer0_s", pos_emb(h, EMB)))))
    y = linear(p, "net.in_proj", x)
    for i in range(BLOCKS):
        b = f"net.block{i}"
        cond = linear(p, b + ".affine", emb) + linear(p, b + ".affine_s", emb_s)
        a = silu(linear(p, b + ".lin0", silu(torch.nn.functional.layer_norm(y, (HIDDEN,), eps=1e-5))) + cond)
        y = y + linear(p, b + ".lin1", a)
    return linear(p, "net.out_proj", silu(y))


def mlp_F_w(p, w):
    return lambda x, t, s: mlp_forward_w(p, x, t, t - s, w)


def teacher_w(w):
    """Autoguidance at per-sample scales: v_weak + w (v_strong - v_weak), w [N]."""
    def v(x, t):
        weak = gaussian_velocity(x, t, STD_WEAK)
        return weak + bc(w, x) * (gaussian_velocity(x, t) - weak)
    return v


def edm_velocity(D, sigma_max=80.0):
    """v(x_t, t) = (x_t - D(x_t/(1 - t); t/(1 - t)))/t, sigma capped at sigma_max (docs/algorithms/ayf.md sec. 2)."""
    t_max = sigma_max / (1 + sigma_max)

    def v(x, t):
        tc = t.clamp(1e-6, t_max)
        return (x - D(x / bc(1 - tc, x), tc / (1 - tc))) / bc(t.clamp(min=1e-6), x)
    return v


BASE = dict(tr_sampler="interval", P_mean=-0.8, P_std=1.0, c=0.1, guidance=1.0)
CASES = {
    "emd": dict(BASE, loss="emd", r=0.5),
    "emd_full": dict(BASE, loss="emd", r=1.0, tr_sampler="sorted"),
    "emd_guided": dict(BASE, loss="emd", r=0.99, guidance=2.0),
    "lmd": dict(BASE, loss="lmd", r=0.5),
    "lmd_full": dict(BASE, loss="lmd", r=1.0, tr_sampler="sorted", c=0.0),
    "lmd_guided": dict(BASE, loss="lmd", r=0.99, guidance=2.0),
}
GRADS = ("net.out_proj.weight", "net.block0.lin0.weight")
# guidance-scale conditioning: w ~ U[W_MIN, W_MAX] per sample (drawn from its own generator after everything else, so
# the cases above are unchanged)
W_MIN, W_MAX = 1.0, 3.0
WCASES = {
    "emd_wcond": dict(BASE, loss="emd", r=0.5, guidance="per-sample"),
    "lmd_wcond": dict(BASE, loss="lmd", r=0.99, guidance="per-sample"),
}
WGRADS = GRADS + ("wcond.map_guidance.weight",)


def build():
    gen = torch.Generator().manual_seed(20250617)
    p = make_params(gen)
    out = dict(p)
    x0 = MU + STD * torch.randn(N, DIM, generator=gen)
    eps = torch.randn(N, DIM, generator=gen)
    n_a = torch.randn(N, generator=gen)
    n_b = torch.randn(N, generator=gen)
    u = torch.rand(N, generator=gen)
    out.update({"draw.x": x0, "draw.eps": eps, "draw.n_a": n_a, "draw.n_b": n_b, "draw.u": u})
    meta = {"network": json.dumps({"dim": DIM, "hidden": HIDDEN, "blocks": BLOCKS, "emb_channels": EMB,
                                   "dropout": 0.0, "s_embedding": True, "time_scale": 1.0}),
            "teacher": json.dumps({"mu": MU, "std": STD, "std_weak": STD_WEAK}),
            "source": "arXiv 2506.14603 Theorems 3.1/3.2 (as quoted in DSL-Lab/DSL-Lab.github.io "
                      "_posts/2025-08-18-diff-distill.md), Sec. 3.2-3.4; see docs/algorithms/ayf.md"}
    for name, c in CASES.items():
        params = {k: (v.clone().requires_grad_(k in GRADS)) for k, v in p.items()}
        t, s = sample_ts(n_a, n_b, u, c)
        loss, g, norm, surrogate = ayf(mlp_F(params), teacher(c["guidance"]), x0, eps, t, s, c)
        surrogate.sum().backward()
        out.update({f"{name}.t": t, f"{name}.s": s, f"{name}.loss": loss.detach(), f"{name}.g": g,
                    f"{name}.norm": norm})
        for k in GRADS:
            out[f"{name}.grad.{k}"] = params[k].grad.detach()
        meta[name] = json.dumps(c)
    gen_w = torch.Generator().manual_seed(20250618)
    u_w = torch.rand(N, generator=gen_w)
    w = W_MIN + (W_MAX - W_MIN) * u_w
    bound = (6.0 / (EMB + EMB)) ** 0.5
    pw = dict(p)
    pw["wcond.map_guidance.weight"] = (torch.rand(EMB, EMB, generator=gen_w) * 2 - 1) * bound
    out.update({"draw.u_w": u_w, "draw.w": w, "wcond.map_guidance.weight": pw["wcond.map_guidance.weight"]})
    meta["guidance_range"] = json.dumps({"min": W_MIN, "max": W_MAX})
    for name, c in WCASES.items():
        params = {k: (v.clone().requires_grad_(k in WGRADS)) for k, v in pw.items()}
        t, s = sample_ts(n_a, n_b, u, c)
        loss, g, norm, surrogate = ayf(mlp_F_w(params, w), teacher_w(w), x0, eps, t, s, c)
        surrogate.sum().backward()
        out.update({f"{name}.t": t, f"{name}.s": s, f"{name}.loss": loss.detach(), f"{name}.g": g,
                    f"{name}.norm": norm})
        for k in WGRADS:
            out[f"{name}.grad.{k}"] = params[k].grad.detach()
        meta[name] = json.dumps(c)
    return {k: v.contiguous() for k, v in out.items()}, meta


def songunet_step(loss="emd", batch=8, seed=0, lr=1e-3, warmup_iterations=10000):
    """One AYF training step on bench/objective_step.py's small SongUNet, for step benchmarks (not run by the fixture):
    the student F is the SongUNet with the second-time path fed (t, t - s), the teacher an EDM-preconditioned small
    SongUNet (random weights) converted by edm_velocity; draws as cm4j's (interval sampler), per-sample loss, mean,
    backward, Adam. Returns (step, student): step() runs one iteration and returns the loss."""
    bench = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench")
    sys.path.insert(0, bench)
    import edm_songunet as E  # noqa: E402
    from objective_step import small_net  # noqa: E402
    torch.manual_seed(seed)
    student = small_net(dropout=False, s_embedding=True)
    teacher_net = E.EDMPrecond(small_net(dropout=False)).requires_grad_(False).eval()
    v_phi = edm_velocity(lambda x, sigma: teacher_net(x, sigma), 80.0)
    opt = torch.optim.Adam(student.parameters(), lr=lr)
    x0 = torch.randn(batch, 3, 16, 16)
    it = [0]

    def F_fn(x, t, s):
        return student(x, t, s_noise_labels=t - s)

    def step():
        c = dict(BASE, loss=loss, r=min(0.99, it[0] / warmup_iterations) if warmup_iterations else 0.99)
        n_a, n_b, u = torch.randn(batch), torch.randn(batch), torch.rand(batch)
        t, s = sample_ts(n_a, n_b, u, c)
        per_sample = ayf(F_fn, v_phi, x0, torch.randn_like(x0), t, s, c)[0]
        value = per_sample.mean()
        opt.zero_grad()
        value.backward()
        opt.step()
        it[0] += 1
        return value.detach()
    return step, student


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "cm-core", "src", "test",
                                                  "resources", "reference"))
    ap.add_argument("--check", action="store_true", help="compare a rebuild with the committed file")
    a = ap.parse_args()
    path = os.path.join(a.out, "ayf-mlp-small.safetensors")
    tensors, meta = build()
    write_or_check(path, tensors, meta, a.check, atol=1e-7)


if __name__ == "__main__":
    main()
