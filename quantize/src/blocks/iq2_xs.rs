//! IQ2_XS: super-blocks of 256 weights in 16 groups of 16, each group 2 points of a 512-point
//! grid of 8 values (levels `2l + 1`, l in 0..3), 7 sign bits per point (the 8th makes an even
//! count) and a 4-bit scale; an f16 super-block scale. Layout: `d: f16, qs: [u16; 32]` (little
//! endian: the grid index in bits 0..9, the signs in 9..16), `scales: [u8; 8]` (two groups per
//! byte, low nibble first). The grid, its code map and the neighbour lists are derived once from
//! [`KGRID_2BIT_512`].
//!
//! ggml has no quantizer for IQ2_XS without importance weights (`quantize_iq2_xs` asserts them),
//! so neither has this file.

use std::sync::OnceLock;

use super::common::{read_f16, write_f16, QK_K};
use super::iq2_s::DEQUANT_LEVELS;
use super::iq2_s::SEARCH;
use super::iq_grid::{even_sign_group, four_bit_scales, group_max, positive_scale, signs_with_parity, IqGrid};
use super::row_sigma2;

/// Elements per block.
pub const BLOCK: usize = QK_K;
/// Bytes per block.
pub const BYTES: usize = 74;

const SCALES: usize = 2 + QK_K / 4;

/// The IQ2_XS grid as codes of 8 levels of 2 bits (level `i` in bits `2i..2i+2`), part of the
/// format's definition: ggml's `kgrid_2bit_512` list in `iq2xs_init_impl` (ggml-quants.c), from
/// which ggml derives `iq2xs_grid` (ggml-common.h) and gguf-py its `IQ2_XS.grid`. Chosen once
/// from the statistics of trained weights; not derivable.
pub const KGRID_2BIT_512: [u16; 512] = [
    0, 2, 5, 8, 10, 17, 20, 22, 25, 32, 34, 37, 40, 65, 68, 70, 73, 80, 82, 85, 88, 97, 100, 128, 130, 133, 136, 145, 148, 153, 160, 257,
    260, 262, 265, 272, 274, 277, 280, 282, 289, 292, 320, 322, 325, 328, 337, 340, 352, 360, 385, 388, 400, 512, 514, 517, 520, 529, 532,
    544, 577, 580, 592, 597, 640, 650, 1025, 1028, 1030, 1033, 1040, 1042, 1045, 1048, 1057, 1060, 1088, 1090, 1093, 1096, 1105, 1108,
    1110, 1120, 1153, 1156, 1168, 1280, 1282, 1285, 1288, 1297, 1300, 1312, 1345, 1348, 1360, 1377, 1408, 1537, 1540, 1552, 1574, 1600,
    1602, 1668, 2048, 2050, 2053, 2056, 2058, 2065, 2068, 2080, 2085, 2113, 2116, 2128, 2136, 2176, 2208, 2218, 2305, 2308, 2320, 2368,
    2433, 2441, 2560, 2592, 2600, 2710, 2720, 4097, 4100, 4102, 4105, 4112, 4114, 4117, 4120, 4129, 4132, 4160, 4162, 4165, 4168, 4177,
    4180, 4192, 4202, 4225, 4228, 4240, 4352, 4354, 4357, 4360, 4369, 4372, 4384, 4417, 4420, 4432, 4480, 4500, 4502, 4609, 4612, 4614,
    4624, 4672, 4704, 5120, 5122, 5125, 5128, 5137, 5140, 5152, 5185, 5188, 5193, 5200, 5220, 5248, 5377, 5380, 5392, 5440, 5632, 5652,
    5705, 6145, 6148, 6160, 6162, 6208, 6228, 6278, 6400, 6405, 6502, 6737, 6825, 8192, 8194, 8197, 8200, 8202, 8209, 8212, 8224, 8257,
    8260, 8272, 8320, 8352, 8449, 8452, 8464, 8512, 8520, 8549, 8704, 8738, 8832, 8872, 9217, 9220, 9232, 9257, 9280, 9472, 9537, 9554,
    9625, 9729, 9754, 9894, 10240, 10248, 10250, 10272, 10325, 10376, 10402, 10600, 10640, 10760, 10784, 10882, 10888, 10890, 16385, 16388,
    16390, 16393, 16400, 16402, 16405, 16408, 16417, 16420, 16448, 16450, 16453, 16456, 16458, 16465, 16468, 16480, 16485, 16513, 16516,
    16528, 16640, 16642, 16645, 16648, 16657, 16660, 16672, 16705, 16708, 16720, 16768, 16773, 16802, 16897, 16900, 16912, 16914, 16937,
    16960, 17408, 17410, 17413, 17416, 17425, 17428, 17433, 17440, 17473, 17476, 17488, 17536, 17556, 17665, 17668, 17680, 17700, 17728,
    17818, 17920, 17930, 17988, 18000, 18433, 18436, 18448, 18496, 18501, 18516, 18530, 18688, 18705, 18756, 18768, 18793, 18948, 20480,
    20482, 20485, 20488, 20497, 20500, 20512, 20520, 20545, 20548, 20560, 20608, 20737, 20740, 20752, 20757, 20800, 20802, 20992, 21060,
    21162, 21505, 21508, 21520, 21537, 21568, 21600, 21633, 21665, 21760, 21768, 21888, 21896, 22049, 22120, 22177, 22528, 22548, 22593,
    22608, 22681, 22810, 22848, 22850, 23173, 24577, 24580, 24592, 24640, 24660, 24674, 24710, 24745, 24832, 25124, 25162, 25234, 25600,
    25622, 25872, 25920, 25925, 26020, 26625, 26730, 26917, 27142, 27220, 27234, 32768, 32770, 32773, 32776, 32785, 32788, 32800, 32810,
    32833, 32836, 32848, 32896, 32898, 32936, 32938, 33025, 33028, 33030, 33040, 33088, 33105, 33113, 33280, 33312, 33408, 33410, 33440,
    33448, 33793, 33796, 33808, 33810, 33813, 33856, 33888, 33929, 34048, 34116, 34213, 34328, 34410, 34816, 34824, 34853, 34906, 34944,
    34946, 34984, 35078, 35362, 35456, 35464, 35478, 35496, 36865, 36868, 36880, 36928, 36950, 36996, 37120, 37154, 37220, 37462, 37513,
    37888, 37893, 37956, 37968, 37976, 38185, 38288, 38290, 38465, 38993, 39078, 39241, 39445, 39520, 40960, 40962, 40968, 40970, 40992,
    41002, 41120, 41297, 41305, 41382, 41472, 41474, 41480, 41514, 41600, 41632, 42048, 42133, 42597, 42648, 43018, 43040, 43042, 43048,
    43168, 43176, 43268, 43396, 43398, 43560, 43562, 43665, 43690,
];

