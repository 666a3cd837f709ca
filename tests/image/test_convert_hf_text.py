"""img_convert_hf_text: tools/convert_hf.py -o on synthetic Hugging Face checkpoints of the Llama-family text
models of LLaVA-1.5 and SmolVLM, with their real tensor names (language_model.model.layers.N.* /
model.text_model.layers.N.*, beside vision tensors the converter must leave out), config.json text_config
fields and tokenizer files, at small sizes, written as sharded safetensors (F32 / F16 / BF16 tensors):

  LLaVA-1.5  Vicuna / Llama 2: d 64, 2 layers, 4 heads (no GQA), untied lm_head, rope_theta 1e4; a
             SentencePiece BPE vocabulary written here as tokenizer.model (ModelProto protobuf: <unk> <s> </s>,
             256 <0xXX> byte pieces, pieces learnt by BPE on a small text with score -rank, single characters
             last), <image> and <pad> added at the ids after it (added_tokens.json, tokenizer_config's
             added_tokens_decoder), vocab_size padded beyond (rows "[PADn]"), add_bos_token true.
             Variant: the same vocabulary as tokenizer.json only (BPE with byte_fallback, merges for every
             split of every piece ordered by the piece's score, as the tokenizers library's SentencePiece
             conversion writes them).
  SmolVLM    SmolLM2: d 96, 2 layers, 6 heads / 2 KV heads, tied embeddings, rope_theta 1e5; a byte-level
             BPE tokenizer.json (Digits(individual) + ByteLevel pre-tokenizer, SmolVLM's special tokens as
             added_tokens), chat_template.json, vocab_size padded beyond.

Checks (each against an independent reference):
  * `mmgpt tokenize` on the converted file == tests/tokenizer/ref_llama_tok.py (SentencePiece as llama.cpp
    runs it on the pieces and scores written here; byte-level BPE with the "smollm" pre-tokenizer) and, for
    the tokenizer.json variant, == a Hugging Face BPE merge loop written here (lowest-rank merge first, byte
    fallback), on texts with spaces, newlines, digits, punctuation and characters outside the vocabulary;
  * `mmgpt logits` (every position, BOS first where add_bos_token says so) == tests/transformer/ref_llama.py
    (PyTorch, float64, Hugging Face layout: rotate_half, no permutation) on the checkpoint's stored weights:
    --type f32 1e-4 relative (max |diff| / max |ref|), f16 3e-3, q8_0 5e-2 (weight rounding);
  * the keys llama.cpp's converter writes (architecture, tokenizer model / pre, scores, token types,
    special ids, add_bos, chat template, no vision tensors) and refusals with a message (unknown
    pre-tokenizer, a tensor of the wrong shape).
"""
import json
import os
import struct
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
for p in (HERE, os.path.join(ROOT, "tools"), os.path.join(ROOT, "tests", "tokenizer"),
          os.path.join(ROOT, "tests", "transformer")):
    sys.path.insert(0, p)
import make_random_llama as mrl  # noqa: E402
import mmgguf  # noqa: E402
import ref_llama  # noqa: E402
from ref_hf_vision import stored  # noqa: E402
import ref_llama_tok as RT  # noqa: E402
from convert_hf import write_safetensors  # noqa: E402

BIN = os.environ.get("MMGPT_BIN")
TMP = os.path.join(os.environ.get("MMGPT_TEST_TMP", "/tmp"), "img_convert_hf_text")
CONVERT = os.path.join(ROOT, "tools", "convert_hf.py")
if not BIN:
    print("MMGPT_BIN not set")
    sys.exit(77)
quick = os.environ.get("MMGPT_SANITIZE_RUN") == "1"
fails = []
TEXTS = ["the quick brown fox jumps over the lazy dog", "Hello, World!  two  spaces\nand a new line",
         "what is 12345 + 678? the sky is blue.", "caf\u00e9 \u2615 \u65e5\u672c tab\there", " leading space"]


def check(label, ok, msg=""):
    print("%s %-62s %s" % ("ok  " if ok else "FAIL", label, msg))
    sys.stdout.flush()
    if not ok:
        fails.append(label)


