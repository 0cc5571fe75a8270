"""One training step per objective on the small SongUNet, Python side of bench/objective_step.sh and
bench/objective_paired.sh (the Java side: cm-bench's dev.cm4j.bench.ObjectiveStep). Each objective is written out in
PyTorch as cm4j computes it (cm-core's dev.cm4j.objectives.ECT, SCM, CTM and MeanFlow; MeanFlow's loss is
tools/meanflow_reference.py's transcription of the official one), on the network of bench/edm_songunet.py with
plain-op attention (as cm4j; EDM's AttentionOp has no forward-mode rule, which the JVPs need). A step: draws,
per-sample loss, mean, backward, Adam (lr 1e-3); no EMA.

Usage:
  python objective_step.py time <objective> [--timing W,S,R] [--variants default,fused,...]
      objectives: ect, sct, ctm, meanflow (MeanFlow's u-loss), meanflow_v (iMF's v-loss), ayf (AYF-EMD,
      tools/ayf_reference.py's loss, as its songunet_step), imm (IMM: tools/imm_reference.py's loss on upstream
      lumalabs/imm's IMMPrecond, as its imm_train_step; upstream from $IMM_UPSTREAM, a checkout or bare git
      directory, default /work/.mirror/lumalabs+imm/repo)
      default: torch.optim.Adam as constructed by default (on the CPU: the per-tensor for-loop implementation)
      fused:   torch.optim.Adam(fused=True) (the ATen kernel cm4j's Adam uses by default)
      sct also: fused+func — the JVP by torch.func.jvp instead of torch.autograd.forward_ad
      meanflow(_v): a suffix picks the JVP form: +func (py-meanflow's step: one torch.func.jvp pass with gradients),
      +fwad2 (cm4j's: a u pass, then a no-grad forward_ad pass with the same dropout masks), +func2 (the same two
      passes with torch.func.jvp)
  python objective_step.py serve <objective> [--variants V]
      the step protocol of bench/paired.py for variant V (default: the first of the objective's defaults)
  python objective_step.py parts sct [--timing W,S,R]
      diagnostic: the parts of an sCT step (no-grad forward, forward, forward + backward, JVP), as cm-bench's
      dev.cm4j.bench.JvpCost times them
  python objective_step.py check <objective> <java-export.safetensors> [--upstream DIR]
      parity with cm4j on the same weights and draws (network dropout 0); with --upstream, the ECT loss is also
      checked against the upstream ECT fixture in DIR (songunet-ddpmpp-small.safetensors).
"""
import argparse
import json
import math
import os
import random
import sys

import torch
import torch.autograd.forward_ad as fwAD
from safetensors import safe_open
from safetensors.torch import load_file

import edm_songunet as E
from step_harness import measure, parse_timing, serve

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import meanflow_reference as MF  # noqa: E402  (tools/: the transcription of the official MeanFlow loss)
import ayf_reference as AR  # noqa: E402  (tools/: the AYF transcription and its songunet_step)

SMALL = {"img_resolution": 16, "img_channels": 3, "model_channels": 32, "channel_mult": [1, 2], "num_blocks": 1,
         "attn_resolutions": [8]}
BATCH = 8
CTM_K = 3


def small_net(dropout=True, s_embedding=False):
    kw = E.songunet_kwargs(SMALL)
    if not dropout:
        kw["dropout"] = 0.0
    return E.SongUNet(**kw, s_embedding=s_embedding, attention_op=False)


def bcast(t):
    return t.reshape(-1, 1, 1, 1)


def sum_sq(a, b):
    return (a - b).square().reshape(a.shape[0], -1).sum(1)


# ECT (cm4j's ECT, CIFAR-10 settings) --------------------------------------------------------------------------------

ECT_CFG = dict(P_mean=-1.1, P_std=2.0, q=2.0, k=8.0, b=1.0)


def ect_r(t, stage):
    c = ECT_CFG
    decay = 1 / c["q"] ** (stage + 1)
    adj = (t * -c["b"]).sigmoid() * c["k"] + 1
    return (t * (1 - adj * decay)).clamp(min=0)


