"""Rebuilds the ADM (EDM DhariwalUNet) reference fixtures of the tests from EDM's own PyTorch code.

Writes, into OUT (by default cm-core/src/test/resources/reference):
  adm-imagenet64-keys.tsv   EDMPrecond state-dict keys and shapes of EDM's published ImageNet-64 network
                            (train.py --cond=1 --arch=adm --dropout=0.10 --augment=0 on 64x64x3 data with 1000
                            classes), then its element and parameter counts (read by dev.cm4j.nn.DhariwalUNetTest)
  adm-small.safetensors     a small DhariwalUNet (weights, inputs, outputs of the raw network and of EDMPrecond
                            around it; read by dev.cm4j.nn.DhariwalUNetTest)
  adm-ctm-unet-small.safetensors  (with --ctm) a small class-conditional UNetModel of sony/ctm's code/cm/unet.py
                            with CTM's s path: its keys, shapes and generated weights, inputs and outputs (read by
                            dev.cm4j.nn.OpenaiUNetKeysTest)

EDM's training/networks.py is taken from git at the pinned commit (git show EDM_COMMIT:training/networks.py) into a
temporary directory and imported from there; nothing of it is copied here. Its one infrastructure import
(torch_utils.persistence) is replaced by a stand-in, since pickling plays no part here.

How to run (from the repository root, with the reference venv, torch 2.13.0+cpu):

  git clone https://github.com/NVlabs/edm.git /tmp/edm        # any clone that contains EDM_COMMIT
  $CM4J_PYTHON tools/make_adm_fixtures.py --edm /tmp/edm             # rewrite the fixtures
  $CM4J_PYTHON tools/make_adm_fixtures.py --edm /tmp/edm --check     # build in a temp dir and compare

  $CM4J_PYTHON tools/make_adm_fixtures.py --edm /tmp/edm --ctm /tmp/ctm   # also the CTM UNetModel fixture

--edm and --ctm may be work trees or bare git directories. The CTM fixture imports code/cm/unet.py, nn.py and
fp16_util.py at CTM_COMMIT and needs einops (pip install einops); its other imports (flash_attn, xformers, and
fp16_util's logger and dist_util) are stand-ins, since the fixture uses the legacy attention path on the CPU. Building the key table instantiates the full network once
(about 296M parameters, 1.2 GB of float32).

The small fixture, so that it stays under 1 MB, stores each weight as int8 times a power of two: net.<key> (I8) and
net_scale.<key> (F32, one element, 2^-k), and the reference ran with exactly the weights net.<key> * net_scale.<key>
(exact in float32). Buffers (the resampling filters) are stored as F32 under net.<key> without a scale.
  weights        DhariwalUNet(SMALL) after torch.manual_seed(WEIGHT_SEED), every parameter moved by
                 0.02 * N(0, 1) in parameter order (so that no layer keeps its zero init), then rounded as above;
  input.x        [4, 3, 16, 16] N(0, 1) (first draw after torch.manual_seed(INPUT_SEED));
  input.noise_labels  ln(sigma) / 4 for sigma in SIGMA;
  input.class_labels  one-hot [4, 10] of CLASSES;
  input.augment_labels  0.5 * N(0, 1) [4, 9] (second draw);
  input.sigma, input.x_noisy  SIGMA and sigma * N(0, 1) (third draw);
  expected.raw_aug      net(x, noise_labels, class_labels, augment_labels), eval mode, no autograd;
  expected.raw_noaug    net(x, noise_labels, class_labels, None);
  expected.D_labels     EDMPrecond(label_dim=10) around the same net: D(x_noisy; sigma, class_labels);
  expected.D_nolabels   the same with class_labels None (EDMPrecond feeds a zero label vector).

The CTM fixture: UNetModel(CTM_SMALL) with every parameter set to offset + amp * sin(0.7 * i + phase) (i the flat
index, computed in float64, then float32), (offset, amp, phase) per parameter in wgen.<key> (F64) and the shapes in
the metadata, so the file stays small though every layer has 128 channels or more (openai's GroupNorm always uses 32
groups, EDM's min(32, C/4): they agree from 128 channels on). Inputs: x [3, 3, 8, 8], c_t and c_s (EDM-style noise
labels, multiples of 1/8 so that the model's time inputs 1000 * c are exact), class indices y. Outputs:
expected.ts = model(x, 1000 c_t, y, s=1000 c_s) and expected.t = model(x, 1000 c_t, y) (no s, as for the teacher).
"""
import argparse
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import types

