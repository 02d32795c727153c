//! ggml-alloc's graph allocator (`ggml_gallocr`), replayed on a [`Graph`]: how large the compute
//! buffer of one backend must be for the graph. Written from ggml 0.25.3's algorithm:
//!
//! - the graph's input leafs are allocated first, in leaf order;
//! - nodes are visited in graph order; a node whose op can work in place takes over the memory of
//!   a source that it alone still reads, that no view reads, and that has the same layout (views
//!   own no memory, so a node reading a view never works in place);
//! - a tensor is freed once its last reader (and the last reader of its views) ran; graph outputs
//!   are never freed;
//! - the allocator keeps a sorted free list: best fit among the free blocks before the tail, else
//!   the tail (which grows the buffer); freed ranges merge with their neighbours.
//!
//! The buffer size is the largest end offset ever handed out.

use super::graph::{Graph, TensorId};

/// The free tail of the replayed buffer: offsets and sizes up to this are exact (the arithmetic
/// saturates beyond it). `memory::compute_bytes` refuses graphs whose tensors could go past it.
pub const MAX_BUFFER: u64 = u64::MAX / 2;

/// Free ranges of one buffer and its high-water mark (`ggml_dyn_tallocr` with one chunk).
#[derive(Debug)]
struct DynAllocator {
    alignment: u64,
    /// Sorted by offset; the last block is the unbounded tail.
    free: Vec<(u64, u64)>,
    max_size: u64,
}

impl DynAllocator {
    fn new(alignment: u64) -> DynAllocator {
        DynAllocator { alignment: alignment.max(1), free: vec![(0, MAX_BUFFER)], max_size: 0 }
    }

    fn aligned(&self, size: u64) -> u64 {
        size.div_ceil(self.alignment).saturating_mul(self.alignment)
    }

    fn alloc(&mut self, size: u64) -> u64 {
        let size = self.aligned(size);
        // Best fit among the blocks before the tail (the last equal-sized block wins, as in ggml).
        let mut best: Option<usize> = None;
        let n = self.free.len();
        for (i, &(_, bsize)) in self.free.iter().enumerate().take(n.saturating_sub(1)) {
            if bsize >= size && best.is_none_or(|b| bsize <= self.free[b].1) {
                best = Some(i);
            }
        }
        let i = match best {
            Some(i) => i,
            None => {
                if self.free.is_empty() {
                    // Cannot happen (the tail is never used up); start a new tail past the end.
                    self.free.push((self.max_size, MAX_BUFFER));
                }
                self.free.len() - 1
            }
        };
        let offset = self.free[i].0;
        self.free[i].0 = offset.saturating_add(size);
        self.free[i].1 = self.free[i].1.saturating_sub(size);
        if self.free[i].1 == 0 {
            self.free.remove(i);
        }
        self.max_size = self.max_size.max(offset.saturating_add(size));
        offset
    }

    fn free_bytes(&mut self, offset: u64, size: u64) {
        let size = self.aligned(size);
        for i in 0..self.free.len() {
            let (boff, bsize) = self.free[i];
            if boff.saturating_add(bsize) == offset {
                self.free[i].1 = bsize.saturating_add(size);
                if i + 1 < self.free.len() && self.free[i].0.saturating_add(self.free[i].1) == self.free[i + 1].0 {
                    self.free[i].1 = self.free[i].1.saturating_add(self.free[i + 1].1);
                    self.free.remove(i + 1);
                }
                return;
            }
            if offset.saturating_add(size) == boff {
                self.free[i].0 = offset;
                self.free[i].1 = bsize.saturating_add(size);
                if i > 0 && self.free[i - 1].0.saturating_add(self.free[i - 1].1) == self.free[i].0 {
                    self.free[i - 1].1 = self.free[i - 1].1.saturating_add(self.free[i].1);
                    self.free.remove(i);
                }
                return;
            }
        }
        let pos = self.free.iter().position(|&(o, _)| o > offset).unwrap_or(self.free.len());
        self.free.insert(pos, (offset, size));
    }
}

