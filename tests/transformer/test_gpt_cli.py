"""gpt_cli: `mmgpt logits`, `mmgpt generate`, `mmgpt params` against independent references.

A random f32 GPT-2 model (d 64, 2 layers) is built with tools/make_random_gpt2.py and the real GPT-2
vocabulary (tests/data/gpt2_bpe/hf). Prompt ids come from the published tokenizer vectors
(tests/data/gpt2_bpe/test_vectors.json), not from our tokenizer.
  - logits: the .npy equals ref_gpt2.forward on those ids (max |diff| <= 1e-4 x max |logit|);
  - generate --temp 0: stdout equals the bytes of the reference's greedy tokens (decoded here with
    GPT-2's byte<->unicode table from vocab.json);
  - --stop: output is the greedy text cut before the stop string; same seed -> same text;
    --temp 2.5 refused (exit 2); prompt + n beyond the context refused (exit 2); missing model exit 4;
  - params: the issue's exact gpt3-175b figures; unknown arch -> exit 2.
"""
import json
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

sys.path.insert(0, os.path.join(HERE, ".."))
import testdata  # noqa: E402

BIN = os.environ.get("MMGPT_BIN")
TMP = os.environ.get("MMGPT_TEST_TMP") or tempfile.mkdtemp()
SANITIZE = os.environ.get("MMGPT_SANITIZE_RUN") == "1"
failures = []


def check(name, ok, msg=""):
    print("%-50s %s  %s" % (name, "ok  " if ok else "FAIL", msg))
    if not ok:
        failures.append(name)


def mmgpt(*args):
    return subprocess.run([BIN] + [str(a) for a in args], capture_output=True)


def rel_ok(c, ref, tol=1e-4):
    return float(np.max(np.abs(c - ref)) / np.max(np.abs(ref))) <= tol


