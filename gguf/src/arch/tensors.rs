//! The tensor map, in the style of gguf-py's `constants.py` (`MODEL_TENSOR`, `TENSOR_NAMES`) and
//! `tensor_mapping.py`: [`TensorKind`] names every GGUF tensor ggufkit writes, and each
//! architecture's [`TensorRule`]s say which Hugging Face tensor becomes which kind, with its shape
//! (from the config) and the transform the pinned converter applies to its values.
//!
//! The converter (`src/arch`) maps checkpoint names with it; `validate` finds the Hugging Face
//! name of a GGUF tensor with it ([`TensorRule::hf_name`], [`gguf_name_of`]).

/// A GGUF tensor, as llama.cpp names it (`LLM_TENSOR_NAMES` in `src/llama-arch.cpp`, gguf-py's
/// `TENSOR_NAMES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorKind {
    /// `token_embd`: the token embedding.
    TokenEmbd,
    /// `output_norm`: the final norm.
    OutputNorm,
    /// `output`: the output projection (absent when tied to the embedding).
    Output,
    /// `rope_freqs`: llama3 per-frequency rope factors (computed by the converter).
    RopeFreqs,
    /// `rope_factors_long`: LongRoPE long factors (computed by the converter).
    RopeFactorsLong,
    /// `rope_factors_short`: LongRoPE short factors (computed by the converter).
    RopeFactorsShort,
    /// `blk.N.attn_norm`: the norm before attention.
    AttnNorm,
    /// `blk.N.attn_q`.
    AttnQ,
    /// `blk.N.attn_k`.
    AttnK,
    /// `blk.N.attn_v`.
    AttnV,
    /// `blk.N.attn_qkv`: fused Q, K and V.
    AttnQkv,
    /// `blk.N.attn_output`.
    AttnOut,
    /// `blk.N.attn_q_norm`: per-head RMS norm of Q (qwen3, gemma3).
    AttnQNorm,
    /// `blk.N.attn_k_norm`: per-head RMS norm of K (qwen3, gemma3).
    AttnKNorm,
    /// `blk.N.post_attention_norm`: the norm after attention (gemma2).
    AttnPostNorm,
    /// `blk.N.ffn_norm`: the norm before the FFN.
    FfnNorm,
    /// `blk.N.post_ffw_norm`: the norm after the FFN (gemma2).
    FfnPostNorm,
    /// `blk.N.ffn_gate`.
    FfnGate,
    /// `blk.N.ffn_up` (phi3: gate and up fused).
    FfnUp,
    /// `blk.N.ffn_down`.
    FfnDown,
    /// `blk.N.ffn_gate_inp`: the router of a mixture of experts (one logit per expert).
    FfnGateInp,
    /// `blk.N.ffn_gate_exps`: every expert's gate, stacked (`[n_embd, n_ff_exp, n_expert]`).
    FfnGateExps,
    /// `blk.N.ffn_up_exps`: every expert's up projection, stacked.
    FfnUpExps,
    /// `blk.N.ffn_down_exps`: every expert's down projection, stacked (`[n_ff_exp, n_embd, n_expert]`).
    FfnDownExps,
}

