//! The memory model: what the pinned llama.cpp allocates for a model at a context.
//!
//! - **Weights**: the model buffer is the tensors' data, each padded to the file's alignment (with
//!   mmap llama.cpp maps exactly that range). When offloading, the token embedding stays on the
//!   host (llama.cpp's input layer); the output layer goes to the GPU with the last layer; a tied
//!   output projection is a GPU copy of the token embedding.
//! - **KV cache** (`llama_kv_cache`): the context is padded to 256 cells; per layer one K tensor
//!   of `n_embd_k_gqa` × cells and one V tensor of `n_embd_v_gqa` × cells, rows in the KV type
//!   (block types: `row_size`). Sliding-window layers (gemma2, `llama_kv_cache_iswa`) get
//!   `pad256(min(n_ctx, n_swa + n_ubatch))` cells.
//! - **Compute buffer** (`sched_reserve`: the worst-case graph of `n_ubatch` tokens, every token
//!   an output; flash attention as llama.cpp's `-fa auto` decides it ([`flash_attn`]) or as
//!   asked; llama.cpp clamps `n_ubatch` to the requested, unpadded context). On ggml-cpu it is not a formula: `plan`
//!   rebuilds that graph for the architecture ([`super::graph`]) and replays ggml-alloc's
//!   allocator on it ([`super::galloc`]), so the peak is whichever live set is largest — the
//!   logits with the last activations, the FFN's gate/up intermediates, phi3's fused qkv and
//!   gate+up, the masks, a quantized cache's Hadamard rotations — with the allocator's reuse and
//!   fragmentation. Checked against `sched_reserve: CPU compute buffer size` for every fixture,
//!   SmolLM2 and synthetic shapes at contexts 128 to 8192 (tests/plan_memory.rs: within 0.5%).
//!   The same replay gives ggml-cuda's buffer (`CUDA0 compute buffer size` with every layer
//!   offloaded): the token lookup stays on the host, so the GPU graph starts from the scheduler's
//!   copy of its rows; buffers are 128-aligned; with a quantized cache flash attention's output
//!   allocation also holds f16 copies of the layer's K and V (`ggml_cuda_flash_attn_ext_get_alloc_size`).
//!   Checked against a CUDA build of the same llama.cpp on an H200 (configs/README.md: CodeLlama-7B,
//!   Phi-3.5-mini and Gemma-2-2B shapes, f16 and q8_0 caches: equal to 0.01 MiB).

use gguf::GgmlType;

use super::shape::ModelShape;
use super::tensors::PlannedTensor;

/// llama.cpp's context padding (`GGML_PAD(n_ctx, 256)` in `llama_context`).
pub const CTX_PAD: u64 = 256;

/// The largest context and batch llama.cpp can be asked for: `n_ctx`, `n_batch` and `n_ubatch`
/// are `uint32_t` in `llama_context_params` (llama.h).
pub const MAX_CTX: u64 = u32::MAX as u64;

/// How the model is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunParams {
    /// Requested context (tokens), before llama.cpp's padding.
    pub ctx: u64,
    /// Tokens per prompt-processing step (`n_ubatch`).
    pub ubatch: u64,
    /// Type of the K and V cache.
    pub kv_type: GgmlType,
    /// The backend that runs the layers.
    pub backend: Backend,
    /// Flash attention as asked (`-fa on/off`), `None` for llama.cpp's `auto`.
    pub flash_attn: Option<bool>,
}

/// Head sizes ggml-cuda's flash attention kernels take for K = V (`ggml_cuda_get_best_fattn_kernel`).
const CUDA_FLASH_ATTN_HEAD_SIZES: &[u64] = &[40, 64, 72, 80, 96, 112, 128, 256];

