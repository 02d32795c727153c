//! Property tests of the quantization kernels on synthetic rows (seeded PRNG): bytes equal to the
//! pinned ggml's (libggml-base via ctypes, tests/py/ggml_quantize.py) on random rows and edge
//! cases (all-zero and constant blocks, subnormals, ±65504, outliers), with and without
//! importance weights; round-trip error bounds; NaN/Inf rejected with the first bad index;
//! output independent of the thread count.
// The reference loops index several arrays with one variable, as ggml's C does.
#![allow(clippy::needless_range_loop)]

use crate::common;

use std::process::Command;

use quantize::{GgmlType, QuantizeError, Source};

/// xorshift64* with a Box–Muller normal.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    fn normal(&mut self) -> f32 {
        let u1 = self.uniform().max(1e-7);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f32::consts::PI * u2).cos()
    }
}

const TYPES: [GgmlType; 18] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q8_0,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
    GgmlType::Q8_K,
    GgmlType::IQ4_NL,
    GgmlType::IQ4_XS,
    GgmlType::TQ1_0,
    GgmlType::TQ2_0,
];

/// Rows of 512 elements (two super-blocks, sixteen 32-blocks): random rows at several scales,
/// then rows built from edge-case blocks.
fn edge_rows() -> Vec<f32> {
    let n = 512;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut rows = Vec::new();
    for scale in [1.0f32, 0.02, 1e-3, 300.0] {
        for _ in 0..4 {
            rows.extend((0..n).map(|_| rng.normal() * scale));
        }
    }
    // Blocks of 32 of various kinds, concatenated.
    let kinds = 12;
    for r in 0..24 {
        for b in 0..n / 32 {
            let kind = (r * 5 + b) % kinds;
            for i in 0..32 {
                let g = rng.normal();
                let v = match kind {
                    0 => 0.0,
                    1 => 0.75,
                    2 => -1.25,
                    3 => g * 1e-7,  // f16 subnormal range
                    4 => g * 1e-40, // f32 subnormals
                    5 => {
                        if i % 2 == 0 {
                            65504.0
                        } else {
                            -65504.0
                        }
                    }
                    6 => {
                        if i == 7 {
                            65504.0
                        } else {
                            g * 0.01
                        }
                    } // one outlier
                    7 => {
                        if i == 3 {
                            -80.0
                        } else {
                            g * 0.05
                        }
                    }
                    8 => g.abs() + 1.0,    // all positive
                    9 => -(g.abs()) - 0.5, // all negative
                    10 => {
                        if i < 16 {
                            0.0
                        } else {
                            g
                        }
                    }
                    _ => g * 1e-16, // below GROUP_MAX_EPS
                };
                rows.push(v);
            }
        }
    }
    rows
}

