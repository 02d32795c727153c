//! The streaming GGUF writer.
//!
//! [`GgufWriter::create`] writes the header, metadata and tensor infos (offsets computed from the
//! specs), then tensor data arrives in order through [`GgufWriter::write_tensor_data`], any number
//! of calls per tensor. Memory use does not depend on the amount of tensor data. The file is built
//! under a temporary name in the destination folder and renamed into place by
//! [`GgufWriter::finish`]; a writer dropped before that removes its temporary file, so a crash
//! never leaves a half-written `.gguf` under the final name.
//!
//! The byte layout is that of llama.cpp's `gguf_write_to_file` (ggml `gguf.cpp`): GGUF v3 header,
//! key/value pairs in the given order, tensor infos, zero padding to the alignment, then each
//! tensor's data followed by zero padding to the alignment.

use crate::temp_files;
use std::collections::HashSet;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::reader::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT, GGUF_MAGIC, MAX_ARRAY_NESTING};
use crate::tensor::{check_tensor, pad_to};
use crate::{GgufError, TensorSpec, Value, ValueType};

/// The GGUF version this writer produces.
pub const GGUF_VERSION: u32 = 3;

/// One tensor still to be written: its name and size in bytes.
struct Pending {
    name: String,
    size: u64,
}

/// A GGUF file being written. See the module documentation.
pub struct GgufWriter {
    path: PathBuf,
    out: Option<BufWriter<tempfile::NamedTempFile>>,
    alignment: u64,
    tensors: Vec<Pending>,
    /// Index of the tensor whose data is being written.
    current: usize,
    /// Bytes of the current tensor written so far.
    written: u64,
    /// Bytes written to the file so far.
    position: u64,
}

impl std::fmt::Debug for GgufWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufWriter")
            .field("path", &self.path)
            .field("current", &self.current)
            .field("n_tensors", &self.tensors.len())
            .finish()
    }
}

impl GgufWriter {
    /// Validates the metadata and tensor specs, creates a temporary file next to `path` and
    /// writes everything up to the tensor data.
    ///
    /// The alignment is `general.alignment` when present (it must be a UINT32 power of two), else
    /// 32. Keys must be nonempty and unique, array elements of their array's type, tensor names
    /// unique and shorter than 64 bytes, shapes valid for their type.
    pub fn create(path: impl AsRef<Path>, metadata: &[(String, Value)], tensors: &[TensorSpec]) -> Result<GgufWriter, GgufError> {
        let path = path.as_ref().to_path_buf();
        let layout = layout_for(&path, metadata, tensors)?;
        let pending = tensors.iter().zip(&layout.tensor_sizes).map(|(t, &size)| Pending { name: t.name.clone(), size }).collect();
        let alignment = layout.alignment;

        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let prefix = format!(".{}.", path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        check_free_space(&dir, layout.file_size)?;
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        // The usual mode of a new file (0666 less the umask: 0644 by default), not tempfile's 0600,
        // which the rename would keep.
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        let tmp = temp_files::create_listed(|| builder.tempfile_in(&dir), |t| t.path().to_path_buf()).map_err(|source| GgufError::Io {
            path: dir.clone(),
            op: "create a temporary file in",
            source,
        })?;

        let mut w = GgufWriter {
            path,
            out: Some(BufWriter::with_capacity(1 << 20, tmp)),
            alignment,
            tensors: pending,
            current: 0,
            written: 0,
            position: 0,
        };
        w.write_header(metadata, tensors)?;
        w.skip_finished_tensors()?;
        Ok(w)
    }

    fn write_header(&mut self, metadata: &[(String, Value)], tensors: &[TensorSpec]) -> Result<(), GgufError> {
        let mut buf = Vec::new();
        buf.extend_from_slice(&GGUF_MAGIC);
        buf.extend_from_slice(&GGUF_VERSION.to_le_bytes());
        buf.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
        buf.extend_from_slice(&(metadata.len() as u64).to_le_bytes());
        self.emit(&buf)?;
        for (key, value) in metadata {
            buf.clear();
            put_string(&mut buf, key);
            if let Value::Array(elem, items) = value {
                buf.extend_from_slice(&ValueType::Array.id().to_le_bytes());
                self.emit(&buf)?;
                self.write_array(*elem, items)?;
            } else {
                buf.extend_from_slice(&value.value_type().id().to_le_bytes());
                put_scalar(&mut buf, value);
                self.emit(&buf)?;
            }
        }
        let mut offset = 0u64;
        for (i, t) in tensors.iter().enumerate() {
            let size = self.tensors.get(i).map_or(0, |p| p.size);
            buf.clear();
            put_string(&mut buf, &t.name);
            buf.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                buf.extend_from_slice(&d.to_le_bytes());
            }
            buf.extend_from_slice(&t.ty.id().to_le_bytes());
            buf.extend_from_slice(&offset.to_le_bytes());
            self.emit(&buf)?;
            offset = pad_to(offset, self.alignment).and_then(|o| o.checked_add(size)).and_then(|o| pad_to(o, self.alignment)).ok_or_else(
                || GgufError::ShapeOverflow { path: self.path.clone(), tensor: t.name.clone(), dims: t.dims.clone(), ty: t.ty },
            )?;
        }
        self.pad()
    }

