"""Rebuilds the EDM2 reference fixtures of the tests from EDM2's own PyTorch code (training/networks_edm2.py).

Writes, into OUT (by default cm-core/src/test/resources/reference):
  edm2-small.safetensors            a small EDM2 Precond (weights, inputs, eval/train forward passes, the forced
                                    weight-normalisation write-back, one SGD step; read by dev.cm4j.nn.EDM2UNetTest)
  edm2-<preset>-keys.tsv            Precond state-dict keys and shapes of EDM2's published networks (header line:
                                    the parameter count): img64-xs, img64-s, img64-m, img64-l, img64-xl (pixel
                                    ImageNet-64, 3 channels) and img512-xxl (the only XXL: latent 64x64x4)

Nothing of EDM2 is copied here: `git archive` extracts torch_utils/misc.py and training/networks_edm2.py at the
pinned commit into a temporary directory, which is put on sys.path; torch_utils.persistence (pickling support) and
dnnlib (needs `requests`) are replaced by two small stand-ins, since neither plays a part in a forward pass. The key tables are computed on torch's "meta"
device (shapes only, nothing allocated).

How to run (from the repository root, with the reference venv, torch 2.13.0+cpu):

  git clone https://github.com/NVlabs/edm2.git /tmp/edm2           # or any git dir holding commit EDM2_COMMIT
  $CM4J_PYTHON tools/make_edm2_fixtures.py --edm2 /tmp/edm2/.git

What edm2-small.safetensors holds (its metadata says the same in short):
  net.*              Precond(img_resolution=16, img_channels=3, label_dim=10, use_fp16=False, logvar_channels=16,
                     model_channels=16, channel_mult=[1, 2], num_blocks=1, attn_resolutions=[8],
                     channels_per_head=16, dropout=0) built after torch.manual_seed(1234); the scalar gains
                     (out_gain, every emb_gain; zero at EDM2's init, which would zero the output) are then set to
                     0.5 + U(0, 1) drawn in parameter order;
  input.sigma        [0.002, 0.3, 2.5, 80]; input.x = sigma * n, n ~ N(0, 1) of shape [4, 3, 16, 16] after
                     torch.manual_seed(99); input.labels one-hot of classes [3, 0, 7, 9]; input.r a second N(0, 1)
                     draw of input.x's shape (the SGD step's loss weights);
  eval.D, eval.logvar  net.eval() forward (return_logvar=True), no autograd, weights as in net.*;
  train.D            then net.train() forward: EDM2's MPConv writes normalize(w) back into every weight first;
  wb.<key>           a few weights after that forward (the write-back);
  step.D, step.<key> loss = sum(train.D * input.r) backward, torch.optim.SGD(lr=0.05) step, then a second train
                     forward: its output and the same weights after its write-back.
"""
import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile

import torch
from safetensors.torch import save_file

EDM2_COMMIT = "4bf8162f601bcc09472ce8a32dd0cbe8889dc8fc"  # NVlabs/edm2, "Autoguidance release."

SMALL = dict(img_resolution=16, img_channels=3, label_dim=10, use_fp16=False, logvar_channels=16, model_channels=16,
             channel_mult=[1, 2], num_blocks=1, attn_resolutions=[8], channels_per_head=16, dropout=0.0)
SIGMA = [0.002, 0.3, 2.5, 80.0]
CLASSES = [3, 0, 7, 9]
WB_KEYS = ["unet.emb_noise.weight", "unet.enc.16x16_conv.weight", "unet.dec.8x8_in0.attn_qkv.weight",
           "unet.out_conv.weight", "logvar_linear.weight"]
LR = 0.05

# EDM2's ImageNet presets (train_edm2.py at EDM2_COMMIT, config_presets): model_channels per preset. img64 has
# xs..xl; XXL exists only at 512 (latent 64x64x4). Every other UNet argument is EDM2's default.
PUBLISHED = {
    "img64-xs": dict(img_resolution=64, img_channels=3, model_channels=128),
    "img64-s": dict(img_resolution=64, img_channels=3, model_channels=192),
    "img64-m": dict(img_resolution=64, img_channels=3, model_channels=256),
    "img64-l": dict(img_resolution=64, img_channels=3, model_channels=320),
    "img64-xl": dict(img_resolution=64, img_channels=3, model_channels=384),
    "img512-xxl": dict(img_resolution=64, img_channels=4, model_channels=448),
}


