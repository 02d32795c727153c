"""Write a GGUF file with gguf-py 0.19.0's GGUFWriter covering every metadata value type (nested
arrays included) and several tensor types, for tests/gguf_crosscheck.rs.

usage: gguf_py_write.py OUT.gguf
"""
import sys

import numpy as np
from gguf import GGUFWriter, GGUFValueType, GGMLQuantizationType, GGML_QUANT_SIZES


def main():
    w = GGUFWriter(sys.argv[1], "llama")
    w.add_custom_alignment(64)
    w.add_uint8("t.u8", 200)
    w.add_int8("t.i8", -100)
    w.add_uint16("t.u16", 60000)
    w.add_int16("t.i16", -30000)
    w.add_uint32("t.u32", 4000000000)
    w.add_int32("t.i32", -2000000000)
    w.add_float32("t.f32", 0.1)
    w.add_bool("t.bool_true", True)
    w.add_bool("t.bool_false", False)
    w.add_string("t.string", "héllo wörld ✓")
    w.add_string("t.empty_string", "")
    w.add_uint64("t.u64", 18000000000000000000)
    w.add_int64("t.i64", -9000000000000000000)
    w.add_float64("t.f64", -1.0e300)
    w.add_array("t.arr_str", ["a", "bb", "ccc"])
    w.add_array("t.arr_i32", [1, -2, 3])
    w.add_array("t.arr_f32", [0.5, -1.25])
    w.add_array("t.arr_bool", [True, False, True])
    w.add_key_value("t.arr_u8", [1, 2, 255], GGUFValueType.ARRAY, sub_type=GGUFValueType.UINT8)
    w.add_key_value("t.arr_i8", [-1, 2], GGUFValueType.ARRAY, sub_type=GGUFValueType.INT8)
    w.add_key_value("t.arr_u16", [1, 65535], GGUFValueType.ARRAY, sub_type=GGUFValueType.UINT16)
    w.add_key_value("t.arr_i16", [-1, 32767], GGUFValueType.ARRAY, sub_type=GGUFValueType.INT16)
    w.add_key_value("t.arr_u32", [7, 4294967295], GGUFValueType.ARRAY, sub_type=GGUFValueType.UINT32)
    w.add_key_value("t.arr_u64", [1, 2**64 - 1], GGUFValueType.ARRAY, sub_type=GGUFValueType.UINT64)
    w.add_key_value("t.arr_i64", [-(2**63), 5], GGUFValueType.ARRAY, sub_type=GGUFValueType.INT64)
    w.add_key_value("t.arr_f64", [3.5, -0.0], GGUFValueType.ARRAY, sub_type=GGUFValueType.FLOAT64)
    w.add_array("t.nested", [[1, 2], [3], [4, 5, 6]])
    w.add_array("t.nested_str", [["x", "y"], ["z"]])

    rng = np.random.default_rng(7)
    w.add_tensor("f32_2d", rng.standard_normal((3, 64), dtype=np.float32))
    w.add_tensor("f16_1d", rng.standard_normal(100).astype(np.float16))
    w.add_tensor("i32_1d", np.arange(5, dtype=np.int32))
    for name, qtype, rows, ne0 in [
        ("q8_0_2d", GGMLQuantizationType.Q8_0, 2, 64),
        ("q4_k_2d", GGMLQuantizationType.Q4_K, 3, 256),
        ("bf16_3d", GGMLQuantizationType.BF16, 2 * 3, 8),
    ]:
        block, size = GGML_QUANT_SIZES[qtype]
        row_bytes = ne0 // block * size
        raw = rng.integers(0, 256, size=(rows, row_bytes), dtype=np.uint8)
        if name == "bf16_3d":
            raw = raw.reshape(2, 3, row_bytes)
        w.add_tensor(name, raw, raw_dtype=qtype)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
