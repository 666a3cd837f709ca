#!/usr/bin/python3
"""gpt_sampler_ref: transformer/sampler.c against a reference written here from llama.cpp's definitions
(src/llama-sampling.cpp: llama_sampler_penalties, top_k, top_p, min_p, temp; the default chain order of
common/common.h: penalties -> top_k -> top_p -> min_p -> temperature), on random logits and histories,
plus the edge cases (every token penalised, min_p = 1, negative logits, empty history, the window, greedy
with penalties).

Reference, per case (logits x float32 [V], history h, window n = last_n):
  penalties: for each id with c > 0 occurrences in h[-n:] (n > 0, a penalty not neutral), in float32:
             x = x * repeat if x <= 0 else x / repeat;  x = x - (c * freq + 1 * presence)
  T = 0:     the argmax of x (lowest id on ties), nothing drawn
  top_k:     (0 < k < V) the k largest, sorted by x descending, id ascending
  top_p:     (p < 1) sorted as above; p_i = exp(x_i - x_max) / sum; keep the shortest prefix with
             cumulative p_i >= top_p
  min_p:     (min_p > 0) keep x_i - x_max >= log(min_p); the kept ones sorted as above
  temp:      w_i = exp((x_i - x_max) / T) over the kept set (in id order when no truncation is active)
  draw:      xoshiro256** seeded by splitmix64 (written here from Blackman & Vigna's definition),
             u = (next >> 11) * 2^-53 * sum(w); the first kept id whose cumulative w exceeds u;
             a single kept id is returned without drawing.
Compared: the probability vector (support exactly, values within 1e-6) and every drawn id exactly (the
weights are computed with the same double operations as the definition, math.exp = the C library's exp).

usage: test_gpt_sampler_ref.py SAMPLER_TOOL
"""
import math
import os
import struct
import subprocess
import sys
import tempfile
from collections import Counter

import numpy as np

TMP = os.environ.get("MMGPT_TEST_TMP") or tempfile.mkdtemp()
SANITIZE = os.environ.get("MMGPT_SANITIZE_RUN") == "1"
M64 = (1 << 64) - 1
failures = []


def check(name, ok, msg=""):
    print("%-62s %s  %s" % (name, "ok  " if ok else "FAIL", msg))
    if not ok:
        failures.append(name)
    return ok