    /// Element type, count, then elements (arrays of arrays recursively), streamed in pieces so a
    /// large vocabulary never needs a second in-memory copy.
    fn write_array(&mut self, elem: ValueType, items: &[Value]) -> Result<(), GgufError> {
        let mut buf = Vec::with_capacity(4096);
        buf.extend_from_slice(&elem.id().to_le_bytes());
        buf.extend_from_slice(&(items.len() as u64).to_le_bytes());
        for item in items {
            if let Value::Array(inner, inner_items) = item {
                self.emit(&buf)?;
                buf.clear();
                self.write_array(*inner, inner_items)?;
            } else {
                put_scalar(&mut buf, item);
                if buf.len() >= 1 << 16 {
                    self.emit(&buf)?;
                    buf.clear();
                }
            }
        }
        self.emit(&buf)
    }

    fn emit(&mut self, bytes: &[u8]) -> Result<(), GgufError> {
        let out = self.out.as_mut().ok_or_else(|| GgufError::Io {
            path: self.path.clone(),
            op: "write (writer already finished)",
            source: std::io::Error::other("writer already finished"),
        })?;
        out.write_all(bytes).map_err(|source| GgufError::Io { path: self.path.clone(), op: "write", source })?;
        self.position += bytes.len() as u64;
        Ok(())
    }

    /// Zero bytes up to the next multiple of the alignment.
    fn pad(&mut self) -> Result<(), GgufError> {
        const ZEROS: [u8; 256] = [0; 256];
        let mut n = self.position.next_multiple_of(self.alignment) - self.position;
        while n > 0 {
            let k = n.min(ZEROS.len() as u64);
            self.emit(&ZEROS[..k as usize])?;
            n -= k;
        }
        Ok(())
    }

    /// Moves past every tensor whose data is complete, padding after each.
    fn skip_finished_tensors(&mut self) -> Result<(), GgufError> {
        while self.current < self.tensors.len() && self.written == self.tensors[self.current].size {
            self.pad()?;
            self.current += 1;
            self.written = 0;
        }
        Ok(())
    }

    /// Appends bytes of the current tensor's data (in the order of the specs given to
    /// [`GgufWriter::create`]). A call may hold part of a tensor, or the end of one tensor and the
    /// start of the next. Bytes beyond the last tensor's size are an error.
    pub fn write_tensor_data(&mut self, mut data: &[u8]) -> Result<(), GgufError> {
        while !data.is_empty() {
            let Some(t) = self.tensors.get(self.current) else {
                let last = self.tensors.last();
                return Err(GgufError::TooMuchData {
                    path: self.path.clone(),
                    tensor: last.map(|t| t.name.clone()).unwrap_or_else(|| "(no tensors)".into()),
                    expected: last.map_or(0, |t| t.size),
                    got: last.map_or(0, |t| t.size) + data.len() as u64,
                });
            };
            let room = t.size - self.written;
            let k = room.min(data.len() as u64) as usize;
            let (now, rest) = data.split_at(k);
            self.emit(now)?;
            self.written += k as u64;
            data = rest;
            self.skip_finished_tensors()?;
        }
        Ok(())
    }

    /// The name of the tensor whose data is expected next, if any.
    pub fn current_tensor(&self) -> Option<&str> {
        self.tensors.get(self.current).map(|t| t.name.as_str())
    }

    /// Checks that all tensor data was written, flushes, syncs the file to disk and renames it
    /// into place, replacing any file there.
    pub fn finish(self) -> Result<(), GgufError> {
        self.finish_with(true)
    }

    /// As [`GgufWriter::finish`], but never replaces a file: when one appeared at the output path
    /// since [`GgufWriter::create`] (say another process writing the same output), the temporary
    /// file is removed, the file already there is left whole, and the answer is
    /// [`GgufError::OutputExists`]. The check and the rename are one atomic step
    /// (`renameat2(RENAME_NOREPLACE)` on Linux, else a hard link, through tempfile's
    /// `persist_noclobber`), so of two writers racing for one path exactly one wins.
    pub fn finish_new(self) -> Result<(), GgufError> {
        self.finish_with(false)
    }

