//! Q3_K: super-blocks of 256 weights in 16 groups of 16; 3-bit quants (2 low bits + high-bit
//! mask), 6-bit signed group scales, one f16 super-block scale. Layout: `hmask: [u8; 32],
//! qs: [u8; 64], scales: [u8; 12], d: f16`.

use super::common::{
    make_qx_quants, nearest_int, q3_16_groups, q3_superblocks, qx_16_groups, read_f16, requantize_group, write_f16, Q3_SUPERBLOCKS, QK_K,
};

/// Elements per block.
pub const BLOCK: usize = QK_K;
/// Bytes per block.
pub const BYTES: usize = 110;

const HMASK: usize = 0;
const QS: usize = 32;
const SCALES: usize = 96;
const D: usize = 108;

/// Stores the 16 6-bit scale codes (0..63) into the 12-byte layout.
fn pack_scales(ls: &[i32; 16], s: &mut [u8]) {
    s[..12].fill(0);
    for j in 0..16 {
        let mut l = ls[j];
        if j < 8 {
            s[j] = (l & 0xF) as u8;
        } else {
            s[j - 8] |= ((l & 0xF) << 4) as u8;
        }
        l >>= 4;
        s[j % 4 + 8] |= (l << (2 * (j / 4))) as u8;
    }
}

/// Requantizes with the stored scales and packs quants and high bits.
fn finish(x: &[f32], l: &mut [i8; QK_K], y: &mut [u8]) {
    let dall = read_f16(y, D);
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx512() && x.len() >= QK_K && y.len() >= BYTES {
        let s = &y[SCALES..SCALES + 12];
        let sc: [i8; 16] = std::array::from_fn(|j| {
            let lo = if j < 8 { s[j] & 0xF } else { s[j - 8] >> 4 } as i8;
            ((lo | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4) as i8) as i32 - 32) as i8
        });
        // SAFETY: AVX-512 detected; x and l hold 256 values, y a whole block.
        unsafe { crate::simd::x86_512::q3_k_finish(x, l, dall, &sc, y) };
        return;
    }
    for j in 0..16 {
        let s = &y[SCALES..SCALES + 12];
        let lo = if j < 8 { s[j] & 0xF } else { s[j - 8] >> 4 } as i8;
        let sc = ((lo | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4) as i8) as i32 - 32) as i8;
        let d = dall * sc as f32;
        if d == 0.0 {
            continue;
        }
        let mut q = [0u8; 16];
        requantize_group(&x[16 * j..16 * j + 16], 0.0, d, -4, 3, 4, &mut q);
        for ii in 0..16 {
            l[16 * j + ii] = q[ii] as i8;
        }
    }
    // High bits: element j goes to hmask byte j % 32, bit j / 32 (ggml's running m/hm loop,
    // written without branches: levels are 0..=7, so "> 3" is bit 2 and "- 4" is "& 3").
    let mut hmask = [0u8; 32];
    for (bit, lg) in l.chunks_exact_mut(32).enumerate() {
        for (h, v) in hmask.iter_mut().zip(lg.iter_mut()) {
            *h |= (((*v as u8) >> 2) & 1) << bit;
            *v &= 3;
        }
    }
    y[HMASK..HMASK + 32].copy_from_slice(&hmask);
    for j in (0..QK_K).step_by(128) {
        for i in 0..32 {
            let v = (l[j + i] as u8) | ((l[j + i + 32] as u8) << 2) | ((l[j + i + 64] as u8) << 4) | ((l[j + i + 96] as u8) << 6);
            y[QS + j / 4 + i] = v;
        }
    }
}

/// `quantize_row_q3_K_ref` for one block.
pub fn quantize_block(x: &[f32], y: &mut [u8]) {
    let x = &x[..QK_K];
    let mut l = [0i8; QK_K];
    let mut scales = [0.0f32; 16];
    q3_16_groups(x, &mut l, &mut scales);
    scale_and_finish(x, &mut l, &scales, y);
}

