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
- Every command (serve included) takes its options from the table: read here from
  apps/options.def on its own, each spelling is one row (one meaning); each option line of every
  --help is a row of the table with its spellings and value name; a command takes exactly the rows its
  --help lists (a listed option missing its value is "needs a value", an unlisted one "unknown option");
  a number option given "x" is exit 2 naming it; an unknown option is exit 2 with "CMD: unknown option
  'X' (see mmgpt CMD --help)"; every --help has the same frame (usage line, options:, -h, --version,
  "exit codes: 0 ok; 2 usage ..."); every command answers --version; a command that cannot take a picture
  does not list --max-tiles (describe did: an option that did nothing).
"""
import json
import os
import re
import sys

import numpy as np

from apptest import SRC, check, finish, make_model, need_bin, run, tmpdir, write_ppm, write_wav

NUMBER_ARGS = ("N", "T", "K", "P", "S", "R", "F", "L")  # value names of numeric options in options.def


def table_rows():
    """The rows of apps/options.def, read independently of options.c: (id, short, long, alias, arg)."""
    text = open(os.path.join(SRC, "apps", "options.def")).read()
    field = r'\s*(NULL|"[^"]*")\s*'
    rows = []
    for m in re.finditer(r"^MM_OPT\((\w+)," + ",".join([field] * 4) + ",", text, re.M):
        rows.append(tuple([m.group(1)] + [None if g == "NULL" else g.strip('"') for g in m.groups()[1:]]))
    return rows


def commands():
    text = open(os.path.join(SRC, "apps", "commands.def")).read()
    return re.findall(r'^MM_CMD\("([^"]+)"', text, re.M)


# the commands that can be given a picture (a FILE / IMAGE argument, --image, /image, a request): the only ones
# whose --help may list how pictures are cut (--max-tiles); elsewhere the option would do nothing
PICTURE_CMDS = {"caption", "ask", "chat", "serve", "generate", "logits", "encode-image"}


def help_options(h):
    """The left column of the option lines of a --help (between "options:" and -h)."""
    out, on = [], False
    for line in h.splitlines():
        if line == "options:":
            on = True
        elif on and line.startswith("  -h, --help"):
            break
        elif on and line.startswith("  -"):
            out.append(re.split(r"\s{2,}", line.strip())[0])
    return out


def check_table_commands():
    rows = table_rows()
    spell = [s for r in rows for s in r[1:4] if s]
    # bench's -p/-n are llama-bench's (prompt lengths, generated tokens): the one documented exception,
    # allowed only as the short names of N_PROMPT/N_GEN; within each command's --help a spelling is one row
    bench_pn = {("N_PROMPT", "-p"), ("N_GEN", "-n")}
    twice = sorted(set(s for s in spell if spell.count(s) > 1))
    twice_rows = sorted((r[0], r[1]) for r in rows if r[1] in twice and r[0] in ("N_PROMPT", "N_GEN"))
    check("options.def: %d rows read, each spelling in one row only (one meaning per flag; bench's -p/-n aside)"
          % len(rows),
          len(rows) > 40 and twice == ["-n", "-p"] and set(twice_rows) == bench_pn and
          spell.count("-p") == 2 and spell.count("-n") == 2 and not {"-h", "--help", "--version"} & set(spell),
          repr(twice))
    left = {(("%s, " % r[1]) if r[1] else "") + r[2] + ((" " + r[4]) if r[4] else ""): r for r in rows}
    cmds = commands()
    rc, top, _ = run(["--help"])
    listed_cmds = re.findall(r"^  (\S+) +\S", top.split("\ncommands:\n", 1)[-1].split("\n\n", 1)[0], re.M)
    check("mmgpt --help: lists exactly the commands of commands.def, in its order", rc == 0 and listed_cmds == cmds,
          repr(listed_cmds))
    check("commands.def: every command, serve included (%d)" % len(cmds), len(cmds) >= 16 and "serve" in cmds,
          repr(cmds))
    for cmd in cmds:
        rc, h, err = run([cmd, "--help"])
        opts = help_options(h)
        check("%s --help: the one frame (usage, options:, -h, --version, exit codes 0 2 3 4 5)" % cmd,
              rc == 0 and h.startswith("usage: mmgpt %s " % cmd) and "\noptions:\n" in h and
              "\n  -h, --help             this help\n  --version              print the version\n" in h and
              re.search(r"\nexit codes: 0 ok; 2 usage \(.*3 input.*4 model.*5 internal", h, re.S) is not None and
              len(opts) > 0, h)
        unknown = [o for o in opts if o not in left]
        mine = [sp for o in opts if o in left for sp in left[o][1:4] if sp]
        check("%s --help: each spelling one row in this command" % cmd, len(mine) == len(set(mine)), repr(mine))
        check("%s --help: every option line is a row of options.def" % cmd, not unknown, repr(unknown))
        listed = {left[o][0] for o in opts if o in left}
        check("%s --help: --max-tiles only where a picture can be given" % cmd,
              "MAX_TILES" not in listed or cmd in PICTURE_CMDS, repr(sorted(listed)))
        wrong = []
        for r in rows:
            for sp in (r[1], r[2], r[3]):
                if not sp:
                    continue
                # a value option without its value: "needs a value" if taken; a switch: the next option is
                # the unknown one if taken
                rc, _, err = run([cmd, sp] if r[4] else [cmd, sp, "--frobnicate"])
                took = "unknown option '%s'" % sp not in err
                # bench's -p/-n share a spelling with -p TEXT/-n N: taken if either row is the command's
                owner = [q for q in rows if sp in q[1:4] and q[0] in listed]
                if rc != 2 or took != bool(owner) or (owner and owner[0][4] and took and "needs a value" not in err):
                    wrong.append((sp, rc, err.strip()[-120:]))
        check("%s: takes exactly the rows its --help lists (%d)" % (cmd, len(listed)), not wrong, repr(wrong))
        bad = []
        for r in rows:
            if r[0] in listed and r[4] in NUMBER_ARGS:
                rc, _, err = run([cmd, r[2], "x"])
                if rc != 2 or not err.startswith("mmgpt: %s: 'x' is not " % r[2]) or err.count("\n") != 1:
                    bad.append((r[2], rc, err))
        check("%s: each number option given 'x' -> exit 2 naming it and its range" % cmd, not bad, repr(bad))
        rc, _, err = run([cmd, "--frobnicate"])
        check("%s --frobnicate -> exit 2: unknown option, see --help" % cmd,
              rc == 2 and err == "mmgpt: %s: unknown option '--frobnicate' (see mmgpt %s --help)\n" % (cmd, cmd),
              "rc %d %r" % (rc, err))
        rc, out, _ = run([cmd, "--version"])
        check("%s --version" % cmd, rc == 0 and out.startswith("mmgpt "), out)


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
    # llama.cpp's spellings: -ctk / -ctv f16 are --kv-f16 (the same logits), f32 the default; other types and
    # keys/values of different types are usage errors naming the option
    lc, ec = logits("-p", P, "-ctk", "f16", "--cache-type-v", "F16")
    check("logits -ctk f16 --cache-type-v F16 == --kv-f16", lc is not None and lk is not None and np.array_equal(lc, lk), ec)
    lc, ec = logits("-p", P, "-ctk", "f32", "-ctv", "f32")
    check("logits -ctk f32 -ctv f32 == the default", lc is not None and np.array_equal(lc, lp), ec)
    for bad, name in ((["-ctk", "q8_0"], "-ctk"), (["-ctk", "f16", "-ctv", "f32"], "-ctv"),
                      (["--kv-f16", "--cache-type-k", "f32"], "--cache-type-k")):
        rc, _, err = run(["generate", "-m", m, "-p", "x", "-n", "1", "-q"] + bad)
        check("generate %s: exit 2 naming %s" % (" ".join(bad), name), rc == 2 and name in err, err)

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

    # ---- every command's options from the one table
    check_table_commands()
    return finish()


if __name__ == "__main__":
    sys.exit(main())
