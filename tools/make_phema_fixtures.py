"""Writes the post-hoc EMA fixture of dev.cm4j.optim.PosthocEmaTest from EDM2's own training/phema.py.

EDM2's training/phema.py is extracted from the EDM2 git directory at the pinned commit into a temporary directory and
imported from there; nothing of it is copied into this repository.

Output (default cm-core/src/test/resources/reference/phema-edm2.json): a list of cases, each with the stored
snapshots' training times in images (in_nimg) and relative standard deviations (in_std), the reconstruction time
(out_nimg) and the target stds (out_std), and EDM2's solve_posthoc_coefficients(in_nimg, in_std, out_nimg, out_std)
as coef[in][out]; plus std_to_exp of a few stds.

Run (from the repository root):
  CM4J_PYTHON=/root/.cache/cm4j/venv-torch-2.13.0+cpu/bin/python
  $CM4J_PYTHON tools/make_phema_fixtures.py [--edm2-git /work/.mirror/NVlabs+edm2/repo] [--out FILE]
"""
import argparse
import importlib.util
import io
import json
import os
import subprocess
import tarfile
import tempfile

import numpy as np

EDM2_COMMIT = "4bf8162f601bcc09472ce8a32dd0cbe8889dc8fc"  # NVlabs/edm2, "Autoguidance release."


def extract(git_dir, commit, paths, dest):
    data = subprocess.run(["git", "--git-dir", git_dir, "archive", commit, *paths], check=True,
                          capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        t.extractall(dest)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edm2-git", default="/work/.mirror/NVlabs+edm2/repo")
    ap.add_argument("--out", default="cm-core/src/test/resources/reference/phema-edm2.json")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        extract(a.edm2_git, EDM2_COMMIT, ["training/phema.py"], tmp)
        spec = importlib.util.spec_from_file_location("phema", os.path.join(tmp, "training", "phema.py"))
        phema = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(phema)

        cases = []
        # EDM2's training stores both profiles (0.050, 0.100) at every snapshot; here 8 snapshots of 4096 images each
        # (as if snapshot_kimg were 4.096), reconstructed at the end and at an intermediate snapshot.
        nimg = [4096 * (i + 1) for i in range(8)]
        in_nimg = [n for n in nimg for _ in (0.05, 0.10)]
        in_std = [s for _ in nimg for s in (0.05, 0.10)]
        for out_nimg, out_std in [(nimg[-1], [0.03, 0.05, 0.07, 0.1, 0.15, 0.2]), (nimg[4], [0.04, 0.08])]:
            sel = [i for i in range(len(in_nimg)) if 0 < in_nimg[i] <= out_nimg]  # as reconstruct_phema filters
            i_n = [in_nimg[i] for i in sel]
            i_s = [in_std[i] for i in sel]
            coef = phema.solve_posthoc_coefficients(i_n, i_s, out_nimg, out_std)
            cases.append(dict(in_nimg=i_n, in_std=i_s, out_nimg=out_nimg, out_std=out_std, coef=coef.tolist()))
        # one profile only, snapshots at uneven times
        i_n = [1000, 2500, 7000, 12000]
        i_s = [0.08] * 4
        coef = phema.solve_posthoc_coefficients(i_n, i_s, 12000, [0.05, 0.08, 0.12])
        cases.append(dict(in_nimg=i_n, in_std=i_s, out_nimg=12000, out_std=[0.05, 0.08, 0.12], coef=coef.tolist()))
        stds = [0.01, 0.05, 0.1, 0.2, 0.28]
        exps = [float(phema.std_to_exp(s)) for s in stds]
    out = dict(edm2_commit=EDM2_COMMIT, numpy=np.__version__, cases=cases, std_to_exp=dict(std=stds, exp=exps))
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
    print(f"wrote {a.out}: {len(cases)} cases")


if __name__ == "__main__":
    main()
