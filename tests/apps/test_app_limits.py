"""app_limits: inputs with no end and the user's first look at the program.
  - a picture read whole (a file or stdin) is capped at 576 MiB (MM_READ_MAX_IMAGE): a sparse file over it is refused by
    its size, an endless PNG on stdin after 576 MiB, in memory within the cap, exit 3 naming the cap (before: 1 GiB);
  - tokenize / detokenize read at most 64 MiB (-f FILE or stdin): -f /dev/zero and stdin from /dev/zero end
    with an input error (exit 3) naming the limit, in bounded memory (baseline + 200 MB) and time (before: 2 GiB read,
    2.1 GB resident, 26 s, "File too large");
  - detokenize writes the pieces as they come (64 MB of text in bounded memory);
  - tokenize --json is written as it goes: ~1M tokens within 100 MB of the plain run (before: ~240 bytes per token in a cJSON
    tree), the same ids as the plain output; token texts of a vocabulary that are not UTF-8 come out as
    U+FFFD (before: the raw byte, invalid JSON);
  - every --help (mmgpt's and each command's) fits 100 columns;
  - info, params -m and quantize print a file name that is not UTF-8 as U+FFFD (stdout and --json UTF-8);
  - bench with the defaults on a model of a shorter context names the options to change (-p, -n).
usage: test_app_limits.py   (MMGPT_BIN: the mmgpt program)
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apptest  # noqa: E402
from apptest import check, run  # noqa: E402

sys.path.insert(0, os.path.join(apptest.SRC, "tools"))
import mmgguf  # noqa: E402


def spm_vocab(path):
    """A SentencePiece vocabulary with one token that is not UTF-8 (the byte 0xff)."""
    w = mmgguf.GGUFWriter()
    w.add_str("general.architecture", "llama")
    w.add_str("tokenizer.ggml.model", "llama")
    w.add_arr("tokenizer.ggml.tokens", "str", ["<unk>", "<s>", "</s>", "\u2581", "a", "b", b"\xff"])
    w.add_arr("tokenizer.ggml.scores", "f32", [0.0, 0.0, 0.0, -1.0, -2.0, -2.0, -1.0])
    w.add_arr("tokenizer.ggml.token_type", "i32", [2, 3, 3, 1, 1, 1, 1])
    w.add_u32("tokenizer.ggml.bos_token_id", 1)
    w.add_u32("tokenizer.ggml.eos_token_id", 2)
    w.add_u32("tokenizer.ggml.unknown_token_id", 0)
    w.write(path)
    return path


PNG_SIG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
PICTURE_CAP = 576 << 20   # MM_READ_MAX_IMAGE (mm_core.h)


def endless_fifo(d, name, head):
    """A FIFO whose writer sends head, then zeros until the reader closes it (a pipe with no end that
    starts as a picture); returns its path (run_bounded opens it as stdin)."""
    import threading
    path = os.path.join(d, name)
    if os.path.exists(path):
        os.unlink(path)
    os.mkfifo(path)

    def writer():
        zeros = bytes(1 << 20)
        try:
            with open(path, "wb") as f:
                f.write(head)
                while True:
                    f.write(zeros)
        except (BrokenPipeError, OSError):
            pass
    threading.Thread(target=writer, daemon=True).start()
    return path


def media_caps(d, base):
    """A picture read whole has one cap, MM_READ_MAX_IMAGE (576 MiB), whether it is a file or stdin (before: stdin
    1 GiB whatever it held, a file 1 GiB): the error names the cap, exit 3, memory within the cap."""
    img = os.path.join(d, "big.png")   # a sparse file over the cap: refused by its size, before reading
    with open(img, "wb") as f:
        f.write(PNG_SIG)
        f.truncate(PICTURE_CAP + 4096)
    rc, out, err, peak, killed = apptest.run_bounded(["caption", img], rss_limit_mb=base[3] + 100, timeout=60)
    check("caption FILE over the picture cap: exit 3 naming the 576 MiB cap, nothing read (peak %.0f MB)" % peak,
          rc == 3 and "over the limit of %d bytes (576 MiB) for a picture" % PICTURE_CAP in err and not killed,
          "rc %r, %s, %r" % (rc, killed, err.strip()[-300:]))
    fifo = endless_fifo(d, "endless_png", PNG_SIG)
    # the buffer grows to the cap; glibc's realloc of a large block moves its pages (mremap), ASan's copies them:
    # the last two sizes at once (512 MiB + the cap) under the sanitizer
    limit = base[3] + 576 + 150 + (512 if os.environ.get("MMGPT_SANITIZE_RUN") else 0)
    rc, out, err, peak, killed = apptest.run_bounded(["caption", "-"], stdin=fifo, rss_limit_mb=limit, timeout=120)
    check("caption - < endless PNG: exit 3 naming the 576 MiB picture cap, memory within it (peak %.0f MB, "
          "baseline %.0f)" % (peak, base[3]),
          rc == 3 and "more than %d bytes (576 MiB) of input, over the limit for a picture" % PICTURE_CAP in err
          and not killed, "rc %r, %s, %r" % (rc, killed, err.strip()[-300:]))


def main():
    apptest.need_bin()
    d = apptest.tmpdir("app_limits")
    if os.environ.get("MMGPT_SANITIZE_RUN"):   # the program's memory, not what ASan keeps of freed blocks
        os.environ["ASAN_OPTIONS"] = os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=8"
    base = apptest.run_bounded(["tokenize", "hello"], timeout=60)
    check("baseline tokenize", base[0] == 0, base[2])
    for name, args, stdin in (("tokenize -f /dev/zero", ["tokenize", "-f", "/dev/zero"], None),
                              ("tokenize < /dev/zero", ["tokenize"], "/dev/zero"),
                              ("detokenize -f /dev/zero", ["detokenize", "-f", "/dev/zero"], None)):
        # the 64 MiB buffer as it grows (doubling: the last two sizes at once) over the baseline
        rc, out, err, peak, killed = apptest.run_bounded(args, stdin=stdin, rss_limit_mb=base[3] + 200, timeout=60)
        check("%s: input error naming the 64 MiB limit, bounded (peak %.0f MB, baseline %.0f)" % (name, peak, base[3]),
              rc == 3 and "67108864" in err and "limit" in err and not killed,
              "rc %r, %s, peak %.0f MB, %r" % (rc, killed, peak, err.strip()[-300:]))

    media_caps(d, base)

    # (before the runs of ~1M tokens: a child's ru_maxrss starts from this process's size at the fork)
    # detokenize writes the pieces as they come: 500k ids of a 128-byte token (64 MB of text) within 40 MB of
    # the baseline (before: the whole text in one buffer, +70 MB)
    rc, one, _ = run(["detokenize", "35496"])   # the longest piece of the GPT-2 vocabulary
    ids, outf = os.path.join(d, "ids.txt"), os.path.join(d, "detok.out")
    with open(ids, "w") as f:
        f.write("35496 " * 500000)
    rc, _, err, peak, killed = apptest.run_bounded(["detokenize", "-f", ids], stdout=outf, rss_limit_mb=base[3] + 40,
                                                   timeout=120)
    size = os.path.getsize(outf) if os.path.exists(outf) else -1
    check("detokenize of 500k ids (64 MB of text): within 40 MB of the baseline (peak %.0f MB)" % peak,
          rc == 0 and not killed and len(one.encode()) == 128 and size == 500000 * 128,
          "rc %r %s, %d bytes, %r" % (rc, killed, size, err[-200:]))
    if os.path.exists(outf):
        os.remove(outf)

    words = ("the cat sat on the mat " * 170000).encode()   # ~1M tokens
    src = os.path.join(d, "words.txt")
    with open(src, "wb") as f:
        f.write(words)
    rc2, out2, _, peak2, _ = apptest.run_bounded(["tokenize", "-f", src], timeout=120)
    plain = [int(x) for x in out2.split()] if rc2 == 0 else []
    # --json holds no more than the plain output does, but its output (~20 bytes per token in a cJSON tree of
    # ~240 bytes per token before: +240 MB here)
    rc, out, err, peak, killed = apptest.run_bounded(["tokenize", "--json", "-f", src], rss_limit_mb=peak2 + 100,
                                                     timeout=120)
    ok = rc == 0 and not killed
    try:
        o = json.loads(out.decode("utf-8", "strict")) if ok else {}
    except (UnicodeDecodeError, ValueError) as e:
        o, ok = {}, check("tokenize --json of 1M tokens parses", False, str(e))
    check("tokenize --json of ~1M tokens: at most 100 MB over the plain run (%.0f MB), its ids" % peak2,
          ok and len(plain) > 900000 and o.get("ids") == plain and len(o.get("tokens", [])) == len(plain),
          "rc %r %s peak %.0f MB, %d ids" % (rc, killed, peak, len(plain)))

    vocab = spm_vocab(os.path.join(d, "spm.gguf"))
    txt = os.path.join(d, "bad.txt")
    with open(txt, "wb") as f:
        f.write(b"ab\xffa")
    p = apptest.subprocess.run([apptest.BIN, "tokenize", "-m", vocab, "--json", "-f", txt], capture_output=True)
    try:
        o = json.loads(p.stdout.decode("utf-8", "strict"))
        check("tokenize --json: a token text that is not UTF-8 is U+FFFD", p.returncode == 0
              and o["ids"] == [3, 4, 5, 6, 4] and o["tokens"][3] == "\ufffd", repr(p.stdout))
    except (UnicodeDecodeError, ValueError, KeyError) as e:
        check("tokenize --json: a token text that is not UTF-8 is U+FFFD", False, "%s: %r" % (e, p.stdout[:200]))

    # a file name that is not UTF-8 (bytes, as Linux allows): stdout stays UTF-8, --json parses (before: the
    # raw byte in info's "file:" line and JSON, params -m's and quantize's first lines)
    odd = os.path.join(d, "m\udcff.gguf")   # the byte 0xff
    with open(os.fsencode(odd), "wb") as f:
        f.write(open(vocab, "rb").read())
    for args in (["info", odd], ["info", odd, "--json"], ["params", "-m", odd], ["params", "--json", "-m", odd],
                 ["quantize", vocab, os.path.join(d, "q\udcfe.gguf"), "f16"],
                 ["quantize", vocab, os.path.join(d, "q\udcfe.gguf"), "f16", "--dry-run"]):
        p = apptest.subprocess.run([apptest.BIN] + [os.fsencode(a) for a in args], capture_output=True)
        try:
            text = p.stdout.decode("utf-8", "strict")
            if "--json" in args:
                json.loads(text)
            names_file = not (args[0] == "params" and "--json" in args)   # params --json names no file
            ok = p.returncode == 0 and ("\ufffd" in text or not names_file)
        except (UnicodeDecodeError, ValueError) as e:
            ok, text = False, "%s: %r" % (e, p.stdout[:200])
        check("%s with a file name that is not UTF-8: UTF-8 output" % " ".join(a for a in args if a.isascii()), ok,
              text[:300])

    rc, top, _ = run(["--help"])
    cmds = [ln.split()[0] for ln in top.split("commands:")[1].split("\n\n")[0].splitlines() if ln.strip()]
    # (but the line of this program's model path, as long as the folder it is in)
    wide = ["mmgpt --help: " + ln for ln in top.splitlines() if len(ln) > 100 and not ln.startswith("  /")]
    for c in cmds:
        rc, out, _ = run([c, "--help"])
        wide += ["%s: %s" % (c, ln) for ln in out.splitlines() if len(ln) > 100]
    check("every --help fits 100 columns (%d commands)" % len(cmds), len(cmds) >= 16 and not wide, "\n".join(wide))

    rc, out, err = run(["bench", "-r", "1"])   # the bundled model: 256 positions, the default -p 512
    check("bench: a test longer than the context names -p and -n", rc == 2 and "-p" in err and "-n" in err
          and "256" in err, err.strip())
    return apptest.finish()


sys.exit(main())
