"""hf_vocab.py - the vocabulary of a Hugging Face Llama-family checkpoint folder as llama.cpp's GGUF keys hold it
(no sentencepiece / tokenizers / transformers packages: tokenizer.model is read as the protobuf it is, and
tokenizer.json / tokenizer_config.json as JSON). Used by tools/convert_hf.py.

    read_vocab(hf_dir, vocab_size) -> dict(model, pre, tokens, types, scores or None, merges or None,
                                           specials {bos|eos|unk|pad: id}, add {bos|eos: bool},
                                           add_space_prefix or None, chat_template or None)

Two kinds, as llama.cpp's convert_hf_to_gguf.py writes them:
  "llama" (SentencePiece BPE; Llama 2 / Vicuna of LLaVA-1.5): tokens, scores and types of tokenizer.model's
      pieces (ModelProto field 1: SentencePiece {1 piece, 2 score, 3 type}; the type numbers are GGUF's
      token types); added_tokens.json and tokenizer_config.json's added_tokens_decoder put their tokens at
      their ids (score -1000; special -> CONTROL, else USER_DEFINED); ids up to the model's vocab_size
      without a token are "[PAD<id>]" UNUSED (score -10000 / -1000 as the converter pads), pre "default".
      Without tokenizer.model, tokenizer.json's BPE model with byte_fallback is read instead: llama.cpp
      (LlamaHfVocab) then gives every token the score -1000, which makes its SentencePiece merge order
      "leftmost pair first" instead of the vocabulary's; here a token made by a merge gets -(rank of the
      first merge that makes it), so the highest-score pair is the lowest-rank merge, as the tokenizers
      library applies them (<0xXX> -> BYTE, model.unk_token -> UNKNOWN, multi-character tokens no merge
      makes -1e9, single characters 0). This is a deliberate difference from llama.cpp's converter.
  "gpt2" (byte-level BPE; SmolLM2 of SmolVLM): tokenizer.json's vocab and merges ("a b" strings or [a, b]
      pairs), added tokens special -> CONTROL, else USER_DEFINED (CONTROL when it looks like <|...|>),
      "[PAD<id>]" UNUSED up to vocab_size. tokenizer.ggml.pre names the pre-tokenizer llama.cpp's
      converter finds by hashing the tokenization of a test string; without the tokenizers library it is
      recognised here from tokenizer.json's pre_tokenizer instead: Sequence[Digits(individual_digits),
      ByteLevel(use_regex)] = "smollm" (SmolLM2, StarCoder), ByteLevel(use_regex) alone = "gpt-2",
      Split by Llama 3's regex + ByteLevel(use_regex false) = "llama-bpe"; any other is refused by name.
Special token ids come from tokenizer_config.json (bos_token, eos_token, unk_token, pad_token: a string or
{"content": ...}), else special_tokens_map.json, else config.json's *_token_id; add_bos_token / add_eos_token
from tokenizer_config.json, else (gpt2 kind) whether tokenizer.json's TemplateProcessing puts BOS first;
chat_template from tokenizer_config.json, else chat_template.json.
"""
import json
import os
import re
import struct

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
_LLAMA3_RX_START = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"