/// `quantize_row_q3_K_ref` over whole super-blocks (`x.len()` = 256 × blocks, `y` = 110 ×
/// blocks), several super-blocks' group searches at once (see [`q3_superblocks`]); the same
/// bytes as [`quantize_block`] on each.
pub fn quantize_blocks(x: &[f32], y: &mut [u8]) {
    let mut l = [0i8; Q3_SUPERBLOCKS * QK_K];
    let mut scales = [0.0f32; Q3_SUPERBLOCKS * 16];
    for (xs, ys) in x.chunks(Q3_SUPERBLOCKS * QK_K).zip(y.chunks_mut(Q3_SUPERBLOCKS * BYTES)) {
        let nb = (xs.len() / QK_K).min(ys.len() / BYTES);
        q3_superblocks(&xs[..nb * QK_K], &mut l, &mut scales);
        for b in 0..nb {
            let lb = &mut l[QK_K * b..QK_K * (b + 1)];
            let (Ok(lb), Ok(sb)) = (<&mut [i8; QK_K]>::try_from(lb), <&[f32; 16]>::try_from(&scales[16 * b..16 * b + 16])) else { return };
            scale_and_finish(&xs[QK_K * b..QK_K * (b + 1)], lb, sb, &mut ys[BYTES * b..BYTES * (b + 1)]);
        }
    }
}

/// The rest of `quantize_row_q3_K_ref` once the 16 group scales and levels are known: the
/// super-block scale, the 6-bit group scale codes, requantization and packing.
fn scale_and_finish(x: &[f32], l: &mut [i8; QK_K], scales: &[f32; 16], y: &mut [u8]) {
    let (max_scale, _) = super::common::max_by_abs(scales);
    if max_scale != 0.0 {
        let iscale = -32.0f32 / max_scale;
        let mut ls = [0i32; 16];
        for j in 0..16 {
            let v = nearest_int(iscale * scales[j]) as i8 as i32;
            ls[j] = v.clamp(-32, 31) + 32;
        }
        pack_scales(&ls, &mut y[SCALES..SCALES + 12]);
        write_f16(y, D, 1.0 / iscale);
    } else {
        y[SCALES..SCALES + 12].fill(0);
        write_f16(y, D, 0.0);
    }
    finish(x, l, y);
}

/// `quantize_row_q3_K_impl` (importance-weighted) for one block; `qw` has 256 weights.
pub fn quantize_block_weighted(x: &[f32], qw: &[f32], y: &mut [u8]) {
    let x = &x[..QK_K];
    let mut l = [0i8; QK_K];
    let mut scales = [0.0f32; 16];
    let mut weight = [0.0f32; QK_K];
    let mut sw = [0.0f32; 16];
    let mut ls = [0i8; 16];
    let mut sumx2 = 0.0f32;
    for &v in x {
        sumx2 += v * v;
    }
    let sigma2 = 2.0 * sumx2 / QK_K as f32;
    for j in 0..16 {
        let xs = &x[16 * j..16 * j + 16];
        let q = &qw[16 * j..16 * j + 16];
        for i in 0..16 {
            weight[16 * j + i] = q[i] * (sigma2 + xs[i] * xs[i]).sqrt();
        }
        let mut sumw = 0.0f32;
        for &w in &weight[16 * j..16 * j + 16] {
            sumw += w;
        }
        sw[j] = sumw;
    }
    qx_16_groups(16, 4, x, Some(&weight), &mut l, &mut scales);
    let d_block = make_qx_quants(32, &scales, &mut ls, 1, Some(&sw));
    let codes: [i32; 16] = std::array::from_fn(|j| ls[j] as i32);
    pack_scales(&codes, &mut y[SCALES..SCALES + 12]);
    write_f16(y, D, d_block);
    finish(x, &mut l, y);
}

/// `dequantize_row_q3_K` for one block.
pub fn dequantize_block(y: &[u8], out: &mut [f32]) {
    let d_all = read_f16(y, D);
    let s = &y[SCALES..SCALES + 12];
    let mut sc = [0i8; 16];
    for j in 0..16 {
        let lo = if j < 8 { s[j] & 0xF } else { s[j - 8] >> 4 };
        sc[j] = ((lo | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) as i32 - 32) as i8;
    }
    let hm = &y[HMASK..HMASK + 32];
    let mut m = 1u8;
    let mut is = 0;
    let mut o = 0;
    for n in 0..QK_K / 128 {
        let q = &y[QS + 32 * n..QS + 32 * n + 32];
        let mut shift = 0;
        for _j in 0..4 {
            for half in 0..2 {
                let dl = d_all * sc[is] as f32;
                is += 1;
                for i in 0..16 {
                    let k = 16 * half + i;
                    let v = ((q[k] >> shift) & 3) as i8 as i32 - if hm[k] & m != 0 { 0 } else { 4 };
                    out[o] = dl * v as f32;
                    o += 1;
                }
            }
            shift += 2;
            m <<= 1;
        }
    }
}
