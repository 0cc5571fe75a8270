"""Peak memory of one training step with a forward-mode JVP against a plain forward + backward, PyTorch side of
bench/jvp_memory.sh (the Java side: cm-bench's dev.cm4j.bench.JvpMemory). One variant per process, on the small
SongUNet of the step benchmarks (bench/edm_songunet.py with plain-op attention, dropout 0.10, training mode), one
intra-op thread, no optimizer step:

  sct-plain  F = TrigFlow raw network F(x_t/σ_d, t); mean(F²); backward
  sct        cm4j's SCM loss written out in torch (CIFAR-10 settings, warm-up done, AdaptiveWeight(128)): a gradient
             pass, then the JVP pass under no_grad with the same dropout masks (RNG state saved and restored, as the
             sCM re-implementations do), mean, backward
  sct-fwd    diagnostic: sCT's network, one forward under no_grad
  sct-jvp    diagnostic: its JVP pass alone under no_grad, tangents (cos t sin t·x_t, cos t sin t)
  mf-plain   u = F(z, t, t − r) of the SongUNet with the second-time path; mean(u²); backward
  mf         cm4j's MeanFlow loss (CIFAR-10 settings: logit-normal (−2, 2) pairs, ratio 0.75, u-loss, adaptive weight
             p 0.75, ε 1e-3), the JVP along (v, 0, 1) in (z, r, t) under no_grad as py-meanflow's memory-saving form

Options:
  --jvp forward_ad|func   torch.autograd.forward_ad dual tensors (cm4j's ForwardAD) or torch.func.jvp
  --alloc cm4j|default    cm4j: count every CPU allocation with cm4j's caching allocator (the Java side's instrument:
                          libcm_torch.so from $CM4J_LIB (a file) or $CM4J_NATIVE_PATH (its folder), loaded with ctypes, installed as c10's CPU allocator,
                          blocks of 1 byte and more, nothing cached); default: PyTorch's own allocator (only VmHWM)
  --batch N               (default 8)

Prints one JSON line: live bytes before the step and the allocator's peak during it (cm4j allocator only), and the
resident set's high-water mark VmHWM after a reset through /proc/self/clear_refs just before the step. A warm-up step
at batch 1 first allocates the gradients and one-time buffers.

  python jvp_memory.py table ROWS.jsonl [ROUNDS]
      the table of bench/jvp_memory.sh from the JSON lines of both sides (median over rounds; ratios to the plain
      forward + backward of the same network, same side, same instrument)
"""
import argparse
import ctypes
import gc
import json
import os
import sys

import torch
import torch.autograd.forward_ad as fwAD

import edm_songunet as E

SMALL = {"img_resolution": 16, "img_channels": 3, "model_channels": 32, "channel_mult": [1, 2], "num_blocks": 1,
         "attn_resolutions": [8]}


class Stats(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int64) for n in ("allocated_bytes", "cached_bytes", "peak_allocated_bytes", "hits",
                                              "misses", "released_blocks", "live_blocks")]


class CmAllocator:
    """cm4j's caching CPU allocator (native/src/alloc.cpp) in this process: counts, caches nothing."""

    def __init__(self):
        path = os.environ.get("CM4J_LIB") or os.path.join(os.environ.get("CM4J_NATIVE_PATH", ""), "libcm_torch.so")
        self.lib = ctypes.CDLL(path)
        if self.lib.cm_cpu_allocator_configure(1, ctypes.c_int64(1), ctypes.c_int64(0), 0) != 0:
            raise RuntimeError("cm_cpu_allocator_configure failed")

    def stats(self):
        s = Stats()
        if self.lib.cm_cpu_allocator_stats(ctypes.byref(s)) != 0:
            raise RuntimeError("cm_cpu_allocator_stats failed")
        return s


def status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def bcast(t):
    return t.reshape(-1, 1, 1, 1)


def jvp_of(fn, primals, tangents, how):
    """(fn(primals), J·tangents) by forward_ad dual tensors or torch.func.jvp."""
    if how == "func":
        return torch.func.jvp(fn, primals, tangents)
    with fwAD.dual_level():
        out = fwAD.unpack_dual(fn(*[fwAD.make_dual(p, t) for p, t in zip(primals, tangents)]))
        return out.primal, out.tangent


# sCT: cm4j's SCM.loss (cm-core dev.cm4j.objectives.SCM), CIFAR-10 settings, iteration past the warm-up ------------