def write_folder(folder, files, tensors):
    """tensors {name: (dtype, array)} -> two shards + index; files {name: json object or bytes}"""
    os.makedirs(folder, exist_ok=True)
    for f in os.listdir(folder):
        os.remove(os.path.join(folder, f))
    names = sorted(tensors)
    wm = {}
    for k, part in enumerate((names[::2], names[1::2])):
        sh = "model-%05d-of-00002.safetensors" % (k + 1)
        write_safetensors(os.path.join(folder, sh), {n: tensors[n] for n in part})
        wm.update({n: sh for n in part})
    files = dict(files, **{"model.safetensors.index.json": {"metadata": {}, "weight_map": wm}})
    for name, v in files.items():
        with open(os.path.join(folder, name), "wb") as fh:
            fh.write(v if isinstance(v, bytes) else json.dumps(v).encode())


def mmgpt(*args):
    return subprocess.run([BIN] + list(args), capture_output=True, timeout=300)


def convert(folder, out, *args):
    return subprocess.run([sys.executable, CONVERT, folder, "-o", out] + list(args), capture_output=True,
                          text=True, timeout=300)


def text_weights(cfg, seed, prefix, lm_head):
    """HF-layout random weights (ref names) and the checkpoint's tensors {name: (dtype, array)} under prefix"""
    W = mrl.random_weights(cfg, seed)
    ten, held = {}, {}
    for n, a in W.items():
        dt = "F16" if "q_proj" in n or "gate_proj" in n else "BF16" if "down_proj" in n else "F32"
        name = (lm_head if n == "lm_head.weight" else prefix + n[len("model."):])
        ten[name] = (dt, a)
        held[n] = stored(dt, a)
    return ten, held


# ---------------------------------------------------------------- a SentencePiece BPE vocabulary
SP = "\u2581"
CORPUS = mrl.CORPUS + "Hello World, what is the answer? 0 1 2 3 4 5 6 7 8 9 . , ! ?\n"


def spm_vocab(n_merges):
    """[(piece, score, type)]: <unk> <s> </s>, <0x00>..<0xFF>, merged pieces (score -rank), characters"""
    words = {}
    for w in CORPUS.replace("\n", " ").split(" "):
        if w:
            t = tuple(SP + w)
            words[t] = words.get(t, 0) + 1
    chars = sorted({c for w in words for c in w})
    pieces, seen = [], set(chars)
    while len(pieces) < n_merges:
        cnt = {}
        for w, c in words.items():
            for p in zip(w, w[1:]):
                cnt[p] = cnt.get(p, 0) + c
        if not cnt:
            break
        best = max(cnt, key=lambda p: (cnt[p], p))
        if best[0] + best[1] not in seen:
            seen.add(best[0] + best[1])
            pieces.append(best[0] + best[1])
        words = {mrl.merge_word(w, *best): c for w, c in words.items()}
    out = [("<unk>", 0.0, RT.UNKNOWN), ("<s>", 0.0, RT.CONTROL), ("</s>", 0.0, RT.CONTROL)]
    out += [("<0x%02X>" % b, 0.0, RT.BYTE) for b in range(256)]
    out += [(p, -float(r), RT.NORMAL) for r, p in enumerate(pieces)]
    out += [(c, -float(len(pieces) + i), RT.NORMAL) for i, c in enumerate(chars)]
    return out


def pb_varint(v):
    b = bytearray()
    while True:
        c = v & 0x7F
        v >>= 7
        b.append(c | (0x80 if v else 0))
        if not v:
            return bytes(b)


def pb_field(f, wt, payload):
    if wt == 2:
        return pb_varint(f << 3 | 2) + pb_varint(len(payload)) + payload
    if wt == 5:
        return pb_varint(f << 3 | 5) + payload
    return pb_varint(f << 3) + pb_varint(payload)


