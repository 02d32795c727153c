//! The corrupt-file suite: broken GGUF files, each rejected with the expected `GgufError`
//! variant and never a panic; truncation at every byte; a bounded random-mutation loop; and the
//! writer's refusals. The intact base file is first checked to be read by gguf-py, so every
//! failure below comes from the one defect injected.

use crate::common;

use std::process::Command;

use common::*;
use gguf::{GgmlType, GgufError, GgufFile, GgufWriter, TensorSpec, Value, ValueType};

/// Raw value type ids (the spec's numbers, written out here rather than taken from our code).
const T_U8: u32 = 0;
const T_U32: u32 = 4;
const T_BOOL: u32 = 7;
const T_STRING: u32 = 8;
const T_ARRAY: u32 = 9;
const T_U64: u32 = 10;
/// Raw ggml type ids.
const G_F32: u32 = 0;
const G_Q8_0: u32 = 8;

fn u32b(v: u32) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}
fn u64b(v: u64) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}
fn strb(s: &[u8]) -> Vec<u8> {
    [u64b(s.len() as u64), s.to_vec()].concat()
}

/// A key/value pair as raw bytes: key, type id, payload.
#[derive(Clone)]
struct Kv {
    key: Vec<u8>,
    ty: u32,
    payload: Vec<u8>,
}

fn kv(key: &str, ty: u32, payload: Vec<u8>) -> Kv {
    Kv { key: key.as_bytes().to_vec(), ty, payload }
}

/// A tensor info as raw fields.
#[derive(Clone)]
struct Ti {
    name: Vec<u8>,
    n_dims: Option<u32>,
    dims: Vec<u64>,
    ty: u32,
    offset: u64,
}

fn ti(name: &str, dims: &[u64], ty: u32, offset: u64) -> Ti {
    Ti { name: name.as_bytes().to_vec(), n_dims: None, dims: dims.to_vec(), ty, offset }
}

/// A GGUF image assembled by hand.
#[derive(Clone)]
struct Img {
    magic: [u8; 4],
    version: u32,
    n_tensors: Option<u64>,
    n_kv: Option<u64>,
    kvs: Vec<Kv>,
    tensors: Vec<Ti>,
    alignment: u64,
    data_len: u64,
}

impl Img {
    /// The intact base file: 4 keys (string, u32 alignment, u32 array, nested array), a Q8_0
    /// [32, 2] tensor (68 bytes, padded to 96) and an F32 [8] tensor (32 bytes).
    fn base() -> Img {
        Img {
            magic: *b"GGUF",
            version: 3,
            n_tensors: None,
            n_kv: None,
            kvs: vec![
                kv("general.architecture", T_STRING, strb(b"llama")),
                kv("general.alignment", T_U32, u32b(32)),
                kv("a.arr", T_ARRAY, [u32b(T_U32), u64b(3), u32b(1), u32b(2), u32b(3)].concat()),
                kv("a.nested", T_ARRAY, [u32b(T_ARRAY), u64b(1), u32b(T_STRING), u64b(1), strb(b"x")].concat()),
            ],
            tensors: vec![ti("t0", &[32, 2], G_Q8_0, 0), ti("t1", &[8], G_F32, 96)],
            alignment: 32,
            data_len: 128,
        }
    }

