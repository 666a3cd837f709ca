#!/usr/bin/python3
"""fus_train_pipeline: the training pipeline end to end on a tiny model (issue 7), so that it cannot
break unnoticed while the bundled model is absent: tools/train/train.py --tiny (every loss: decoder,
cell and dense vision probes with probe-only pictures, clip probe; 2 steps, a 1-rendering-per-word
speech bank), --resume (1 more step), export to F32 and Q8_0 GGUF, then tools/train/parity.py on each
file: the engine's logits == the PyTorch model's on a picture, a clip and text (parity.py's tolerances:
2e-3 x max(1, max|logit|) for F32, 2e-2 for Q8_0, same last-position arg-max). Then the same on a
fresh 1-step run with a pixel-shuffle vision side (--patch 8 --v-merge 2, F32, questions weighed apart: --q-weight, attention-focus losses:
--att-weight, --key-weight). First, world.image_question's focus cells are checked against the scenes (pure Python).
Skips (77) without espeak-ng or torch; exit 1 on any failure.
"""
import os
import random
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))
TRAIN = os.path.join(SRC, "tools", "train")
PY = sys.executable


def run(cmd, what):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        print("FAIL %s: exit %d\n%s\n%s" % (what, p.returncode, p.stdout[-2000:], p.stderr[-2000:]))
        sys.exit(1)
    print("ok   %s" % what)
    return p.stdout


def check_focus():
    """world.image_question(focus=...) names the cell the answer is read from and the question's key words,
    and data.key_token finds the key's last token: restated here per kind."""
    sys.path.insert(0, TRAIN)
    import world
    import data
    tok = data.Tok()
    rng = random.Random("test-focus")
    bad, seen = [], set()
    for n in range(3000):
        objs = world.sample_scene(rng)
        f = []
        q, a, k = world.image_question(rng, objs, focus=f)
        at = {o["cell"]: o for o in objs}
        cell, key = f[0] if len(f) == 1 else (None, None)
        o = at.get(cell)
        kt = data.key_token(tok, q, key)
        post = tok.post(q)
        # the key's last word ends the text of post[:kt + 1] (any case); no key only for 'how many shapes'
        key_ok = (kt == -1 and key is None and k == "count") or (
            kt >= 0 and key and tok.bpe.decode(post[:kt + 1]).lower().endswith(key.split()[-1]))
        if len(f) != 1 or not key_ok:
            ok = False
        elif k in ("count", "count_shape") or (k == "exists" and a == "no"):
            ok = cell == -1
        elif k == "shape_at":
            ok = 0 <= cell < 9 and world.POSITIONS[cell].lower() in q.lower() and a == (o["shape"] if o else "nothing")
        elif k == "exists":
            ok = o is not None and o["shape"] in q.lower() and o["color"] in q.lower()
        else:
            ok = o is not None and o["shape"] in q.lower() and a == o[{"color": "color", "where": "pos", "size": "size"}[k]]
        seen.add(k)
        if not ok:
            bad.append((q, a, k, f, objs))
    if bad or len(seen) != 7:
        print("FAIL focus: %d of 3000 questions name the wrong cell, kinds seen %s; first: %r" % (len(bad), sorted(seen),
                                                                                            bad[:1]))
        sys.exit(1)
    print("ok: focus cells of 3000 picture questions (7 kinds)")
    # --q-kinds: weights per kind; 'size' off, 'count_shape' 3x (no fallback: it needs no unique shape)
    w = [{"size": 0, "count_shape": 3}.get(k, 1) for k in world.IMAGE_QUESTION_KINDS]
    n = {k: 0 for k in world.IMAGE_QUESTION_KINDS}
    for _ in range(3000):
        n[world.image_question(rng, world.sample_scene(rng), weights=w)[2]] += 1
    # weights sum to 8: expected count_shape 3/8 of 3000 = 1125 (sd ~27), 'shape_at' 375 (sd ~18)
    if n["size"] or not 1025 < n["count_shape"] < 1225 or not 300 < n["shape_at"] < 450:
        print("FAIL question kinds drawn with weights %r: %r" % (w, n))
        sys.exit(1)
    print("ok: question kinds drawn by weight %r" % n)


