#!/usr/bin/python3
"""app_options: one option table (apps/options.def) for the decoder commands, one meaning per flag, one exit
code per kind of failure (issue 15.2).

- `generate --help` is the same text with or without --image; every command's --help names its own defaults
  (generate samples at 0.8, seed 1234, -n 64; caption/describe/ask/chat are greedy, -n 128).
- --system is honoured by generate and logits (raw: the system text, tokenized on its own, comes first): the
  first rows of `logits --system S -p P` are those of `logits -p S` (the decoder is causal), there
  are rows(S) + rows(P) of them, and the rows of P differ from `logits -p P` (the system text is seen).
- --kv-f16 is taken by every decoder command; on logits it rounds keys/values (close to f32, not equal).
- The same failure gives the same exit code in every command: a prompt over the context is 3 (input) with
  or without media; -n N that cannot fit after the prompt is 2 (usage) on generate (text and media) and
  caption; an unknown option is 2 naming it.
- generate takes --json (one object, as with media) and -f FILE.
"""
import json
import os
import sys

import numpy as np

from apptest import check, finish, make_model, need_bin, run, tmpdir, write_ppm, write_wav


def main():
    need_bin()
    d = tmpdir("app_options")
    m = make_model(d, "m.gguf", "--seed", "4")
    small = make_model(d, "small.gguf", "--seed", "4", "--n-ctx", "40")
    img = write_ppm(os.path.join(d, "pic.ppm"), 20, 30, 1)
    wav = write_wav(os.path.join(d, "beep.wav"), 0.6, 16000, 2)

    # ---- --help: one text per command, whatever else is on the line; each command's defaults
    rc1, h1, _ = run(["generate", "--help"])
    rc2, h2, _ = run(["generate", "--image", img, "--help"])
    rc3, h3, _ = run(["generate", "-m", m, "--audio", wav, "-p", "x", "--help"])
    check("generate --help is the same text with or without --image/--audio",
          rc1 == 0 and rc2 == 0 and rc3 == 0 and h1 == h2 == h3 and h1.startswith("usage: mmgpt generate"))
    check("generate --help: its own defaults (temp 0.8, seed 1234, -n 64)",
          "(default 0.8; 0 = greedy)" in h1 and "(default 1234)" in h1 and "(default 64;" in h1, h1[-1500:])
    for cmd in ("caption", "describe", "ask", "chat"):
        rc, h, _ = run([cmd, "--help"])
        check("%s --help: greedy, -n 128, --system, --kv-f16, --chat-template" % cmd,
              rc == 0 and "(default 0 = greedy)" in h and "(default 128;" in h and "--system TEXT" in h and
              "--kv-f16" in h and "--chat-template" in h, h[-800:])
    rc, h, _ = run(["logits", "--help"])
    check("logits --help: -o, --system, --kv-f16; no sampling options, no --json", rc == 0 and
          "-o, --output FILE" in h and "--system TEXT" in h and "--kv-f16" in h and "--json" not in h and
          "--temp" not in h and "--stop" not in h, h)
    rc, out, err = run(["logits", "-m", m, "-p", "x", "-o", os.path.join(d, "x.npy"), "--json"])
    check("logits --json: unknown option (exit 2)", rc == 2 and "--json" in err, err)

    # ---- --system in raw mode (generate, logits)
    def logits(*args):
        out = os.path.join(d, "l.npy")
        if os.path.exists(out):
            os.remove(out)
        rc, _, err = run(["logits", "-m", m, "-o", out, "-t", "2"] + list(args))
        return (np.load(out) if rc == 0 else None), err

    S, P = "You answer in French.", " Hello there, how are you?"
    ls, e1 = logits("-p", S)
    lp, e2 = logits("-p", P)
    lsp, e3 = logits("--system", S, "-p", P)
    ok = ls is not None and lp is not None and lsp is not None
    check("logits -p S / -p P / --system S -p P run", ok, e1 + e2 + e3)
    if ok:
        ns, n_p = ls.shape[0], lp.shape[0]
        check("logits --system S -p P: rows(S) + rows(P) positions", lsp.shape[0] == ns + n_p,
              "%s vs %d + %d" % (lsp.shape, ns, n_p))
        check("logits --system S -p P: the first rows are logits -p S (rel 1e-5: another batch size)",
              lsp.shape[0] == ns + n_p and float(np.max(np.abs(lsp[:ns] - ls)) / np.max(np.abs(ls))) < 1e-5)
        check("logits --system S -p P: P is read after S (its rows differ from -p P alone)",
              lsp.shape[0] == ns + n_p and not np.allclose(lsp[ns:], lp, atol=1e-6))
    ra = run(["generate", "-m", m, "-p", P, "--temp", "0", "-n", "8", "-q"])
    rb = run(["generate", "-m", m, "--system", S, "-p", P, "--temp", "0", "-n", "8", "-q"])
    check("generate --system runs and changes the greedy text's context", ra[0] == 0 and rb[0] == 0, ra[2] + rb[2])

    # ---- --kv-f16 everywhere it makes sense
    lk, ek = logits("-p", P, "--kv-f16")
    ok = lk is not None and lp is not None and lk.shape == lp.shape
    check("logits --kv-f16: close to f32 (rel < 1e-2) but rounded (not identical)",
          ok and not np.array_equal(lk, lp) and
          float(np.max(np.abs(lk - lp)) / np.max(np.abs(lp))) < 1e-2, ek)
    for args in (["generate", "-p", "x", "-n", "2"], ["caption", img, "-n", "2"], ["describe", wav, "-n", "2"],
                 ["ask", img, "what?", "-n", "2"]):
        rc, _, err = run([args[0], "-m", m, "--kv-f16", "-q"] + args[1:])
        check("%s --kv-f16 accepted" % args[0], rc == 0, err)
    rc, _, err = run(["chat", "-m", m, "--kv-f16", "-q", "-n", "2"], stdin=b"hi\n")
    check("chat --kv-f16 accepted", rc == 0, err)

    # ---- one exit code per kind of failure
    long_prompt = "why " * 60
    for name, args in (("generate (text)", ["generate", "-m", small, "-p", long_prompt]),
                       ("generate --image", ["generate", "-m", small, "--image", img, "-p", long_prompt]),
                       ("logits", ["logits", "-m", small, "-p", "why " * 60, "-o", os.path.join(d, "x.npy")]),
                       ("ask", ["ask", "-m", small, img, long_prompt])):
        rc, _, err = run(args)
        check("%s: prompt over the context -> exit 3" % name, rc == 3 and "context" in err, "rc %d %r" % (rc, err))
    for name, args in (("generate (text)", ["generate", "-m", small, "-p", "hi", "-n", "40"]),
                       ("generate --image", ["generate", "-m", small, "--image", img, "-p", "hi", "-n", "30"]),
                       ("caption", ["caption", "-m", small, img, "-n", "39"])):
        rc, _, err = run(args)
        check("%s: -n that cannot fit after the prompt -> exit 2 naming -n" % name,
              rc == 2 and "-n " in err and "context" in err and err.count("\n") == 1, "rc %d %r" % (rc, err))
    rc, out, err = run(["generate", "-m", small, "-p", "hi", "-n", "0", "--temp", "0", "-q"])
    check("generate -n 0 on a small context: runs to the full context", rc == 0 and len(out) > 0, err)
    for cmd, extra in (("generate", ["-p", "x"]), ("logits", ["-p", "x", "-o", "x.npy"]), ("caption", [img]),
                       ("describe", [wav]), ("ask", [img, "q"]), ("chat", [])):
        rc, _, err = run([cmd, "-m", m, "--frobnicate"] + extra)
        check("%s --frobnicate -> exit 2, 'unknown option'" % cmd,
              rc == 2 and "%s: unknown option '--frobnicate'" % cmd in err, "rc %d %r" % (rc, err))

    # ---- generate: --json and -f as on every other command
    rc, out, err = run(["generate", "-m", m, "-p", "hello", "-n", "3", "--temp", "0", "--json"])
    try:
        o = json.loads(out)
    except ValueError:
        o = {}
    check("generate (text) --json: one object", rc == 0 and o.get("task") == "generate" and
          o.get("generated_tokens", 0) >= 1 and o.get("media_positions") == 0, out + err)
    pf = os.path.join(d, "prompt.txt")
    with open(pf, "w") as f:
        f.write("hello")
    rf = run(["generate", "-m", m, "-f", pf, "-n", "5", "--temp", "0", "-q"])
    rp = run(["generate", "-m", m, "-p", "hello", "-n", "5", "--temp", "0", "-q"])
    check("generate -f FILE == -p TEXT", rf[0] == 0 and rf[1] == rp[1], rf[2])
    return finish()


if __name__ == "__main__":
    sys.exit(main())
