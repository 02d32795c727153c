//! IQ3_S: super-blocks of 256 weights in 8 groups of 32, each group 8 points of a 512-point grid
//! of 4 values (levels `2l + 1`, l in 0..8), 32 sign bits and a 4-bit scale; an f16 super-block
//! scale. Layout: `d: f16, qs: [u8; 64]` (low 8 bits of the grid indices), `qh: [u8; 8]` (bit 8
//! of each index, one byte per group), `signs: [u8; 32]`, `scales: [u8; 4]` (two groups per
//! byte, low nibble first). The grid, its code map and the neighbour lists are derived once from
//! [`KGRID_512`].

use std::sync::OnceLock;

use super::common::{read_f16, write_f16, QK_K};
use super::iq_grid::{abs_and_signs, four_bit_scales, group_max, group_weights, positive_scale, IqGrid, Search};
use super::row_sigma2;

/// Elements per block.
pub const BLOCK: usize = QK_K;
/// Bytes per block.
pub const BYTES: usize = 110;

const QS: usize = 2;
const QH: usize = QS + QK_K / 4;
const SIGNS: usize = QH + QK_K / 32;
const SCALES: usize = SIGNS + QK_K / 8;

/// The IQ3_S grid as codes of 4 levels of 3 bits (level `i` in bits `3i..3i+3`), part of the
/// format's definition: ggml's `kgrid_512` list in `iq3xs_init_impl` (ggml-quants.c), from which
/// ggml derives `iq3s_grid` (ggml-common.h) and gguf-py its `IQ3_S.grid`. Chosen once from the
/// statistics of trained weights (llama.cpp PR #5676); not derivable.
pub const KGRID_512: [u16; 512] = [
    0, 1, 2, 5, 7, 8, 9, 10, 12, 14, 16, 17, 21, 27, 32, 34, 37, 39, 41, 43, 48, 50, 57, 60, 63, 64, 65, 66, 68, 72, 73, 77, 80, 83, 87,
    89, 93, 100, 113, 117, 122, 128, 129, 133, 135, 136, 139, 142, 145, 149, 152, 156, 162, 165, 167, 169, 171, 184, 187, 195, 201, 205,
    208, 210, 217, 219, 222, 228, 232, 234, 247, 249, 253, 256, 267, 271, 273, 276, 282, 288, 291, 297, 312, 322, 324, 336, 338, 342, 347,
    353, 357, 359, 374, 379, 390, 393, 395, 409, 426, 441, 448, 450, 452, 464, 466, 470, 475, 488, 492, 512, 513, 514, 516, 520, 521, 523,
    525, 527, 528, 530, 537, 540, 542, 556, 558, 561, 570, 576, 577, 579, 582, 584, 588, 593, 600, 603, 609, 616, 618, 632, 638, 640, 650,
    653, 655, 656, 660, 666, 672, 675, 685, 688, 698, 705, 708, 711, 712, 715, 721, 727, 728, 732, 737, 754, 760, 771, 773, 778, 780, 793,
    795, 802, 806, 808, 812, 833, 840, 843, 849, 856, 858, 873, 912, 916, 919, 932, 934, 961, 963, 968, 970, 977, 989, 993, 1010, 1016,
    1024, 1025, 1027, 1029, 1031, 1032, 1034, 1036, 1038, 1041, 1043, 1047, 1048, 1050, 1057, 1059, 1061, 1064, 1066, 1079, 1080, 1083,
    1085, 1088, 1090, 1096, 1099, 1103, 1106, 1109, 1113, 1116, 1122, 1129, 1153, 1156, 1159, 1169, 1171, 1176, 1183, 1185, 1195, 1199,
    1209, 1212, 1216, 1218, 1221, 1225, 1234, 1236, 1241, 1243, 1250, 1256, 1270, 1281, 1287, 1296, 1299, 1306, 1309, 1313, 1338, 1341,
    1348, 1353, 1362, 1375, 1376, 1387, 1400, 1408, 1410, 1415, 1425, 1453, 1457, 1477, 1481, 1494, 1496, 1507, 1512, 1538, 1545, 1547,
    1549, 1551, 1554, 1561, 1563, 1565, 1570, 1572, 1575, 1577, 1587, 1593, 1601, 1603, 1605, 1612, 1617, 1619, 1632, 1648, 1658, 1662,
    1664, 1674, 1680, 1690, 1692, 1704, 1729, 1736, 1740, 1745, 1747, 1751, 1752, 1761, 1763, 1767, 1773, 1787, 1795, 1801, 1806, 1810,
    1817, 1834, 1840, 1844, 1857, 1864, 1866, 1877, 1882, 1892, 1902, 1915, 1934, 1953, 1985, 1987, 2000, 2002, 2013, 2048, 2052, 2058,
    2064, 2068, 2071, 2074, 2081, 2088, 2104, 2114, 2119, 2121, 2123, 2130, 2136, 2141, 2147, 2153, 2157, 2177, 2179, 2184, 2189, 2193,
    2203, 2208, 2223, 2226, 2232, 2244, 2249, 2251, 2256, 2258, 2265, 2269, 2304, 2306, 2324, 2335, 2336, 2361, 2373, 2375, 2385, 2418,
    2443, 2460, 2480, 2504, 2509, 2520, 2531, 2537, 2562, 2568, 2572, 2578, 2592, 2596, 2599, 2602, 2614, 2620, 2625, 2627, 2629, 2634,
    2641, 2650, 2682, 2688, 2697, 2707, 2712, 2718, 2731, 2754, 2759, 2760, 2775, 2788, 2793, 2805, 2811, 2817, 2820, 2832, 2842, 2854,
    2890, 2902, 2921, 2923, 2978, 3010, 3012, 3026, 3081, 3083, 3085, 3097, 3099, 3120, 3136, 3152, 3159, 3188, 3210, 3228, 3234, 3245,
    3250, 3256, 3264, 3276, 3281, 3296, 3349, 3363, 3378, 3392, 3395, 3420, 3440, 3461, 3488, 3529, 3531, 3584, 3588, 3591, 3600, 3602,
    3614, 3616, 3628, 3634, 3650, 3657, 3668, 3683, 3685, 3713, 3716, 3720, 3726, 3729, 3736, 3753, 3778, 3802, 3805, 3819, 3841, 3845,
    3851, 3856, 3880, 3922, 3938, 3970, 3993, 4032,
];

