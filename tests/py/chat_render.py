"""Reference renders of chat templates with transformers' apply_chat_template, and the GGUF facts
(BOS text, add_bos_token) that decide what llama.cpp puts before an Ollama prompt.

    chat_render.py render   < [{"gguf": PATH, "tokenizer_dir": DIR | null, "chat_template": STR | null,
                                 "bos_token": STR, "eos_token": STR, "cases": [{"messages": [...],
                                 "add_generation_prompt": BOOL, "continue_final_message": BOOL}]}, ...]
        -> [{"bos": STR, "add_bos": BOOL, "results": [{"text": STR} | {"error": STR}]}, ...]
       With tokenizer_dir the model folder's own tokenizer (and its chat_template) renders; else a
       stand-in tokenizer carrying chat_template, bos_token and eos_token does (the template only
       sees those strings).
    chat_render.py make-gguf FIXTURE.json OUT.gguf [FIXTURE.json OUT.gguf ...]
        A metadata-only GGUF (no tensors) with each fixture's chat template and special tokens.
"""
import json
import sys

import gguf


def gguf_facts(path):
    r = gguf.GGUFReader(path)
    tokens = r.get_field("tokenizer.ggml.tokens").contents()
    bos = ""
    f = r.get_field("tokenizer.ggml.bos_token_id")
    if f is not None:
        bos = tokens[int(f.contents())]
    f = r.get_field("tokenizer.ggml.add_bos_token")
    add_bos = bool(f.contents()) if f is not None else False
    return bos, add_bos


def tokenizer_for(req):
    from transformers import AutoTokenizer, PreTrainedTokenizerFast
    if req.get("tokenizer_dir"):
        return AutoTokenizer.from_pretrained(req["tokenizer_dir"])
    from tokenizers import Tokenizer, models
    vocab = {"<unk>": 0}
    for t in (req["bos_token"], req["eos_token"]):
        if t and t not in vocab:
            vocab[t] = len(vocab)
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="<unk>")),
                                  unk_token="<unk>",
                                  bos_token=req["bos_token"] or None, eos_token=req["eos_token"] or None)
    tok.chat_template = req["chat_template"]
    return tok


def render(req):
    tok = tokenizer_for(req)
    results = []
    for case in req["cases"]:
        try:
            text = tok.apply_chat_template(case["messages"], tokenize=False,
                                           add_generation_prompt=case["add_generation_prompt"],
                                           continue_final_message=case["continue_final_message"])
            results.append({"text": text})
        except Exception as e:  # the template's raise_exception, e.g. "System role not supported"
            results.append({"error": f"{type(e).__name__}: {e}"})
    bos, add_bos = gguf_facts(req["gguf"])
    return {"bos": bos, "add_bos": add_bos, "results": results}


def make_gguf(fixture_path, out):
    fx = json.load(open(fixture_path, encoding="utf-8"))
    tokens, types = ["<unk>"], [gguf.TokenType.UNKNOWN]
    w = gguf.GGUFWriter(out, "llama")
    for key, t in (("bos", fx["bos_token"]), ("eos", fx["eos_token"])):
        if not t:
            continue
        if t not in tokens:
            tokens.append(t)
            types.append(gguf.TokenType.CONTROL)
        getattr(w, f"add_{key}_token_id")(tokens.index(t))
    w.add_context_length(4096)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_add_bos_token(bool(fx["add_bos_token"]))
    w.add_chat_template(fx["chat_template"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    if sys.argv[1] == "render":
        json.dump([render(r) for r in json.load(sys.stdin)], sys.stdout, ensure_ascii=False)
    elif sys.argv[1] == "make-gguf":
        for fixture, out in zip(sys.argv[2::2], sys.argv[3::2]):
            make_gguf(fixture, out)
    else:
        sys.exit(f"unknown mode {sys.argv[1]}")
