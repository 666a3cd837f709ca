"""gpt_parity: the C decoder vs the independent numpy reference (ref_gpt2.py) on random GPT-2 models.

For several shapes (d_head 16 / 24 / 8, d not a multiple of 32 where the type allows, odd vocabularies),
tied and untied output, and every weight type (f32, f16, q8_0, q4_0), it checks
  1. all-position logits of a 40-token prompt (batch path: sgemm), also split into steps of 7 and 16
     positions (attention over an existing cache: per-row kernel and sgemm);
  2. 32 greedy steps through the KV cache (one token per eval: matvec path), compared with the reference
     run over the whole sequence; each C choice must be the reference argmax (or within tolerance of it);
  3. embedding-row inputs: rows equal to token_embd rows give bit-identical logits to the ids, and
     arbitrary rows match the reference;
  4. the optional f16 KV cache (f32 and q8_0 weights) against the reference with keys and values
     rounded to float16: tolerance 3e-4 where f32 has 1e-4 (measured <= 7.5e-5: a key rounded from
     float32 in C and from float64 in the reference can land one f16 step apart), else the same.
The reference dequantizes the same stored weights (tools/mmgguf.py), so what remains is float32
arithmetic and, for q8_0/q4_0 matvecs and the q8_0/q4_0 prompt gemm, the 8-bit quantization of the activations
(as in ggml).
Tolerances (max |diff| / max |logit| of the reference):
  f32, and every batch path (weights dequantized to f32, sgemm):            1e-4  (issue requirement)
  q4_0 prompts, q8_0 too with MMGPT_GEMM=int8-q8_0 (the int8 gemm at the avx2/avx512 levels, default;
    MMGPT_GEMM=f32 takes the f32 path):
    against the reference that rounds the inputs of those products to 8 bits per block of 32, half to even as
    the gemm does (ref_gpt2 gemm_q8, the
    types from ref_gpt2.prompt_q8_types for the level gpt_driver reports), per position: 1e-4 (float32
    arithmetic, as every batch path; measured <= 2.4e-7) at every position none of whose rounded inputs lies
    within 2e-5 steps of a rounding boundary (ref_gpt2.Ambiguity: float32 may round such an input the other
    way, and through the keys and values every later position inherits it: measured 8e-4..1.2e-2 there);
    ambiguous positions are held to the decode bound 3e-2; at least a third of all such positions must be clean
    (measured: 3/4; 583 of 1120, 52%, with MMGPT_GEMM=int8-q8_0 at avx2 and avx512). Without the rounding the same files are
    0.9-1.6e-2 off. Checked against a planted bug (the last block's weight scale 5% off in gemm_int8.c's
    packing): every q4_0 batch check fails (6.5e-2..7.5e-2 at clean positions), as do gpt_quant_types' q4_k,
    gguf_quantize's gpt2 q4_k_m (2.0e-2) and llama_parity's q4_k_m batches (median position 4.3e-3..3.7e-2);
    the same plant in the Q8_0 packing (avx2 and avx512): the q8_0 tied batches fail (5.1e-2).
  f16 decode:                                                               1e-3
  q8_0 / q4_0 decode (activations quantized to q8_0 in the dot products):    3e-2
  q8_0 / q4_0 decode vs a reference that rounds the inputs of the same matrix products to 8 bits per
    block of 32 (d = amax/127 in f32, as the kernels do):                    5e-3, and its mean |diff|
    must be at most 1/20 of the mean |diff| against the plain reference (the activation rounding
    explains the error), in at least 75% of the quantized cases. What can remain: an input that lands
    on the other side of a rounding boundary because the reference computes in float64 (one such flip
    moves an input by a full step, and stays in the KV cache for every later step).
Measured at the time of writing (AVX-512 kernels): q8_0/q4_0 decode vs the plain reference
5e-3..1.4e-2; vs the rounding reference 2e-7..3e-7 (one case with a flip: 1.3e-3; mean ratio <= 1/200);
every f32/f16 and batch case <= 6e-7.
usage: test_gpt_parity.py GPT_DRIVER
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
import ref_gpt2  # noqa: E402
import make_random_gpt2  # noqa: E402

TOL_BATCH = 1e-4
TOL_DECODE = {"f32": 1e-4, "f16": 1e-3, "q8_0": 3e-2, "q4_0": 3e-2}
TOL_ACT_Q8 = 5e-3
TOL_KV_F16 = 3e-4   # f16 KV cache: C rounds f32 keys/values, the reference float64 ones (measured <= 7.5e-5)
TOL_AMBIGUOUS = 3e-2   # positions after an input within AMBIGUOUS_STEPS of a rounding boundary (the decode bound)
GEMM_Q8 = frozenset()   # weight types whose prompt products round their input (set in main from the level)
PROMPT_POSITIONS = [0, 0]   # clean / all positions of the prompt checks where inputs are rounded

DRIVER = sys.argv[1] if len(sys.argv) > 1 else None
SANITIZE = os.environ.get("MMGPT_SANITIZE_RUN") == "1"
TMP = os.environ.get("MMGPT_TEST_TMP") or tempfile.mkdtemp()
failures = []
ROUNDING_CASES = []


KV_F16 = False


def run(*args):
    env = dict(os.environ, MMGPT_TEST_KV_F16="1" if KV_F16 else "0")
    r = subprocess.run([DRIVER] + [str(a) for a in args], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError("gpt_driver %s failed: %s" % (" ".join(map(str, args[:2])), r.stderr.strip()))


def check(name, ok, msg):
    print("%-58s %s  %s" % (name, "ok  " if ok else "FAIL", msg))
    if not ok:
        failures.append(name)


def rel_err(a, ref):
    return float(np.max(np.abs(a - ref)) / np.max(np.abs(ref)))


def one_model(shape, ttype, tied, steps, seed):
    V, ctx, d, L, H, ff = shape
    tag = "V%d d%d L%d H%d %s %s%s" % (V, d, L, H, ttype, "tied" if tied else "untied", " kv-f16" if KV_F16 else "")
    path = os.path.join(TMP, "gpt_parity_%d.gguf" % os.getpid())
    make_random_gpt2.make_model(path, V=V, n_ctx=ctx, d=d, n_layer=L, n_head=H, d_ff=ff, ttype=ttype,
                                tied=tied, seed=seed)
    p = ref_gpt2.load_gguf(path)
    rng = np.random.default_rng(seed + 100)
    n_prompt = 40 if not SANITIZE else 12
    prompt = rng.integers(0, V, n_prompt)
    ids_path = os.path.join(TMP, "gpt_ids_%d.npy" % os.getpid())
    out_path = os.path.join(TMP, "gpt_out_%d.npy" % os.getpid())
    np.save(ids_path, prompt.astype(np.float32))

    # 1. all-position logits, one batch and steps of 7
    amb = ref_gpt2.Ambiguity(ref_gpt2.AMBIGUOUS_STEPS)
    ref = ref_gpt2.forward(p, list(prompt), kv_f16=KV_F16, gemm_q8=GEMM_Q8, amb=amb)
    for n_batch, thr in ((512, 2), (7, 1), (16, 2)):   # 7: per-row attention; 16: sgemm after a cache
        run(path, "logits", ids_path, out_path, n_batch, thr)
        c = np.load(out_path)
        tb = TOL_KV_F16 if KV_F16 else TOL_BATCH
        prompt_check("%s all-logits batch %d" % (tag, n_batch), c, ref, amb, tb, ttype in GEMM_Q8)

    # 2. greedy decode through the KV cache
    tok_path = os.path.join(TMP, "gpt_tok_%d.npy" % os.getpid())
    run(path, "greedy", ids_path, steps, tok_path, out_path, 2)
    toks = np.load(tok_path).astype(np.int64)
    lg = np.load(out_path)
    seq = list(prompt) + list(toks[:-1])
    ref_steps = ref_gpt2.forward(p, seq, kv_f16=KV_F16)[n_prompt - 1:]   # = rerunning the sequence every step
    e = rel_err(lg, ref_steps)
    tol = max(TOL_DECODE[ttype], TOL_KV_F16) if KV_F16 else TOL_DECODE[ttype]
    scale = np.max(np.abs(ref_steps))
    choice_ok = all(ref_steps[k][toks[k]] >= np.max(ref_steps[k]) - 2 * tol * scale for k in range(steps))
    check("%s greedy %d steps (KV cache)" % (tag, steps), e <= tol and choice_ok,
          "rel %.2e (tol %.0e), choices %s, tokens %s" % (e, tol, "ok" if choice_ok else "WRONG",
                                                          " ".join(map(str, toks[:8]))))
    if ttype in ("q8_0", "q4_0"):
        # the same numerics as ggml-style kernels: inputs of quantized products rounded to q8_0 blocks.
        # Kernels that keep the input in f32 (the plain-C fallback) match the plain reference instead.
        # The prompt ran as one batch (sgemm on f32-dequantized weights: inputs not rounded), except
        # for the output matrix of its last position (one row: matvec); the following positions ran
        # one by one through the matvec kernels (inputs rounded).
        pos = np.arange(len(seq))
        ref_q = ref_gpt2.forward(p, seq, act_q8=pos >= n_prompt, act_q8_out=pos >= n_prompt - 1,
                                 kv_f16=KV_F16, gemm_q8=GEMM_Q8)[n_prompt - 1:]
        eq = rel_err(lg, ref_q)
        mq, mp = float(np.mean(np.abs(lg - ref_q))), float(np.mean(np.abs(lg - ref_steps)))
        # either the kernels keep f32 inputs (then the plain reference matches to 1e-4), or the
        # error is the activation rounding: the rounding reference must then explain most of it.
        ok = e <= TOL_BATCH or (eq <= TOL_ACT_Q8 and mq <= 0.05 * mp)
        ROUNDING_CASES.append(ok)
        print("%-58s %s  %s" % ("%s greedy vs q8-activation reference" % tag, "ok  " if ok else "flip",
                                "rel %.2e (tol %.0e), mean |diff| %.2e vs %.2e against the plain reference"
                                % (eq, TOL_ACT_Q8, mq, mp)))
    return path, p, prompt, ids_path, out_path


def prompt_check(name, c, ref, amb, tol, rounded):
    """all-position logits c against ref: clean positions (amb.rows false) to tol, ambiguous ones to
    TOL_AMBIGUOUS; rounded: the prompt products round their inputs (counted for the share of clean positions)"""
    if c.shape != ref.shape:
        check(name, False, "shape %s vs %s" % (c.shape, ref.shape))
        return
    e_clean, e_amb, n_clean = ref_gpt2.position_errors(c, ref, amb.rows)
    if rounded:
        PROMPT_POSITIONS[0] += n_clean
        PROMPT_POSITIONS[1] += len(ref)
    check(name, e_clean <= tol and e_amb <= TOL_AMBIGUOUS,
          "rel %.2e (tol %.0e) at %d clean positions, %.2e (tol %.0e) at %d ambiguous" % (
              e_clean, tol, n_clean, e_amb, TOL_AMBIGUOUS, len(ref) - n_clean))


def embd_checks(path, p, prompt, ids_path, out_path):
    tag = "embd rows (%s)" % os.path.basename(path)
    V, d = p["wte"].shape
    emb_path = os.path.join(TMP, "gpt_emb_%d.npy" % os.getpid())
    run(path, "logits", ids_path, out_path, 512, 1)
    by_id = np.load(out_path)
    # rows equal to token_embd rows (dequantized as stored) at every other position
    sel = np.arange(len(prompt)) % 2 == 1
    ids = prompt.astype(np.float32).copy()
    ids[sel] = -1
    rows = p["wte"][prompt[sel]].astype(np.float32)
    np.save(emb_path, rows)
    np.save(ids_path + ".e.npy", ids)
    run(path, "embd", ids_path + ".e.npy", emb_path, out_path, 1)
    c = np.load(out_path)
    check("embedding rows == token rows give identical logits", np.array_equal(c, by_id),
          "max diff %.3g" % float(np.max(np.abs(c - by_id))))
    # arbitrary rows (as image/audio embeddings would be) vs the reference
    rng = np.random.default_rng(7)
    rows = (rng.standard_normal((int(sel.sum()), d)) * 0.5).astype(np.float32)
    np.save(emb_path, rows)
    run(path, "embd", ids_path + ".e.npy", emb_path, out_path, 2)
    c = np.load(out_path)
    inputs, k = [], 0
    for i, t in enumerate(prompt):
        if sel[i]:
            inputs.append(rows[k].astype(np.float64))
            k += 1
        else:
            inputs.append(int(t))
    amb = ref_gpt2.Ambiguity(ref_gpt2.AMBIGUOUS_STEPS)
    ref = ref_gpt2.forward(p, inputs, gemm_q8=GEMM_Q8, amb=amb)
    prompt_check("arbitrary embedding rows vs reference", c, ref, amb, TOL_BATCH,
                 any(t in GEMM_Q8 for t in p["types"].values()))


def main():
    if not DRIVER or not os.path.exists(DRIVER):
        print("usage: test_gpt_parity.py GPT_DRIVER")
        return 2
    global GEMM_Q8
    kernel = subprocess.run([DRIVER, "kernel"], capture_output=True, text=True).stdout.strip()
    GEMM_Q8 = ref_gpt2.prompt_q8_types(kernel)
    print("kernel level %s; prompt products with 8-bit inputs: %s" % (kernel, " ".join(sorted(GEMM_Q8)) or "none"))
    steps = 32 if not SANITIZE else 6
    # (V, n_ctx, d, n_layer, n_head, d_ff)
    shapes_q = [(300, 80, 64, 2, 4, 256),      # d_head 16
                (257, 80, 96, 3, 4, 384)]      # d_head 24, odd vocabulary
    shape_f = (123, 80, 40, 2, 5, 160)         # d 40 (not a multiple of 32), d_head 8: float types only
    cases = []
    for si, sh in enumerate(shapes_q):
        for tt in ("f32", "f16", "q8_0", "q4_0"):
            for tied in (True, False):
                cases.append((sh, tt, tied, 10 * si + len(cases)))
    for tt in ("f32", "f16"):
        for tied in (True, False):
            cases.append((shape_f, tt, tied, 50 + len(cases)))
    if SANITIZE:
        cases = [c for c in cases if c[0] == shapes_q[0] and c[2]][::2]   # f32 and q8_0, tied
    first = None
    for sh, tt, tied, seed in cases:
        r = one_model(sh, tt, tied, steps, seed)
        if tt == "q4_0" and first is None:
            first = r
            embd_checks(*r)
    if first is None:
        embd_checks(*r)
    # the optional f16 KV cache, against the reference with keys and values rounded to f16
    global KV_F16
    KV_F16 = True
    kv_cases = [(shapes_q[0], "f32", False, 71), (shapes_q[1], "q8_0", False, 72)]
    for sh, tt, tied, seed in (kv_cases if not SANITIZE else kv_cases[:1]):
        one_model(sh, tt, tied, steps, seed)
    if PROMPT_POSITIONS[1]:
        check("prompt positions clean of ambiguous roundings", 3 * PROMPT_POSITIONS[0] >= PROMPT_POSITIONS[1],
              "%d of %d (>= a third required: the 1e-4 checks above must cover many positions)" % tuple(PROMPT_POSITIONS))
    if ROUNDING_CASES:
        k = sum(ROUNDING_CASES)
        check("rounding reference explains the quantized decode error", k >= 0.75 * len(ROUNDING_CASES),
              "%d of %d cases (>= 75%% required: a rounding-boundary flip, which persists in the KV cache, "
              "may spoil a case)" % (k, len(ROUNDING_CASES)))
    if failures:
        print("FAILED: %d checks: %s" % (len(failures), ", ".join(failures)))
        return 1
    print("all parity checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
