"""Dequantizes every tensor of a GGUF file with gguf-py's gguf.quants (the reference for our
dequantize_rows) and writes the f32 values of all tensors, in file order, to one raw file.

Usage: gguf_dequantize.py IN.gguf OUT.f32
"""
import sys

import numpy as np
import gguf


def main(src: str, dst: str) -> None:
    r = gguf.GGUFReader(src)
    with open(dst, "wb") as f:
        for t in r.tensors:
            v = gguf.quants.dequantize(t.data, t.tensor_type)
            np.ascontiguousarray(v, dtype=np.float32).tofile(f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
