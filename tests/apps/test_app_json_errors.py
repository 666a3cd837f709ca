"""app_json_errors: with --json every failure of every command is also one JSON object on stdout,
{"task": COMMAND, "error": MESSAGE, "exit_code": N} (plus "file" where it concerns an input), parsed here with
a strict JSON parser from strictly decoded UTF-8; the exit code is the object's, the message is the one on
stderr ("mmgpt: MESSAGE"). Covered: every command of `mmgpt --help` with an unknown option (--json before and
after it), a missing value, a value out of range, no arguments; the errors of info, tokenize, params,
quantize, generate, caption, ask (missing / corrupt files, unknown names); an unknown command; a file name that
is not UTF-8. Without --json stdout stays empty; "--json" as an option's value (-p --json) is text.
usage: test_app_json_errors.py   (MMGPT_BIN: the mmgpt program)
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apptest  # noqa: E402
from apptest import check  # noqa: E402


def run_raw(args):
    p = subprocess.run([apptest.BIN.encode()] + [a if isinstance(a, bytes) else a.encode() for a in args],
                       capture_output=True, stdin=subprocess.DEVNULL, timeout=120)
    return p.returncode, p.stdout, p.stderr


def one_error_object(name, args, want_code=None, want_file=False):
    """args run with --json: a non-zero exit, exactly one JSON object on stdout matching it and stderr."""
    rc, out, err = run_raw(args)
    try:
        lines = out.decode("utf-8", "strict").splitlines()
        objs = [json.loads(ln) for ln in lines]
    except (UnicodeDecodeError, ValueError) as e:
        return check(name, False, "stdout is not JSON lines in UTF-8: %r (%s)" % (out[:200], e))
    ok = rc != 0 and (want_code is None or rc == want_code) and len(objs) == 1 and isinstance(objs[0], dict)
    o = objs[0] if len(objs) == 1 else {}
    msg = o.get("error")
    errline = err.decode("utf-8", "replace").strip().splitlines()
    ok = ok and o.get("exit_code") == rc and isinstance(msg, str) and msg != ""
    ok = ok and any(ln.startswith("mmgpt: ") for ln in errline)   # the human message stays on stderr
    if want_file:
        ok = ok and "file" in o
    task = args[0] if isinstance(args[0], str) and not args[0].startswith("-") else None
    if task in COMMANDS:
        ok = ok and o.get("task") == task
    return check(name, ok, "rc %d, stdout %r, stderr %r" % (rc, out[:300], err[:300]))


def commands():
    rc, out, err = run_raw(["--help"])
    names, on = [], False
    for ln in out.decode().splitlines():
        if ln.startswith("commands:"):
            on = True
            continue
        if on and ln.startswith("  ") and ln.split():
            names.append(ln.split()[0])
        elif on and not ln.strip():
            break
    return names


COMMANDS = []


def main():
    apptest.need_bin()
    COMMANDS.extend(commands())
    check("mmgpt --help lists the commands", len(COMMANDS) >= 16 and "quantize" in COMMANDS, str(COMMANDS))
    d = apptest.tmpdir("app_json_errors")
    bad = os.path.join(d, "corrupt.gguf")
    with open(bad, "wb") as f:
        f.write(b"GGUF\x03\x00\x00\x00" + b"\xff" * 24)
    missing = os.path.join(d, "missing.gguf")

    for c in COMMANDS:
        rc, hout, _ = run_raw([c, "--help"])
        help_text = hout.decode()
        check("%s --help: exit 0" % c, rc == 0 and "usage: mmgpt %s" % c in help_text, help_text[:100])
        if "--json" in help_text:
            check("%s --help says what a failure prints with --json" % c, '"exit_code"' in help_text, "")
        one_error_object("%s --bogus --json" % c, [c, "--bogus", "--json"], 2)
        one_error_object("%s --json --bogus" % c, [c, "--json", "--bogus"], 2)
        rc, out, err = run_raw([c, "--bogus"])
        check("%s --bogus: stdout empty without --json" % c, rc == 2 and out == b"", repr(out[:200]))
        if "-t, --threads" in help_text:
            one_error_object("%s -t 0 --json (out of range)" % c, [c, "-t", "0", "--json"], 2)
        if "-m, --model" in help_text:
            one_error_object("%s --json -m (missing value)" % c, [c, "--json", "-m"], 2)
    # no arguments where some are needed
    for c in ("caption", "describe", "ask", "info", "quantize", "encode-image", "mel", "encode-audio", "logits"):
        one_error_object("%s --json (no arguments)" % c, [c, "--json"], 2)
    one_error_object("generate --json without -p", ["generate", "--json"], 2)
    # the commands' own error paths
    one_error_object("info missing file", ["info", missing, "--json"], 4)
    one_error_object("info corrupt file", ["info", bad, "--json"], 4)
    one_error_object("info file name not UTF-8", ["info", os.path.join(d, "\xff").encode("latin-1"), "--json"])
    one_error_object("tokenize -f missing", ["tokenize", "-f", missing, "--json"], 3)
    one_error_object("tokenize -m corrupt", ["tokenize", "-m", bad, "--json", "hello"], 4)
    one_error_object("params --arch unknown", ["params", "--arch", "gpt5", "--json"], 2)
    one_error_object("params -m corrupt", ["params", "-m", bad, "--json"], 4)
    one_error_object("generate -m missing", ["generate", "-m", missing, "-p", "hi", "--json"], 4)
    one_error_object("generate -f missing", ["generate", "-f", missing, "--json"], 3)
    one_error_object("caption missing picture", ["caption", missing + ".png", "--json"], 3, want_file=True)
    one_error_object("ask -m corrupt", ["ask", "-m", bad, apptest.write_ppm(os.path.join(d, "p.ppm"), 8, 8, 1),
                                        "what?", "--json"], 4, want_file=True)
    one_error_object("bench -m missing", ["bench", "-m", missing, "--json"], 4)
    one_error_object("quantize bad type (--json unknown to quantize)", ["quantize", bad, missing, "q3", "--json"], 2)
    one_error_object("unknown command", ["frobnicate", "--json"], 2)
    one_error_object("mmgpt --json", ["--json"], 2)
    rc, out, err = run_raw(["generate", "-m", missing, "-p", "--json"])
    check("-p --json is the prompt, not the option: no JSON", rc == 4 and out == b"", repr(out[:200]))
    return apptest.finish()


sys.exit(main())
