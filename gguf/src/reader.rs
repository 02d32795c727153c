//! The memory-mapped GGUF reader.
//!
//! [`GgufFile::open`] maps the file, parses and validates the header, metadata and tensor infos,
//! and hands tensor data out as slices of the mapping (no copy). Every count and length is checked
//! against the bytes left in the file before anything is allocated, so no input can make it
//! allocate more than a small multiple of the file size; no input makes it panic.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::tensor::{check_tensor, pad_to, MAX_DIMS};
use crate::{GgmlType, GgufError, TensorInfo, Value, ValueType};

/// The four bytes every GGUF file starts with.
pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";

/// The alignment of tensor data when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u32 = 32;

/// The metadata key that sets the alignment.
pub const ALIGNMENT_KEY: &str = "general.alignment";

/// The deepest nesting of arrays the reader and writer accept (an array of arrays is depth 2).
pub const MAX_ARRAY_NESTING: usize = 16;

/// The bytes behind a [`GgufFile`].
enum Storage {
    Mmap(memmap2::Mmap),
    Bytes(Vec<u8>),
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Mmap(m) => m,
            Storage::Bytes(b) => b,
        }
    }
}

/// An open, validated GGUF file (version 2 or 3).
pub struct GgufFile {
    path: PathBuf,
    storage: Storage,
    version: u32,
    alignment: u32,
    metadata: Vec<(String, Value)>,
    tensors: Vec<TensorInfo>,
    data_offset: u64,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("alignment", &self.alignment)
            .field("n_kv", &self.metadata.len())
            .field("n_tensors", &self.tensors.len())
            .field("data_offset", &self.data_offset)
            .finish()
    }
}