import torch
from safetensors import safe_open
from safetensors.torch import save_file

EDM_COMMIT = "008a4e5316c8e3bfe61a62f874bddba254295afb"  # NVlabs/edm, "Fix a DDP consistency issue with PyTorch 2.1."
CTM_COMMIT = "87cca3be93df8dc1e6797175bf4f404dfb536f28"  # sony/ctm, "Update README.md"

# EDM's train.py: --arch=adm sets model_type DhariwalUNet, model_channels 192, channel_mult [1,2,3,4]; the README's
# ImageNet-64 command adds --cond=1 --dropout=0.10 --augment=0 --fp16=1 (augment 0: no augment_dim).
IMAGENET64 = dict(img_resolution=64, img_channels=3, label_dim=1000, use_fp16=True, model_type="DhariwalUNet",
                  model_channels=192, channel_mult=[1, 2, 3, 4], dropout=0.10)

SMALL = dict(img_resolution=16, in_channels=3, out_channels=3, label_dim=10, augment_dim=9, model_channels=32,
             channel_mult=[1, 2], num_blocks=1, attn_resolutions=[16, 8], dropout=0.1, label_dropout=0.1)
WEIGHT_SEED, WEIGHT_JITTER = 2024, 0.02
INPUT_SEED = 7
SIGMA = [0.002, 0.3, 2.5, 80.0]
CLASSES = [3, 0, 9, 3]


CTM_SMALL = dict(image_size=8, in_channels=3, model_channels=128, out_channels=3, num_res_blocks=1,
                 attention_resolutions=(2,), dropout=0.0, channel_mult=(1, 1), num_classes=10, num_heads=4,
                 num_head_channels=64, use_scale_shift_norm=True, resblock_updown=True, training_mode="ctm",
                 attention_type="legacy")
CTM_C_T = [-0.5, -0.125, 0.25]
CTM_C_S = [-0.75, -0.375, 0.125]
CTM_Y = [2, 7, 0]


def git_show(repo, commit, path):
    git = ["git", "--git-dir", repo] if os.path.isfile(os.path.join(repo, "HEAD")) else ["git", "-C", repo]
    return subprocess.run(git + ["show", f"{commit}:{path}"], capture_output=True, check=True).stdout


def ctm_unet_at_commit(ctm, tmp):
    """sony/ctm's code/cm/unet.py (with nn.py, fp16_util.py) at CTM_COMMIT as package ctm_cm, with stand-ins."""
    pkg = os.path.join(tmp, "ctm_cm")
    os.makedirs(pkg, exist_ok=True)
    open(os.path.join(pkg, "__init__.py"), "w").close()
    for name in ("unet.py", "nn.py", "fp16_util.py"):
        with open(os.path.join(pkg, name), "wb") as f:
            f.write(git_show(ctm, CTM_COMMIT, f"code/cm/{name}"))
    stubs = {"ctm_cm.logger": {}, "ctm_cm.dist_util": {}, "flash_attn": {}, "flash_attn.flash_attn_interface":
             {"flash_attn_varlen_qkvpacked_func": None}, "flash_attn.bert_padding": {"unpad_input": None,
             "pad_input": None}, "xformers": {}, "xformers.components": {}, "xformers.components.attention":
             {"ScaledDotProduct": None}}
    for name, attrs in stubs.items():
        m = types.ModuleType(name)
        m.__path__ = []
        m.__dict__.update(attrs)
        sys.modules[name] = m
    sys.path.insert(0, tmp)
    import importlib
    return importlib.import_module("ctm_cm.unet")


