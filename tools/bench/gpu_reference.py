"""The PyTorch side of the step timings of scripts/gpu-check.sh, on the machine's own PyTorch and GPU.

  ect  locuslab/ect's own CIFAR-10 training step, built from its training/networks.py (ECMPrecond around SongUNet,
       DDPM++ as ct_train.py --arch=ddpmpp configures it, dropout 0.2 as run_ecm.sh) and training/loss.py (ECMLoss,
       P_mean -1.1, P_std 2, q 2, k 8, b 1, c 0, sigmoid mapping, after update_schedule(1)), stepped as its
       training/ct_training_loop.py does: zero_grad, loss.mean().backward(), nan_to_num of the gradients, RAdam
       (lr 1e-4, betas 0.9/0.999, eps 1e-8), then the EMA (lerp with beta 0.9999). bf16 runs ECT's SongUNet under
       torch.autocast(dtype=bfloat16) and returns its output as float32, so that ECMPrecond and ECMLoss stay in fp32
       (ECMPrecond asserts a float32 network output; ECT itself offers fp16 only).
  sct  an sCT step on the same DDPM++ network, with the JVP by torch.func.jvp: our bench/objective_step.py's sCT loss
       (cm4j's SCM written in PyTorch) on our bench/edm_songunet.py (plain-op attention: EDM's AttentionOp has no
       forward-mode rule), Adam lr 1e-4.

The ECT code is not ours and is not in this repository: --ect names a checkout of locuslab/ect (scripts/gpu-bundle.sh
puts the pinned commit's training/ files into the bundle). Its infrastructure imports (torch_utils.persistence,
torch_utils.distributed) get two small stand-ins, as tools/make_reference_fixtures.py does.

Usage: python gpu_reference.py <ect|sct> --device cuda:0 --precision fp32|bf16 --batch 128 --size ddpmpp|small
                                 --warmup 5 --reps 20 [--ect DIR] [--bench-dir DIR]
Prints one line:  gpu_step <objective> <precision> torch <median ms> <best ms> <parameters>   (tab-separated)
"""
import argparse
import importlib.util
import os
import sys
import time
import types

import torch

ECT_COMMIT = "4311059770f54821d151a9b0e1f76770a5f3930e"  # the same pin as tools/make_reference_fixtures.py

DDPMPP = dict(embedding_type="positional", encoder_type="standard", decoder_type="standard", channel_mult_noise=1,
              resample_filter=[1, 1], model_channels=128, channel_mult=[2, 2, 2])
SMALL = dict(embedding_type="positional", encoder_type="standard", decoder_type="standard", channel_mult_noise=1,
             resample_filter=[1, 1], model_channels=32, channel_mult=[1, 2], num_blocks=1, attn_resolutions=[8])


def resolution(size):
    return 32 if size == "ddpmpp" else 16


def load_ect(ect_dir):
    """ECT's training/networks.py and training/loss.py as modules, with stand-ins for their torch_utils imports."""
    torch_utils = types.ModuleType("torch_utils")
    persistence = types.ModuleType("torch_utils.persistence")
    persistence.persistent_class = lambda cls: cls
    distributed = types.ModuleType("torch_utils.distributed")
    distributed.print0 = lambda *a, **k: None
    torch_utils.persistence, torch_utils.distributed = persistence, distributed
    sys.modules.update({"torch_utils": torch_utils, "torch_utils.persistence": persistence,
                        "torch_utils.distributed": distributed})
    mods = []
    for name in ("networks", "loss"):
        path = os.path.join(ect_dir, "training", name + ".py")
        spec = importlib.util.spec_from_file_location("ect_" + name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mods.append(mod)
    return mods


def cpu_rng_for_cuda_rng():
    """ECMLoss saves and restores the CUDA RNG around its two passes (shared dropout masks); on a CPU dry run the
    CPU generator plays that part."""
    torch.cuda.get_rng_state = lambda *a, **k: torch.get_rng_state()
    torch.cuda.set_rng_state = lambda state, *a, **k: torch.set_rng_state(state)


def ect_step(args, device):
    networks, loss_mod = load_ect(args.ect)
    kw = dict(DDPMPP if args.size == "ddpmpp" else SMALL)
    kw["dropout"] = 0.2
    torch.manual_seed(0)
    net = networks.ECMPrecond(img_resolution=resolution(args.size), img_channels=3, label_dim=0, use_fp16=False,
                              sigma_data=0.5, model_type="SongUNet", **kw).to(device).train().requires_grad_(True)
    if args.precision == "bf16":
        inner = net.model.forward

        def bf16_forward(*a, **k):
            with torch.autocast(device.type, dtype=torch.bfloat16):
                return inner(*a, **k).float()
        net.model.forward = bf16_forward
    ema = [p.detach().clone() for p in net.parameters()]
    loss_fn = loss_mod.ECMLoss(P_mean=-1.1, P_std=2.0, sigma_data=0.5, q=2, c=0.0, k=8, b=1, adj="sigmoid")
    loss_fn.update_schedule(1)
    opt = torch.optim.RAdam(net.parameters(), lr=1e-4, betas=[0.9, 0.999], eps=1e-8)
    images = torch.randn(args.batch, 3, resolution(args.size), resolution(args.size), device=device).clamp(-1, 1)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net=net, images=images, labels=None)
        loss.mean().backward()
        for p in net.parameters():
            if p.grad is not None:
                torch.nan_to_num(p.grad, nan=0, posinf=1e5, neginf=-1e5, out=p.grad)
        opt.step()
        with torch.no_grad():
            for e, p in zip(ema, net.parameters()):
                e.copy_(p.detach().lerp(e, 0.9999))

    return step, sum(p.numel() for p in net.parameters())


