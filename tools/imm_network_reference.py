#!/usr/bin/env python3
"""IMM network parity fixture: the official IMM SongUNet (lumalabs/imm training/unets.py SongUNet with s_embed=True,
where the second time's embedding is added to the first time's before the final SiLU) on a tiny config, with every
parameter drawn at random, and its outputs for fixed inputs. Writes
cm-core/src/test/resources/reference/imm-songunet-small.safetensors, which dev.cm4j.nn.ImmSongUNetParityTest loads
into cm4j's SongUNet with s_embedding_mode "sum" (key for key, no missing or unexpected keys) and compares outputs
against (<= 1e-4 relative).

Usage (the reference venv: torch, safetensors, numpy):
    $CM4J_PYTHON tools/imm_network_reference.py --imm PATH [--out DIR] [--check]

PATH is a checkout of github.com/lumalabs/imm or its bare git directory (the fetch tool's mirror,
/work/.mirror/lumalabs+imm/repo), read at the commit pinned in tools/imm_reference.py (c9473e9); the import is
tools/imm_reference.py's import_upstream. No upstream code is copied into this repository.

Fixture layout:
  net.<name>            the official SongUNet's state dict (parameters and buffers, upstream's names)
  input.x               [N, 3, 8, 8]
  input.noise_labels_t  [N] (1000 t, t in [0.006, 0.994], IMM's time_scale)
  input.noise_labels_s  [N] (1000 s, s <= t)
  expected.out          net(x, noise_labels_t, noise_labels_s)
  expected.out_no_s     net(x, noise_labels_t) (noise_labels_s None: upstream skips the s path)
metadata: config (the SongUNet keyword arguments), commit, notes.

It also writes reference/imm-songunet-cifar10-keys.tsv: every state-dict name and shape of the official CIFAR-10
network (IMMPrecond's model, configs/cifar10_generate_images.yaml: DDPM++ with s_embed, SongUNet's defaults otherwise),
which the same test compares with the network the cifar10-imm preset builds, so that the official cifar10.pt loads.

And reference/imm-songunet-fourier-small.safetensors: the same with Fourier embeddings (NCSN++-style: channel_mult_noise
2, filter [1,3,3,1]; upstream's FourierEmbedding scale 0.02), where s has its own frequencies (map_noise_s.freqs).

Upstream's positional embedding makes float64 frequencies and never casts back (x.ger(freqs) promotes), so its
mapping network runs in float64 for float32 inputs; cm4j's runs in float32, hence the 1e-4 tolerance.
"""
import argparse
import json
import math
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import imm_reference  # noqa: E402  (import_upstream, PINNED)
from fixture_file import write_or_check  # noqa: E402

N = 4
CONFIG = dict(img_resolution=8, in_channels=3, out_channels=3, label_dim=0, augment_dim=0, model_channels=8,
              channel_mult=[1, 2], channel_mult_emb=2, num_blocks=1, attn_resolutions=[], dropout=0.0,
              embedding_type="positional", channel_mult_noise=1, encoder_type="standard", decoder_type="standard",
              resample_filter=[1, 1], s_embed=True)


FOURIER = dict(CONFIG, embedding_type="fourier", channel_mult_noise=2, resample_filter=[1, 3, 3, 1])


def build(path, config=CONFIG):
    imm_reference.import_upstream(path)
    import training.unets as unets

    torch.manual_seed(0)
    net = unets.SongUNet(**config)
    # Redraw every parameter (upstream zero-initialises conv1, proj and aux_conv to 1e-5 scale, which would make the
    # comparison weak): weights ~ N(0, 1/fan_in), biases ~ N(0, 0.1^2), GroupNorm affine around (1, 0).
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if p.dim() >= 2:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))
            elif name.endswith(".weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
    net.eval()
    x = torch.randn(N, 3, 8, 8, generator=g)
    t = torch.tensor([0.994, 0.7, 0.31, 0.05])
    s = torch.tensor([0.006, 0.52, 0.3, 0.02])
    lt, ls = 1000 * t, 1000 * s
    with torch.no_grad():
        out = net(x, lt, ls)
        out_no_s = net(x, lt)
    tensors = {f"net.{k}": v.detach().clone().contiguous() for k, v in net.state_dict().items()}
    tensors.update({"input.x": x, "input.noise_labels_t": lt, "input.noise_labels_s": ls,
                    "expected.out": out.float().contiguous(), "expected.out_no_s": out_no_s.float().contiguous()})
    meta = {"config": json.dumps(config), "commit": imm_reference.PINNED,
            "notes": "lumalabs/imm training/unets.py SongUNet (s_embed=True), eval mode, dropout 0, every parameter "
                     "redrawn (weights N(0, 1/fan_in), biases N(0, 0.01), norm scales 1 + N(0, 0.01))"}
    return tensors, meta


# configs/cifar10_generate_images.yaml network (IMMPrecond passes img_resolution/channels and label_dim).
CIFAR10 = dict(img_resolution=32, in_channels=3, out_channels=3, label_dim=0, embedding_type="positional",
               encoder_type="standard", decoder_type="standard", channel_mult_noise=1, resample_filter=[1, 1],
               model_channels=128, channel_mult=[2, 2, 2], s_embed=True, dropout=0.2)


def cifar10_keys():
    import training.unets as unets
    net = unets.SongUNet(**CIFAR10)
    return "".join(f"model.{k}\t{list(v.shape)}\n" for k, v in net.state_dict().items())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--imm", required=True, help="lumalabs/imm checkout or bare git directory")
    ap.add_argument("--out", default=os.path.join(HERE, "..", "cm-core", "src", "test", "resources", "reference"))
    ap.add_argument("--check", action="store_true", help="compare a rebuild with the committed file")
    a = ap.parse_args()
    imm_reference.import_upstream(a.imm)
    keys_path = os.path.join(a.out, "imm-songunet-cifar10-keys.tsv")
    keys = cifar10_keys()
    if a.check:
        with open(keys_path) as f:
            if f.read() != keys:
                print("differs:", keys_path)
                sys.exit(1)
        print("ok:", keys_path)
    else:
        with open(keys_path, "w") as f:
            f.write(keys)
        print("wrote", keys_path)
    for name, config in (("imm-songunet-small.safetensors", CONFIG), ("imm-songunet-fourier-small.safetensors", FOURIER)):
        path = os.path.join(a.out, name)
        tensors, meta = build(a.imm, config)
        write_or_check(path, tensors, meta, a.check, atol=1e-9)


if __name__ == "__main__":
    main()
