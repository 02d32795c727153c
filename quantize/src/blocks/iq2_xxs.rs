//! IQ2_XXS: super-blocks of 256 weights in 8 groups of 32, each group 4 points of a 256-point
//! grid of 8 values (levels `2l + 1`, l in 0..3), 28 sign bits (7 per 8 values, the 8th makes an
//! even count) and a 4-bit scale; an f16 super-block scale. Layout: `d: f16` then 8 pairs of
//! little-endian `u32`, one pair per group: the 4 grid indices (one byte each), then signs in
//! bits 0..28 and the scale in 28..32. The grid, its code map and the neighbour lists are
//! derived once from [`KGRID_2BIT_256`].
//!
//! ggml has no quantizer for IQ2_XXS without importance weights (`quantize_iq2_xxs` asserts
//! them), so neither has this file.

use std::sync::OnceLock;

use super::common::{make_qp_quants, read_f16, write_f16, QK_K};
use super::iq2_s::DEQUANT_LEVELS;
use super::iq_grid::{even_sign_group, four_bit_scales, group_max, positive_scale, signs_with_parity, IqGrid, Search};
use super::row_sigma2;

/// Elements per block.
pub const BLOCK: usize = QK_K;
/// Bytes per block.
pub const BYTES: usize = 66;

/// The IQ2_XXS grid as codes of 8 levels of 2 bits (level `i` in bits `2i..2i+2`), part of the
/// format's definition: ggml's `kgrid_2bit_256` list in `iq2xs_init_impl` (ggml-quants.c), from
/// which ggml derives `iq2xxs_grid` (ggml-common.h) and gguf-py its `IQ2_XXS.grid`. Chosen once
/// from the statistics of trained weights; not derivable.
pub const KGRID_2BIT_256: [u16; 256] = [
    0, 2, 5, 8, 10, 17, 20, 32, 34, 40, 42, 65, 68, 80, 88, 97, 100, 128, 130, 138, 162, 257, 260, 272, 277, 320, 388, 408, 512, 514, 546,
    642, 1025, 1028, 1040, 1057, 1060, 1088, 1090, 1096, 1120, 1153, 1156, 1168, 1188, 1280, 1282, 1288, 1312, 1350, 1385, 1408, 1425,
    1545, 1552, 1600, 1668, 1700, 2048, 2053, 2056, 2068, 2088, 2113, 2116, 2128, 2130, 2184, 2308, 2368, 2562, 2580, 4097, 4100, 4112,
    4129, 4160, 4192, 4228, 4240, 4245, 4352, 4360, 4384, 4432, 4442, 4480, 4644, 4677, 5120, 5128, 5152, 5157, 5193, 5248, 5400, 5474,
    5632, 5654, 6145, 6148, 6160, 6208, 6273, 6400, 6405, 6560, 6737, 8192, 8194, 8202, 8260, 8289, 8320, 8322, 8489, 8520, 8704, 8706,
    9217, 9220, 9232, 9280, 9302, 9472, 9537, 9572, 9872, 10248, 10272, 10388, 10820, 16385, 16388, 16400, 16408, 16417, 16420, 16448,
    16456, 16470, 16480, 16513, 16516, 16528, 16640, 16672, 16737, 16768, 16773, 16897, 16912, 16968, 16982, 17000, 17408, 17416, 17440,
    17536, 17561, 17682, 17700, 17920, 18433, 18436, 18448, 18496, 18501, 18688, 18776, 18785, 18818, 19013, 19088, 20480, 20488, 20497,
    20505, 20512, 20608, 20616, 20740, 20802, 20900, 21137, 21648, 21650, 21770, 22017, 22100, 22528, 22545, 22553, 22628, 22848, 23048,
    24580, 24592, 24640, 24680, 24832, 24917, 25112, 25184, 25600, 25605, 25872, 25874, 25988, 26690, 32768, 32770, 32778, 32833, 32898,
    33028, 33048, 33088, 33297, 33793, 33796, 33808, 33813, 33856, 33888, 34048, 34118, 34196, 34313, 34368, 34400, 34818, 35076, 35345,
    36868, 36880, 36900, 36928, 37025, 37142, 37248, 37445, 37888, 37922, 37956, 38225, 39041, 39200, 40962, 41040, 41093, 41225, 41472,
    42008, 43088, 43268,
];

/// Groups with a largest value below this are zero (`GROUP_MAX_EPS`).
const GROUP_MAX_EPS: f32 = 1e-15;