def _load(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _opt(hf_dir, name):
    p = os.path.join(hf_dir, name)
    return _load(p) if os.path.exists(p) else None


# ---------------------------------------------------------------- tokenizer.model (protobuf)
def _varint(b, i):
    v, shift = 0, 0
    while True:
        if i >= len(b) or shift > 63:
            raise ValueError("tokenizer.model: truncated varint")
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        if c < 0x80:
            return v, i
        shift += 7


def _fields(b):
    """(field number, wire type, value) of one protobuf message: ints for varints / fixed, bytes for
    length-delimited fields"""
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 1:
            if i + 8 > len(b):
                raise ValueError("tokenizer.model: truncated 64-bit field")
            v, i = b[i:i + 8], i + 8
        elif wt == 2:
            n, i = _varint(b, i)
            if n > len(b) - i:
                raise ValueError("tokenizer.model: field %d of %d bytes beyond the message" % (f, n))
            v, i = b[i:i + n], i + n
        elif wt == 5:
            if i + 4 > len(b):
                raise ValueError("tokenizer.model: truncated 32-bit field")
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError("tokenizer.model: wire type %d (not a SentencePiece model)" % wt)
        yield f, wt, v


def read_sentencepiece(path):
    """[(piece, score, type)] of a SentencePiece ModelProto file"""
    with open(path, "rb") as fh:
        b = fh.read()
    out = []
    for f, wt, v in _fields(b):
        if f != 1 or wt != 2:
            continue
        piece, score, typ = None, 0.0, NORMAL
        for g, gt, u in _fields(v):
            if g == 1 and gt == 2:
                piece = u.decode("utf-8")
            elif g == 2 and gt == 5:
                (score,) = struct.unpack("<f", u)
            elif g == 3 and gt == 0:
                typ = u
        if piece is None:
            raise ValueError("%s: piece %d has no text" % (path, len(out)))
        if typ not in (NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE):
            raise ValueError("%s: piece %d has type %d" % (path, len(out), typ))
        out.append((piece, score, typ))
    if not out:
        raise ValueError("%s: no pieces (not a SentencePiece model)" % path)
    return out


# ---------------------------------------------------------------- tokenizer.json
def _merges(model):
    out = []
    for m in model.get("merges", []):
        if isinstance(m, str):
            a, sep, b = m.partition(" ")
            if not sep:
                raise ValueError("tokenizer.json: merge %r is not \"a b\"" % m)
        elif isinstance(m, list) and len(m) == 2 and all(isinstance(x, str) for x in m):
            a, b = m
        else:
            raise ValueError("tokenizer.json: merge %r is neither \"a b\" nor [a, b]" % (m,))
        out.append((a, b))
    return out


def _added(tj, cfg_t):
    """{id: (text, special)} of tokenizer.json's added_tokens and tokenizer_config's added_tokens_decoder"""
    out = {}
    for a in tj.get("added_tokens", []) if tj else []:
        out[int(a["id"])] = (a["content"], bool(a.get("special")))
    for k, a in (cfg_t or {}).get("added_tokens_decoder", {}).items():
        out[int(k)] = (a["content"], bool(a.get("special")))
    return out


def _looks_special(t):
    return (t.startswith("<|") and t.endswith("|>")) or t in ("<pad>", "<mask>", "<2mass>", "[@BOS@]") or \
        (t.startswith("<｜") and t.endswith("｜>"))


def _pre_name(tj):
    pt = tj.get("pre_tokenizer") or {}
    seq = pt.get("pretokenizers", []) if pt.get("type") == "Sequence" else [pt]
    kinds = [p.get("type") for p in seq]
    if kinds == ["ByteLevel"] and seq[0].get("use_regex", True):
        return "gpt-2"
    if kinds == ["Digits", "ByteLevel"] and seq[0].get("individual_digits") and seq[1].get("use_regex", True):
        return "smollm"
    if kinds == ["Split", "ByteLevel"] and not seq[1].get("use_regex", True) and \
            seq[0].get("pattern", {}).get("Regex", "").startswith(_LLAMA3_RX_START):
        return "llama-bpe"
    raise ValueError("tokenizer.json: pre_tokenizer %s is not one this converter recognises (ByteLevel = gpt-2, "
                     "Digits + ByteLevel = smollm, Llama 3's Split + ByteLevel = llama-bpe)" % json.dumps(pt)[:200])


def _tok_text(v):
    return v.get("content") if isinstance(v, dict) else v if isinstance(v, str) else None


def _specials(hf_dir, cfg, cfg_t, lookup):
    """{kind: id} for bos / eos / unk / pad"""
    out = {}
    stm = _opt(hf_dir, "special_tokens_map.json") or {}
    for kind in ("bos", "eos", "unk", "pad"):
        for src in (cfg_t or {}, stm):
            t = _tok_text(src.get(kind + "_token"))
            if t is not None and t in lookup:
                out[kind] = lookup[t]
                break
        else:
            for c in (cfg, cfg.get("text_config") or {}):
                v = c.get(kind + "_token_id")
                if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
                    out[kind] = v
    return out


def read_vocab(hf_dir, cfg, vocab_size, kind):
    """kind "llama" (SentencePiece) or "gpt2" (byte-level BPE); cfg: config.json"""
    cfg_t = _opt(hf_dir, "tokenizer_config.json") or {}
    tj = _opt(hf_dir, "tokenizer.json")
    added = _added(tj, cfg_t)
    spm_path = os.path.join(hf_dir, "tokenizer.model")
    scores = merges = None
    pre = "default"
    if kind == "llama" and os.path.exists(spm_path):
        pieces = read_sentencepiece(spm_path)
        n = max(vocab_size, len(pieces))
        tokens = ["[PAD%d]" % i for i in range(n)]
        scores, types = [-10000.0] * n, [UNUSED] * n
        for i, (p, s, t) in enumerate(pieces):
            tokens[i], scores[i], types[i] = p, s, t
        extra = _opt(hf_dir, "added_tokens.json") or {}
        for text, i in extra.items():
            if 0 <= int(i) < n:
                tokens[int(i)], scores[int(i)], types[int(i)] = text, -1000.0, USER_DEFINED
        for i, (text, special) in ((k, v) for k, v in _added(None, cfg_t).items()):
            if 0 <= i < n:
                special = special or _looks_special(text)
                tokens[i] = text if special else text.replace("\u2581", " ")
                scores[i], types[i] = -1000.0, CONTROL if special else USER_DEFINED
    elif tj is None:
        raise FileNotFoundError("%s: neither tokenizer.model nor tokenizer.json" % hf_dir)
    else:
        model = tj.get("model") or {}
        if model.get("type") != "BPE" or not isinstance(model.get("vocab"), dict):
            raise ValueError("tokenizer.json: model type %r (a BPE vocabulary is converted)" % model.get("type"))
        bf = bool(model.get("byte_fallback"))
        if kind == "llama" and not bf:
            raise ValueError("tokenizer.json: a byte-level BPE (no byte_fallback) where a SentencePiece "
                             "vocabulary was expected")
        if kind == "gpt2" and bf:
            raise ValueError("tokenizer.json: a SentencePiece-style BPE (byte_fallback) where a byte-level BPE "
                             "vocabulary was expected")
        vocab = model["vocab"]
        ids = list(vocab.values()) + list(added)
        if not ids or min(ids) < 0:
            raise ValueError("tokenizer.json: token ids must be >= 0")
        n = max(vocab_size, max(ids) + 1)
        if n > (1 << 24):
            raise ValueError("tokenizer.json: %d tokens (at most %d)" % (n, 1 << 24))
        tokens, types = ["[PAD%d]" % i for i in range(n)], [UNUSED] * n
        for t, i in vocab.items():
            tokens[i], types[i] = t, NORMAL
        mlist = _merges(model)
        if kind == "llama":
            scores = [-1000.0] * n   # the added tokens' and pads' score, as llama.cpp writes it
            rank = {}
            for r, (a, b) in enumerate(mlist):
                rank.setdefault(a + b, r)
            for t, i in vocab.items():
                scores[i] = -float(rank[t]) if t in rank else 0.0 if len(t) == 1 else -1e9
                if re.fullmatch(r"<0x[0-9A-Fa-f]{2}>", t):
                    types[i] = BYTE
            if model.get("unk_token") in vocab:
                types[vocab[model["unk_token"]]] = UNKNOWN
        else:
            pre = _pre_name(tj)
            merges = ["%s %s" % m for m in mlist]
        for i, (text, special) in added.items():
            if types[i] == BYTE or (types[i] == UNKNOWN and kind == "llama"):
                continue
            special = special or _looks_special(text)
            tokens[i] = text if special or kind == "gpt2" else text.replace("\u2581", " ")
            types[i] = CONTROL if special else USER_DEFINED
    lookup = {}
    for i, t in enumerate(tokens):
        lookup.setdefault(t, i)
    add = {}
    for k in ("bos", "eos"):
        v = cfg_t.get("add_%s_token" % k)
        if isinstance(v, bool):
            add[k] = v
    specials = _specials(hf_dir, cfg, cfg_t, lookup)
    if "bos" not in add and kind == "gpt2" and tj is not None:
        pp = tj.get("post_processor") or {}
        single = pp.get("single") if pp.get("type") == "TemplateProcessing" else None
        first = single[0].get("SpecialToken", {}).get("id") if single else None
        add["bos"] = first is not None and lookup.get(first) == specials.get("bos")
    for k, i in specials.items():
        if not 0 <= i < len(tokens):
            raise ValueError("%s: %s token id %d outside the vocabulary of %d" % (hf_dir, k, i, len(tokens)))
    tmpl = cfg_t.get("chat_template")
    if not isinstance(tmpl, str):
        tmpl = (_opt(hf_dir, "chat_template.json") or {}).get("chat_template")
    asp = cfg_t.get("add_prefix_space")
    return dict(model=kind, pre=pre, tokens=tokens, types=types, scores=scores, merges=merges, specials=specials,
                add=add, add_space_prefix=asp if isinstance(asp, bool) else None,
                chat_template=tmpl if isinstance(tmpl, str) else None)


def add_to_gguf(w, v):
    """the tokenizer.* keys of read_vocab's result, in llama.cpp's names"""
    w.add_str("tokenizer.ggml.model", v["model"])
    w.add_str("tokenizer.ggml.pre", v["pre"])
    w.add_arr("tokenizer.ggml.tokens", "str", v["tokens"])
    if v["scores"] is not None:
        w.add_arr("tokenizer.ggml.scores", "f32", v["scores"])
    w.add_arr("tokenizer.ggml.token_type", "i32", v["types"])
    if v["merges"] is not None:
        w.add_arr("tokenizer.ggml.merges", "str", v["merges"])
    names = {"bos": "bos_token_id", "eos": "eos_token_id", "unk": "unknown_token_id", "pad": "padding_token_id"}
    for k, i in v["specials"].items():
        w.add_u32("tokenizer.ggml." + names[k], i)
    for k, b in v["add"].items():
        w.add_bool("tokenizer.ggml.add_%s_token" % k, b)
    if v["add_space_prefix"] is not None:
        w.add_bool("tokenizer.ggml.add_space_prefix", v["add_space_prefix"])
    if v["chat_template"] is not None:
        w.add_str("tokenizer.chat_template", v["chat_template"])