def ect_loss(net, y, stage, n, eps):
    t = (n * ECT_CFG["P_std"] + ECT_CFG["P_mean"]).exp()
    r = ect_r(t, stage)
    tb, rb = bcast(t), bcast(r)
    any_r = r.amax().item() > 0
    state = torch.get_rng_state()  # the target pass reuses the student pass's dropout masks
    d_yt = net(y + eps * tb, t)
    torch.set_rng_state(state)
    if any_r:
        with torch.no_grad():
            d_yr = net(y + eps * rb, r).nan_to_num()
            target = torch.where(rb > 0, d_yr, y)
    else:
        target = y
    return sum_sq(d_yt, target.detach()).sqrt() / (t - r)


# sCT (cm4j's SCM with TrigFlow IDENTITY, CIFAR-10 settings) ----------------------------------------------------------

SCM_CFG = dict(P_mean=-1.0, P_std=1.4, warmup=10_000, c=0.1)


def scm_time(n, sd):
    return (n * SCM_CFG["P_std"] + SCM_CFG["P_mean"]).exp().div(sd).atan()


def scm_loss(net, w, x0, iteration, t, z_unit, jvp="forward_ad"):
    sd = net.sigma_data
    tb = bcast(t)
    cos, sin = tb.cos(), tb.sin()
    z = z_unit * sd
    xt = cos * x0 + sin * z
    v = cos * z - sin * x0
    state = torch.get_rng_state()
    f = net.raw_f(xt, t)
    torch.set_rng_state(state)
    with torch.no_grad():
        cs = cos * sin
        if jvp == "forward_ad":
            with fwAD.dual_level():
                out = net.raw_f(fwAD.make_dual(xt, cs * v), fwAD.make_dual(t, cs.flatten()))
                df = fwAD.unpack_dual(out).tangent
        else:
            _, df = torch.func.jvp(net.raw_f, (xt, t), (cs * v, cs.flatten()))
    f_minus = f.detach()
    df = df.detach()
    r = 1.0 if SCM_CFG["warmup"] == 0 else min(1.0, iteration / SCM_CFG["warmup"])
    c64, s64 = cos.double(), sin.double()
    first = -(c64.square() * (f_minus.double() * sd - v.double()))
    second = c64 * s64 * xt.double() + df.double() * sd
    raw = (first - second * r).to(f_minus.dtype)
    norm = raw.reshape(raw.shape[0], -1).norm(2, dim=1)
    g = raw / bcast(norm + SCM_CFG["c"])
    d = x0[0].numel()
    logw = w(t)  # noise labels = t (IDENTITY)
    mse = (f - f_minus - g).square().reshape(f.shape[0], -1).sum(1)
    return logw.exp() / d * mse - logw, logw, norm


# CTM (cm4j's CTM, CIFAR-10 settings, k fixed) -------------------------------------------------------------------------

CTM_CFG = dict(N=18, sigma_min=0.002, sigma_max=80.0, rho=7.0, dsm_P_mean=-1.2, dsm_P_std=1.2, dsm_v_max=0.7)


def karras(n, smin, smax, rho):
    a, b = smax ** (1 / rho), smin ** (1 / rho)
    return [(a + i / (n - 1) * (b - a)) ** rho for i in range(n)]


GRID = karras(CTM_CFG["N"], CTM_CFG["sigma_min"], CTM_CFG["sigma_max"], CTM_CFG["rho"])


def sigmas(idx):
    return torch.tensor([GRID[int(i)] for i in idx], dtype=torch.float64).to(torch.float32)


def heun(teacher, x, levels):
    with torch.no_grad():
        xs = x
        for tj, tn in zip(levels[:-1], levels[1:]):
            tjb, tnb = bcast(tj), bcast(tn)
            d = (xs - teacher(xs, tj)) / tjb
            xp = xs + d * (tnb - tjb)
            dp = (xp - teacher(xp, tn)) / tnb
            xs = xs + (d + dp) * 0.5 * (tnb - tjb)
        return xs


