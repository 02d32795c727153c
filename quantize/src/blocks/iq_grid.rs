//! What the grid i-quants share (IQ3_XXS, IQ3_S, IQ2_XXS, IQ2_XS, IQ2_S): a grid of points of `N` values, each
//! `2l + 1` for a level `l`, derived from the type's compact list of grid codes (`bits` per
//! value), the map from codes to grid indices, the nearest grid points of each code off the grid
//! (as ggml's `iq3xs_init_impl` / `iq2xs_init_impl` derive them at start-up), and the search of
//! one group of values (`quantize_row_iq3_xxs_impl`, `quantize_row_iq3_s_impl`,
//! `quantize_row_iq2_xxs_impl`, `quantize_row_iq2_xs_impl`, `quantize_row_iq2_s_impl`).

use super::common::nearest_int;

/// How a type searches a group: levels `0..kmaxq`, `steps` steps of `step` each side of the
/// initial inverse scale, ggml's initial `is_on_grid` (`start_on_grid`, which decides whether a
/// search that never improves is refined), whether the best fit's points off the grid are
/// tracked at all (`track_grid`; IQ2_XXS does not, so it always refines) and whether the
/// refinement redoes every point (`refine_all`) or only those the search left off the grid.
pub struct Search {
    /// Levels per value (`kMaxQ`).
    pub kmaxq: i32,
    /// Steps each side of the initial inverse scale.
    pub steps: i32,
    /// The step.
    pub step: f32,
    /// ggml's initial `is_on_grid`.
    pub start_on_grid: bool,
    /// The best fit's `is_on_grid` replaces the initial one.
    pub track_grid: bool,
    /// Refine every point, not only those off the grid.
    pub refine_all: bool,
}

/// A derived grid of points of `N` values.
pub struct IqGrid<const N: usize> {
    /// Each grid point's values (`2l + 1`).
    pub points: Vec<[u8; N]>,
    /// Bits per level in a code.
    bits: usize,
    /// For each code: its grid index (>= 0), or `-(offset + 1)` of its neighbour list in
    /// `neighbours` (the list's length, then the grid indices).
    map: Vec<i32>,
    neighbours: Vec<u16>,
}

/// The levels of a code.
fn code_levels<const N: usize>(code: usize, bits: usize) -> [usize; N] {
    std::array::from_fn(|i| (code >> (bits * i)) & ((1 << bits) - 1))
}

impl<const N: usize> IqGrid<N> {
    /// Derives the grid from its code list (`bits` per level), keeping for each code of levels
    /// below `kmaxq` that is off the grid the grid points at the `nwant` smallest squared
    /// distances (all points at each of those distances, nearest first, ties by index), as
    /// `iq3xs_init_impl` / `iq2xs_init_impl`. (ggml also lists neighbours for codes with a level
    /// of `kmaxq` or more, which its searches never look up.)
    pub fn derive(kgrid: &[u16], bits: usize, kmaxq: usize, nwant: usize) -> IqGrid<N> {
        let values = |code: usize| code_levels::<N>(code, bits).map(|l| 2 * l as i32 + 1);
        let points: Vec<[u8; N]> = kgrid.iter().map(|&c| values(c as usize).map(|v| v as u8)).collect();
        let codes = 1usize << (bits * N);
        let mut map = vec![-1i32; codes];
        for (k, &c) in kgrid.iter().enumerate() {
            map[c as usize] = k as i32;
        }
        let mut neighbours = Vec::new();
        let mut dist: Vec<(i32, u16)> = Vec::with_capacity(points.len());
        let off_grid: Vec<usize> = (0..codes).filter(|&c| map[c] < 0 && code_levels::<N>(c, bits).iter().all(|&l| l < kmaxq)).collect();
        for code in off_grid {
            let pos = values(code);
            dist.clear();
            dist.extend(
                points.iter().enumerate().map(|(j, p)| (p.iter().zip(&pos).map(|(&g, &q)| (g as i32 - q).pow(2)).sum::<i32>(), j as u16)),
            );
            dist.sort_unstable();
            map[code] = -(neighbours.len() as i32 + 1);
            let start = neighbours.len();
            neighbours.push(0);
            let (mut d2, mut nhave) = (dist[0].0, 1);
            for &(d, j) in &dist {
                if d > d2 {
                    if nhave == nwant {
                        break;
                    }
                    d2 = d;
                    nhave += 1;
                }
                neighbours.push(j);
            }
            neighbours[start] = (neighbours.len() - start - 1) as u16;
        }
        IqGrid { points, bits, map, neighbours }
    }

    /// The grid index of a code, if it is on the grid.
    pub fn index(&self, code: usize) -> Option<usize> {
        usize::try_from(self.map[code]).ok()
    }

    /// The grid indices listed as the neighbours of a code off the grid.
    pub fn neighbours_of(&self, code: usize) -> &[u16] {
        let off = (-self.map[code] - 1) as usize;
        &self.neighbours[off + 1..off + 1 + self.neighbours[off] as usize]
    }

