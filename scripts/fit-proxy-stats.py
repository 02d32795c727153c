"""Correlation of the `--size` sensitivity proxy with the measured KLD (scripts/fit-proxy-check.sh's TSV).

Prints, over all (tensor, type) points and per tensor kind: the number of points, Pearson r of
log(proxy) against log(dKLD), Spearman rho, and the median dKLD/proxy ratio (the kind's scale).
Usage: fit-proxy-stats.py PROXY.tsv
"""
import math
import re
import sys

import numpy as np


def ranks(x):
    order = np.argsort(x)
    r = np.empty(len(x))
    r[order] = np.arange(len(x))
    return r


def stats(rows):
    p = np.array([r[2] for r in rows])
    k = np.array([r[3] for r in rows])
    ok = (p > 0) & (k > 0)
    lp, lk = np.log(p[ok]), np.log(k[ok])
    pearson = float(np.corrcoef(lp, lk)[0, 1]) if ok.sum() > 2 else math.nan
    spearman = float(np.corrcoef(ranks(p), ranks(k))[0, 1]) if len(rows) > 2 else math.nan
    ratio = float(np.median(k[ok] / p[ok])) if ok.any() else math.nan
    return len(rows), int(ok.sum()), pearson, spearman, ratio


def main():
    rows = []
    with open(sys.argv[1]) as f:
        next(f)
        for line in f:
            name, ty, proxy, dkld = line.rstrip("\n").split("\t")
            rows.append((name, ty, float(proxy), float(dkld)))
    kind = lambda n: re.sub(r"^blk\.\d+\.", "", n)
    print("| kind | points | dKLD > 0 | Pearson r (log-log) | Spearman rho | median dKLD/proxy |")
    print("|---|---:|---:|---:|---:|---:|")
    n, pos, r, rho, ratio = stats(rows)
    print(f"| all | {n} | {pos} | {r:.3f} | {rho:.3f} | {ratio:.3e} |")
    for k in sorted({kind(r[0]) for r in rows}):
        n, pos, r, rho, ratio = stats([x for x in rows if kind(x[0]) == k])
        print(f"| {k} | {n} | {pos} | {r:.3f} | {rho:.3f} | {ratio:.3e} |")


if __name__ == "__main__":
    main()