    fn finish_with(mut self, replace: bool) -> Result<(), GgufError> {
        if let Some(t) = self.tensors.get(self.current) {
            return Err(GgufError::IncompleteData {
                path: self.path.clone(),
                tensor: t.name.clone(),
                written: self.written,
                expected: t.size,
                remaining: self.tensors.len() - self.current,
            });
        }
        let io = |op, source| GgufError::Io { path: self.path.clone(), op, source };
        let Some(out) = self.out.take() else {
            return Err(io("finish", std::io::Error::other("writer already finished")));
        };
        let tmp = out.into_inner().map_err(|e| io("flush", e.into_error()))?;
        tmp.as_file().sync_all().map_err(|e| io("sync", e))?;
        let tmp_path = tmp.path().to_path_buf();
        let persisted = if replace {
            tmp.persist(&self.path).map_err(|e| io("rename into place", e.error))
        } else {
            // a failed persist hands the temporary file back; dropping it removes it
            tmp.persist_noclobber(&self.path).map_err(|e| match e.error.kind() {
                std::io::ErrorKind::AlreadyExists => GgufError::OutputExists { path: self.path.clone() },
                _ => io("rename into place", e.error),
            })
        };
        // renamed into place, or removed when the persist failed: no longer ours to clean up
        temp_files::unregister_temporary_file(&tmp_path);
        persisted?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Make the rename itself durable; not every platform can sync a folder.
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

impl Drop for GgufWriter {
    fn drop(&mut self) {
        // An unfinished writer's temporary file is removed by tempfile as `out` drops.
        if let Some(out) = &self.out {
            temp_files::unregister_temporary_file(out.get_ref().path());
        }
    }
}

/// Fails with [`GgufError::NoSpace`] when the file system of `dir` has fewer than `needed` bytes
/// free for this user (when the free space cannot be read, the write goes ahead).
fn check_free_space(dir: &Path, needed: u64) -> Result<(), GgufError> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else { return Ok(()) };
        let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
        // SAFETY: `c` is a NUL-terminated path and `st` a buffer statvfs fills when it returns 0.
        if unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) } == 0 {
            // SAFETY: statvfs returned 0, so it filled `st`.
            let st = unsafe { st.assume_init() };
            // The field types differ between platforms (u32 or u64).
            #[allow(clippy::unnecessary_cast)]
            let available = (st.f_bavail as u64).saturating_mul(st.f_frsize as u64);
            if available < needed {
                return Err(GgufError::NoSpace { path: dir.to_path_buf(), needed, available });
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (dir, needed);
    Ok(())
}

/// Where everything goes in the file a [`GgufWriter`] makes from given metadata and tensors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The tensor data alignment.
    pub alignment: u64,
    /// Byte offset of the tensor data section (header, metadata, tensor infos and padding).
    pub data_offset: u64,
    /// Each tensor's data offset from the start of the data section.
    pub tensor_offsets: Vec<u64>,
    /// Each tensor's data size in bytes (without padding).
    pub tensor_sizes: Vec<u64>,
    /// The size of the whole file.
    pub file_size: u64,
}

/// The exact layout and size of the file [`GgufWriter::create`] would write for this metadata and
/// these tensors, without writing anything (validated the same way).
pub fn layout(metadata: &[(String, Value)], tensors: &[TensorSpec]) -> Result<Layout, GgufError> {
    layout_for(Path::new("(layout)"), metadata, tensors)
}

fn layout_for(path: &Path, metadata: &[(String, Value)], tensors: &[TensorSpec]) -> Result<Layout, GgufError> {
    let alignment = validate_metadata(path, metadata)?;
    let mut names = HashSet::with_capacity(tensors.len());
    let mut tensor_sizes = Vec::with_capacity(tensors.len());
    // magic, version, tensor count, key/value count
    let mut header: u64 = 4 + 4 + 8 + 8;
    for (key, value) in metadata {
        header += 8 + key.len() as u64 + 4 + encoded_size(value);
    }
    for t in tensors {
        if !names.insert(t.name.as_str()) {
            return Err(GgufError::DuplicateTensor { path: path.to_path_buf(), name: t.name.clone() });
        }
        tensor_sizes.push(check_tensor(path, &t.name, &t.dims, t.ty)?);
        header += 8 + t.name.len() as u64 + 4 + 8 * t.dims.len() as u64 + 4 + 8;
    }
    let data_offset = header.next_multiple_of(alignment);
    let mut tensor_offsets = Vec::with_capacity(tensors.len());
    let mut offset = 0u64;
    for (t, &size) in tensors.iter().zip(&tensor_sizes) {
        tensor_offsets.push(offset);
        offset = offset.checked_add(size).and_then(|o| pad_to(o, alignment)).ok_or_else(|| GgufError::ShapeOverflow {
            path: path.to_path_buf(),
            tensor: t.name.clone(),
            dims: t.dims.clone(),
            ty: t.ty,
        })?;
    }
    Ok(Layout { alignment, data_offset, tensor_offsets, tensor_sizes, file_size: data_offset.saturating_add(offset) })
}

