//! Q4_1: blocks of 32 weights, f16 scale and min, 4-bit unsigned quants.
//! Layout: `d: f16, m: f16, qs: [u8; 16]`.

use super::common::{c_f32_to_i32, make_qkx3_quants, read_f16, write_f16};

/// Elements per block.
pub const BLOCK: usize = 32;
/// Bytes per block.
pub const BYTES: usize = 20;

/// `quantize_row_q4_1_ref` for one block.
pub fn quantize_block(x: &[f32], y: &mut [u8]) {
    let mut min = f32::MAX;
    let mut max = -f32::MAX;
    for &v in &x[..BLOCK] {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    let d = (max - min) / 15.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    write_f16(y, 0, d);
    write_f16(y, 2, min);
    for j in 0..BLOCK / 2 {
        let x0 = (x[j] - min) * id;
        let x1 = (x[BLOCK / 2 + j] - min) * id;
        let xi0 = (c_f32_to_i32(x0 + 0.5f32) as i8).min(15) as u8;
        let xi1 = (c_f32_to_i32(x1 + 0.5f32) as i8).min(15) as u8;
        y[4 + j] = xi0 | (xi1 << 4);
    }
}

/// `quantize_row_q4_1_impl` with importance weights, for one row.
pub fn quantize_row_weighted(x: &[f32], qw: &[f32], y: &mut [u8]) {
    let n = x.len();
    let sigma2 = super::row_sigma2(x) / n as f32;
    let nb = n / BLOCK;
    let mut weight = [0.0f32; 8 * BLOCK];
    let mut lg = [0u8; 8 * BLOCK];
    let mut laux = [0u8; BLOCK];
    let mut ds = [0.0f32; 8];
    let mut mins = [0.0f32; 8];
    let mut ib = 0;
    while ib < nb {
        // Eight blocks at a time through the lane-per-block kernel (scalar for the tail).
        let g = (nb - ib).min(8);
        let xs = &x[ib * BLOCK..(ib + g) * BLOCK];
        for (j, w) in weight[..g * BLOCK].iter_mut().enumerate() {
            *w = qw[ib * BLOCK + j] * (sigma2 + xs[j] * xs[j]).sqrt();
        }
        if g == 8 {
            super::q4_k::qkx_8_groups(BLOCK, 15, xs, &weight, -0.9, 0.05, 36, false, &mut lg, &mut laux, &mut ds, &mut mins);
        } else {
            for k in 0..g {
                let r = k * BLOCK..(k + 1) * BLOCK;
                let (d, m) = make_qkx3_quants(15, &xs[r.clone()], Some(&weight[r.clone()]), &mut lg[r], &mut laux, -0.9, 0.05, 36, false);
                ds[k] = d;
                mins[k] = m;
            }
        }
        for k in 0..g {
            let yb = &mut y[(ib + k) * BYTES..(ib + k + 1) * BYTES];
            let l: [u8; BLOCK] = std::array::from_fn(|j| lg[k * BLOCK + j]);
            write_f16(yb, 0, ds[k]);
            write_f16(yb, 2, -mins[k]);
        for j in 0..16 {
            yb[4 + j] = l[j] | (l[j + 16] << 4);
        }
        }
        ib += g;
    }
}

/// `dequantize_row_q4_1` for one block.
pub fn dequantize_block(y: &[u8], out: &mut [f32]) {
    let d = read_f16(y, 0);
    let m = read_f16(y, 2);
    for j in 0..BLOCK / 2 {
        let q = y[4 + j];
        out[j] = (q & 0x0F) as f32 * d + m;
        out[j + BLOCK / 2] = (q >> 4) as f32 * d + m;
    }
}