impl TensorKind {
    /// Every kind, for lookups by name.
    pub const ALL: &'static [TensorKind] = &[
        TensorKind::TokenEmbd,
        TensorKind::OutputNorm,
        TensorKind::Output,
        TensorKind::RopeFreqs,
        TensorKind::RopeFactorsLong,
        TensorKind::RopeFactorsShort,
        TensorKind::AttnNorm,
        TensorKind::AttnQ,
        TensorKind::AttnK,
        TensorKind::AttnV,
        TensorKind::AttnQkv,
        TensorKind::AttnOut,
        TensorKind::AttnQNorm,
        TensorKind::AttnKNorm,
        TensorKind::AttnPostNorm,
        TensorKind::FfnNorm,
        TensorKind::FfnPostNorm,
        TensorKind::FfnGate,
        TensorKind::FfnUp,
        TensorKind::FfnDown,
        TensorKind::FfnGateInp,
        TensorKind::FfnGateExps,
        TensorKind::FfnUpExps,
        TensorKind::FfnDownExps,
    ];

    /// The GGUF name without `blk.N.` and without `.weight`/`.bias`.
    pub const fn base_name(self) -> &'static str {
        match self {
            TensorKind::TokenEmbd => "token_embd",
            TensorKind::OutputNorm => "output_norm",
            TensorKind::Output => "output",
            TensorKind::RopeFreqs => "rope_freqs",
            TensorKind::RopeFactorsLong => "rope_factors_long",
            TensorKind::RopeFactorsShort => "rope_factors_short",
            TensorKind::AttnNorm => "attn_norm",
            TensorKind::AttnQ => "attn_q",
            TensorKind::AttnK => "attn_k",
            TensorKind::AttnV => "attn_v",
            TensorKind::AttnQkv => "attn_qkv",
            TensorKind::AttnOut => "attn_output",
            TensorKind::AttnQNorm => "attn_q_norm",
            TensorKind::AttnKNorm => "attn_k_norm",
            TensorKind::AttnPostNorm => "post_attention_norm",
            TensorKind::FfnNorm => "ffn_norm",
            TensorKind::FfnPostNorm => "post_ffw_norm",
            TensorKind::FfnGate => "ffn_gate",
            TensorKind::FfnUp => "ffn_up",
            TensorKind::FfnDown => "ffn_down",
            TensorKind::FfnGateInp => "ffn_gate_inp",
            TensorKind::FfnGateExps => "ffn_gate_exps",
            TensorKind::FfnUpExps => "ffn_up_exps",
            TensorKind::FfnDownExps => "ffn_down_exps",
        }
    }

    /// Whether the pinned converter writes this 2-D `.weight` as F32 whatever the output type, and
    /// llama-quantize leaves it so (`prepare_tensors`' list; `ffn_gate_inp` among llama-quantize's
    /// "expert gating tensors").
    pub const fn always_f32(self) -> bool {
        matches!(self, TensorKind::FfnGateInp)
    }

    /// Whether the tensor exists once per block (`blk.N.…`).
    pub const fn per_layer(self) -> bool {
        !matches!(
            self,
            TensorKind::TokenEmbd
                | TensorKind::OutputNorm
                | TensorKind::Output
                | TensorKind::RopeFreqs
                | TensorKind::RopeFactorsLong
                | TensorKind::RopeFactorsShort
        )
    }

    /// The GGUF name without suffix: `blk.{bid}.attn_q` for block `bid`, `token_embd` for a
    /// global tensor (whose `bid` is ignored).
    pub fn gguf_name(self, bid: Option<u64>) -> String {
        match (self.per_layer(), bid) {
            (true, Some(b)) => format!("blk.{b}.{}", self.base_name()),
            _ => self.base_name().to_string(),
        }
    }

    /// Parses a GGUF tensor name (`blk.3.attn_q.weight`): the kind, the block and the suffix
    /// (`.weight`, `.bias`).
    pub fn parse(gguf_name: &str) -> Option<(TensorKind, Option<u64>, &str)> {
        let dot = gguf_name.rfind('.')?;
        let (stem, suffix) = gguf_name.split_at(dot);
        let (bid, base) = match stem.strip_prefix("blk.") {
            Some(rest) => {
                let (b, base) = rest.split_once('.')?;
                (Some(b.parse().ok()?), base)
            }
            None => (None, stem),
        };
        let kind = TensorKind::ALL.iter().copied().find(|k| k.base_name() == base && k.per_layer() == bid.is_some())?;
        Some((kind, bid, suffix))
    }
}

/// A symbolic tensor dimension, resolved from the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    /// `vocab_size`.
    Vocab,
    /// `hidden_size`.
    Embd,
    /// `intermediate_size`.
    Ff,
    /// `2 × intermediate_size` (fused gate+up).
    Ff2,
    /// `4 × hidden_size` (phi2's MLP).
    Ff4Embd,
    /// `num_attention_heads × head_dim`.
    Q,
    /// `num_key_value_heads × head_dim`.
    Kv,
    /// `Q + 2 × Kv` (fused qkv).
    Qkv,
    /// `head_dim` (per-head Q/K norms).
    HeadDim,
    /// The number of experts (`num_experts`, `num_local_experts`).
    Experts,
    /// One expert's FFN width (`moe_intermediate_size`).
    ExpertFf,
}

