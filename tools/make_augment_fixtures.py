"""Writes the parity fixture of dev.cm4j.data.AugmentPipeTest from EDM's own augmentation pipeline.

EDM's training/augment.py (with its torch_utils and dnnlib packages) is extracted from the EDM git directory at the
pinned commit into a temporary directory and imported from there; nothing of it is copied into this repository.

Output (default cm-core/src/test/resources/reference/augment-edm.safetensors), one group of tensors per case:
  <case>.images        the input batch [N, C, H, W] (N(0, 1) draws clamped to [-1, 1] after torch.manual_seed)
  <case>.draw.<i>      every random tensor AugmentPipe drew during the call, in call order; the metadata key
                       "<case>.draw.<i>" names its kind: rand | randn | randint:<high>
  <case>.out.images    the augmented images
  <case>.out.labels    the augmentation labels [N, label_dim]
The metadata key "<case>.kwargs" holds the AugmentPipe keyword arguments as JSON. The Java test replays the recorded
draws (so that the comparison does not depend on two generators agreeing), and separately checks that a CPU
generator seeded like torch.manual_seed reproduces the same draws.

Run (from the repository root):
  CM4J_PYTHON=/root/.cache/cm4j/venv-torch-2.13.0+cpu/bin/python
  $CM4J_PYTHON tools/make_augment_fixtures.py [--edm-git /work/.mirror/NVlabs+edm/repo] [--out FILE]
"""
import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import types

import torch
from safetensors.torch import save_file

EDM_COMMIT = "008a4e5316c8e3bfe61a62f874bddba254295afb"  # NVlabs/edm, "Fix a DDP consistency issue with PyTorch 2.1."

# EDM's train.py --augment: p = the option, these multipliers (label_dim 9).
EDM_DEFAULT = dict(xflip=1e8, yflip=1, scale=1, rotate_frac=1, aniso=1, translate_frac=1)
EVERYTHING = dict(xflip=1, yflip=1, rotate_int=1, translate_int=1, scale=1, rotate_frac=1, aniso=1, translate_frac=1,
                  brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1)
COLOUR = dict(brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1)

# name: (kwargs, shape, seed)
CASES = {
    "edm": (dict(p=0.5, **EDM_DEFAULT), [6, 3, 16, 16], 11),
    "all": (dict(p=0.7, **EVERYTHING), [5, 3, 12, 12], 12),
    "gray": (dict(p=1.0, **COLOUR, scale=1, rotate_int=1), [4, 1, 10, 10], 13),
}


def extract(git_dir, commit, paths, dest):
    data = subprocess.run(["git", "--git-dir", git_dir, "archive", commit, *paths], check=True,
                          capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        t.extractall(dest)


def load_augment(root):
    sys.modules.setdefault("requests", types.ModuleType("requests"))  # dnnlib.util imports it for URL downloads only
    sys.path.insert(0, root)
    import importlib
    return importlib.import_module("training.augment")


class Recorder:
    """Wraps torch.rand / randn / randint, recording each result in call order."""

    def __init__(self):
        self.draws = []

    def __enter__(self):
        self.saved = torch.rand, torch.randn, torch.randint
        rand, randn, randint = self.saved

        def r(*a, **k):
            t = rand(*a, **k)
            self.draws.append(("rand", t))
            return t

        def rn(*a, **k):
            t = randn(*a, **k)
            self.draws.append(("randn", t))
            return t

        def ri(high, *a, **k):
            t = randint(high, *a, **k)
            self.draws.append((f"randint:{high}", t))
            return t

        torch.rand, torch.randn, torch.randint = r, rn, ri
        return self

    def __exit__(self, *exc):
        torch.rand, torch.randn, torch.randint = self.saved


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edm-git", default="/work/.mirror/NVlabs+edm/repo")
    ap.add_argument("--out", default="cm-core/src/test/resources/reference/augment-edm.safetensors")
    a = ap.parse_args()
    tensors, meta = {}, {"edm_commit": EDM_COMMIT, "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        extract(a.edm_git, EDM_COMMIT, ["training/augment.py", "torch_utils", "dnnlib"], tmp)
        augment = load_augment(tmp)
        for name, (kwargs, shape, seed) in CASES.items():
            torch.manual_seed(seed)
            images = torch.randn(shape).clamp(-1, 1)
            pipe = augment.AugmentPipe(**kwargs)
            torch.manual_seed(seed + 1000)
            with Recorder() as rec:
                out, labels = pipe(images)
            tensors[f"{name}.images"] = images
            tensors[f"{name}.out.images"] = out.contiguous()
            tensors[f"{name}.out.labels"] = labels.contiguous()
            for i, (kind, t) in enumerate(rec.draws):
                tensors[f"{name}.draw.{i}"] = t.contiguous()
                meta[f"{name}.draw.{i}"] = kind
            meta[f"{name}.kwargs"] = json.dumps(kwargs)
            meta[f"{name}.seed"] = str(seed + 1000)
            meta[f"{name}.draws"] = str(len(rec.draws))
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    save_file(tensors, a.out, metadata=meta)
    print(f"wrote {a.out}: {len(tensors)} tensors")


if __name__ == "__main__":
    main()