# ---------------------------------------------------------------- PRNG (xoshiro256** / splitmix64)
class Rng:
    def __init__(self, seed):
        x = seed & M64
        self.s = []
        for _ in range(4):
            x = (x + 0x9e3779b97f4a7c15) & M64
            z = x
            z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M64
            z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M64
            self.s.append(z ^ (z >> 31))

    @staticmethod
    def rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & M64

    def next(self):
        s = self.s
        result = (self.rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = self.rotl(s[3], 45)
        return result

    def uniform(self):
        return float(self.next() >> 11) * (1.0 / 9007199254740992.0)


# ---------------------------------------------------------------- the chain
def penalise(x, hist, last_n, rep, freq, pres):
    x = np.array(x, dtype=np.float32)
    rep, freq, pres = np.float32(rep), np.float32(freq), np.float32(pres)
    if last_n == 0 or (rep == 1 and freq == 0 and pres == 0):
        return x
    win = [t for t in hist if 0 <= t < len(x)][-last_n:]
    for t, c in Counter(win).items():
        v = x[t]
        v = v * rep if v <= 0 else v / rep
        x[t] = v - (np.float32(c) * freq + np.float32(1) * pres)
    return x


def best_first(x, ids):
    return sorted(ids, key=lambda i: (-float(x[i]), i))


def chain(x, T, top_k, top_p, min_p):
    """-> (kept ids in walking order, weights w (double), sum of w)."""
    V = len(x)
    T, top_p, min_p = np.float32(T), np.float32(top_p), np.float32(min_p)
    if T == 0:
        return [int(np.argmax(x))], [1.0], 1.0
    n = top_k if 0 < top_k < V else V
    is_sorted = n < V or top_p < 1
    cand = best_first(x, range(V))[:n] if is_sorted else list(range(V))
    if top_p < 1:
        mx = float(x[cand[0]])
        w = [math.exp(float(x[i]) - mx) for i in cand]
        mass = 0.0
        for v in w:
            mass += v
        cum = 0.0
        for i, v in enumerate(w):
            cum += v / mass
            if cum >= float(top_p):
                cand = cand[:i + 1]
                break
    if min_p > 0:
        mx = max(float(x[i]) for i in cand)
        lp = math.log(float(min_p))
        cand = best_first(x, [i for i in cand if float(x[i]) - mx >= lp])
        is_sorted = True
    mx = float(x[cand[0]]) if is_sorted else max(float(x[i]) for i in cand)
    invT = 1.0 / float(T)
    w = [math.exp((float(x[i]) - mx) * invT) for i in cand]
    mass = 0.0
    for v in w:
        mass += v
    return cand, w, mass


def draw(rng, cand, w, mass):
    if len(cand) == 1:
        return cand[0]
    u = rng.uniform() * mass
    cum = 0.0
    for i, v in zip(cand, w):
        cum += v
        if u < cum:
            return i
    for i, v in reversed(list(zip(cand, w))[1:]):
        if v > 0:
            return i
    return cand[0]


def reference(c):
    """probs float32 [V] and the drawn ids of a case."""
    V = len(c["x"])
    hist = list(c["hist"])
    x = penalise(c["x"], hist, c["last_n"], c["rep"], c["freq"], c["pres"])
    cand, w, mass = chain(x, c["T"], c["top_k"], c["top_p"], c["min_p"])
    probs = np.zeros(V, np.float64)
    for i, v in zip(cand, w):
        probs[i] = v / mass
    rng = Rng(c["seed"])
    ids = []
    for _ in range(c["draws"]):
        x = penalise(c["x"], hist, c["last_n"], c["rep"], c["freq"], c["pres"])
        t = draw(rng, *chain(x, c["T"], c["top_k"], c["top_p"], c["min_p"]))
        ids.append(t)
        if c["accept"]:
            hist.append(t)
    return probs, ids


# ---------------------------------------------------------------- running the C sampler
def case(x, T=1.0, top_k=0, top_p=1.0, min_p=0.0, rep=1.0, freq=0.0, pres=0.0, last_n=64, seed=1, hist=(),
         draws=0, accept=False, name=""):
    return dict(x=np.asarray(x, np.float32), T=T, top_k=top_k, top_p=top_p, min_p=min_p, rep=rep, freq=freq,
                pres=pres, last_n=last_n, seed=seed, hist=list(hist), draws=draws, accept=accept, name=name)


def run_c(tool, cases):
    inp = os.path.join(TMP, "sampler_ref_in_%d.bin" % os.getpid())
    outp = os.path.join(TMP, "sampler_ref_out_%d.bin" % os.getpid())
    with open(inp, "wb") as f:
        f.write(struct.pack("<i", len(cases)))
        for c in cases:
            f.write(struct.pack("<ififffffiQiii", len(c["x"]), c["T"], c["top_k"], c["top_p"], c["min_p"], c["rep"],
                                c["freq"], c["pres"], c["last_n"], c["seed"], len(c["hist"]), c["draws"],
                                int(c["accept"])))
            f.write(np.asarray(c["hist"], "<i4").tobytes())
            f.write(c["x"].astype("<f4").tobytes())
    p = subprocess.run([tool, inp, outp], capture_output=True)
    if p.returncode != 0:
        raise RuntimeError("sampler_tool exited %d: %s" % (p.returncode, p.stderr.decode()))
    data = open(outp, "rb").read()
    os.remove(inp)
    os.remove(outp)
    res, off = [], 0
    for c in cases:
        created = struct.unpack_from("<i", data, off)[0]
        off += 4
        if not created:
            res.append(None)
            continue
        V = len(c["x"])
        probs = np.frombuffer(data, "<f4", V, off).astype(np.float64)
        off += 4 * V
        ids = list(np.frombuffer(data, "<i4", c["draws"], off))
        off += 4 * c["draws"]
        res.append((probs, ids))
    return res


def compare(c, got):
    if got is None:
        return False, "the sampler refused the params"
    probs, ids = got
    want, want_ids = reference(c)
    support_ok = np.array_equal(probs > 0, want.astype(np.float32) > 0)
    err = float(np.max(np.abs(probs - want)))
    ids_ok = [int(i) for i in ids] == want_ids
    msg = "support %s, max|p - ref| %.1e, %d draws %s" % ("same" if support_ok else "DIFFERS", err, len(ids),
                                                          "same" if ids_ok else "DIFFER")
    if not ids_ok:
        k = next(j for j, (a, b) in enumerate(zip(ids, want_ids)) if a != b)
        msg += " (first at draw %d: %d vs %d)" % (k, ids[k], want_ids[k])
    return support_ok and err <= 1e-6 and ids_ok, msg


def random_cases(rs, n):
    out = []
    for k in range(n):
        V = int(rs.choice([1, 2, 5, 12, 50, 300, 2000]))
        x = (rs.standard_normal(V) * rs.choice([0.5, 2.0, 6.0])).astype(np.float32)
        if V > 4 and rs.random() < 0.3:
            x[rs.integers(0, V, 2)] = -np.inf                # banned tokens (ignore_eos does this)
        if V > 4 and rs.random() < 0.3:
            x[rs.integers(0, V, 3)] = x[0]                   # ties
        last_n = int(rs.choice([0, 1, 3, 8, 64, 1000]))
        pool = rs.integers(0, V, max(1, V // 3))             # a history that repeats a few ids
        hist = list(rs.choice(pool, int(rs.integers(0, 3 * max(last_n, 4) + 1))))
        if rs.random() < 0.2:
            hist += [-1, V, V + 7]                           # not tokens: ignored
        out.append(case(x, T=float(rs.choice([0.0, 0.3, 0.8, 1.0, 1.5, 2.0])),
                        top_k=int(rs.choice([0, 1, 3, 40, V, V + 5])),
                        top_p=float(rs.choice([1.0, 0.95, 0.5, 0.1])), min_p=float(rs.choice([0.0, 0.05, 0.3, 1.0])),
                        rep=float(rs.choice([1.0, 1.1, 1.5, 0.8, 3.0])), freq=float(rs.choice([0.0, 0.3, -0.2, 1.0])),
                        pres=float(rs.choice([0.0, 0.5, -0.4, 2.0])), last_n=last_n, seed=int(rs.integers(0, 2 ** 63)),
                        hist=hist, draws=int(rs.choice([0, 5, 40])), accept=bool(rs.random() < 0.5),
                        name="random %d" % k))
    return out


X8 = np.array([2.0, 1.5, -0.5, 0.25, -3.0, 1.0, 0.0, -1.0], np.float32)
XN = np.array([-0.2, -1.0, -2.0, -0.5], np.float32)


def edge_cases():
    cs = []
    x8 = X8
    # every token penalised (all in the window, some several times)
    cs.append(case(x8, rep=1.3, freq=0.2, pres=0.5, hist=list(range(8)) + [0, 0, 5], draws=30, seed=5,
                   name="every token penalised"))
    # min_p = 1: only the maximum (and its ties) survive
    cs.append(case(x8, min_p=1.0, draws=10, name="min_p = 1 keeps the max"))
    xt = x8.copy()
    xt[5] = xt[0]
    cs.append(case(xt, min_p=1.0, draws=20, seed=9, name="min_p = 1 keeps the max and its tie"))
    # repeat penalty on negative logits multiplies (more negative), on positive ones divides
    cs.append(case(XN, rep=2.0, hist=[3], draws=20, seed=3, name="repeat penalty on negative logits"))
    # empty history with penalties on = no penalties
    cs.append(case(x8, rep=1.5, freq=0.5, pres=0.5, hist=[], draws=20, seed=4, name="empty history"))
    cs.append(case(x8, hist=[], draws=20, seed=4, name="(penalties off)"))
    # the window: id 0 only before the last 3 tokens is not penalised; last_n = 0 penalises nothing
    cs.append(case(x8, rep=10.0, last_n=3, hist=[0, 1, 1, 2], draws=20, seed=6, name="window of 3"))
    cs.append(case(x8, rep=10.0, last_n=0, hist=[0, 1, 1, 2], draws=20, seed=6, name="last_n = 0"))
    # greedy: the argmax after the penalties (0 is repeated, 1 wins)
    cs.append(case(x8, T=0.0, rep=1.5, hist=[0], draws=3, name="greedy with penalties"))
    cs.append(case(x8, T=0.0, hist=[0], draws=3, name="greedy without penalties"))
    # presence/frequency alone, top-k/top-p/min-p/temperature together at the llama.cpp defaults
    cs.append(case(x8, T=0.8, top_k=40, top_p=0.95, min_p=0.05, rep=1.1, freq=0.1, pres=0.1, hist=[0, 1, 0, 7],
                   draws=40, seed=7, accept=True, name="llama.cpp defaults + penalties, accepting draws"))
    # top_k 0 with top_p over a GPT-2-sized vocabulary (the radix sort of sampler.c, for many candidates):
    # ties (logits rounded to 1/4), -0 and +0 at the top (equal: id order), banned -inf
    rs = np.random.default_rng(77)
    xv = np.round(rs.standard_normal(50257) * 8).astype(np.float32) / 4
    xv[rs.integers(0, 50257, 40)] = -np.inf
    xz = np.full(3000, -30.0, np.float32)  # the four zeros hold the mass: top_p 0.5 keeps two of them
    xz[[5, 17, 900, 2999]] = [0.0, -0.0, -0.0, 0.0]
    xz[rs.integers(0, 3000, 50)] = -np.inf
    cs.append(case(xv, T=0.8, top_k=0, top_p=0.95, draws=20, seed=11, name="top_p over 50257 ids, ties"))
    cs.append(case(xv, T=1.0, top_k=30000, top_p=1.0, min_p=0.01, draws=20, seed=12, name="top_k 30000 of 50257"))
    cs.append(case(xz, T=1.0, top_k=0, top_p=0.5, draws=20, seed=13, name="top_p: -0 and +0 at the top"))
    cs.append(case(xv, T=1.2, top_k=0, top_p=0.0, draws=20, seed=14, name="top_p 0: the best id only (llama.cpp)"))
    return cs


def main():
    tool = sys.argv[1]
    rs = np.random.default_rng(2024)
    edges = edge_cases()
    rand = random_cases(rs, 60 if SANITIZE else 400)
    got = run_c(tool, edges + rand)
    ge, gr = got[:len(edges)], got[len(edges):]

    for c, g in zip(edges, ge):
        ok, msg = compare(c, g)
        check(c["name"], ok, msg)
    by = {c["name"]: g for c, g in zip(edges, ge)}

    # what the edge cases must show, beyond agreeing with the reference
    p = by["every token penalised"][0]
    check("  ... every probability changed by the penalties", p is not None and
          not np.allclose(p, by["(penalties off)"][0]))
    p = by["min_p = 1 keeps the max"][0]
    check("  ... one-hot on the max", list(np.nonzero(p)[0]) == [0] and p[0] == 1.0, str(p))
    p = by["min_p = 1 keeps the max and its tie"][0]
    check("  ... two tokens at 1/2", list(np.nonzero(p)[0]) == [0, 5] and abs(p[0] - 0.5) < 1e-7, str(p))
    p, q = by["repeat penalty on negative logits"][0], reference(case(XN))[0]
    check("  ... x3 = -0.5 * 2 (dividing would raise it): p3 falls", p[3] < q[3] and
          abs(p[3] / p[0] - math.exp(-1.0 + 0.2)) < 1e-6, "%s vs %s" % (p, q))
    check("  ... empty history == penalties off (bitwise, same draws)",
          np.array_equal(by["empty history"][0], by["(penalties off)"][0]) and
          by["empty history"][1] == by["(penalties off)"][1])
    pw, p0 = by["window of 3"][0], by["last_n = 0"][0]
    check("  ... window of 3: id 0 (outside) keeps its odds to id 7, ids 1 and 2 lose theirs",
          abs(pw[0] / pw[7] - p0[0] / p0[7]) < 1e-5 * p0[0] / p0[7] and pw[1] / pw[7] < p0[1] / p0[7] and
          pw[2] / pw[7] < p0[2] / p0[7], "%s vs %s" % (pw, p0))
    check("  ... last_n = 0 == penalties off", np.array_equal(p0, by["(penalties off)"][0]))
    check("  ... greedy with penalties picks 1, without picks 0",
          by["greedy with penalties"][1] == [1, 1, 1] and by["greedy without penalties"][1] == [0, 0, 0],
          "%s %s" % (by["greedy with penalties"][1], by["greedy without penalties"][1]))

    n_ok, worst, n_draws, bad = 0, 0.0, 0, []
    for c, g in zip(rand, gr):
        ok, msg = compare(c, g)
        if ok:
            n_ok += 1
            worst = max(worst, float(np.max(np.abs(g[0] - reference(c)[0]))))
            n_draws += len(g[1])
        else:
            bad.append("%s (V %d T %g k %d p %g min_p %g rep %g freq %g pres %g n %d hist %d): %s" % (
                c["name"], len(c["x"]), c["T"], c["top_k"], c["top_p"], c["min_p"], c["rep"], c["freq"], c["pres"],
                c["last_n"], len(c["hist"]), msg))
    check("random cases: probabilities and draws == reference", not bad,
          "%d/%d cases, max|p - ref| %.1e, %d draws identical%s" % (n_ok, len(rand), worst, n_draws,
                                                                   "".join("\n    " + b for b in bad[:5])))

    # parameters the sampler must refuse
    refused = run_c(tool, [case(X8, T=2.5), case(X8, min_p=1.5), case(X8, rep=0.0), case(X8, top_p=-0.5),
                           case(X8, last_n=-1), case(X8, last_n=(1 << 24) + 1)])
    check("out-of-range params refused (T 2.5, min_p 1.5, repeat 0, top_p -0.5, last_n -1 / 2^24+1)",
          all(r is None for r in refused))

    if failures:
        print("%d checks failed" % len(failures))
        return 1
    print("sampler == llama.cpp-definition reference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
