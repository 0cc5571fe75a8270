"""Rebuilds the upstream reference fixtures of the tests from EDM's and ECT's own PyTorch code.

Writes, into OUT (by default cm-core/src/test/resources/reference):
  songunet-ddpmpp-cifar10-keys.tsv    EDMPrecond state-dict keys and shapes of EDM's CIFAR-10 DDPM++ network
  songunet-ncsnpp-cifar10-keys.tsv    the same for NCSN++ (read by dev.cm4j.nn.SongUNetTest)
  songunet-ddpmpp-small.safetensors   a small DDPM++ EDMPrecond (weights, one forward pass, ECT per-sample losses;
                                      read by dev.cm4j.parity.ReferenceParityTest and dev.cm4j.io.SafeTensorsInteropTest)

The network comes from EDM's training/networks.py (SongUNet, EDMPrecond) and the ECT loss from ECT's
training/loss.py (ECMLoss); nothing of either is copied here: both files are imported from the checkouts named on
the command line. Their infrastructure imports (torch_utils.persistence, torch_utils.distributed) are replaced by
two small stand-ins, since pickling support and multi-process printing play no part here.

How to run (from the repository root; the reference venv is the one of scripts/setup-venv.sh, torch 2.13.0+cpu):

  git clone https://github.com/NVlabs/edm.git /tmp/edm
  git -C /tmp/edm checkout 008a4e5316c8e3bfe61a62f874bddba254295afb
  git clone https://github.com/locuslab/ect.git /tmp/ect
  git -C /tmp/ect checkout 4311059770f54821d151a9b0e1f76770a5f3930e
  CM4J_PYTHON=$(scripts/setup-venv.sh)
  $CM4J_PYTHON tools/make_reference_fixtures.py --edm /tmp/edm --ect /tmp/ect            # rewrite the fixtures
  $CM4J_PYTHON tools/make_reference_fixtures.py --edm /tmp/edm --ect /tmp/ect --check    # compare, write nothing

--check builds the fixtures in a temporary directory and compares them with the committed ones: the same lines
in the key tables, the same metadata, tensor names, dtypes and shapes, and it prints the largest absolute and
relative differences of the values (exit status 1 on any mismatch or a relative difference above --tol). The
weights and inputs come out bit-identical; the outputs (expected.D, the ECT losses) differ in the last bits of
float32 with the libtorch kernels of another machine or thread count (relative ~1e-7).

What the small fixture holds (its metadata says the same in short):
  net.*            EDMPrecond(img_resolution=16, img_channels=3, model_channels=32, channel_mult=[1, 2],
                   num_blocks=1, attn_resolutions=[8], DDPM++ options, dropout 0) built after
                   torch.manual_seed(1234), then every parameter (not the resampling-filter buffers) moved by
                   0.02 * N(0, 1) drawn in parameter order, so that no layer is at its (partly zero) init;
  input.sigma      [0.002, 0.3, 2.5, 80];
  input.x_noisy    sigma * n, n the first N(0, 1) draw of shape [4, 3, 16, 16] after torch.manual_seed(99);
  expected.D       the network's denoised output D(x_noisy; sigma) in eval mode, without autograd;
  ect.y            the second draw, clamped to [-1, 1] (image-like data);
  ect.eps          the third draw (the noise direction shared by x_t and x_r);
  ect.normal_draw  [-2, -0.5, 0.7, 2.2], the standard-normal draw behind t = exp(P_mean + P_std * normal_draw);
  ect.stage<S>_c<C>.loss
                   ECMLoss(P_mean=-1.1, P_std=2.0, q=2, k=8, b=1, c=C, sigmoid mapping) after
                   update_schedule(S), per sample, network in train mode (dropout 0), for (S, C) in
                   (0, 0.0), (1, 0.0), (3, 0.03). ECMLoss draws its normal numbers and its noise itself; here
                   torch.randn and torch.randn_like return the two draws above for the duration of the call, and
                   its CUDA RNG save/restore (for a shared dropout mask) is a no-op, since dropout is 0 on the CPU.
"""
import argparse
import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import types

import torch
from safetensors import safe_open
from safetensors.torch import save_file

EDM_COMMIT = "008a4e5316c8e3bfe61a62f874bddba254295afb"  # NVlabs/edm, "Fix a DDP consistency issue with PyTorch 2.1."
ECT_COMMIT = "4311059770f54821d151a9b0e1f76770a5f3930e"  # locuslab/ect, "Update repo structures."

# EDM's train.py, --arch=ddpmpp / --arch=ncsnpp on CIFAR-10 (32x32x3), with its CIFAR-10 dropout of 0.13.
CIFAR10 = dict(img_resolution=32, img_channels=3, model_channels=128, channel_mult=[2, 2, 2], dropout=0.13)
DDPMPP = dict(embedding_type="positional", encoder_type="standard", decoder_type="standard", channel_mult_noise=1,
              resample_filter=[1, 1])
