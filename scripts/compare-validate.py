#!/usr/bin/env python3
"""Compares two `ggufkit validate --json` reports of the same run on different devices (CPU, CUDA).

Usage: compare-validate.py CPU.json CUDA.json [--ppl-rel 1e-4] [--kld-rel 0.01]
Prints, per file, PPL / mean KLD / top-1 on both devices and their relative differences, and
exits 1 when a difference is beyond the tolerances (PPL relative; KLD relative, or 1e-6 absolute for
near-zero KLDs; top-1 within 0.1 percentage points).
"""
import argparse
import json
import sys


def rel(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--ppl-rel", type=float, default=1e-4)
    ap.add_argument("--kld-rel", type=float, default=0.01)
    args = ap.parse_args()
    ra, rb = json.load(open(args.a)), json.load(open(args.b))
    ok = True
    pa, pb = ra["reference"]["ppl"]["value"], rb["reference"]["ppl"]["value"]
    d = rel(pa, pb)
    ok &= d <= args.ppl_rel
    print(f"reference  PPL {ra['device']} {pa:.6f}  {rb['device']} {pb:.6f}  rel diff {d:.2e}")
    for fa, fb in zip(ra["files"], rb["files"]):
        name = fa["path"].rsplit("/", 1)[-1]
        sa, sb = fa["stats"], fb["stats"]
        dp = rel(sa["ppl"]["value"], sb["ppl"]["value"])
        ka, kb = sa["kld_mean"]["value"], sb["kld_mean"]["value"]
        dk = rel(ka, kb)
        ta, tb = 100 * sa["same_top"]["value"], 100 * sb["same_top"]["value"]
        good = dp <= args.ppl_rel and (dk <= args.kld_rel or abs(ka - kb) <= 1e-6) and abs(ta - tb) <= 0.1
        ok &= good
        print(f"{name:28} PPL {sa['ppl']['value']:.6f} / {sb['ppl']['value']:.6f} (rel {dp:.2e})  "
              f"KLD {ka:.6f} / {kb:.6f} (rel {dk:.2e})  top-1 {ta:.3f}% / {tb:.3f}%  {'OK' if good else 'DIFFERENT'}")
    if len(ra["files"]) != len(rb["files"]):
        print("different numbers of files")
        ok = False
    print("GPU = CPU within tolerance" if ok else "GPU and CPU DIFFER beyond tolerance")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
