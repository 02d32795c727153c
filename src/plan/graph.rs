//! The worst-case graph llama.cpp reserves its compute buffer for (`llama_context::sched_reserve`:
//! one micro-batch of `n_ubatch` tokens, every token an output, a full KV cache, flash attention
//! on or off), rebuilt op by op for each architecture `plan` supports, with each tensor's size,
//! its sources, which tensors are views, inputs or outputs and which ops may work in place. The node order is
//! ggml's (`ggml_build_forward_expand`: depth-first, sources left to right, in the order llama.cpp
//! expands its roots). [`super::galloc`] replays ggml-alloc on it.
//!
//! Written from the pinned llama.cpp's graph code (`src/models/{llama,qwen2,phi2,phi3,gemma,gemma2}.cpp`,
//! `llm_graph_context::build_{inp_embd,norm,qkv,attn,ffn}`, `llama_kv_cache::cpy_k/cpy_v`) and
//! checked against its `GGML_SCHED_DEBUG=2` node listings and `sched_reserve` sizes
//! (tests/plan_memory.rs).

use gguf::GgmlType;

use super::memory::{flash_attn, kv_cells, kv_cells_swa, n_ubatch, Backend, RunParams, CUDA_ALIGNMENT};
use super::shape::ModelShape;
use gguf::arch::{FfnLayout, NormKind, QkvLayout};

/// Index of a tensor in a [`Graph`].
pub type TensorId = usize;

/// Element types of compute-buffer tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem {
    /// Activations.
    F32,
    /// Flash attention's masks.
    F16,
    /// Token ids, positions, output ids.
    I32,
    /// KV cache row indices.
    I64,
}

impl Elem {
    fn bytes(self) -> u64 {
        match self {
            Elem::F16 => 2,
            Elem::F32 | Elem::I32 => 4,
            Elem::I64 => 8,
        }
    }
}

/// One tensor of the graph.
#[derive(Debug, Clone)]
pub struct Tensor {
    /// Bytes of its data (`ggml_nbytes`), 0 for views and external tensors.
    pub bytes: u64,
    /// Shape (`ne`).
    pub ne: [u64; 4],
    /// Element type.
    pub elem: Elem,
    /// Whether its strides are the contiguous ones (false for permuted and strided views).
    pub contiguous: bool,
    /// Sources (`src[]`), in ggml's order.
    pub srcs: Vec<TensorId>,
    /// The tensor whose memory this view reads (`view_src`, always a non-view).
    pub view_src: Option<TensorId>,
    /// Memory outside the compute buffer: weights, the KV cache.
    pub external: bool,
    /// A graph output (`GGML_TENSOR_FLAG_OUTPUT`): never freed, never overwritten in place.
    pub output: bool,
    /// Its op may reuse a source's memory (`ggml_op_can_inplace`).
    pub inplace: bool,
}

impl Tensor {
    /// `ggml_are_same_layout`: same type, shape and strides.
    pub fn same_layout(&self, other: &Tensor) -> bool {
        self.elem == other.elem && self.ne == other.ne && self.contiguous && other.contiguous
    }

    fn numel(&self) -> u64 {
        self.ne.iter().fold(1u64, |a, &d| a.saturating_mul(d))
    }
}

/// A ggml compute graph, as far as allocation is concerned.
#[derive(Debug, Default)]
pub struct Graph {
    tensors: Vec<Tensor>,
    nodes: Vec<TensorId>,
    leafs: Vec<TensorId>,
    visited: Vec<bool>,
}

impl Graph {
    /// Every tensor.
    pub fn tensors(&self) -> &[Tensor] {
        &self.tensors
    }

    /// Nodes in execution order.
    pub fn nodes(&self) -> &[TensorId] {
        &self.nodes
    }

    /// Input leafs in the order ggml met them.
    pub fn leafs(&self) -> &[TensorId] {
        &self.leafs
    }

    fn push(&mut self, t: Tensor) -> TensorId {
        self.tensors.push(t);
        self.visited.push(false);
        self.tensors.len() - 1
    }