/// Whether llama.cpp runs this model with flash attention: as asked, except that a quantized V
/// cache forces it on; `auto` turns it on where the backend has a kernel for the head size
/// (ggml-cpu: all).
pub fn flash_attn(shape: &ModelShape, p: &RunParams) -> bool {
    if p.kv_type.is_quantized() {
        return true;
    }
    p.flash_attn.unwrap_or(match p.backend {
        Backend::Cpu => true,
        Backend::Cuda => shape.head_dim_k == shape.head_dim_v && CUDA_FLASH_ATTN_HEAD_SIZES.contains(&shape.head_dim_k),
    })
}

/// The ggml backend whose compute buffer is modelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// ggml-cpu (`CPU compute buffer size`).
    Cpu,
    /// ggml-cuda (`CUDA0 compute buffer size`): flash attention's f16 copies of a quantized K/V
    /// are part of its output tensor's allocation (`ggml_cuda_flash_attn_ext_get_alloc_size`).
    Cuda,
}

fn pad(x: u64, to: u64) -> u64 {
    x.div_ceil(to).saturating_mul(to)
}

/// Tokens per micro-batch: llama.cpp clamps `n_batch` to the requested context and `n_ubatch` to
/// `n_batch` (`llama_context` constructor).
pub fn n_ubatch(p: &RunParams) -> u64 {
    p.ubatch.min(p.ctx).max(1)
}

/// KV cells llama.cpp allocates for the full-attention layers at this context.
pub fn kv_cells(ctx: u64) -> u64 {
    pad(ctx.max(1), CTX_PAD)
}

/// KV cells of the sliding-window layers (`llama_kv_cache_iswa`, one sequence).
pub fn kv_cells_swa(shape: &ModelShape, p: &RunParams) -> u64 {
    let full = kv_cells(p.ctx);
    let w = shape.n_swa.unwrap_or(0);
    pad(full.min(w.saturating_add(n_ubatch(p))), CTX_PAD)
}

/// Bytes of `n` elements of `ty` laid out as rows of `row` elements (`ggml_row_size` × rows);
/// `None` when the row does not fit the type's blocks or the size overflows.
fn rows_bytes(ty: GgmlType, row: u64, n_rows: u64) -> Option<u64> {
    ty.row_size(row)?.checked_mul(n_rows)
}

/// KV cache bytes of one layer at this context; `None` when it overflows 64 bits.
pub fn kv_layer_bytes(shape: &ModelShape, p: &RunParams, il: u64) -> Option<u64> {
    let cells = if shape.is_swa(il) { kv_cells_swa(shape, p) } else { kv_cells(p.ctx) };
    rows_bytes(p.kv_type, shape.n_embd_k_gqa(), cells)?.checked_add(rows_bytes(p.kv_type, shape.n_embd_v_gqa(), cells)?)
}

/// Whether the KV type can hold this model's K and V rows. A quantized cache also needs each
/// head's width to be a multiple of its block size: llama.cpp refuses the context otherwise
/// (`llama_init_from_model`: "K cache type q8_0 with block size 32 does not divide
/// n_embd_head_k=48").
pub fn kv_type_fits(shape: &ModelShape, kv_type: GgmlType) -> bool {
    let per_head =
        !kv_type.is_quantized() || (kv_type.row_size(shape.head_dim_k).is_some() && kv_type.row_size(shape.head_dim_v).is_some());
    per_head && kv_type.row_size(shape.n_embd_k_gqa()).is_some() && kv_type.row_size(shape.n_embd_v_gqa()).is_some()
}

/// KV cache bytes of all layers; `None` when the sum overflows 64 bits.
pub fn kv_bytes(shape: &ModelShape, p: &RunParams) -> Option<u64> {
    (0..shape.n_layer).try_fold(0u64, |a, il| a.checked_add(kv_layer_bytes(shape, p, il)?))
}

/// ggml-cpu's buffer alignment (`TENSOR_ALIGNMENT`).
pub const CPU_ALIGNMENT: u64 = 32;

/// ggml-cuda's buffer alignment.
pub const CUDA_ALIGNMENT: u64 = 128;

