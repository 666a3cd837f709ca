"""ref_gpt2.py - independent numpy reference of the GPT-2 decoder (float64), for tests.

Written from the architecture description (Radford et al. 2019 / the GPT-2 model card), not from the
C code:
    h_0   = E[t] (or a given embedding row) + P[pos]
    a     = h + W_o . MHA(LN_1(h)) + b_o         (causal, heads of width d/n_head, scale 1/sqrt(d_head))
    h'    = a + W_down . gelu_tanh(W_up . LN_2(a) + b_up) + b_down
    logit = W_out . LN_f(h_L)                     (W_out = E when tied)
Weights are kept as "y = W x" matrices: W has shape [out, in] (numpy), exactly GGUF's [rows, cols].

    import ref_gpt2
    p = ref_gpt2.load_gguf(path)                  # dequantizes every tensor with tools/mmgguf.py
    logits = ref_gpt2.forward(p, tokens)          # [n, n_vocab] float64
    logits = ref_gpt2.forward(p, inputs)          # inputs: list of int ids or 1-D float arrays (embeddings)
    logits = ref_gpt2.forward(p, tokens, act_q8=True)   # also round the input of every q8_0/q4_0 matrix
                                                  # product to q8_0 blocks, as ggml-style matvec kernels do
                                                  # (act_q8 may be a boolean mask over positions)
    logits = ref_gpt2.forward(p, tokens, gemm_q8=ref_gpt2.prompt_q8_types(kernel))   # the prompt (batch)
                                                  # products of these weight types round their input too
                                                  # (mmgpt's int8 prompt gemm: Q4_0/Q4_K at avx2/avx512,
                                                  # Q8_0 too with MMGPT_GEMM=int8-q8_0)
    toks, step_logits = ref_gpt2.greedy(p, prompt, n_steps)   # reruns the full sequence every step
"""
import os
import sys

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_HERE, "..", "..", "tools"))