def sct_loss(net, w, x0, jvp):
    sd = net.sigma_data
    n = x0.shape[0]
    t = (torch.randn(n) * 1.4 - 1.0).exp().div(sd).atan()
    z = torch.randn_like(x0) * sd
    tb = bcast(t)
    cos, sin = tb.cos(), tb.sin()
    xt = cos * x0 + sin * z
    v = cos * z - sin * x0
    state = torch.get_rng_state()  # the JVP pass reuses the gradient pass's dropout masks
    f = net.raw_f(xt, t)
    torch.set_rng_state(state)
    with torch.no_grad():
        cs = cos * sin
        _, df = jvp_of(net.raw_f, (xt, t), (cs * v, cs.flatten()), jvp)
    f_minus, df = f.detach(), df.detach()
    c64, s64 = cos.double(), sin.double()
    raw = (-(c64.square() * (f_minus.double() * sd - v.double())) - (c64 * s64 * xt.double() + df.double() * sd))
    raw = raw.to(f.dtype)
    g = raw / bcast(raw.reshape(n, -1).norm(2, dim=1) + 0.1)
    logw = w(t)
    mse = (f - f_minus - g).square().reshape(n, -1).sum(1)
    return logw.exp() / x0[0].numel() * mse - logw


# MeanFlow: cm4j's MeanFlow.loss (cm-core dev.cm4j.objectives.MeanFlow), CIFAR-10 settings, unconditional -----------

def mf_times(n):
    t = (torch.randn(n) * 2.0 - 2.0).sigmoid()
    r = (torch.randn(n) * 2.0 - 2.0).sigmoid()
    same = torch.rand(n) >= 0.75
    hi, lo = torch.maximum(t, r), torch.minimum(t, r)
    return hi, torch.where(same, hi, lo)


def mf_loss(net, x, jvp):
    n = x.shape[0]
    t, r = mf_times(n)
    eps = torch.randn_like(x)
    tb, rb = bcast(t), bcast(r)
    z = (1 - tb) * x + tb * eps
    v = eps - x

    def u_fn(z_, t_):
        return net(z_, t_, None, None, s_noise_labels=t_ - r)

    state = torch.get_rng_state()
    u = u_fn(z, t)
    torch.set_rng_state(state)
    with torch.no_grad():
        _, dudt = jvp_of(u_fn, (z, t), (v, torch.ones_like(t)), jvp)
    u_tgt = (v - (tb - rb) * dudt).detach()
    sq = (u - u_tgt).square().reshape(n, -1).sum(1)
    return sq / (sq.detach() + 1e-3).pow(0.75)


def mib(b):
    return b / 2 ** 20


