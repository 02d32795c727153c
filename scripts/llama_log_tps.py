"""Tokens/s of a llama-perplexity run from its --log-timestamps log: TOKENS over the time between its
"calculating perplexity over" and "Final estimate" lines (llama-perplexity prints no total speed).

usage: llama_log_tps.py LOG TOKENS   -> prints the tokens/s with one decimal
"""
import re
import sys

t = {}
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"\s*(\d+)\.(\d+)\.(\d+)\.(\d+) ", line)
    if not m:
        continue
    sec = int(m.group(1)) * 60 + int(m.group(2)) + int(m.group(3)) / 1000 + int(m.group(4)) / 1e6
    if "calculating perplexity over" in line:
        t["start"] = sec
    if "Final estimate" in line:
        t["end"] = sec
print(f"{int(sys.argv[2]) / (t['end'] - t['start']):.1f}")