    /// The neighbours of a code off the grid (`iq3_find_best_neighbour`,
    /// `iq2_find_best_neighbour`): the one with the least
    /// `Σ w²·(scale·q − x)²` (first wins ties); writes its levels to `l`, returns its index.
    fn best_neighbour(&self, code: usize, xval: &[f32], waux: &[f32], scale: f32, l: &mut [i8]) -> usize {
        let mut best_d2 = f32::MAX;
        let mut best = usize::MAX;
        for &j in self.neighbours_of(code) {
            let pg = &self.points[j as usize];
            let mut d2 = 0.0f32;
            for i in 0..N {
                let diff = scale * pg[i] as f32 - xval[i];
                d2 += waux[i] * diff * diff;
            }
            if d2 < best_d2 {
                best_d2 = d2;
                best = j as usize;
            }
        }
        let pg = &self.points[best];
        for i in 0..N {
            l[i] = ((pg[i] - 1) / 2) as i8;
        }
        best
    }

    /// The code of `N` values scaled by `id` (`nearest_int(0.5·(id·x − 1))` clamped to
    /// `0..kmaxq`), written to `l` too.
    #[inline]
    fn code_of(&self, xval: &[f32], id: f32, kmaxq: i32, l: &mut [i8]) -> usize {
        let mut u = 0usize;
        for i in 0..N {
            let q = nearest_int(0.5 * (id * xval[i] - 1.0)).clamp(0, kmaxq - 1);
            l[i] = q as i8;
            u |= (q as usize) << (self.bits * i);
        }
        u
    }

    /// The scale and the levels (`l`, every `N` on the grid) of one group of `G` non-negative
    /// values `xval` (group maximum `max`, weights `weight`, their square roots `waux`):
    /// `p.steps` steps each side of `max / (2·kmaxq − 1)` on the inverse scale, then, when the
    /// best fit used points off the grid, their nearest grid points at the best scale
    /// (`p.refine_all`: all points again) and the least-squares scale of those.
    pub fn search_group<const G: usize>(
        &self,
        xval: &[f32; G],
        weight: &[f32; G],
        waux: &[f32; G],
        max: f32,
        p: &Search,
        l: &mut [i8; G],
    ) -> f32 {
        self.search_group_from(xval, weight, waux, max, max / (2 * p.kmaxq - 1) as f32, p, l)
    }

    /// [`IqGrid::search_group`] with the inverse scales taken about `max` and the scale kept
    /// when no step fits better given as `scale0` (IQ2_XXS starts from `make_qp_quants`).
    #[allow(clippy::too_many_arguments)]
    pub fn search_group_from<const G: usize>(
        &self,
        xval: &[f32; G],
        weight: &[f32; G],
        waux: &[f32; G],
        max: f32,
        scale0: f32,
        p: &Search,
        l: &mut [i8; G],
    ) -> f32 {
        let fit = |l: &[i8; G]| {
            let (mut sumqx, mut sumq2) = (0.0f32, 0.0f32);
            for i in 0..G {
                let w = weight[i];
                let q = (2 * l[i] as i32 + 1) as f32;
                sumqx += w * xval[i] * q;
                sumq2 += w * q * q;
            }
            (sumqx, sumq2)
        };
        let npoints = G / N;
        *l = [0; G];
        let mut best = 0.0f32;
        let mut scale = scale0;
        let mut on_grid = [p.start_on_grid; 8];
        let mut laux = [0i8; G];
        let mut on_grid_aux = [true; 8];
        for is in -p.steps..=p.steps {
            let id = ((2 * p.kmaxq - 1) as f32 + is as f32 * p.step) / max;
            let this_scale = 1.0 / id;
            for (k, aux) in on_grid_aux[..npoints].iter_mut().enumerate() {
                let r = N * k..N * k + N;
                let u = self.code_of(&xval[r.clone()], id, p.kmaxq, &mut laux[r.clone()]);
                *aux = self.map[u] >= 0;
                if !*aux {
                    self.best_neighbour(u, &xval[r.clone()], &waux[r.clone()], this_scale, &mut laux[r]);
                }
            }
            let (sumqx, sumq2) = fit(&laux);
            if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
                scale = sumqx / sumq2;
                best = scale * sumqx;
                *l = laux;
                if p.track_grid {
                    on_grid = on_grid_aux;
                }
            }
        }
        if on_grid[..npoints].iter().any(|&g| !g) && scale > 0.0 {
            let id = 1.0 / scale;
            for (k, &on) in on_grid[..npoints].iter().enumerate() {
                if on && !p.refine_all {
                    continue;
                }
                let r = N * k..N * k + N;
                let mut lk = [0i8; N];
                let u = self.code_of(&xval[r.clone()], id, p.kmaxq, &mut lk);
                let index = match self.index(u) {
                    Some(i) => i,
                    None => self.best_neighbour(u, &xval[r.clone()], &waux[r.clone()], scale, &mut l[r.clone()]),
                };
                let pg = &self.points[index];
                for (i, j) in r.enumerate() {
                    l[j] = ((pg[i] - 1) / 2) as i8;
                }
            }
            let (sumqx, sumq2) = fit(l);
            if sumq2 > 0.0 {
                scale = sumqx / sumq2;
            }
        }
        scale
    }

    /// The grid index of `N` levels, which must lie on the grid (ggml aborts otherwise).
    pub fn index_of_levels(&self, l: &[i8]) -> usize {
        let u = l[..N].iter().enumerate().fold(0usize, |u, (i, &q)| u | ((q as usize) << (self.bits * i)));
        self.index(u).expect("grid search left a point off the grid")
    }
}

