#!/usr/bin/python3
"""fus_train_pipeline: the training pipeline end to end on a tiny model (issues 7, 15), so that it cannot
break unnoticed while the bundled model is absent.
First, in this process (pure Python):
- world.image_question's focus cells are checked against the scenes, and --q-kinds draws by weight;
- the GPT-2 vocabulary: mmtrain.bpe.find_vocab takes the bundled model's GGUF when neither
  $MMGPT_REFDATA/gpt2_bpe nor tests/data/gpt2_bpe is there (a clone never needs ../shared), names the
  places it looked when nothing is there, and the GGUF's tokens / merges equal encoder.json / vocab.bpe
  wherever those are available;
- the recipe: each recipe/stage_*.json resolves to the options of the model card's published command
  for that stage (restated here), plus only the options the commands could not say (stop_at, the speech
  bank's seed); bad config files are one-line usage errors.
Then tools/train/train.py --config (a tiny config: every loss: decoder, cell and dense vision probes with
probe-only pictures, clip probe; 2 steps, a 1-rendering-per-word speech bank), --resume (1 more step),
export to F32 and Q8_0 GGUF, then tools/train/parity.py on each file: the engine's logits == the
PyTorch model's on a picture, a clip and text (parity.py's tolerances: 2e-3 x max(1, max|logit|) for
F32, 2e-2 for Q8_0, same last-position arg-max). Then the same on a fresh run with a pixel-shuffle
vision side (--patch 8 --v-merge 2, F32, questions weighed apart: --q-weight, attention-focus losses:
--att-weight, --key-weight) stopped by --stop-at after 1 step of a 5-step schedule.
Skips (77) without espeak-ng or torch; exit 1 on any failure.
"""
import glob
import json
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
sys.path.insert(0, TRAIN)

from mmtrain import UsageError, bpe, data, options, world  # noqa: E402

# The four stages as docs/MODEL_CARD.md published their commands before the recipe became config files
# (without --out / --init, which name the run folders).
DOCUMENTED = {
    "stage_a": "--image-size 144 --patch 8 --v-merge 2 --steps 6000 --lr 1e-3 --lr-min 3e-5 --warmup 200 --bi 10 "
               "--ba 6 --bv 16 --obj-weight 4 --questions 2 --seed 4 --threads 1 --seg-weight 0.5 --val-every 1000 "
               "--keep-every 500",
    "stage_b": "--image-size 144 --patch 8 --v-merge 6 --steps 3200 --lr 8e-4 --lr-min 2e-5 --warmup 100 --bi 12 "
               "--ba 6 --bv 16 --obj-weight 4 --questions 5 --q-weight 1 --att-weight 0.3 --att-layer 3 "
               "--key-weight 0.3 --key-layer 1 --img-row-l2 0.05 --seed 5 --threads 1 --seg-weight 0.5 "
               "--val-every 800 --keep-every 400",
    "stage_c": "--image-size 144 --patch 8 --v-merge 6 --steps 1700 --lr 3e-4 --lr-min 2e-5 --warmup 50 --bi 12 "
               "--ba 6 --bv 16 --obj-weight 4 --questions 5 --q-weight 1 "
               "--q-kinds count_shape:2,where:1.5,shape_at:1.5,exists:1.5 --att-weight 0.3 --att-layer 3 "
               "--key-weight 0.3 --key-layer 1 --img-row-l2 0.05 --seed 11 --threads 1 --seg-weight 0.5 "
               "--val-every 850 --keep-every 425",
    "stage_d": "--image-size 144 --patch 8 --v-merge 6 --steps 200 --lr 1e-4 --lr-min 2e-5 --warmup 20 --bi 12 "
               "--ba 10 --bv 16 --obj-weight 4 --questions 5 --q-weight 1 "
               "--q-kinds count_shape:2,where:1.5,shape_at:1.5,exists:1.5 --att-weight 0.3 --att-layer 3 "
               "--key-weight 0.3 --key-layer 1 --img-row-l2 0.05 --seed 12 --threads 1 --seg-weight 0.5 "
               "--val-every 0 --keep-every 1000",
}
# what the commands could not say: stage A was stopped by hand after step 2000 of its 6000-step schedule, and
# every run used the speech bank of the first run (seed 1, 96 renderings per word: the default)
UNSAID = {"stage_a": {"stop_at": 2000}}
BANK = {"bank_seed": 1, "bank_per_word": 96}