fn write_f32(path: &std::path::Path, v: &[f32]) {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

/// The pinned ggml's bytes for `rows` (row length `n`).
fn ggml_bytes(ty: GgmlType, rows: &[f32], n: usize, imatrix: Option<&[f32]>, tag: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("x.f32");
    let dst = dir.path().join("y.bin");
    write_f32(&src, rows);
    let mut cmd = Command::new(common::ref_python());
    cmd.arg(common::repo_root().join("tests/py/ggml_quantize.py"))
        .arg(common::ref_dir().join("build/bin"))
        .arg(ty.id().to_string())
        .arg(n.to_string())
        .arg(&src)
        .arg(&dst);
    if let Some(w) = imatrix {
        let wp = dir.path().join("w.f32");
        write_f32(&wp, w);
        cmd.arg(&wp);
    }
    common::run(&mut cmd);
    let out = std::fs::read(&dst).unwrap();
    assert!(!out.is_empty(), "{tag}: ggml wrote nothing");
    out
}

fn assert_same(ty: GgmlType, ours: &[u8], theirs: &[u8], rows: &[f32], tag: &str) {
    assert_eq!(ours.len(), theirs.len(), "{tag} {ty}");
    let bs = ty.type_size();
    if let Some(b) = ours.chunks(bs).zip(theirs.chunks(bs)).position(|(a, b)| a != b) {
        let be = ty.block_size();
        panic!(
            "{tag} {ty}: block {b} differs\n input {:?}\n ours  {:?}\n ggml  {:?}",
            &rows[b * be..(b + 1) * be],
            &ours[b * bs..(b + 1) * bs],
            &theirs[b * bs..(b + 1) * bs]
        );
    }
}

/// Our bytes equal ggml's on random and edge-case rows, for every type, with and without
/// importance weights (random positive weights, zeros included).
#[test]
fn equal_to_ggml_on_edge_cases() {
    let n = 512;
    let rows = edge_rows();
    let mut rng = Rng(42);
    let weights: Vec<f32> = (0..n).map(|i| if i % 37 == 0 { 0.0 } else { rng.uniform() * rng.uniform() * 4.0 }).collect();
    for ty in TYPES {
        let row_bytes = ty.row_size(n as u64).unwrap() as usize;
        for imatrix in [None, Some(weights.as_slice())] {
            if ty == GgmlType::Q8_K && imatrix.is_some() {
                continue; // the oracle calls quantize_row_q8_K_ref, which has no weights
            }
            let tag = if imatrix.is_some() { "weighted" } else { "plain" };
            let mut ours = vec![0u8; rows.len() / n * row_bytes];
            quantize::quantize_rows(ty, &rows, n, imatrix, &mut ours).unwrap();
            let theirs = ggml_bytes(ty, &rows, n, imatrix, tag);
            assert_same(ty, &ours, &theirs, &rows, tag);
        }
    }
}

/// Quantize → dequantize stays within a per-type bound of the row's RMS on Gaussian rows, and
/// all-zero rows come back as zeros.
#[test]
fn round_trip_error_bounds() {
    let n = 4096;
    let mut rng = Rng(7);
    let rows: Vec<f32> = (0..8 * n).map(|_| rng.normal()).collect();
    // Relative RMSE bounds (rmse / rms); Gaussian rows give roughly half of each.
    let bounds = [
        (GgmlType::F32, 0.0),
        (GgmlType::F16, 1e-3),
        (GgmlType::BF16, 5e-3),
        (GgmlType::Q8_0, 0.01),
        (GgmlType::Q8_K, 0.01),
        (GgmlType::Q6_K, 0.03),
        (GgmlType::Q5_0, 0.07),
        (GgmlType::Q5_1, 0.07),
        (GgmlType::Q5_K, 0.07),
        (GgmlType::Q4_0, 0.14),
        (GgmlType::Q4_1, 0.14),
        (GgmlType::Q4_K, 0.14),
        (GgmlType::IQ4_NL, 0.14),
        (GgmlType::IQ4_XS, 0.14),
        (GgmlType::Q3_K, 0.3),
        (GgmlType::Q2_K, 0.6),
    ];
    for (ty, bound) in bounds {
        let mut q = vec![0u8; 8 * ty.row_size(n as u64).unwrap() as usize];
        quantize::quantize_rows(ty, &rows, n, None, &mut q).unwrap();
        let mut back = vec![0f32; rows.len()];
        quantize::dequantize_rows(ty, &q, &mut back).unwrap();
        let err: f64 = rows.iter().zip(&back).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>();
        let sig: f64 = rows.iter().map(|a| (*a as f64).powi(2)).sum::<f64>();
        let rel = (err / sig).sqrt();
        eprintln!("{ty}: relative RMSE {rel:.5}");
        assert!(rel <= bound, "{ty}: relative RMSE {rel} above {bound}");
        // zeros round-trip exactly
        let zeros = vec![0f32; n];
        let mut qz = vec![0u8; ty.row_size(n as u64).unwrap() as usize];
        quantize::quantize_rows(ty, &zeros, n, None, &mut qz).unwrap();
        let mut bz = vec![1f32; n];
        quantize::dequantize_rows(ty, &qz, &mut bz).unwrap();
        assert!(bz.iter().all(|v| *v == 0.0), "{ty}: zeros do not round-trip");
    }
}

/// NaN and ±Inf are rejected with the index of the first bad element, from f32 rows and from
/// F32/F16/BF16 tensor bytes (several parallel chunks, several bad values).
#[test]
fn non_finite_input_is_rejected_with_first_index() {
    let n = 256;
    let rows = 600; // > one parallel chunk
    let mut rng = Rng(3);
    let mut x: Vec<f32> = (0..n * rows).map(|_| rng.normal()).collect();
    let bad = [(n * 517 + 9, f32::INFINITY), (n * 300 + 17, f32::NAN), (n * 599, f32::NEG_INFINITY)];
    for (i, v) in bad {
        x[i] = v;
    }
    let first = n * 300 + 17;
    for ty in TYPES {
        let mut out = vec![0u8; rows * ty.row_size(n as u64).unwrap() as usize];
        assert_eq!(quantize::quantize_rows(ty, &x, n, None, &mut out), Err(QuantizeError::NonFinite { index: first }), "{ty}");
        let f32b: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
        let f16b: Vec<u8> = x.iter().flat_map(|v| half::f16::from_f32(*v).to_bits().to_le_bytes()).collect();
        let bf16b: Vec<u8> = x.iter().flat_map(|v| half::bf16::from_f32(*v).to_bits().to_le_bytes()).collect();
        for src in [Source::F32(&f32b), Source::F16(&f16b), Source::BF16(&bf16b)] {
            assert_eq!(
                quantize::quantize_tensor(ty, src, n, None, &mut out),
                Err(QuantizeError::NonFinite { index: first }),
                "{ty} {src:?}"
            );
        }
    }
    // 70000 is finite in f32 but overflows to Inf in F16 only when converted; as F32 input it is fine.
    let mut y = vec![0.5f32; n];
    y[5] = 70000.0;
    let mut out = vec![0u8; GgmlType::Q8_0.row_size(n as u64).unwrap() as usize];
    assert!(quantize::quantize_rows(GgmlType::Q8_0, &y, n, None, &mut out).is_ok());
}

/// quantize_tensor gives the same bytes as quantize_rows on the converted values, for 1 and 4
/// threads, from F16, BF16 and F32 bytes, with and without weights; also for unaligned input.
#[test]
fn tensor_output_independent_of_threads_and_alignment() {
    let n = 768;
    let rows = 200;
    let mut rng = Rng(11);
    let x: Vec<f32> = (0..n * rows).map(|_| rng.normal() * 0.05).collect();
    let w: Vec<f32> = (0..n).map(|_| rng.uniform()).collect();
    let f16b: Vec<u8> = x.iter().flat_map(|v| half::f16::from_f32(*v).to_bits().to_le_bytes()).collect();
    let mut unaligned = vec![0u8; f16b.len() + 1];
    unaligned[1..].copy_from_slice(&f16b);
    let xf16: Vec<f32> = f16b.chunks_exact(2).map(|b| half::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32()).collect();
    for ty in [
        GgmlType::Q8_0,
        GgmlType::Q4_0,
        GgmlType::Q5_1,
        GgmlType::Q4_K,
        GgmlType::Q6_K,
        GgmlType::Q3_K,
        GgmlType::IQ4_NL,
        GgmlType::IQ4_XS,
        GgmlType::TQ1_0,
        GgmlType::F16,
        GgmlType::BF16,
    ] {
        let size = rows * ty.row_size(n as u64).unwrap() as usize;
        for imatrix in [None, Some(w.as_slice())] {
            let mut expected = vec![0u8; size];
            quantize::quantize_rows(ty, &xf16, n, imatrix, &mut expected).unwrap();
            for threads in [1, 4] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let mut a = vec![0u8; size];
                let mut b = vec![0u8; size];
                pool.install(|| {
                    quantize::quantize_tensor(ty, Source::F16(&f16b), n, imatrix, &mut a).unwrap();
                    quantize::quantize_tensor(ty, Source::F16(&unaligned[1..]), n, imatrix, &mut b).unwrap();
                });
                assert!(a == expected, "{ty} threads {threads}");
                assert!(b == expected, "{ty} unaligned, threads {threads}");
            }
        }
    }
}

