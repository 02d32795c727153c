"""Copy a fixture model folder and damage one tensor (for the bad-input tests).

usage: make_bad_checkpoint.py SRC_DIR DST_DIR MODE TENSOR
  MODE int8: store TENSOR as int8 (an unsupported dtype)
  MODE f8:   store TENSOR as float8_e4m3fn
  MODE nan:  set TENSOR's element 5 to NaN
  MODE inf:  set TENSOR's element 5 to +Inf
The damaged tensor stays in the shard that held it; the other files are copied unchanged.
"""
import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def main():
    src, dst, mode, tensor = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    shutil.copytree(src, dst)
    index = dst / "model.safetensors.index.json"
    if index.is_file():
        shard = json.loads(index.read_text())["weight_map"][tensor]
    else:
        shard = "model.safetensors"
    path = dst / shard
    tensors = load_file(path)
    t = tensors[tensor]
    if mode == "int8":
        t = t.to(torch.int8)
    elif mode == "f8":
        t = t.to(torch.float8_e4m3fn)
    elif mode in ("nan", "inf"):
        t = t.clone()
        t.view(-1)[5] = float("nan") if mode == "nan" else float("inf")
    else:
        raise SystemExit(f"unknown mode {mode}")
    tensors[tensor] = t.contiguous()
    save_file(tensors, path, metadata={"format": "pt"})


if __name__ == "__main__":
    main()