def fail(msg):
    print("FAIL " + msg)
    sys.exit(1)


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
        fail("focus: %d of 3000 questions name the wrong cell, kinds seen %s; first: %r" % (len(bad), sorted(seen),
                                                                                        bad[:1]))
    print("ok: focus cells of 3000 picture questions (7 kinds)")
    # --q-kinds: weights per kind; 'size' off, 'count_shape' 3x (no fallback: it needs no unique shape)
    w = [{"size": 0, "count_shape": 3}.get(k, 1) for k in world.IMAGE_QUESTION_KINDS]
    n = {k: 0 for k in world.IMAGE_QUESTION_KINDS}
    for _ in range(3000):
        n[world.image_question(rng, world.sample_scene(rng), weights=w)[2]] += 1
    # weights sum to 8: expected count_shape 3/8 of 3000 = 1125 (sd ~27), 'shape_at' 375 (sd ~18)
    if n["size"] or not 1025 < n["count_shape"] < 1225 or not 300 < n["shape_at"] < 450:
        fail("question kinds drawn with weights %r: %r" % (w, n))
    print("ok: question kinds drawn by weight %r" % n)


def check_vocab():
    """find_vocab's order ends at the bundled GGUF; its vocabulary is encoder.json / vocab.bpe's."""
    env, repo, bundled = os.environ.get("MMGPT_REFDATA"), bpe.REPO_DIR, bpe.BUNDLED_MODEL
    try:
        with tempfile.TemporaryDirectory() as empty:
            os.environ["MMGPT_REFDATA"] = empty       # a clone: no $MMGPT_REFDATA/gpt2_bpe, no tests/data
            bpe.REPO_DIR = empty
            if os.path.exists(bundled) and bpe.find_vocab() != bundled:
                fail("vocabulary: without refdata and tests/data find_vocab gives %r, not the bundled model"
                     % bpe.find_vocab())
            bpe.BUNDLED_MODEL = os.path.join(empty, "none.gguf")
            try:
                bpe.find_vocab()
                fail("vocabulary: find_vocab found one with nothing there")
            except FileNotFoundError as e:
                if empty not in str(e) or "--vocab" not in str(e):
                    fail("vocabulary: the not-found message does not name the places and --vocab: %s" % e)
    finally:
        bpe.REPO_DIR, bpe.BUNDLED_MODEL = repo, bundled
        if env is None:
            os.environ.pop("MMGPT_REFDATA", None)
        else:
            os.environ["MMGPT_REFDATA"] = env
    folders = [d for d in (os.path.join(env or "", "gpt2_bpe"), os.path.join(SRC, "tests", "data", "gpt2_bpe"))
               if os.path.isfile(os.path.join(d, "encoder.json"))]
    if not os.path.exists(bundled):
        print("ok   vocabulary: find_vocab's order (the bundled model is absent: no GGUF comparison)")
        return
    g = bpe.BPE(bundled)
    text = "User: \nWhat colour is the star?\nAssistant: a large red circle at the top left.<|endoftext|>"
    for d in folders:
        j = bpe.BPE(d)
        if j.encoder != g.encoder or j.merges != g.merges or j.encode(text) != g.encode(text):
            fail("vocabulary: %s and the bundled model's tokenizer differ" % d)
    print("ok   vocabulary: find_vocab falls back to the bundled model; it equals %s" % (folders or "(no folder here)"))


