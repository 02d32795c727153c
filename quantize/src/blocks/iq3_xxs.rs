//! IQ3_XXS: super-blocks of 256 weights in 8 groups of 32, each group 8 points of a 256-point
//! grid of 4 values (levels `2l + 1`, l in 0..8), 28 sign bits (7 per 8 values, the 8th makes an
//! even count) and a 4-bit scale; an f16 super-block scale. Layout: `d: f16, qs: [u8; 64]` (grid
//! indices, 8 per group) then 8 little-endian `u32`, one per group: signs in bits 0..28, scale in
//! 28..32. The grid, its code map and the neighbour lists are derived once from [`KGRID_256`].

use std::sync::OnceLock;

use super::common::{read_f16, write_f16, QK_K};
use super::iq_grid::{even_sign_group, four_bit_scales, group_max, positive_scale, signs_with_parity, IqGrid, Search};
use super::row_sigma2;

/// Elements per block.
pub const BLOCK: usize = QK_K;
/// Bytes per block.
pub const BYTES: usize = 98;

/// The IQ3_XXS grid as codes of 4 levels of 3 bits (level `i` in bits `3i..3i+3`), part of the
/// format's definition: ggml's `kgrid_256` list in `iq3xs_init_impl` (ggml-quants.c), from which
/// ggml derives `iq3xxs_grid` (ggml-common.h) and gguf-py its `IQ3_XXS.grid`. Chosen once from
/// the statistics of trained weights (llama.cpp PR #5196); not derivable.
pub const KGRID_256: [u16; 256] = [
    0, 2, 4, 9, 11, 15, 16, 18, 25, 34, 59, 61, 65, 67, 72, 74, 81, 85, 88, 90, 97, 108, 120, 128, 130, 132, 137, 144, 146, 153, 155, 159,
    169, 175, 189, 193, 199, 200, 202, 213, 248, 267, 287, 292, 303, 315, 317, 321, 327, 346, 362, 413, 436, 456, 460, 462, 483, 497, 513,
    515, 520, 522, 529, 531, 536, 538, 540, 551, 552, 576, 578, 585, 592, 594, 641, 643, 648, 650, 657, 664, 698, 704, 706, 720, 729, 742,
    758, 769, 773, 808, 848, 852, 870, 889, 901, 978, 992, 1024, 1026, 1033, 1035, 1040, 1042, 1046, 1049, 1058, 1089, 1091, 1093, 1096,
    1098, 1105, 1112, 1139, 1143, 1144, 1152, 1154, 1161, 1167, 1168, 1170, 1183, 1184, 1197, 1217, 1224, 1228, 1272, 1276, 1309, 1323,
    1347, 1367, 1377, 1404, 1473, 1475, 1486, 1509, 1537, 1544, 1546, 1553, 1555, 1576, 1589, 1594, 1600, 1602, 1616, 1625, 1636, 1638,
    1665, 1667, 1672, 1685, 1706, 1722, 1737, 1755, 1816, 1831, 1850, 1856, 1862, 1874, 1901, 1932, 1950, 1971, 2011, 2032, 2052, 2063,
    2077, 2079, 2091, 2095, 2172, 2192, 2207, 2208, 2224, 2230, 2247, 2277, 2308, 2345, 2356, 2389, 2403, 2424, 2501, 2504, 2506, 2520,
    2570, 2593, 2616, 2624, 2630, 2646, 2669, 2700, 2714, 2746, 2754, 2795, 2824, 2835, 2839, 2874, 2882, 2905, 2984, 3028, 3042, 3092,
    3108, 3110, 3124, 3153, 3185, 3215, 3252, 3288, 3294, 3364, 3397, 3434, 3483, 3523, 3537, 3587, 3589, 3591, 3592, 3610, 3626, 3670,
    3680, 3722, 3749, 3754, 3776, 3789, 3803, 3824, 3857, 3873, 3904, 3906, 3924, 3992,
];

/// The values of levels 0..8 in the dequantization grid (`iq3xxs_grid`, gguf-py's
/// `IQ3_XXS.grid_map`): `8l + 4`, except level 7, which is 62.
pub const DEQUANT_LEVELS: [u8; 8] = [4, 12, 20, 28, 36, 44, 52, 62];

