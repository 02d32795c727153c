"""Writes a synthetic GGUF (llama, gemma, gemma2, phi2 or phi3 architecture, or a mixture of experts
with the Qwen MoE block (--n-expert: router, stacked experts, optional q/k norms) under any architecture name; all-zero F16 weights, F32 norms and
biases, a SentencePiece-style vocabulary of byte tokens plus fillers) with chosen hyper-parameters, for measuring what llama.cpp
allocates for shapes no fixture has: `ggufkit plan`'s memory model is checked against llama.cpp's own
buffer reports on such files (tests/plan_memory.rs; the GPU check in the plan engineer's notes).

usage: python plan_synthetic_gguf.py OUT --n-layer N --n-embd E --n-ff F --n-head H --n-head-kv K
                                     --n-vocab V [--ctx-train C] [--arch llama|gemma|gemma2|phi2|phi3]
                                     [--head-dim D] [--n-expert E --n-expert-used U --n-ff-exp X [--qk-norm]]
"""
import argparse

import numpy as np
import gguf


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    for k in ["n-layer", "n-embd", "n-ff", "n-head", "n-head-kv", "n-vocab"]:
        ap.add_argument("--" + k, type=int, required=True)
    ap.add_argument("--ctx-train", type=int, default=16384)
    ap.add_argument("--arch", default="llama")
    ap.add_argument("--n-expert", type=int, default=0)
    ap.add_argument("--n-expert-used", type=int, default=0)
    ap.add_argument("--n-ff-exp", type=int, default=0)
    ap.add_argument("--qk-norm", action="store_true")
    ap.add_argument("--head-dim", type=int, default=0)
    ap.add_argument("--sliding-window", type=int, default=4096)
    a = ap.parse_args()
    hd = a.head_dim or a.n_embd // a.n_head

    w = gguf.GGUFWriter(a.out, a.arch)
    w.add_name("synthetic")
    w.add_context_length(a.ctx_train)
    w.add_embedding_length(a.n_embd)
    w.add_block_count(a.n_layer)
    w.add_feed_forward_length(a.n_ff)
    w.add_rope_dimension_count(hd)
    w.add_head_count(a.n_head)
    w.add_head_count_kv(a.n_head_kv)
    w.add_key_length(hd)
    w.add_value_length(hd)
    if a.arch == "gemma2":
        w.add_sliding_window(a.sliding_window)
    if a.n_expert:
        w.add_expert_count(a.n_expert)
        w.add_expert_used_count(a.n_expert_used)
        w.add_expert_feed_forward_length(a.n_ff_exp)
    if a.arch == "phi2":
        w.add_layer_norm_eps(1e-5)
    else:
        w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(1)

    # SentencePiece vocabulary: <unk>, <s>, </s>, the 256 byte tokens, then fillers.
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [2, 3, 3] + [6] * 256
    while len(tokens) < a.n_vocab:
        tokens.append(f"\u2581t{len(tokens)}")
        types.append(1)
    tokens, types = tokens[: a.n_vocab], types[: a.n_vocab]
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * len(tokens))
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)

    f16 = lambda *shape: np.zeros(shape, dtype=np.float16)  # numpy order: (rows, row length)
    ones = lambda n: np.ones((n,), dtype=np.float32)
    kv = a.n_head_kv * hd
    q = a.n_head * hd
    bias = a.arch == "phi2"
    zeros32 = lambda n: np.zeros((n,), dtype=np.float32)
    w.add_tensor("token_embd.weight", f16(a.n_vocab, a.n_embd))
    for il in range(a.n_layer):
        b = f"blk.{il}."
        w.add_tensor(b + "attn_norm.weight", ones(a.n_embd))
        if bias:
            w.add_tensor(b + "attn_norm.bias", zeros32(a.n_embd))
        if a.arch == "phi3":  # fused q/k/v and fused gate+up
            w.add_tensor(b + "attn_qkv.weight", f16(q + 2 * kv, a.n_embd))
        else:
            for name, rows in [("attn_q", q), ("attn_k", kv), ("attn_v", kv)]:
                w.add_tensor(b + name + ".weight", f16(rows, a.n_embd))
                if bias:
                    w.add_tensor(b + name + ".bias", zeros32(rows))
        if a.qk_norm:
            w.add_tensor(b + "attn_q_norm.weight", ones(hd))
            w.add_tensor(b + "attn_k_norm.weight", ones(hd))
        w.add_tensor(b + "attn_output.weight", f16(a.n_embd, q))
        if bias:
            w.add_tensor(b + "attn_output.bias", zeros32(a.n_embd))
        if a.arch == "gemma2":
            w.add_tensor(b + "post_attention_norm.weight", ones(a.n_embd))
        if a.arch != "phi2":
            w.add_tensor(b + "ffn_norm.weight", ones(a.n_embd))
        if a.n_expert:
            # the router (F32, as the converter writes it) and the stacked experts
            w.add_tensor(b + "ffn_gate_inp.weight", np.zeros((a.n_expert, a.n_embd), dtype=np.float32))
            w.add_tensor(b + "ffn_gate_exps.weight", f16(a.n_expert, a.n_ff_exp, a.n_embd))
            w.add_tensor(b + "ffn_up_exps.weight", f16(a.n_expert, a.n_ff_exp, a.n_embd))
            w.add_tensor(b + "ffn_down_exps.weight", f16(a.n_expert, a.n_embd, a.n_ff_exp))
            continue
        if a.arch not in ("phi2", "phi3"):
            w.add_tensor(b + "ffn_gate.weight", f16(a.n_ff, a.n_embd))
        up_rows = 2 * a.n_ff if a.arch == "phi3" else a.n_ff
        w.add_tensor(b + "ffn_up.weight", f16(up_rows, a.n_embd))
        if bias:
            w.add_tensor(b + "ffn_up.bias", zeros32(a.n_ff))
        w.add_tensor(b + "ffn_down.weight", f16(a.n_embd, a.n_ff))
        if bias:
            w.add_tensor(b + "ffn_down.bias", zeros32(a.n_embd))
        if a.arch == "gemma2":
            w.add_tensor(b + "post_ffw_norm.weight", ones(a.n_embd))
    w.add_tensor("output_norm.weight", ones(a.n_embd))
    if bias:
        w.add_tensor("output_norm.bias", zeros32(a.n_embd))
    if a.arch not in ("gemma", "gemma2"):  # gemma ties the output projection to the token embedding
        w.add_tensor("output.weight", f16(a.n_vocab, a.n_embd))
        if bias:
            w.add_tensor("output.bias", zeros32(a.n_vocab))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