def ctm_fixture(unet):
    model = unet.UNetModel(**CTM_SMALL)
    out, shapes = {}, {}
    with torch.no_grad():
        for k, p in model.named_parameters():
            norm = ".norm." in k or k.endswith(("in_layers.0.weight", "out_layers.0.weight", "out.0.weight"))
            if p.dim() == 1:
                offset, amp = (1.0 if norm and k.endswith("weight") else 0.0), 0.1
            else:
                offset, amp = 0.0, 1.0 / math.sqrt(p[0].numel())
            phase = (len(out) * 0.37) % (2 * math.pi)
            i = torch.arange(p.numel(), dtype=torch.float64)
            p.copy_((offset + amp * torch.sin(0.7 * i + phase)).to(torch.float32).reshape(p.shape))
            out[f"wgen.{k}"] = torch.tensor([offset, amp, phase], dtype=torch.float64)
            shapes[k] = list(p.shape)
    assert not list(model.buffers())
    torch.manual_seed(INPUT_SEED)
    x = torch.randn([len(CTM_Y), CTM_SMALL["in_channels"], CTM_SMALL["image_size"], CTM_SMALL["image_size"]])
    c_t, c_s, y = torch.tensor(CTM_C_T), torch.tensor(CTM_C_S), torch.tensor(CTM_Y)
    model.eval()
    with torch.no_grad():
        out["expected.ts"] = model(x, 1000 * c_t, y=y, s=1000 * c_s)
        out["expected.t"] = model(x, 1000 * c_t, y=y)
    out.update({"input.x": x, "input.c_t": c_t, "input.c_s": c_s, "input.y": y})
    meta = {"source": f"sony/ctm {CTM_COMMIT} code/cm/unet.py UNetModel", "config": json.dumps(CTM_SMALL),
            "shapes": json.dumps(shapes), "weights": "offset + amp * sin(0.7 * i + phase), wgen.<key> = "
            "[offset, amp, phase], i the flat index, float64 then float32",
            "outputs": "eval mode, no autograd; ts: model(x, 1000 c_t, y=y, s=1000 c_s); t: model(x, 1000 c_t, y=y)"}
    return {k: v.contiguous() for k, v in out.items()}, meta


