//! llama.cpp's file types (`enum llama_ftype` in the pinned `include/llama.h`): the value of
//! `general.file_type`, the names `llama-quantize` accepts and prints, and each type's default
//! tensor type (`llama_ftype_get_default_type` in `src/llama-quant.cpp`).

use gguf::GgmlType;

/// A llama.cpp file type (`llama_ftype`). The discriminant is the `general.file_type` value.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum FileType {
    AllF32 = 0,
    MostlyF16 = 1,
    MostlyQ4_0 = 2,
    MostlyQ4_1 = 3,
    MostlyQ8_0 = 7,
    MostlyQ5_0 = 8,
    MostlyQ5_1 = 9,
    MostlyQ2_K = 10,
    MostlyQ3_K_S = 11,
    MostlyQ3_K_M = 12,
    MostlyQ3_K_L = 13,
    MostlyQ4_K_S = 14,
    MostlyQ4_K_M = 15,
    MostlyQ5_K_S = 16,
    MostlyQ5_K_M = 17,
    MostlyQ6_K = 18,
    MostlyIQ2_XXS = 19,
    MostlyIQ2_XS = 20,
    MostlyQ2_K_S = 21,
    MostlyIQ3_XS = 22,
    MostlyIQ3_XXS = 23,
    MostlyIQ1_S = 24,
    MostlyIQ4_NL = 25,
    MostlyIQ3_S = 26,
    MostlyIQ3_M = 27,
    MostlyIQ2_S = 28,
    MostlyIQ2_M = 29,
    MostlyIQ4_XS = 30,
    MostlyIQ1_M = 31,
    MostlyBF16 = 32,
    MostlyTQ1_0 = 36,
    MostlyTQ2_0 = 37,
    MostlyMXFP4_MOE = 38,
    MostlyNVFP4 = 39,
    MostlyQ1_0 = 40,
    MostlyQ2_0 = 41,
}

/// One row of [`FTYPE_TABLE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileTypeInfo {
    /// The file type.
    pub ftype: FileType,
    /// The name `llama-quantize` prints (`QUANT_OPTIONS` in `tools/quantize/quantize.cpp`).
    pub name: &'static str,
    /// The tensor type most tensors get (`llama_ftype_get_default_type`); `None` where
    /// llama-quantize cannot produce this file type.
    pub default_type: Option<GgmlType>,
}

const fn r(ftype: FileType, name: &'static str, default_type: Option<GgmlType>) -> FileTypeInfo {
    FileTypeInfo { ftype, name, default_type }
}

/// Every file type of the pinned llama.cpp, in id order.
pub const FTYPE_TABLE: &[FileTypeInfo] = {
    use FileType::*;
    use GgmlType as G;
    &[
        r(AllF32, "F32", Some(G::F32)),
        r(MostlyF16, "F16", Some(G::F16)),
        r(MostlyQ4_0, "Q4_0", Some(G::Q4_0)),
        r(MostlyQ4_1, "Q4_1", Some(G::Q4_1)),
        r(MostlyQ8_0, "Q8_0", Some(G::Q8_0)),
        r(MostlyQ5_0, "Q5_0", Some(G::Q5_0)),
        r(MostlyQ5_1, "Q5_1", Some(G::Q5_1)),
        r(MostlyQ2_K, "Q2_K", Some(G::Q2_K)),
        r(MostlyQ3_K_S, "Q3_K_S", Some(G::Q3_K)),
        r(MostlyQ3_K_M, "Q3_K_M", Some(G::Q3_K)),
        r(MostlyQ3_K_L, "Q3_K_L", Some(G::Q3_K)),
        r(MostlyQ4_K_S, "Q4_K_S", Some(G::Q4_K)),
        r(MostlyQ4_K_M, "Q4_K_M", Some(G::Q4_K)),
        r(MostlyQ5_K_S, "Q5_K_S", Some(G::Q5_K)),
        r(MostlyQ5_K_M, "Q5_K_M", Some(G::Q5_K)),
        r(MostlyQ6_K, "Q6_K", Some(G::Q6_K)),
        r(MostlyIQ2_XXS, "IQ2_XXS", Some(G::IQ2_XXS)),
        r(MostlyIQ2_XS, "IQ2_XS", Some(G::IQ2_XS)),
        r(MostlyQ2_K_S, "Q2_K_S", Some(G::Q2_K)),
        r(MostlyIQ3_XS, "IQ3_XS", Some(G::IQ3_S)),
        r(MostlyIQ3_XXS, "IQ3_XXS", Some(G::IQ3_XXS)),
        r(MostlyIQ1_S, "IQ1_S", Some(G::IQ1_S)),
        r(MostlyIQ4_NL, "IQ4_NL", Some(G::IQ4_NL)),
        r(MostlyIQ3_S, "IQ3_S", Some(G::IQ3_S)),
        r(MostlyIQ3_M, "IQ3_M", Some(G::IQ3_S)),
        // IQ2_S files are mostly IQ2_XS tensors and IQ2_M files mostly IQ2_S (llama.cpp's choice).
        r(MostlyIQ2_S, "IQ2_S", Some(G::IQ2_XS)),
        r(MostlyIQ2_M, "IQ2_M", Some(G::IQ2_S)),
        r(MostlyIQ4_XS, "IQ4_XS", Some(G::IQ4_XS)),
        r(MostlyIQ1_M, "IQ1_M", Some(G::IQ1_M)),
        r(MostlyBF16, "BF16", Some(G::BF16)),
        r(MostlyTQ1_0, "TQ1_0", Some(G::TQ1_0)),
        r(MostlyTQ2_0, "TQ2_0", Some(G::TQ2_0)),
        r(MostlyMXFP4_MOE, "MXFP4_MOE", Some(G::MXFP4)),
        // llama-quantize has no option for NVFP4 files and no default type for them.
        r(MostlyNVFP4, "NVFP4", None),
        r(MostlyQ1_0, "Q1_0", Some(G::Q1_0)),
        r(MostlyQ2_0, "Q2_0", Some(G::Q2_0)),
    ]
};