def check_recipe():
    """recipe/stage_*.json == the published commands (+ UNSAID, BANK); bad config files are usage errors."""
    recipes = sorted(glob.glob(os.path.join(TRAIN, "recipe", "stage_*.json")))
    if [os.path.basename(r)[:-5] for r in recipes] != sorted(DOCUMENTED):
        fail("recipe: files %r, want %r" % (recipes, sorted(DOCUMENTED)))
    for r in recipes:
        stage = os.path.basename(r)[:-5]
        got = vars(options.resolve(["--out", "RUN", "--config", r]))
        want = vars(options.resolve(["--out", "RUN"] + DOCUMENTED[stage].split()))
        want.update(UNSAID.get(stage, {}), **BANK)
        del got["config"], want["config"]
        if got != want:
            fail("recipe %s: differs from the published command in %r" % (
                stage, {k: (got[k], want[k]) for k in got if got[k] != want[k]}))
    # command-line options override the config file's
    if options.resolve(["--out", "R", "--config", recipes[0], "--lr", "0.5"]).lr != 0.5:
        fail("recipe: --lr on the command line does not override the config file")
    with tempfile.TemporaryDirectory() as d:
        for conf, what in (({"lr_max": 1}, "is not a stage option"), ({"steps": "ten"}, "want int"),
                           ({"out": "x"}, "is not a stage option"), ({"q_kinds": "foo:1"}, "--q-kinds"),
                           ([1, 2], "JSON object")):
            f = os.path.join(d, "bad.json")
            with open(f, "w") as fh:
                json.dump(conf, fh)
            try:
                options.resolve(["--out", d, "--config", f])
                fail("recipe: config %r accepted" % conf)
            except UsageError as e:
                if what not in str(e) or "\n" in str(e):
                    fail("recipe: config %r: message %r does not say %r on one line" % (conf, str(e), what))
        p = subprocess.run([PY, os.path.join(TRAIN, "train.py"), "--config", f, "--out", d], capture_output=True,
                           text=True, timeout=300)
        if p.returncode != 2 or not p.stderr.startswith("train.py: --config ") or p.stderr.count("\n") != 1:
            fail("train.py with a bad config: exit %d, stderr %r" % (p.returncode, p.stderr[-500:]))
    p = subprocess.run([PY, os.path.join(TRAIN, "train.py"), "--config", recipes[-1], "--out", "RUN", "--dry-run"],
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0 or json.loads(p.stdout).get("seed") != 12:
        fail("train.py --dry-run: exit %d, %r" % (p.returncode, (p.stdout + p.stderr)[-500:]))
    print("ok   recipe: %d stage configs == the published commands; bad configs are one-line usage errors"
          % len(recipes))


def main():
    check_focus()
    check_vocab()
    check_recipe()
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
        conf = os.path.join(d, "tiny.json")
        with open(conf, "w") as f:
            json.dump({"tiny": True, "steps": 2, "bi": 2, "ba": 2, "bv": 2, "obj_weight": 4, "questions": 1,
                       "bank_per_word": 1, "log_every": 5, "threads": 2}, f)
        run([PY, os.path.join(TRAIN, "train.py"), "--config", conf] + common, "train.py --config (tiny), 2 steps")
        log = run([PY, os.path.join(TRAIN, "train.py"), "--resume", "--steps", "3"] + common, "train.py --resume to step 3")
        if "resumed from" not in log or "step 3 " not in log:
            fail("resume: the log does not show a resumed run reaching step 3\n" + log[-1500:])
        for qt in ("f32", "q8_0"):
            g = os.path.join(d, "tiny-%s.gguf" % qt)
            run([PY, os.path.join(TRAIN, "export.py"), os.path.join(out, "last.pt"), "-o", g, "--qtype", qt],
                "export.py --qtype %s" % qt)
            run([PY, os.path.join(TRAIN, "parity.py"), "--bin", binary, "-m", g], "parity engine vs PyTorch (%s)" % qt)
        # a pixel-shuffle vision side (patch 8, 2x2 merge -> clip.vision.projector.scale_factor 2), F32 only;
        # questions weighed apart from captions (--q-weight), attention-focus loss on its 3 x 3 rows, question
        # kinds drawn by weight (--q-kinds)
        out2 = os.path.join(d, "run-merge")
        log = run([PY, os.path.join(TRAIN, "train.py"), "--tiny", "--steps", "5", "--stop-at", "1", "--bi", "2",
                   "--ba", "1", "--bv", "2", "--image-size", "48", "--patch", "8", "--v-merge", "2",
                   "--bank-per-word", "1", "--out", out2, "--questions", "2", "--q-weight", "1", "--att-weight", "0.3",
                   "--att-layer", "1", "--key-weight", "0.3", "--key-layer", "0", "--img-row-l2", "0.05",
                   "--q-kinds", "count_shape:2,where:2,size:0", "--log-every", "1", "--val-every", "0",
                   "--threads", "1"],
                  "train.py --tiny --patch 8 --v-merge 2 --q-weight 1 --att-weight 0.3 --key-weight 0.3 --q-kinds ... "
                  "--steps 5 --stop-at 1")
        if "step 1 " not in log or "done: 1 steps" not in log:
            fail("--stop-at 1: the run did not end at step 1\n" + log[-1500:])
        # a bad --q-kinds is a one-line error and a non-zero exit, before any training
        for spec in ("foo:1", "count:x", "count:nan", "count:-1", ",".join(k + ":0" for k in (
                "count", "count_shape", "color", "shape_at", "exists", "where", "size"))):
            p = subprocess.run([PY, os.path.join(TRAIN, "train.py"), "--tiny", "--steps", "1", "--out",
                                os.path.join(d, "run-bad"), "--q-kinds", spec], capture_output=True, text=True,
                               timeout=300)
            err = p.stderr.strip().split("\n")
            if p.returncode == 0 or len(err) != 1 or not err[0].startswith("train.py: --q-kinds") or \
                    os.path.exists(os.path.join(d, "run-bad", "last.pt")):
                fail("train.py --q-kinds %r: exit %d, stderr %r" % (spec, p.returncode, p.stderr[-500:]))
        print("ok   train.py rejects bad --q-kinds with one line")
        g = os.path.join(d, "tiny-merge.gguf")
        run([PY, os.path.join(TRAIN, "export.py"), os.path.join(out2, "last.pt"), "-o", g, "--qtype", "f32"],
            "export.py (merge)")
        run([PY, os.path.join(TRAIN, "parity.py"), "--bin", binary, "-m", g], "parity engine vs PyTorch (merge)")
    print("all ok")


if __name__ == "__main__":
    main()