    /// (bytes, boundaries): the structural boundaries are the offsets where each field starts.
    fn build_with_marks(&self) -> (Vec<u8>, Vec<usize>) {
        let mut b = Vec::new();
        let mut marks = Vec::new();
        let mut put = |b: &mut Vec<u8>, bytes: &[u8]| {
            marks.push(b.len());
            b.extend_from_slice(bytes);
        };
        put(&mut b, &self.magic);
        put(&mut b, &u32b(self.version));
        put(&mut b, &u64b(self.n_tensors.unwrap_or(self.tensors.len() as u64)));
        put(&mut b, &u64b(self.n_kv.unwrap_or(self.kvs.len() as u64)));
        for kv in &self.kvs {
            put(&mut b, &u64b(kv.key.len() as u64));
            put(&mut b, &kv.key);
            put(&mut b, &u32b(kv.ty));
            put(&mut b, &kv.payload);
        }
        for t in &self.tensors {
            put(&mut b, &u64b(t.name.len() as u64));
            put(&mut b, &t.name);
            put(&mut b, &u32b(t.n_dims.unwrap_or(t.dims.len() as u32)));
            for d in &t.dims {
                put(&mut b, &u64b(*d));
            }
            put(&mut b, &u32b(t.ty));
            put(&mut b, &u64b(t.offset));
        }
        marks.push(b.len());
        let pad = (self.alignment - b.len() as u64 % self.alignment) % self.alignment;
        b.extend(std::iter::repeat_n(0u8, pad as usize));
        marks.push(b.len());
        b.extend((0..self.data_len).map(|i| i as u8));
        (b, marks)
    }

    fn build(&self) -> Vec<u8> {
        self.build_with_marks().0
    }

    fn read(&self) -> Result<GgufFile, GgufError> {
        GgufFile::from_bytes("corrupt.gguf", self.build())
    }
}

fn with(f: impl FnOnce(&mut Img)) -> Img {
    let mut img = Img::base();
    f(&mut img);
    img
}

/// Asserts `img` is rejected with an error matching `pat`, printing the error otherwise.
macro_rules! rejects {
    ($name:expr, $img:expr, $pat:pat) => {{
        match $img.read() {
            Ok(_) => panic!("{}: accepted", $name),
            Err(e) => assert!(matches!(e, $pat), "{}: wrong error: {e:?}", $name),
        }
    }};
}

#[test]
fn base_file_is_valid_for_gguf_py_and_us() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("base.gguf");
    std::fs::write(&path, Img::base().build()).expect("write");
    let py = run(Command::new(ref_python()).arg(repo_root().join("tests/py/gguf_py_dump.py")).arg(&path));
    let py: serde_json::Value = serde_json::from_str(&py).expect("json");
    assert_eq!(py["tensors"].as_array().map(Vec::len), Some(2));
    let f = GgufFile::open(&path).expect("base file reads");
    assert_eq!(f.tensors()[0].size, 68);
    assert_eq!(f.tensors()[1].offset, 96);
    assert_eq!(f.data_offset(), py["data_offset"].as_u64().expect("data_offset"));
}

#[test]
fn header_defects() {
    rejects!("bad magic", with(|i| i.magic = *b"GGML"), GgufError::BadMagic { .. });
    rejects!("version 1", with(|i| i.version = 1), GgufError::UnsupportedVersion { version: 1, .. });
    rejects!("version 4", with(|i| i.version = 4), GgufError::UnsupportedVersion { version: 4, .. });
    rejects!("big-endian v3", with(|i| i.version = 0x0300_0000), GgufError::UnsupportedVersion { .. });
    rejects!("huge kv count", with(|i| i.n_kv = Some(u64::MAX)), GgufError::CountTooLarge { .. });
    rejects!("kv count past file", with(|i| i.n_kv = Some(1 << 20)), GgufError::CountTooLarge { .. });
    rejects!("huge tensor count", with(|i| i.n_tensors = Some(u64::MAX)), GgufError::CountTooLarge { .. });
    // Three declared tensors, two present: the third info is read from the zero padding (empty
    // name, no dims).
    rejects!("one tensor too many", with(|i| i.n_tensors = Some(3)), GgufError::ZeroDim { .. });
    match GgufFile::from_bytes("empty.gguf", Vec::new()) {
        Err(GgufError::Truncated { offset: 0, .. }) => {}
        other => panic!("empty file: {other:?}"),
    }
}

