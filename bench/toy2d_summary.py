#!/usr/bin/env python3
"""Summarises bench/toy2d_study.sh output (RESULT lines) as the tables of docs/toy2d.md.

Per cell: the 1-step SW2 of each seed, the 2-step SW2 at each t_mid (mean over seeds), how many seeds collapsed
(final 1-step SW2 above 0.1, i.e. closer to "everything at the centre" (0.354) than to the data (0.02)), and the worst
rise of the 1-step SW2 between consecutive snapshots after its best value.
Usage: bench/toy2d_summary.py toy2d-study.txt
"""
import re
import sys
from collections import OrderedDict

cells = OrderedDict()
for line in open(sys.argv[1]):
    if not line.startswith("RESULT"):
        continue
    label, seed = re.match(r"RESULT (\S+) seed (\d+)", line).groups()
    one = float(re.search(r"1step sw (\S+)", line).group(1))
    two = {float(t): float(v) for t, v in re.findall(r"2step@(\S+) sw (\S+)", line)}
    traj = [float(x) for x in line.split("| traj ")[1].split("|")[0].split()]
    best = min(range(len(traj)), key=lambda i: traj[i])
    cells.setdefault(label, []).append((int(seed), one, two, traj[best], traj[-1], max(traj[best:]) - traj[best]))

for label, runs in cells.items():
    runs.sort()
    mids = sorted(runs[0][2])
    ones = " ".join("%.3f" % r[1] for r in runs)
    twos = " ".join("%s:%.3f" % (m, sum(r[2][m] for r in runs) / len(runs)) for m in mids)
    collapsed = sum(1 for r in runs if r[1] > 0.1)
    rise = max(r[5] for r in runs)
    bestseen = " ".join("%.3f" % r[3] for r in runs)
    print("%-14s seeds %-6s 1-step %-20s | 2-step mean %s | collapsed %d/%d | best-seen %s, worst rise after it %.3f"
          % (label, ",".join(str(r[0]) for r in runs), ones, twos, collapsed, len(runs), bestseen, rise))
