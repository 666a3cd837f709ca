#!/usr/bin/python3
"""app_demo: the bundled trained model (assets/models/mmgpt-demo.gguf) on the examples in
assets/examples/. Skipped (exit 77) while the model is not there.

Expected answers come from assets/examples/expected.json, written by the training pipeline:
    {"shapes1.png": {"caption": "a large red circle at the top left.",
                     "ask": [["how many shapes?", "one"], ...]},
     "beeps.wav":   {"describe": "three short beeps", "ask": [["how many beeps?", "three"]]}}
(a file without an entry is still run and must give a non-empty one-line answer). Checked:
- `mmgpt caption` / `describe` WITHOUT -m (the bundled model is found by itself), one file and all
  files at once ("FILE: text" lines), and --json parses;
- `mmgpt ask FILE QUESTION` answers;
- a scripted `mmgpt chat` session asking the same questions about the first example picture.
"""
import json
import os
import sys

from apptest import SRC, check, finish, need_bin, run

MODEL = os.path.join(SRC, "assets", "models", "mmgpt-demo.gguf")
EX = os.path.join(SRC, "assets", "examples")
IMG = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm")
AUD = (".wav", ".flac", ".ogg", ".mp3", ".aiff")


def main():
    need_bin()
    if not os.path.isfile(MODEL):
        print("skip: %s is not there yet (the bundled model is trained in tools/train)" % MODEL)
        return 77
    files = sorted(os.listdir(EX)) if os.path.isdir(EX) else []
    imgs = [os.path.join(EX, f) for f in files if f.lower().endswith(IMG)]
    auds = [os.path.join(EX, f) for f in files if f.lower().endswith(AUD)]
    if not imgs and not auds:
        print("skip: no example images or clips in %s" % EX)
        return 77
    exp = {}
    ej = os.path.join(EX, "expected.json")
    if os.path.isfile(ej):
        with open(ej) as f:
            exp = json.load(f)
    env = {"MMGPT_MODEL": ""}  # the bundled model must be found without -m / $MMGPT_MODEL

    for cmd, group, key in (("caption", imgs, "caption"), ("describe", auds, "describe")):
        if not group:
            continue
        got = {}
        for f in group:
            rc, out, err = run([cmd, "-q", f], env=env)
            ok = rc == 0 and out.count("\n") == 1 and len(out.strip()) > 0
            check("%s %s: one non-empty line" % (cmd, os.path.basename(f)), ok, "rc %d %r %r" % (rc, out, err))
            got[f] = out[:-1]
            want = exp.get(os.path.basename(f), {}).get(key)
            if want is not None:
                check("%s %s == expected" % (cmd, os.path.basename(f)), got[f] == want, "%r vs %r" % (got[f], want))
        rc, out, err = run([cmd, "-q"] + group, env=env)
        check("%s all examples: FILE: text lines" % cmd,
              rc == 0 and out == "".join("%s: %s\n" % (f, got[f]) for f in group), "rc %d %r" % (rc, out))
        rc, out, err = run([cmd, "-q", "--json"] + group, env=env)
        try:
            objs = [json.loads(ln) for ln in out.split("\n") if ln]
            check("%s --json parses, same texts" % cmd, [o["text"] for o in objs] == [got[f] for f in group], out)
        except ValueError as e:
            check("%s --json parses" % cmd, False, "%s %r" % (e, out))

    for f in imgs + auds:
        for q, a in exp.get(os.path.basename(f), {}).get("ask", []):
            rc, out, err = run(["ask", "-q", f, q], env=env)
            check("ask %s %r == %r" % (os.path.basename(f), q, a), rc == 0 and out == a + "\n", "rc %d %r %r" % (rc, out,
                                                                                                          err))
    if imgs:
        qa = exp.get(os.path.basename(imgs[0]), {}).get("ask", [])
        if qa:
            script = "".join(q + "\n/clear\n" for q, _ in qa) + "/quit\n"
            rc, out, err = run(["chat", "-q", "--image", imgs[0]], stdin=script.encode(), env=env)
            check("chat session on %s" % os.path.basename(imgs[0]),
                  rc == 0 and out.split("\n")[:-1] == [a for _, a in qa], "rc %d %r %r" % (rc, out, err))
    return finish()


if __name__ == "__main__":
    sys.exit(main())