#[test]
fn metadata_defects() {
    rejects!("empty key", with(|i| i.kvs[0].key = vec![]), GgufError::EmptyKey { .. });
    let mut huge_key = Img::base().build();
    huge_key[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(GgufFile::from_bytes("k", huge_key), Err(GgufError::CountTooLarge { .. })));
    rejects!("huge string length", with(|i| i.kvs[0].payload = u64b(u64::MAX >> 1)), GgufError::CountTooLarge { .. });
    rejects!("huge array count", with(|i| i.kvs[2].payload = [u32b(T_U8), u64b(u64::MAX)].concat()), GgufError::CountTooLarge { .. });
    // 8-byte elements: a count that would fit as bytes but not as u64s.
    rejects!(
        "array count × element size past file",
        with(|i| i.kvs[2].payload = [u32b(T_U64), u64b(200)].concat()),
        GgufError::CountTooLarge { .. }
    );
    rejects!("unknown value type", with(|i| i.kvs[2].ty = 13), GgufError::UnknownValueType { id: 13, .. });
    rejects!(
        "unknown array element type",
        with(|i| i.kvs[2].payload = [u32b(99), u64b(1), u32b(0)].concat()),
        GgufError::UnknownValueType { id: 99, .. }
    );
    let deep =
        (0..40).fold(u32b(T_U8).into_iter().chain(u64b(0)).collect::<Vec<u8>>(), |inner, _| [u32b(T_ARRAY), u64b(1), inner].concat());
    rejects!("arrays nested 41 deep", with(|i| i.kvs[3].payload = deep.clone()), GgufError::NestingTooDeep { .. });
    rejects!("bool byte 2", with(|i| i.kvs.push(kv("a.bool", T_BOOL, vec![2]))), GgufError::InvalidBool { byte: 2, .. });
    rejects!("key not UTF-8", with(|i| i.kvs[0].key = vec![b'a', 0xff, 0xfe]), GgufError::InvalidUtf8 { .. });
    rejects!("string not UTF-8", with(|i| i.kvs[0].payload = strb(&[0xc3, 0x28])), GgufError::InvalidUtf8 { .. });
    rejects!("duplicate key", with(|i| i.kvs.push(i.kvs[2].clone())), GgufError::DuplicateKey { .. });
    rejects!("alignment 0", with(|i| i.kvs[1].payload = u32b(0)), GgufError::BadAlignment { alignment: 0, .. });
    rejects!("alignment 48", with(|i| i.kvs[1].payload = u32b(48)), GgufError::BadAlignment { alignment: 48, .. });
    rejects!(
        "alignment as u64",
        with(|i| {
            i.kvs[1].ty = T_U64;
            i.kvs[1].payload = u64b(32);
        }),
        GgufError::AlignmentType { found: ValueType::Uint64, .. }
    );
}

#[test]
fn tensor_info_defects() {
    rejects!("5 dims", with(|i| i.tensors[1].dims = vec![8, 1, 1, 1, 1]), GgufError::TooManyDims { n_dims: 5, .. });
    rejects!("n_dims u32::MAX", with(|i| i.tensors[1].n_dims = Some(u32::MAX)), GgufError::TooManyDims { .. });
    rejects!("zero dim", with(|i| i.tensors[0].dims = vec![32, 0]), GgufError::ZeroDim { index: 1, .. });
    rejects!("no dims", with(|i| i.tensors[1].dims = vec![]), GgufError::ZeroDim { .. });
    rejects!("element count overflow", with(|i| i.tensors[1].dims = vec![1 << 40, 1 << 40]), GgufError::ShapeOverflow { .. });
    rejects!("byte count overflow", with(|i| i.tensors[1].dims = vec![1 << 61, 2]), GgufError::ShapeOverflow { .. });
    rejects!(
        "row not block multiple",
        with(|i| i.tensors[0].dims = vec![33, 2]),
        GgufError::RowNotBlockMultiple { ne0: 33, block_size: 32, .. }
    );
    rejects!("retired ggml type 4", with(|i| i.tensors[1].ty = 4), GgufError::UnknownGgmlType { id: 4, .. });
    rejects!("ggml type 1000", with(|i| i.tensors[1].ty = 1000), GgufError::UnknownGgmlType { id: 1000, .. });
    rejects!("duplicate tensor", with(|i| i.tensors[1].name = b"t0".to_vec()), GgufError::DuplicateTensor { .. });
    rejects!("name of 64 bytes", with(|i| i.tensors[1].name = vec![b'n'; 64]), GgufError::TensorNameTooLong { len: 64, .. });
    rejects!("name not UTF-8", with(|i| i.tensors[1].name = vec![0x80]), GgufError::InvalidUtf8 { .. });
    let mut b = Img::base().build();
    let at = b.windows(2).position(|w| w == b"t1").expect("name t1") - 8;
    b[at..at + 8].copy_from_slice(&(1u64 << 50).to_le_bytes());
    assert!(matches!(GgufFile::from_bytes("n", b), Err(GgufError::CountTooLarge { count: 1125899906842624, .. })));
}