def tokenizer_model(pieces):
    """a SentencePiece ModelProto: pieces (field 1), trainer_spec {model_type BPE} (2), normalizer_spec (3)"""
    out = b""
    for p, s, t in pieces:
        out += pb_field(1, 2, pb_field(1, 2, p.encode()) + pb_field(2, 5, struct.pack("<f", s)) +
                        (pb_field(3, 0, t) if t != RT.NORMAL else b""))
    out += pb_field(2, 2, pb_field(3, 0, 2) + pb_field(35, 0, 1))       # model_type BPE, byte_fallback
    out += pb_field(3, 2, pb_field(1, 2, b"identity") + pb_field(3, 0, 1))  # add_dummy_prefix
    return out


def spm_tokenizer_json(pieces):
    """tokenizer.json as the tokenizers library converts a SentencePiece BPE model: every split (a, b) of
    every piece into two pieces is a merge, merges ordered by the piece's score (then a's, b's)"""
    vocab = {p: i for i, (p, _, _) in enumerate(pieces)}
    score = {p: s for p, s, _ in pieces}
    merges = []
    for p, s, t in pieces:
        if t != RT.NORMAL:
            continue
        for k in range(1, len(p)):
            a, b = p[:k], p[k:]
            if a in vocab and b in vocab and pieces[vocab[a]][2] == RT.NORMAL and pieces[vocab[b]][2] == RT.NORMAL:
                merges.append((-s, -score[a], -score[b], a, b))
    merges.sort()
    return {"version": "1.0", "added_tokens": [{"id": i, "content": p, "special": True, "normalized": False}
                                               for i, (p, _, _) in enumerate(pieces[:3])],
            "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": SP},
                                                                {"type": "Replace", "pattern": {"String": " "},
                                                                 "content": SP}]},
            "pre_tokenizer": None,
            "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": SP},
                                                           "content": " "}, {"type": "ByteFallback"}]},
            "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "fuse_unk": True, "byte_fallback": True,
                      "vocab": vocab, "merges": ["%s %s" % (a, b) for _, _, _, a, b in merges]}}


def hf_bpe_byte_fallback(tj, text):
    """the tokenizers library's BPE on a SentencePiece-style tokenizer.json (written from its model: the
    normalizer's prepend + replace, characters, repeatedly the lowest-rank merge among adjacent pairs, unknown
    pieces as <0xXX> byte tokens)"""
    m = tj["model"]
    vocab = m["vocab"]
    rank = {tuple(s.split(" ", 1)): r for r, s in enumerate(m["merges"])}
    sym = list(SP + text.replace(" ", SP))
    while len(sym) > 1:
        best = min(range(len(sym) - 1), key=lambda i: (rank.get((sym[i], sym[i + 1]), 1 << 30), i))
        if (sym[best], sym[best + 1]) not in rank:
            break
        sym[best:best + 2] = [sym[best] + sym[best + 1]]
    ids = []
    for s in sym:
        ids += [vocab[s]] if s in vocab else [vocab["<0x%02X>" % b] for b in s.encode()]
    return ids


def mm_tokenize(path, text):
    r = mmgpt("tokenize", "-m", path, text)
    if r.returncode != 0:
        return None, r.stderr.decode(errors="replace").strip()
    return [int(x) for x in r.stdout.split()], ""


def mm_logits(path, text):
    out = os.path.join(TMP, "logits.npy")
    r = mmgpt("logits", "-m", path, "-p", text, "-o", out, "-t", "2")
    if r.returncode != 0:
        return None, r.stderr.decode(errors="replace").strip()
    return np.load(out), ""


def rel(a, ref):
    return float(np.abs(np.asarray(a, np.float64) - ref).max() / np.abs(ref).max()) if a.shape == ref.shape \
        else float("inf")