NCSNPP = dict(embedding_type="fourier", encoder_type="residual", decoder_type="standard", channel_mult_noise=2,
              resample_filter=[1, 3, 3, 1])

# The small network of the parity fixture (key order as in its metadata).
SMALL = dict(img_resolution=16, img_channels=3, model_channels=32, channel_mult=[1, 2], num_blocks=1,
             attn_resolutions=[8], **DDPMPP)
WEIGHT_SEED, WEIGHT_JITTER = 1234, 0.02
INPUT_SEED = 99
SIGMA = [0.002, 0.3, 2.5, 80.0]
NORMAL_DRAW = [-2.0, -0.5, 0.7, 2.2]
ECT_CASES = [(0, 0.0), (1, 0.0), (3, 0.03)]
ECT_KWARGS = dict(P_mean=-1.1, P_std=2.0, q=2, k=8, b=1, adj="sigmoid")

METADATA = {
    "config": json.dumps(SMALL),
    "precond": "EDM (sigma_data=0.5), eval mode, dropout 0",
    "ect": "ECMLoss(P_mean=-1.1,P_std=2.0,q=2,k=8,b=1,sigmoid mapping), net in train mode with dropout 0; "
           "t = exp(P_mean + P_std*normal_draw); per-sample loss for (stage,c) in the key name",
    "note": "net.* are EDMPrecond state_dict keys",
}


