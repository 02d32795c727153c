//! Importance matrix files of llama.cpp's `llama-imatrix`, read the way the pinned
//! `llama-quantize` reads them (`common/imatrix-loader.cpp` and `load_imatrix` in
//! `tools/quantize/quantize.cpp`):
//!
//! - the GGUF format (the pinned tool's default): per weight tensor `NAME.in_sum2` (sums of squared
//!   activations, f32 `[ne0, n_mat]`) and `NAME.counts` (f32 `[1, n_mat]`), plus the keys
//!   `imatrix.datasets`, `imatrix.chunk_count`, `imatrix.chunk_size`. Weight = sum / count per
//!   matrix (1 where the count is 0).
//! - the legacy `.dat` format (`--output-format dat`): i32 entry count; per entry i32 name length,
//!   name, i32 `ncall`, i32 value count, f32 values (already `mean * ncall`); then optionally i32
//!   chunk count, i32 dataset name length and the name. Weight = value / ncall.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gguf::{GgmlType, GgufFile};

/// Errors reading an importance matrix file.
#[derive(Debug, thiserror::Error)]
pub enum ImatrixError {
    /// The file cannot be read.
    #[error("{path}: cannot read imatrix file: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The GGUF container is invalid.
    #[error("{path}: invalid GGUF imatrix file: {source}")]
    Gguf {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: gguf::GgufError,
    },
    /// The content does not follow the format.
    #[error("{path}: {what} (at byte {offset})")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, with expected vs found.
        what: String,
        /// Byte offset in the file (0 where it does not apply).
        offset: u64,
    },
}

/// An importance matrix: per weight tensor, one importance per row element (per expert matrix for
/// 3-D expert tensors), normalised as llama-quantize does.
#[derive(Debug, Clone)]
pub struct ImatrixFile {
    path: PathBuf,
    entries: BTreeMap<String, Vec<f32>>,
    datasets: Vec<String>,
    chunk_count: i32,
    chunk_size: i32,
    is_legacy: bool,
}

impl ImatrixFile {
    /// Reads a GGUF or legacy `.dat` imatrix file (GGUF when it starts with the GGUF magic).
    pub fn open(path: impl AsRef<Path>) -> Result<ImatrixFile, ImatrixError> {
        let path = path.as_ref();
        let mut magic = [0u8; 4];
        {
            use std::io::Read;
            let mut f = std::fs::File::open(path).map_err(|source| ImatrixError::Io { path: path.into(), source })?;
            let n = f.read(&mut magic).map_err(|source| ImatrixError::Io { path: path.into(), source })?;
            if n < 4 {
                magic = [0; 4];
            }
        }
        if &magic == b"GGUF" {
            let file = GgufFile::open(path).map_err(|source| ImatrixError::Gguf { path: path.into(), source })?;
            Self::from_gguf(&file)
        } else {
            let bytes = std::fs::read(path).map_err(|source| ImatrixError::Io { path: path.into(), source })?;
            Self::from_legacy(path, &bytes)
        }
    }

