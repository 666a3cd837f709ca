"""ref_llama.py - an independent PyTorch forward of LlamaForCausalLM / Qwen2ForCausalLM, written from the Hugging
Face model descriptions (modeling_llama.py / modeling_qwen2.py: RMSNorm, rotate_half rotary embedding on the
checkpoint's q/k layout, repeat_kv grouped-query attention, SwiGLU MLP), in float64, on weights in Hugging
Face layout ({HF name: array}, tools/make_random_llama.py's random_weights). Nothing here reads GGUF or knows
llama.cpp's permuted layout.

    logits(cfg, W, ids, kv_f16=False) -> np.float64 [len(ids), vocab]   (every position, causal)
    ids: token ids, or (a multimodal prompt) token ids and embedding rows (arrays [d]) in order
    kv_f16: keys (after the rotary embedding) and values rounded to IEEE half, as a KV cache in f16 stores them
    q8: names of weights ("model.layers.0.mlp.up_proj.weight", ...) whose products round their input to 8 bits
        per block of 32 (ref_gpt2.q8_roundtrip, half to even: mmgpt's int8 prompt gemm); amb: a ref_gpt2.Ambiguity, filled with
        the positions whose roundings are ambiguous (an input near a rounding boundary, or keys/values of one)
    flips: {weight name: [(position, element)]}: those rounded inputs taken to the other neighbouring step
        (ref_gpt2.q8_roundtrip's flip); near: (margin, list): every rounded input within margin steps of a
        rounding boundary is appended to the list as (steps, weight name, position, element)
"""
import math

import numpy as np
import torch

from ref_gpt2 import q8_near, q8_near_rows, q8_roundtrip


def inv_freq(cfg):
    dh = cfg["head_dim"]
    f = 1.0 / (cfg["rope_base"] ** (torch.arange(0, dh, 2, dtype=torch.float64) / dh))
    s = cfg.get("llama3_scaling")
    if s:  # HF _compute_llama3_parameters
        factor, lo, hi = s["factor"], s["low_freq_factor"], s["high_freq_factor"]
        old = s["original_max_position_embeddings"]
        lo_wl, hi_wl = old / lo, old / hi
        wl = 2 * math.pi / f
        f_l = torch.where(wl > lo_wl, f / factor, f)
        smooth = (old / wl - lo) / (hi - lo)
        smoothed = (1 - smooth) * f_l / factor + smooth * f_l
        medium = ~(wl < hi_wl) & ~(wl > lo_wl)
        f = torch.where(medium, smoothed, f_l)
    return f


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def logits(cfg, W, ids, kv_f16=False, q8=(), amb=None, flips=None, near=None):
    w = {k: torch.tensor(np.asarray(v, dtype=np.float64)) for k, v in W.items()}
    d, H, Hkv, dh, eps = cfg["d"], cfg["heads"], cfg["kv_heads"], cfg["head_dim"], cfg["eps"]
    n = len(ids)
    E = w["model.embed_tokens.weight"]
    if all(isinstance(i, (int, np.integer)) for i in ids):
        x = E[torch.tensor(list(ids), dtype=torch.long)]
    else:  # embedding rows (projected media) stand in the sequence as they are
        x = torch.stack([E[int(i)] if isinstance(i, (int, np.integer)) else torch.tensor(np.asarray(i, np.float64))
                         for i in ids])
    pos = torch.arange(n, dtype=torch.float64)
    if cfg.get("linear_factor"):
        pos = pos / cfg["linear_factor"]  # HF linear scaling: positions divided by the factor
    fr = torch.outer(pos, inv_freq(cfg))
    emb = torch.cat((fr, fr), dim=-1)
    cos, sin = emb.cos()[:, None, :], emb.sin()[:, None, :]  # [n, 1, dh]

    def rms(v, g):
        return g * (v / torch.sqrt((v * v).mean(-1, keepdim=True) + eps))

    if amb is not None:
        amb.rows = np.zeros(n, dtype=bool)

    def round_in(v, name):
        if name not in q8:
            return v
        if amb is not None:
            amb.rows |= q8_near_rows(v.numpy(), amb.margin)
        if near is not None:
            near[1].extend((steps, name, r, c) for steps, r, c in q8_near(v.numpy(), near[0]))
        return torch.tensor(q8_roundtrip(v.numpy(), (flips or {}).get(name, ()), even=True))

    def lin(v, name):
        y = round_in(v, name + ".weight") @ w[name + ".weight"].T
        return y + w[name + ".bias"] if name + ".bias" in w else y
    mask = torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)
    for i in range(cfg["layers"]):
        p = "model.layers.%d." % i
        h = rms(x, w[p + "input_layernorm.weight"])
        q = lin(h, p + "self_attn.q_proj").view(n, H, dh)
        k = lin(h, p + "self_attn.k_proj").view(n, Hkv, dh)
        v = lin(h, p + "self_attn.v_proj").view(n, Hkv, dh)
        if amb is not None:   # a position's keys and values reach every later position
            amb.rows = np.logical_or.accumulate(amb.rows)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if kv_f16:
            k, v = k.half().double(), v.half().double()
        k = k.repeat_interleave(H // Hkv, dim=1)  # repeat_kv: query head j uses key/value head j // (H/Hkv)
        v = v.repeat_interleave(H // Hkv, dim=1)
        s = torch.einsum("thd,shd->hts", q, k) / math.sqrt(dh)
        s = s.masked_fill(mask, float("-inf")).softmax(-1)
        a = torch.einsum("hts,shd->thd", s, v).reshape(n, H * dh)
        x = x + lin(a, p + "self_attn.o_proj")
        h = rms(x, w[p + "post_attention_layernorm.weight"])
        g = lin(h, p + "mlp.gate_proj")
        x = x + lin(torch.nn.functional.silu(g) * lin(h, p + "mlp.up_proj"), p + "mlp.down_proj")
    x = rms(x, w["model.norm.weight"])
    out = "lm_head.weight" if "lm_head.weight" in w else "model.embed_tokens.weight"
    return (round_in(x, out) @ w[out].T).numpy()


def greedy(cfg, W, ids, steps, banned=()):
    """the argmax chain: each step's logits over the whole sequence so far (banned ids never chosen)"""
    seq, out = list(ids), []
    for _ in range(steps):
        lg = logits(cfg, W, seq)[-1]
        for b in banned:
            lg[b] = -np.inf
        t = int(np.argmax(lg))
        out.append(t)
        seq.append(t)
    return out
