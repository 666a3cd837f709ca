#!/usr/bin/python3
"""app_demo: the bundled trained model (assets/models/mmgpt-demo.gguf) on the examples in
assets/examples/ (both in the repository: a missing model or EXPECTED.txt fails the test).

Expected answers: assets/examples/EXPECTED.txt (file<TAB>canonical caption or description, written by
tools/train/make_examples.py). Questions and their answers are derived here from those canonical texts
with the world's grammar (issue 7): "a SIZE COLOR SHAPE at the POSITION" items joined by ", " / " and ";
"N short beeps", "a LOW|MEDIUM|HIGH sine tone", "a RISING|FALLING sweep", "a voice saying WORD".
Answers are compared after normalisation (case, spaces, final punctuation). Checked:
- `mmgpt caption` / `describe` WITHOUT -m (the bundled model is found by itself), one file at a time and
  all files at once ("FILE: text" lines), and --json parses with the same texts;
- `mmgpt ask FILE QUESTION` for every derived question;
- a scripted `mmgpt chat` session on the first picture (the picture encoded once, each question asked
  afresh with the picture's rows kept in the KV cache).
"""
import json
import os
import sys

from apptest import SRC, check, finish, need_bin, run

MODEL = os.path.join(SRC, "assets", "models", "mmgpt-demo.gguf")
# MMGPT_DEMO_MODEL=path runs the same checks on another file (a training checkpoint's export)
OTHER = os.environ.get("MMGPT_DEMO_MODEL")
EX = os.path.join(SRC, "assets", "examples")
NUM = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def norm(a):
    return " ".join(a.strip().lower().rstrip(".!?").split())


def parse_items(caption):
    t = caption.strip().rstrip(".")
    parts = []
    for chunk in t.split(", "):
        parts.extend(chunk.split(" and "))
    items = []
    for p in parts:
        w = p.split()
        if len(w) < 6 or w[4:6] != ["at", "the"]:
            return None
        items.append({"size": w[1], "color": w[2], "shape": w[3], "pos": " ".join(w[6:])})
    return items


def image_questions(caption):
    items = parse_items(caption)
    if not items:
        return []
    qa = [("How many shapes are there?", NUM[len(items)])]
    shapes = [o["shape"] for o in items]
    for o in items:
        if shapes.count(o["shape"]) == 1:
            s = o["shape"]
            qa += [("What color is the %s?" % s, o["color"]), ("Where is the %s?" % s, o["pos"]),
                   ("Is the %s small or large?" % s, o["size"])]
            break
    return qa


def audio_questions(desc):
    w = desc.split()
    if desc.endswith("short beeps") or desc == "one short beep":
        return [("How many beeps are there?", w[0])]
    if desc.endswith("sine tone"):
        return [("Is the tone high, medium or low?", w[1])]
    if desc.endswith("sweep"):
        return [("Is the sweep rising or falling?", w[1])]
    if desc.startswith("a voice saying "):
        return [("What word is said?", w[-1])]
    return []


def main():
    need_bin()
    if not OTHER and not os.path.isfile(MODEL):
        print("FAIL: %s is missing (the repository carries the bundled model)" % MODEL)
        return 1
    exp_path = os.path.join(EX, "EXPECTED.txt")
    if not os.path.isfile(exp_path):
        print("FAIL: %s is missing (the repository carries it)" % exp_path)
        return 1
    expected = {}
    with open(exp_path, encoding="utf-8") as f:
        for ln in f:
            if ln.strip() and not ln.startswith("#") and "\t" in ln:
                name, text = ln.rstrip("\n").split("\t", 1)
                expected[name] = text
    imgs = [os.path.join(EX, n) for n in sorted(expected) if parse_items(expected[n])]
    auds = [os.path.join(EX, n) for n in sorted(expected) if not parse_items(expected[n])]
    env = {"MMGPT_MODEL": OTHER or ""}  # the bundled model must be found without -m / $MMGPT_MODEL

    for cmd, group in (("caption", imgs), ("describe", auds)):
        if not group:
            continue
        got = {}
        for f in group:
            rc, out, err = run([cmd, "-q", f], env=env)
            got[f] = out[:-1] if out.endswith("\n") else out
            want = expected[os.path.basename(f)]
            check("%s %s == %r" % (cmd, os.path.basename(f), want), rc == 0 and out.count("\n") == 1 and
                  norm(got[f]) == norm(want), "rc %d got %r err %r" % (rc, out, err))
        rc, out, err = run([cmd, "-q"] + group, env=env)
        check("%s all examples: FILE: text lines" % cmd,
              rc == 0 and out == "".join("%s: %s\n" % (f, got[f]) for f in group), "rc %d %r" % (rc, out))
        rc, out, err = run([cmd, "-q", "--json"] + group, env=env)
        try:
            objs = [json.loads(ln) for ln in out.split("\n") if ln]
            check("%s --json parses, same texts" % cmd, rc == 0 and [o["text"] for o in objs] == [got[f] for f in group],
                  out)
        except ValueError as e:
            check("%s --json parses" % cmd, False, "%s %r" % (e, out))

    questions = {f: image_questions(expected[os.path.basename(f)]) for f in imgs}
    questions.update({f: audio_questions(expected[os.path.basename(f)]) for f in auds})
    asked = {}
    for f, qa in questions.items():
        for q, a in qa:
            rc, out, err = run(["ask", "-q", f, q], env=env)
            asked[(f, q)] = out
            check("ask %s %r -> %r" % (os.path.basename(f), q, a), rc == 0 and norm(out) == norm(a),
                  "rc %d got %r err %r" % (rc, out, err))
    if imgs and questions[imgs[0]]:
        qa = questions[imgs[0]]
        script = "".join(q + "\n" for q, _ in qa) + "/quit\n"
        rc, out, err = run(["chat", "-q", "--image", imgs[0]], stdin=script.encode(), env=env)
        got = out.split("\n")[:-1]
        check("chat session on %s answers as mmgpt ask does" % os.path.basename(imgs[0]),
              got == [asked[(imgs[0], q)].rstrip("\n") for q, _ in qa], "%r" % got)
        check("chat session on %s: %d answers" % (os.path.basename(imgs[0]), len(qa)),
              rc == 0 and [norm(g) for g in got] == [norm(a) for _, a in qa], "rc %d got %r err %r" % (rc, got, err))
    return finish()


if __name__ == "__main__":
    sys.exit(main())