/// What is done to a tensor's values between the checkpoint and the GGUF file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// Copied.
    None,
    /// llama's rotary row permutation of Q (`LlamaModel.permute(w, n_head, n_head)`).
    PermuteQ,
    /// llama's rotary row permutation of K (`LlamaModel.permute(w, n_head, n_head_kv)`).
    PermuteK,
    /// Gemma's RMSNorm stores `w - 1`: the converter writes `w + 1`.
    AddOne,
    /// One Hugging Face tensor per expert (`{xid}` in the rule's name), stacked into one tensor
    /// whose outermost dimension is the expert (`Qwen2MoeModel.modify_tensors`: `torch.stack` of
    /// experts `0..n_expert`); the rule's dims are the stacked tensor's.
    StackExperts,
}

/// When a tensor exists (for planning from the config alone; conversion goes by the checkpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Always.
    Always,
    /// Only when the embeddings are not tied (`lm_head`).
    Untied,
    /// Only with `attention_bias: true`.
    AttnBias,
    /// Only with `mlp_bias: true`.
    MlpBias,
    /// Never planned (e.g. a tensor the converter drops).
    Never,
}

/// `.weight`.
pub const W: &[&str] = &[".weight"];
/// `.weight` and `.bias`.
pub const WB: &[&str] = &[".weight", ".bias"];

/// One row of an architecture's tensor map.
#[derive(Debug, Clone, Copy)]
pub struct TensorRule {
    /// Hugging Face name without `.weight`/`.bias`, `{bid}` standing for the layer number.
    pub hf: &'static str,
    /// The GGUF tensor.
    pub kind: TensorKind,
    /// `.weight`, `.bias`, or both.
    pub suffixes: &'static [&'static str],
    /// ggml dims of the weight (`dims[0]` = row length); a bias has `[dims[1]]`.
    pub dims: &'static [Dim],
    /// The transform.
    pub transform: Transform,
    /// When the weight exists.
    pub when: When,
    /// When the bias exists (if `.bias` is among the suffixes).
    pub bias_when: When,
}

impl TensorRule {
    /// A weight without bias, copied, always present.
    pub const fn w(hf: &'static str, kind: TensorKind, dims: &'static [Dim]) -> TensorRule {
        TensorRule { hf, kind, suffixes: W, dims, transform: Transform::None, when: When::Always, bias_when: When::Never }
    }

    /// The same rule with a transform.
    pub const fn transform(self, transform: Transform) -> TensorRule {
        TensorRule { transform, ..self }
    }

    /// The same rule, present only `when`.
    pub const fn when(self, when: When) -> TensorRule {
        TensorRule { when, ..self }
    }

    /// The same rule with a `.bias`, present `bias_when`.
    pub const fn bias(self, bias_when: When) -> TensorRule {
        TensorRule { suffixes: WB, bias_when, ..self }
    }

    /// Matches a Hugging Face tensor name: the block (`Some(None)` for a global tensor) and the
    /// suffix, or `None` when it is not this rule's.
    pub fn matches<'a>(&self, hf_name: &'a str) -> Option<(Option<u64>, &'a str)> {
        self.matches_expert(hf_name).map(|(bid, _, suffix)| (bid, suffix))
    }

    /// [`TensorRule::matches`] with the expert of a [`Transform::StackExperts`] rule (`None` for
    /// other rules).
    pub fn matches_expert<'a>(&self, hf_name: &'a str) -> Option<(Option<u64>, Option<u64>, &'a str)> {
        self.suffixes.iter().find_map(|suffix| {
            let base = hf_name.strip_suffix(suffix)?;
            let (bid, xid) = match_pattern(self.hf, base)?;
            Some((bid, xid, &hf_name[base.len()..]))
        })
    }

    /// The Hugging Face name of this rule's tensor in block `bid` with `suffix` (of a stacked
    /// rule: with `{xid}` left in; see [`TensorRule::hf_expert_name`]).
    pub fn hf_name(&self, bid: Option<u64>, suffix: &str) -> String {
        match bid {
            Some(b) => format!("{}{suffix}", self.hf.replace("{bid}", &b.to_string())),
            None => format!("{}{suffix}", self.hf),
        }
    }

    /// The Hugging Face name of expert `xid`'s tensor in block `bid` of a stacked rule.
    pub fn hf_expert_name(&self, bid: Option<u64>, xid: u64, suffix: &str) -> String {
        self.hf_name(bid, suffix).replace("{xid}", &xid.to_string())
    }

    /// Whether the rule stacks one tensor per expert.
    pub fn stacked(&self) -> bool {
        self.transform == Transform::StackExperts
    }
}

