#!/usr/bin/env python3
"""make_random_llama.py - random-weight llama / qwen2 GGUF files in the published layout (llama.cpp's keys,
tensor names, shapes and types), for tests and benchmarks (real weights cannot be downloaded here).

    python3 tools/make_random_llama.py OUT.gguf --preset smollm2-135m [--type f16] [--seed S]
    python3 tools/make_random_llama.py OUT.gguf --preset llama-3.2-1b --type f16
    python3 tools/make_random_llama.py OUT.gguf --arch qwen2 --d 128 --layers 2 --heads 8 --kv-heads 2 --ff 256
then e.g. `mmgpt quantize OUT.gguf OUT-q4km.gguf q4_k_m` and `mmgpt bench -m OUT-q4km.gguf`.
The file is assembled in memory: about 4x its size at peak (smollm2-135m f16: 270 MB file, ~1 GB, 40 s;
llama-3.2-1b f16: 2.5 GB file, ~10 GB).

How a file is made (as a Hugging Face checkpoint goes through llama.cpp's convert_hf_to_gguf.py):
  1. random weights in Hugging Face layout (LlamaForCausalLM / Qwen2ForCausalLM names and shapes:
     q_proj [H dh, d], k_proj / v_proj [Hkv dh, d], o_proj [d, H dh], gate/up [ff, d], down [d, ff], norms [d],
     qwen2's q/k/v biases), matrices ~ N(0, 1/fan_in), embeddings N(0, 1), norms 1 + N(0, 0.1^2);
  2. for arch llama, the rows of q_proj (and its bias) and k_proj are permuted per head as the converter
     does, so that llama.cpp's adjacent-pair ("normal") rotary embedding equals Hugging Face's rotate_half:
     w.reshape(n_heads, 2, dh / 2, cols).swapaxes(1, 2).reshape(rows, cols) (n_heads = Hkv for k_proj);
     qwen2 keeps the checkpoint's rows (llama.cpp rotates it in "neox" mode, i.e. rotate_half);
  3. Llama 3 rope scaling (HF rope_scaling rope_type "llama3") becomes rope_freqs.weight [dh / 2] (the
     converter's factors: 1 for short wavelengths, `factor` for long ones, smoothed between), linear
     scaling becomes {arch}.rope.scaling.type "linear" + .factor;
  4. a byte-level BPE vocabulary (tokenizer.ggml.model "gpt2", the pre-tokenizer of the family: smollm,
     llama-bpe, qwen2) trained on a small built-in text, padded with further merges to the requested size,
     with the family's special tokens and chat template; vectors are written f32, matrices --type.
The module is imported by tests/transformer/test_llama_parity.py (make_config, random_weights, write_gguf,
to_gguf_layout, from_gguf_layout).
"""
import argparse
import collections
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmgguf  # noqa: E402

PRESETS = {
    # SmolLM2-135M: d 576, 30 layers, 9 heads / 3 KV heads, ff 1536, vocab 49152, tied, ctx 8192
    "smollm2-135m": dict(arch="llama", d=576, layers=30, heads=9, kv_heads=3, ff=1536, vocab=49152, ctx=8192,
                         tied=True, rope_base=100000.0, eps=1e-5, family="smollm"),
    # Llama-3.2-1B: d 2048, 16 layers, 32 heads / 8 KV heads, ff 8192, vocab 128256, tied, ctx 131072
    "llama-3.2-1b": dict(arch="llama", d=2048, layers=16, heads=32, kv_heads=8, ff=8192, vocab=128256,
                         ctx=131072, tied=True, rope_base=500000.0, eps=1e-5, family="llama3",
                         llama3_scaling=dict(factor=32.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                             original_max_position_embeddings=8192)),
    # Qwen2.5-0.5B: d 896, 24 layers, 14 heads / 2 KV heads, ff 4864, vocab 151936, tied, ctx 32768
    "qwen2.5-0.5b": dict(arch="qwen2", d=896, layers=24, heads=14, kv_heads=2, ff=4864, vocab=151936, ctx=32768,
                         tied=True, rope_base=1000000.0, eps=1e-6, family="qwen2"),
}

