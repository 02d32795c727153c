//! Quality order of llama.cpp's file types, best first: llama.cpp's published KL-divergence
//! ranking of its quantizations (tools/quantize/README.md and the k-quants PR tables: F16 > Q8_0 >
//! Q6_K > Q5_K_M > Q5_K_S > Q4_K_M > Q4_K_S > Q4_0 …, legacy types below the k-quants of the same
//! bits; IQ4_NL and IQ4_XS between Q4_K_S and Q4_1 as in the pinned tools/perplexity/README.md
//! Llama-3-8B table, as are IQ3_M > IQ3_S > IQ3_XS > IQ3_XXS between Q3_K_M and Q3_K_S and IQ2_M
//! between Q3_K_S and Q2_K; IQ2_S > IQ2_XS > IQ2_XXS > IQ1_M > IQ1_S, which no pinned table ranks against
//! Q2_K, follow it in order of size (llama-quantize's bits per weight); the
//! ternary TQ types, meant for ternary-trained models, are not ranked).
//! Declared once; used to recommend the best type that fits.

/// File-type names (as llama-quantize prints them), best quality first.
pub const QUALITY_ORDER: &[&str] = &[
    "F32", "BF16", "F16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_1", "Q5_0", "Q4_K_M", "Q4_K_S", "IQ4_NL", "IQ4_XS", "Q4_1", "Q4_0",
    "Q3_K_L", "Q3_K_M", "IQ3_M", "IQ3_S", "IQ3_XS", "IQ3_XXS", "Q3_K_S", "IQ2_M", "Q2_K", "IQ2_S", "IQ2_XS", "IQ2_XXS", "IQ1_M", "IQ1_S",
];

/// The default list `plan` sizes.
pub const DEFAULT_TYPES: &[&str] = &["F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K"];

/// Rank of a file type (0 = best); types outside the table rank last.
pub fn rank(name: &str) -> usize {
    QUALITY_ORDER.iter().position(|n| n.eq_ignore_ascii_case(name)).unwrap_or(QUALITY_ORDER.len())
}