/// A decimal number as a placeholder matches it: digits only, at most 9.
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.len() > 9 {
        return None;
    }
    s.parse().ok()
}

/// Matches `base` against a pattern with at most one `{bid}` and, after it, at most one `{xid}`:
/// the layer and the expert matched (`None` where the pattern has no such placeholder), or `None`
/// when it does not match.
fn match_pattern(pattern: &str, base: &str) -> Option<(Option<u64>, Option<u64>)> {
    let Some((pre, post)) = pattern.split_once("{bid}") else {
        return (pattern == base).then_some((None, None));
    };
    let rest = base.strip_prefix(pre)?;
    match post.split_once("{xid}") {
        None => Some((Some(number(rest.strip_suffix(post)?)?), None)),
        Some((mid, tail)) => {
            let rest = rest.strip_suffix(tail)?;
            // the layer is the digits before `mid`; the expert the digits after it
            let split = rest.find(mid)?;
            let (b, x) = (&rest[..split], &rest[split + mid.len()..]);
            Some((Some(number(b)?), Some(number(x)?)))
        }
    }
}

/// The rule of `rules` that maps `hf_name`, with the block and suffix it matched.
pub fn find_rule<'r, 'n>(rules: &'r [TensorRule], hf_name: &'n str) -> Option<(&'r TensorRule, Option<u64>, &'n str)> {
    rules.iter().find_map(|r| r.matches(hf_name).map(|(bid, suffix)| (r, bid, suffix)))
}

/// The GGUF name (with suffix) that `rules` give a Hugging Face tensor.
pub fn gguf_name_of(rules: &[TensorRule], hf_name: &str) -> Option<String> {
    let (rule, bid, suffix) = find_rule(rules, hf_name)?;
    Some(format!("{}{suffix}", rule.kind.gguf_name(bid)))
}

/// The Hugging Face name that `rules` give a GGUF tensor (`blk.3.attn_q.weight` →
/// `model.layers.3.self_attn.q_proj.weight`).
pub fn hf_name_of(rules: &[TensorRule], gguf_name: &str) -> Option<String> {
    let (rule, bid, suffix) = rule_of(rules, gguf_name)?;
    (!rule.stacked()).then(|| rule.hf_name(bid, suffix))
}

/// The Hugging Face name of expert `xid`'s part of a stacked GGUF tensor
/// (`blk.3.ffn_up_exps.weight`, 5 → `model.layers.3.mlp.experts.5.up_proj.weight`); `None` for a
/// tensor that is not stacked.
pub fn hf_expert_name_of(rules: &[TensorRule], gguf_name: &str, xid: u64) -> Option<String> {
    let (rule, bid, suffix) = rule_of(rules, gguf_name)?;
    rule.stacked().then(|| rule.hf_expert_name(bid, xid, suffix))
}

fn rule_of<'r, 'n>(rules: &'r [TensorRule], gguf_name: &'n str) -> Option<(&'r TensorRule, Option<u64>, &'n str)> {
    let (kind, bid, suffix) = TensorKind::parse(gguf_name)?;
    let rule = rules.iter().find(|r| r.kind == kind && r.suffixes.contains(&suffix))?;
    Some((rule, bid, suffix))
}

use Dim::*;
use TensorKind as K;

/// The global tensors of a llama-like checkpoint (`model.embed_tokens`, `model.norm`, `lm_head`
/// when untied): building blocks for the specs' tensor maps.
pub const LLAMA_GLOBAL: [TensorRule; 3] = [
    TensorRule::w("model.embed_tokens", K::TokenEmbd, &[Embd, Vocab]),
    TensorRule::w("model.norm", K::OutputNorm, &[Embd]),
    TensorRule::w("lm_head", K::Output, &[Embd, Vocab]).when(When::Untied),
];

