#!/usr/bin/env python3
"""Writes the fuzz seed corpora (fuzz/corpus/TARGET/) from the test fixtures: small files only.

Run from anywhere: python3 fuzz/make_corpus.py. Standard library only. The seeds are committed;
re-running rewrites them identically.
"""
import json
import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests/fixtures/models"
OUT = ROOT / "fuzz/corpus"


def put(target, name, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


# --- GGUF (v3): little-endian, strings u64 length + bytes -----------------------------------------
def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gval(t, v):
    if t == 8:
        return gstr(v)
    if t == 9:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(gval(et, x) for x in items)
    fmt = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}[t]
    return struct.pack("<" + fmt, v)


def gguf(kvs, tensors, align=32):
    """tensors: [(name, dims, ggml type id, data bytes)]"""
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for k, t, v in kvs:
        out += gstr(k) + struct.pack("<I", t) + gval(t, v)
    off = 0
    for name, dims, ty, data in tensors:
        out += gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", ty, off)
        off += (len(data) + align - 1) // align * align
    out += b"\0" * (-len(out) % align)
    for _, _, _, data in tensors:
        out += data + b"\0" * (-len(data) % align)
    return out


def f32s(xs):
    return b"".join(struct.pack("<f", x) for x in xs)


q8_block = struct.pack("<e", 0.5) + bytes(range(32))
put("gguf_reader", "small.gguf", gguf(
    [("general.architecture", 8, "llama"), ("llama.block_count", 4, 2), ("general.alignment", 4, 32),
     ("tokenizer.ggml.tokens", 9, (8, ["<s>", "a", "b"])), ("x.f", 6, 1.5), ("x.b", 7, True),
     ("x.nested", 9, (9, [(4, [1, 2]), (8, ["z"])]))],
    [("token_embd.weight", [4, 2], 0, f32s(range(8))), ("blk.0.attn_q.weight", [32, 1], 8, q8_block),
     ("output_norm.weight", [4], 1, struct.pack("<4e", 1, 2, 3, 4))]))
put("gguf_reader", "empty.gguf", gguf([], []))

# --- imatrix: GGUF (llama-imatrix since 2025) and legacy .dat --------------------------------------
put("imatrix", "small.imatrix.gguf", gguf(
    [("general.type", 8, "imatrix"), ("imatrix.datasets", 9, (8, ["calib.txt"])),
     ("imatrix.chunk_count", 4, 10), ("imatrix.chunk_size", 4, 512)],
    [("blk.0.attn_q.weight.in_sum2", [4, 1], 0, f32s([1, 2, 3, 4])), ("blk.0.attn_q.weight.counts", [1, 1], 0, f32s([2])),
     ("blk.0.ffn_down.weight.in_sum2", [2, 2], 0, f32s([1, 2, 3, 4])), ("blk.0.ffn_down.weight.counts", [1, 2], 0, f32s([2, 0]))]))


def dat_entry(name, ncall, vals):
    b = name.encode()
    return struct.pack("<i", len(b)) + b + struct.pack("<ii", ncall, len(vals)) + f32s(vals)


put("imatrix", "small.imatrix.dat", struct.pack("<i", 2) + dat_entry("blk.0.attn_q.weight", 4, [1, 2, 3, 4])
    + dat_entry("output.weight", 0, [0.5, 0.25]) + struct.pack("<ii", 10, 9) + b"calib.txt")

# --- safetensors: 8-byte header length, JSON header, data ------------------------------------------
def safetensors(tensors, meta=None):
    header, data = {}, b""
    if meta:
        header["__metadata__"] = meta
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