def dsm_sigmas(batch, gen=None):
    c = CTM_CFG
    half = batch // 2
    ln = (torch.randn([batch - half], generator=gen) * c["dsm_P_std"] + c["dsm_P_mean"]).exp()
    v = torch.rand([half], generator=gen) * c["dsm_v_max"]
    a, b = c["sigma_max"] ** (1 / c["rho"]), c["sigma_min"] ** (1 / c["rho"])
    return torch.cat([ln, (v * (b - a) + a).pow(c["rho"])], 0)


def draw_fixed_k(x, rnd):
    n = [rnd.randrange(CTM_CFG["N"] - CTM_K) for _ in range(x.shape[0])]
    m = [ni + CTM_K + rnd.randrange(CTM_CFG["N"] - ni - CTM_K) for ni in n]
    return n, m, torch.randn_like(x)


def ctm_loss(student, target, teacher, x, n, m, z, last_layer, gen=None):
    nk = [ni + CTM_K for ni in n]
    t, u, s = sigmas(n), sigmas(nk), sigmas(m)
    s_min = torch.full([x.shape[0]], CTM_CFG["sigma_min"], dtype=torch.float32)
    xt = x + z * bcast(t)
    est = target.jump(student.jump(xt, t, s), s, s_min)
    with torch.no_grad():
        xu = heun(teacher, xt, [sigmas([ni + j for ni in n]) for j in range(CTM_K + 1)])
        tgt = target.jump(student.jump(xu, u, s), s, s_min)
    ctm = sum_sq(est, tgt.detach()) / est[0].numel()
    sigma = dsm_sigmas(x.shape[0], gen)
    noisy = x + torch.randn(x.shape, generator=gen) * bcast(sigma)
    sd = student.sigma_data
    lam = (sigma.square() + sd * sd) / (sigma * sd).square()
    dsm = (student(noisy, sigma) - x).square().reshape(x.shape[0], -1).mean(1) * lam
    g_ctm = torch.autograd.grad(ctm.mean(), [last_layer], retain_graph=True, allow_unused=True)[0]
    g_dsm = torch.autograd.grad(dsm.mean(), [last_layer], retain_graph=True, allow_unused=True)[0]
    nc = 0.0 if g_ctm is None else g_ctm.norm().item()
    nd = 0.0 if g_dsm is None else g_dsm.norm().item()
    lam_dsm = max(0.0, min(1e4, nc / (nd + 1e-4)))
    return ctm, dsm, lam_dsm


def ctm_nets(dropout=True, separate_target=False):
    torch.manual_seed(0)
    student = E.CTMPrecond(small_net(dropout, s_embedding=True))
    if separate_target:
        torch.manual_seed(2)
    target = E.CTMPrecond(small_net(dropout, s_embedding=True))
    if not separate_target:
        target.load_state_dict(student.state_dict())
    target.requires_grad_(False).eval()
    torch.manual_seed(3)
    teacher = E.EDMPrecond(small_net(dropout))
    teacher.requires_grad_(False).eval()
    return student, target, teacher


class SctPair(torch.nn.Module):
    def __init__(self, dropout=True):
        super().__init__()
        self.net = E.TrigFlowPrecond(small_net(dropout))
        self.logvar = E.AdaptiveWeight(128)


# MeanFlow (cm4j's MeanFlow, CIFAR-10 settings; the loss is tools/meanflow_reference.py's) ---------------------------

MF_CFG = MF.CASES["cifar10"]  # logit-normal (-2, 2) for t and r, ratio 0.75, sampler v0, p 0.75, norm_eps 1e-3


def meanflow_u_fn(net):
    """u(z_t, t, r) = F(z_t, t, t - r): the SongUNet with the second-time path fed (t, t - r), time scale 1, as
    cm4j's TwoTimeNetwork."""
    return lambda z, t, r: net(z, t, None, None, t - r)


