"""Builds a tiny labelled dataset zip in the ImageNet-64 layout with EDM's own dataset_tool.py, plus what PIL reads
back from it, for dev.cm4j.data.ImageNetLayoutTest.

The source is laid out like ImageNet's training folder: one sub-folder per class (WordNet-style ids), JPEG files
of varied, non-square sizes. dataset_tool.py (taken from EDM's git history at a pinned commit, not copied into this
repository) converts it as EDM's README converts ImageNet:

  python dataset_tool.py --source=SRC --dest=imagenet64-layout.zip --transform=center-crop --resolution=64x64

which gives the layout of every EDM/EDM2 image dataset: stored (uncompressed) PNGs named 00000/img00000000.png, ...
and a dataset.json {"labels": [["00000/img00000000.png", 0], ...]} whose classes are the sorted indices of the
top-level folder names. EDM2's dataset_tool.py `convert` writes the same names and labels (its ImageNet transform is
center-crop-dhariwal); it is not run here because it imports torch and its VAE encoder at the top.

Outputs (into OUT, by default cm-core/src/test/resources/reference):
  imagenet64-layout.zip           the dataset, exactly as dataset_tool.py wrote it
  imagenet64-layout-pixels.npy    uint8 [N, 64, 64, 3]: np.array(PIL.Image.open(entry)) of each image entry in
                                  sorted name order (what EDM's training/dataset.py reads)
  imagenet64-layout-expected.json {"names": [...], "labels": [...]} in the same order

How to run (from the repository root; needs Python 3 with numpy, Pillow, click and tqdm — on Debian 12:
apt-get install python3-numpy python3-pil python3-click python3-tqdm; the reference venv has no Pillow):

  /usr/bin/python3 tools/make_imagenet_layout_fixture.py --edm /path/to/edm-git-dir-or-clone
  /usr/bin/python3 tools/make_imagenet_layout_fixture.py --edm ... --check   # rebuild in a temp dir, compare

--edm is a clone of https://github.com/NVlabs/edm (or its bare git directory); dataset_tool.py is read from the
pinned commit with `git show`. The source images come from a fixed numpy seed; PIL's JPEG and Lanczos code may
differ in the last bits between Pillow versions, so --check compares names and labels exactly and pixels with a
tolerance (and says how far they are).
"""
import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
import PIL.Image

EDM_COMMIT = '008a4e5316c8e3bfe61a62f874bddba254295afb'
CLASSES = ['n01440764', 'n01443537', 'n01484850']  # three ImageNet-style folder names
COUNT = 10  # images; dataset_tool stores each uncompressed (~12 KB at 64x64 RGB)


def make_source(src):
    rng = np.random.RandomState(2024)
    for i in range(COUNT):
        cls = i % len(CLASSES)
        h, w = [(72, 80), (80, 72), (96, 64), (64, 64)][i % 4]  # center-crop handles each orientation
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
        base = np.zeros([h, w, 3])
        base[..., cls] = 255 * (0.5 + 0.5 * np.sin(xx / (3 + i) + yy / (5 + cls)))
        base[..., (cls + 1) % 3] = 255 * yy / h
        base[..., (cls + 2) % 3] = 128 + 60 * np.cos((xx - yy) / 7)
        base += rng.normal(0, 12, size=base.shape)
        img = np.clip(np.rint(base), 0, 255).astype(np.uint8)
        d = os.path.join(src, CLASSES[cls])
        os.makedirs(d, exist_ok=True)
        PIL.Image.fromarray(img, 'RGB').save(os.path.join(d, f'{CLASSES[cls]}_{i}.JPEG'), quality=90)


def build(edm, out):
    with tempfile.TemporaryDirectory() as tmp:
        tool = subprocess.run(['git', '--git-dir', git_dir(edm), 'show', f'{EDM_COMMIT}:dataset_tool.py'],
                              check=True, capture_output=True).stdout
        with open(os.path.join(tmp, 'dataset_tool.py'), 'wb') as f:
            f.write(tool)
        src = os.path.join(tmp, 'src')
        make_source(src)
        dest = os.path.abspath(os.path.join(out, 'imagenet64-layout.zip'))
        subprocess.run([sys.executable, os.path.join(tmp, 'dataset_tool.py'), f'--source={src}', f'--dest={dest}',
                        '--transform=center-crop', '--resolution=64x64'], check=True, cwd=tmp,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with zipfile.ZipFile(dest) as z:
        names = sorted(n for n in z.namelist() if n.endswith('.png'))
        labels = dict(json.loads(z.read('dataset.json'))['labels'])
        pixels = np.stack([np.array(PIL.Image.open(io.BytesIO(z.read(n)))) for n in names])
    assert pixels.shape == (COUNT, 64, 64, 3) and pixels.dtype == np.uint8, pixels.shape
    np.save(os.path.join(out, 'imagenet64-layout-pixels.npy'), pixels)
    with open(os.path.join(out, 'imagenet64-layout-expected.json'), 'w') as f:
        json.dump({'names': names, 'labels': [labels[n] for n in names]}, f, indent=1)
        f.write('\n')


def git_dir(path):
    return path if os.path.isfile(os.path.join(path, 'HEAD')) and not os.path.isdir(os.path.join(path, '.git')) \
        else os.path.join(path, '.git')


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--edm', required=True, help='EDM clone or bare git directory')
    p.add_argument('--out', default='cm-core/src/test/resources/reference')
    p.add_argument('--check', action='store_true', help='rebuild in a temp dir and compare with OUT')
    p.add_argument('--tol', type=int, default=2, help='--check: largest allowed pixel difference')
    a = p.parse_args()
    if not a.check:
        build(a.edm, a.out)
        return
    with tempfile.TemporaryDirectory() as tmp:
        build(a.edm, tmp)
        with open(os.path.join(tmp, 'imagenet64-layout-expected.json')) as f1, \
                open(os.path.join(a.out, 'imagenet64-layout-expected.json')) as f2:
            same = json.load(f1) == json.load(f2)
        d = np.abs(np.load(os.path.join(tmp, 'imagenet64-layout-pixels.npy')).astype(int)
                   - np.load(os.path.join(a.out, 'imagenet64-layout-pixels.npy')).astype(int)).max()
        print(f'names and labels {"equal" if same else "DIFFER"}; largest pixel difference {d}')
        sys.exit(0 if same and d <= a.tol else 1)


if __name__ == '__main__':
    main()