/// A llama-like block, without biases or transforms: `input_layernorm`, `self_attn.{q,k,v,o}_proj`,
/// `post_attention_layernorm`, `mlp.{gate,up,down}_proj` (building blocks for the specs).
pub const LLAMA_BLOCK: [TensorRule; 9] = [
    TensorRule::w("model.layers.{bid}.input_layernorm", K::AttnNorm, &[Embd]),
    TensorRule::w("model.layers.{bid}.self_attn.q_proj", K::AttnQ, &[Embd, Q]),
    TensorRule::w("model.layers.{bid}.self_attn.k_proj", K::AttnK, &[Embd, Kv]),
    TensorRule::w("model.layers.{bid}.self_attn.v_proj", K::AttnV, &[Embd, Kv]),
    TensorRule::w("model.layers.{bid}.self_attn.o_proj", K::AttnOut, &[Q, Embd]),
    TensorRule::w("model.layers.{bid}.post_attention_layernorm", K::FfnNorm, &[Embd]),
    TensorRule::w("model.layers.{bid}.mlp.gate_proj", K::FfnGate, &[Embd, Ff]),
    TensorRule::w("model.layers.{bid}.mlp.up_proj", K::FfnUp, &[Embd, Ff]),
    TensorRule::w("model.layers.{bid}.mlp.down_proj", K::FfnDown, &[Ff, Embd]),
];

/// A mixture-of-experts FFN as the Qwen MoE checkpoints store it (`Qwen2MoeModel`): the router
/// `mlp.gate` and one `mlp.experts.{xid}.{down,gate,up}_proj` per expert, stacked (building blocks
/// for the specs; in the converter's order of the stacked tensors: down, gate, up).
pub const MOE_BLOCK: [TensorRule; 4] = [
    TensorRule::w("model.layers.{bid}.mlp.gate", K::FfnGateInp, &[Embd, Experts]),
    TensorRule::w("model.layers.{bid}.mlp.experts.{xid}.down_proj", K::FfnDownExps, &[ExpertFf, Embd, Experts])
        .transform(Transform::StackExperts),
    TensorRule::w("model.layers.{bid}.mlp.experts.{xid}.gate_proj", K::FfnGateExps, &[Embd, ExpertFf, Experts])
        .transform(Transform::StackExperts),
    TensorRule::w("model.layers.{bid}.mlp.experts.{xid}.up_proj", K::FfnUpExps, &[Embd, ExpertFf, Experts])
        .transform(Transform::StackExperts),
];

/// `a`, then `b`: a tensor map made of building blocks, in a constant.
pub const fn concat<const A: usize, const B: usize, const C: usize>(a: [TensorRule; A], b: [TensorRule; B]) -> [TensorRule; C] {
    assert!(A > 0 && A + B == C, "concat: C must be A + B");
    let mut out = [a[0]; C];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    while i < C {
        out[i] = b[i - A];
        i += 1;
    }
    out
}

/// Qwen3's block without its FFN, with the global tensors (`Qwen3Model`): the llama block
/// unpermuted, optional attention biases, per-head RMS norms of Q and K, the FFN norm (building
/// blocks for the specs: the dense FFN or [`MOE_BLOCK`] follows).
pub const QWEN3_ATTN: [TensorRule; 11] = [
    LLAMA_GLOBAL[0],
    LLAMA_GLOBAL[1],
    LLAMA_GLOBAL[2],
    LLAMA_BLOCK[0],
    LLAMA_BLOCK[1].bias(When::AttnBias),
    LLAMA_BLOCK[2].bias(When::AttnBias),
    LLAMA_BLOCK[3].bias(When::AttnBias),
    LLAMA_BLOCK[4].bias(When::AttnBias),
    TensorRule::w("model.layers.{bid}.self_attn.q_norm", K::AttnQNorm, &[HeadDim]),
    TensorRule::w("model.layers.{bid}.self_attn.k_norm", K::AttnKNorm, &[HeadDim]),
    LLAMA_BLOCK[5],
];