def jvp_two_pass_fwad(u_fn, primals, tangents):
    """(u, du/dt) as cm4j computes them (py-meanflow README's form without compilation): the u pass with gradients,
    then one no-grad forward_ad pass along (v, 1) in (z, t) with r held fixed and the same dropout masks."""
    (z, t, r), (vz, vt, _) = primals, tangents
    state = torch.get_rng_state()
    u = u_fn(z, t, r)
    torch.set_rng_state(state)
    with torch.no_grad(), fwAD.dual_level():
        du_dt = fwAD.unpack_dual(u_fn(fwAD.make_dual(z, vz), fwAD.make_dual(t, vt), r)).tangent
    return u, du_dt


def jvp_two_pass_func(u_fn, primals, tangents):
    """The same two passes with the JVP by torch.func.jvp (r closed over)."""
    (z, t, r), (vz, vt, _) = primals, tangents
    state = torch.get_rng_state()
    u = u_fn(z, t, r)
    torch.set_rng_state(state)
    with torch.no_grad():
        _, du_dt = torch.func.jvp(lambda z_, t_: u_fn(z_, t_, r), (z, t), (vz, vt))
    return u, du_dt


# The JVP forms of the MeanFlow step (the variant's suffix after "+"): "func" is py-meanflow's training step (one
# torch.func.jvp with gradients, meanflow.py 54-57) and the reference's own; "fwad2" is cm4j's computation; "func2"
# the same two passes with torch.func.jvp.
MF_JVP = {"func": MF.jvp_func, "fwad2": jvp_two_pass_fwad, "func2": jvp_two_pass_func}


def meanflow_loss(net, x, kind, n_t, n_r, u_ratio, e, jvp=MF.jvp_func):
    """Per-sample MeanFlow (kind "u") or iMF (kind "v") loss, with (du/dt) for the check."""
    t, r = MF.sample_tr(n_t, n_r, u_ratio, MF_CFG)
    fn = MF.meanflow_loss if kind == "u" else MF.imf_loss
    loss, _, du_dt = fn(meanflow_u_fn(net), x, e, t, r, MF_CFG, jvp=jvp)
    return loss, du_dt


def meanflow_net(dropout=True):
    return small_net(dropout, s_embedding=True)


# AYF (tools/ayf_reference.py's loss, as its songunet_step: AYF-EMD, interval sampler, c 0.1, warm-up 10k) -------------

def ayf_nets():
    """The student (SongUNet with the s path, fed (t, t - s)) and the fixed teacher, an EDM-preconditioned small SongUNet
    (seed 3, as cm-bench's AyfNets) as a flow velocity; dropout 0 (as songunet_step)."""
    torch.manual_seed(0)
    student = small_net(dropout=False, s_embedding=True)
    torch.manual_seed(3)
    teacher = E.EDMPrecond(small_net(dropout=False)).requires_grad_(False).eval()
    return student, teacher


def ayf_loss(student, teacher, x, r, n_a, n_b, u, e):
    c = dict(AR.BASE, loss="emd", r=r)
    t, s = AR.sample_ts(n_a, n_b, u, c)
    v_phi = AR.edm_velocity(lambda x_, sigma: teacher(x_, sigma), 80.0)
    return AR.ayf(lambda x_, t_, s_: student(x_, t_, None, None, t_ - s_), v_phi, x, e, t, s, c)


# IMM (tools/imm_reference.py's loss on upstream's IMMPrecond, CIFAR-10 settings) ------------------------------------

IMM_UP = []


def imm_upstream():
    if not IMM_UP:
        import contextlib
        import imm_reference as IR
        with contextlib.redirect_stdout(sys.stderr):
            IMM_UP.append((IR, IR.import_upstream(os.environ.get("IMM_UPSTREAM", "/work/.mirror/lumalabs+imm/repo"))))
    return IMM_UP[0]


class ImmSongUNet(E.SongUNet):
    """The small SongUNet with the s path (dropout 0) in upstream's model_type calling convention
    model(x, c_noise_t, c_noise_s, class_labels=...); built by upstream's IMMPrecond as its child "model"."""

    def __init__(self, **upstream_kwargs):
        kw = E.songunet_kwargs(SMALL)
        kw["dropout"] = 0.0
        super().__init__(**kw, s_embedding=True, attention_op=False)

    def forward(self, x, noise_t, noise_s=None, class_labels=None, **kw):
        return super().forward(x, noise_t, None, None, noise_s)


