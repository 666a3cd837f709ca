#!/usr/bin/python3
"""app_sampling: the repetition penalties and min-p on the command line, end to end.

- Ranges: --repeat-penalty [0.01, 10], --repeat-last-n [-1, 1048576], --presence-penalty and
  --frequency-penalty [-10, 10], --min-p [0, 1]; a value outside (or not a number) is a usage error
  (exit 2, one line naming the option and the range) for the text-only generate, generate --image,
  caption and chat; --help of each lists the five options.
- Greedy with penalties against the independent reference (tests/fusion/ref_fused.py forward, the
  penalties applied to its float32 logits as llama.cpp defines them, then argmax), where the window is
  the last N tokens of everything before the position (prompt included, media rows skipped):
    * text-only `generate` (apps/cmd_generate.c: the prompt's tokens, then each sampled token);
    * `chat --multi-turn` over two turns with a picture (the product API, fusion/mmgpt.c: the window
      is the conversation the KV cache holds - template text, the first answer and its end-of-text);
  each checked also to differ from plain greedy and from a window without the prompt, so the test
  fails if the penalties or the prompt part of the window are dropped.
"""
import os
import sys
from collections import Counter

import numpy as np

from apptest import (SRC, check, finish, make_model, need_bin, reference_image_rows, run, tmpdir, write_ppm)

sys.path.insert(0, os.path.join(SRC, "tests", "fusion"))

OPTS = [("--repeat-penalty", "[0.01, 10]", ["0", "10.5", "x"]),
        ("--repeat-last-n", "[-1, 1048576]", ["-2", "1048577", "1.5"]),
        ("--presence-penalty", "[-10, 10]", ["-11", "nan"]),
        ("--frequency-penalty", "[-10, 10]", ["10.01", "inf"]),
        ("--min-p", "[0, 1]", ["-0.1", "1.01"])]


def penalise(lg, window, rep, freq, pres):
    """llama.cpp's llama_sampler_penalties on float32 logits."""
    x = np.asarray(lg, np.float32).copy()
    rep, freq, pres = np.float32(rep), np.float32(freq), np.float32(pres)
    for t, c in Counter(window).items():
        v = x[t]
        v = v * rep if v <= 0 else v / rep
        x[t] = v - (np.float32(c) * freq + np.float32(1) * pres)
    return x


def greedy_pen(ref_fused, rm, seq, n, last_n, pen, prompt_in_window=True):
    """Greedy continuation of seq (ids and media rows) with penalties over the last last_n tokens."""
    seq = list(seq)
    start = len(seq)
    out = []
    for _ in range(n):
        lg = ref_fused.logits(rm, seq)[-1]
        toks = [int(t) for t in (seq if prompt_in_window else seq[start:]) if not isinstance(t, np.ndarray)]
        window = toks[-last_n:] if last_n > 0 else (toks if last_n < 0 else [])
        t = int(np.argmax(penalise(lg, window, *pen)))
        if t == rm.eos:
            break
        out.append(t)
        seq.append(t)
    return out