def sct_step(args, device):
    sys.path.insert(0, args.bench_dir)
    try:
        import safetensors  # noqa: F401  (objective_step.py imports it for its parity check only)
    except ImportError:
        st = types.ModuleType("safetensors")
        st.safe_open = None
        st_torch = types.ModuleType("safetensors.torch")
        st_torch.load_file = None
        st.torch = st_torch
        sys.modules.update({"safetensors": st, "safetensors.torch": st_torch})
    import edm_songunet as E
    import objective_step as O
    kw = dict(DDPMPP if args.size == "ddpmpp" else SMALL)
    kw.update(img_resolution=resolution(args.size), img_channels=3, dropout=0.0)
    torch.manual_seed(0)
    net = E.TrigFlowPrecond(E.SongUNet(**E.songunet_kwargs(kw), attention_op=False))
    w = E.AdaptiveWeight(128)
    pair = torch.nn.ModuleList([net, w]).to(device)
    opt = torch.optim.Adam(pair.parameters(), lr=1e-4)
    x = torch.randn(args.batch, 3, resolution(args.size), resolution(args.size), device=device).clamp(-1, 1)
    it = [0]

    def step():
        opt.zero_grad(set_to_none=True)
        with autocast(args, device):
            t = O.scm_time(torch.randn(args.batch, device=device), 0.5)
            loss = O.scm_loss(net, w, x, it[0], t, torch.randn_like(x), jvp="func")[0]
        loss.mean().backward()
        opt.step()
        it[0] += 1

    return step, sum(p.numel() for p in net.parameters())


class autocast:
    def __init__(self, args, device):
        self.ctx = torch.autocast(device.type, dtype=torch.bfloat16) if args.precision == "bf16" else None

    def __enter__(self):
        if self.ctx is not None:
            self.ctx.__enter__()

    def __exit__(self, *exc):
        if self.ctx is not None:
            self.ctx.__exit__(*exc)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("objective", choices=["ect", "sct"])
    p.add_argument("--device", default="cuda:0")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--size", choices=["ddpmpp", "small"], default="ddpmpp")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--ect", help="a checkout of locuslab/ect (training/networks.py, training/loss.py)")
    p.add_argument("--bench-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"),
                   help="the directory of bench/edm_songunet.py and bench/objective_step.py")
    args = p.parse_args()
    device = torch.device(args.device)
    if device.type == "cpu":
        cpu_rng_for_cuda_rng()
    if args.objective == "ect":
        if not args.ect:
            p.error("ect needs --ect DIR (locuslab/ect at " + ECT_COMMIT + ")")
        step, params = ect_step(args, device)
    else:
        step, params = sct_step(args, device)
    for _ in range(args.warmup):
        step()
    sync(device)
    ms = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        step()
        sync(device)
        ms.append((time.perf_counter() - t0) * 1e3)
    ms.sort()
    print(f"gpu_step\t{args.objective}\t{args.precision}\ttorch\t{ms[len(ms) // 2]:.3f}\t{ms[0]:.3f}\t{params}", flush=True)


if __name__ == "__main__":
    main()