/// Per-tensor bookkeeping (`hash_node`).
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    n_children: u32,
    n_views: u32,
    /// Holds memory of this buffer (ggml's `allocated`: false again once freed or handed over).
    allocated: bool,
    offset: u64,
}

/// Bytes of compute buffer ggml-alloc reserves for `graph` with buffers aligned to `alignment`.
pub fn reserve_size(graph: &Graph, alignment: u64) -> u64 {
    let tensors = graph.tensors();
    let mut slots = vec![Slot::default(); tensors.len()];
    let mut alloc = DynAllocator::new(alignment);

    let allocate = |id: TensorId, slots: &mut Vec<Slot>, alloc: &mut DynAllocator| {
        let t = &tensors[id];
        if t.external || t.view_src.is_some() || slots[id].allocated {
            return;
        }
        slots[id].allocated = true;
        if t.inplace {
            for &p in &t.srcs {
                let pt = &tensors[p];
                let pslot = slots[p];
                // Views are never allocated themselves, so they never hand their memory over.
                if !pslot.allocated || pt.output || !pt.same_layout(t) {
                    continue;
                }
                if pslot.n_children == 1 && pslot.n_views == 0 {
                    slots[id].offset = pslot.offset;
                    slots[p].allocated = false;
                    free_extra(alloc, pslot.offset, pt.bytes, t.bytes);
                    return;
                }
            }
        }
        slots[id].offset = alloc.alloc(t.bytes);
    };

    for &leaf in graph.leafs() {
        allocate(leaf, &mut slots, &mut alloc);
    }
    for &node in graph.nodes() {
        let t = &tensors[node];
        if let Some(vs) = t.view_src {
            slots[vs].n_views += 1;
        }
        for &s in &t.srcs {
            slots[s].n_children += 1;
        }
    }
    for &node in graph.nodes() {
        allocate(node, &mut slots, &mut alloc);
        for &p in &tensors[node].srcs {
            slots[p].n_children = slots[p].n_children.saturating_sub(1);
            if slots[p].n_children != 0 || slots[p].n_views != 0 {
                continue;
            }
            match tensors[p].view_src {
                Some(vs) => {
                    slots[vs].n_views = slots[vs].n_views.saturating_sub(1);
                    if slots[vs].n_views == 0 && slots[vs].n_children == 0 && slots[vs].allocated {
                        free_node(&tensors[vs], &mut slots[vs], &mut alloc);
                    }
                }
                None => {
                    if slots[p].allocated {
                        free_node(&tensors[p], &mut slots[p], &mut alloc);
                    }
                }
            }
        }
    }
    alloc.max_size
}

fn free_node(t: &super::graph::Tensor, slot: &mut Slot, alloc: &mut DynAllocator) {
    if t.output {
        return;
    }
    alloc.free_bytes(slot.offset, t.bytes);
    slot.allocated = false;
}

/// An in-place node smaller than its parent gives the parent's tail back.
fn free_extra(alloc: &mut DynAllocator, offset: u64, parent_bytes: u64, node_bytes: u64) {
    let (p, n) = (alloc.aligned(parent_bytes), alloc.aligned(node_bytes));
    if p > n {
        alloc.free_bytes(offset.saturating_add(n), p - n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_fit_reuses_holes_and_merges() {
        let mut a = DynAllocator::new(32);
        let x = a.alloc(100); // 128
        let y = a.alloc(64);
        let z = a.alloc(32);
        assert_eq!((x, y, z), (0, 128, 192));
        a.free_bytes(x, 100);
        a.free_bytes(y, 64);
        // merged hole of 192 at 0 takes a 150-byte tensor without growing the buffer
        assert_eq!(a.alloc(150), 0);
        assert_eq!(a.max_size, 224);
        // nothing fits before the tail: the buffer grows
        assert_eq!(a.alloc(64), 224);
        assert_eq!(a.max_size, 288);
    }
}
