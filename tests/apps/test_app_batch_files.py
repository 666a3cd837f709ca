#!/usr/bin/python3
"""app_batch_files: `mmgpt caption` / `describe` with several files decode them together (their answers
advance one token per step in one pass over the weights: mmgpt_generate_next_many, groups of 8 files) and every
file's line equals that file's single-file output, on the bundled demo model (answers of different lengths
ending at <|endoftext|>) and on a random-weight model with more files than one group (10, one of them twice,
one missing in the middle): text lines, --json objects (same text, stop, token counts), greedy and sampled
(--temp 0.9 --seed 7), and -n limits."""
import json
import os
import sys

from apptest import SRC, check, finish, make_model, need_bin, run, tmpdir, write_ppm, write_wav


def singles_vs_many(cmd, files, opts, tag):
    one = {}
    for f in files:
        if not os.path.exists(f):
            continue
        rc, out, err = run([cmd] + opts + [f])
        check("%s %s alone: exit 0" % (tag, os.path.basename(f)), rc == 0 and out.endswith("\n"), "%d %r" % (rc, err))
        one[f] = out[:-1]
    rc, out, err = run([cmd] + opts + files)
    lines = out.split("\n")
    missing = [f for f in files if not os.path.exists(f)]
    check("%s: %d files: exit %d" % (tag, len(files), 3 if missing else 0), rc == (3 if missing else 0), "%d %r" % (rc, err))
    ok = [f for f in files if f in one]
    check("%s: one line per readable file" % tag, len(lines) == len(ok) + 1 and lines[-1] == "", repr(out)[:300])
    for f, ln in zip(ok, lines):
        check("%s: line of %s == alone" % (tag, os.path.basename(f)), ln == "%s: %s" % (f, one[f]),
              "%r vs %r" % (ln, one[f]))
    # --json: one object per input in order, the text of the file alone
    rc, out, err = run([cmd, "--json"] + opts + files)
    objs = [json.loads(x) for x in out.splitlines()]
    check("%s --json: one object per input" % tag, len(objs) == len(files), repr(out)[:300])
    for f, o in zip(files, objs):
        if f in one:
            check("%s --json %s: text == alone" % (tag, os.path.basename(f)),
                  o.get("file") == f and o.get("text") == one[f] and o.get("generated_tokens", 0) >= 1, json.dumps(o)[:300])
        else:
            check("%s --json %s: error object" % (tag, os.path.basename(f)), o.get("file") == f and "error" in o, json.dumps(o))
    return one


def main():
    need_bin()
    ex = os.path.join(SRC, "assets", "examples")
    demo = os.path.join(SRC, "assets", "models", "mmgpt-demo.gguf")
    pics = [os.path.join(ex, n) for n in ("shapes1.png", "shapes2.png", "shapes3.jpg", "shapes4.png")]
    sounds = [os.path.join(ex, n) for n in ("beeps.wav", "tone.wav", "seven.flac", "sweep.ogg")]
    T = ["-t", "1", "-q"]
    one = singles_vs_many("caption", pics, ["-m", demo] + T, "demo caption")
    lens = set(len(v) for v in one.values())
    check("demo captions differ in length (answers end at different steps)", len(lens) > 1, repr(one))
    singles_vs_many("describe", sounds, ["-m", demo] + T, "demo describe")
    singles_vs_many("caption", pics, ["-m", demo, "--temp", "0.9", "--seed", "7"] + T, "demo caption sampled")

    d = tmpdir("app_batch_files")
    m = make_model(d, "m.gguf", "--seed", "23", "--std", "0.4")
    imgs = [write_ppm(os.path.join(d, "p%d.ppm" % i), 18 + 3 * i, 30 - i, 60 + i) for i in range(9)]
    files = imgs[:5] + [os.path.join(d, "missing.ppm")] + imgs[5:] + [imgs[2]]  # 11 inputs, 10 readable
    singles_vs_many("caption", files, ["-m", m, "-n", "9"] + T, "random caption 11 inputs")
    wavs = [write_wav(os.path.join(d, "s%d.wav" % i), 0.4 + 0.3 * i, 16000, 70 + i) for i in range(3)]
    singles_vs_many("describe", wavs, ["-m", m, "-n", "6"] + T, "random describe")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