def networks_at_commit(edm, tmp):
    """EDM's training/networks.py at EDM_COMMIT, imported from tmp with a stand-in for torch_utils.persistence."""
    git = ["git", "--git-dir", edm] if os.path.isfile(os.path.join(edm, "HEAD")) else ["git", "-C", edm]
    src = subprocess.run(git + ["show", f"{EDM_COMMIT}:training/networks.py"], capture_output=True, check=True).stdout
    path = os.path.join(tmp, "networks.py")
    with open(path, "wb") as f:
        f.write(src)
    torch_utils = types.ModuleType("torch_utils")
    torch_utils.__path__ = []
    persistence = types.ModuleType("torch_utils.persistence")
    persistence.persistent_class = lambda cls: cls
    torch_utils.persistence = persistence
    sys.modules.update({"torch_utils": torch_utils, "torch_utils.persistence": persistence})
    spec = importlib.util.spec_from_file_location("edm_networks", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def key_table(networks):
    torch.manual_seed(0)  # shapes do not depend on it
    cfg = dict(IMAGENET64)
    net = networks.EDMPrecond(img_resolution=cfg.pop("img_resolution"), img_channels=cfg.pop("img_channels"), **cfg)
    sd = net.state_dict()
    lines = [f"{k}\t{list(v.shape)}" for k, v in sd.items()]
    lines.append(f"# total elements {sum(v.numel() for v in sd.values())}")
    lines.append(f"# parameters {sum(p.numel() for p in net.parameters())}")
    del net, sd
    return "\n".join(lines) + "\n"


def quantise(t):
    """t rounded to int8 * 2^-k, with k the largest that keeps |q| <= 127; returns (q, scale)."""
    m = t.abs().max().item()
    k = 0 if m == 0 else math.floor(math.log2(127 / m))
    scale = 2.0 ** -k
    q = torch.round(t / scale).clamp(-127, 127).to(torch.int8)
    return q, torch.tensor([scale], dtype=torch.float32)


def small_fixture(networks):
    torch.manual_seed(WEIGHT_SEED)
    net = networks.DhariwalUNet(**SMALL)
    out = {}
    with torch.no_grad():
        for p in net.parameters():
            p.add_(WEIGHT_JITTER * torch.randn_like(p))
        params = dict(net.named_parameters())
        for k, v in net.state_dict().items():
            if k in params:
                q, s = quantise(v)
                params[k].copy_(q.to(torch.float32) * s)  # the reference uses exactly the stored weights
                out[f"net.{k}"], out[f"net_scale.{k}"] = q, s
            else:
                out[f"net.{k}"] = v.detach().clone()

    torch.manual_seed(INPUT_SEED)
    n, res = len(SIGMA), SMALL["img_resolution"]
    x = torch.randn([n, SMALL["in_channels"], res, res])
    augment = 0.5 * torch.randn([n, SMALL["augment_dim"]])
    sigma = torch.tensor(SIGMA)
    x_noisy = sigma.reshape(-1, 1, 1, 1) * torch.randn([n, SMALL["in_channels"], res, res])
    noise_labels = sigma.log() / 4
    labels = torch.nn.functional.one_hot(torch.tensor(CLASSES), SMALL["label_dim"]).to(torch.float32)

    precond = networks.EDMPrecond(img_resolution=res, img_channels=SMALL["in_channels"], label_dim=SMALL["label_dim"],
                                  model_type="DhariwalUNet", **{k: v for k, v in SMALL.items()
                                                               if k not in ("img_resolution", "in_channels",
                                                                            "out_channels", "label_dim")})
    precond.model.load_state_dict(net.state_dict())
    net.eval()
    precond.eval()
    with torch.no_grad():
        out["expected.raw_aug"] = net(x, noise_labels, labels, augment)
        out["expected.raw_noaug"] = net(x, noise_labels, labels, None)
        out["expected.D_labels"] = precond(x_noisy, sigma, labels)
        out["expected.D_nolabels"] = precond(x_noisy, sigma, None)
    out.update({"input.x": x, "input.noise_labels": noise_labels, "input.class_labels": labels,
                "input.augment_labels": augment, "input.sigma": sigma, "input.x_noisy": x_noisy})
    return {k: v.contiguous() for k, v in out.items()}


METADATA = {
    "source": f"NVlabs/edm {EDM_COMMIT} training/networks.py DhariwalUNet, EDMPrecond",
    "config": json.dumps(SMALL),
    "weights": "net.<key> (I8) * net_scale.<key> (F32) for parameters; buffers F32 under net.<key>",
    "raw": "eval mode, no autograd; raw_aug with augment labels, raw_noaug with augment_labels None",
    "precond": "EDMPrecond(label_dim=10, sigma_data=0.5) around the same net, eval mode; D_nolabels: class_labels None",
}


def build(edm, out_dir, ctm=None):
    if ctm is not None:
        with tempfile.TemporaryDirectory() as tmp:
            tensors, meta = ctm_fixture(ctm_unet_at_commit(ctm, tmp))
            os.makedirs(out_dir, exist_ok=True)
            save_file(tensors, os.path.join(out_dir, "adm-ctm-unet-small.safetensors"), metadata=meta)
    with tempfile.TemporaryDirectory() as tmp:
        networks = networks_at_commit(edm, tmp)
        os.makedirs(out_dir, exist_ok=True)
        save_file(small_fixture(networks), os.path.join(out_dir, "adm-small.safetensors"), metadata=METADATA)
        with open(os.path.join(out_dir, "adm-imagenet64-keys.tsv"), "w", newline="\n") as f:
            f.write(key_table(networks))


def compare(new_dir, old_dir, tol):
    ok = True
    names = ["adm-small.safetensors"]
    if os.path.exists(os.path.join(new_dir, "adm-ctm-unet-small.safetensors")):
        names.append("adm-ctm-unet-small.safetensors")
    name = "adm-imagenet64-keys.tsv"
    if open(os.path.join(new_dir, name)).read() != open(os.path.join(old_dir, name)).read():
        print(f"{name}: differs")
        ok = False
    for name in names:
        ok = compare_file(os.path.join(new_dir, name), os.path.join(old_dir, name), tol) and ok
    print("match" if ok else "MISMATCH")
    return ok


def compare_file(new, old, tol):
    ok, name = True, os.path.basename(new)
    with safe_open(new, "pt") as a, safe_open(old, "pt") as b:
        if a.metadata() != b.metadata() or sorted(a.keys()) != sorted(b.keys()):
            print(f"{name}: metadata or tensor names differ")
            return False
        for k in a.keys():
            x, y = a.get_tensor(k), b.get_tensor(k)
            if x.dtype != y.dtype or x.shape != y.shape:
                print(f"{name}: {k} dtype/shape differs")
                ok = False
                continue
            x, y = x.double(), y.double()
            rel = (x - y).abs().max().item() / max(y.abs().max().item(), 1e-30)
            if rel > tol:
                print(f"{name}: {k} relative difference {rel:.3g}")
                ok = False
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--edm", required=True, help="EDM git work tree or git directory containing " + EDM_COMMIT)
    ap.add_argument("--ctm", help="sony/ctm git work tree or git directory containing " + CTM_COMMIT)
    ap.add_argument("--out", default=os.path.join("cm-core", "src", "test", "resources", "reference"))
    ap.add_argument("--check", action="store_true", help="build in a temp dir and compare with --out")
    ap.add_argument("--tol", type=float, default=1e-5)
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.check:
        with tempfile.TemporaryDirectory() as tmp:
            build(a.edm, tmp, a.ctm)
            sys.exit(0 if compare(tmp, a.out, a.tol) else 1)
    build(a.edm, a.out, a.ctm)


if __name__ == "__main__":
    main()