def check_model(label, folder, cfg, held, ref_tok, bos, kv_want):
    """convert at each type; tokenization and logits against the references"""
    for tt in (("f32", "f16", "q8_0") if not quick else ("f32",)):
        out = os.path.join(TMP, "%s_%s.gguf" % (label, tt))
        r = convert(folder, out, "--type", tt)
        if r.returncode != 0:
            check("%s --type %s converts" % (label, tt), False, r.stderr.strip()[-300:])
            continue
        if tt == "f32":
            g = mmgguf.GGUFReader(out)
            bad = {k: (g.kv.get(k), v) for k, v in kv_want.items() if g.kv.get(k) != v}
            vis = [n for n in g.tensors if n.startswith(("v.", "mm."))]
            check("%s: keys as llama.cpp writes them, no vision tensors" % label, not bad and not vis,
                  str(bad or vis)[:300] if bad or vis else "%d keys checked" % len(kv_want))
            for t in TEXTS:
                ids, err = mm_tokenize(out, t)
                want = ref_tok(t)
                check("%s: tokenize %r" % (label, t[:28]), ids == want, err or "%d ids" % len(want)
                      if ids == want else "got %s want %s" % (ids, want))
        prompt = TEXTS[2]
        ids = ([bos] if bos is not None else []) + ref_tok(prompt)
        lg, err = mm_logits(out, prompt)
        tol = {"f32": 1e-4, "f16": 3e-3, "q8_0": 5e-2}[tt]
        e = rel(lg, ref_llama.logits(cfg, held, ids)) if lg is not None else float("inf")
        check("%s --type %s: logits == PyTorch (%d positions)" % (label, tt, len(ids)), e <= tol,
              err or "rel %.2e (<= %.0e)" % (e, tol))


os.makedirs(TMP, exist_ok=True)
rng = np.random.default_rng(5)

# ---------------------------------------------------------------- LLaVA-1.5: Llama 2 text, SentencePiece
pieces = spm_vocab(150)
n_tok = len(pieces) + 2                      # + <image>, <pad>
V = (n_tok + 63) // 64 * 64                  # llava-hf pads to a multiple of 64 (32064)
lcfg = mrl.make_config(arch="llama", d=64, layers=2, heads=4, kv_heads=4, ff=160, vocab=V, ctx=4096, tied=False,
                       rope_base=10000.0, eps=1e-5)
ten, held = text_weights(lcfg, 11, "language_model.model.", "language_model.lm_head.weight")
ten["vision_tower.vision_model.embeddings.class_embedding"] = ("F32", rng.standard_normal(32))
ten["multi_modal_projector.linear_1.weight"] = ("F32", rng.standard_normal((64, 32)))
llava_cfg = {"architectures": ["LlavaForConditionalGeneration"], "model_type": "llava", "ignore_index": -100,
             "image_token_index": len(pieces), "pad_token_id": len(pieces) + 1, "vision_feature_layer": -2,
             "text_config": {"_name_or_path": "lmsys/vicuna-7b-v1.5", "architectures": ["LlamaForCausalLM"],
                             "model_type": "llama", "hidden_size": 64, "intermediate_size": 160,
                             "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 4096,
                             "rms_norm_eps": 1e-5, "vocab_size": V},
             "vision_config": {"model_type": "clip_vision_model", "hidden_size": 32}}
added = {str(len(pieces)): {"content": "<image>", "special": True, "normalized": False, "lstrip": False,
                            "rstrip": False, "single_word": False},
         str(len(pieces) + 1): {"content": "<pad>", "special": True, "normalized": False, "lstrip": False,
                                "rstrip": False, "single_word": False}}
for i, p in enumerate(("<unk>", "<s>", "</s>")):
    added[str(i)] = {"content": p, "special": True, "normalized": False, "lstrip": False, "rstrip": False,
                     "single_word": False}
llava_tc = {"add_bos_token": True, "add_eos_token": False, "added_tokens_decoder": added, "bos_token": "<s>",
            "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>", "legacy": False,
            "chat_template": "{% for message in messages %}{{ message['role'].upper() + ': ' + "
                             "message['content'] + ' ' }}{% endfor %}{% if add_generation_prompt %}ASSISTANT:"
                             "{% endif %}", "tokenizer_class": "LlamaTokenizer"}
spm_files = {"config.json": llava_cfg, "tokenizer_config.json": llava_tc, "tokenizer.model": tokenizer_model(pieces),
             "added_tokens.json": {"<image>": len(pieces), "<pad>": len(pieces) + 1}}