/// Size and shape errors are reported, not panics.
#[test]
fn bad_shapes_are_errors() {
    let x = vec![0.5f32; 704];
    let mut out = vec![0u8; 1000];
    assert!(matches!(quantize::quantize_rows(GgmlType::Q4_K, &x, 704, None, &mut out), Err(QuantizeError::RowLength { .. })));
    assert!(matches!(quantize::quantize_rows(GgmlType::Q4_0, &x, 704, None, &mut out), Err(QuantizeError::DestinationSize { .. })));
    assert!(matches!(quantize::quantize_rows(GgmlType::Q4_0, &x, 300, None, &mut out), Err(QuantizeError::RowLength { .. })));
    let mut ok = vec![0u8; 22 * 18];
    assert!(matches!(
        quantize::quantize_rows(GgmlType::Q4_0, &x, 704, Some(&[1.0; 10]), &mut ok),
        Err(QuantizeError::ImatrixLength { .. })
    ));
    assert!(matches!(quantize::quantize_rows(GgmlType::Q8_1, &x, 704, None, &mut ok), Err(QuantizeError::UnsupportedType { .. })));
    let mut f = vec![0f32; 10];
    assert!(matches!(quantize::dequantize_rows(GgmlType::Q4_0, &[0u8; 19], &mut f), Err(QuantizeError::SourceSize { .. })));
    assert!(matches!(
        quantize::quantize_tensor(GgmlType::Q8_0, Source::F16(&[0u8; 63]), 32, None, &mut ok),
        Err(QuantizeError::SourceSize { .. })
    ));
}

/// The AVX2 fast paths equal the scalar reference kernels on random and edge-case rows, and the
/// F16C conversion equals the scalar one on every f16 value (Inf/NaN flagged at the right index).
#[test]
#[cfg(target_arch = "x86_64")]
fn simd_paths_equal_scalar() {
    assert!(std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("f16c"), "this test needs AVX2+F16C");
    assert!(quantize::simd::has_avx2());
    let mut rows = edge_rows();
    let mut rng = Rng(99);
    rows.extend((0..32 * 4096).map(|_| rng.normal() * 0.03));
    use quantize::blocks::{q4_0, q4_1, q5_0, q5_1, q8_0};
    use quantize::simd::x86;
    type Simd = unsafe fn(&[f32], &mut [u8]);
    // Zero-sign cases: blocks whose min or max is a zero of either sign, in either order.
    for (k, z) in [(0usize, 0.0f32), (3, -0.0), (10, 0.0)] {
        let mut b: Vec<f32> = (0..32).map(|i| (i as f32 + 1.0) * 0.01).collect();
        b[k] = z;
        b[k + 1] = -z;
        rows.extend(&b);
        rows.extend(b.iter().map(|v| -v));
    }
    let cases: [(GgmlType, quantize::blocks::QuantizeBlockFn, Simd); 5] = [
        (GgmlType::Q8_0, q8_0::quantize_block, x86::quantize_q8_0),
        (GgmlType::Q4_0, q4_0::quantize_block, x86::quantize_q4_0),
        (GgmlType::Q4_1, q4_1::quantize_block, x86::quantize_q4_1),
        (GgmlType::Q5_0, q5_0::quantize_block, x86::quantize_q5_0),
        (GgmlType::Q5_1, q5_1::quantize_block, x86::quantize_q5_1),
    ];
    for (ty, scalar, simd) in cases {
        let bs = ty.type_size();
        let mut a = vec![0u8; rows.len() / 32 * bs];
        let mut b = vec![0u8; a.len()];
        for (x, y) in rows.chunks_exact(32).zip(a.chunks_exact_mut(bs)) {
            scalar(x, y);
        }
        // SAFETY: AVX2 and F16C are present (asserted above).
        unsafe { simd(&rows, &mut b) };
        assert_same(ty, &b, &a, &rows, "simd vs scalar");
    }
    // Requantization with a stored scale vs the scalar formula.
    for (k, x) in rows.chunks_exact(32).enumerate() {
        let d = [0.013f32, -0.2, 1e-6, 3.0, 1e-30][k % 5];
        let add = [0.0f32, 0.25, -0.0, 1e-3][k % 4];
        let mut a = [0u8; 32];
        // SAFETY: as above.
        unsafe { quantize::simd::x86::requantize(x, add, d, -4, 3, 4, &mut a) };
        for i in 0..32 {
            let l = quantize::blocks::common::nearest_int((x[i] + add) / d).clamp(-4, 3) + 4;
            assert_eq!(a[i], l as u8, "requantize x {} add {add} d {d}", x[i]);
        }
    }
    // f32 -> f16 (F16C) vs the scalar conversion on the rows plus every f16 value.
    let mut vals = rows.clone();
    vals.extend((0..=u16::MAX).map(quantize::fp::f16_to_f32).filter(|v| !v.is_nan()));
    vals.extend([65504.0f32, 65519.0, 65520.0, -65520.0, 1e-8, -3e-8, 5.9604645e-8, 2.9802322e-8, 2.9802326e-8]);
    let mut h = vec![0u8; 2 * vals.len()];
    // SAFETY: as above.
    unsafe { quantize::simd::x86::f32_to_f16_row(&vals, &mut h) };
    for (v, b) in vals.iter().zip(h.chunks_exact(2)) {
        assert_eq!(u16::from_le_bytes([b[0], b[1]]), quantize::fp::f32_to_f16(*v), "f32 {v:e} -> f16");
    }
    let all: Vec<u8> = (0..=u16::MAX).flat_map(|h| h.to_le_bytes()).collect();
    let mut out = vec![0f32; 65536];
    // SAFETY: as above.
    let bad = unsafe { quantize::simd::x86::f16_to_f32(&all, &mut out) };
    assert_eq!(bad, Some(0x7c00));
    for h in 0..=u16::MAX {
        let s = quantize::fp::f16_to_f32(h);
        let v = out[h as usize];
        assert!(s.to_bits() == v.to_bits() || (s.is_nan() && v.is_nan()), "f16 {h:#06x}: scalar {s:e}, simd {v:e}");
    }
}

