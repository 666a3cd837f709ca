"""gguf_model.py - the GGUF keys of mmgpt's model files, written in one place for every Python tool that makes one
(tools/convert_hf.py, tools/make_random_gpt2.py, tools/make_random_mm.py, ...), over the format writer mmgguf.py.

    import gguf_model
    gguf_model.add_gpt2_header(w, name, n_ctx, d, d_ff, n_layer, n_head, eps, ttype)   # general.* + gpt2.*
    gguf_model.add_bpe_vocab(w, tokens, merges, eot, add_bos=False, pre="gpt-2")        # tokenizer.ggml.*
    gguf_model.add_tokenizer(w, vocab_json, merges_txt, add_bos=False)                  # from Hugging Face files
"""
import json

FILE_TYPE = {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 7}   # general.file_type of the matrix type


def add_gpt2_header(w, name, n_ctx, d, d_ff, n_layer, n_head, eps, ttype):
    """general.architecture/name/file_type and the gpt2.* hyper-parameters."""
    w.add_str("general.architecture", "gpt2")
    w.add_str("general.name", name)
    w.add_u32("gpt2.context_length", n_ctx)
    w.add_u32("gpt2.embedding_length", d)
    w.add_u32("gpt2.feed_forward_length", d_ff)
    w.add_u32("gpt2.block_count", n_layer)
    w.add_u32("gpt2.attention.head_count", n_head)
    w.add_f32("gpt2.attention.layer_norm_epsilon", eps)
    w.add_u32("general.file_type", FILE_TYPE[ttype])


def add_bpe_vocab(w, tokens, merges, eot, add_bos=False, pre="gpt-2"):
    """tokenizer.ggml.* of a byte-level BPE vocabulary: tokens (id order), merges ("a b" lines), eot = the
    <|endoftext|> id (control type, bos and eos). pre=None writes no tokenizer.ggml.pre."""
    types = [3 if i == eot else 1 for i in range(len(tokens))]
    w.add_str("tokenizer.ggml.model", "gpt2")
    if pre is not None:
        w.add_str("tokenizer.ggml.pre", pre)
    w.add_arr("tokenizer.ggml.tokens", "str", tokens)
    w.add_arr("tokenizer.ggml.token_type", "i32", types)
    w.add_arr("tokenizer.ggml.merges", "str", merges)
    w.add_u32("tokenizer.ggml.bos_token_id", eot)
    w.add_u32("tokenizer.ggml.eos_token_id", eot)
    w.add_bool("tokenizer.ggml.add_bos_token", bool(add_bos))
    return len(tokens)


def vocab_tokens(vocab):
    """Token strings in id order from a {token: id} map whose ids are 0..n-1 (ValueError otherwise)."""
    tokens = [None] * len(vocab)
    for s, i in vocab.items():
        if not 0 <= i < len(tokens):
            raise ValueError("vocabulary ids are not 0..n-1")
        tokens[i] = s
    if any(t is None for t in tokens):
        raise ValueError("vocabulary ids are not 0..n-1")
    return tokens


def add_tokenizer(w, vocab_json, merges_txt, add_bos=False):
    """tokenizer.ggml.* keys from Hugging Face vocab.json + merges.txt. Returns the vocabulary size."""
    with open(vocab_json, encoding="utf-8") as fh:
        vocab = json.load(fh)
    tokens = vocab_tokens(vocab)
    merges = []
    with open(merges_txt, encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if line.startswith("#version") or not line:
                continue
            merges.append(line)
    return add_bpe_vocab(w, tokens, merges, vocab.get("<|endoftext|>", len(tokens) - 1), add_bos)