FAMILIES = {
    "smollm": dict(pre="smollm", specials=["<|endoftext|>", "<|im_start|>", "<|im_end|>"], bos="<|im_start|>",
                   eos="<|im_end|>", add_bos=False,
                   template="{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
                            "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
                            "{{ '<|im_start|>assistant\\n' }}{% endif %}"),
    "llama3": dict(pre="llama-bpe", specials=["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                                              "<|end_header_id|>", "<|eot_id|>"],
                   bos="<|begin_of_text|>", eos="<|eot_id|>", add_bos=True,
                   template="{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + "
                            "message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}"
                            "{%- endfor %}{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant"
                            "<|end_header_id|>\\n\\n' }}{%- endif %}"),
    "qwen2": dict(pre="qwen2", specials=["<|endoftext|>", "<|im_start|>", "<|im_end|>"], bos=None,
                  eos="<|im_end|>", add_bos=False,
                  template="{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
                           "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
                           "{{ '<|im_start|>assistant\\n' }}{% endif %}"),
    # Qwen2-Audio's text side (Qwen2 + its audio tokens; chat template as Qwen/Qwen2-Audio-7B-Instruct's, written
    # out: a default system turn, "Audio N: <|audio_bos|><|AUDIO|><|audio_eos|>" per clip)
    "qwen2audio": dict(pre="qwen2", specials=["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|AUDIO|>",
                                              "<|audio_bos|>", "<|audio_eos|>"], bos=None, eos="<|im_end|>",
                       add_bos=False,
                       template="{% set audio_count = namespace(value=0) %}{% for message in messages %}"
                                "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a "
                                "helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n"
                                "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n{% else %}"
                                "{% for content in message['content'] %}{% if 'audio' in content or 'audio_url' in "
                                "content %}{% set audio_count.value = audio_count.value + 1 %}Audio "
                                "{{ audio_count.value }}: <|audio_bos|><|AUDIO|><|audio_eos|>\n{% elif 'text' in "
                                "content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}"
                                "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"),
    # SmolVLM's text side (SmolLM2 + Idefics3's image tokens; chat template as HuggingFaceTB/SmolVLM-256M-Instruct's,
    # written out): "\n\n" is a token of its own (mtmd looks it up)
    "smolvlm": dict(pre="smollm", specials=["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<fake_token_around_image>",
                                            "<image>", "<end_of_utterance>", "<global-img>"] +
                    ["<row_%d_col_%d>" % (r, c) for r in range(1, 7) for c in range(1, 7)],
                    bos="<|im_start|>", eos="<end_of_utterance>", add_bos=False, merges_first=[("Ċ", "Ċ")],
                    template="<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
                             "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
                             "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
                             "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}"
                             "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}"
                             "{% endif %}"),
    # LLaVA-1.5's text side (Vicuna; llava-hf's chat template, roles upper-cased)
    "llava": dict(pre="gpt-2", specials=["<unk>", "<s>", "</s>", "<image>"], bos="<s>", eos="</s>", add_bos=True,
                  template="{% for message in messages %}{% if message['role'] != 'system' %}"
                           "{{ message['role'].upper() + ': '}}{% endif %}{% for content in message['content'] | "
                           "selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
                           "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
                           "{{ content['text'] + ' '}}{% endfor %}{% endfor %}{% if add_generation_prompt %}"
                           "{{ 'ASSISTANT:' }}{% endif %}"),
}

CORPUS = ("the quick brown fox jumps over the lazy dog. a cat sat on the mat and the dog ran in the park. "
          "hello world, this is a small model that knows nothing at all. what is the colour of the sky? "
          "the sky is blue and the sun is bright. one two three four five six seven eight nine ten. ") * 4


def bytes_to_unicode():
    """GPT-2's printable stand-in character of every byte value"""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    out, extra = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return out


def merge_word(w, a, b):
    """the symbols of w with every (a, b), left to right, joined"""
    out = list(w[:1])
    for s in w[1:]:
        if out[-1] == a and s == b:
            out[-1] = a + b
        else:
            out.append(s)
    return tuple(out)


def make_vocab(family, n_vocab):
    """tokens, token types, merges: 256 byte tokens, merges learnt on CORPUS (words with a leading space
    marker), more merges of existing tokens until n_vocab - specials, then the special tokens (control)"""
    fam = FAMILIES[family]
    b2u = bytes_to_unicode()
    tokens = [b2u[b] for b in range(256)]
    seen = set(tokens)
    merges = []
    for a_, b_ in fam.get("merges_first", []):  # tokens the family needs whatever the corpus holds
        tokens.append(a_ + b_)
        seen.add(a_ + b_)
        merges.append((a_, b_))
    words = {}
    for i, w in enumerate(CORPUS.split(" ")):
        if not w:
            continue
        t = tuple(b2u[b] for b in ((" " if i else "") + w).encode())
        words[t] = words.get(t, 0) + 1
    n_normal = n_vocab - len(fam["specials"])
    if n_normal < 256:
        raise SystemExit("make_random_llama: vocab %d is too small (>= %d)" % (n_vocab, 256 + len(fam["specials"])))
    while len(tokens) < n_normal:  # BPE training: most frequent pair first (ties: the larger pair)
        cnt = collections.Counter()
        for w, c in words.items():
            for p in zip(w, w[1:]):
                cnt[p] += c
        if not cnt:
            break
        top = max(cnt.values())
        best = max(p for p, c in cnt.items() if c == top)
        merges.append(best)
        if best[0] + best[1] not in seen:
            seen.add(best[0] + best[1])
            tokens.append(best[0] + best[1])
        merged = collections.Counter()
        for w, c in words.items():
            merged[merge_word(w, *best)] += c
        words = merged
    a = 0
    while len(tokens) < n_normal:  # fill: merges of two byte-level letters, then of those, ...
        base = tokens[a % len(tokens)]
        for b in range(33, 127):
            t = base + chr(b)
            if len(tokens) >= n_normal:
                break
            if t not in seen and all(c in seen for c in (base, chr(b))):
                seen.add(t)
                tokens.append(t)
                merges.append((base, chr(b)))
        a += 1
    types = [1] * len(tokens) + [3] * len(fam["specials"])  # 1 normal, 3 control
    return tokens + fam["specials"], types, merges


def make_config(arch="llama", d=128, layers=2, heads=4, kv_heads=None, ff=256, vocab=320, ctx=2048, tied=True,
                rope_base=10000.0, eps=1e-5, family=None, linear_factor=None, llama3_scaling=None, head_dim=None,
                **_):
    kv_heads = kv_heads or heads
    return dict(arch=arch, d=d, layers=layers, heads=heads, kv_heads=kv_heads, ff=ff, vocab=vocab, ctx=ctx,
                tied=tied, rope_base=float(rope_base), eps=float(eps), head_dim=head_dim or d // heads,
                family=family or ("qwen2" if arch == "qwen2" else "smollm"), linear_factor=linear_factor,
                llama3_scaling=llama3_scaling)


def random_weights(cfg, seed=0, dtype=np.float32):
    """{HF name: array} in Hugging Face layout"""
    rng = np.random.default_rng(seed)
    d, dh, H, Hkv, ff, V = cfg["d"], cfg["head_dim"], cfg["heads"], cfg["kv_heads"], cfg["ff"], cfg["vocab"]

    def mat(rows, cols):
        return (rng.standard_normal((rows, cols), dtype=np.float32) / np.float32(math.sqrt(cols))).astype(dtype)

    def vec(n, base, sd):
        return (base + sd * rng.standard_normal(n, dtype=np.float32)).astype(np.float32)
    W = {"model.embed_tokens.weight": rng.standard_normal((V, d), dtype=np.float32).astype(dtype)}
    for i in range(cfg["layers"]):
        p = "model.layers.%d." % i
        W[p + "input_layernorm.weight"] = vec(d, 1.0, 0.1)
        W[p + "self_attn.q_proj.weight"] = mat(H * dh, d)
        W[p + "self_attn.k_proj.weight"] = mat(Hkv * dh, d)
        W[p + "self_attn.v_proj.weight"] = mat(Hkv * dh, d)
        if cfg["arch"] == "qwen2":
            W[p + "self_attn.q_proj.bias"] = vec(H * dh, 0.0, 0.5)
            W[p + "self_attn.k_proj.bias"] = vec(Hkv * dh, 0.0, 0.5)
            W[p + "self_attn.v_proj.bias"] = vec(Hkv * dh, 0.0, 0.5)
        W[p + "self_attn.o_proj.weight"] = mat(d, H * dh)
        W[p + "post_attention_layernorm.weight"] = vec(d, 1.0, 0.1)
        W[p + "mlp.gate_proj.weight"] = mat(ff, d)
        W[p + "mlp.up_proj.weight"] = mat(ff, d)
        W[p + "mlp.down_proj.weight"] = mat(d, ff)
    W["model.norm.weight"] = vec(d, 1.0, 0.1)
    if not cfg["tied"]:
        W["lm_head.weight"] = mat(V, d)
    return W


def permute(w, n_head):
    """convert_hf_to_gguf's LlamaModel.permute: rotate_half pairs (i, i + dh/2) -> adjacent (2i, 2i + 1)"""
    rows = w.shape[0]
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute(w, n_head):
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


HF_TO_GGUF = [("self_attn.q_proj", "attn_q"), ("self_attn.k_proj", "attn_k"), ("self_attn.v_proj", "attn_v"),
              ("self_attn.o_proj", "attn_output"), ("input_layernorm", "attn_norm"),
              ("post_attention_layernorm", "ffn_norm"), ("mlp.gate_proj", "ffn_gate"), ("mlp.up_proj", "ffn_up"),
              ("mlp.down_proj", "ffn_down")]


def gguf_name(hf):
    if hf == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf == "model.norm.weight":
        return "output_norm.weight"
    if hf == "lm_head.weight":
        return "output.weight"
    parts = hf.split(".")
    i, rest = parts[2], ".".join(parts[3:])
    for a, b in HF_TO_GGUF:
        if rest.startswith(a + "."):
            return "blk.%s.%s%s" % (i, b, rest[len(a):])
    raise KeyError(hf)


def to_gguf_layout(cfg, W):
    """{GGUF name: array} as the converter writes them (llama: q/k rows permuted)"""
    out = {}
    for k, v in W.items():
        if cfg["arch"] == "llama" and (".q_proj." in k or ".k_proj." in k):
            v = permute(v, cfg["heads"] if ".q_proj." in k else cfg["kv_heads"])
        out[gguf_name(k)] = v
    return out


def from_gguf_layout(cfg, G):
    """inverse of to_gguf_layout (for references computed on a file's stored, dequantized weights)"""
    inv = {}
    names = {gguf_name(k): k for k in random_weights_names(cfg)}
    for g, v in G.items():
        if g not in names:
            continue
        k = names[g]
        if cfg["arch"] == "llama" and (".q_proj." in k or ".k_proj." in k):
            v = unpermute(v, cfg["heads"] if ".q_proj." in k else cfg["kv_heads"])
        inv[k] = v
    return inv


def random_weights_names(cfg):
    small = dict(cfg, d=2 * cfg["heads"], head_dim=2, ff=2, vocab=1)
    return list(random_weights(small).keys())


def llama3_rope_factors(cfg):
    """convert_hf_to_gguf's rope_freqs for Llama 3 scaling: one factor per frequency"""
    s = cfg["llama3_scaling"]
    dh = cfg["head_dim"]
    freqs = 1.0 / (cfg["rope_base"] ** (np.arange(0, dh, 2, dtype=np.float32) / dh))
    lo_wl = s["original_max_position_embeddings"] / s["low_freq_factor"]
    hi_wl = s["original_max_position_embeddings"] / s["high_freq_factor"]
    out = []
    for f in freqs:
        wl = 2 * math.pi / f
        if wl < hi_wl:
            out.append(1.0)
        elif wl > lo_wl:
            out.append(s["factor"])
        else:
            sm = (s["original_max_position_embeddings"] / wl - s["low_freq_factor"]) / \
                 (s["high_freq_factor"] - s["low_freq_factor"])
            out.append(1.0 / ((1 - sm) / s["factor"] + sm))
    return np.array(out, dtype=np.float32)


def write_gguf(path, cfg, W, wtype="f32", name="random", kv_edit=None, tensor_edit=None):
    """kv_edit {key: (vtype, value) or None}: change / add / drop keys; tensor_edit(name, array) -> array or
    None (dropped): for tests of hostile files"""
    a = cfg["arch"]
    fam = FAMILIES[cfg["family"]]
    w = mmgguf.GGUFWriter()
    kv_edit = dict(kv_edit or {})

    def kv(key, vtype, value):
        if key in kv_edit:
            e = kv_edit.pop(key)
            if e is None:
                return
            vtype, value = e
        if vtype.startswith("arr:"):
            w.add_arr(key, vtype[4:], value)
        else:
            w.add(key, vtype, value)
    kv("general.architecture", "str", a)
    kv("general.name", "str", name)
    kv("general.file_type", "u32", {"f32": 0, "f16": 1}[wtype])
    kv(a + ".context_length", "u32", cfg["ctx"])
    kv(a + ".embedding_length", "u32", cfg["d"])
    kv(a + ".block_count", "u32", cfg["layers"])
    kv(a + ".feed_forward_length", "u32", cfg["ff"])
    kv(a + ".attention.head_count", "u32", cfg["heads"])
    kv(a + ".attention.head_count_kv", "u32", cfg["kv_heads"])
    kv(a + ".rope.freq_base", "f32", cfg["rope_base"])
    kv(a + ".attention.layer_norm_rms_epsilon", "f32", cfg["eps"])
    if cfg["head_dim"] != cfg["d"] // cfg["heads"]:
        kv(a + ".attention.key_length", "u32", cfg["head_dim"])
        kv(a + ".attention.value_length", "u32", cfg["head_dim"])
    kv(a + ".vocab_size", "u32", cfg["vocab"])
    kv(a + ".rope.dimension_count", "u32", cfg["head_dim"])
    if cfg.get("linear_factor"):
        kv(a + ".rope.scaling.type", "str", "linear")
        kv(a + ".rope.scaling.factor", "f32", cfg["linear_factor"])
    tokens, types, merges = make_vocab(cfg["family"], cfg["vocab"])
    kv("tokenizer.ggml.model", "str", "gpt2")
    kv("tokenizer.ggml.pre", "str", fam["pre"])
    kv("tokenizer.ggml.tokens", "arr:str", tokens)
    kv("tokenizer.ggml.token_type", "arr:i32", types)
    kv("tokenizer.ggml.merges", "arr:str", [x + " " + y for x, y in merges])
    if fam["bos"]:
        kv("tokenizer.ggml.bos_token_id", "u32", tokens.index(fam["bos"]))
    kv("tokenizer.ggml.eos_token_id", "u32", tokens.index(fam["eos"]))
    if "<|endoftext|>" in tokens:
        kv("tokenizer.ggml.padding_token_id", "u32", tokens.index("<|endoftext|>"))
    kv("tokenizer.ggml.add_bos_token", "bool", fam["add_bos"])
    kv("tokenizer.chat_template", "str", fam["template"])
    for key, e in list(kv_edit.items()):  # keys to add
        if e is not None:
            kv(key, e[0], e[1])
    G = to_gguf_layout(cfg, W)
    if cfg.get("llama3_scaling"):
        G["rope_freqs.weight"] = llama3_rope_factors(cfg)
    for k, v in G.items():
        if tensor_edit:
            v = tensor_edit(k, v)
            if v is None:
                continue
        w.add_tensor(k, np.ascontiguousarray(v, dtype=np.float32), wtype if v.ndim == 2 else "f32")
    w.write(path)
    return tokens


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--preset", choices=sorted(PRESETS))
    ap.add_argument("--arch", choices=["llama", "qwen2"], default="llama")
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int)
    ap.add_argument("--ff", type=int, default=256)
    ap.add_argument("--vocab", type=int, default=512)
    ap.add_argument("--ctx", type=int, default=2048)
    ap.add_argument("--untied", action="store_true", help="a separate output.weight")
    ap.add_argument("--type", choices=["f32", "f16"], default="f32", help="matrices (vectors stay f32)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--family", choices=sorted(FAMILIES), help="vocabulary + chat template (default: the arch's)")
    a = ap.parse_args()
    if a.preset:
        cfg = make_config(**dict(PRESETS[a.preset], **({"family": a.family} if a.family else {})))
    else:
        cfg = make_config(arch=a.arch, d=a.d, layers=a.layers, heads=a.heads, kv_heads=a.kv_heads, ff=a.ff,
                          vocab=a.vocab, ctx=a.ctx, tied=not a.untied, family=a.family)
    W = random_weights(cfg, a.seed, np.float16 if a.type == "f16" else np.float32)
    write_gguf(a.out, cfg, W, a.type, a.preset or "random-" + cfg["arch"])
    print("%s: %s d %d, %d layers, %d/%d heads, ff %d, vocab %d, %s" % (
        a.out, cfg["arch"], cfg["d"], cfg["layers"], cfg["heads"], cfg["kv_heads"], cfg["ff"], cfg["vocab"],
        a.type), file=sys.stderr)


if __name__ == "__main__":
    main()