def layer_norm(x, w, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


def softmax(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / e.sum(axis=axis, keepdims=True)


def load_gguf(path):
    """Parameters of a gpt2 GGUF file as float64 numpy arrays (quantized tensors dequantized)."""
    import mmgguf
    r = mmgguf.GGUFReader(path)
    kv = r.kv
    p = {
        "n_ctx": int(kv["gpt2.context_length"]),
        "d": int(kv["gpt2.embedding_length"]),
        "d_ff": int(kv["gpt2.feed_forward_length"]),
        "n_layer": int(kv["gpt2.block_count"]),
        "n_head": int(kv["gpt2.attention.head_count"]),
        "eps": float(kv.get("gpt2.attention.layer_norm_epsilon", 1e-5)),
    }
    t = {name: r.tensor_f32(name).astype(np.float64) for name in r.tensors}
    p["types"] = {name: r.tensors[name][0] for name in r.tensors}
    p["wte"] = t["token_embd.weight"]            # [V, d]
    p["wpe"] = t["position_embd.weight"]         # [n_ctx, d]
    p["lnf_w"], p["lnf_b"] = t["output_norm.weight"], t["output_norm.bias"]
    p["w_out"] = t.get("output.weight", p["wte"])
    p["w_out_type"] = p["types"].get("output.weight", p["types"]["token_embd.weight"])
    p["tied"] = "output.weight" not in t
    d = p["d"]
    blocks = []
    for l in range(p["n_layer"]):
        g = lambda s: t["blk.%d.%s" % (l, s)]
        opt = lambda s, n: t.get("blk.%d.%s" % (l, s), np.zeros(n))
        ty = lambda s: p["types"]["blk.%d.%s" % (l, s)]
        blocks.append({
            "t_qkv": ty("attn_qkv.weight"), "t_o": ty("attn_output.weight"),
            "t_up": ty("ffn_up.weight"), "t_down": ty("ffn_down.weight"),
            "ln1_w": g("attn_norm.weight"), "ln1_b": g("attn_norm.bias"),
            "w_qkv": g("attn_qkv.weight"), "b_qkv": opt("attn_qkv.bias", 3 * d),      # [3d, d]
            "w_o": g("attn_output.weight"), "b_o": opt("attn_output.bias", d),        # [d, d]
            "ln2_w": g("ffn_norm.weight"), "ln2_b": g("ffn_norm.bias"),
            "w_up": g("ffn_up.weight"), "b_up": opt("ffn_up.bias", p["d_ff"]),        # [d_ff, d]
            "w_down": g("ffn_down.weight"), "b_down": opt("ffn_down.bias", d),        # [d, d_ff]
        })
    p["blocks"] = blocks
    return p


def _q8_steps(x):
    """x's blocks of 32 as q8_roundtrip scales them: (x * (1/d) in float32, as float64 [x.shape], d [blocks])"""
    x32 = np.ascontiguousarray(x, dtype=np.float32)
    b = x32.reshape(-1, 32)
    d = (np.max(np.abs(b), axis=1) / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore"):
        idv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    return (b * idv[:, None]).astype(np.float32).astype(np.float64).reshape(x.shape), d


def q8_roundtrip(x, flip=(), even=False):
    """Round each row of x to blocks of 32 8-bit steps the way a matvec kernel quantizes its input:
    d = amax/127 kept in float32 (ggml stores it as fp16; mmgpt's kernels keep f32), q = round(x * (1/d))
    half away from zero (even: half to even, as mmgpt's int8 prompt gemm and its avx2/avx512 conversions do),
    in float32 arithmetic. Returns q * d. flip: (row, column) elements of x rounded to the other neighbouring
    step (what a float32 computation of an input near a boundary may do)."""
    v, d = _q8_steps(x)
    q = np.round(v) if even else np.sign(v) * np.floor(np.abs(v) + 0.5)
    for r, c in flip:
        a = abs(v[r, c])
        q[r, c] = np.sign(v[r, c]) * (np.floor(a) if abs(q[r, c]) > a else np.floor(a) + 1)
    return (q.reshape(-1, 32) * d[:, None].astype(np.float64)).reshape(x.shape)


def q8_near(x, margin):
    """The elements of x within `margin` steps of a rounding boundary of q8_roundtrip: [(steps, row, column)]"""
    v, _ = _q8_steps(x)
    a = np.abs(v)
    dist = np.abs(a - np.floor(a) - 0.5)
    return [(float(dist[r, c]), int(r), int(c)) for r, c in zip(*np.nonzero(dist < margin))]


def q8_near_rows(x, margin):
    """Rows of x with an element within `margin` steps of a rounding boundary of q8_roundtrip (|x|/d - 1/2
    within margin of an integer): a kernel computing x in float32 may round such an element the other way."""
    x32 = np.ascontiguousarray(x, dtype=np.float32)
    b = x32.reshape(-1, 32)
    d = (np.max(np.abs(b), axis=1) / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore"):
        idv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    v = np.abs((b * idv[:, None]).astype(np.float64))
    near = np.abs(v - np.floor(v) - 0.5) < margin
    return near.reshape(x.shape[0], -1).any(axis=1)


# Margin for Ambiguity, in steps of the 8-bit grid: mmgpt computes activations in float32 (relative difference
# from this float64 reference ~1e-7 after a few layers), so an input x/d up to 127 steps can move by up to
# ~1.3e-5 steps; 2e-5 covers that (measured: every position off by more than 1e-5 had such an input at 1e-5).
AMBIGUOUS_STEPS = 2e-5


def position_errors(c, ref, amb_rows):
    """Per-position max |c - ref| / max |ref| split by Ambiguity rows: (max over clean positions (0 when
    none), max over ambiguous ones (0 when none), number of clean positions)."""
    pp = np.max(np.abs(np.asarray(c, np.float64) - ref), axis=1) / np.max(np.abs(ref))
    clean = ~np.asarray(amb_rows, dtype=bool)
    return (float(pp[clean].max()) if clean.any() else 0.0, float(pp[~clean].max()) if (~clean).any() else 0.0,
            int(clean.sum()))


class Ambiguity:
    """Tracks which positions' logits depend on an 8-bit rounding that float32 may take the other way: pass one
    to forward(); afterwards .rows[i] is True when some rounded input of position i, or (through the keys and
    values of attention) of an earlier position, lay within `margin` steps of a rounding boundary."""
    def __init__(self, margin):
        self.margin = margin
        self.rows = None


def prompt_q8_types(kernel, gemm=None):
    """The weight types whose prompt products (mm_linear, n > 1) round their input to 8 bits per block of 32 in
    mmgpt, as its manual (include/mm_core.h) states: Q4_0 and Q4_K through the int8 gemm at the avx2 and avx512
    kernel levels unless MMGPT_GEMM=f32 or openblas, Q8_0 too with MMGPT_GEMM=int8-q8_0. kernel: the level that runs
    (mm_cpu_kernel_name(), e.g. gpt_driver's `kernel` command); gemm: MMGPT_GEMM (default: this process's
    environment)."""
    gemm = os.environ.get("MMGPT_GEMM", "") if gemm is None else gemm
    if kernel not in ("avx2", "avx512") or gemm in ("f32", "openblas"):
        return frozenset()
    return frozenset(("q4_0", "q4_k", "q8_0")) if gemm == "int8-q8_0" else frozenset(("q4_0", "q4_k"))


def binary_kernel(mmgpt):
    """the kernel level an mmgpt binary runs at in this environment (`mmgpt --version`: "(kernels: LEVEL)")"""
    import re
    import subprocess
    out = subprocess.run([mmgpt, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"kernels: (\w+)", out)
    return m.group(1) if m else ""


def file_q8_names(path, kernel):
    """Names of the tensors of GGUF file `path` whose prompt products round their input (prompt_q8_types)"""
    import mmgguf
    types = prompt_q8_types(kernel)
    r = mmgguf.GGUFReader(path)
    return {n for n, (t, ne, raw) in r.tensors.items()
            if (t if isinstance(t, str) else mmgguf.type_name(t)) in types}


def lin(x, W, b, wtype, act_q8, gemm_q8=(), amb=None):
    """x @ W.T + b; with act_q8 the input is first rounded to q8_0 when W is stored in a quantized type
    (not f32/f16/bf16). act_q8 is a bool for all rows or a boolean mask of the rows (positions) to round;
    every row is rounded when wtype is in gemm_q8 (the prompt gemm of that type rounds its input as well)."""
    even = wtype in gemm_q8   # the int8 gemm rounds half to even
    if wtype in gemm_q8:
        act_q8 = True
    if wtype not in ("f32", "f16", "bf16") and np.any(act_q8):
        if amb is not None:
            amb.rows |= q8_near_rows(x, amb.margin) & (act_q8 if np.ndim(act_q8) else True)
        if np.ndim(act_q8) == 0:
            x = q8_roundtrip(x, even=even)
        else:   # a mask: only those rows (positions) are rounded
            x = x.copy()
            x[act_q8] = q8_roundtrip(x[act_q8])
    y = x @ W.T
    return y + b if b is not None else y


def embed(p, inputs, pos0=0):
    rows = []
    for x in inputs:
        if isinstance(x, (int, np.integer)):
            rows.append(p["wte"][int(x)])
        else:
            rows.append(np.asarray(x, dtype=np.float64))
    h = np.stack(rows)
    return h + p["wpe"][pos0:pos0 + len(rows)]


def attention(p, blk, x, act_q8=False, kv_f16=False, gemm_q8=(), amb=None):
    n, d = x.shape
    H = p["n_head"]
    dh = d // H
    qkv = lin(x, blk["w_qkv"], blk["b_qkv"], blk["t_qkv"], act_q8, gemm_q8, amb)
    if amb is not None:   # a position's keys and values reach every later position
        amb.rows = np.logical_or.accumulate(amb.rows)
    q, k, v = qkv[:, :d], qkv[:, d:2 * d], qkv[:, 2 * d:]
    if kv_f16:   # a KV cache kept in half precision
        k = k.astype(np.float32).astype(np.float16).astype(np.float64)
        v = v.astype(np.float32).astype(np.float16).astype(np.float64)
    out = np.zeros((n, d))
    mask = np.triu(np.ones((n, n), dtype=bool), k=1)
    for h in range(H):
        sl = slice(h * dh, (h + 1) * dh)
        s = q[:, sl] @ k[:, sl].T / np.sqrt(dh)
        s[mask] = -np.inf
        out[:, sl] = softmax(s) @ v[:, sl]
    return lin(out, blk["w_o"], blk["b_o"], blk["t_o"], act_q8, gemm_q8, amb)


def forward(p, inputs, act_q8=False, act_q8_out=None, kv_f16=False, gemm_q8=(), amb=None):
    """Logits [n, n_vocab] (float64) of every position of `inputs` (ids and/or embedding rows).
    act_q8 / act_q8_out (default: act_q8): rounding of the inputs of the block / output matrices;
    gemm_q8: weight types whose inputs are rounded at every position (prompt_q8_types);
    amb: an Ambiguity, filled with the positions whose roundings are ambiguous;
    kv_f16: keys and values rounded to float16 (a half-precision KV cache)."""
    h = embed(p, inputs)
    eps = p["eps"]
    if amb is not None:
        amb.rows = np.zeros(len(h), dtype=bool)
    for blk in p["blocks"]:
        h = h + attention(p, blk, layer_norm(h, blk["ln1_w"], blk["ln1_b"], eps), act_q8, kv_f16, gemm_q8, amb)
        m = gelu_tanh(lin(layer_norm(h, blk["ln2_w"], blk["ln2_b"], eps), blk["w_up"], blk["b_up"], blk["t_up"],
                          act_q8, gemm_q8, amb))
        h = h + lin(m, blk["w_down"], blk["b_down"], blk["t_down"], act_q8, gemm_q8, amb)
    out_q = act_q8 if act_q8_out is None else act_q8_out
    return lin(layer_norm(h, p["lnf_w"], p["lnf_b"], eps), p["w_out"], None, p["w_out_type"], out_q, gemm_q8, amb)


def greedy(p, prompt, n_steps, act_q8=False):
    """Greedy decoding without a cache: every step reruns the whole sequence.
    Returns (new tokens [n_steps], logits used for each choice [n_steps, V])."""
    seq = list(prompt)
    toks, logs = [], []
    for _ in range(n_steps):
        lg = forward(p, seq, act_q8)[-1]
        t = int(np.argmax(lg))
        toks.append(t)
        logs.append(lg)
        seq.append(t)
    return np.array(toks), np.stack(logs)