/// Groups with a largest value below this are zero (`GROUP_MAX_EPS_IQ3_XXS`).
const GROUP_MAX_EPS: f32 = 1e-8;
/// The group search: levels 0..8, 15 steps of 0.2 each side.
const SEARCH: Search = Search { kmaxq: 8, steps: 15, step: 0.2, start_on_grid: true, track_grid: true, refine_all: false };

/// The derived grid (ggml keeps the 2 nearest distances' points for codes off the grid).
pub fn grid() -> &'static IqGrid<4> {
    static GRID: OnceLock<IqGrid<4>> = OnceLock::new();
    GRID.get_or_init(|| IqGrid::derive(&KGRID_256, 3, 8, 2))
}

/// `quantize_row_iq3_xxs_impl` for one super-block, with importance weights `qw` (256) or
/// without (weights `x²`).
/// `simd`: search the neighbour lists with AVX2 when available (the same bytes as the scalar
/// reference).
fn quantize(x: &[f32], qw: Option<&[f32]>, y: &mut [u8], simd: bool) {
    let g = grid();
    let x = &x[..QK_K];
    let y = &mut y[..BYTES];
    y.fill(0);
    let sigma2 = 2.0 * row_sigma2(x) / QK_K as f32;
    let mut scales = [0.0f32; 8];
    let mut aux = [0u32; 8];
    let mut max_scale = 0.0f32;
    let (mut weight, mut waux, mut xval, mut l) = ([0.0f32; 32], [0.0f32; 32], [0.0f32; 32], [0i8; 32]);
    for ib in 0..8 {
        let xb = &x[32 * ib..32 * ib + 32];
        let mut signs: [u8; 4] = even_sign_group(xb, qw.map(|w| &w[32 * ib..32 * ib + 32]), sigma2, &mut weight, &mut waux, &mut xval);
        let max = group_max(&xval);
        if max < GROUP_MAX_EPS {
            continue;
        }
        let scale = positive_scale(g.search_group(&xval, &weight, &waux, max, &SEARCH, &mut l, simd), &mut signs, 127);
        for k in 0..8 {
            y[2 + 8 * ib + k] = g.index_of_levels(&l[4 * k..4 * k + 4]) as u8;
        }
        aux[ib] = signs[0] as u32 | (signs[1] as u32) << 7 | (signs[2] as u32) << 14 | (signs[3] as u32) << 21;
        scales[ib] = scale;
        max_scale = if max_scale > scale { max_scale } else { scale };
    }
    if max_scale == 0.0 {
        y.fill(0);
        return;
    }
    let (d, ls) = four_bit_scales(max_scale, &scales);
    write_f16(y, 0, d * 1.0125);
    for ib in 0..8 {
        let v = aux[ib] | (ls[ib] as u32) << 28;
        y[66 + 4 * ib..70 + 4 * ib].copy_from_slice(&v.to_le_bytes());
    }
}

/// Quantizes one super-block without importance weights (`quantize_row_iq3_xxs_ref`).
pub fn quantize_block(x: &[f32], y: &mut [u8]) {
    quantize(x, None, y, true)
}

/// Quantizes one super-block with importance weights `qw` (256 values).
pub fn quantize_block_weighted(x: &[f32], qw: &[f32], y: &mut [u8]) {
    quantize(x, Some(qw), y, true)
}

/// The scalar reference of [`quantize_block`] and [`quantize_block_weighted`] (`qw`: 256
/// importance weights or none).
pub fn quantize_block_scalar(x: &[f32], qw: Option<&[f32]>, y: &mut [u8]) {
    quantize(x, qw, y, false)
}

/// `dequantize_row_iq3_xxs` for one super-block.
pub fn dequantize_block(y: &[u8], out: &mut [f32]) {
    let g = grid();
    let d = read_f16(y, 0);
    for ib in 0..8 {
        let aux = u32::from_le_bytes(y[66 + 4 * ib..70 + 4 * ib].try_into().expect("4 bytes"));
        let db = d * (0.5 + (aux >> 28) as f32) * 0.5;
        for l in 0..4 {
            let signs = signs_with_parity((aux >> (7 * l)) as u8);
            for half in 0..2 {
                let p = &g.points[y[2 + 8 * ib + 2 * l + half] as usize];
                for j in 0..4 {
                    let v = DEQUANT_LEVELS[((p[j] - 1) / 2) as usize] as f32;
                    let neg = signs & (1 << (4 * half + j)) != 0;
                    out[32 * ib + 8 * l + 4 * half + j] = db * v * if neg { -1.0 } else { 1.0 };
                }
            }
        }
    }
}
