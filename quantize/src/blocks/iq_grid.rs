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
    /// For each code: its grid index (>= 0), or `-(list + 1)` of its neighbour list in `lists`.
    map: Vec<i32>,
    /// Each neighbour list's start in `neighbours` and `neighbour_codes`, and its length; the
    /// entries are padded to a multiple of [`LANES`] by repeating the last one, so that the
    /// AVX2 search takes them eight at a time (a repeat never wins: it ties with an earlier
    /// entry).
    lists: Vec<(u32, u32)>,
    /// The grid indices of the neighbours, list after list.
    neighbours: Vec<u16>,
    /// The code (levels) of each entry of `neighbours`.
    neighbour_codes: Vec<u16>,
}

/// Neighbour list entries searched at once by the AVX2 path.
pub const LANES: usize = 8;

/// The value `2l + 1` of each level `l` (the grid points' values).
const ODD_VALUES: [f32; 8] = [1.0, 3.0, 5.0, 7.0, 9.0, 11.0, 13.0, 15.0];

/// The `nwant` smallest distinct values in `dist` (all of them when there are fewer), in
/// ascending order; `seen` is scratch space with room for every value (all false on entry and
/// exit).
fn nearest_distances(dist: &[i16], nwant: usize, seen: &mut [bool]) -> Vec<i16> {
    for &d in dist {
        seen[d as usize] = true;
    }
    let mut out = Vec::with_capacity(nwant);
    for (d, s) in seen.iter_mut().enumerate() {
        if *s {
            if out.len() < nwant {
                out.push(d as i16);
            }
            *s = false;
        }
    }
    out
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
        let (mut lists, mut neighbours, mut neighbour_codes) = (Vec::new(), Vec::new(), Vec::new());
        // The points' values by position (i16: a distance is at most 8·14² here), so that the
        // distances of all points to a code are computed a position at a time.
        let by_position: Vec<Vec<i16>> = (0..N).map(|i| points.iter().map(|p| p[i] as i16).collect()).collect();
        let mut dist: Vec<i16> = vec![0; points.len()];
        let mut near: Vec<u16> = Vec::new();
        let max_level = (1i32 << bits) - 1;
        let mut seen = vec![false; (4 * max_level * max_level) as usize * N + 1];
        let off_grid: Vec<usize> = (0..codes).filter(|&c| map[c] < 0 && code_levels::<N>(c, bits).iter().all(|&l| l < kmaxq)).collect();
        for code in off_grid {
            let pos = values(code);
            dist.fill(0);
            for (column, &q) in by_position.iter().zip(&pos) {
                for (d, &g) in dist.iter_mut().zip(column) {
                    *d += (g - q as i16) * (g - q as i16);
                }
            }
            // The points at the `nwant` smallest distances, nearest first, ties by index (what
            // sorting every (distance, index) pair and keeping those distances gives).
            near.clear();
            for d in nearest_distances(&dist, nwant, &mut seen) {
                near.extend(dist.iter().enumerate().filter(|&(_, &dj)| dj == d).map(|(j, _)| j as u16));
            }
            map[code] = -(lists.len() as i32 + 1);
            lists.push((neighbours.len() as u32, near.len() as u32));
            let padded = near.len().next_multiple_of(LANES);
            for k in 0..padded {
                let j = near[k.min(near.len() - 1)];
                neighbours.push(j);
                neighbour_codes.push(kgrid[j as usize]);
            }
        }
        IqGrid { points, bits, map, lists, neighbours, neighbour_codes }
    }

    /// The grid index of a code, if it is on the grid.
    pub fn index(&self, code: usize) -> Option<usize> {
        usize::try_from(self.map[code]).ok()
    }

    /// The grid indices listed as the neighbours of a code off the grid.
    pub fn neighbours_of(&self, code: usize) -> &[u16] {
        let (start, len) = self.lists[(-self.map[code] - 1) as usize];
        &self.neighbours[start as usize..(start + len) as usize]
    }

    /// The neighbour list of a code off the grid padded to a multiple of [`LANES`] (by repeating
    /// its last entry): the grid indices and the codes of the points.
    pub fn padded_neighbours_of(&self, code: usize) -> (&[u16], &[u16]) {
        let (start, len) = self.lists[(-self.map[code] - 1) as usize];
        let r = start as usize..start as usize + (len as usize).next_multiple_of(LANES);
        (&self.neighbours[r.clone()], &self.neighbour_codes[r])
    }

    /// Bits per level in a code.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// The neighbour of a code off the grid with the least `Σ w·(scale·v(l) − x)²`, `v(l)` being
    /// `values[l]` for each level `l` of the neighbour's point (first wins ties;
    /// `iq3_find_best_neighbour`, `iq2_find_best_neighbour`, `iq1_find_best_neighbour2`): its
    /// grid index, or `None` when no distance is below `f32::MAX`. `simd`: search the list eight
    /// entries at a time (AVX2 when available; the same result as the scalar loop, which sums
    /// each distance in the same order).
    pub fn nearest_neighbour(&self, code: usize, x: &[f32], w: &[f32], scale: f32, values: &[f32; 8], simd: bool) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if simd && crate::simd::has_avx2() {
            return self.nearest::<true>(code, x, w, scale, values);
        }
        let _ = simd;
        self.nearest::<false>(code, x, w, scale, values)
    }

    /// [`IqGrid::nearest_neighbour`] with the path chosen at compile time (`SIMD`: AVX2, which
    /// the caller has detected).
    #[inline(always)]
    fn nearest<const SIMD: bool>(&self, code: usize, x: &[f32], w: &[f32], scale: f32, values: &[f32; 8]) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if SIMD {
            let (indices, codes) = self.padded_neighbours_of(code);
            // SAFETY: SIMD is set only where AVX2 was detected; `codes` is a whole number of
            // 8-entry chunks.
            let pos = unsafe { crate::simd::x86_iq::nearest_code::<N>(codes, self.bits as u32, values, x, w, scale) };
            return pos.map(|p| indices[p] as usize);
        }
        let mut best_d2 = f32::MAX;
        let mut best = None;
        for &j in self.neighbours_of(code) {
            let pg = &self.points[j as usize];
            let mut d2 = 0.0f32;
            for i in 0..N {
                let diff = scale * values[((pg[i] - 1) / 2) as usize] - x[i];
                d2 += w[i] * diff * diff;
            }
            if d2 < best_d2 {
                best_d2 = d2;
                best = Some(j as usize);
            }
        }
        best
    }

    /// The neighbours of a code off the grid (`iq3_find_best_neighbour`,
    /// `iq2_find_best_neighbour`): the one with the least
    /// `Σ w²·(scale·q − x)²` (first wins ties); writes its levels to `l`, returns its index.
    #[inline(always)]
    fn best_neighbour<const SIMD: bool>(&self, code: usize, xval: &[f32], waux: &[f32], scale: f32, l: &mut [i8]) -> usize {
        let best = self.nearest::<SIMD>(code, xval, waux, scale, &ODD_VALUES).expect("a neighbour at a finite distance");
        let pg = &self.points[best];
        for i in 0..N {
            l[i] = ((pg[i] - 1) / 2) as i8;
        }
        best
    }

    /// The code of `N` values scaled by `id` (`nearest_int(0.5·(id·x − 1))` clamped to
    /// `0..kmaxq`), written to `l` too.
    #[inline(always)]
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
    /// (`p.refine_all`: all points again) and the least-squares scale of those. `simd`: search the
    /// neighbour lists with AVX2 when available (the same result).
    #[allow(clippy::too_many_arguments)] // the group (three arrays), its maximum, the type's search, the levels, the path
    pub fn search_group<const G: usize>(
        &self,
        xval: &[f32; G],
        weight: &[f32; G],
        waux: &[f32; G],
        max: f32,
        p: &Search,
        l: &mut [i8; G],
        simd: bool,
    ) -> f32 {
        self.search_group_from(xval, weight, waux, max, max / (2 * p.kmaxq - 1) as f32, p, l, simd)
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
        simd: bool,
    ) -> f32 {
        #[cfg(target_arch = "x86_64")]
        if simd && crate::simd::has_avx2() {
            // SAFETY: AVX2 was detected.
            return unsafe { self.search_avx2(xval, weight, waux, max, scale0, p, l) };
        }
        let _ = simd;
        self.search::<G, false>(xval, weight, waux, max, scale0, p, l)
    }

    /// The search compiled for AVX2, with its neighbour searches inlined.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[allow(clippy::too_many_arguments)] // search_group_from's arguments, passed through
    unsafe fn search_avx2<const G: usize>(
        &self,
        xval: &[f32; G],
        weight: &[f32; G],
        waux: &[f32; G],
        max: f32,
        scale0: f32,
        p: &Search,
        l: &mut [i8; G],
    ) -> f32 {
        self.search::<G, true>(xval, weight, waux, max, scale0, p, l)
    }

    /// The body of [`IqGrid::search_group_from`], the neighbour search's path chosen at compile
    /// time.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)] // search_group_from's arguments, passed through
    fn search<const G: usize, const SIMD: bool>(
        &self,
        xval: &[f32; G],
        weight: &[f32; G],
        waux: &[f32; G],
        max: f32,
        scale0: f32,
        p: &Search,
        l: &mut [i8; G],
    ) -> f32 {
        #[inline(always)]
        fn fit<const G: usize>(weight: &[f32; G], xval: &[f32; G], l: &[i8; G]) -> (f32, f32) {
            let (mut sumqx, mut sumq2) = (0.0f32, 0.0f32);
            for i in 0..G {
                let w = weight[i];
                let q = (2 * l[i] as i32 + 1) as f32;
                sumqx += w * xval[i] * q;
                sumq2 += w * q * q;
            }
            (sumqx, sumq2)
        }
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
            let mut codes = [0usize; 8];
            #[cfg(target_arch = "x86_64")]
            if SIMD {
                // SAFETY: SIMD is set only where AVX2 was detected; G is 16 or 32, N 4 or 8.
                unsafe { crate::simd::x86_iq::group_codes::<G, N>(xval, id, p.kmaxq, self.bits as u32, &mut laux, &mut codes) };
            }
            for (k, aux) in on_grid_aux[..npoints].iter_mut().enumerate() {
                let r = N * k..N * k + N;
                let u = if SIMD && cfg!(target_arch = "x86_64") {
                    codes[k]
                } else {
                    self.code_of(&xval[r.clone()], id, p.kmaxq, &mut laux[r.clone()])
                };
                *aux = self.map[u] >= 0;
                if !*aux {
                    self.best_neighbour::<SIMD>(u, &xval[r.clone()], &waux[r.clone()], this_scale, &mut laux[r]);
                }
            }
            let (sumqx, sumq2) = fit(weight, xval, &laux);
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
                    None => self.best_neighbour::<SIMD>(u, &xval[r.clone()], &waux[r.clone()], scale, &mut l[r.clone()]),
                };
                let pg = &self.points[index];
                for (i, j) in r.enumerate() {
                    l[j] = ((pg[i] - 1) / 2) as i8;
                }
            }
            let (sumqx, sumq2) = fit(weight, xval, l);
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