def imm_net():
    IR, (preconds, _) = imm_upstream()
    c = IR.CASES["cifar10"]
    preconds.ImmSongUNet = ImmSongUNet
    torch.manual_seed(0)
    import contextlib
    with contextlib.redirect_stdout(sys.stderr):  # IMMPrecond prints its parameter count; stdout is serve's protocol
        net = preconds.IMMPrecond(img_resolution=SMALL["img_resolution"], img_channels=SMALL["img_channels"],
                                  label_dim=0, noise_schedule=c["noise_schedule"], model_type="ImmSongUNet",
                                  sigma_data=c["sigma_data"], f_type=c["f_type"], T=c["T"], eps=c["eps"],
                                  temb_type=c["temb_type"], time_scale=c["time_scale"])
    return IR, net, c


# Timing -------------------------------------------------------------------------------------------------------------

def build_ect(variant):
    torch.manual_seed(0)
    net = E.EDMPrecond(small_net())
    return net.parameters(), lambda x: ect_loss(net, x, 1, torch.randn(BATCH), torch.randn_like(x)).mean()


def build_sct(variant):
    torch.manual_seed(0)
    pair = SctPair()
    it = [0]
    jvp = "func" if variant.endswith("+func") else "forward_ad"

    def loss_fn(x):
        t = scm_time(torch.randn(BATCH), 0.5)
        loss = scm_loss(pair.net, pair.logvar, x, it[0], t, torch.randn_like(x), jvp)[0].mean()
        it[0] += 1
        return loss
    return pair.parameters(), loss_fn


def build_ctm(variant):
    student, target, teacher = ctm_nets()
    last = student.model.dec["16x16_aux_conv"].weight
    rnd = random.Random(0)

    def loss_fn(x):
        n, m, z = draw_fixed_k(x, rnd)
        ctm, dsm, lam = ctm_loss(student, target, teacher, x, n, m, z, last)
        return ctm.mean() + dsm.mean() * lam
    return student.parameters(), loss_fn


def build_meanflow(kind):
    def build(variant):
        torch.manual_seed(0)
        net = meanflow_net()
        jvp = MF_JVP[variant.split("+")[1] if "+" in variant else "func"]

        def loss_fn(x):  # draws in cm4j's order: n_t, n_r, u_ratio, eps
            n_t, n_r, u_ratio = torch.randn(BATCH), torch.randn(BATCH), torch.rand(BATCH)
            return meanflow_loss(net, x, kind, n_t, n_r, u_ratio, torch.randn_like(x), jvp)[0].mean()
        return net.parameters(), loss_fn
    return build


def build_ayf(variant):
    student, teacher = ayf_nets()
    it = [0]

    def loss_fn(x):  # draws in cm4j's order: n_a, n_b, u, eps; warm-up r = min(0.99, iteration / 10k)
        n_a, n_b, u = torch.randn(BATCH), torch.randn(BATCH), torch.rand(BATCH)
        loss = ayf_loss(student, teacher, x, min(0.99, it[0] / 10_000), n_a, n_b, u, torch.randn_like(x))[0].mean()
        it[0] += 1
        return loss
    return student.parameters(), loss_fn


def build_imm(variant):
    IR, net, c = imm_net()

    def loss_fn(x):  # imm_train_step's draws (cm4j's order): u_t, u_s (float64, per group), eps
        g = x.shape[0] // c["M"]
        u_t = torch.rand(g, dtype=torch.float64)
        u_s = torch.rand(g, dtype=torch.float64)
        return IR.imm_loss(net, x, torch.randn_like(x), u_t, u_s, c)[0].mean()
    return net.parameters(), loss_fn


