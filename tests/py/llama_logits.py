"""Logits of a GGUF model in the pinned llama.cpp (llama-cpp-python bindings of the same sdist)
against transformers' reference logits.

usage: PYTHONPATH=$REF/src LLAMA_CPP_LIB_PATH=$REF/build/bin \
       python llama_logits.py MODEL.gguf reference_logits.safetensors [--override-kv KEY=TYPE:VALUE]
                              [--logits-key NAME]

Evaluates the stored `input_ids` in one batch with logits for every position (logits_all=True)
and prints one JSON line: n_tokens, n_vocab, top1_agree (positions whose argmax equals the
reference's; the reference is the tensor `logits`, or NAME), max_abs_diff, mean_abs_diff, ref_abs_max, top1_disagree_margins (the
reference's top-1 − top-2 margin at each position whose argmax differs).
"""
import json
import sys

import numpy as np
from safetensors.numpy import load_file


def main():
    model, ref_path = sys.argv[1], sys.argv[2]
    overrides = {}
    key = "logits"
    args = sys.argv[3:]
    for i, a in enumerate(args):
        if a == "--logits-key":
            key = args[i + 1]
        if a == "--override-kv":
            k, v = args[i + 1].split("=", 1)
            t, val = v.split(":", 1)
            overrides[k] = {"str": str, "int": int, "float": float, "bool": lambda s: s == "true"}[t](val)
    # llama_cpp's optional disk cache needs `diskcache`, absent from the reference venv; the
    # cache is unused here, so a placeholder module lets the package import.
    if "diskcache" not in sys.modules:
        import types
        stub = types.ModuleType("diskcache")
        stub.Cache = object
        sys.modules["diskcache"] = stub
    import llama_cpp

    ref = load_file(ref_path)
    ids = [int(x) for x in ref["input_ids"].reshape(-1)]
    ref_logits = ref[key].reshape(len(ids), -1).astype(np.float32)
    llm = llama_cpp.Llama(
        model_path=model,
        n_ctx=max(256, len(ids)),
        n_batch=len(ids),
        n_ubatch=len(ids),
        logits_all=True,
        verbose=False,
        n_threads=2,
        kv_overrides=overrides or None,
    )
    llm.eval(ids)
    ours = np.array(llm.scores[: len(ids)], dtype=np.float32)
    n_vocab = min(ours.shape[1], ref_logits.shape[1])
    ours = ours[:, :n_vocab]
    r = ref_logits[:, :n_vocab]
    diff = np.abs(ours - r)
    top2 = np.sort(r, axis=-1)[:, -2:]
    ref_margin = top2[:, 1] - top2[:, 0]
    disagree = ours.argmax(-1) != r.argmax(-1)
    print(json.dumps({
        "n_tokens": len(ids),
        "n_vocab": int(n_vocab),
        "top1_agree": int(np.sum(ours.argmax(-1) == r.argmax(-1))),
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "ref_abs_max": float(np.abs(r).max()),
        # the reference's top-1 minus top-2 logit where the argmaxes differ (near ties)
        "top1_disagree_margins": [float(m) for m in ref_margin[disagree]],
    }))


if __name__ == "__main__":
    main()