index = json.loads((FIX / "tiny-llama/model.safetensors.index.json").read_text())
names = sorted(index["weight_map"])[:4]
t = [(n, ["F16", "BF16", "F32", "F16"][i], [2, 2], bytes(range(8)) * (2 if i == 2 else 1)) for i, n in enumerate(names)]
put("safetensors_checkpoint", "single.safetensors", safetensors(t, {"format": "pt"}))
shard1, shard2 = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
idx = {"metadata": {"total_size": 40}, "weight_map": {n: (shard1 if i < 2 else shard2) for i, (n, *_) in enumerate(t)}}
sep = b"\n--shard--\n"
put("safetensors_checkpoint", "sharded", json.dumps(idx).encode() + sep + safetensors(t[:2]) + sep + safetensors(t[2:]))

# --- config.json -------------------------------------------------------------------------------
for cfg in sorted(list(FIX.glob("*/config.json")) + list((ROOT / "configs").glob("*/config.json"))):
    put("config_arch", cfg.parent.name + ".json", cfg.read_bytes())

# --- tokenizer.json: the fixtures' BPE vocabularies cut to 300 tokens ------------------------------
ARCH_BYTE = {"qwen2": 0, "llama": 1, "phi2": 2, "phi3": 3}
for model, arch in [("tiny-qwen2", "qwen2"), ("tiny-llama", "llama")]:
    p = FIX / model / "tokenizer.json"
    if not p.is_file():
        continue
    tj = json.loads(p.read_text())
    vocab = tj["model"].get("vocab")
    if isinstance(vocab, dict):
        keep = dict(sorted(vocab.items(), key=lambda kv: kv[1])[:300])
        tj["model"]["vocab"] = keep
        merges = tj["model"].get("merges", [])
        def ok(m):
            a, b = m.split(" ", 1) if isinstance(m, str) else m
            return a in keep and b in keep and a + b in keep
        tj["model"]["merges"] = [m for m in merges if ok(m)][:200]
    elif isinstance(vocab, list):
        tj["model"]["vocab"] = vocab[:300]
    tj["added_tokens"] = [a for a in tj.get("added_tokens", []) if a["id"] < 300]
    tc = FIX / model / "tokenizer_config.json"
    body = bytes([ARCH_BYTE[arch]]) + json.dumps(tj).encode()
    put("tokenizer_json", model, body)
    if tc.is_file():
        tcj = json.loads(tc.read_text())
        tcj.pop("added_tokens_decoder", None)
        put("tokenizer_json", model + "-with-config", body + b"\n--config--\n" + json.dumps(tcj).encode())

# --- tokenizer.model: the fixture's SentencePiece model (60 KB) ------------------------------------
put("tokenizer_model", "tiny-llama", bytes([0]) + (FIX / "tiny-llama/tokenizer.model").read_bytes())


# --- validate's reference log-probabilities (llama-perplexity --kl-divergence-base format) ---------
def logits_file(n_ctx, n_vocab, n_chunk):
    scored = n_ctx - 1 - n_ctx // 2
    row = 2 * ((n_vocab + 1) // 2) + 4
    out = b"_logits_" + struct.pack("<Iii", n_ctx, n_vocab, n_chunk)
    out += b"".join(struct.pack("<i", i % n_vocab) for i in range(n_ctx * n_chunk))
    for _ in range(n_chunk * scored):
        out += struct.pack("<ff", 0.001, -12.0) + b"".join(struct.pack("<H", (i * 977) % 65536) for i in range(row - 4))
    return out


put("validate_logits", "c8v6x2.kld", logits_file(8, 6, 2))
put("validate_logits", "c16v33x1.kld", logits_file(16, 33, 1))


# --- batch manifests: the README's example and the one in batch/manifest.rs's documentation ------
put("batch_manifest", "batch-example.toml", (ROOT / "docs/batch-example.toml").read_bytes())
doc = [line[4:] if line.startswith("//! ") else line[3:] for line in (ROOT / "src/batch/manifest.rs").read_text().splitlines()
       if line.startswith("//!")]
put("batch_manifest", "manifest-doc.toml", "\n".join(doc[doc.index("```toml") + 1:doc.index("```")]) + "\n")
