#!/usr/bin/python3
"""app_hostile: the program's output and limits under hostile input (issue 14, section 5).
1. stdout is valid UTF-8 and --json valid JSON whatever the model samples: random-weight models sampled at
   temperature 2 over the whole vocabulary (one with 256 single-byte tokens, so most draws are bytes that
   do not form characters) with many seeds, for every command that prints generated text; file names and
   questions that are not UTF-8 come back with U+FFFD in JSON. Checked with Python's strict UTF-8 decoder
   and json module (independent of the C code).
2. --json gives one object per input, failed inputs included ("error", "exit_code"), and the exit code
   tells that something failed.
3. a full disk (stdout on /dev/full) is an error (exit 5) for chat as for the other commands.
4. values out of range are usage errors (exit 2) naming the option and its range, never an internal
   function; -n 0 means "no limit" on the text and the media path alike, as --help says.
5. memory stays bounded: a prompt file (-f) and a chat line are capped at 1 MiB while being read
   (/dev/zero, an 8 MB file, a 20 MB chat line), with an input error (exit 3) naming the limit.
6. generate --ignore-eos is the same on the text path and the media path (end-of-text never sampled).
"""
import json
import os
import sys

from apptest import (check, finish, make_model, need_bin, run, run_bounded, tmpdir, write_ppm, write_wav)

HOT = ["--temp", "2", "--top-k", "0", "--top-p", "1", "-t", "1"]


def strict_utf8(b):
    try:
        return b.decode("utf-8", "strict")
    except UnicodeDecodeError:
        return None


def json_lines(b):
    """The JSON objects of stdout (one per line), or None if stdout is not valid UTF-8 + JSON lines."""
    s = strict_utf8(b)
    if s is None:
        return None
    try:
        return [json.loads(ln) for ln in s.split("\n") if ln]
    except ValueError:
        return None


def run_b(args, stdin=None, env=None):
    """Like apptest.run, stdout kept as bytes."""
    import subprocess
    from apptest import BIN
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([BIN] + args, capture_output=True, input=stdin, env=e)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def utf8_json(d, m, img, wav):
    seeds = range(1, 13)
    bad = []
    n_ffd = 0
    for s in seeds:
        sd = ["--seed", str(s), "-n", "24"]
        cases = [
            ("caption --json", ["caption", "-m", m, "--json"] + HOT + sd + [img], True),
            ("caption", ["caption", "-m", m] + HOT + sd + [img], False),
            ("caption 2 files", ["caption", "-m", m] + HOT + sd + [img, img], False),
            ("describe --json", ["describe", "-m", m, "--json"] + HOT + sd + [wav], True),
            ("ask --json", ["ask", "-m", m, "--json"] + HOT + sd + [img, "what is it?"], True),
            ("generate (text path)", ["generate", "-m", m, "-p", "Hello", "-q"] + HOT + sd, False),
            ("generate --image", ["generate", "-m", m, "-p", "Hello", "--image", img, "-q"] + HOT + sd, False),
            ("generate --image --json", ["generate", "-m", m, "-p", "Hi", "--image", img, "--json"] + HOT + sd, True),
        ]
        for name, args, is_json in cases:
            rc, out, err = run_b(args)
            ok = rc == 0 and (json_lines(out) is not None if is_json else strict_utf8(out) is not None)
            n_ffd += out.count("\ufffd".encode()) + out.count(b"\\ufffd")
            if not ok:
                bad.append("%s seed %d: rc %d, stdout %r" % (name, s, rc, out[:120]))
        # the streamed text is what --json reports
        rc1, o1, _ = run_b(["caption", "-m", m] + HOT + sd + [img])
        rc2, o2, _ = run_b(["caption", "-m", m, "--json"] + HOT + sd + [img])
        js = json_lines(o2)
        if not (rc1 == 0 and js and strict_utf8(o1) == js[0]["text"] + "\n"):
            bad.append("seed %d: streamed caption %r != --json text %r" % (s, o1[:80], o2[:200]))
        # chat: two questions, text and JSON
        for extra in ([], ["--json"]):
            rc, out, err = run_b(["chat", "-m", m, "--image", img] + extra + HOT + sd, stdin=b"what?\nand now?\n")
            js = json_lines(out) if extra else None
            ok = rc == 0 and (js is not None and len(js) == 2 if extra else strict_utf8(out) is not None)
            if not ok:
                bad.append("chat %s seed %d: rc %d, stdout %r" % (extra, s, rc, out[:120]))
    check("sampled text at T=2 (12 seeds x 11 runs): stdout valid UTF-8, --json parses, stream == JSON text",
          not bad, "\n     ".join(bad[:8]) + ("\n     ... %d in all" % len(bad) if len(bad) > 8 else ""))
    check("the sampled byte soup did contain replaced bytes (the test saw ill-formed UTF-8)", n_ffd > 0,
          "no U+FFFD in any output")

    # a file name and a question that are not UTF-8
    odd = os.path.join(d.encode(), b"pic\xff\xfe.ppm")
    with open(odd, "wb") as f, open(img, "rb") as g:
        f.write(g.read())
    rc, out, err = run_b(["ask", "-m", m, "--json", "-n", "3", odd, b"what \xe2\x82 is \xc0\xaf it?"])
    js = json_lines(out)
    check("ask --json with a file name and a question that are not UTF-8: valid JSON with U+FFFD",
          rc == 0 and js and js[0]["file"].endswith("pic\ufffd\ufffd.ppm") and
          js[0]["question"] == "what \ufffd is \ufffd\ufffd it?", "rc %d out %r err %r" % (rc, out, err))
    rc, out, err = run_b(["caption", "-m", m, "-n", "3", odd, img])
    s = strict_utf8(out)
    check("caption of two files, one name not UTF-8: 'FILE: text' lines are valid UTF-8",
          rc == 0 and s is not None and "pic\ufffd\ufffd.ppm: " in s, "rc %d out %r" % (rc, out))
    rc, out, err = run_b(["generate", "-m", m, "-p", "x", "--stop", b"\x82"])
    check("generate --stop that is not UTF-8: usage error", rc == 2 and "--stop" in err, "rc %d %r" % (rc, err))
    rc, out, err = run_b(["generate", "-m", m, "-p", "x", "--image", img, "--stop", b"\xe2\x82"])
    check("generate --image --stop that is not UTF-8: usage error", rc == 2 and "--stop" in err, "rc %d %r" % (rc, err))