llava_dir = os.path.join(TMP, "llava-1.5-tiny-hf")
write_folder(llava_dir, spm_files, ten)
toks = [p for p, _, _ in pieces] + ["<image>", "<pad>"]
types = [t for _, _, t in pieces] + [RT.CONTROL, RT.CONTROL]
ref_spm = RT.SPM(toks, [s for _, s, _ in pieces] + [-1000.0, -1000.0], types)
check_model("LLaVA-1.5 text (tokenizer.model)", llava_dir, lcfg, held, lambda t: ref_spm.encode(t.encode()), 1,
            {"general.architecture": "llama", "tokenizer.ggml.model": "llama", "tokenizer.ggml.pre": "default",
             "tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 2,
             "tokenizer.ggml.padding_token_id": len(pieces) + 1, "tokenizer.ggml.add_bos_token": True,
             "llama.attention.head_count_kv": 4, "llama.context_length": 4096, "llama.vocab_size": V,
             "llama.rope.dimension_count": 16, "tokenizer.chat_template": llava_tc["chat_template"]})
g = mmgguf.GGUFReader(os.path.join(TMP, "LLaVA-1.5 text (tokenizer.model)_f32.gguf"))
tk, sc, ty = g.kv["tokenizer.ggml.tokens"], g.kv["tokenizer.ggml.scores"], g.kv["tokenizer.ggml.token_type"]
want_ty = [RT.CONTROL] * 3 + [RT.BYTE] * 256 + [RT.NORMAL] * (len(pieces) - 259) + [RT.CONTROL] * 2 + \
    [RT.UNUSED] * (V - n_tok)
check("LLaVA-1.5 text: tokens / scores / types / [PAD] rows", list(tk[:n_tok]) == toks and list(ty) == want_ty and
      np.allclose(sc[3:len(pieces)], [s for _, s, _ in pieces[3:]]) and tk[-1] == "[PAD%d]" % (V - 1),
      "%d tokens, %d pads (<unk> <s> </s> CONTROL as tokenizer_config marks them special, as llama.cpp does)"
      % (len(tk), V - n_tok))

# the same vocabulary as tokenizer.json only (no tokenizer.model)
tj = spm_tokenizer_json(pieces)
tj["added_tokens"] += [{"id": len(pieces), "content": "<image>", "special": True},
                       {"id": len(pieces) + 1, "content": "<pad>", "special": True}]
f2 = dict(spm_files, **{"tokenizer.json": tj})
del f2["tokenizer.model"], f2["added_tokens.json"]
llava_json_dir = os.path.join(TMP, "llava-1.5-tiny-hf-json")
write_folder(llava_json_dir, f2, ten)
out = os.path.join(TMP, "llava_json.gguf")
r = convert(llava_json_dir, out, "--type", "f32")
check("LLaVA-1.5 text (tokenizer.json only) converts", r.returncode == 0, r.stderr.strip()[-200:])
if r.returncode == 0:
    for t in TEXTS:
        ids, err = mm_tokenize(out, t)
        want = hf_bpe_byte_fallback(tj, t)
        check("tokenizer.json SentencePiece-BPE: tokenize %r" % t[:24], ids == want and want == ref_spm.encode(
            t.encode()), err or "%d ids, == tokenizer.model's" % len(want) if ids == want else
            "got %s want %s" % (ids, want))

# ---------------------------------------------------------------- SmolVLM: SmolLM2 text, byte-level BPE
stoks, stypes, smerges = mrl.make_vocab("smolvlm", 420)
SV = len(stoks) + 12                         # text_config vocab_size beyond the tokenizer: [PAD] rows
scfg = mrl.make_config(arch="llama", d=96, layers=2, heads=6, kv_heads=2, ff=192, vocab=SV, ctx=8192, tied=True,
                       rope_base=100000.0, eps=1e-5)