def table(path, rounds):
    rows = [json.loads(line) for line in open(path) if line.startswith("{")]

    def key(r):
        if r["side"] == "java":
            return "java"
        return "py_" + ("func" if r["jvp"] == "func" else "fwad") + ("" if r["alloc"] == "cm4j" else "_default")

    def median(xs):
        xs = sorted(xs)
        return xs[len(xs) // 2] if xs else None

    def value(side, variant, what):
        vs = []
        for r in rows:
            if key(r) != side or r["variant"] != variant:
                continue
            if what == "live":
                if "peak" in r:
                    vs.append(r["peak"] - r["live_before"])
            else:
                vs.append(r["hwm"] - r["hwm_reset"])
        return median(vs), (min(vs), max(vs)) if vs else None

    def cell(side, variant, what):
        v, rng = value(side, variant, what)
        if v is None:
            return "—"
        plain = variant.split("-")[0] + ("-fwd" if variant.endswith("jvp") else "-plain")
        base, _ = value(side, plain, what)
        # the plain step has no JVP: its PyTorch value is the same for either JVP route
        if base is None and side.startswith("py_func"):
            base, _ = value(side.replace("func", "fwad"), plain, what)
        spread = "" if rng[0] == rng[1] else f" ({mib(rng[0]):.1f}–{mib(rng[1]):.1f})"
        ratio = "" if variant.endswith(("plain", "fwd")) or not base else f" = **{v / base:.2f}×**"
        return f"{mib(v):.1f}{spread}{ratio}"

    names = {"sct-plain": "(a) sCT's network F(x_t/σ_d, t): forward + backward",
             "sct": "(b) sCT step (gradient pass + JVP pass, loss, backward)",
             "sct-fwd": "diagnostic: sCT's network, forward under no-grad",
             "sct-jvp": "diagnostic: sCT's JVP pass alone, under no-grad",
             "mf-plain": "(a′) MeanFlow's network u(z, r, t): forward + backward",
             "mf": "(c) MeanFlow step (gradient pass + JVP pass, loss, backward)",
             "edm2-fwd": "Java only: EDM2 U-Net of the same size, forward under no-grad",
             "edm2-jvp": "Java only: its JVP pass alone, under no-grad",
             "adm-fwd": "Java only: DhariwalUNet (ADM) of the same size, forward under no-grad",
             "adm-jvp": "Java only: its JVP pass alone, under no-grad"}
    names = {v: n for v, n in names.items() if any(r["variant"] == v for r in rows)}
    print(f"Peak live CPU bytes during the step above those live before it, MiB (median of {rounds} fresh processes; "
          "range if they differ); ratio to the plain forward + backward of the same network (the JVP pass alone: "
          "to the no-grad forward)")
    print()
    print("| step | Java (cm4j) | PyTorch, forward_ad | PyTorch, torch.func.jvp |")
    print("|---|---|---|---|")
    for v in names:
        func = cell("py_func", v, "live") if not v.endswith(("plain", "fwd")) else "(as forward_ad)"
        func = "—" if v.startswith(("edm2", "adm")) else func
        print(f"| {names[v]} | {cell('java', v, 'live')} | {cell('py_fwad', v, 'live')} | {func} |")
    print()
    print("Growth of the resident set's high-water mark VmHWM during the step, MiB")
    print()
    print("| step | Java (cm4j) | PyTorch, forward_ad | PyTorch, forward_ad, PyTorch's own allocator |")
    print("|---|---|---|---|")
    for v in names:
        print(f"| {names[v]} | {cell('java', v, 'hwm')} | {cell('py_fwad', v, 'hwm')} | "
              f"{cell('py_fwad_default', v, 'hwm')} |")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "table":
        table(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1)
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("variant", choices=["sct-plain", "sct", "sct-fwd", "sct-jvp", "mf-plain", "mf"])
    ap.add_argument("--jvp", choices=["forward_ad", "func"], default="forward_ad")
    ap.add_argument("--alloc", choices=["cm4j", "default"], default="cm4j")
    ap.add_argument("--batch", type=int, default=8)
    a = ap.parse_args()
    alloc = CmAllocator() if a.alloc == "cm4j" else None
    torch.set_num_threads(1)
    torch.manual_seed(0)
    kw = E.songunet_kwargs(SMALL)
    if a.variant.startswith("sct"):
        net = E.TrigFlowPrecond(E.SongUNet(**kw, attention_op=False))
        w = E.AdaptiveWeight(128)
        net.train()

        def step(n):
            x = torch.randn(n, 3, 16, 16)
            if a.variant == "sct":
                sct_loss(net, w, x, a.jvp).mean().backward()
                return
            t = (torch.randn(n) * 1.4 - 1.0).exp().div(0.5).atan()
            tb = bcast(t)
            xt = tb.cos() * x + tb.sin() * torch.randn_like(x) * 0.5
            if a.variant == "sct-plain":
                net.raw_f(xt, t).square().mean().backward()
                return
            with torch.no_grad():
                if a.variant == "sct-fwd":
                    net.raw_f(xt, t)
                else:
                    cs = tb.cos() * tb.sin()
                    jvp_of(net.raw_f, (xt, t), (cs * xt, cs.flatten()), a.jvp)
    else:
        net = E.SongUNet(**kw, s_embedding=True, attention_op=False)
        net.train()

        def step(n):
            x = torch.randn(n, 3, 16, 16)
            if a.variant == "mf":
                loss = mf_loss(net, x, a.jvp)
            else:
                t, r = mf_times(n)
                tb = bcast(t)
                z = (1 - tb) * x + tb * torch.randn_like(x)
                loss = net(z, t, None, None, s_noise_labels=t - r).square()
            loss.mean().backward()

    step(1)  # warm-up: gradients and one-time buffers
    gc.collect()
    before = alloc.stats() if alloc else None
    if alloc is None:  # glibc keeps freed heap memory resident: hand it back so the high-water mark starts low
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    rss = status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # VmHWM := VmRSS
    hwm0 = status("VmHWM")
    step(a.batch)
    hwm = status("VmHWM")
    out = {"side": "py", "variant": a.variant, "jvp": a.jvp, "alloc": a.alloc, "batch": a.batch, "rss_before": rss,
           "hwm_reset": hwm0, "hwm": hwm}
    if alloc:
        after = alloc.stats()
        if after.peak_allocated_bytes <= before.peak_allocated_bytes:
            sys.exit(f"the step did not raise the allocator's peak ({before.peak_allocated_bytes} B)")
        out.update(live_before=before.allocated_bytes, peak=after.peak_allocated_bytes,
                   live_after=after.allocated_bytes)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