def bytes_decoder():
    """GPT-2's byte -> printable unicode table, inverted (from the GPT-2 paper's released encoder design)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def main():
    if not BIN or not os.path.exists(BIN):
        print("MMGPT_BIN not set")
        return 2
    # params needs nothing else
    r = mmgpt("params", "--arch", "gpt3-175b")
    out = r.stdout.decode()
    figs = ["617,558,016", "14,495,514,624", "57,982,058,496", "175,181,291,520", "27,938"]
    check("params gpt3-175b figures", r.returncode == 0 and all(f in out for f in figs))
    r = mmgpt("params", "--arch", "gpt2", "--json")
    try:
        j = json.loads(r.stdout.decode())
        ok = j["stored_tied"] == 124439808
    except Exception:
        ok = False
    check("params gpt2 --json (124,439,808 stored)", r.returncode == 0 and ok)
    r = mmgpt("params", "--arch", "gpt9")
    check("params unknown arch -> exit 2", r.returncode == 2 and b"unknown" in r.stderr, r.stderr.decode().strip())

    hf = testdata.path("gpt2_bpe", "hf")
    vocab = json.load(open(testdata.path("gpt2_bpe", "hf", "vocab.json"), encoding="utf-8"))
    inv = {i: s for s, i in vocab.items()}
    bd = bytes_decoder()
    decode = lambda ids: b"".join(bytes(bd[ch] for ch in inv[i]) for i in ids)
    cases = json.load(open(testdata.path("gpt2_bpe", "test_vectors.json"), encoding="utf-8"))["cases"]
    case = max((c for c in cases if "<|" not in c["text"]), key=lambda c: len(c["ids"]) if len(c["ids"]) <= 40 else 0)
    text, ids = case["text"], case["ids"]

    model = os.path.join(TMP, "gpt_cli_%d.gguf" % os.getpid())
    make_random_gpt2.make_model(model, n_ctx=96, d=64, n_layer=2, n_head=4, ttype="f32", tied=False, seed=3,
                                tokenizer_dir=hf)
    p = ref_gpt2.load_gguf(model)

    # logits
    npy = os.path.join(TMP, "gpt_cli_%d.npy" % os.getpid())
    r = mmgpt("logits", "-m", model, "-p", text, "-o", npy, "-t", 2)
    ok = r.returncode == 0 and os.path.exists(npy)
    msg = r.stderr.decode().strip()
    if ok:
        c = np.load(npy)
        ref = ref_gpt2.forward(p, ids)
        ok = c.shape == ref.shape
        if ok:
            e = float(np.max(np.abs(c - ref)) / np.max(np.abs(ref)))
            ok = e <= 1e-4
            msg = "%d tokens, rel %.2e (tol 1e-4)" % (len(ids), e)
        else:
            msg = "shape %s, want %s" % (c.shape, ref.shape)
    check("logits vs reference on published ids", ok, msg)

    # BOS only when the file asks for it (tokenizer.ggml.add_bos_token)
    model_bos = os.path.join(TMP, "gpt_cli_bos_%d.gguf" % os.getpid())
    make_random_gpt2.make_model(model_bos, n_ctx=96, d=64, n_layer=2, n_head=4, ttype="f32", tied=False, seed=3,
                                tokenizer_dir=hf, add_bos=True)
    r = mmgpt("logits", "-m", model_bos, "-p", text, "-o", npy)
    ok = r.returncode == 0
    msg = r.stderr.decode().strip()
    if ok:
        c = np.load(npy)
        ref = ref_gpt2.forward(p, [vocab["<|endoftext|>"]] + list(ids))
        ok = c.shape == ref.shape and rel_ok(c, ref)
        msg = "shape %s (want %s)" % (c.shape, ref.shape)
    check("logits with add_bos_token: BOS first", ok, msg)
    os.remove(model_bos)

    # generate, greedy
    n_gen = 24 if not SANITIZE else 6
    toks, _ = ref_gpt2.greedy(p, ids, n_gen)
    eos = vocab["<|endoftext|>"]
    toks = list(toks)
    if eos in toks:
        toks = toks[:toks.index(eos)]
    want = decode(toks)
    r = mmgpt("generate", "-m", model, "-p", text, "-n", n_gen, "--temp", 0, "-t", 2)
    check("generate --temp 0 == reference greedy text", r.returncode == 0 and r.stdout == want,
          "got %r want %r %s" % (r.stdout[:60], want[:60], r.stderr.decode().strip()[-200:]))
    # stop string: cut before it
    if len(want) > 8:
        stop = want[len(want) // 2:len(want) // 2 + 3]
        cut = want[:want.index(stop)]
        r = mmgpt("generate", "-m", model, "-p", text, "-n", n_gen, "--temp", 0, "--stop", stop.decode("latin-1"))
        # --stop takes the argument as bytes; only use ASCII stops
        if all(b < 128 for b in stop):
            check("generate --stop cuts before the stop string", r.returncode == 0 and r.stdout == cut,
                  "got %r want %r" % (r.stdout[:60], cut[:60]))
    # seeds
    a = mmgpt("generate", "-m", model, "-p", text, "-n", 16, "--temp", 1.0, "--seed", 7, "-q")
    b = mmgpt("generate", "-m", model, "-p", text, "-n", 16, "--temp", 1.0, "--seed", 7, "-q", "-t", 1)
    c = mmgpt("generate", "-m", model, "-p", text, "-n", 16, "--temp", 1.0, "--seed", 8, "-q")
    check("generate same seed -> same text", a.returncode == 0 and a.stdout == b.stdout and len(a.stdout) > 0)
    check("generate other seed -> other text", c.returncode == 0 and c.stdout != a.stdout)
    # refusals
    r = mmgpt("generate", "-m", model, "-p", text, "--temp", 2.5)
    check("generate --temp 2.5 refused (exit 2)", r.returncode == 2 and b"2" in r.stderr, r.stderr.decode().strip())
    r = mmgpt("generate", "-m", model, "-p", text, "-n", 96)
    check("generate beyond the context refused (exit 2)", r.returncode == 2 and b"context" in r.stderr,
          r.stderr.decode().strip())
    r = mmgpt("logits", "-m", os.path.join(TMP, "no_such_model.gguf"), "-p", "x", "-o", npy)
    check("missing model -> exit 4", r.returncode == 4, r.stderr.decode().strip())
    for f in (model, npy):
        if os.path.exists(f):
            os.remove(f)
    if failures:
        print("FAILED: %s" % ", ".join(failures))
        return 1
    print("all CLI checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