impl GgufFile {
    /// Maps and validates the file at `path`.
    ///
    /// The mapping is read-only; as with any mmap, the file must not be truncated by another
    /// process while the `GgufFile` lives.
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile, GgufError> {
        let path = path.as_ref();
        let io = |op, source| GgufError::Io { path: path.to_path_buf(), op, source };
        let file = std::fs::File::open(path).map_err(|e| io("open", e))?;
        let len = file.metadata().map_err(|e| io("stat", e))?.len();
        let storage = if len == 0 {
            Storage::Bytes(Vec::new())
        } else {
            // SAFETY: the mapping is read-only and private to this value; like every mmap-based
            // reader we rely on the file not being truncated while it is mapped.
            let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| io("map", e))?;
            Storage::Mmap(map)
        };
        Self::parse(path.to_path_buf(), storage)
    }

    /// Parses a GGUF image held in memory; `path` is only used in error messages and
    /// [`GgufFile::path`].
    pub fn from_bytes(path: impl Into<PathBuf>, bytes: Vec<u8>) -> Result<GgufFile, GgufError> {
        Self::parse(path.into(), Storage::Bytes(bytes))
    }

    fn parse(path: PathBuf, storage: Storage) -> Result<GgufFile, GgufError> {
        let parsed = Parser { path: &path, buf: storage.bytes(), pos: 0 }.parse()?;
        Ok(GgufFile {
            path,
            storage,
            version: parsed.version,
            alignment: parsed.alignment,
            metadata: parsed.metadata,
            tensors: parsed.tensors,
            data_offset: parsed.data_offset,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The GGUF version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The tensor data alignment: `general.alignment`, or 32.
    pub fn alignment(&self) -> u32 {
        self.alignment
    }

    /// The metadata key/value pairs in file order.
    pub fn metadata(&self) -> &[(String, Value)] {
        &self.metadata
    }

    /// The value of a metadata key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The tensor infos in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The tensor info with this name.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The data of a tensor of this file, as a slice of the mapping. For a `TensorInfo` that does
    /// not belong to this file and lies outside it, the slice is empty.
    pub fn tensor_data(&self, info: &TensorInfo) -> &[u8] {
        let start = self.data_offset.checked_add(info.offset);
        let end = start.and_then(|s| s.checked_add(info.size));
        match (start, end) {
            (Some(s), Some(e)) => self.storage.bytes().get(s as usize..e as usize).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// Drops the mapped pages of a tensor's data from this process's resident set
    /// (`madvise(MADV_DONTNEED)` on the whole pages inside it): after its bytes were copied
    /// elsewhere, they no longer count twice. The mapping stays valid; a later read faults the
    /// pages in again from the file. Does nothing for an in-memory image.
    pub fn release_tensor(&self, info: &TensorInfo) {
        self.release_bytes(self.tensor_data(info));
    }

    /// [`release_pages`] for bytes of this file (a tensor's, or part of one); a no-op for a file
    /// read into memory.
    pub fn release_bytes(&self, bytes: &[u8]) {
        if let Storage::Mmap(map) = &self.storage {
            release_pages(map, bytes);
        }
    }

    /// Byte offset of the data section from the start of the file.
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }

    /// File size in bytes.
    pub fn file_len(&self) -> u64 {
        self.storage.bytes().len() as u64
    }
}

struct Parsed {
    version: u32,
    alignment: u32,
    metadata: Vec<(String, Value)>,
    tensors: Vec<TensorInfo>,
    data_offset: u64,
}

/// A cursor over the file bytes that turns every short read into [`GgufError::Truncated`].
struct Parser<'a> {
    path: &'a Path,
    buf: &'a [u8],
    pos: usize,
}

/// The fewest bytes a key/value pair takes: key length (8), value type (4), one byte of value.
const MIN_KV_SIZE: u64 = 8 + 4 + 1;
/// The fewest bytes a tensor info takes: name length (8), n_dims (4), type (4), offset (8).
const MIN_TENSOR_INFO_SIZE: u64 = 8 + 4 + 4 + 8;

impl<'a> Parser<'a> {
    fn remaining(&self) -> u64 {
        (self.buf.len() - self.pos) as u64
    }

    fn take(&mut self, n: u64, what: &dyn Fn() -> String) -> Result<&'a [u8], GgufError> {
        if n > self.remaining() {
            return Err(GgufError::Truncated {
                path: self.path.to_path_buf(),
                offset: self.pos as u64,
                what: what(),
                needed: n,
                available: self.remaining(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &dyn Fn() -> String) -> Result<[u8; N], GgufError> {
        let s = self.take(N as u64, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u32(&mut self, what: &dyn Fn() -> String) -> Result<u32, GgufError> {
        self.array::<4>(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &dyn Fn() -> String) -> Result<u64, GgufError> {
        self.array::<8>(what).map(u64::from_le_bytes)
    }

    /// Checks that `count` items of at least `min_size` bytes each fit in the rest of the file.
    fn check_count(&self, count: u64, min_size: u64, what: &dyn Fn() -> String) -> Result<(), GgufError> {
        let max = self.remaining() / min_size;
        if count > max {
            return Err(GgufError::CountTooLarge {
                path: self.path.to_path_buf(),
                offset: self.pos as u64,
                what: what(),
                count,
                max,
                available: self.remaining(),
            });
        }
        Ok(())
    }

    /// A GGUF string: u64 length, then UTF-8 bytes.
    fn string(&mut self, what: &dyn Fn() -> String) -> Result<String, GgufError> {
        let start = self.pos as u64;
        let len = self.u64(&|| format!("length of {}", what()))?;
        self.check_count(len, 1, &|| format!("length of {}", what()))?;
        let bytes = self.take(len, what)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(GgufError::InvalidUtf8 { path: self.path.to_path_buf(), offset: start, what: what() }),
        }
    }

    fn parse(mut self) -> Result<Parsed, GgufError> {
        let magic = self.array::<4>(&|| "magic".into())?;
        if magic != GGUF_MAGIC {
            return Err(GgufError::BadMagic { path: self.path.to_path_buf(), found: magic });
        }
        let version = self.u32(&|| "version".into())?;
        if version != 2 && version != 3 {
            return Err(GgufError::UnsupportedVersion { path: self.path.to_path_buf(), version });
        }
        let n_tensors = self.u64(&|| "tensor count".into())?;
        let n_kv = self.u64(&|| "metadata key/value count".into())?;
        self.check_count(n_kv, MIN_KV_SIZE, &|| "metadata key/value count".into())?;

        let metadata = self.metadata(n_kv)?;
        let alignment = match metadata.iter().find(|(k, _)| k == ALIGNMENT_KEY) {
            None => DEFAULT_ALIGNMENT,
            Some((_, Value::U32(a))) if a.is_power_of_two() => *a,
            Some((_, Value::U32(a))) => return Err(GgufError::BadAlignment { path: self.path.to_path_buf(), alignment: (*a).into() }),
            Some((_, v)) => return Err(GgufError::AlignmentType { path: self.path.to_path_buf(), found: v.value_type() }),
        };

        self.check_count(n_tensors, MIN_TENSOR_INFO_SIZE, &|| "tensor count".into())?;
        let tensors = self.tensor_infos(n_tensors)?;

        let file_len = self.buf.len() as u64;
        let data_offset = if n_tensors > 0 {
            let padded = pad_to(self.pos as u64, alignment.into()).unwrap_or(u64::MAX);
            if padded > file_len {
                return Err(GgufError::Truncated {
                    path: self.path.to_path_buf(),
                    offset: self.pos as u64,
                    what: "padding before the tensor data".into(),
                    needed: padded - self.pos as u64,
                    available: self.remaining(),
                });
            }
            padded
        } else {
            self.pos as u64
        };
        self.check_tensor_data(&tensors, data_offset, alignment.into())?;
        Ok(Parsed { version, alignment, metadata, tensors, data_offset })
    }

    fn metadata(&mut self, n_kv: u64) -> Result<Vec<(String, Value)>, GgufError> {
        let mut metadata = Vec::with_capacity(n_kv as usize);
        let mut seen = HashSet::with_capacity(n_kv as usize);
        for index in 0..n_kv {
            let offset = self.pos as u64;
            let key = self.string(&|| format!("metadata key #{index}"))?;
            if key.is_empty() {
                return Err(GgufError::EmptyKey { path: self.path.to_path_buf(), offset, index });
            }
            if !seen.insert(key.clone()) {
                return Err(GgufError::DuplicateKey { path: self.path.to_path_buf(), offset, key });
            }
            let ty = self.value_type(&key)?;
            let value = self.value(ty, &key, 1)?;
            metadata.push((key, value));
        }
        Ok(metadata)
    }

    fn value_type(&mut self, key: &str) -> Result<ValueType, GgufError> {
        let offset = self.pos as u64;
        let id = self.u32(&|| format!("value type of key '{key}'"))?;
        ValueType::from_id(id).ok_or_else(|| GgufError::UnknownValueType { path: self.path.to_path_buf(), offset, key: key.to_owned(), id })
    }

    /// One value of type `ty`; `depth` is the array nesting level of the value (1 at top level).
    fn value(&mut self, ty: ValueType, key: &str, depth: usize) -> Result<Value, GgufError> {
        let what = || format!("value of key '{key}'");
        Ok(match ty {
            ValueType::Uint8 => Value::U8(u8::from_le_bytes(self.array(&what)?)),
            ValueType::Int8 => Value::I8(i8::from_le_bytes(self.array(&what)?)),
            ValueType::Uint16 => Value::U16(u16::from_le_bytes(self.array(&what)?)),
            ValueType::Int16 => Value::I16(i16::from_le_bytes(self.array(&what)?)),
            ValueType::Uint32 => Value::U32(u32::from_le_bytes(self.array(&what)?)),
            ValueType::Int32 => Value::I32(i32::from_le_bytes(self.array(&what)?)),
            ValueType::Float32 => Value::F32(f32::from_le_bytes(self.array(&what)?)),
            ValueType::Uint64 => Value::U64(u64::from_le_bytes(self.array(&what)?)),
            ValueType::Int64 => Value::I64(i64::from_le_bytes(self.array(&what)?)),
            ValueType::Float64 => Value::F64(f64::from_le_bytes(self.array(&what)?)),
            ValueType::Bool => {
                let offset = self.pos as u64;
                match self.array::<1>(&what)?[0] {
                    0 => Value::Bool(false),
                    1 => Value::Bool(true),
                    byte => return Err(GgufError::InvalidBool { path: self.path.to_path_buf(), offset, key: key.to_owned(), byte }),
                }
            }
            ValueType::String => Value::String(self.string(&what)?),
            ValueType::Array => {
                let offset = self.pos as u64;
                if depth > MAX_ARRAY_NESTING {
                    return Err(GgufError::NestingTooDeep {
                        path: self.path.to_path_buf(),
                        offset,
                        key: key.to_owned(),
                        max: MAX_ARRAY_NESTING,
                    });
                }
                let elem = self.value_type(key)?;
                let count_what = || format!("element count of array '{key}'");
                let count = self.u64(&count_what)?;
                self.check_count(count, elem.min_encoded_size() as u64, &count_what)?;
                // Grow past 64 Ki elements as elements are actually read: a nested array cannot claim
                // its whole count up front at every level.
                let mut items = Vec::with_capacity(count.min(1 << 16) as usize);
                for _ in 0..count {
                    items.push(self.value(elem, key, depth + 1)?);
                }
                Value::Array(elem, items)
            }
        })
    }

    fn tensor_infos(&mut self, n_tensors: u64) -> Result<Vec<TensorInfo>, GgufError> {
        let mut tensors = Vec::with_capacity(n_tensors as usize);
        let mut seen = HashSet::with_capacity(n_tensors as usize);
        for index in 0..n_tensors {
            let name = self.string(&|| format!("name of tensor #{index}"))?;
            if !seen.insert(name.clone()) {
                return Err(GgufError::DuplicateTensor { path: self.path.to_path_buf(), name });
            }
            let n_dims = self.u32(&|| format!("dimension count of tensor '{name}'"))?;
            if n_dims as usize > MAX_DIMS {
                return Err(GgufError::TooManyDims { path: self.path.to_path_buf(), tensor: name, n_dims: n_dims.into() });
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for j in 0..n_dims {
                dims.push(self.u64(&|| format!("dimension {j} of tensor '{name}'"))?);
            }
            let type_id = self.u32(&|| format!("type of tensor '{name}'"))?;
            let offset = self.u64(&|| format!("data offset of tensor '{name}'"))?;
            let ty = GgmlType::from_id(type_id).ok_or_else(|| GgufError::UnknownGgmlType {
                path: self.path.to_path_buf(),
                tensor: name.clone(),
                id: type_id,
            })?;
            let size = check_tensor(self.path, &name, &dims, ty)?;
            tensors.push(TensorInfo { name, dims, ty, offset, size });
        }
        Ok(tensors)
    }

    /// Every tensor's data is aligned, inside the file, and overlaps no other tensor's.
    fn check_tensor_data(&self, tensors: &[TensorInfo], data_offset: u64, alignment: u64) -> Result<(), GgufError> {
        let file_len = self.buf.len() as u64;
        for t in tensors {
            if t.offset % alignment != 0 {
                return Err(GgufError::MisalignedTensor {
                    path: self.path.to_path_buf(),
                    tensor: t.name.clone(),
                    offset: t.offset,
                    alignment,
                });
            }
            let end = data_offset.checked_add(t.offset).and_then(|s| s.checked_add(t.size));
            if end.is_none_or(|e| e > file_len) {
                return Err(GgufError::TensorOutOfBounds {
                    path: self.path.to_path_buf(),
                    tensor: t.name.clone(),
                    offset: t.offset,
                    size: t.size,
                    data_offset,
                    file_len,
                });
            }
        }
        let mut order: Vec<&TensorInfo> = tensors.iter().collect();
        order.sort_by_key(|t| t.offset);
        for w in order.windows(2) {
            // In bounds, so offset + size cannot overflow.
            let end = w[0].offset + w[0].size;
            if end > w[1].offset {
                return Err(GgufError::TensorOverlap {
                    path: self.path.to_path_buf(),
                    tensor: w[0].name.clone(),
                    start: w[0].offset,
                    end,
                    other: w[1].name.clone(),
                    other_start: w[1].offset,
                });
            }
        }
        Ok(())
    }
}

/// Drops the pages of the read-only mapping `map` that lie wholly inside `bytes` from this
/// process's resident set (pages shared with neighbouring data stay); `bytes` outside `map` is
/// ignored. Best effort: a failure only costs memory. Later reads fault the pages in again.
pub fn release_pages(map: &memmap2::Mmap, bytes: &[u8]) {
    let (base, at) = (map.as_ptr() as usize, bytes.as_ptr() as usize);
    if at < base || at.saturating_add(bytes.len()) > base + map.len() {
        return;
    }
    let page = 4096;
    let first = (at - base).div_ceil(page) * page;
    let end = (at - base + bytes.len()) / page * page;
    if end > first {
        // SAFETY: a read-only private file mapping: dropping its pages only makes later reads
        // fault them in again from the file; no reference into the range is invalidated.
        let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, first, end - first) };
    }
}