/// The lane-per-group AVX2 `make_qkx2_quants`/`make_qkx3_quants` equals the scalar functions on
/// random and edge-case groups, for every parameter set the K-quants and Q4_1/Q5_1 use.
#[test]
#[cfg(target_arch = "x86_64")]
fn simd_qkx_groups_equal_scalar() {
    use quantize::blocks::common::{make_qkx2_quants, make_qkx3_quants};
    assert!(quantize::simd::has_avx2(), "this test needs AVX2+F16C");
    let rows = edge_rows();
    let mut rng = Rng(5);
    // (n, nmax, rmin, rdelta, nstep, use_mad, weighted-by-importance)
    let params = [
        (16, 3, -0.5f32, 0.1f32, 15, true, false),
        (16, 3, -0.9, 0.05, 36, false, true),
        (32, 15, -1.0, 0.1, 20, false, false),
        (32, 31, -0.5, 0.1, 15, false, false),
        (32, 15, -0.9, 0.05, 36, false, true),
        (32, 31, -0.9, 0.05, 36, false, true),
    ];
    for (n, nmax, rmin, rdelta, nstep, use_mad, weighted) in params {
        for x in rows.chunks_exact(8 * n) {
            let w: Vec<f32> = x.iter().map(|v| if weighted { rng.uniform() * (v * v + 0.01).sqrt() } else { v.abs() + 0.1 }).collect();
            let (mut l1, mut s1, mut m1) = (vec![0u8; 8 * n], [0f32; 8], [0f32; 8]);
            // SAFETY: AVX2 present; sizes are 8·n.
            unsafe { quantize::simd::x86::qkx_groups(n, nmax, x, &w, rmin, rdelta, nstep, use_mad, &mut l1, &mut s1, &mut m1) };
            for g in 0..8 {
                let r = g * n..(g + 1) * n;
                let mut l2 = vec![0u8; n];
                let mut aux = vec![0u8; n];
                let (s2, m2) = if weighted {
                    make_qkx3_quants(nmax, &x[r.clone()], Some(&w[r.clone()]), &mut l2, &mut aux, rmin, rdelta, nstep, use_mad)
                } else {
                    make_qkx2_quants(nmax, &x[r.clone()], &w[r.clone()], &mut l2, &mut aux, rmin, rdelta, nstep, use_mad)
                };
                assert_eq!((s1[g].to_bits(), m1[g].to_bits()), (s2.to_bits(), m2.to_bits()), "n {n} nmax {nmax} group {:?}", &x[r.clone()]);
                assert_eq!(&l1[r.clone()], &l2[..], "n {n} nmax {nmax} group {:?}", &x[r]);
            }
        }
    }
}

/// The lane-per-group AVX2 `make_qx_quants` (rmse_type 1) equals the scalar function on random
/// and edge-case groups, with `x²` weights and with importance weights, for the (n, nmax) pairs
/// Q6_K, Q3_K, Q4_0 and Q5_0 use.
#[test]
#[cfg(target_arch = "x86_64")]
fn simd_qx_groups_equal_scalar() {
    use quantize::blocks::common::make_qx_quants;
    assert!(quantize::simd::has_avx2(), "this test needs AVX2+F16C");
    let rows = edge_rows();
    let mut rng = Rng(17);
    for (n, nmax) in [(16, 32), (16, 4), (32, 8), (32, 16)] {
        for x in rows.chunks_exact(8 * n) {
            let w: Vec<f32> = x.iter().map(|v| rng.uniform() * (v * v + 1e-3).sqrt()).collect();
            for qw in [None, Some(w.as_slice())] {
                let (mut l1, mut s1) = (vec![0i8; 8 * n], [0f32; 8]);
                // SAFETY: AVX2 present; sizes are 8·n.
                unsafe { quantize::simd::x86::qx_groups(n, nmax, x, qw, &mut l1, &mut s1) };
                for g in 0..8 {
                    let r = g * n..(g + 1) * n;
                    let mut l2 = vec![0i8; n];
                    let s2 = make_qx_quants(nmax, &x[r.clone()], &mut l2, 1, qw.map(|w| &w[r.clone()]));
                    assert_eq!(s1[g].to_bits(), s2.to_bits(), "n {n} nmax {nmax} weighted {} group {:?}", qw.is_some(), &x[r.clone()]);
                    assert_eq!(&l1[r.clone()], &l2[..], "n {n} nmax {nmax} group {:?}", &x[r]);
                }
            }
        }
    }
}