/// The group search: levels 0..3, 6 steps of 0.1 each side of the `make_qp_quants` scale, every
/// point refined at the best scale.
const SEARCH: Search = Search { kmaxq: 3, steps: 6, step: 0.1, start_on_grid: false, track_grid: false, refine_all: true };

/// The derived grid (ggml keeps the 2 nearest distances' points for codes off the grid).
pub fn grid() -> &'static IqGrid<8> {
    static GRID: OnceLock<IqGrid<8>> = OnceLock::new();
    GRID.get_or_init(|| IqGrid::derive(&KGRID_2BIT_256, 2, 3, 2))
}

/// `quantize_row_iq2_xxs_impl` for one super-block with importance weights `qw` (256 values).
/// `simd`: search the neighbour lists with AVX2 when available (the same bytes as the scalar
/// reference).
fn quantize(x: &[f32], qw: &[f32], y: &mut [u8], simd: bool) {
    let g = grid();
    let x = &x[..QK_K];
    let y = &mut y[..BYTES];
    y.fill(0);
    let sigma2 = row_sigma2(x) / QK_K as f32;
    let mut scales = [0.0f32; 8];
    let mut q2 = [0u32; 16];
    let mut max_scale = 0.0f32;
    let (mut weight, mut waux, mut xval, mut l) = ([0.0f32; 32], [0.0f32; 32], [0.0f32; 32], [0i8; 32]);
    let mut lqp = [0u8; 32];
    for ib in 0..8 {
        let xb = &x[32 * ib..32 * ib + 32];
        let mut signs: [u8; 4] = even_sign_group(xb, Some(&qw[32 * ib..32 * ib + 32]), sigma2, &mut weight, &mut waux, &mut xval);
        if group_max(&xval) < GROUP_MAX_EPS {
            continue;
        }
        let scale0 = make_qp_quants(SEARCH.kmaxq + 1, &xval, &mut lqp, &weight);
        let eff_max = scale0 * SEARCH.kmaxq as f32;
        if eff_max <= 0.0 {
            continue;
        }
        let scale = positive_scale(g.search_group_from(&xval, &weight, &waux, eff_max, scale0, &SEARCH, &mut l, simd), &mut signs, 127);
        for k in 0..4 {
            let index = g.index_of_levels(&l[8 * k..8 * k + 8]) as u32;
            q2[2 * ib] |= index << (8 * k);
            q2[2 * ib + 1] |= (signs[k] as u32) << (7 * k);
        }
        scales[ib] = scale;
        max_scale = if max_scale > scale { max_scale } else { scale };
    }
    if max_scale == 0.0 {
        return;
    }
    let (d, ls) = four_bit_scales(max_scale, &scales);
    write_f16(y, 0, d);
    for ib in 0..8 {
        q2[2 * ib + 1] |= (ls[ib] as u32) << 28;
    }
    for (o, v) in y[2..].chunks_exact_mut(4).zip(&q2) {
        o.copy_from_slice(&v.to_le_bytes());
    }
}

/// The scalar reference of [`quantize_block_weighted`].
pub fn quantize_block_scalar(x: &[f32], qw: &[f32], y: &mut [u8]) {
    quantize(x, qw, y, false)
}

/// Quantizes one super-block with importance weights `qw` (256 values).
pub fn quantize_block_weighted(x: &[f32], qw: &[f32], y: &mut [u8]) {
    quantize(x, qw, y, true)
}

/// `dequantize_row_iq2_xxs` for one super-block.
pub fn dequantize_block(y: &[u8], out: &mut [f32]) {
    let g = grid();
    let d = read_f16(y, 0);
    for ib in 0..8 {
        let word = |i: usize| u32::from_le_bytes(y[2 + 4 * i..6 + 4 * i].try_into().expect("4 bytes"));
        let (indices, aux) = (word(2 * ib).to_le_bytes(), word(2 * ib + 1));
        let db = d * (0.5 + (aux >> 28) as f32) * 0.25;
        for l in 0..4 {
            let p = &g.points[indices[l] as usize];
            let signs = signs_with_parity((aux >> (7 * l)) as u8);
            for j in 0..8 {
                let v = DEQUANT_LEVELS[((p[j] - 1) / 2) as usize] as f32;
                let neg = signs & (1 << j) != 0;
                out[32 * ib + 8 * l + j] = db * v * if neg { -1.0 } else { 1.0 };
            }
        }
    }
}