/// llama (`LlamaModel`): Q and K rows permuted; optional biases (`attention_bias`, `mlp_bias`).
pub const LLAMA: &[TensorRule] = &[
    LLAMA_GLOBAL[0],
    LLAMA_GLOBAL[1],
    LLAMA_GLOBAL[2],
    LLAMA_BLOCK[0],
    LLAMA_BLOCK[1].transform(Transform::PermuteQ).bias(When::AttnBias),
    LLAMA_BLOCK[2].transform(Transform::PermuteK).bias(When::AttnBias),
    LLAMA_BLOCK[3].bias(When::AttnBias),
    LLAMA_BLOCK[4].bias(When::AttnBias),
    LLAMA_BLOCK[5],
    LLAMA_BLOCK[6].bias(When::MlpBias),
    LLAMA_BLOCK[7].bias(When::MlpBias),
    LLAMA_BLOCK[8].bias(When::MlpBias),
];

/// qwen2 (`Qwen2Model`): the llama block unpermuted, with Q/K/V biases.
pub const QWEN2: &[TensorRule] = &[
    LLAMA_GLOBAL[0],
    LLAMA_GLOBAL[1],
    LLAMA_GLOBAL[2],
    LLAMA_BLOCK[0],
    LLAMA_BLOCK[1].bias(When::Always),
    LLAMA_BLOCK[2].bias(When::Always),
    LLAMA_BLOCK[3].bias(When::Always),
    LLAMA_BLOCK[4].bias(When::Never),
    LLAMA_BLOCK[5],
    LLAMA_BLOCK[6],
    LLAMA_BLOCK[7],
    LLAMA_BLOCK[8],
];

/// phi3 (`Phi3MiniModel`): fused `qkv_proj` and `gate_up_proj`, written as they are.
pub const PHI3: &[TensorRule] = &[
    LLAMA_GLOBAL[0],
    LLAMA_GLOBAL[1],
    LLAMA_GLOBAL[2],
    LLAMA_BLOCK[0],
    TensorRule::w("model.layers.{bid}.self_attn.qkv_proj", K::AttnQkv, &[Embd, Qkv]),
    LLAMA_BLOCK[4],
    LLAMA_BLOCK[5],
    TensorRule::w("model.layers.{bid}.mlp.gate_up_proj", K::FfnUp, &[Embd, Ff2]),
    LLAMA_BLOCK[8],
];

/// phi2 (`Phi2Model`): LayerNorm and every projection with a bias; `dense`, `fc1`, `fc2`.
pub const PHI2: &[TensorRule] = &[
    LLAMA_GLOBAL[0],
    TensorRule::w("model.final_layernorm", K::OutputNorm, &[Embd]).bias(When::Always),
    TensorRule::w("lm_head", K::Output, &[Embd, Vocab]).bias(When::Always),
    LLAMA_BLOCK[0].bias(When::Always),
    LLAMA_BLOCK[1].bias(When::Always),
    LLAMA_BLOCK[2].bias(When::Always),
    LLAMA_BLOCK[3].bias(When::Always),
    TensorRule::w("model.layers.{bid}.self_attn.dense", K::AttnOut, &[Q, Embd]).bias(When::Always),
    TensorRule::w("model.layers.{bid}.mlp.fc1", K::FfnUp, &[Embd, Ff4Embd]).bias(When::Always),
    TensorRule::w("model.layers.{bid}.mlp.fc2", K::FfnDown, &[Ff4Embd, Embd]).bias(When::Always),
];

/// gemma (`GemmaModel`): RMSNorm weights get `+1`; `lm_head` is dropped (see the spec's `skip`).
pub const GEMMA: &[TensorRule] = &[
    LLAMA_GLOBAL[0],
    LLAMA_GLOBAL[1].transform(Transform::AddOne),
    LLAMA_BLOCK[0].transform(Transform::AddOne),
    LLAMA_BLOCK[1],
    LLAMA_BLOCK[2],
    LLAMA_BLOCK[3],
    LLAMA_BLOCK[4],
    LLAMA_BLOCK[5].transform(Transform::AddOne),
    LLAMA_BLOCK[6],
    LLAMA_BLOCK[7],
    LLAMA_BLOCK[8],
];