/// The group search: levels 0..8, 9 steps of 0.2 each side, every point refined.
const SEARCH: Search = Search { kmaxq: 8, steps: 9, step: 0.2, start_on_grid: false, track_grid: true, refine_all: true };

/// The derived grid (ggml keeps the 3 nearest distances' points for codes off the grid).
pub fn grid() -> &'static IqGrid<4> {
    static GRID: OnceLock<IqGrid<4>> = OnceLock::new();
    GRID.get_or_init(|| IqGrid::derive(&KGRID_512, 3, 8, 3))
}

/// `quantize_row_iq3_s_impl` (groups of 32) for one super-block, with importance weights `qw`
/// (256) or without (weights `x²`).
/// `simd`: search the neighbour lists with AVX2 when available (the same bytes as the scalar
/// reference).
fn quantize(x: &[f32], qw: Option<&[f32]>, y: &mut [u8], simd: bool) {
    let g = grid();
    let x = &x[..QK_K];
    let y = &mut y[..BYTES];
    y.fill(0);
    let sigma2 = 2.0 * row_sigma2(x) / QK_K as f32;
    let mut scales = [0.0f32; 8];
    let mut max_scale = 0.0f32;
    // ggml advances its index and sign pointers only past groups that are not all zero, so a
    // zero group shifts the later groups' indices and signs forward (qh is indexed by group).
    let (mut qs, mut signs_at) = (QS, SIGNS);
    let (mut weight, mut waux, mut xval, mut l) = ([0.0f32; 32], [0.0f32; 32], [0.0f32; 32], [0i8; 32]);
    for ib in 0..8 {
        let xb = &x[32 * ib..32 * ib + 32];
        group_weights(xb, qw.map(|w| &w[32 * ib..32 * ib + 32]), sigma2, 0.0, &mut weight, &mut waux);
        let mut signs: [u8; 4] = std::array::from_fn(|k| abs_and_signs(&xb[8 * k..8 * k + 8], &mut xval[8 * k..8 * k + 8]));
        let max = group_max(&xval);
        if max == 0.0 {
            continue;
        }
        let scale = positive_scale(g.search_group(&xval, &weight, &waux, max, &SEARCH, &mut l, simd), &mut signs, 0xff);
        for k in 0..8 {
            let index = g.index_of_levels(&l[4 * k..4 * k + 4]);
            y[qs + k] = (index & 255) as u8;
            y[QH + ib] |= ((index >> 8) as u8) << k;
        }
        qs += 8;
        y[signs_at..signs_at + 4].copy_from_slice(&signs);
        signs_at += 4;
        scales[ib] = scale;
        max_scale = if max_scale > scale { max_scale } else { scale };
    }
    if max_scale == 0.0 {
        return;
    }
    let (d, ls) = four_bit_scales(max_scale, &scales);
    write_f16(y, 0, d * 1.033);
    for ib in (0..8).step_by(2) {
        y[SCALES + ib / 2] = ls[ib] | (ls[ib + 1] << 4);
    }
}

/// Quantizes one super-block without importance weights (`quantize_row_iq3_s_ref`).
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

/// `dequantize_row_iq3_s` for one super-block.
pub fn dequantize_block(y: &[u8], out: &mut [f32]) {
    let g = grid();
    let d = read_f16(y, 0);
    for ib in 0..8 {
        let s = (y[SCALES + ib / 2] >> (4 * (ib % 2))) & 0xf;
        let db = d * (1 + 2 * s as i32) as f32;
        for k in 0..8 {
            let index = y[QS + 8 * ib + k] as usize | (((y[QH + ib] >> k) & 1) as usize) << 8;
            let p = &g.points[index];
            let signs = y[SIGNS + 4 * ib + k / 2];
            for j in 0..4 {
                let neg = signs & (1 << (4 * (k % 2) + j)) != 0;
                out[32 * ib + 4 * k + j] = db * p[j] as f32 * if neg { -1.0 } else { 1.0 };
            }
        }
    }
}