/// The lane-per-group AVX2 IQ4 scale search equals the scalar `group_scale` on random and
/// edge-case groups (weights `x²` and importance-style weights), the AVX2 level indices equal
/// `best_index` (values between, on and beyond the levels), and the IQ4_NL / IQ4_XS row paths
/// built on them equal the scalar per-block reference.
#[test]
#[cfg(target_arch = "x86_64")]
fn simd_iq4_equal_scalar() {
    use quantize::blocks::{iq4_nl, iq4_xs};
    assert!(quantize::simd::has_avx2(), "this test needs AVX2+F16C");
    let rows = edge_rows();
    let mut rng = Rng(23);
    for x in rows.chunks_exact(256) {
        let wq: Vec<f32> = x.iter().map(|v| rng.uniform() * (v * v + 1e-3).sqrt()).collect();
        let wx: Vec<f32> = x.iter().map(|v| v * v).collect();
        for w in [&wx, &wq] {
            let mut s1 = [0f32; 8];
            // SAFETY: AVX2 present; x and w hold 256 values.
            unsafe { quantize::simd::x86::iq4_groups(x, w, &mut s1) };
            for (g, s1) in s1.iter().enumerate() {
                let r = 32 * g..32 * (g + 1);
                let s2 = iq4_nl::group_scale(&x[r.clone()], &w[r.clone()]);
                assert_eq!(s1.to_bits(), s2.to_bits(), "group {:?}", &x[r]);
            }
        }
        let imatrix: Vec<f32> = (0..256).map(|i| if i % 37 == 0 { 0.0 } else { rng.uniform() * 4.0 }).collect();
        for qw in [None, Some(imatrix.as_slice())] {
            let (mut a, mut b) = (vec![0u8; 136], vec![0u8; 136]);
            match qw {
                Some(w) => iq4_xs::quantize_block_weighted(x, w, &mut a),
                None => iq4_xs::quantize_block(x, &mut a),
            }
            iq4_xs::quantize_block_scalar(x, qw, &mut b);
            assert_same(GgmlType::IQ4_XS, &a, &b, x, "simd vs scalar");
            let (mut a, mut b) = (vec![0u8; 8 * 18], vec![0u8; 8 * 18]);
            iq4_nl::quantize_row(x, qw, &mut a);
            for (k, (xb, yb)) in x.chunks_exact(32).zip(b.chunks_exact_mut(18)).enumerate() {
                match qw {
                    Some(w) => iq4_nl::quantize_block_weighted(xb, &w[32 * k..32 * k + 32], yb),
                    None => iq4_nl::quantize_block(xb, yb),
                }
            }
            assert_same(GgmlType::IQ4_NL, &a, &b, x, "simd vs scalar");
        }
    }
    // Indices: a sweep through [-140, 140] in steps of 1/8 (every level, every midpoint) plus
    // random values, against best_index.
    let mut vals: Vec<f32> = (-1120..=1120).map(|i| i as f32 / 8.0).collect();
    vals.extend((0..4096).map(|_| rng.normal() * 60.0));
    for id in [1.0f32, 0.37, -2.5, 0.0] {
        let mut l = vec![0u8; vals.len()];
        // SAFETY: AVX2 present; l is as long as vals.
        unsafe { quantize::simd::x86::iq4_indices(&vals, id, &mut l) };
        for (v, l) in vals.iter().zip(&l) {
            assert_eq!(*l as usize, iq4_nl::best_index(id * v), "value {v} × {id}");
        }
    }
}

/// The lane-per-group AVX2 `make_q3_quants` equals the scalar function on random and edge-case
/// groups (Q3_K's n = 16, nmax = 4, and a wider case).
#[test]
#[cfg(target_arch = "x86_64")]
fn simd_q3_groups_equal_scalar() {
    use quantize::blocks::common::make_q3_quants;
    assert!(quantize::simd::has_avx2(), "this test needs AVX2+F16C");
    let mut rows = edge_rows();
    let mut rng = Rng(23);
    rows.extend((0..16 * 8 * 200).map(|_| rng.normal() * 0.02));
    for (n, nmax) in [(16, 4), (32, 8)] {
        for x in rows.chunks_exact(8 * n) {
            let (mut l1, mut s1) = (vec![0i8; 8 * n], [0f32; 8]);
            // SAFETY: AVX2 present; sizes are 8·n.
            unsafe { quantize::simd::x86::q3_groups(n, nmax, x, &mut l1, &mut s1) };
            for g in 0..8 {
                let r = g * n..(g + 1) * n;
                let mut l2 = vec![0i8; n];
                let s2 = make_q3_quants(nmax, &x[r.clone()], &mut l2, true);
                assert_eq!(s1[g].to_bits(), s2.to_bits(), "n {n} group {:?}", &x[r.clone()]);
                assert_eq!(&l1[r.clone()], &l2[..], "n {n} group {:?}", &x[r]);
            }
        }
        // Two interleaved sets of 8 lanes (what Q3_K uses).
        for x in rows.chunks_exact(16 * n) {
            let (mut l1, mut s1) = (vec![0i8; 16 * n], [0f32; 16]);
            // SAFETY: AVX2 present; sizes are 16·n.
            unsafe { quantize::simd::x86::q3_groups16(n, nmax, x, &mut l1, &mut s1) };
            for g in 0..16 {
                let r = g * n..(g + 1) * n;
                let mut l2 = vec![0i8; n];
                let s2 = make_q3_quants(nmax, &x[r.clone()], &mut l2, true);
                assert_eq!(s1[g].to_bits(), s2.to_bits(), "16 groups, n {n} group {:?}", &x[r.clone()]);
                assert_eq!(&l1[r.clone()], &l2[..], "16 groups, n {n} group {:?}", &x[r]);
            }
        }
    }
}