ten_s, held_s = text_weights(scfg, 12, "model.text_model.", None)
ten_s["model.vision_model.post_layernorm.weight"] = ("F32", rng.standard_normal(32))
ten_s["model.connector.modality_projection.proj.weight"] = ("F32", rng.standard_normal((96, 512)))
smol_cfg = {"architectures": ["Idefics3ForConditionalGeneration"], "model_type": "idefics3", "scale_factor": 4,
            "image_token_id": stoks.index("<image>"),
            "text_config": {"model_type": "llama", "architectures": ["VLlama3ForCausalLM"], "hidden_size": 96,
                            "intermediate_size": 192, "num_hidden_layers": 2, "num_attention_heads": 6,
                            "num_key_value_heads": 2, "max_position_embeddings": 8192, "rms_norm_eps": 1e-5,
                            "rope_theta": 100000.0, "vocab_size": SV, "tie_word_embeddings": True,
                            "pad_token_id": 2},
            "vision_config": {"model_type": "idefics3_vision", "hidden_size": 32}}
normal = {t: i for i, t in enumerate(stoks) if stypes[i] == 1}
stj = {"version": "1.0",
       "added_tokens": [{"id": i, "content": t, "special": True, "normalized": False}
                        for i, t in enumerate(stoks) if stypes[i] != 1],
       "normalizer": None,
       "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
           {"type": "Digits", "individual_digits": True},
           {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]},
       "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
       "decoder": {"type": "ByteLevel"},
       "model": {"type": "BPE", "dropout": None, "unk_token": None, "byte_fallback": False, "vocab": normal,
                 "merges": [[a, b] for a, b in smerges]}}
smol_tmpl = mrl.FAMILIES["smolvlm"]["template"]
smol_files = {"config.json": smol_cfg, "tokenizer.json": stj,
              "tokenizer_config.json": {"bos_token": "<|im_start|>", "eos_token": "<end_of_utterance>",
                                        "pad_token": "<|im_end|>", "unk_token": "<|endoftext|>",
                                        "tokenizer_class": "GPT2Tokenizer"},
              "chat_template.json": {"chat_template": smol_tmpl}}
smol_dir = os.path.join(TMP, "SmolVLM-tiny")
write_folder(smol_dir, smol_files, ten_s)
ref_bpe = RT.BPE(stoks, smerges, stypes, "smollm")
check_model("SmolVLM text", smol_dir, scfg, held_s, lambda t: ref_bpe.encode(t.encode()), None,
            {"general.architecture": "llama", "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "smollm",
             "tokenizer.ggml.bos_token_id": stoks.index("<|im_start|>"),
             "tokenizer.ggml.eos_token_id": stoks.index("<end_of_utterance>"),
             "tokenizer.ggml.add_bos_token": False, "llama.attention.head_count_kv": 2,
             "llama.rope.freq_base": 100000.0, "llama.vocab_size": SV, "tokenizer.chat_template": smol_tmpl,
             "tokenizer.ggml.merges": ["%s %s" % m for m in smerges]})

# ---------------------------------------------------------------- refusals
bad_dir = os.path.join(TMP, "bad")
stj_bad = dict(stj, pre_tokenizer={"type": "Metaspace", "replacement": SP})
write_folder(bad_dir, dict(smol_files, **{"tokenizer.json": stj_bad}), ten_s)
r = convert(bad_dir, os.path.join(TMP, "bad.gguf"))
check("unknown pre-tokenizer refused by name", r.returncode == 1 and "Metaspace" in r.stderr, r.stderr.strip()[:150])
ten_b = dict(ten_s)
ten_b["model.text_model.layers.1.mlp.up_proj.weight"] = ("F32", rng.standard_normal((191, 96)))
write_folder(bad_dir, smol_files, ten_b)
r = convert(bad_dir, os.path.join(TMP, "bad.gguf"))
check("a tensor of the wrong shape refused by name", r.returncode == 1 and "layers.1.mlp.up_proj" in r.stderr,
      r.stderr.strip()[:150])

if fails:
    print("FAILED: %s" % ", ".join(fails))
    sys.exit(1)
print("all ok")
