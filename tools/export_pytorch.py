#!/usr/bin/env python3
"""Convert network weights between PyTorch checkpoints and cm4j's safetensors, in your own PyTorch environment.

  export_pytorch.py to-safetensors IN OUT [--key K] [--code-dir DIR] [--strip-prefix P] [--add-prefix P]
  export_pytorch.py to-pytorch IN.safetensors OUT.pt [--strip-prefix P] [--add-prefix P]

to-safetensors reads
  * an EDM/ECT/CTM network pickle (network-snapshot-*.pkl: a dict whose 'ema' entry is the network module). Unpickling
    needs the code that defined the module: pass the repository with --code-dir (EDM's, ECT's: dnnlib/ and
    torch_utils/ live there);
  * a torch file (.pt/.pth): a state dict, a module, or a dict holding one of them under --key (ECT training states:
    'net'; CTM checkpoints are plain state dicts);
and writes every tensor of the state dict, contiguous and with its dtype, to OUT (safetensors), with the source in the
metadata. EDM's EDMPrecond state dict ('model.*') loads into cm4j's EDMPrecond without renaming; use it as
`cm train --init-from OUT` or as a teacher (`--set objective.teacher=OUT`).

to-pytorch writes a cm4j safetensors file (a network snapshot or any state dict) as a torch state dict that EDM's
network accepts with load_state_dict. Exit status 0 on success; errors print one line and exit 1.
"""
import argparse
import os
import pickle
import sys


def fail(msg):
    print("export_pytorch: " + msg, file=sys.stderr)
    sys.exit(1)


def _is_state_dict(obj, torch):
    return isinstance(obj, dict) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def _state_dict_of(obj, key, torch, source):
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    if _is_state_dict(obj, torch):
        return obj
    if isinstance(obj, dict):
        keys = [key] if key else ["ema", "net", "model", "state_dict", "ema_model"]
        for k in keys:
            if k in obj and obj[k] is not None:
                return _state_dict_of(obj[k], None, torch, source + "[" + repr(k) + "]")
        fail(f"{source}: no network under {keys} (keys: {sorted(map(str, obj.keys()))}); choose one with --key")
    fail(f"{source}: holds a {type(obj).__name__}, not a module or state dict")


def _rename(sd, strip, add):
    out = {}
    for k, v in sd.items():
        if strip:
            if not k.startswith(strip):
                continue
            k = k[len(strip):]
        out[(add or "") + k] = v
    if not out:
        fail(f"no tensor name starts with '{strip}'")
    return out


def to_safetensors(a):
    import torch
    from safetensors.torch import save_file
    if a.code_dir:
        sys.path.insert(0, os.path.abspath(a.code_dir))
    if not os.path.isfile(a.input):
        fail(f"no such file: {a.input}")
    try:
        if a.input.endswith(".pkl"):
            with open(a.input, "rb") as f:
                obj = pickle.load(f)
        else:
            obj = torch.load(a.input, map_location="cpu", weights_only=False)
    except ModuleNotFoundError as e:
        fail(f"cannot unpickle {a.input}: {e} (pass the network's code with --code-dir, e.g. EDM's repository)")
    except Exception as e:  # noqa: BLE001 - one line for any reader error
        fail(f"cannot read {a.input}: {e}")
    sd = _rename(_state_dict_of(obj, a.key, torch, a.input), a.strip_prefix, a.add_prefix)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in sd.items()}
    meta = {"format": "cm4j export", "source": os.path.basename(a.input), "key": a.key or ""}
    tmp = a.output + ".tmp"
    save_file(tensors, tmp, metadata=meta)
    os.replace(tmp, a.output)
    print(f"wrote {a.output}: {len(tensors)} tensors, {sum(t.numel() for t in tensors.values()):,} values")


def to_pytorch(a):
    import torch
    from safetensors.torch import load_file
    if not os.path.isfile(a.input):
        fail(f"no such file: {a.input}")
    try:
        sd = load_file(a.input)
    except Exception as e:  # noqa: BLE001
        fail(f"cannot read {a.input} as safetensors: {e}")
    sd = _rename(sd, a.strip_prefix, a.add_prefix)
    tmp = a.output + ".tmp"
    torch.save(sd, tmp)
    os.replace(tmp, a.output)
    print(f"wrote {a.output}: {len(sd)} tensors")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("direction", choices=["to-safetensors", "to-pytorch"])
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--key", help="entry of a checkpoint dict that holds the network (default: ema, net, model, ...)")
    p.add_argument("--code-dir", help="directory to import the pickled network's code from (EDM/ECT repository)")
    p.add_argument("--strip-prefix", help="keep only tensors whose name starts with this, without it")
    p.add_argument("--add-prefix", help="prepend this to every tensor name")
    a = p.parse_args()
    (to_safetensors if a.direction == "to-safetensors" else to_pytorch)(a)


if __name__ == "__main__":
    main()
