//! The allocation: a multiple-choice knapsack solved greedily. Each tensor offers (cost, error)
//! points, one per candidate type; only the lower convex hull of those points is walked. Every
//! tensor starts at its cheapest point; then, while the budget allows, the step with the largest
//! error decrease per byte among all tensors is taken (a step that no longer fits closes that
//! tensor: its later steps cost more and gain less per byte).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// One choice of one tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Bytes counted against the budget.
    pub cost: u64,
    /// Predicted error.
    pub error: f64,
}

/// The indices (into `options`) of the points on the lower convex hull, cheapest first, each
/// strictly better than the one before.
pub fn hull(options: &[Candidate]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..options.len()).collect();
    idx.sort_by(|&a, &b| options[a].cost.cmp(&options[b].cost).then(options[a].error.total_cmp(&options[b].error)));
    // The Pareto front: more bytes only for less error.
    let mut front: Vec<usize> = Vec::new();
    for i in idx {
        if front.last().is_none_or(|&l| options[i].error < options[l].error && options[i].cost > options[l].cost) {
            front.push(i);
        }
    }
    // Lower convex hull of the front (monotone chain).
    let mut h: Vec<usize> = Vec::new();
    for i in front {
        while h.len() >= 2 {
            let (a, b) = (options[h[h.len() - 2]], options[h[h.len() - 1]]);
            let c = options[i];
            // b is above the segment a-c: drop it.
            let cross = (b.cost as f64 - a.cost as f64) * (c.error - a.error) - (b.error - a.error) * (c.cost as f64 - a.cost as f64);
            if cross <= 0.0 {
                h.pop();
            } else {
                break;
            }
        }
        h.push(i);
    }
    h
}

/// A step up one tensor's hull, ordered by error saved per byte.
#[derive(Debug, PartialEq)]
struct Step {
    gain_per_byte: f64,
    tensor: usize,
}

impl Eq for Step {}

impl PartialOrd for Step {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Step {
    fn cmp(&self, other: &Self) -> Ordering {
        self.gain_per_byte.total_cmp(&other.gain_per_byte).then(other.tensor.cmp(&self.tensor))
    }
}

/// The result of [`allocate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    /// For each tensor, the index of its chosen option.
    pub chosen: Vec<usize>,
    /// Bytes used.
    pub cost: u64,
    /// Predicted total error.
    pub error: f64,
}

/// Chooses one option per tensor with a total cost within `budget`; `None` when even the
/// cheapest options exceed it.
pub fn allocate(tensors: &[Vec<Candidate>], budget: u64) -> Option<Allocation> {
    let hulls: Vec<Vec<usize>> = tensors.iter().map(|o| hull(o)).collect();
    let mut at = vec![0usize; tensors.len()];
    let mut cost: u64 = hulls.iter().zip(tensors).map(|(h, o)| h.first().map_or(0, |&i| o[i].cost)).sum();
    if cost > budget {
        return None;
    }
    let step = |t: usize, k: usize| -> Option<Step> {
        let (h, o) = (&hulls[t], &tensors[t]);
        let (a, b) = (o[*h.get(k)?], o[*h.get(k + 1)?]);
        let bytes = (b.cost - a.cost).max(1) as f64;
        Some(Step { gain_per_byte: (a.error - b.error) / bytes, tensor: t })
    };
    let mut heap: BinaryHeap<Step> = (0..tensors.len()).filter_map(|t| step(t, 0)).collect();
    while let Some(s) = heap.pop() {
        let t = s.tensor;
        let (h, o) = (&hulls[t], &tensors[t]);
        let extra = o[h[at[t] + 1]].cost - o[h[at[t]]].cost;
        if cost + extra > budget {
            continue;
        }
        cost += extra;
        at[t] += 1;
        if let Some(next) = step(t, at[t]) {
            heap.push(next);
        }
    }
    let chosen: Vec<usize> = hulls.iter().zip(&at).map(|(h, &k)| h.get(k).copied().unwrap_or(0)).collect();
    let error = chosen.iter().zip(tensors).map(|(&i, o)| o.get(i).map_or(0.0, |p| p.error)).sum();
    Some(Allocation { chosen, cost, error })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(cost: u64, error: f64) -> Candidate {
        Candidate { cost, error }
    }

    #[test]
    fn hull_drops_dominated_and_concave_points() {
        // (20, 9) is dominated by (10, 8); (30, 5) lies above the segment (10, 8)-(40, 1).
        let pts = [o(10, 8.0), o(20, 9.0), o(30, 5.0), o(40, 1.0), o(50, 1.0)];
        assert_eq!(hull(&pts), vec![0, 3]);
        let convex = [o(10, 8.0), o(20, 4.0), o(30, 2.0), o(40, 1.0)];
        assert_eq!(hull(&convex), vec![0, 1, 2, 3]);
    }

    #[test]
    fn greedy_spends_where_a_byte_buys_most() {
        // Tensor 0 gains 6 for 10 bytes; tensor 1 gains 1 for 10 bytes.
        let t = vec![vec![o(10, 8.0), o(20, 2.0)], vec![o(10, 3.0), o(20, 2.0)]];
        assert_eq!(allocate(&t, 20).unwrap().chosen, vec![0, 0]);
        let a = allocate(&t, 35).unwrap();
        assert_eq!((a.chosen.clone(), a.cost), (vec![1, 0], 30));
        assert_eq!(allocate(&t, 40).unwrap().chosen, vec![1, 1]);
        assert!(allocate(&t, 19).is_none());
    }
}
