//! IQ4_XS: super-blocks of 256 weights in 8 groups of 32; 4-bit indices into IQ4_NL's level table,
//! 6-bit signed group scales (stored `+32`), an f16 super-block scale. Layout: `d: f16,
//! scales_h: u16` (2 high bits of each group's code), `scales_l: [u8; 4]` (4 low bits, two groups
//! per byte), `qs: [u8; 128]` (per group of 32: element j low nibble, j + 16 high).

use super::common::{read_f16, write_f16, QK_K};
use super::iq4_nl::{best_index, group_scale, group_weights, indices, pack, scales_8_groups, sigma2, superblock_codes, KVALUES_IQ4NL};

/// Elements per block.
pub const BLOCK: usize = QK_K;
/// Bytes per block.
pub const BYTES: usize = 136;

const GROUPS: usize = QK_K / 32;

/// `quantize_iq4_xs` for one super-block (`quantize_row_iq4_nl_impl` with 8 groups of 32 and
/// `ntry` 7), with importance weights `qw` or without (weights `x²`); llama-quantize and
/// `quantize_row_iq4_xs_ref` both take this path. `simd`: search the 8 groups at once (AVX2 when
/// available) rather than with the scalar reference.
fn quantize(x: &[f32], qw: Option<&[f32]>, y: &mut [u8], simd: bool) {
    let x = &x[..QK_K];
    let mut weight = [0.0f32; QK_K];
    let s2 = sigma2(x);
    for (ib, w) in weight.chunks_exact_mut(32).enumerate() {
        let r = 32 * ib..32 * ib + 32;
        group_weights(&x[r.clone()], qw.map(|w| &w[r]), s2, w);
    }
    let mut scales = [0.0f32; GROUPS];
    if simd {
        scales_8_groups(x, &weight, &mut scales);
    } else {
        for (ib, s) in scales.iter_mut().enumerate() {
            *s = group_scale(&x[32 * ib..32 * ib + 32], &weight[32 * ib..32 * ib + 32]);
        }
    }
    let (d, codes) = superblock_codes(&scales);
    write_f16(y, 0, d);
    let mut l = [0u8; QK_K];
    let mut scales_h = 0u16;
    let scales_l = &mut [0u8; GROUPS / 2];
    for ib in 0..GROUPS {
        let dl = d * (codes[ib] as i32 - 32) as f32;
        let idl = if dl != 0.0 { 1.0 / dl } else { 0.0 };
        let r = 32 * ib..32 * ib + 32;
        if simd {
            indices(&x[r.clone()], idl, &mut l[r]);
        } else {
            for j in r {
                l[j] = best_index(idl * x[j]) as u8;
            }
        }
        scales_l[ib / 2] |= (codes[ib] & 0xf) << (4 * (ib % 2));
        scales_h |= ((codes[ib] >> 4) as u16) << (2 * ib);
    }
    y[2..4].copy_from_slice(&scales_h.to_le_bytes());
    y[4..8].copy_from_slice(scales_l);
    pack(&l, &mut y[8..8 + QK_K / 2]);
}

/// The scalar reference of [`quantize_block`] and [`quantize_block_weighted`] (`qw`: 256
/// importance weights or none).
pub fn quantize_block_scalar(x: &[f32], qw: Option<&[f32]>, y: &mut [u8]) {
    quantize(x, qw, y, false)
}

/// Quantizes one super-block without importance weights.
pub fn quantize_block(x: &[f32], y: &mut [u8]) {
    quantize(x, None, y, true)
}

/// Quantizes one super-block with importance weights `qw` (256 values).
pub fn quantize_block_weighted(x: &[f32], qw: &[f32], y: &mut [u8]) {
    quantize(x, Some(qw), y, true)
}

/// `dequantize_row_iq4_xs` for one super-block.
pub fn dequantize_block(y: &[u8], out: &mut [f32]) {
    let d = read_f16(y, 0);
    let scales_h = u16::from_le_bytes([y[2], y[3]]);
    for ib in 0..GROUPS {
        let ls = ((y[4 + ib / 2] >> (4 * (ib % 2))) & 0xf) as i32 | ((((scales_h >> (2 * ib)) & 3) as i32) << 4);
        let dl = d * (ls - 32) as f32;
        let qs = &y[8 + 16 * ib..8 + 16 * ib + 16];
        let o = &mut out[32 * ib..32 * ib + 32];
        for j in 0..16 {
            o[j] = dl * KVALUES_IQ4NL[(qs[j] & 0xf) as usize] as f32;
            o[j + 16] = dl * KVALUES_IQ4NL[(qs[j] >> 4) as usize] as f32;
        }
    }
}