/// Names llama-quantize accepts besides the file types' own names (`QUANT_OPTIONS` aliases).
pub const FTYPE_ALIASES: &[(&str, FileType)] =
    &[("Q3_K", FileType::MostlyQ3_K_M), ("Q4_K", FileType::MostlyQ4_K_M), ("Q5_K", FileType::MostlyQ5_K_M)];

/// The flag llama.cpp sets on a file type it guessed from the tensor types (`LLAMA_FTYPE_GUESSED`).
pub const LLAMA_FTYPE_GUESSED: u32 = 1024;

/// The file type llama.cpp's model loader guesses from a file's most common tensor type when
/// `general.file_type` is absent (`llama_model_loader`'s `switch (type_max)`); other types guess
/// `ALL_F32`.
pub const GUESSED_FTYPE: &[(GgmlType, FileType)] = {
    use FileType::*;
    use GgmlType as G;
    &[
        (G::F32, AllF32),
        (G::F16, MostlyF16),
        (G::BF16, MostlyBF16),
        (G::Q4_0, MostlyQ4_0),
        (G::Q4_1, MostlyQ4_1),
        (G::Q5_0, MostlyQ5_0),
        (G::Q5_1, MostlyQ5_1),
        (G::Q8_0, MostlyQ8_0),
        (G::Q2_K, MostlyQ2_K),
        (G::Q3_K, MostlyQ3_K_M),
        (G::Q4_K, MostlyQ4_K_M),
        (G::Q5_K, MostlyQ5_K_M),
        (G::Q6_K, MostlyQ6_K),
        (G::TQ1_0, MostlyTQ1_0),
        (G::TQ2_0, MostlyTQ2_0),
        (G::IQ2_XXS, MostlyIQ2_XXS),
        (G::IQ2_XS, MostlyIQ2_XS),
        (G::IQ2_S, MostlyIQ2_S),
        (G::IQ3_XXS, MostlyIQ3_XXS),
        (G::IQ1_S, MostlyIQ1_S),
        (G::IQ1_M, MostlyIQ1_M),
        (G::IQ4_NL, MostlyIQ4_NL),
        (G::IQ4_XS, MostlyIQ4_XS),
        (G::IQ3_S, MostlyIQ3_S),
        (G::NVFP4, MostlyNVFP4),
        (G::Q1_0, MostlyQ1_0),
        (G::Q2_0, MostlyQ2_0),
    ]
};

/// The `general.file_type` value llama-quantize's `COPY` writes: the input's own
/// `general.file_type` when present, else the loader's guess from the tensor types in llama's
/// tensor order (the first type to reach the highest count) with [`LLAMA_FTYPE_GUESSED`] set.
pub fn copy_file_type(declared: Option<u32>, types_in_order: impl IntoIterator<Item = GgmlType>) -> u32 {
    if let Some(v) = declared {
        return v;
    }
    let mut counts: Vec<(GgmlType, usize)> = Vec::new();
    let (mut best, mut best_n) = (None, 0usize);
    for ty in types_in_order {
        let n = match counts.iter_mut().find(|(t, _)| *t == ty) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                counts.push((ty, 1));
                1
            }
        };
        if n > best_n {
            (best, best_n) = (Some(ty), n);
        }
    }
    let guess = best.and_then(|t| GUESSED_FTYPE.iter().find(|(g, _)| *g == t)).map_or(FileType::AllF32, |(_, f)| *f);
    guess.id() | LLAMA_FTYPE_GUESSED
}

