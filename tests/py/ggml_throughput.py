"""Single-thread throughput of the pinned ggml's quantizers (libggml-base via ctypes:
ggml_quantize_chunk, the function llama-quantize calls per chunk), in MB/s of F16 input, on the
raw F16 file that the kernel_throughput example also reads. The F16 -> F32 conversion is not
timed (this favours ggml slightly). Best of KT_REPS runs (default 3), by wall time and by CPU
time of the process (time.process_time: the fair per-thread figure on a loaded machine).

Usage: ggml_throughput.py LIBDIR IN.f16 N_PER_ROW [IMATRIX] TYPE...
  TYPE: ggml type name (q8_0, q4_K, ...); IMATRIX: "imatrix" to pass importance weights
  (the same pseudo-random weights for every run). Types ggml quantizes only with importance
  weights (ggml_quantize_requires_imatrix: IQ2_XXS, IQ2_XS, IQ1_S) are skipped without them.
"""
import ctypes
import os
import sys
import time

import numpy as np

IDS = {"f16": 1, "q4_0": 2, "q4_1": 3, "q5_0": 6, "q5_1": 7, "q8_0": 8, "q2_K": 10, "q3_K": 11,
       "q4_K": 12, "q5_K": 13, "q6_K": 14, "iq2_xxs": 16, "iq2_xs": 17, "iq3_xxs": 18, "iq1_s": 19, "iq4_nl": 20, "iq3_s": 21, "iq2_s": 22,
       "iq4_xs": 23, "bf16": 30, "iq1_m": 29, "tq1_0": 34, "tq2_0": 35}


def main() -> None:
    libdir, src, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    args = sys.argv[4:]
    with_imatrix = bool(args) and args[0] == "imatrix"
    if with_imatrix:
        args = args[1:]
    lib = ctypes.CDLL(os.path.join(libdir, "libggml-base.so"))
    lib.ggml_row_size.restype = ctypes.c_size_t
    lib.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]
    fp = ctypes.POINTER(ctypes.c_float)
    lib.ggml_quantize_chunk.restype = ctypes.c_size_t
    lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, fp, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, fp]
    lib.ggml_quantize_requires_imatrix.restype = ctypes.c_bool
    lib.ggml_quantize_requires_imatrix.argtypes = [ctypes.c_int]
    h = np.fromfile(src, dtype=np.float16)
    x = np.ascontiguousarray(h.astype(np.float32))
    nrows = x.size // n
    w = np.ascontiguousarray((np.arange(n) % 97).astype(np.float32) / 97.0 + 0.1)
    for name in args:
        ty = IDS[name]
        if not with_imatrix and lib.ggml_quantize_requires_imatrix(ty):
            continue
        out = np.zeros(nrows * lib.ggml_row_size(ty, n), dtype=np.uint8)
        reps = max(1, int(os.environ.get("KT_REPS", "3")))
        wall = cpu = float("inf")
        for _ in range(reps):
            t, c = time.perf_counter(), time.process_time()
            lib.ggml_quantize_chunk(ty, x.ctypes.data_as(fp), out.ctypes.data, 0, nrows, n,
                                    w.ctypes.data_as(fp) if with_imatrix else None)
            wall = min(wall, time.perf_counter() - t)
            cpu = min(cpu, time.process_time() - c)
        mb = h.nbytes / 1e6
        print(f"ggml {name:>5} {'imatrix' if with_imatrix else 'plain':8} {mb / wall:9.1f} MB/s wall {mb / cpu:9.1f} MB/s cpu"
              f" of F16 input (1 thread, best of {reps})")


if __name__ == "__main__":
    main()