def main():
    need_bin()
    import ref_fused
    d = tmpdir("app_sampling")
    m = make_model(d, "m.gguf", "--seed", "41", "--std", "0.4")
    img = write_ppm(os.path.join(d, "pic.ppm"), 21, 17, 8)

    # ---- ranges
    cmds = {"generate": ["generate", "-m", m, "-p", "hi", "-n", "2"],
            "generate --image": ["generate", "-m", m, "--image", img, "-p", "hi", "-n", "2"],
            "caption": ["caption", "-m", m, "-n", "2", img],
            "chat": ["chat", "-m", m, "-n", "2"]}
    for cname, base in cmds.items():
        bad = []
        for opt, rng, values in OPTS:
            for v in values:
                rc, out, err = run(base + [opt, v], stdin=b"")
                lines = [ln for ln in err.split("\n") if ln]
                if not (rc == 2 and len(lines) == 1 and opt in err and rng in err):
                    bad.append("%s %s: exit %d %r" % (opt, v, rc, err))
            rc, out, err = run(base + [opt], stdin=b"")
            if rc != 2 or opt not in err:
                bad.append("%s without a value: exit %d %r" % (opt, rc, err))
        check("%s: out-of-range values are usage errors naming option and range" % cname, not bad, "; ".join(bad[:4]))
        rc, out, err = run(base + ["--repeat-penalty", "1.3", "--repeat-last-n", "-1", "--presence-penalty", "-0.5",
                                   "--frequency-penalty", "0.25", "--min-p", "0.1", "--temp", "0.7", "-q"], stdin=b"hi\n")
        check("%s: values in range accepted" % cname, rc == 0, "exit %d %r" % (rc, err))
        rc, out, err = run([base[0], "--help"])
        check("%s --help lists the five options" % cname,
              rc == 0 and all(o in out for o, _, _ in OPTS), out[-600:])

    # ---- the reference
    rm = ref_fused.load(m)
    img_rows = reference_image_rows(ref_fused, rm, m, img, d)
    if img_rows is None:
        return finish()

    def text(toks, trim=False):
        t = ref_fused.detok(rm, toks).decode("utf-8", "replace")
        return t[1:] if trim and t.startswith(" ") else t

    def ascii_pieces(toks):
        """Texts of the tokens the model says (ASCII only: ref_fused.bpe is exact for ASCII)."""
        out = []
        for t in toks:
            p = ref_fused.detok(rm, [t])
            if p and all(32 <= c < 127 for c in p) and p.decode() not in out:
                out.append(p.decode())
        return out

    def pick(build, base, n, last_n, pen):
        """A prompt text (base + a piece the model would say) under which the penalties change the greedy
        answer AND the prompt's part of the window matters; -> (text, want, plain, want_all) or None."""
        plain0 = greedy_pen(ref_fused, rm, build(base), n, 0, pen)
        for piece in [""] + ascii_pieces(plain0):
            seq = build(base + piece)
            want = greedy_pen(ref_fused, rm, seq, n, last_n, pen)
            plain = greedy_pen(ref_fused, rm, seq, n, 0, pen)
            if want != plain and want != greedy_pen(ref_fused, rm, seq, n, last_n, pen, prompt_in_window=False):
                return base + piece, want, plain
        return None

    # ---- text-only generate: the window holds the prompt's tokens, then the generated ones
    N = 12
    pen = (2.0, 0.6, 0.8)                    # repeat, frequency, presence
    last_n = 16
    got = pick(lambda t: ref_fused.bpe(rm, t), "the cat sat on the mat and", N, last_n, pen)
    if not check("generate: a prompt where the penalties and the prompt's part of the window change the "
                 "greedy answer (so the test can fail)", got is not None):
        return finish()
    prompt, want, plain = got
    args = ["generate", "-m", m, "-p", prompt, "-n", str(N), "--temp", "0", "-q", "--repeat-penalty", str(pen[0]),
            "--frequency-penalty", str(pen[1]), "--presence-penalty", str(pen[2]), "--repeat-last-n", str(last_n)]
    rc, out, err = run(args)
    check("generate --temp 0 with penalties == reference (window = prompt + answer)", rc == 0 and out == text(want),
          "prompt %r: got %r want %r (plain greedy %r) %s" % (prompt, out, text(want), text(plain), err[-200:]))
    want_all = greedy_pen(ref_fused, rm, ref_fused.bpe(rm, prompt), N, -1, pen)
    rc, out, err = run(args[:-1] + ["-1"])
    check("generate --repeat-last-n -1 (the whole context) == reference", rc == 0 and out == text(want_all),
          "got %r want %r" % (out, text(want_all)))

    # ---- chat --multi-turn (the product API): the window is the conversation in the KV cache
    N = 8
    pen = (1.8, 0.4, 0.6)
    last_n = 24
    q1 = "What is it?"
    seq1 = ref_fused.turn(rm, q1, [img_rows], raw=False)
    t1 = greedy_pen(ref_fused, rm, seq1, N, last_n, pen)
    got = pick(lambda q: seq1 + t1 + [rm.eos] + ref_fused.turn(rm, q, [], raw=False), "And the colour", N, last_n, pen)
    if not check("chat: a second question where the penalties and the conversation's part of the window "
                 "change the greedy answer (so the test can fail)", got is not None):
        return finish()
    q2, t2, p2 = got
    rc, out, err = run(["chat", "-m", m, "--image", img, "-n", str(N), "-t", "1", "-q", "--multi-turn",
                        "--repeat-penalty", str(pen[0]), "--frequency-penalty", str(pen[1]), "--presence-penalty",
                        str(pen[2]), "--repeat-last-n", str(last_n)], stdin=("%s\n%s\n" % (q1, q2)).encode())
    answers = out.split("\n")
    want = [text(t1, True), text(t2, True)]
    check("chat --multi-turn with penalties == reference of the conversation", rc == 0 and answers[:2] == want,
          "questions %r: got %r want %r (2nd without penalties %r) %s" % ([q1, q2], answers[:2], want,
                                                                        text(p2, True), err[-200:]))

    # min-p and the penalties change nothing at their neutral values: greedy output as before
    rc, a, _ = run(["caption", "-m", m, "-n", "8", "-q", img])
    rc2, b, _ = run(["caption", "-m", m, "-n", "8", "-q", img, "--min-p", "0", "--repeat-penalty", "1",
                     "--repeat-last-n", "0"])
    check("caption: defaults == neutral values (greedy unchanged)", rc == 0 and rc2 == 0 and a == b and len(a) > 0,
          "%r vs %r" % (a, b))
    return finish()


if __name__ == "__main__":
    sys.exit(main())