/// Bytes of a value's encoding, without its type id.
fn encoded_size(v: &Value) -> u64 {
    match v {
        Value::String(s) => 8 + s.len() as u64,
        Value::Array(_, items) => 4 + 8 + items.iter().map(encoded_size).sum::<u64>(),
        other => other.value_type().fixed_size().unwrap_or(0) as u64,
    }
}

/// Checks keys and values; returns the alignment.
fn validate_metadata(path: &Path, metadata: &[(String, Value)]) -> Result<u64, GgufError> {
    let mut seen = HashSet::with_capacity(metadata.len());
    for (index, (key, value)) in metadata.iter().enumerate() {
        if key.is_empty() {
            return Err(GgufError::EmptyKey { path: path.to_path_buf(), offset: 0, index: index as u64 });
        }
        if !seen.insert(key.as_str()) {
            return Err(GgufError::DuplicateKey { path: path.to_path_buf(), offset: 0, key: key.clone() });
        }
        check_value(path, key, value, 1)?;
    }
    match metadata.iter().find(|(k, _)| k == ALIGNMENT_KEY) {
        None => Ok(DEFAULT_ALIGNMENT.into()),
        Some((_, Value::U32(a))) if a.is_power_of_two() => Ok((*a).into()),
        Some((_, Value::U32(a))) => Err(GgufError::BadAlignment { path: path.to_path_buf(), alignment: (*a).into() }),
        Some((_, v)) => Err(GgufError::AlignmentType { path: path.to_path_buf(), found: v.value_type() }),
    }
}

fn check_value(path: &Path, key: &str, value: &Value, depth: usize) -> Result<(), GgufError> {
    if let Value::Array(elem, items) = value {
        if depth > MAX_ARRAY_NESTING {
            return Err(GgufError::NestingTooDeep { path: path.to_path_buf(), offset: 0, key: key.to_owned(), max: MAX_ARRAY_NESTING });
        }
        for (index, item) in items.iter().enumerate() {
            if item.value_type() != *elem {
                return Err(GgufError::MixedArray {
                    path: path.to_path_buf(),
                    key: key.to_owned(),
                    expected: *elem,
                    found: item.value_type(),
                    index,
                });
            }
            check_value(path, key, item, depth + 1)?;
        }
    }
    Ok(())
}

fn put_string(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// The encoding of a non-array value (without its type id).
fn put_scalar(buf: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::I8(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::U16(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => buf.push(u8::from(*x)),
        Value::String(s) => put_string(buf, s),
        Value::U64(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => buf.extend_from_slice(&x.to_le_bytes()),
        // Arrays are written by `GgufWriter::write_array`; callers never pass one here.
        Value::Array(..) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GgmlType, GgufFile};

    #[test]
    fn write_then_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.gguf");
        let md = vec![
            ("general.architecture".to_string(), Value::from("llama")),
            (
                "a.nested".to_string(),
                Value::Array(
                    ValueType::Array,
                    vec![
                        Value::Array(ValueType::Uint8, vec![Value::U8(1), Value::U8(2)]),
                        Value::Array(ValueType::String, vec![Value::from("x")]),
                    ],
                ),
            ),
        ];
        let specs = [TensorSpec::new("a", &[3, 2], GgmlType::F32), TensorSpec::new("b", &[32], GgmlType::Q8_0)];
        let mut w = GgufWriter::create(&path, &md, &specs).expect("create");
        w.write_tensor_data(&[1u8; 10]).expect("part");
        w.write_tensor_data(&[2u8; 14 + 34]).expect("rest");
        assert!(w.write_tensor_data(&[0]).is_err());
        w.finish().expect("finish");
        let f = GgufFile::open(&path).expect("open");
        assert_eq!(f.metadata(), &md[..]);
        assert_eq!(f.tensors()[1].offset, 32);
        assert_eq!(f.tensor_data(&f.tensors()[1]), &[2u8; 34][..]);
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1, "temporary file left over");
    }

    #[test]
    fn dropped_writer_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.gguf");
        let mut w = GgufWriter::create(&path, &[], &[TensorSpec::new("a", &[4], GgmlType::F32)]).expect("create");
        w.write_tensor_data(&[0; 8]).expect("write");
        drop(w);
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0);
    }
}