def json_per_input(d, m, img):
    missing = os.path.join(d, "missing.ppm")
    broken = os.path.join(d, "broken.png")
    with open(broken, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    rc, out, err = run_b(["caption", "-m", m, "--json", "-n", "3", img, missing, broken])
    js = json_lines(out) or []
    ok = (rc == 3 and len(js) == 3 and [o.get("file") for o in js] == [img, missing, broken] and
          "text" in js[0] and "error" not in js[0] and
          all(o.get("exit_code") == 3 and o.get("task") == "caption" and o.get("error") for o in js[1:]) and
          "missing.ppm" in js[1]["error"] and "broken.png" in js[2]["error"])
    check("caption --json good missing broken: 3 objects, 2 with error + exit_code 3, exit 3", ok,
          "rc %d out %r" % (rc, out))
    rc, out, err = run_b(["caption", "-m", m, "--json", missing])
    js = json_lines(out) or []
    check("caption --json of one missing file: an error object, exit 3",
          rc == 3 and len(js) == 1 and js[0].get("exit_code") == 3 and js[0].get("file") == missing, repr(out))
    rc, out, err = run_b(["caption", "-m", os.path.join(d, "nomodel.gguf"), "--json", img, img])
    js = json_lines(out) or []
    check("caption --json with a missing model: one error object per input, exit 4",
          rc == 4 and len(js) == 2 and all(o.get("exit_code") == 4 for o in js), repr(out))
    rc, out, err = run_b(["generate", "-m", m, "--json", "-p", "x", "--image", missing])
    js = json_lines(out) or []
    check("generate --image missing --json: an error object, exit 3",
          rc == 3 and len(js) == 1 and js[0].get("exit_code") == 3 and "missing.ppm" in js[0]["error"], repr(out))
    small = make_model(d, "small.gguf", "--seed", "2", "--n-ctx", "40")
    rc, out, err = run_b(["chat", "-m", small, "--json", "-n", "2", "--image", img],
                         stdin=b"ok?\n" + b"why " * 40 + b"\nfine?\n")
    js = json_lines(out) or []
    check("chat --json: a question over the context gives an error object between two answers, exit 3",
          rc == 3 and len(js) == 3 and "text" in js[0] and js[1].get("exit_code") == 3 and
          "context" in js[1].get("error", "") and "text" in js[2], "rc %d out %r err %r" % (rc, out, err))


def write_errors(d, m, img, wav):
    cases = [
        ("chat", ["chat", "-m", m, "--image", img, "-n", "4"], b"what?\nand?\n"),
        ("chat --json", ["chat", "-m", m, "--image", img, "-n", "4", "--json"], b"what?\n"),
        ("caption", ["caption", "-m", m, "-n", "4", img], None),
        ("describe --json", ["describe", "-m", m, "-n", "4", "--json", wav], None),
        ("generate (text path)", ["generate", "-m", m, "-p", "x", "-n", "4"], None),
        ("generate --image", ["generate", "-m", m, "-p", "x", "-n", "4", "--image", img], None),
    ]
    for name, args, stdin in cases:
        rc, _, err, _, killed = run_bounded(args, stdin=stdin, stdout="/dev/full", timeout=60)
        check("%s > /dev/full: exit 5 with a write error" % name, rc == 5 and "writ" in err,
              "rc %r %r %s" % (rc, err, killed))


def ranges(d, m, img):
    cases = [
        (["caption", "-m", m, "-t", "1000", img], "-t", "[1, 256]"),
        (["generate", "-m", m, "-p", "x", "-t", "1000"], "-t", "[1, 256]"),
        (["generate", "-m", m, "-p", "x", "--image", img, "-t", "1000"], "-t", "[1, 256]"),
        (["logits", "-m", m, "-p", "x", "-o", os.path.join(d, "l.npy"), "-t", "1000"], "-t", "[1, 256]"),
        (["chat", "-m", m, "-t", "0"], "-t", "[1, 256]"),
        (["caption", "-m", m, "-c", "100000", img], "-c", "[1, 256]"),
        (["generate", "-m", m, "-p", "x", "--image", img, "-c", "257"], "-c", "[1, 256]"),
        (["caption", "-m", m, "--temp", "-1", img], "--temp", "[0, 2]"),
        (["caption", "-m", m, "--temp", "2.5", img], "--temp", "[0, 2]"),
        (["generate", "-m", m, "-p", "x", "--temp", "-1"], "--temp", "[0, 2]"),
        (["generate", "-m", m, "-p", "x", "--temp", "nan"], "--temp", "[0, 2]"),
        (["caption", "-m", m, "--top-p", "-0.1", img], "--top-p", "[0, 1]"),
        (["generate", "-m", m, "-p", "x", "--top-p", "1.5"], "--top-p", "[0, 1]"),
        (["generate", "-m", m, "-p", "x", "--top-p", "-3"], "--top-p", "[0, 1]"),
        (["caption", "-m", m, "--top-k", "-1", img], "--top-k", "[0, "),
        (["caption", "-m", m, "-n", "-2", img], "-n", "[-1, "),
        (["generate", "-m", m, "-p", "x", "-n", "-2"], "-n", "[-1, "),
        (["caption", "-m", m, "--seed", "-1", img], "--seed", "[0, 18446744073709551615]"),
        (["generate", "-m", m, "-p", "x", "--seed", "-5"], "--seed", "[0, 18446744073709551615]"),
    ]
    for args, opt, rng in cases:
        rc, out, err = run(args)
        lines = [ln for ln in err.split("\n") if ln]
        check("%s: usage error naming %s and %s" % (" ".join(a for a in args if a not in (m, img)), opt, rng),
              rc == 2 and len(lines) == 1 and opt in err and rng in err and "mm_" not in err,
              "rc %d err %r" % (rc, err))
    rc, _, err = run(["generate", "-m", m, "-p", "x", "-n", "2", "--seed", "0xffffffffffffffff", "-q"])
    check("--seed takes the whole 64-bit range (0x hex) on the text path", rc == 0, err)
    # "decimal or 0x hex", as --help says: a leading zero is decimal (010 once was octal 8, and 08 refused)
    gen = ["generate", "-m", m, "-p", "x", "-n", "6", "--temp", "1", "--top-k", "0", "-q", "--seed"]
    r10, r010, r08, r8, r0xa = (run(gen + [v]) for v in ("10", "010", "08", "8", "0xA"))
    check("--seed 010 = --seed 10, 08 = 8, 0xA = 10 (decimal unless 0x)",
          all(r[0] == 0 for r in (r10, r010, r08, r8, r0xa)) and r010[1] == r10[1] and r08[1] == r8[1] and
          r0xa[1] == r10[1] and r10[1] != r8[1], "%r" % ((r10, r010, r08, r8, r0xa),))
    for cmd in ("caption", "generate"):
        rc, out, _ = run([cmd, "--help"])
        check("%s --help documents -n 0 (no limit)" % cmd, rc == 0 and "0 or -1 = no limit" in out, out)
    a = run(["generate", "-m", m, "-p", "Hello", "-n", "0", "--temp", "0", "-q"])
    b = run(["generate", "-m", m, "-p", "Hello", "-n", "0", "--temp", "0", "-q", "--mmproj", m])
    check("generate -n 0: the text path and the media path both run to the end (the same text, not empty)",
          a[0] == 0 and b[0] == 0 and a[1] == b[1] and len(a[1]) > 20, "%r vs %r" % (a, b))


def memory(d, m, img):
    base = run_bounded(["generate", "-m", m, "-p", "Hello", "--image", img, "-n", "2", "-q"], timeout=120)
    check("baseline run", base[0] == 0, base[2])
    limit = base[3] + 64  # MB: what the model and one 1 MiB prompt may add at most
    big = os.path.join(d, "big.txt")
    with open(big, "wb") as f:
        f.write(b"All work and no play makes a dull model. " * 200000)  # 8.2 MB
    for name, args, stdin in [
        ("generate --image -f /dev/zero", ["generate", "-m", m, "--image", img, "-f", "/dev/zero"], None),
        ("generate --image -f big.txt (8 MB)", ["generate", "-m", m, "--image", img, "-f", big], None),
        ("generate --image -f - < big.txt", ["generate", "-m", m, "--image", img, "-f", "-"], big),
    ]:
        rc, out, err, peak, killed = run_bounded(args, stdin=stdin, rss_limit_mb=limit, timeout=120)
        check("%s: input error naming the 1 MiB limit, peak %.0f MB (baseline %.0f)" % (name, peak, base[3]),
              rc == 3 and "1048576 bytes" in err and not killed, "rc %r err %r %s" % (rc, err[:300], killed))
    line = b"what " * (4 << 20)  # one 20 MB line, then a normal question
    rc, out, err, peak, killed = run_bounded(["chat", "-m", m, "--image", img, "-n", "3", "-q"],
                                             stdin=line + b"\nwhat is it?\n", rss_limit_mb=limit, timeout=120)
    s = strict_utf8(out) or ""
    check("chat: a 20 MB line is refused (exit 3, the limit named), the next question answered, peak %.0f MB" % peak,
          rc == 3 and "1048576 bytes" in err and s.count("\n") == 1 and not killed,
          "rc %r out %r err %r %s" % (rc, out[:100], err[:300], killed))
    # a line with a NUL byte is refused the same way (it once went on as the text before the NUL)
    rc, out, err = run_b(["chat", "-m", m, "--image", img, "-n", "3", "-q"], stdin=b"what\0 is it?\nwhat is it?\n")
    s = strict_utf8(out) or ""
    check("chat: a line with a NUL byte is refused (exit 3), the next question answered",
          rc == 3 and "NUL byte" in err and s.count("\n") == 1, "rc %r out %r err %r" % (rc, out[:100], err[:300]))
    ok_file = os.path.join(d, "ok.txt")
    with open(ok_file, "wb") as f:
        f.write(b"x " * 1000 + b"\n")
    small_m = make_model(d, "ctx2k.gguf", "--seed", "3", "--n-ctx", "2048")
    rc, out, err = run(["generate", "-m", small_m, "--image", img, "-f", ok_file, "-n", "2", "-q"])
    check("generate --image -f with a 2 kB prompt that fits still works", rc == 0, err)


def ignore_eos(d, m):
    diffs, n_eos_text = [], 0
    for s in range(1, 9):
        args = ["generate", "-m", m, "-p", "Hello", "-n", "120", "--ignore-eos", "--seed", str(s), "-q"] + HOT
        a, b = run_b(args), run_b(args + ["--mmproj", m])
        n_eos_text += a[1].count(b"<|endoftext|>")
        if a[0] or b[0] or a[1] != b[1] or b"<|endoftext|>" in a[1] + b[1]:
            diffs.append("seed %d: text path %r / media path %r" % (s, a[1][:60], b[1][:60]))
    check("generate --ignore-eos at T=2, 8 seeds: the text path == the media path, end-of-text never printed",
          not diffs, "\n     ".join(diffs))
    a = run_b(["generate", "-m", m, "-p", "Hello", "-n", "120", "--seed", "3", "-q"] + HOT)
    b = run_b(["generate", "-m", m, "-p", "Hello", "-n", "120", "--seed", "3", "-q", "--mmproj", m] + HOT)
    check("generate at T=2 without --ignore-eos: the text path == the media path", a[:2] == b[:2], "%r %r" % (a, b))


def main():
    need_bin()
    d = tmpdir("app_hostile")
    # 256 single-byte tokens + <|endoftext|> (no GPT-2 vocabulary): sampling gives raw bytes
    m = make_model(d, "bytes.gguf", "--seed", "7", "--vocab", "bytes")
    img = write_ppm(os.path.join(d, "pic.ppm"), 20, 30, 1)
    wav = write_wav(os.path.join(d, "beep.wav"), 0.6, 16000, 2)
    only = sys.argv[1:]
    for name, fn, args in [("utf8", utf8_json, (d, m, img, wav)), ("json", json_per_input, (d, m, img)),
                           ("write", write_errors, (d, m, img, wav)), ("ranges", ranges, (d, m, img)),
                           ("memory", memory, (d, m, img)), ("eos", ignore_eos, (d, m))]:
        if not only or name in only:
            print("-- %s" % name)
            fn(*args)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