#[test]
fn tensor_data_defects() {
    rejects!("misaligned offset", with(|i| i.tensors[1].offset = 80), GgufError::MisalignedTensor { offset: 80, .. });
    rejects!("offset past end", with(|i| i.tensors[1].offset = 128), GgufError::TensorOutOfBounds { .. });
    rejects!("offset overflow", with(|i| i.tensors[1].offset = u64::MAX - 31), GgufError::TensorOutOfBounds { .. });
    rejects!("data cut short", with(|i| i.data_len = 100), GgufError::TensorOutOfBounds { .. });
    rejects!("overlapping tensors", with(|i| i.tensors[1].offset = 64), GgufError::TensorOverlap { .. });
    rejects!("same offset", with(|i| i.tensors[1].offset = 0), GgufError::TensorOverlap { .. });
    // Out-of-order but disjoint tensors are valid.
    assert!(with(|i| {
        i.tensors[0].offset = 32;
        i.tensors[1].offset = 0;
        i.data_len = 160;
    })
    .read()
    .is_ok());
}

/// Cutting the file at every byte: before the end of the tensor infos it is `Truncated` (the
/// error names the offset), inside the padding `Truncated`, inside the data `TensorOutOfBounds`.
#[test]
fn truncation_at_every_byte() {
    let (bytes, marks) = Img::base().build_with_marks();
    let infos_end = marks[marks.len() - 2];
    let data_start = marks[marks.len() - 1];
    assert!(marks.len() > 30, "structural boundaries: {marks:?}");
    for len in 0..bytes.len() {
        let r = GgufFile::from_bytes("cut.gguf", bytes[..len].to_vec());
        let ok = match &r {
            Err(GgufError::Truncated { offset, .. }) => len < data_start && *offset <= len as u64,
            Err(GgufError::TensorOutOfBounds { .. }) => len >= data_start,
            // A cut inside a length field can leave a smaller number that still passes, then a
            // count check fails first.
            Err(GgufError::CountTooLarge { .. }) => len < infos_end,
            _ => false,
        };
        assert!(ok, "cut at {len} (infos end {infos_end}, data {data_start}): {r:?}");
    }
    assert!(GgufFile::from_bytes("whole.gguf", bytes).is_ok());
}

/// 2000 random mutations of the base file (byte flips, extreme u64 fields, cuts, splices): each
/// is accepted or rejected, never a panic; accepted files hand out in-bounds tensor data.
#[test]
fn random_mutations_never_panic() {
    let base = Img::base().build();
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut rejected = 0;
    for _ in 0..2000 {
        let mut b = base.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() % b.len() as u64) as usize;
            match next() % 5 {
                0 => b[at] ^= 1 << (next() % 8),
                1 => b[at] = next() as u8,
                2 if at + 8 <= b.len() => {
                    let v = [u64::MAX, u64::MAX / 2, 1 << 32, 0, next()][(next() % 5) as usize];
                    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
                }
                3 => b.truncate(at),
                _ => {
                    let n = (next() % 16) as usize;
                    let ins: Vec<u8> = (0..n).map(|_| next() as u8).collect();
                    b.splice(at..at, ins);
                }
            }
            if b.is_empty() {
                break;
            }
        }
        match GgufFile::from_bytes("mutant.gguf", b) {
            Ok(f) => {
                for t in f.tensors() {
                    assert_eq!(f.tensor_data(t).len() as u64, t.size);
                }
            }
            Err(_) => rejected += 1,
        }
    }
    assert!(rejected > 1000, "only {rejected} of 2000 mutants rejected");
}