/// gemma2 (`Gemma2Model`): gemma plus post-attention, pre- and post-FFN norms (all `+1`).
pub const GEMMA2: &[TensorRule] = &[
    LLAMA_GLOBAL[0],
    LLAMA_GLOBAL[1].transform(Transform::AddOne),
    LLAMA_BLOCK[0].transform(Transform::AddOne),
    LLAMA_BLOCK[1],
    LLAMA_BLOCK[2],
    LLAMA_BLOCK[3],
    LLAMA_BLOCK[4],
    TensorRule::w("model.layers.{bid}.post_attention_layernorm", K::AttnPostNorm, &[Embd]).transform(Transform::AddOne),
    TensorRule::w("model.layers.{bid}.pre_feedforward_layernorm", K::FfnNorm, &[Embd]).transform(Transform::AddOne),
    TensorRule::w("model.layers.{bid}.post_feedforward_layernorm", K::FfnPostNorm, &[Embd]).transform(Transform::AddOne),
    LLAMA_BLOCK[6],
    LLAMA_BLOCK[7],
    LLAMA_BLOCK[8],
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in TensorKind::ALL {
            let bid = k.per_layer().then_some(7);
            let name = format!("{}.weight", k.gguf_name(bid));
            assert_eq!(TensorKind::parse(&name), Some((*k, bid, ".weight")), "{name}");
        }
        assert_eq!(TensorKind::parse("blk.x.attn_q.weight"), None);
        assert_eq!(TensorKind::parse("attn_q.weight"), None);
        assert_eq!(TensorKind::parse("blk.0.token_embd.weight"), None);
    }

    #[test]
    fn hf_and_gguf_names_map_both_ways() {
        assert_eq!(hf_name_of(GEMMA2, "blk.2.ffn_norm.weight").as_deref(), Some("model.layers.2.pre_feedforward_layernorm.weight"));
        assert_eq!(hf_name_of(PHI2, "output_norm.bias").as_deref(), Some("model.final_layernorm.bias"));
        assert_eq!(hf_name_of(GEMMA2, "blk.0.nonsense.weight"), None);
        assert_eq!(hf_name_of(GEMMA2, "output.weight"), None, "gemma's lm_head is dropped");
        assert_eq!(hf_name_of(LLAMA, "blk.0.attn_norm.bias"), None, "norms have no bias");
        assert_eq!(gguf_name_of(GEMMA2, "model.layers.2.pre_feedforward_layernorm.weight").as_deref(), Some("blk.2.ffn_norm.weight"));
        assert_eq!(gguf_name_of(QWEN2, "lm_head.weight").as_deref(), Some("output.weight"));
        assert_eq!(gguf_name_of(PHI3, "model.layers.11.mlp.gate_up_proj.weight").as_deref(), Some("blk.11.ffn_up.weight"));
        assert_eq!(gguf_name_of(GEMMA2, "model.layers.0.rotary_emb.inv_freq"), None);
        assert_eq!(gguf_name_of(LLAMA, "model.layers.1x.self_attn.q_proj.weight"), None);
    }

    #[test]
    fn stacked_experts_map_each_expert() {
        let up = MOE_BLOCK[3];
        assert_eq!(up.matches_expert("model.layers.12.mlp.experts.107.up_proj.weight"), Some((Some(12), Some(107), ".weight")));
        assert_eq!(up.matches_expert("model.layers.12.mlp.experts.x.up_proj.weight"), None);
        assert_eq!(up.matches_expert("model.layers.12.mlp.experts.3.down_proj.weight"), None);
        assert_eq!(MOE_BLOCK[0].matches_expert("model.layers.2.mlp.gate.weight"), Some((Some(2), None, ".weight")));
        assert_eq!(
            gguf_name_of(&MOE_BLOCK, "model.layers.4.mlp.experts.7.down_proj.weight").as_deref(),
            Some("blk.4.ffn_down_exps.weight")
        );
        assert_eq!(
            hf_expert_name_of(&MOE_BLOCK, "blk.4.ffn_gate_exps.weight", 6).as_deref(),
            Some("model.layers.4.mlp.experts.6.gate_proj.weight")
        );
        assert_eq!(hf_name_of(&MOE_BLOCK, "blk.4.ffn_gate_exps.weight"), None, "a stacked tensor has one name per expert");
        assert_eq!(hf_expert_name_of(&MOE_BLOCK, "blk.4.ffn_gate_inp.weight", 0), None);
        assert_eq!(hf_name_of(&MOE_BLOCK, "blk.4.ffn_gate_inp.weight").as_deref(), Some("model.layers.4.mlp.gate.weight"));
    }
}