/// Compute-buffer size (see the module doc); `None` when the graph's tensors are too large for
/// the allocator's replay to be exact: the graph's sizes saturate rather than wrap, and the
/// replayed allocator's free tail is `u64::MAX / 2` bytes, so the result is exact only while
/// every tensor of the compute buffer, aligned, fits that tail together.
pub fn compute_bytes(shape: &ModelShape, p: &RunParams) -> Option<u64> {
    let alignment = match p.backend {
        Backend::Cpu => CPU_ALIGNMENT,
        Backend::Cuda => CUDA_ALIGNMENT,
    };
    let graph = super::graph::reserve_graph(shape, p);
    let all = graph
        .tensors()
        .iter()
        .filter(|t| !t.external)
        .try_fold(0u64, |a, t| a.checked_add(t.bytes.checked_next_multiple_of(alignment)?))?;
    if all > super::galloc::MAX_BUFFER {
        return None;
    }
    Some(super::galloc::reserve_size(&graph, alignment))
}

/// Whether a GGUF tensor is one of the stacked expert tensors llama.cpp's `--cpu-moe` keeps on
/// the CPU (its pattern `\.ffn_(up|down|gate)_exps`).
pub fn is_expert_tensor(name: &str) -> bool {
    use gguf::arch::TensorKind as K;
    gguf::arch::TensorKind::parse(name).is_some_and(|(k, _, _)| matches!(k, K::FfnUpExps | K::FfnDownExps | K::FfnGateExps))
}

/// Bytes of one tensor's data in the file, padded to the alignment.
pub fn tensor_bytes(dims: &[u64], ty: GgmlType, alignment: u64) -> Option<u64> {
    let row = *dims.first()?;
    let rows = dims[1..].iter().try_fold(1u64, |a, &d| a.checked_mul(d))?;
    let bytes = ty.row_size(row)?.checked_mul(rows)?;
    Some(pad(bytes, alignment))
}

/// The weights, split the way llama.cpp places them when offloading.
#[derive(Debug, Clone, Default)]
pub struct Weights {
    /// All tensor data (llama.cpp's model buffer when run on CPU).
    pub total: u64,
    /// Per repeating layer.
    pub per_layer: Vec<u64>,
    /// The token embedding (host: llama.cpp's input layer).
    pub token_embd: u64,
    /// The output layer on the GPU: output norm + output projection (a copy of the token
    /// embedding when tied).
    pub output_layer: u64,
    /// Per repeating layer: its stacked expert tensors (`ffn_{gate,up,down}_exps`), part of
    /// `per_layer`; what llama.cpp's `--cpu-moe` / `--n-cpu-moe N` keep in host memory.
    pub experts_per_layer: Vec<u64>,
}

impl Weights {
    /// Splits typed tensors. `types[i]` is the type of `tensors[i]`. `None` when a tensor's row
    /// does not fit its type or a sum overflows 64 bits.
    pub fn new(shape: &ModelShape, tensors: &[PlannedTensor], types: &[GgmlType], alignment: u64) -> Option<Weights> {
        let n = shape.n_layer as usize;
        let mut w = Weights { per_layer: vec![0; n], experts_per_layer: vec![0; n], ..Weights::default() };
        let mut has_output = false;
        for (t, &ty) in tensors.iter().zip(types) {
            let b = tensor_bytes(&t.dims, ty, alignment)?;
            w.total = w.total.checked_add(b)?;
            match t.layer() {
                Some(il) if (il as usize) < w.per_layer.len() => {
                    w.per_layer[il as usize] = w.per_layer[il as usize].checked_add(b)?;
                    if is_expert_tensor(&t.name) {
                        w.experts_per_layer[il as usize] = w.experts_per_layer[il as usize].checked_add(b)?;
                    }
                }
                _ => {
                    if t.name == "token_embd.weight" {
                        w.token_embd = b;
                    } else {
                        has_output |= t.name == "output.weight";
                        w.output_layer = w.output_layer.checked_add(b)?;
                    }
                }
            }
        }
        if !has_output {
            w.output_layer = w.output_layer.checked_add(w.token_embd)?;
        }
        Some(w)
    }