# objective -> (build(variant) -> (parameters, loss_fn(x) -> scalar), default timing variants). A new objective is
# one entry here, its check below, and its counterpart in cm-bench's ObjectiveStep.OBJECTIVES.
OBJECTIVES = {
    "ect": (build_ect, "default,fused"),
    "sct": (build_sct, "default,fused,fused+func"),
    "ctm": (build_ctm, "default,fused"),
    "meanflow": (build_meanflow("u"), "default+func,fused+func,fused+fwad2,fused+func2"),
    "meanflow_v": (build_meanflow("v"), "default+func,fused+func,fused+fwad2,fused+func2"),
    "ayf": (build_ayf, "default,fused"),
    "imm": (build_imm, "default,fused"),
}


def make_step(objective, variant):
    """One training step of the objective: draws, loss, mean, backward, Adam (lr 1e-3); variant "default..." or
    "fused..." picks the Adam implementation, a suffix "+..." the objective's JVP form."""
    torch.manual_seed(1)
    x = torch.randn(BATCH, 3, 16, 16)
    params, loss_fn = OBJECTIVES[objective][0](variant)
    opt = torch.optim.Adam(params, lr=1e-3, **({"fused": True} if variant.startswith("fused") else {}))

    def step():
        loss = loss_fn(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def time_objective(objective, timing, variants):
    for variant in variants:
        measure(objective, f"py_{variant}", timing, make_step(objective, variant))


def parts_sct(timing):
    """Diagnostic: the parts of an sCT step (as cm-bench's dev.cm4j.bench.JvpCost times them in Java)."""
    torch.manual_seed(0)
    net = SctPair().net
    torch.manual_seed(1)
    x = torch.randn(BATCH, 3, 16, 16)
    t = (torch.randn(BATCH) * 1.4 - 1.0).exp().div(0.5).atan()
    tb = bcast(t)
    z = torch.randn_like(x) * 0.5
    xt, v, cs = tb.cos() * x + tb.sin() * z, tb.cos() * z - tb.sin() * x, tb.cos() * tb.sin()

    def fwd_nograd():
        with torch.no_grad():
            net.raw_f(xt, t)

    def fwd_grad():
        net.raw_f(xt, t)

    def fwd_grad_bwd():
        net.raw_f(xt, t).square().mean().backward()

    def jvp_fwad():
        with torch.no_grad(), fwAD.dual_level():
            fwAD.unpack_dual(net.raw_f(fwAD.make_dual(xt, cs * v), fwAD.make_dual(t, cs.flatten()))).tangent

    def jvp_func():
        with torch.no_grad():
            torch.func.jvp(net.raw_f, (xt, t), (cs * v, cs.flatten()))

    for f in (fwd_nograd, fwd_grad, fwd_grad_bwd, jvp_fwad, jvp_func):
        measure("sct_part", f.__name__, timing, f)


# Parity -------------------------------------------------------------------------------------------------------------

def rel(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp(min=1e-30)).item()


def grads_rel(module, t, prefix):
    worst, name = 0.0, ""
    for k, p in module.named_parameters():
        key = "grad." + prefix + k
        if key not in t:
            if p.grad is not None and p.grad.abs().max() > 0:
                return float("inf"), k + " (no java gradient)"
            continue
        if p.grad is None:
            return float("inf"), k + " (no python gradient)"
        r = rel(p.grad, t[key])
        if r > worst:
            worst, name = r, k
    return worst, name


def sub(t, prefix):
    return {k[len(prefix):]: v for k, v in t.items() if k.startswith(prefix)}


def check(objective, path, upstream):
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    t = load_file(path)
    x = t["in.x"]
    ok = True
    if objective == "ect":
        net = E.EDMPrecond(small_net(dropout=False))
        net.load_state_dict(sub(t, "net."), strict=True)
        loss = ect_loss(net, x, int(meta["stage"]), t["in.n"], t["in.eps"])
        loss.mean().backward()
        r_loss = rel(loss.detach(), t["out.loss"])
        r_grad, worst = grads_rel(net, t, "net.")
        print(f"[ect] per-sample loss max|Δ|/max = {r_loss:.2e}; gradients worst {r_grad:.2e} ({worst})")
        ok &= r_loss <= 1e-4 and r_grad <= 1e-3
        if upstream:
            p = f"{upstream}/songunet-ddpmpp-small.safetensors"
            u = load_file(p)
            with safe_open(p, "pt") as f:
                ucfg = json.loads(f.metadata()["config"])
            unet = E.EDMPrecond(E.SongUNet(**E.songunet_kwargs(ucfg), dropout=0.0, attention_op=False))
            unet.load_state_dict(sub(u, "net."), strict=True)
            unet.train()
            worst_up = 0.0
            for stage in (0, 1):
                with torch.no_grad():
                    pl = ect_loss(unet, u["ect.y"], stage, u["ect.normal_draw"], u["ect.eps"])
                worst_up = max(worst_up, rel(pl, u[f"ect.stage{stage}_c0.0.loss"]))
            print(f"[upstream] this ECT loss vs upstream ECT's ECMLoss (stages 0, 1, c = 0): max|Δ|/max = "
                  f"{worst_up:.2e}")
            ok &= worst_up <= 1e-4
    elif objective == "sct":
        pair = SctPair(dropout=False)
        pair.load_state_dict(sub(t, ""), strict=False)  # the file's model keys; in.*/out.*/grad.* are not loaded
        missing = set(pair.state_dict()) - set(t)
        extra = {k for k in t if not k.startswith(("in.", "out.", "grad."))} - set(pair.state_dict())
        ok &= not missing and not extra
        loss, logw, norm = scm_loss(pair.net, pair.logvar, x, int(meta["iteration"]), t["in.t"], t["in.z"])
        loss.mean().backward()
        r = [rel(loss.detach(), t["out.loss"]), rel(logw.detach(), t["out.logw"]),
             rel(norm.detach(), t["out.tangent_norm"])]
        r_grad, worst = grads_rel(pair, t, "")
        print(f"[sct] state dict keys match {not missing and not extra}; per-sample loss {r[0]:.2e}, "
              f"w(t) {r[1]:.2e}, tangent norm {r[2]:.2e} (max|Δ|/max); gradients worst {r_grad:.2e} ({worst})")
        ok &= max(r) <= 1e-4 and r_grad <= 1e-3
    elif objective.startswith("meanflow"):
        net = meanflow_net(dropout=False)
        state = {k[len("net."):]: v for k, v in t.items() if k.startswith("net.")}
        net.load_state_dict(state, strict=True)
        kind = meta["loss"]
        draws = (t["in.n_t"], t["in.n_r"], t["in.u_ratio"], t["in.eps"])
        loss, du_dt = meanflow_loss(net, x, kind, *draws)  # the reference's one torch.func.jvp pass
        loss.mean().backward()
        r = [rel(loss.detach(), t["out.loss"]), rel(du_dt.detach(), t["out.dudt"])]
        r_grad, worst = grads_rel(net, t, "net.")
        # the other JVP forms of the benchmark compute the same numbers
        forms = {}
        for name, jvp in MF_JVP.items():
            with torch.no_grad() if name == "func" else torch.enable_grad():
                lo, du = meanflow_loss(net, x, kind, *draws, jvp=jvp)
            forms[name] = max(rel(lo.detach(), t["out.loss"]), rel(du.detach(), t["out.dudt"]))
        print(f"[{objective}] per-sample loss {r[0]:.2e}, du/dt {r[1]:.2e} (max|Δ|/max, against "
              f"tools/meanflow_reference.py's loss); gradients worst {r_grad:.2e} ({worst}); JVP forms "
              + ", ".join(f"{k} {v:.2e}" for k, v in forms.items()))
        ok &= max(r) <= 1e-4 and r_grad <= 1e-3 and max(forms.values()) <= 1e-4
    elif objective == "ayf":
        student, teacher = ayf_nets()
        for prefix, m in (("student.net.", student), ("teacher.", teacher)):  # student: TwoTimeNetwork's child "net"
            m.load_state_dict(sub(t, prefix), strict=True)
        loss, g, norm, _ = ayf_loss(student, teacher, x, float(meta["r"]), t["in.n_a"], t["in.n_b"], t["in.u"],
                                    t["in.eps"])
        loss.mean().backward()
        r = [rel(loss.detach(), t["out.loss"]), rel(g, t["out.g"]), rel(norm, t["out.norm"])]
        r_grad, worst = grads_rel(student, t, "student.net.")
        print(f"[ayf] per-sample loss {r[0]:.2e}, tangent g {r[1]:.2e}, ||g|| {r[2]:.2e} (max|Δ|/max, against "
              f"tools/ayf_reference.py's loss, r = {meta['r']}); gradients worst {r_grad:.2e} ({worst})")
        ok &= max(r) <= 1e-4 and r_grad <= 1e-3
    elif objective == "imm":
        IR, net, c = imm_net()
        net.load_state_dict(sub(t, "net."), strict=True)
        loss, mmd, _, _, _, _, yt, _ = IR.imm_loss(net, x, t["in.eps"], t["in.u_t"], t["in.u_s"], c)
        loss.mean().backward()
        r = [rel(loss.detach(), t["out.loss"]), rel(mmd.detach(), t["out.mmd"]), rel(yt.detach(), t["out.yt"])]
        r_grad, worst = grads_rel(net, t, "net.")
        print(f"[imm] per-group loss {r[0]:.2e}, MMD² {r[1]:.2e}, y_t {r[2]:.2e} (max|Δ|/max, against "
              f"tools/imm_reference.py's loss on upstream IMMPrecond); gradients worst {r_grad:.2e} ({worst})")
        ok &= max(r) <= 1e-4 and r_grad <= 1e-3
    else:
        student, target, teacher = ctm_nets(dropout=False, separate_target=True)
        for prefix, m in (("student.", student), ("target.", target), ("teacher.", teacher)):
            m.load_state_dict(sub(t, prefix), strict=False)
            missing = set(m.state_dict()) - set(sub(t, prefix))
            extra = {k for k in sub(t, prefix)} - set(m.state_dict())
            if missing or extra:
                print(f"[ctm] {prefix} keys: missing {sorted(missing)[:5]}, unexpected {sorted(extra)[:5]}")
                ok = False
        student.train()
        gen = torch.Generator().manual_seed(int(meta["dsm_generator_seed"]))
        last = student.model.dec["16x16_aux_conv"].weight
        assert int(meta["k"]) == CTM_K
        ctm, dsm, lam = ctm_loss(student, target, teacher, x, t["in.n"].tolist(), t["in.m"].tolist(), t["in.z"],
                                 last, gen)
        (ctm.mean() + dsm.mean() * lam).backward()
        lam_java = t["out.lambda_dsm"].item()
        r = [rel(ctm.detach(), t["out.ctm"]), rel(dsm.detach(), t["out.dsm"]), abs(lam - lam_java) / abs(lam_java)]
        r_grad, worst = grads_rel(student, t, "student.")
        print(f"[ctm] per-sample CTM loss {r[0]:.2e}, DSM loss {r[1]:.2e}, λ_DSM {r[2]:.2e} "
              f"(java {lam_java:.4g}, python {lam:.4g}); student gradients worst {r_grad:.2e} ({worst})")
        ok &= max(r) <= 1e-4 and r_grad <= 1e-3
    print(f"[{objective}] parity: {'PASS' if ok else 'FAIL'}")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["time", "check", "parts", "serve"])
    ap.add_argument("objective", choices=list(OBJECTIVES))
    ap.add_argument("file", nargs="?")
    ap.add_argument("--timing")
    ap.add_argument("--variants")
    ap.add_argument("--upstream")
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.cmd == "parts":
        parts_sct(parse_timing(a.timing, (3, 1.0, 15)))
    elif a.cmd == "serve":
        serve(make_step(a.objective, (a.variants or OBJECTIVES[a.objective][1]).split(",")[0]))
    elif a.cmd == "time":
        variants = a.variants or OBJECTIVES[a.objective][1]
        time_objective(a.objective, parse_timing(a.timing, (3, 2.0, 21)), variants.split(","))
    else:
        sys.exit(0 if check(a.objective, a.file, a.upstream) else 1)


if __name__ == "__main__":
    main()