    fn new_tensor(&mut self, ne: [u64; 4], elem: Elem, srcs: Vec<TensorId>, inplace: bool) -> TensorId {
        let numel = ne.iter().fold(1u64, |a, &d| a.saturating_mul(d));
        let bytes = numel.saturating_mul(elem.bytes());
        self.push(Tensor { bytes, ne, elem, contiguous: true, srcs, view_src: None, external: false, output: false, inplace })
    }

    /// A weight or KV cache tensor (not in the compute buffer).
    fn external(&mut self) -> TensorId {
        self.push(Tensor {
            bytes: 0,
            ne: [0; 4],
            elem: Elem::F32,
            contiguous: true,
            srcs: Vec::new(),
            view_src: None,
            external: true,
            output: false,
            inplace: false,
        })
    }

    /// An input tensor (`ggml_set_input`).
    fn input(&mut self, ne: [u64; 4], elem: Elem) -> TensorId {
        self.new_tensor(ne, elem, Vec::new(), false)
    }

    /// A view of `src` with shape `ne`.
    fn view(&mut self, src: TensorId, ne: [u64; 4], contiguous: bool) -> TensorId {
        let s = &self.tensors[src];
        let root = s.view_src.unwrap_or(src);
        let (elem, external) = (s.elem, s.external);
        self.push(Tensor { bytes: 0, ne, elem, contiguous, srcs: vec![src], view_src: Some(root), external, output: false, inplace: false })
    }

    fn reshape(&mut self, src: TensorId, ne: [u64; 4]) -> TensorId {
        let contiguous = self.tensors[src].contiguous;
        self.view(src, ne, contiguous)
    }

    fn ne(&self, t: TensorId) -> [u64; 4] {
        self.tensors[t].ne
    }

    /// `ggml_mul_mat(a, x)` with `a` of `rows` output rows: f32 `[rows, x.ne1, x.ne2, x.ne3]`.
    fn mul_mat(&mut self, a: TensorId, x: TensorId, rows: u64) -> TensorId {
        let n = self.ne(x);
        self.new_tensor([rows, n[1], n[2], n[3]], Elem::F32, vec![a, x], false)
    }

    /// An element-wise op that may run in place (norms, scale, rope, add, mul, unary ops).
    fn elementwise(&mut self, srcs: Vec<TensorId>) -> TensorId {
        let n = self.ne(srcs[0]);
        self.new_tensor(n, Elem::F32, srcs, true)
    }

    /// Marks a root for `ggml_build_forward_expand`: appends its not yet visited ancestors and
    /// itself, depth first, sources left to right.
    fn expand(&mut self, root: TensorId) {
        let mut stack: Vec<(TensorId, usize)> = vec![(root, 0)];
        while let Some(&mut (t, ref mut next)) = stack.last_mut() {
            if *next == 0 && self.visited[t] {
                stack.pop();
                continue;
            }
            if let Some(&s) = self.tensors[t].srcs.get(*next) {
                *next += 1;
                if !self.visited[s] {
                    stack.push((s, 0));
                }
                continue;
            }
            stack.pop();
            if self.visited[t] {
                continue;
            }
            self.visited[t] = true;
            let tensor = &self.tensors[t];
            if tensor.srcs.is_empty() {
                if !tensor.external {
                    self.leafs.push(t);
                }
            } else {
                self.nodes.push(t);
            }
        }
    }
}