    /// The weights with the expert tensors of the first `n` layers kept in host memory
    /// (llama.cpp's `--n-cpu-moe N`, which overrides `blk.0..N-1.ffn_(up|down|gate)_exps` to the
    /// CPU; `--cpu-moe` is every layer): the GPU's share, and the host's (those experts and the
    /// token embedding). `None` when a sum overflows.
    pub fn with_cpu_experts(&self, n: u64) -> Option<(Weights, u64)> {
        let mut gpu = self.clone();
        let mut host = self.token_embd;
        for (il, (layer, experts)) in gpu.per_layer.iter_mut().zip(gpu.experts_per_layer.iter_mut()).enumerate() {
            if (il as u64) < n {
                *layer -= *experts;
                host = host.checked_add(*experts)?;
                *experts = 0;
            }
        }
        Some((gpu, host))
    }

    /// Whether the model has stacked expert tensors.
    pub fn has_experts(&self) -> bool {
        self.experts_per_layer.iter().any(|&b| b > 0)
    }

    /// Weights on the GPU when all layers and the output layer are offloaded; `None` when the
    /// sum overflows 64 bits.
    pub fn gpu_full(&self) -> Option<u64> {
        self.per_layer.iter().try_fold(self.output_layer, |a, &b| a.checked_add(b))
    }
}

/// Memory at one context for one set of weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// Weights on the GPU (full offload).
    pub weights: u64,
    /// KV cache.
    pub kv: u64,
    /// Compute buffer.
    pub compute: u64,
}

impl Footprint {
    /// Everything on the GPU; `None` when the sum overflows 64 bits.
    pub fn total(&self) -> Option<u64> {
        self.weights.checked_add(self.kv)?.checked_add(self.compute)
    }
}

/// Full-offload footprint; `Err` names the part whose size overflows 64 bits (`"GPU weights"`,
/// `"KV cache"`, `"compute buffer"`).
pub fn footprint(shape: &ModelShape, w: &Weights, p: &RunParams) -> Result<Footprint, &'static str> {
    Ok(Footprint {
        weights: w.gpu_full().ok_or("GPU weights")?,
        kv: kv_bytes(shape, p).ok_or("KV cache")?,
        compute: compute_bytes(shape, p).ok_or("compute buffer")?,
    })
}

/// How many repeating layers fit in `budget` bytes of GPU memory (llama.cpp's `-ngl`: the last
/// layers are offloaded first; the output layer only once every layer is), with the compute
/// buffer on the GPU. Returns `n_layer + 1` when everything fits. A size over 64 bits fits no
/// budget.
pub fn gpu_layers(shape: &ModelShape, w: &Weights, p: &RunParams, budget: u64) -> u64 {
    let Some(mut used) = compute_bytes(shape, p) else {
        return 0;
    };
    if used > budget {
        return 0;
    }
    let mut n = 0;
    for il in (0..shape.n_layer).rev() {
        let kv = kv_layer_bytes(shape, p, il).unwrap_or(u64::MAX);
        let layer = w.per_layer.get(il as usize).copied().unwrap_or(0).saturating_add(kv);
        used = used.saturating_add(layer);
        if used > budget {
            return n;
        }
        n += 1;
    }
    if used.saturating_add(w.output_layer) <= budget {
        n + 1
    } else {
        n
    }
}