/// The rows of `edge_rows` plus random ones, as f16 bytes, with every finite f16 value in
/// there too (subnormals, ±65504), and the f32 values they convert to.
fn f16_rows() -> (Vec<u8>, Vec<f32>) {
    let mut rows = edge_rows();
    let mut rng = Rng(31);
    rows.extend((0..32 * 2048).map(|_| rng.normal() * 0.03));
    let mut bits: Vec<u16> = rows.iter().map(|v| quantize::fp::f32_to_f16(*v)).collect();
    // Every finite f16 value, in blocks that mix magnitudes.
    bits.extend((0..=u16::MAX).filter(|h| h & 0x7c00 != 0x7c00));
    // Blocks of one repeated value: zeros of both signs, subnormals, the extremes.
    for h in [0x0000u16, 0x8000, 0x0001, 0x8001, 0x03ff, 0x7bff, 0xfbff, 0x3c00] {
        bits.extend(std::iter::repeat_n(h, 32));
    }
    bits.truncate(bits.len() / 32 * 32);
    let bytes: Vec<u8> = bits.iter().flat_map(|h| h.to_le_bytes()).collect();
    let vals: Vec<f32> = bits.iter().map(|h| quantize::fp::f16_to_f32(*h)).collect();
    (bytes, vals)
}

/// The AVX-512 fused F16 → Q8_0 / Q4_0 kernels equal the scalar reference quantizers on the
/// converted values, and stop at the first Inf/NaN with its index.
#[test]
#[cfg(target_arch = "x86_64")]
fn simd512_fused_f16_equal_scalar() {
    use quantize::blocks::{q4_0, q8_0};
    use quantize::simd::x86_512;
    if !quantize::simd::has_avx512() {
        // The AVX-512 kernels are never selected on this CPU (runtime detection); the AVX2 and
        // scalar paths it uses are compared by the tests above and by the byte-identity tests.
        eprintln!("no AVX-512 F/BW/VL/DQ on this CPU: its AVX-512 kernels are unused here, nothing to compare");
        return;
    }
    let (bytes, vals) = f16_rows();
    type Fused = unsafe fn(&[u8], &mut [u8]) -> Option<usize>;
    let cases: [(GgmlType, quantize::blocks::QuantizeBlockFn, Fused); 2] = [
        (GgmlType::Q8_0, q8_0::quantize_block, x86_512::quantize_q8_0_from_f16),
        (GgmlType::Q4_0, q4_0::quantize_block, x86_512::quantize_q4_0_from_f16),
    ];
    for (ty, scalar, fused) in cases {
        let bs = ty.type_size();
        let mut a = vec![0u8; vals.len() / 32 * bs];
        let mut b = vec![0u8; a.len()];
        for (x, y) in vals.chunks_exact(32).zip(a.chunks_exact_mut(bs)) {
            scalar(x, y);
        }
        // SAFETY: AVX-512 is present (checked above); whole blocks.
        assert_eq!(unsafe { fused(&bytes, &mut b) }, None, "{ty}");
        assert_same(ty, &b, &a, &vals, "fused f16 vs scalar");
        for (pos, h) in [(0usize, 0x7c00u16), (77, 0xfc00), (1000, 0x7e00), (31, 0xffff)] {
            let mut bad = bytes[..64 * 40].to_vec();
            bad[2 * pos..2 * pos + 2].copy_from_slice(&h.to_le_bytes());
            let mut out = vec![0u8; 40 * bs];
            // SAFETY: as above.
            assert_eq!(unsafe { fused(&bad, &mut out) }, Some(pos), "{ty} bad f16 {h:#06x} at {pos}");
        }
    }
}

/// The AVX-512 16-lane `make_qx_quants` (rmse_type 1) equals the scalar function on random and
/// edge-case groups, with `x²` weights and importance weights, for the (n, nmax) pairs used.
#[test]
#[cfg(target_arch = "x86_64")]
fn simd512_qx_groups_equal_scalar() {
    use quantize::blocks::common::make_qx_quants;
    if !quantize::simd::has_avx512() {
        // The AVX-512 kernels are never selected on this CPU (runtime detection); the AVX2 and
        // scalar paths it uses are compared by the tests above and by the byte-identity tests.
        eprintln!("no AVX-512 F/BW/VL/DQ on this CPU: its AVX-512 kernels are unused here, nothing to compare");
        return;
    }
    let (_, mut rows) = f16_rows();
    rows.extend(edge_rows());
    let mut rng = Rng(19);
    for (n, nmax) in [(16, 32), (16, 4), (32, 8), (32, 16)] {
        for x in rows.chunks_exact(16 * n) {
            let w: Vec<f32> = x.iter().map(|v| if rng.uniform() < 0.05 { 0.0 } else { rng.uniform() * (v * v + 1e-3).sqrt() }).collect();
            for qw in [None, Some(w.as_slice())] {
                let (mut l1, mut s1) = (vec![0i8; 16 * n], [0f32; 16]);
                // SAFETY: AVX-512 present; sizes are 16·n.
                unsafe { quantize::simd::x86_512::qx_groups(n, nmax, x, qw, &mut l1, &mut s1) };
                for g in 0..16 {
                    let r = g * n..(g + 1) * n;
                    let mut l2 = vec![0i8; n];
                    let s2 = make_qx_quants(nmax, &x[r.clone()], &mut l2, 1, qw.map(|w| &w[r.clone()]));
                    assert_eq!(s1[g].to_bits(), s2.to_bits(), "n {n} nmax {nmax} weighted {} group {:?}", qw.is_some(), &x[r.clone()]);
                    assert_eq!(&l1[r.clone()], &l2[..], "n {n} nmax {nmax} group {:?}", &x[r]);
                }
            }
        }
    }
}