/// The same checks hold through the mmap path.
#[test]
fn open_rejects_corrupt_files_on_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("bad.gguf");
    std::fs::write(&p, with(|i| i.tensors[1].offset = 64).build()).expect("write");
    assert!(matches!(GgufFile::open(&p), Err(GgufError::TensorOverlap { .. })));
    std::fs::write(&p, b"").expect("write");
    assert!(matches!(GgufFile::open(&p), Err(GgufError::Truncated { .. })));
    assert!(matches!(GgufFile::open(dir.path().join("missing.gguf")), Err(GgufError::Io { .. })));
}

#[test]
fn writer_refuses_bad_input_and_leaves_no_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("w.gguf");
    let md = |k: &str, v: Value| vec![(k.to_string(), v)];
    let f32t = [TensorSpec::new("t", &[4], GgmlType::F32)];
    let err = |r: Result<GgufWriter, GgufError>| r.expect_err("refused");

    assert!(matches!(err(GgufWriter::create(&out, &md("general.alignment", Value::U32(3)), &f32t)), GgufError::BadAlignment { .. }));
    assert!(matches!(err(GgufWriter::create(&out, &md("general.alignment", Value::I32(32)), &f32t)), GgufError::AlignmentType { .. }));
    assert!(matches!(err(GgufWriter::create(&out, &md("", Value::U8(1)), &f32t)), GgufError::EmptyKey { .. }));
    let dup = vec![("k".to_string(), Value::U8(1)), ("k".to_string(), Value::U8(2))];
    assert!(matches!(err(GgufWriter::create(&out, &dup, &f32t)), GgufError::DuplicateKey { .. }));
    let mixed = Value::Array(ValueType::Uint8, vec![Value::U8(1), Value::I8(1)]);
    assert!(matches!(err(GgufWriter::create(&out, &md("k", mixed), &f32t)), GgufError::MixedArray { index: 1, .. }));
    let two = [f32t[0].clone(), f32t[0].clone()];
    assert!(matches!(err(GgufWriter::create(&out, &[], &two)), GgufError::DuplicateTensor { .. }));
    assert!(matches!(
        err(GgufWriter::create(&out, &[], &[TensorSpec::new("q", &[33], GgmlType::Q8_0)])),
        GgufError::RowNotBlockMultiple { .. }
    ));
    assert!(matches!(err(GgufWriter::create(&out, &[], &[TensorSpec::new("z", &[4, 0], GgmlType::F32)])), GgufError::ZeroDim { .. }));
    assert!(matches!(
        err(GgufWriter::create(&out, &[], &[TensorSpec::new("d", &[1, 1, 1, 1, 1], GgmlType::F32)])),
        GgufError::TooManyDims { .. }
    ));

    let mut w = GgufWriter::create(&out, &[], &f32t).expect("create");
    assert!(matches!(w.write_tensor_data(&[0; 17]), Err(GgufError::TooMuchData { expected: 16, .. })));
    let mut w2 = GgufWriter::create(&out, &[], &f32t).expect("create");
    w2.write_tensor_data(&[0; 8]).expect("half");
    assert!(matches!(w2.finish(), Err(GgufError::IncompleteData { written: 8, expected: 16, .. })));
    drop(w);
    assert!(!out.exists());
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0, "temporary files left behind");
}