#[cfg(test)]
mod tests {
    use super::super::{iq1_s, iq2_s, iq2_xs, iq2_xxs, iq3_s, iq3_xxs};
    use super::*;

    /// The neighbour lists of `iq3xs_init_impl` / `iq2xs_init_impl` written the direct way: every
    /// grid point's (distance, index) sorted, then the points at the `nwant` smallest distances.
    fn sorted_neighbours<const N: usize>(g: &IqGrid<N>, code: usize, nwant: usize) -> Vec<u16> {
        let pos = code_levels::<N>(code, g.bits).map(|l| 2 * l as i32 + 1);
        let mut dist: Vec<(i32, u16)> =
            g.points.iter().enumerate().map(|(j, p)| (p.iter().zip(&pos).map(|(&a, &b)| (a as i32 - b).pow(2)).sum(), j as u16)).collect();
        dist.sort_unstable();
        let (mut d2, mut nhave, mut out) = (dist[0].0, 1, Vec::new());
        for (d, j) in dist {
            if d > d2 {
                if nhave == nwant {
                    break;
                }
                d2 = d;
                nhave += 1;
            }
            out.push(j);
        }
        out
    }

    fn check<const N: usize>(name: &str, g: &IqGrid<N>, kmaxq: usize, nwant: usize) {
        let mut lists = 0;
        for code in 0..1usize << (g.bits * N) {
            if g.index(code).is_some() || code_levels::<N>(code, g.bits).iter().any(|&l| l >= kmaxq) {
                continue;
            }
            let want = sorted_neighbours(g, code, nwant);
            assert_eq!(g.neighbours_of(code), want.as_slice(), "{name}: code {code}");
            let (indices, codes) = g.padded_neighbours_of(code);
            assert_eq!(indices.len(), want.len().next_multiple_of(LANES), "{name}: code {code}");
            for (k, (&j, &c)) in indices.iter().zip(codes).enumerate() {
                assert_eq!(j, want[k.min(want.len() - 1)], "{name}: code {code}, padded entry {k}");
                assert_eq!(g.index(c as usize), Some(j as usize), "{name}: code {code}, entry {k}'s code");
            }
            lists += 1;
        }
        assert!(lists > 0, "{name}");
    }

    /// The neighbour lists (found by counting distances, not sorting them all) equal the
    /// sorted derivation's, for every grid, and their padding repeats the last entry.
    #[test]
    fn neighbour_lists_equal_the_sorted_derivation() {
        check("IQ3_XXS", iq3_xxs::grid(), 8, 2);
        check("IQ3_S", iq3_s::grid(), 8, 3);
        check("IQ2_XXS", iq2_xxs::grid(), 3, 2);
        check("IQ2_XS", iq2_xs::grid(), 3, 2);
        check("IQ2_S", iq2_s::grid(), 3, 1);
        check("IQ1_S", iq1_s::grid(), 3, 3);
    }
}
