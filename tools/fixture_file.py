"""Writes a safetensors fixture, or (check) compares a rebuild with the committed file: shared by the tools/*_reference.py
scripts. A check exits with status 1 and names the differing tensors."""
import os
import sys

import torch
from safetensors.torch import load_file, save_file


def write_or_check(path, tensors, meta, check, atol=1e-7, rtol=1e-6):
    if check:
        old = load_file(path)
        bad = [k for k in tensors if k not in old or not torch.allclose(old[k], tensors[k], rtol=rtol, atol=atol)]
        if bad or set(old) != set(tensors):
            print("differs:", path, bad or sorted(set(old) ^ set(tensors)))
            sys.exit(1)
        print("ok:", path)
        return
    save_file(tensors, path, metadata=meta)
    print("wrote", path, os.path.getsize(path), "bytes")
