#!/usr/bin/env python3
"""Runs several prebuilt libFuzzer binaries of fuzz/ at once, each with its own number of worker
processes, under scripts/fuzz.sh's limits, and sums up what they did.

For a machine without Rust (the binaries are built elsewhere with the flags of scripts/fuzz.sh:
`cargo +nightly fuzz build -a -s none`, release). Standard library only.

    python3 scripts/fuzz_parallel.py --bin DIR --seeds fuzz/corpus --out DIR --seconds S \\
        --plan gguf_reader=1:12000000,tokenizer_json=4,...

--plan: TARGET=WORKERS[:RUNS]: WORKERS libFuzzer processes (`-jobs=N -workers=N`, sharing one
working corpus, OUT/work/TARGET), each running until S seconds or RUNS executions (default: no
count limit). Limits as scripts/fuzz.sh: -rss_limit_mb=2048 (so no allocation over 2 GB either),
-timeout=1 (GGUFKIT_FUZZ_TIMEOUT overrides). Crashes, timeouts and out-of-memory inputs go to
OUT/artifacts/TARGET/, each worker's log to OUT/logs/TARGET/fuzz-N.log.

Then each final corpus (working corpus + seeds) is replayed once (-runs=0) for its coverage, and
OUT/summary.json and OUT/summary.md give per target: executions summed over its workers, wall
time, crashes/timeouts/OOMs, final corpus (files, bytes), cov and ft of the final corpus, peak RSS.
Exits 1 if any target reported a failure.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path


def parse_plan(text):
    plan = {}
    for item in text.split(","):
        name, _, spec = item.strip().partition("=")
        workers, _, runs = spec.partition(":")
        plan[name] = (int(workers), int(runs) if runs else -1)
    return plan


def corpus_size(d):
    files = [p for p in Path(d).iterdir() if p.is_file()] if Path(d).is_dir() else []
    return len(files), sum(p.stat().st_size for p in files)


def stat(text, key):
    return [int(m) for m in re.findall(rf"stat::{key}:\s*(\d+)", text)]


def worker_figures(log):
    """Executions and peak RSS of one worker, from its final statistics (or, when it died
    without them, its last progress line)."""
    text = log.read_text(errors="replace")
    execs = stat(text, "number_of_executed_units")
    rss = stat(text, "peak_rss_mb")
    if not execs:
        progress = re.findall(r"^#(\d+)\s", text, re.M)
        execs = [int(progress[-1])] if progress else [0]
    failures = len(re.findall(r"==\d+== ERROR: libFuzzer|ERROR: libFuzzer: ", text))
    done = re.findall(r"^Done \d+ runs in (\d+) second", text, re.M)
    return execs[-1], (rss[-1] if rss else 0), failures, (int(done[-1]) if done else None)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True, type=Path)
    ap.add_argument("--seeds", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--seconds", required=True, type=int)
    ap.add_argument("--plan", required=True)
    a = ap.parse_args()
    plan = parse_plan(a.plan)
    out = a.out.resolve()
    timeout = os.environ.get("GGUFKIT_FUZZ_TIMEOUT", "1")
    procs = {}
    start = time.time()
    for t, (workers, runs) in plan.items():
        work, art, logs = out / "work" / t, out / "artifacts" / t, out / "logs" / t
        for d in (work, art, logs):
            d.mkdir(parents=True, exist_ok=True)
        cmd = [str((a.bin / t).resolve()), f"-jobs={workers}", f"-workers={workers}",
               f"-max_total_time={a.seconds}", "-rss_limit_mb=2048", f"-timeout={timeout}",
               "-print_final_stats=1", f"-artifact_prefix={art}/", f"-runs={runs}",
               str(work), str((a.seeds / t).resolve())]
        procs[t] = (subprocess.Popen(cmd, cwd=logs, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), time.time())
        print(f"[fuzz] {t}: {workers} worker(s), runs {runs}: {' '.join(cmd)}", file=sys.stderr)
    wall = {}
    while len(wall) < len(procs):
        for t, (p, t0) in procs.items():
            if t not in wall and p.poll() is not None:
                wall[t] = time.time() - t0
        time.sleep(0.5)
    print(f"[fuzz] fuzzing done after {time.time() - start:.0f} s; replaying the final corpora", file=sys.stderr)
    # coverage of each final corpus: one replay, all targets at once
    replays = {}
    for t in plan:
        cmd = [str((a.bin / t).resolve()), "-runs=0", "-rss_limit_mb=2048", f"-timeout={timeout}",
               str(out / "work" / t), str((a.seeds / t).resolve())]
        replays[t] = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    rows, failed = [], False
    for t, (workers, runs) in plan.items():
        err = replays[t].communicate()[1]
        m = re.findall(r"INITED cov: (\d+) ft: (\d+)", err)
        cov, ft = (int(m[-1][0]), int(m[-1][1])) if m else (None, None)
        logs = sorted((out / "logs" / t).glob("fuzz-*.log"))
        figs = [worker_figures(lg) for lg in logs]
        artifacts = sorted(p.name for p in (out / "artifacts" / t).iterdir())
        kinds = {k: sum(1 for n in artifacts if n.startswith(k + "-")) for k in ("crash", "timeout", "oom", "leak", "slow-unit")}
        files, size = corpus_size(out / "work" / t)
        seeds = corpus_size(a.seeds / t)
        row = {
            "target": t, "workers": workers, "runs_per_worker": runs,
            "executions": sum(f[0] for f in figs), "executions_per_worker": [f[0] for f in figs],
            "wall_s": round(wall[t], 1), "worker_seconds": [f[3] for f in figs],
            "exit_code": procs[t][0].returncode,
            "crashes": kinds["crash"], "timeouts": kinds["timeout"], "ooms": kinds["oom"],
            "leaks": kinds["leak"], "failures_in_logs": sum(f[2] for f in figs), "artifacts": artifacts,
            "seeds_files": seeds[0], "seeds_bytes": seeds[1],
            "corpus_files": files, "corpus_bytes": size, "cov": cov, "ft": ft,
            "peak_rss_mb": max((f[1] for f in figs), default=0),
        }
        failed |= bool(artifacts) or row["failures_in_logs"] > 0
        rows.append(row)
    (out / "summary.json").write_text(json.dumps(rows, indent=1) + "\n")
    lines = ["| target | workers | executions (sum) | wall s | crashes / timeouts / OOMs | corpus: seeds -> end (files / bytes) | cov (ft) of final corpus | peak RSS MB |",
             "|---|---:|---:|---:|---|---|---|---:|"]
    for r in rows:
        lines.append(f"| `{r['target']}` | {r['workers']} | {r['executions']:,} | {r['wall_s']:.0f} | "
                     f"{r['crashes']} / {r['timeouts']} / {r['ooms']} | {r['seeds_files']} / {r['seeds_bytes']:,} -> "
                     f"{r['corpus_files']} / {r['corpus_bytes']:,} | {r['cov']} ({r['ft']}) | {r['peak_rss_mb']} |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