def commit_of(path):
    try:
        return subprocess.run(["git", "-C", path, "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def load_upstream(edm, ect):
    """EDM's training/networks.py and ECT's training/loss.py as modules, with stand-ins for their torch_utils."""
    torch_utils = types.ModuleType("torch_utils")
    torch_utils.__path__ = []
    persistence = types.ModuleType("torch_utils.persistence")
    persistence.persistent_class = lambda cls: cls
    distributed = types.ModuleType("torch_utils.distributed")
    distributed.print0 = lambda *a, **k: print(*a, file=sys.stderr, **k)
    torch_utils.persistence, torch_utils.distributed = persistence, distributed
    sys.modules.update({"torch_utils": torch_utils, "torch_utils.persistence": persistence,
                        "torch_utils.distributed": distributed})

    def load(name, path):
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load("edm_networks", os.path.join(edm, "training", "networks.py")), \
        load("ect_loss", os.path.join(ect, "training", "loss.py"))


def edm_precond(networks, config):
    kwargs = {k: v for k, v in config.items() if k not in ("img_resolution", "img_channels")}
    return networks.EDMPrecond(img_resolution=config["img_resolution"], img_channels=config["img_channels"],
                               model_type="SongUNet", **kwargs)


def key_table(networks, arch):
    """'key<TAB>[shape]' per state-dict entry, in order, then the total element count."""
    torch.manual_seed(0)  # the shapes do not depend on it; it only makes the run repeatable
    net = edm_precond(networks, {**CIFAR10, **arch})
    sd = net.state_dict()
    lines = [f"{k}\t{list(v.shape)}" for k, v in sd.items()]
    lines.append(f"# total elements {sum(v.numel() for v in sd.values())}")
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def given_draws(normal_draw, eps):
    """torch.randn / randn_like return the given draws (by shape); the CUDA RNG save/restore does nothing."""
    saved = torch.randn, torch.randn_like, torch.cuda.get_rng_state, torch.cuda.set_rng_state

    def randn(*shape, **kwargs):
        shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (list, tuple, torch.Size)) else shape
        assert shape == (len(normal_draw), 1, 1, 1), shape
        return normal_draw.reshape(shape).clone()

    def randn_like(t, **kwargs):
        assert t.shape == eps.shape, t.shape
        return eps.clone()

    torch.randn, torch.randn_like = randn, randn_like
    torch.cuda.get_rng_state, torch.cuda.set_rng_state = (lambda *a, **k: None), (lambda *a, **k: None)
    try:
        yield
    finally:
        torch.randn, torch.randn_like, torch.cuda.get_rng_state, torch.cuda.set_rng_state = saved


def small_fixture(networks, loss):
    torch.manual_seed(WEIGHT_SEED)
    net = edm_precond(networks, {**SMALL, "dropout": 0.0})
    with torch.no_grad():
        for p in net.parameters():
            p.add_(WEIGHT_JITTER * torch.randn_like(p))
    out = {f"net.{k}": v.detach().clone() for k, v in net.state_dict().items()}

    torch.manual_seed(INPUT_SEED)
    shape = [len(SIGMA), SMALL["img_channels"], SMALL["img_resolution"], SMALL["img_resolution"]]
    sigma = torch.tensor(SIGMA)
    x_noisy = sigma.reshape(-1, 1, 1, 1) * torch.randn(shape)
    y = torch.randn(shape).clamp(-1, 1)
    eps = torch.randn(shape)
    normal_draw = torch.tensor(NORMAL_DRAW)

    net.eval()
    with torch.no_grad():
        out["expected.D"] = net(x_noisy, sigma)
    out.update({"input.sigma": sigma, "input.x_noisy": x_noisy, "ect.y": y, "ect.eps": eps,
                "ect.normal_draw": normal_draw})

    net.train()
    for stage, c in ECT_CASES:
        ecm = loss.ECMLoss(c=c, **ECT_KWARGS)
        ecm.update_schedule(stage)
        with given_draws(normal_draw, eps):
            out[f"ect.stage{stage}_c{c}.loss"] = ecm(net, y).detach()
    return {k: v.contiguous() for k, v in out.items()}


def build(edm, ect, out_dir):
    networks, loss = load_upstream(edm, ect)
    os.makedirs(out_dir, exist_ok=True)
    for name, arch in (("ddpmpp", DDPMPP), ("ncsnpp", NCSNPP)):
        with open(os.path.join(out_dir, f"songunet-{name}-cifar10-keys.tsv"), "w", newline="\n") as f:
            f.write(key_table(networks, arch))
    save_file(small_fixture(networks, loss), os.path.join(out_dir, "songunet-ddpmpp-small.safetensors"),
              metadata=METADATA)


def compare(new_dir, old_dir, tol):
    """Prints how the fixtures in new_dir differ from those in old_dir; True when they agree."""
    ok = True
    for name in ("songunet-ddpmpp-cifar10-keys.tsv", "songunet-ncsnpp-cifar10-keys.tsv"):
        with open(os.path.join(new_dir, name)) as a, open(os.path.join(old_dir, name)) as b:
            same = a.read() == b.read()
        print(f"{name}: {'identical' if same else 'DIFFERENT'}")
        ok &= same
    name = "songunet-ddpmpp-small.safetensors"
    with safe_open(os.path.join(new_dir, name), "pt") as a, safe_open(os.path.join(old_dir, name), "pt") as b:
        if a.metadata() != b.metadata():
            print(f"{name}: metadata DIFFERENT: {a.metadata()} vs {b.metadata()}")
            ok = False
        if sorted(a.keys()) != sorted(b.keys()):
            print(f"{name}: names DIFFERENT: only new {sorted(set(a.keys()) - set(b.keys()))}, "
                  f"only committed {sorted(set(b.keys()) - set(a.keys()))}")
            return False
        worst, worst_rel, worst_key = 0.0, 0.0, None
        for k in a.keys():
            ta, tb = a.get_tensor(k), b.get_tensor(k)
            if ta.dtype != tb.dtype or ta.shape != tb.shape:
                print(f"{name}: {k}: {ta.dtype}{list(ta.shape)} vs {tb.dtype}{list(tb.shape)}")
                ok = False
                continue
            if not ta.numel():
                continue
            d = (ta.double() - tb.double()).abs().max().item()
            rel = d / max(tb.double().abs().max().item(), 1e-30)
            worst = max(worst, d)
            if rel > worst_rel or worst_key is None:
                worst_rel, worst_key = rel, k
        print(f"{name}: {len(list(a.keys()))} tensors, same names, dtypes and shapes; max |new - committed| = "
              f"{worst:.3g}; largest relative difference max|new - committed| / max|committed| = {worst_rel:.3g} "
              f"({worst_key})")
        ok &= worst_rel <= tol
    with open(os.path.join(new_dir, name), "rb") as a, open(os.path.join(old_dir, name), "rb") as b:
        print(f"{name}: {'byte-identical' if a.read() == b.read() else 'not byte-identical'}")
    return ok


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--edm", required=True, help=f"checkout of NVlabs/edm at {EDM_COMMIT}")
    ap.add_argument("--ect", required=True, help=f"checkout of locuslab/ect at {ECT_COMMIT}")
    ap.add_argument("--out", default=os.path.join(root, "cm-core", "src", "test", "resources", "reference"))
    ap.add_argument("--check", action="store_true", help="compare with the fixtures in --out; write nothing")
    ap.add_argument("--tol", type=float, default=1e-5,
                    help="largest relative difference (max|new - committed| / max|committed|) --check accepts")
    ap.add_argument("--any-commit", action="store_true", help="accept checkouts at other commits")
    a = ap.parse_args()
    for path, want in ((a.edm, EDM_COMMIT), (a.ect, ECT_COMMIT)):
        have = commit_of(path)
        if have != want and not a.any_commit:
            sys.exit(f"{path} is at {have or 'an unknown commit'}, not the pinned {want} (or pass --any-commit)")
    torch.set_num_threads(1)
    if a.check:
        with tempfile.TemporaryDirectory() as tmp:
            build(a.edm, a.ect, tmp)
            sys.exit(0 if compare(tmp, a.out, a.tol) else 1)
    build(a.edm, a.ect, a.out)
    print(f"wrote the fixtures into {a.out}")


if __name__ == "__main__":
    main()