/// The weights of one group (`qw · sqrt(σ² + x²)` with `σ² = 2·Σx²/256` over the super-block,
/// or `plain(σ²) + x²` without importance weights: IQ3 adds 0, IQ2_S `σ²/4`) and their square
/// roots.
pub fn group_weights<const G: usize>(xb: &[f32], qw: Option<&[f32]>, sigma2: f32, plain: f32, weight: &mut [f32; G], waux: &mut [f32; G]) {
    for i in 0..G {
        weight[i] = match qw {
            Some(qw) => qw[i] * (sigma2 + xb[i] * xb[i]).sqrt(),
            None => plain + xb[i] * xb[i],
        };
        waux[i] = weight[i].sqrt();
    }
}

/// The absolute values of 8 values (into `xval`) and their sign bits (bit `i` set: value `i` is
/// negative; -0.0 counts as positive, as in ggml's `x >= 0` test).
pub fn abs_and_signs(xb: &[f32], xval: &mut [f32]) -> u8 {
    let mut s = 0u8;
    for i in 0..8 {
        if xb[i] >= 0.0 {
            xval[i] = xb[i];
        } else {
            xval[i] = -xb[i];
            s |= 1 << i;
        }
    }
    s
}

/// The absolute values of 8 values (into `xval`) and their 7 stored sign bits, for the types
/// that keep an even number of negative values (IQ3_XXS, IQ2_XXS, IQ2_XS): on an odd count the
/// value of least `weight·x²` (first wins ties) keeps its sign flipped, its `xval` negative.
pub fn even_signs(xb: &[f32], weight: &[f32], xval: &mut [f32]) -> u8 {
    let mut s = abs_and_signs(xb, xval);
    if s.count_ones() % 2 == 1 {
        let cost = |i: usize| weight[i] * xb[i] * xb[i];
        let mut imin = 0;
        let mut min = cost(0);
        for i in 1..8 {
            if cost(i) < min {
                min = cost(i);
                imin = i;
            }
        }
        xval[imin] = -xval[imin];
        s ^= 1 << imin;
    }
    s & 127
}

/// The weights of a group of `G` values and their square roots ([`group_weights`]), and per 8
/// values their magnitudes and stored sign bits with an even count ([`even_signs`]).
pub fn even_sign_group<const G: usize, const K: usize>(
    xb: &[f32],
    qw: Option<&[f32]>,
    sigma2: f32,
    weight: &mut [f32; G],
    waux: &mut [f32; G],
    xval: &mut [f32; G],
) -> [u8; K] {
    group_weights(xb, qw, sigma2, 0.0, weight, waux);
    std::array::from_fn(|k| {
        let r = 8 * k..8 * k + 8;
        even_signs(&xb[r.clone()], &weight[r.clone()], &mut xval[r])
    })
}

/// A group scale made non-negative: a negative one is negated and the group's stored sign bits
/// (`mask`: the bits a byte stores) are flipped with it.
pub fn positive_scale(scale: f32, signs: &mut [u8], mask: u8) -> f32 {
    if scale < 0.0 {
        for s in signs {
            *s = !*s & mask;
        }
        -scale
    } else {
        scale
    }
}

/// The super-block scale `d = max_scale / 31` and each group's 4-bit scale
/// `nearest_int(0.5·(scale·(1/d) − 1))` clamped to 0..15.
pub fn four_bit_scales<const NG: usize>(max_scale: f32, scales: &[f32; NG]) -> (f32, [u8; NG]) {
    let d = max_scale / 31.0;
    let id = 1.0 / d;
    (d, std::array::from_fn(|ib| nearest_int(0.5 * (id * scales[ib] - 1.0)).clamp(0, 15) as u8))
}

/// ggml's `MAX` over a group (`a > b ? a : b`, in order).
pub fn group_max(xval: &[f32]) -> f32 {
    xval[1..].iter().fold(xval[0], |m, &v| if m > v { m } else { v })
}

/// The sign byte of 8 values as ggml's `ksigns_iq2xs` holds it: the 7 stored sign bits plus an
/// 8th that makes the number of set bits even.
pub fn signs_with_parity(s7: u8) -> u8 {
    let s7 = s7 & 127;
    s7 | (((s7.count_ones() & 1) as u8) << 7)
}