/// The AVX-512 `make_q3_quants` (16 lanes, 1 and 4 interleaved sets) equals the scalar
/// function on random and edge-case groups, and Q3_K's multi-super-block path gives the bytes
/// of the one-block reference on every super-block.
#[test]
#[cfg(target_arch = "x86_64")]
fn simd512_q3_groups_equal_scalar() {
    use quantize::blocks::common::make_q3_quants;
    use quantize::blocks::q3_k;
    if !quantize::simd::has_avx512() {
        // The AVX-512 kernels are never selected on this CPU (runtime detection); the AVX2 and
        // scalar paths it uses are compared by the tests above and by the byte-identity tests.
        eprintln!("no AVX-512 F/BW/VL/DQ on this CPU: its AVX-512 kernels are unused here, nothing to compare");
        return;
    }
    let (_, mut rows) = f16_rows();
    rows.extend(edge_rows());
    let mut rng = Rng(29);
    rows.extend((0..16 * 16 * 64).map(|_| rng.normal() * 0.02));
    rows.truncate(rows.len() / 1024 * 1024);
    let check = |x: &[f32], l1: &[i8], s1: &[f32], n: usize, nmax: i32, tag: &str| {
        for g in 0..s1.len() {
            let r = g * n..(g + 1) * n;
            let mut l2 = vec![0i8; n];
            let s2 = make_q3_quants(nmax, &x[r.clone()], &mut l2, true);
            assert_eq!(s1[g].to_bits(), s2.to_bits(), "{tag} n {n} group {:?}", &x[r.clone()]);
            assert_eq!(&l1[r.clone()], &l2[..], "{tag} n {n} group {:?}", &x[r]);
        }
    };
    type Q3 = unsafe fn(i32, &[f32], &mut [i8], &mut [f32]);
    use quantize::simd::x86_512::q3_groups;
    let kernels: [(usize, i32, usize, Q3); 4] =
        [(16, 4, 1, q3_groups::<1, 16>), (16, 4, 4, q3_groups::<4, 16>), (32, 8, 1, q3_groups::<1, 32>), (32, 8, 4, q3_groups::<4, 32>)];
    for (n, nmax, sets, kernel) in kernels {
        for x in rows.chunks_exact(16 * sets * n) {
            let (mut l1, mut s1) = (vec![0i8; 16 * sets * n], vec![0f32; 16 * sets]);
            // SAFETY: AVX-512 present; sizes are 16·sets·n.
            unsafe { kernel(nmax, x, &mut l1, &mut s1) };
            check(x, &l1, &s1, n, nmax, &format!("{sets} set(s)"));
        }
    }
    // Whole super-blocks: 1..=9 at a time (tails of the 4-at-a-time path included).
    for nb in 1..=9usize {
        for x in rows.chunks_exact(nb * 256).take(4) {
            let mut a = vec![0u8; nb * 110];
            let mut b = vec![0u8; nb * 110];
            for (xb, yb) in x.chunks_exact(256).zip(a.chunks_exact_mut(110)) {
                q3_k::quantize_block(xb, yb);
            }
            q3_k::quantize_blocks(x, &mut b);
            assert_same(GgmlType::Q3_K, &b, &a, x, "multi-block");
        }
    }
}

/// Super-blocks of 256 for the grid i-quant comparisons: [`edge_rows`], then random blocks of
/// several kinds: Gaussian at several scales, heavy-tailed, sparse, and values on a few levels
/// (exact ties between grid points and between splits).
fn grid_iquant_blocks() -> Vec<f32> {
    let mut rows = edge_rows();
    let mut rng = Rng(0x51_7CC1_B727_220A);
    for b in 0..1200 {
        let scale = [1.0f32, 0.02, 3e-4, 40.0][b % 4];
        for i in 0..256 {
            let g = rng.normal();
            let v = match (b / 4) % 6 {
                0 => g,
                1 => g * g * g,
                2 => {
                    if rng.uniform() < 0.7 {
                        0.0
                    } else {
                        g
                    }
                }
                3 => (g * 2.0).round() / 2.0,
                4 => [-1.0, 0.0, 1.0][(rng.next_u64() % 3) as usize],
                _ => (i % 7) as f32 - 3.0 + g * 1e-3,
            };
            rows.push(v * scale);
        }
    }
    rows
}