    /// Reads the GGUF format from an opened file.
    pub fn from_gguf(file: &GgufFile) -> Result<ImatrixFile, ImatrixError> {
        let path = file.path().to_path_buf();
        let err = |what: String| ImatrixError::Format { path: path.clone(), what, offset: 0 };
        if file.tensors().is_empty() {
            return Err(err("no data: the file has no tensors".into()));
        }
        let datasets_v = file.get("imatrix.datasets");
        let chunk_count_v = file.get("imatrix.chunk_count");
        let chunk_size_v = file.get("imatrix.chunk_size");
        // llama-quantize refuses a GGUF imatrix without all three metadata keys.
        if datasets_v.is_none() || chunk_count_v.is_none() || chunk_size_v.is_none() {
            return Err(err(
                "missing imatrix metadata (imatrix.datasets, imatrix.chunk_count and imatrix.chunk_size are all required)".into()
            ));
        }
        let mut datasets = Vec::new();
        if let Some(gguf::Value::Array(gguf::ValueType::String, items)) = datasets_v {
            datasets.extend(items.iter().filter_map(|v| v.as_str().map(str::to_string)));
        }
        let u32_key = |key: &str, v: Option<&gguf::Value>| -> Result<i32, ImatrixError> {
            match v {
                None => Ok(0),
                // llama.cpp reads these with gguf_get_val_u32 (an int32 in the loader).
                Some(gguf::Value::U32(x)) => Ok(*x as i32),
                Some(other) => Err(err(format!("{key}: expected UINT32, found {:?}", other.value_type()))),
            }
        };
        let chunk_count = u32_key("imatrix.chunk_count", chunk_count_v)?;
        let chunk_size = u32_key("imatrix.chunk_size", chunk_size_v)?;

        // Pair NAME.in_sum2 with NAME.counts.
        let mut pairs: BTreeMap<&str, (Option<&gguf::TensorInfo>, Option<&gguf::TensorInfo>)> = BTreeMap::new();
        for t in file.tensors() {
            if let Some(n) = t.name.strip_suffix(".in_sum2") {
                pairs.entry(n).or_default().0 = Some(t);
            } else if let Some(n) = t.name.strip_suffix(".counts") {
                pairs.entry(n).or_default().1 = Some(t);
            }
        }
        let mut entries = BTreeMap::new();
        for (name, pair) in pairs {
            let (Some(sums), Some(counts)) = pair else {
                return Err(err(format!("mismatched sums and counts for {name}: both {name}.in_sum2 and {name}.counts are needed")));
            };
            if sums.ty != GgmlType::F32 || counts.ty != GgmlType::F32 {
                return Err(err(format!("sums and counts for {name} must be F32, found {} and {}", sums.ty, counts.ty)));
            }
            let sums = f32s(file.tensor_data(sums));
            // Counts are stored as floats; llama.cpp rounds them to integers (lround).
            let counts: Vec<i64> = f32s(file.tensor_data(counts)).iter().map(|c| c.round() as i64).collect();
            if counts.is_empty() || !sums.len().is_multiple_of(counts.len()) {
                return Err(err(format!("{name}: {} sums do not split into {} matrices", sums.len(), counts.len())));
            }
            let ne0 = sums.len() / counts.len();
            let mut w = vec![0f32; sums.len()];
            for (j, &c) in counts.iter().enumerate() {
                let count = c as f32;
                for i in 0..ne0 {
                    // An unexercised matrix (MoE expert) gets weight 1.
                    w[j * ne0 + i] = if count > 0.0 { sums[j * ne0 + i] / count } else { 1.0 };
                }
            }
            entries.insert(name.to_string(), w);
        }
        Ok(ImatrixFile { path, entries, datasets, chunk_count, chunk_size, is_legacy: false })
    }

    /// Reads the legacy `.dat` format from its bytes (`path` names it in errors).
    pub fn from_legacy(path: &Path, bytes: &[u8]) -> Result<ImatrixFile, ImatrixError> {
        let mut r = Reader { bytes, pos: 0, path };
        let n_entries = r.i32("entry count")?;
        if n_entries < 1 {
            return Err(r.err(format!("no data: entry count {n_entries}, expected at least 1")));
        }
        // Raw values and ncall per name; a repeated name replaces the earlier entry.
        let mut raw: BTreeMap<String, (Vec<f32>, i64)> = BTreeMap::new();
        for i in 0..n_entries {
            let len = r.i32("name length")?;
            let len = usize::try_from(len).map_err(|_| r.err(format!("entry {}: negative name length {len}", i + 1)))?;
            let name_bytes = r.take(len, "name")?;
            // The name ends at its first NUL, as the C string llama.cpp makes of it.
            let name_bytes = name_bytes.split(|&b| b == 0).next().unwrap_or(&[]);
            let name = String::from_utf8_lossy(name_bytes).into_owned();
            let ncall = r.i32("ncall")?;
            let nval = r.i32("value count")?;
            if nval < 1 {
                return Err(r.err(format!("entry {name}: value count {nval}, expected at least 1")));
            }
            let vals = f32s(r.take(nval as usize * 4, "values")?);
            raw.insert(name, (vals, i64::from(ncall)));
        }
        // Optional trailer: chunk count and dataset name.
        let mut chunk_count = 0;
        let mut datasets = Vec::new();
        if r.pos < bytes.len() {
            chunk_count = r.partial_i32();
            if let Ok(len) = r.i32("dataset name length") {
                if len > 0 {
                    if let Ok(d) = r.take(len as usize, "dataset name") {
                        let d = d.split(|&b| b == 0).next().unwrap_or(&[]);
                        datasets.push(String::from_utf8_lossy(d).into_owned());
                    }
                }
            }
        }
        let entries = raw
            .into_iter()
            .map(|(name, (vals, ncall))| {
                // Values hold mean * ncall: divide by ncall (as f32) when positive.
                let w = if ncall > 0 { vals.iter().map(|v| v / ncall as f32).collect() } else { vals };
                (name, w)
            })
            .collect();
        Ok(ImatrixFile { path: path.into(), entries, datasets, chunk_count, chunk_size: 0, is_legacy: true })
    }