/// `build_moe_ffn` with softmax gating and a gated FFN (`llm_graph_context::build_moe_ffn`): the
/// router's logits, softmax, the top `n_used` by `argsort_top_k`, their probabilities gathered
/// (renormalised when `norm_w`), `mul_mat_id` through the stacked up, gate and down experts, the
/// outputs weighted, then one view per chosen expert and the adds that sum them. `cur` is the FFN
/// norm's output `[n_embd, nt]`; `w` stands for every weight.
fn moe_ffn(g: &mut Graph, w: TensorId, cur: TensorId, shape: &ModelShape, norm_w: bool, nt: u64) -> TensorId {
    let (e, n_expert, n_used, n_ff) = (shape.n_embd, shape.n_expert, shape.n_expert_used, shape.n_ff_exp);
    let logits = g.mul_mat(w, cur, n_expert);
    let probs = g.new_tensor([n_expert, nt, 1, 1], Elem::F32, vec![logits], true); // soft_max
    let argsort = g.new_tensor([n_expert, nt, 1, 1], Elem::I32, vec![probs], false);
    let selected = g.view(argsort, [n_used, nt, 1, 1], n_used == n_expert);
    let probs3 = g.reshape(probs, [1, n_expert, nt, 1]);
    let mut weights = g.new_tensor([1, n_used, nt, 1], Elem::F32, vec![probs3, selected], false); // get_rows
    if norm_w {
        let w2 = g.reshape(weights, [n_used, nt, 1, 1]);
        let sum = g.new_tensor([1, nt, 1, 1], Elem::F32, vec![w2], false); // sum_rows
        let sum = g.elementwise(vec![sum]); // clamp
        let div = g.elementwise(vec![w2, sum]);
        weights = g.reshape(div, [1, n_used, nt, 1]);
    }
    g.expand(weights);
    let cur3 = g.reshape(cur, [e, 1, nt, 1]);
    let up = g.new_tensor([n_ff, n_used, nt, 1], Elem::F32, vec![w, cur3, selected], false); // mul_mat_id
    let gate = g.new_tensor([n_ff, n_used, nt, 1], Elem::F32, vec![w, cur3, selected], false);
    let act = g.new_tensor([n_ff, n_used, nt, 1], Elem::F32, vec![gate, up], false); // swiglu split
    let down = g.new_tensor([e, n_used, nt, 1], Elem::F32, vec![w, act, selected], false);
    let experts = g.elementwise(vec![down, weights]);
    g.expand(experts);
    let views: Vec<TensorId> = (0..n_used)
        .map(|_| {
            let v = g.view(experts, [e, nt, 1, 1], n_used == 1);
            g.expand(v);
            v
        })
        .collect();
    let mut out = views[0];
    for &v in &views[1..] {
        out = g.elementwise(vec![out, v]);
        g.expand(out);
    }
    if n_used == 1 {
        out = g.new_tensor([e, nt, 1, 1], Elem::F32, vec![out], false); // ggml_cont
    }
    out
}

/// `llama_mul_mat_hadamard`: rotates the rows of `cur` by an `n`×`n` matrix.
fn hadamard(g: &mut Graph, cur: TensorId, rot: TensorId, n: u64) -> TensorId {
    let shape = g.ne(cur);
    let numel = g.tensors[cur].numel();
    let flat = [n, numel / n.max(1), 1, 1];
    let res = if g.tensors[cur].contiguous {
        g.reshape(cur, flat)
    } else {
        g.new_tensor(flat, Elem::F32, vec![cur], false) // ggml_cont_2d
    };
    let res = g.mul_mat(rot, res, n);
    g.reshape(res, shape)
}

/// `ggml_flash_attn_ext` and the reshape of its output to one row per token. `srcs`: permuted Q,
/// K and V views and the mask; `dims`: head sizes of K and V, head counts of Q and K/V, tokens.
fn attn_flash(g: &mut Graph, p: &RunParams, srcs: [TensorId; 4], dims: [u64; 5]) -> TensorId {
    let [hk, hv, nh, nkv, nt] = dims;
    let cells = g.ne(srcs[3])[0];
    let out = g.new_tensor([hv, nh, nt, 1], Elem::F32, srcs.to_vec(), false);
    if p.backend == Backend::Cuda && p.kv_type != GgmlType::F16 {
        // ggml_cuda_flash_attn_ext_get_alloc_size: f16 copies of the quantized K and V views
        // (all cells of this layer's cache) follow the output, each 128-aligned.
        let pad = |x: u64| x.div_ceil(CUDA_ALIGNMENT).saturating_mul(CUDA_ALIGNMENT);
        let f16_copy = |hd: u64| cells.saturating_mul(nkv).saturating_mul(hd).saturating_mul(2);
        let t = &mut g.tensors[out];
        t.bytes = pad(pad(t.bytes).saturating_add(f16_copy(hk))).saturating_add(f16_copy(hv));
    }
    g.reshape(out, [hv * nh, nt, 1, 1])
}