def main():
    check_focus()
    binary = os.environ.get("MMGPT_BIN") or (sys.argv[1] if len(sys.argv) > 1 else "")
    if not binary or not os.path.exists(binary):
        print("skip: MMGPT_BIN not set")
        sys.exit(77)
    if not shutil.which("espeak-ng"):
        print("skip: espeak-ng is not installed (tools/setup.sh installs it)")
        sys.exit(77)
    try:
        import torch  # noqa: F401
    except ImportError:
        print("skip: torch is not importable by %s" % PY)
        sys.exit(77)
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "run")
        common = ["--out", out, "--log-every", "1", "--val-every", "0", "--threads", "1"]
        run([PY, os.path.join(TRAIN, "train.py"), "--tiny", "--steps", "2", "--bi", "2", "--ba", "2", "--bv", "2",
             "--obj-weight", "4", "--questions", "1", "--bank-per-word", "1"] + common, "train.py --tiny, 2 steps")
        log = run([PY, os.path.join(TRAIN, "train.py"), "--resume", "--steps", "3"] + common, "train.py --resume to step 3")
        if "resumed from" not in log or "step 3 " not in log:
            print("FAIL resume: the log does not show a resumed run reaching step 3\n" + log[-1500:])
            sys.exit(1)
        for qt in ("f32", "q8_0"):
            g = os.path.join(d, "tiny-%s.gguf" % qt)
            run([PY, os.path.join(TRAIN, "export.py"), os.path.join(out, "last.pt"), "-o", g, "--qtype", qt],
                "export.py --qtype %s" % qt)
            run([PY, os.path.join(TRAIN, "parity.py"), "--bin", binary, "-m", g], "parity engine vs PyTorch (%s)" % qt)
        # a pixel-shuffle vision side (patch 8, 2x2 merge -> clip.vision.projector.scale_factor 2), F32 only;
        # questions weighed apart from captions (--q-weight), attention-focus loss on its 3 x 3 rows, question
        # kinds drawn by weight (--q-kinds)
        out2 = os.path.join(d, "run-merge")
        run([PY, os.path.join(TRAIN, "train.py"), "--tiny", "--steps", "1", "--bi", "2", "--ba", "1", "--bv", "2",
             "--image-size", "48", "--patch", "8", "--v-merge", "2", "--bank-per-word", "1", "--out", out2,
             "--questions", "2", "--q-weight", "1", "--att-weight", "0.3", "--att-layer", "1", "--key-weight", "0.3",
             "--key-layer", "0", "--img-row-l2", "0.05", "--q-kinds", "count_shape:2,where:2,size:0",
             "--log-every", "1", "--val-every", "0", "--threads", "1"],
            "train.py --tiny --patch 8 --v-merge 2 --q-weight 1 --att-weight 0.3 --key-weight 0.3 --q-kinds ...")
        # a bad --q-kinds is a one-line error and a non-zero exit, before any training
        for spec in ("foo:1", "count:x", "count:nan", "count:-1", ",".join(k + ":0" for k in (
                "count", "count_shape", "color", "shape_at", "exists", "where", "size"))):
            p = subprocess.run([PY, os.path.join(TRAIN, "train.py"), "--tiny", "--steps", "1", "--out",
                                os.path.join(d, "run-bad"), "--q-kinds", spec], capture_output=True, text=True,
                               timeout=300)
            err = p.stderr.strip().split("\n")
            if p.returncode == 0 or len(err) != 1 or not err[0].startswith("train.py: --q-kinds") or \
                    os.path.exists(os.path.join(d, "run-bad", "last.pt")):
                print("FAIL train.py --q-kinds %r: exit %d, stderr %r" % (spec, p.returncode, p.stderr[-500:]))
                sys.exit(1)
        print("ok   train.py rejects bad --q-kinds with one line")
        g = os.path.join(d, "tiny-merge.gguf")
        run([PY, os.path.join(TRAIN, "export.py"), os.path.join(out2, "last.pt"), "-o", g, "--qtype", "f32"],
            "export.py (merge)")
        run([PY, os.path.join(TRAIN, "parity.py"), "--bin", binary, "-m", g], "parity engine vs PyTorch (merge)")
    print("all ok")


if __name__ == "__main__":
    main()
