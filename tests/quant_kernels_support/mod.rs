//! Helpers of the quant_kernels tests: a minimal GGUF tensor-table reader (test-local, so these
//! tests do not depend on the gguf crate's reader), the reference artifacts they use (F16 GGUF of
//! SmolLM2, importance matrices made by llama-imatrix) and the imatrix weights as llama-quantize
//! computes them.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common;

/// One tensor of a GGUF file.
pub struct Tensor {
    pub name: String,
    pub dims: Vec<u64>,
    pub ty: u32,
    pub offset: u64,
}

/// A GGUF file read into memory: its tensor table and data section.
pub struct Gguf {
    pub bytes: Vec<u8>,
    pub tensors: Vec<Tensor>,
    pub data_start: usize,
}

struct Cur<'a> {
    b: &'a [u8],
    p: usize,
}

impl Cur<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        let s = &self.b[self.p..self.p + n];
        self.p += n;
        s
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take(4).try_into().unwrap())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take(8).try_into().unwrap())
    }
    fn string(&mut self) -> String {
        let n = self.u64() as usize;
        String::from_utf8(self.take(n).to_vec()).unwrap()
    }
    /// Skips a value of GGUF value type `t`; returns it as u64 when it is an integer.
    fn value(&mut self, t: u32) -> Option<u64> {
        match t {
            0 | 1 | 7 => Some(self.take(1)[0] as u64),
            2 | 3 => Some(u16::from_le_bytes(self.take(2).try_into().unwrap()) as u64),
            4 | 5 => Some(self.u32() as u64),
            6 => {
                self.take(4);
                None
            }
            8 => {
                self.string();
                None
            }
            9 => {
                let et = self.u32();
                let n = self.u64();
                for _ in 0..n {
                    self.value(et);
                }
                None
            }
            10 | 11 => Some(self.u64()),
            12 => {
                self.take(8);
                None
            }
            _ => panic!("bad GGUF value type {t}"),
        }
    }
}

impl Gguf {
    pub fn read(path: &Path) -> Gguf {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let mut c = Cur { b: &bytes, p: 0 };
        assert_eq!(c.take(4), b"GGUF");
        let _version = c.u32();
        let n_tensors = c.u64();
        let n_kv = c.u64();
        let mut alignment = 32u64;
        for _ in 0..n_kv {
            let key = c.string();
            let t = c.u32();
            let v = c.value(t);
            if key == "general.alignment" {
                alignment = v.unwrap();
            }
        }
        let mut tensors = Vec::new();
        for _ in 0..n_tensors {
            let name = c.string();
            let nd = c.u32();
            let dims = (0..nd).map(|_| c.u64()).collect();
            let ty = c.u32();
            let offset = c.u64();
            tensors.push(Tensor { name, dims, ty, offset });
        }
        let data_start = (c.p as u64).div_ceil(alignment) * alignment;
        Gguf { data_start: data_start as usize, tensors, bytes }
    }

    pub fn tensor(&self, name: &str) -> Option<&Tensor> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The bytes of a tensor.
    pub fn data(&self, t: &Tensor) -> &[u8] {
        let ty = quantize::GgmlType::from_id(t.ty).expect("known type");
        let n: u64 = t.dims.iter().product();
        let size = ty.row_size(t.dims[0]).unwrap() * (n / t.dims[0]);
        let start = self.data_start + t.offset as usize;
        &self.bytes[start..start + size as usize]
    }

    /// The f32 values of an F32 tensor.
    pub fn f32s(&self, t: &Tensor) -> Vec<f32> {
        assert_eq!(t.ty, 0, "{} is not F32", t.name);
        self.data(t).chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
    }
}

/// SmolLM2-135M-Instruct as an F16 GGUF (tests/py/smollm2_f16.py on the Q4_1 GGUF), cached.
pub fn smollm2_f16() -> PathBuf {
    common::smollm2_f16()
}

/// The F16 GGUFs the byte-identity tests run on: (short name, path).
pub fn f16_models() -> Vec<(&'static str, PathBuf)> {
    vec![
        ("tiny-llama", common::ref_converted("tiny-llama", "f16")),
        ("tiny-phi3", common::ref_converted("tiny-phi3", "f16")),
        ("smollm2", smollm2_f16()),
    ]
}

/// An importance matrix of `model` made by the pinned llama-imatrix on calib.txt (GGUF format).
pub fn imatrix(model_name: &str, model: &Path) -> PathBuf {
    let out = common::cache_dir().join(format!("qk-{model_name}.imatrix.gguf"));
    common::cached(&out, |tmp| {
        // llama-imatrix picks the output format from --output-format (gguf by default).
        let tmp_gguf = tmp.with_extension("gguf");
        common::run(
            Command::new(common::ref_bin("llama-imatrix"))
                .arg("-m")
                .arg(model)
                .arg("-f")
                .arg(common::corpus("calib.txt"))
                .args(["-c", "128", "--chunks", "16", "-t", "2", "--no-ppl", "-o"])
                .arg(&tmp_gguf),
        );
        std::fs::rename(&tmp_gguf, tmp).unwrap();
    })
}

/// The importance weights llama-quantize derives from a GGUF imatrix (tools/quantize/quantize.cpp
/// `load_imatrix`): per tensor, `in_sum2[j·ne0 + i] / count_j` with `count_j =
/// lround(counts[j])`, or 1 where the count is 0.
pub fn imatrix_weights(path: &Path) -> HashMap<String, Vec<f32>> {
    let g = Gguf::read(path);
    let mut out = HashMap::new();
    for t in &g.tensors {
        let Some(name) = t.name.strip_suffix(".in_sum2") else { continue };
        let sums = g.f32s(t);
        let counts = g.f32s(g.tensor(&format!("{name}.counts")).expect("counts tensor"));
        let ne0 = sums.len() / counts.len();
        let mut e = vec![0f32; sums.len()];
        for (j, c) in counts.iter().enumerate() {
            let count = c.round() as i64 as f32;
            for i in 0..ne0 {
                e[j * ne0 + i] = if count > 0.0 { sums[j * ne0 + i] / count } else { 1.0 };
            }
        }
        out.insert(name.to_string(), e);
    }
    out
}