/// The AVX2 paths of the grid i-quants (the lane-per-neighbour search, the IQ1 split searches)
/// give the scalar reference's bytes on every block of [`grid_iquant_blocks`], with importance
/// weights of several kinds and, where the type has a quantizer for it, without.
#[test]
#[cfg(target_arch = "x86_64")]
fn simd_grid_iquants_equal_scalar() {
    use quantize::blocks::{iq1_m, iq1_s, iq2_s, iq2_xs, iq2_xxs, iq3_s, iq3_xxs};
    assert!(quantize::simd::has_avx2(), "this test needs AVX2+F16C");
    type Weighted = fn(&[f32], &[f32], &mut [u8]);
    type Plain = fn(&[f32], &mut [u8]);
    type Scalar = fn(&[f32], Option<&[f32]>, &mut [u8]);
    let with_plain: [(GgmlType, usize, Weighted, Plain, Scalar); 4] = [
        (GgmlType::IQ3_XXS, iq3_xxs::BYTES, iq3_xxs::quantize_block_weighted, iq3_xxs::quantize_block, iq3_xxs::quantize_block_scalar),
        (GgmlType::IQ3_S, iq3_s::BYTES, iq3_s::quantize_block_weighted, iq3_s::quantize_block, iq3_s::quantize_block_scalar),
        (GgmlType::IQ2_S, iq2_s::BYTES, iq2_s::quantize_block_weighted, iq2_s::quantize_block, iq2_s::quantize_block_scalar),
        (GgmlType::IQ1_M, iq1_m::BYTES, iq1_m::quantize_block_weighted, iq1_m::quantize_block, iq1_m::quantize_block_scalar),
    ];
    let weighted_only: [(GgmlType, usize, Weighted, Weighted); 3] = [
        (GgmlType::IQ2_XXS, iq2_xxs::BYTES, iq2_xxs::quantize_block_weighted, iq2_xxs::quantize_block_scalar),
        (GgmlType::IQ2_XS, iq2_xs::BYTES, iq2_xs::quantize_block_weighted, iq2_xs::quantize_block_scalar),
        (GgmlType::IQ1_S, iq1_s::BYTES, iq1_s::quantize_block_weighted, iq1_s::quantize_block_scalar),
    ];
    let blocks = grid_iquant_blocks();
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let mut compared = 0usize;
    for x in blocks.chunks_exact(256) {
        let weights: [Vec<f32>; 3] = [
            (0..256).map(|_| rng.uniform() * 4.0).collect(),
            (0..256).map(|i| if i % 3 == 0 { 0.0 } else { rng.uniform() * rng.uniform() }).collect(),
            vec![1.0; 256],
        ];
        for (ty, bytes, weighted, plain, scalar) in with_plain {
            let (mut a, mut b) = (vec![0u8; bytes], vec![0u8; bytes]);
            plain(x, &mut a);
            scalar(x, None, &mut b);
            assert_same(ty, &a, &b, x, "simd vs scalar, no imatrix");
            for w in &weights {
                weighted(x, w, &mut a);
                scalar(x, Some(w), &mut b);
                assert_same(ty, &a, &b, x, "simd vs scalar, imatrix");
            }
            compared += 4;
        }
        for (ty, bytes, weighted, scalar) in weighted_only {
            let (mut a, mut b) = (vec![0u8; bytes], vec![0u8; bytes]);
            for w in &weights {
                weighted(x, w, &mut a);
                scalar(x, w, &mut b);
                assert_same(ty, &a, &b, x, "simd vs scalar, imatrix");
            }
            compared += 3;
        }
    }
    eprintln!("{compared} super-blocks compared");
}

/// The AVX2 neighbour search equals the scalar one for every code off each grid, at random
/// scales, values and weights, and with all-zero weights (every neighbour ties: the first wins).
#[test]
#[cfg(target_arch = "x86_64")]
fn simd_grid_neighbours_equal_scalar() {
    use quantize::blocks::iq_grid::IqGrid;
    use quantize::blocks::{iq1_s, iq2_s, iq2_xs, iq2_xxs, iq3_s, iq3_xxs};
    assert!(quantize::simd::has_avx2(), "this test needs AVX2+F16C");
    fn check<const N: usize>(name: &str, g: &IqGrid<N>, kmaxq: usize, values: &[f32; 8], rng: &mut Rng) {
        let bits = g.bits();
        let mut codes = 0;
        for code in 0..1usize << (bits * N) {
            if g.index(code).is_some() || (0..N).any(|i| (code >> (bits * i)) & ((1 << bits) - 1) >= kmaxq) {
                continue;
            }
            codes += 1;
            for round in 0..3 {
                let x: Vec<f32> = (0..N).map(|_| rng.uniform() * 16.0 - 1.0).collect();
                let w: Vec<f32> = (0..N).map(|_| if round == 2 { 0.0 } else { rng.uniform() }).collect();
                let scale = 0.5 + rng.uniform() * 2.0;
                let a = g.nearest_neighbour(code, &x, &w, scale, values, true);
                let b = g.nearest_neighbour(code, &x, &w, scale, values, false);
                assert_eq!(a, b, "{name}: code {code}, x {x:?}, w {w:?}, scale {scale}");
            }
        }
        assert!(codes > 0, "{name}: no code off the grid");
    }
    let odd = [1.0, 3.0, 5.0, 7.0, 9.0, 11.0, 13.0, 15.0];
    let iq1 = [-0.875, 0.125, 1.125, 0.0, 0.0, 0.0, 0.0, 0.0];
    let mut rng = Rng(99);
    check("IQ3_XXS", iq3_xxs::grid(), 8, &odd, &mut rng);
    check("IQ3_S", iq3_s::grid(), 8, &odd, &mut rng);
    check("IQ2_XXS", iq2_xxs::grid(), 3, &odd, &mut rng);
    check("IQ2_XS", iq2_xs::grid(), 3, &odd, &mut rng);
    check("IQ2_S", iq2_s::grid(), 3, &odd, &mut rng);
    check("IQ1_S", iq1_s::grid(), 3, &iq1, &mut rng);
}
