//! The ggml tensor types: one table, declared once.
//!
//! Ids, names, block sizes and bytes per block are those of the pinned ggml (0.25.3, vendored in
//! llama.cpp 0c1e570): `enum ggml_type` in `ggml.h` and `type_traits` in `ggml.c`. Ids that ggml
//! has retired (4, 5, 31–33, 36–38) are not types: reading one is an error.

/// A ggml tensor element type, as stored in a GGUF tensor info.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum GgmlType {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
    NVFP4 = 40,
    Q1_0 = 41,
    Q2_0 = 42,
}

/// One row of the type table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeTraits {
    /// The type.
    pub ty: GgmlType,
    /// ggml's name (`type_name` in ggml.c), lower case: `"q4_K"`, `"bf16"`.
    pub name: &'static str,
    /// Elements per block (1 for plain types).
    pub block_size: usize,
    /// Bytes per block.
    pub type_size: usize,
}

const fn t(ty: GgmlType, name: &'static str, block_size: usize, type_size: usize) -> TypeTraits {
    TypeTraits { ty, name, block_size, type_size }
}

/// Every ggml type of the pinned ggml, in id order.
pub const TYPE_TABLE: &[TypeTraits] = &[
    t(GgmlType::F32, "f32", 1, 4),
    t(GgmlType::F16, "f16", 1, 2),
    t(GgmlType::Q4_0, "q4_0", 32, 18),
    t(GgmlType::Q4_1, "q4_1", 32, 20),
    t(GgmlType::Q5_0, "q5_0", 32, 22),
    t(GgmlType::Q5_1, "q5_1", 32, 24),
    t(GgmlType::Q8_0, "q8_0", 32, 34),
    t(GgmlType::Q8_1, "q8_1", 32, 36),
    t(GgmlType::Q2_K, "q2_K", 256, 84),
    t(GgmlType::Q3_K, "q3_K", 256, 110),
    t(GgmlType::Q4_K, "q4_K", 256, 144),
    t(GgmlType::Q5_K, "q5_K", 256, 176),
    t(GgmlType::Q6_K, "q6_K", 256, 210),
    t(GgmlType::Q8_K, "q8_K", 256, 292),
    t(GgmlType::IQ2_XXS, "iq2_xxs", 256, 66),
    t(GgmlType::IQ2_XS, "iq2_xs", 256, 74),
    t(GgmlType::IQ3_XXS, "iq3_xxs", 256, 98),
    t(GgmlType::IQ1_S, "iq1_s", 256, 50),
    t(GgmlType::IQ4_NL, "iq4_nl", 32, 18),
    t(GgmlType::IQ3_S, "iq3_s", 256, 110),
    t(GgmlType::IQ2_S, "iq2_s", 256, 82),
    t(GgmlType::IQ4_XS, "iq4_xs", 256, 136),
    t(GgmlType::I8, "i8", 1, 1),
    t(GgmlType::I16, "i16", 1, 2),
    t(GgmlType::I32, "i32", 1, 4),
    t(GgmlType::I64, "i64", 1, 8),
    t(GgmlType::F64, "f64", 1, 8),
    t(GgmlType::IQ1_M, "iq1_m", 256, 56),
    t(GgmlType::BF16, "bf16", 1, 2),
    t(GgmlType::TQ1_0, "tq1_0", 256, 54),
    t(GgmlType::TQ2_0, "tq2_0", 256, 66),
    t(GgmlType::MXFP4, "mxfp4", 32, 17),
    t(GgmlType::NVFP4, "nvfp4", 64, 36),
    t(GgmlType::Q1_0, "q1_0", 128, 18),
    t(GgmlType::Q2_0, "q2_0", 64, 18),
];

impl GgmlType {
    /// The type with this on-disk id, or `None` for an id the pinned ggml does not define.
    pub fn from_id(id: u32) -> Option<GgmlType> {
        TYPE_TABLE.iter().find(|r| r.ty as u32 == id).map(|r| r.ty)
    }

    /// The type with this ggml name (case-insensitive: `"Q4_K"`, `"q4_k"`).
    pub fn from_name(name: &str) -> Option<GgmlType> {
        TYPE_TABLE.iter().find(|r| r.name.eq_ignore_ascii_case(name)).map(|r| r.ty)
    }

    /// The on-disk id.
    pub fn id(self) -> u32 {
        self as u32
    }

    /// This type's row of [`TYPE_TABLE`].
    pub fn traits(self) -> &'static TypeTraits {
        // Every variant has exactly one row (checked by a test).
        TYPE_TABLE.iter().find(|r| r.ty == self).unwrap_or(&TYPE_TABLE[0])
    }

    /// ggml's lower-case name.
    pub fn name(self) -> &'static str {
        self.traits().name
    }

    /// Elements per block.
    pub fn block_size(self) -> usize {
        self.traits().block_size
    }

    /// Bytes per block.
    pub fn type_size(self) -> usize {
        self.traits().type_size
    }

    /// Bytes of a row of `n` elements, or `None` when `n` is not a multiple of the block size or
    /// the byte count overflows.
    pub fn row_size(self, n: u64) -> Option<u64> {
        let bs = self.block_size() as u64;
        if !n.is_multiple_of(bs) {
            return None;
        }
        (n / bs).checked_mul(self.type_size() as u64)
    }

    /// Whether this is a block-quantized type (block size above 1).
    pub fn is_quantized(self) -> bool {
        self.block_size() > 1
    }
}

impl std::fmt::Display for GgmlType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // ggml prints names upper case in llama.cpp logs ("q4_K" -> "Q4_K").
        f.write_str(&self.name().to_ascii_uppercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_in_id_order_with_unique_ids_and_names() {
        for w in TYPE_TABLE.windows(2) {
            assert!((w[0].ty as u32) < (w[1].ty as u32));
        }
        for r in TYPE_TABLE {
            assert_eq!(GgmlType::from_id(r.ty as u32), Some(r.ty));
            assert_eq!(GgmlType::from_name(r.name), Some(r.ty));
            assert_eq!(r.ty.traits(), r);
        }
    }

    #[test]
    fn retired_ids_are_unknown() {
        for id in [4, 5, 31, 32, 33, 36, 37, 38, 43, 1000] {
            assert_eq!(GgmlType::from_id(id), None, "id {id}");
        }
    }

    #[test]
    fn row_sizes() {
        assert_eq!(GgmlType::Q4_K.row_size(4096), Some(16 * 144));
        assert_eq!(GgmlType::Q4_K.row_size(704), None);
        assert_eq!(GgmlType::F16.row_size(3), Some(6));
    }
}
