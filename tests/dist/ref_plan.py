"""ref_plan.py - the pipeline plan of `mmgpt params --ranks`, written independently from mm_dist.h's text:
exact integer byte counts (fractions for the block types), the optimal contiguous split found by binary
search over candidate loads with a greedy feasibility check (not dynamic programming), rank after rank
(the smallest largest load, then that of the ranks left, ...), and --ranks auto by trying N = 1, 2, ...
"""
from fractions import Fraction

# GPT-3 paper Table 2.1 / HF GPT-2 configs: (n_layer, d_model, n_head, d_head, n_ctx); n_vocab 50257, d_ff 4 d
ARCH = {
    "gpt2": (12, 768, 12, 64, 1024), "gpt2-xl": (48, 1600, 25, 64, 1024),
    "gpt3-13b": (40, 5140, 40, 128, 2048), "gpt3-175b": (96, 12288, 96, 128, 2048),
}
# bytes per element: GGUF block sizes (ggml-common.h): Q4_0 = 2 + 16 bytes per 32, Q8_0 = 2 + 32 per 32,
# Q4_K = 144 per 256, Q6_K = 210 per 256
BPE = {"f32": Fraction(4), "f16": Fraction(2), "q8_0": Fraction(34, 32), "q4_0": Fraction(18, 32),
       "q4_k": Fraction(144, 256), "q6_k": Fraction(210, 256)}
V = 50257


def layer_bytes(a, t):
    L, d, H, dh, C = ARCH[a]
    da, ff = H * dh, 4 * d
    q = k = v = d * da
    o = da * d
    up = down = d * ff
    biases = 3 * da + d + ff + d
    norms = 2 * d + 2 * d
    return (q + k + v + o + up + down) * BPE[t] + 4 * (biases + norms)


def extra_bytes(a, t):
    L, d, H, dh, C = ARCH[a]
    return (V * d + C * d) * BPE[t] + 4 * 2 * d


def loads(counts, lb, ex):
    return [c * lb + (ex if i == 0 else 0) for i, c in enumerate(counts)]


def feasible_suffix(n_layers, ranks, lb, cap):
    """Can n_layers equal layers go on `ranks` ranks (each >= 1 layer) with every load <= cap?"""
    if ranks == 0:
        return n_layers == 0
    per = int(cap // lb) if lb > 0 else n_layers
    return ranks <= n_layers <= ranks * per


def best_cap(left, ranks, lb, ex):
    """smallest possible largest load of `left` layers on `ranks` ranks, the first carrying ex (binary search
    over the candidate loads with a greedy feasibility check)."""
    cands = sorted({c * lb + e for c in range(1, left + 1) for e in (0, ex)})

    def ok(cap):
        return any(c0 * lb + ex <= cap and feasible_suffix(left - c0, ranks - 1, lb, cap)
                   for c0 in range(1, left - ranks + 2))
    lo, hi = 0, len(cands) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(cands[mid]):
            hi = mid
        else:
            lo = mid + 1
    return cands[lo]


def split(a, t, n):
    """mm_dist.h's rule: the smallest largest load, then the smallest largest load of ranks 1.., 2.., ...;
    ties: the lower rank takes more layers."""
    L = ARCH[a][0]
    lb, ex = layer_bytes(a, t), extra_bytes(a, t)
    counts, left = [], L
    for r in range(n):
        e = ex if r == 0 else 0
        cap = best_cap(left, n - r, lb, e)
        for c in range(left - (n - 1 - r), 0, -1):
            if c * lb + e <= cap and feasible_suffix(left - c, n - 1 - r, lb, cap):
                counts.append(c)
                left -= c
                break
    assert sum(counts) == L and len(counts) == n
    return counts


def plan(a, t, n, mem=0, kv_f16=False, ctx=0, batch=512, counts=None):
    L, d, H, dh, C = ARCH[a]
    C = ctx or C
    B = min(batch, C)
    counts = counts or split(a, t, n)
    lb, ex = layer_bytes(a, t), extra_bytes(a, t)
    act = 4 * (B * (7 * d + 4 * d + C) + V)
    out, first = [], 0
    for r, c in enumerate(counts):
        w = c * lb + (ex if r == 0 else 0)
        kv = 2 * c * C * d * (2 if kv_f16 else 4)
        tot = w + kv + act
        out.append(dict(layer_begin=first, layer_end=first + c, weight_bytes=w, kv_bytes=kv, act_bytes=act,
                        total_bytes=tot, fits=(mem <= 0 or tot <= mem)))
        first += c
    return out


def auto(a, t, mem, **kw):
    for n in range(1, ARCH[a][0] + 1):
        if all(r["fits"] for r in plan(a, t, n, mem, **kw)):
            return n
    return None