def extract(git_dir, dest):
    data = subprocess.run(["git", "--git-dir", git_dir, "archive", EDM2_COMMIT, "torch_utils/misc.py",
                           "training/networks_edm2.py"], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        t.extractall(dest, filter="data")
    open(os.path.join(dest, "training", "__init__.py"), "w").close()
    open(os.path.join(dest, "torch_utils", "__init__.py"), "w").close()
    with open(os.path.join(dest, "torch_utils", "persistence.py"), "w") as f:
        f.write("def persistent_class(c):\n    return c\n")
    os.makedirs(os.path.join(dest, "dnnlib"))
    with open(os.path.join(dest, "dnnlib", "__init__.py"), "w") as f:
        f.write("class EasyDict(dict):\n    pass\n")


def key_table(net):
    lines = [f"# parameters\t{sum(p.numel() for p in net.parameters())}"]
    for k, v in net.state_dict().items():
        lines.append(f"{k}\t{list(v.shape)}")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edm2", required=True, help="a git dir (or checkout's .git) holding EDM2_COMMIT")
    ap.add_argument("--out", default="cm-core/src/test/resources/reference")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="edm2-")
    extract(a.edm2, tmp)
    sys.path.insert(0, tmp)
    import training.networks_edm2 as N  # noqa: E402  (from the pinned commit)

    torch.set_num_threads(1)
    # Key tables of the published configurations (meta device: shapes only).
    for name, kw in PUBLISHED.items():
        with torch.device("meta"):
            net = N.Precond(label_dim=1000, **kw)
        with open(os.path.join(a.out, f"edm2-{name}-keys.tsv"), "w") as f:
            f.write(key_table(net))

    # The small network.
    torch.manual_seed(1234)
    net = N.Precond(**SMALL)
    with torch.no_grad():
        for k, p in net.named_parameters():
            if p.ndim == 0:
                p.copy_(0.5 + torch.rand([]))
    tensors = {f"net.{k}": v.detach().clone() for k, v in net.state_dict().items()}

    sigma = torch.tensor(SIGMA)
    torch.manual_seed(99)
    x = sigma.reshape(-1, 1, 1, 1) * torch.randn(4, 3, 16, 16)
    r = torch.randn(4, 3, 16, 16)
    labels = torch.nn.functional.one_hot(torch.tensor(CLASSES), SMALL["label_dim"]).float()
    tensors.update({"input.sigma": sigma, "input.x": x, "input.labels": labels, "input.r": r})

    net.eval()
    with torch.no_grad():
        D, logvar = net(x, sigma, labels, return_logvar=True)
    tensors["eval.D"], tensors["eval.logvar"] = D, logvar

    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    D = net(x, sigma, labels)
    tensors["train.D"] = D.detach().clone()
    sd = net.state_dict()
    for k in WB_KEYS:
        tensors[f"wb.{k}"] = sd[k].detach().clone()
    (D * r).sum().backward()
    opt.step()
    D2 = net(x, sigma, labels)  # with autograd on, as a training step runs it
    tensors["step.D"] = D2.detach().clone()
    sd = net.state_dict()
    for k in WB_KEYS:
        tensors[f"step.{k}"] = sd[k].detach().clone()

    meta = {"source": f"NVlabs/edm2@{EDM2_COMMIT} training/networks_edm2.py Precond",
            "config": json.dumps(SMALL), "classes": json.dumps(CLASSES), "sgd_lr": str(LR),
            "wb_keys": json.dumps(WB_KEYS)}
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    path = os.path.join(a.out, "edm2-small.safetensors")
    save_file(tensors, path, metadata=meta)
    print(path, os.path.getsize(path), "bytes;", sum(v.numel() for k, v in tensors.items() if k.startswith("net.")),
          "network values")


if __name__ == "__main__":
    main()