    /// The importance of each row element for `tensor_name` (`ne0 × n_expert` values for expert
    /// tensors), if the file has it.
    pub fn get(&self, tensor_name: &str) -> Option<&[f32]> {
        self.entries.get(tensor_name).map(|v| v.as_slice())
    }

    /// Keeps only the entries whose name satisfies `keep` (llama-quantize's `--include-weights`
    /// / `--exclude-weights` filter the entries before use).
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.entries.retain(|k, _| keep(k));
    }

    /// The number of entries (`quantize.imatrix.entries_count`).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the file has no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries' names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(|k| k.as_str())
    }

    /// The calibration datasets named in the file (the first is `quantize.imatrix.dataset`).
    pub fn datasets(&self) -> &[String] {
        &self.datasets
    }

    /// The number of chunks the matrix was computed on (`quantize.imatrix.chunks_count` when
    /// positive).
    pub fn chunk_count(&self) -> i32 {
        self.chunk_count
    }

    /// Tokens per chunk (GGUF format only; 0 for legacy files).
    pub fn chunk_size(&self) -> i32 {
        self.chunk_size
    }

    /// Whether the file is in the legacy `.dat` format.
    pub fn is_legacy(&self) -> bool {
        self.is_legacy
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The first entry holding a NaN or infinity, with the index of the value (llama-quantize
    /// refuses such a matrix).
    pub fn first_non_finite(&self) -> Option<(&str, usize)> {
        self.entries.iter().find_map(|(k, v)| v.iter().position(|x| !x.is_finite()).map(|i| (k.as_str(), i)))
    }
}

/// Little-endian f32 values of `bytes` (a trailing partial value is ignored).
fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// A bounds-checked cursor over a legacy imatrix file.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl Reader<'_> {
    fn err(&self, what: String) -> ImatrixError {
        ImatrixError::Format { path: self.path.into(), what, offset: self.pos as u64 }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&[u8], ImatrixError> {
        let left = self.bytes.len() - self.pos;
        if n > left {
            return Err(self.err(format!("truncated {what}: need {n} bytes, {left} left")));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn i32(&mut self, what: &str) -> Result<i32, ImatrixError> {
        let b = self.take(4, what)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// An i32 that may be cut short by the end of the file (missing bytes read as 0, as the
    /// zero-initialised integer llama.cpp reads into).
    fn partial_i32(&mut self) -> i32 {
        let n = (self.bytes.len() - self.pos).min(4);
        let mut b = [0u8; 4];
        b[..n].copy_from_slice(&self.bytes[self.pos..self.pos + n]);
        self.pos += n;
        i32::from_le_bytes(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn legacy(entries: &[(&str, i32, &[f32])], trailer: Option<(i32, &str)>) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend((entries.len() as i32).to_le_bytes());
        for (name, ncall, vals) in entries {
            b.extend((name.len() as i32).to_le_bytes());
            b.extend(name.as_bytes());
            b.extend(ncall.to_le_bytes());
            b.extend((vals.len() as i32).to_le_bytes());
            for v in *vals {
                b.extend(v.to_le_bytes());
            }
        }
        if let Some((chunks, ds)) = trailer {
            b.extend(chunks.to_le_bytes());
            b.extend((ds.len() as i32).to_le_bytes());
            b.extend(ds.as_bytes());
        }
        b
    }

    #[test]
    fn legacy_divides_by_ncall_and_reads_trailer() {
        let b = legacy(&[("a.weight", 4, &[8.0, 2.0]), ("b.weight", 0, &[3.0])], Some((7, "calib.txt")));
        let m = ImatrixFile::from_legacy(Path::new("t.dat"), &b).unwrap();
        assert_eq!(m.get("a.weight"), Some(&[2.0f32, 0.5][..]));
        assert_eq!(m.get("b.weight"), Some(&[3.0f32][..]));
        assert_eq!(m.chunk_count(), 7);
        assert_eq!(m.datasets(), ["calib.txt"]);
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn legacy_truncation_is_an_error_at_every_cut() {
        let b = legacy(&[("a.weight", 4, &[8.0, 2.0])], None);
        for cut in 0..b.len() {
            assert!(ImatrixFile::from_legacy(Path::new("t.dat"), &b[..cut]).is_err(), "cut {cut}");
        }
        // A huge value count must not allocate: it is checked against the bytes left.
        let mut huge = legacy(&[("a", 1, &[1.0])], None);
        huge[4 + 4 + 1 + 4..4 + 4 + 1 + 8].copy_from_slice(&i32::MAX.to_le_bytes());
        assert!(ImatrixFile::from_legacy(Path::new("t.dat"), &huge).is_err());
    }
}
