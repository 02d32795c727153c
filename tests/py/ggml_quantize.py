"""Quantizes raw f32 rows with the pinned ggml (libggml-base.so via ctypes): the reference for
synthetic inputs (edge cases, random rows) in tests/quant_kernels_props.rs.

Usage: ggml_quantize.py LIBDIR TYPE_ID N_PER_ROW IN.f32 OUT.bin [IMATRIX.f32]

TYPE_ID is the ggml type id. Uses ggml_quantize_chunk (what llama-quantize calls), except for
Q8_K (id 15), which ggml_quantize_chunk does not handle: quantize_row_q8_K_ref.
"""
import ctypes
import os
import sys

import numpy as np


def main() -> None:
    libdir, ty, n_per_row, src, dst = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
    imatrix = np.fromfile(sys.argv[6], dtype=np.float32) if len(sys.argv) > 6 else None
    lib = ctypes.CDLL(os.path.join(libdir, "libggml-base.so"))
    lib.ggml_row_size.restype = ctypes.c_size_t
    lib.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]
    x = np.ascontiguousarray(np.fromfile(src, dtype=np.float32))
    nrows = x.size // n_per_row
    row_size = lib.ggml_row_size(ty, n_per_row)
    out = np.zeros(nrows * row_size, dtype=np.uint8)
    fp = ctypes.POINTER(ctypes.c_float)
    if ty == 15:
        lib.quantize_row_q8_K_ref.argtypes = [fp, ctypes.c_void_p, ctypes.c_int64]
        lib.quantize_row_q8_K_ref(x.ctypes.data_as(fp), out.ctypes.data, x.size)
    else:
        lib.ggml_quantize_chunk.restype = ctypes.c_size_t
        lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, fp, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, fp]
        imp = None if imatrix is None else np.ascontiguousarray(imatrix).ctypes.data_as(fp)
        n = lib.ggml_quantize_chunk(ty, x.ctypes.data_as(fp), out.ctypes.data, 0, nrows, n_per_row, imp)
        assert n == out.size, (n, out.size)
    out.tofile(dst)


if __name__ == "__main__":
    main()