/// Groups with a largest value below this are zero (`GROUP_MAX_EPS`).
const GROUP_MAX_EPS: f32 = 1e-15;

/// The derived grid (ggml keeps the 2 nearest distances' points for codes off the grid).
pub fn grid() -> &'static IqGrid<8> {
    static GRID: OnceLock<IqGrid<8>> = OnceLock::new();
    GRID.get_or_init(|| IqGrid::derive(&KGRID_2BIT_512, 2, 3, 2))
}

/// `quantize_row_iq2_xs_impl` for one super-block with importance weights `qw` (256 values).
/// `simd`: search the neighbour lists with AVX2 when available (the same bytes as the scalar
/// reference).
fn quantize(x: &[f32], qw: &[f32], y: &mut [u8], simd: bool) {
    let g = grid();
    let x = &x[..QK_K];
    let y = &mut y[..BYTES];
    y.fill(0);
    let sigma2 = row_sigma2(x) / QK_K as f32;
    let mut scales = [0.0f32; 16];
    let mut q2 = [0u16; 32];
    let mut max_scale = 0.0f32;
    let (mut weight, mut waux, mut xval, mut l) = ([0.0f32; 16], [0.0f32; 16], [0.0f32; 16], [0i8; 16]);
    for ib in 0..16 {
        let xb = &x[16 * ib..16 * ib + 16];
        let mut signs: [u8; 2] = even_sign_group(xb, Some(&qw[16 * ib..16 * ib + 16]), sigma2, &mut weight, &mut waux, &mut xval);
        let max = group_max(&xval);
        if max < GROUP_MAX_EPS {
            continue;
        }
        let scale = positive_scale(g.search_group(&xval, &weight, &waux, max, &SEARCH, &mut l, simd), &mut signs, 127);
        for k in 0..2 {
            let index = g.index_of_levels(&l[8 * k..8 * k + 8]) as u16;
            q2[2 * ib + k] = index | (signs[k] as u16) << 9;
        }
        scales[ib] = scale;
        max_scale = if max_scale > scale { max_scale } else { scale };
    }
    if max_scale == 0.0 {
        return;
    }
    let (d, ls) = four_bit_scales(max_scale, &scales);
    write_f16(y, 0, d);
    for (ib, l) in ls.into_iter().enumerate() {
        y[SCALES + ib / 2] |= l << (4 * (ib % 2));
    }
    for (o, v) in y[2..SCALES].chunks_exact_mut(2).zip(&q2) {
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

/// `dequantize_row_iq2_xs` for one super-block.
pub fn dequantize_block(y: &[u8], out: &mut [f32]) {
    let g = grid();
    let d = read_f16(y, 0);
    for ib32 in 0..8 {
        let s = y[SCALES + ib32];
        let db = [d * (0.5 + (s & 0xf) as f32) * 0.25, d * (0.5 + (s >> 4) as f32) * 0.25];
        for l in 0..4 {
            let i8 = 4 * ib32 + l;
            let q = u16::from_le_bytes([y[2 + 2 * i8], y[3 + 2 * i8]]);
            let p = &g.points[(q & 511) as usize];
            let signs = signs_with_parity((q >> 9) as u8);
            for j in 0..8 {
                let v = DEQUANT_LEVELS[((p[j] - 1) / 2) as usize] as f32;
                let neg = signs & (1 << j) != 0;
                out[32 * ib32 + 8 * l + j] = db[l / 2] * v * if neg { -1.0 } else { 1.0 };
            }
        }
    }
}