/// The largest context (a multiple of 256, at most the training context and llama.cpp's
/// [`MAX_CTX`]) at which the whole model fits `budget`; `None` when not even 256 tokens fit. A
/// footprint over 64 bits fits no budget.
pub fn max_ctx(shape: &ModelShape, w: &Weights, p: &RunParams, budget: u64) -> Option<u64> {
    let fits = |ctx: u64| footprint(shape, w, &RunParams { ctx, ..*p }).ok().and_then(|f| f.total()).is_some_and(|t| t <= budget);
    let top = (shape.n_ctx_train.min(MAX_CTX) / CTX_PAD).max(1);
    if !fits(CTX_PAD) {
        return None;
    }
    // Memory grows with the context: binary search over multiples of 256.
    let (mut lo, mut hi) = (1u64, top);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if fits(mid * CTX_PAD) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Some(lo * CTX_PAD)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::input::{load, ModelInput};

    fn phi35() -> ModelInput {
        load(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/configs/phi-3.5-mini-instruct"))).expect("shipped config")
    }

    fn run(ctx: u64) -> RunParams {
        RunParams { ctx, ubatch: 512, kv_type: GgmlType::F16, backend: Backend::Cuda, flash_attn: None }
    }

    #[test]
    fn max_ctx_is_the_boundary() {
        let m = phi35();
        let (s, t) = (&m.shape, &m.tensors);
        let types: Vec<GgmlType> = t.iter().map(|t| t.source_type).collect();
        let w = Weights::new(s, t, &types, 32).expect("sizes fit");
        let budget = 8 * (1u64 << 30) - 600 * (1 << 20);
        let c = max_ctx(s, &w, &run(4096), budget).expect("F16 fits at some context");
        assert!(footprint(s, &w, &run(c)).unwrap().total().unwrap() <= budget);
        assert!(footprint(s, &w, &run(c + CTX_PAD)).unwrap().total().unwrap() > budget);
    }

    #[test]
    fn cpu_moe_keeps_the_first_layers_experts_on_the_host() {
        let w =
            Weights { total: 1110, per_layer: vec![300, 300, 300], token_embd: 100, output_layer: 110, experts_per_layer: vec![200; 3] };
        let (gpu, host) = w.with_cpu_experts(2).expect("no overflow");
        assert_eq!(gpu.per_layer, [100, 100, 300]);
        assert_eq!(host, 100 + 400, "token embedding and two layers' experts");
        assert_eq!(gpu.gpu_full(), Some(110 + 500));
        let (all, host) = w.with_cpu_experts(u64::MAX).expect("no overflow");
        assert_eq!((all.gpu_full(), host), (Some(110 + 300), 700));
        assert_eq!(w.with_cpu_experts(0).map(|(g, h)| (g.per_layer, h)), Some((w.per_layer.clone(), 100)));
        assert!(is_expert_tensor("blk.7.ffn_down_exps.weight") && !is_expert_tensor("blk.7.ffn_gate_inp.weight"));
    }

    #[test]
    fn gpu_layers_is_the_boundary() {
        let m = phi35();
        let (s, t) = (&m.shape, &m.tensors);
        let types: Vec<GgmlType> = t.iter().map(|t| t.source_type).collect();
        let w = Weights::new(s, t, &types, 32).expect("sizes fit");
        let p = run(4096);
        let budget = 6 * (1u64 << 30);
        let n = gpu_layers(s, &w, &p, budget);
        assert!(n > 0 && n < s.n_layer, "{n}");
        let used = |k: u64| -> u64 {
            compute_bytes(s, &p).unwrap()
                + (s.n_layer - k..s.n_layer).map(|il| w.per_layer[il as usize] + kv_layer_bytes(s, &p, il).unwrap()).sum::<u64>()
        };
        assert!(used(n) <= budget && used(n + 1) > budget);
        // Everything fits: all layers plus the output layer.
        assert_eq!(gpu_layers(s, &w, &p, u64::MAX / 4), s.n_layer + 1);
    }

    #[test]
    fn quantized_kv_needs_whole_blocks_per_head() {
        let mut s = phi35().shape;
        assert!(kv_type_fits(&s, GgmlType::Q8_0));
        // rows of 2 × 48 = 96 elements are whole q8_0 blocks, the 48-wide heads are not
        (s.head_dim_k, s.head_dim_v, s.n_head_kv) = (48, 48, 2);
        assert!(!kv_type_fits(&s, GgmlType::Q8_0));
        assert!(kv_type_fits(&s, GgmlType::F16));
    }
}