impl FileType {
    /// This file type's row of [`FTYPE_TABLE`].
    pub fn info(self) -> &'static FileTypeInfo {
        // Every variant has exactly one row (checked by a test).
        FTYPE_TABLE.iter().find(|r| r.ftype == self).unwrap_or(&FTYPE_TABLE[0])
    }

    /// Parses a type the way llama-quantize does: a name or alias, case-insensitive
    /// (`"q4_k_m"`, `"Q4_K"` = Q4_K_M), or a `general.file_type` number (`"15"`).
    /// `"COPY"` is not a file type and gives `None`.
    pub fn from_name(name: &str) -> Option<FileType> {
        if let Some(r) = FTYPE_TABLE.iter().find(|r| r.default_type.is_some() && r.name.eq_ignore_ascii_case(name)) {
            return Some(r.ftype);
        }
        if let Some((_, f)) = FTYPE_ALIASES.iter().find(|(a, _)| a.eq_ignore_ascii_case(name)) {
            return Some(*f);
        }
        let id: u32 = name.trim().parse().ok()?;
        FileType::from_id(id).filter(|f| f.default_type().is_some())
    }

    /// The file type with this `general.file_type` value.
    pub fn from_id(id: u32) -> Option<FileType> {
        FTYPE_TABLE.iter().find(|r| r.ftype as u32 == id).map(|r| r.ftype)
    }

    /// The name llama-quantize prints: `"Q4_K_M"`.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The `general.file_type` value.
    pub fn id(self) -> u32 {
        self as u32
    }

    /// The tensor type most tensors of this file type get; `None` where llama-quantize cannot
    /// produce this file type.
    pub fn default_type(self) -> Option<GgmlType> {
        self.info().default_type
    }

    /// The grid i-quant types (IQ1_*, IQ2_*, IQ3_*) this file type's mix can give some tensors
    /// besides its default type ([`MIX_GRID_IQUANTS`]).
    pub fn mix_grid_iquants(self) -> &'static [GgmlType] {
        MIX_GRID_IQUANTS.iter().find(|(f, _)| *f == self).map_or(&[], |(_, t)| t)
    }
}

/// The grid i-quant types that llama-quantize's mix rules (`llama_tensor_get_type`) give some
/// tensors of a file type besides its default type, read from the pinned llama-quant.cpp: e.g.
/// an IQ3_XXS file has IQ2_S attn_k/attn_q and IQ3_S token embeddings. A file type can be
/// written only when all of these have kernels too. (The other types the rules choose,
/// K-quants and Q8_0, have kernels.)
pub const MIX_GRID_IQUANTS: &[(FileType, &[GgmlType])] = {
    use FileType::*;
    use GgmlType as G;
    &[
        (MostlyIQ1_S, &[G::IQ2_XXS]),
        (MostlyIQ1_M, &[G::IQ2_XXS]),
        (MostlyIQ2_S, &[G::IQ3_S]),
        (MostlyIQ2_M, &[G::IQ3_S]),
        (MostlyIQ3_XXS, &[G::IQ3_S, G::IQ2_S]),
        (MostlyIQ3_XS, &[G::IQ3_XXS]),
    ]
};

impl std::fmt::Display for FileType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_in_id_order_and_complete() {
        for w in FTYPE_TABLE.windows(2) {
            assert!((w[0].ftype as u32) < (w[1].ftype as u32));
        }
        for r in FTYPE_TABLE {
            assert_eq!(r.ftype.info(), r);
            assert_eq!(FileType::from_id(r.ftype.id()), Some(r.ftype));
        }
    }

    #[test]
    fn parse_like_llama_quantize() {
        assert_eq!(FileType::from_name("q4_k_m"), Some(FileType::MostlyQ4_K_M));
        assert_eq!(FileType::from_name("Q4_K"), Some(FileType::MostlyQ4_K_M));
        assert_eq!(FileType::from_name("bf16"), Some(FileType::MostlyBF16));
        assert_eq!(FileType::from_name("15"), Some(FileType::MostlyQ4_K_M));
        assert_eq!(FileType::from_name("NVFP4"), None);
        assert_eq!(FileType::from_name("COPY"), None);
        assert_eq!(FileType::from_name("q4_2"), None);
    }
}