/// Side length of llama.cpp's K rotation (`llama_kv_cache::build_input_k_rot`): the largest power
/// of two from 64 that divides the head size.
fn k_rot_size(head_dim: u64) -> u64 {
    let mut n = 64u64;
    while head_dim.is_multiple_of(n * 2) {
        n *= 2;
    }
    n
}

/// Whether llama.cpp rotates a cache of this type with heads of this size (`attn_rot_k/v`).
fn rotates(kv_type: GgmlType, head_dim: u64) -> bool {
    kv_type.is_quantized() && head_dim > 0 && head_dim.is_multiple_of(64)
}

/// The prompt-processing graph llama.cpp reserves for this model and run.
pub fn reserve_graph(shape: &ModelShape, p: &RunParams) -> Graph {
    let arch = &shape.arch.layout;
    let g = &mut Graph::default();
    let w = g.external();
    let nt = n_ubatch(p);
    let (e, nh, nkv) = (shape.n_embd, shape.n_head, shape.n_head_kv);
    let (hk, hv) = (shape.head_dim_k, shape.head_dim_v);
    let iswa = (0..shape.n_layer).any(|il| shape.is_swa(il));

    let mut inp_l = match p.backend {
        // build_inp_embd: the token path and the (unused, never freed) embeddings input.
        Backend::Cpu => {
            let tokens = g.input([nt, 1, 1, 1], Elem::I32);
            let embd_in = g.input([e, nt, 1, 1], Elem::F32);
            let embd = g.new_tensor([e, nt, 1, 1], Elem::F32, vec![w, tokens], false); // get_rows
            g.expand(embd);
            g.expand(embd_in);
            embd
        }
        // The token embedding stays on the host: the GPU graph starts from the scheduler's copy of
        // the looked-up rows, an input of its split like the positions and masks.
        Backend::Cuda => g.input([e, nt, 1, 1], Elem::F32),
    };
    if arch.embd_scale {
        inp_l = g.elementwise(vec![inp_l]);
    }
    let pos = g.input([nt, 1, 1, 1], Elem::I32);
    // Hadamard rotations of a quantized cache: one pair of inputs per KV cache (the
    // sliding-window cache of an iSWA model has its own).
    let rot_inputs = |g: &mut Graph| {
        let k = rotates(p.kv_type, hk).then(|| {
            let n = k_rot_size(hk);
            (g.input([n, n, 1, 1], Elem::F32), n)
        });
        let v = rotates(p.kv_type, hv).then(|| (g.input([64, 64, 1, 1], Elem::F32), 64));
        (k, v)
    };
    let rot_full = rot_inputs(g);
    let rot_swa = if iswa { rot_inputs(g) } else { rot_full };
    let fa = flash_attn(shape, p);
    // Row indices into each KV cache (the sliding-window cache of an iSWA model has its own);
    // without flash attention V is cached transposed: one index per element.
    let idxs = |g: &mut Graph| {
        let k = g.input([nt, 1, 1, 1], Elem::I64);
        let v = g.input([if fa { nt } else { nt.saturating_mul(nkv * hv) }, 1, 1, 1], Elem::I64);
        (k, v)
    };
    let idxs_full = idxs(g);
    let idxs_swa = if iswa { idxs(g) } else { idxs_full };
    let mask_elem = if fa { Elem::F16 } else { Elem::F32 };
    let mask = g.input([kv_cells(p.ctx), nt, 1, 1], mask_elem);
    let mask_swa = iswa.then(|| g.input([kv_cells_swa(shape, p), nt, 1, 1], mask_elem));
    let out_ids = g.input([nt, 1, 1, 1], Elem::I32);

    // build_norm: the norm, times the weight (plus the bias of a LayerNorm). ggml-alloc runs
    // RMS_NORM in its input's memory when it can (`ggml_op_can_inplace`), NORM never: a LayerNorm
    // always takes new memory, which moves everything after it (Phi-2's last norm decides where
    // the logits go)
    let norm = |g: &mut Graph, x: TensorId| -> TensorId {
        let n = match arch.norm {
            NormKind::Rms => g.elementwise(vec![x]),
            NormKind::Layer => g.new_tensor(g.ne(x), Elem::F32, vec![x], false),
        };
        let n = g.elementwise(vec![n, w]);
        match arch.norm {
            NormKind::Rms => n,
            NormKind::Layer => g.elementwise(vec![n, w]),
        }
    };

    for il in 0..shape.n_layer {
        let last = il + 1 == shape.n_layer;
        let mut residual = inp_l;
        let mut attn_norm = norm(g, inp_l);
        // build_qkv
        let (k_rot, v_rot) = if shape.is_swa(il) { rot_swa } else { rot_full };
        let (k_idxs, v_idxs) = if shape.is_swa(il) { idxs_swa } else { idxs_full };
        let (q, k, v) = match arch.qkv {
            QkvLayout::Fused => {
                let qkv = g.mul_mat(w, attn_norm, (nh + 2 * nkv) * hk);
                let q = g.view(qkv, [hk, nh, nt, 1], false);
                let k = g.view(qkv, [hk, nkv, nt, 1], false);
                let v = g.view(qkv, [hv, nkv, nt, 1], false);
                (q, k, v)
            }
            QkvLayout::Separate { bias } => {
                let proj = |g: &mut Graph, rows: u64, hd: u64, heads: u64| {
                    let mut t = g.mul_mat(w, attn_norm, rows);
                    if bias {
                        t = g.elementwise(vec![t, w]);
                    }
                    g.reshape(t, [hd, heads, nt, 1])
                };
                let q = proj(g, nh * hk, hk, nh);
                let k = proj(g, nkv * hk, hk, nkv);
                let v = proj(g, nkv * hv, hv, nkv);
                (q, k, v)
            }
        };
        // qwen3: each of Q and K is RMS-normed per head (`build_norm`), then roped
        // (smollm3: no RoPE in every n-th block)
        let rope = arch.uses_rope(il);
        let q = if arch.qk_norm { norm(g, q) } else { q };
        let mut q = if rope { g.new_tensor([hk, nh, nt, 1], Elem::F32, vec![q, pos, w], true) } else { q };
        let k = if arch.qk_norm { norm(g, k) } else { k };
        let mut k = if rope { g.new_tensor([hk, nkv, nt, 1], Elem::F32, vec![k, pos, w], true) } else { k };
        let mut v = v;
        if arch.scale_q {
            q = g.elementwise(vec![q]);
        }
        // build_attn
        if let Some((rot, n)) = k_rot {
            q = hadamard(g, q, rot, n);
            k = hadamard(g, k, rot, n);
        }
        if let Some((rot, n)) = v_rot {
            v = hadamard(g, v, rot, n);
        }
        g.expand(q);
        if iswa {
            g.expand(k);
            g.expand(v);
        } else {
            g.expand(v);
            g.expand(k);
        }
        for (cur, idxs, width, is_v) in [(k, k_idxs, nkv * hk, false), (v, v_idxs, nkv * hv, true)] {
            let flat = if is_v && !fa && !g.tensors[cur].contiguous {
                g.new_tensor([width, nt, 1, 1], Elem::F32, vec![cur], false) // ggml_cont_2d
            } else {
                g.view(cur, [width, nt, 1, 1], g.tensors[cur].contiguous)
            };
            let set_rows = g.view(w, [width, nt, 1, 1], true);
            g.tensors[set_rows].srcs = vec![flat, idxs, w];
            g.expand(set_rows);
        }
        let m = match mask_swa {
            Some(ms) if shape.is_swa(il) => ms,
            _ => mask,
        };
        let q4 = g.view(q, [hk, nh, nt, 1], true);
        let qp = g.view(q4, [hk, nt, nh, 1], false);
        let kp = g.view(w, [hk, 0, nkv, 1], false);
        let vp = g.view(w, [hv, 0, nkv, 1], false);
        let mut cur = if fa {
            attn_flash(g, p, [qp, kp, vp, m], [hk, hv, nh, nkv, nt])
        } else {
            // KQ, (gemma2: soft-capped), softmax, KQV, merged heads made contiguous
            let mut kq = g.new_tensor([g.ne(m)[0], nt, nh, 1], Elem::F32, vec![kp, qp], false);
            if arch.attn_softcap {
                for _ in 0..3 {
                    kq = g.elementwise(vec![kq]); // scale, tanh, scale
                }
            }
            let kq = g.new_tensor(g.ne(kq), Elem::F32, vec![kq, m], true); // soft_max_ext
            let kqv = g.new_tensor([hv, nt, nh, 1], Elem::F32, vec![vp, kq], false);
            let merged = g.view(kqv, [hv, nh, nt, 1], false);
            g.new_tensor([hv * nh, nt, 1, 1], Elem::F32, vec![merged], false) // ggml_cont_2d
        };
        if let Some((rot, n)) = v_rot {
            cur = hadamard(g, cur, rot, n);
        }
        cur = g.mul_mat(w, cur, e);
        if arch.out_biases {
            cur = g.elementwise(vec![cur, w]);
        }
        if last {
            // the last layer keeps only the output rows (all of them in the reserve graph)
            cur = g.new_tensor([e, nt, 1, 1], Elem::F32, vec![cur, out_ids], false);
            residual = g.new_tensor([e, nt, 1, 1], Elem::F32, vec![residual, out_ids], false);
            if arch.parallel_block {
                attn_norm = g.new_tensor([e, nt, 1, 1], Elem::F32, vec![attn_norm, out_ids], false);
            }
        }
        if arch.post_norms {
            cur = norm(g, cur);
        }
        let ffn_in = if arch.parallel_block {
            attn_norm
        } else {
            cur = g.elementwise(vec![cur, residual]);
            residual = cur;
            norm(g, cur)
        };
        // build_ffn, or build_moe_ffn
        let n_ff = shape.n_ff;
        let mut ffn = match arch.moe {
            Some(moe) if shape.n_expert_used > 0 => moe_ffn(g, w, ffn_in, shape, moe.norm_w, nt),
            _ => dense_ffn(g, w, ffn_in, arch.ffn, n_ff, e, nt),
        };
        if arch.out_biases {
            ffn = g.elementwise(vec![ffn, w]);
        }
        if arch.post_norms {
            ffn = norm(g, ffn);
        }
        inp_l = if arch.parallel_block {
            let c = g.elementwise(vec![cur, ffn]);
            g.elementwise(vec![c, residual])
        } else if arch.ffn_residual_first {
            g.elementwise(vec![residual, ffn])
        } else {
            g.elementwise(vec![ffn, residual])
        };
    }
    let embd = norm(g, inp_l);
    g.tensors[embd].output = true;
    let mut logits = g.mul_mat(w, embd, shape.n_vocab);
    if arch.output_bias {
        logits = g.elementwise(vec![logits, w]);
    }
    if arch.logit_softcap {
        for _ in 0..3 {
            logits = g.elementwise(vec![logits]); // scale, tanh, scale
        }
    }
    g.tensors[logits].output = true;
    g.expand(logits);
    std::mem::take(g)
}

/// `build_ffn`: gate and up (or fused, or up alone), the activation and the down projection.
fn dense_ffn(g: &mut Graph, w: TensorId, ffn_in: TensorId, layout: FfnLayout, n_ff: u64, e: u64, nt: u64) -> TensorId {
    let ffn = match layout {
        FfnLayout::GateUp => {
            let up = g.mul_mat(w, ffn_in, n_ff);
            let gate = g.mul_mat(w, ffn_in, n_ff);
            g.new_tensor([n_ff, nt, 1, 1], Elem::F32, vec![gate, up], false)
            // swiglu/geglu split
        }
        FfnLayout::FusedGateUp => {
            let up = g.mul_mat(w, ffn_in, 2 * n_ff);
            g.new_tensor([n_ff, nt, 1, 1], Elem::F32, vec![up], false) // swiglu
        }
        FfnLayout::UpOnly => {
            let up = g.mul_mat(w, ffn_in, n_ff);
            let up = g.elementwise(vec![up, w]);
            g.elementwise(vec![up]) // gelu
        }
    };
    g.mul_mat(w, ffn, e)
}
