#!/usr/bin/python3
"""app_chat: scripted `mmgpt chat` sessions through stdin on a random-weight model, each answer checked
against the greedy continuation the independent reference (tests/fusion/ref_fused.py) computes:
- default: every question is a fresh turn about all media loaded so far (/audio adds, /system changes the
  system prompt, /clear forgets the media); the KV cache keeps the shared start, so --json reports the
  'User: ' + picture rows as cached for the second question, and answers still equal a fresh turn;
- --multi-turn: the reference is the WHOLE conversation so far, which holds only if the KV cache is kept
  between questions, media added later join the next question, /system starts over with the loaded
  media, and the previous answer is closed with <|endoftext|> before the next "User: " turn.
Also: --json gives one parsable object per answer; an unknown /command is one error line, the session
goes on, and the exit code reports it (2); /quit ends the session."""
import json
import os
import sys

import numpy as np

from apptest import (SRC, check, finish, make_model, need_bin, run, tmpdir, write_ppm, write_wav)

sys.path.insert(0, os.path.join(SRC, "tests", "fusion"))

N = 6


def main():
    need_bin()
    import ref_fused
    d = tmpdir("app_chat")
    m = make_model(d, "m.gguf", "--seed", "31", "--std", "0.4")
    img = write_ppm(os.path.join(d, "pic.ppm"), 26, 19, 5)
    wav = write_wav(os.path.join(d, "clip.wav"), 0.8, 16000, 6)

    rm = ref_fused.load(m)
    pix = os.path.join(d, "pix.npy")
    r1, _, e1 = run(["encode-image", "-m", m, img, "-o", os.path.join(d, "enc.npy"), "--preprocessed", pix])
    mel = os.path.join(d, "mel.npy")
    r2, _, e2 = run(["mel", wav, "-o", mel, "--n-mels", "80"])
    if not check("encode-image / mel for the reference", r1 == 0 and r2 == 0, e1 + e2):
        return finish()
    img_rows = ref_fused.project_image(rm, ref_fused.vit(rm, np.load(pix)))
    clip_rows = ref_fused.project_audio(rm, ref_fused.audio(rm, np.load(mel)))

    def text(toks):
        t = ref_fused.detok(rm, toks).decode("utf-8", "replace")
        return t[1:] if t.startswith(" ") else t

    # ---- default: every question asked afresh about the media loaded so far (prefix cache)
    script = ("What is it?\n/audio %s\nAnd this sound?\n\n/bogus thing\n/system Be brief.\nAgain?\n/clear\n"
              "/image %s\nLast?\n/quit\nnever asked\n" % (wav, img))
    base = ["chat", "-m", m, "--image", img, "-n", str(N), "-t", "1", "-q"]
    rc, out, err = run(base, stdin=script.encode())
    answers = out.split("\n")
    check("chat: exit 2 (the unknown command), 4 answers", rc == 2 and len(answers) == 5 and answers[4] == "",
          "rc %d out %r err %r" % (rc, out, err))
    check("chat: one error line for /bogus", err.count("\n") == 1 and "/bogus" in err and err.startswith("mmgpt: "),
          repr(err))
    want = [text(ref_fused.greedy(rm, ref_fused.turn(rm, q, md, raw=False, system=sy, kinds=kd), N))
            for q, md, kd, sy in (("What is it?", [img_rows], ["image"], None),
                                  ("And this sound?", [img_rows, clip_rows], ["image", "audio"], None),
                                  ("Again?", [img_rows, clip_rows], ["image", "audio"], "Be brief."),
                                  ("Last?", [img_rows], ["image"], "Be brief."))]
    for i, (g, w) in enumerate(zip(answers, want)):
        check("chat answer %d == reference of a fresh turn" % (i + 1), g == w, "%r vs %r" % (g, w))
    rc, out, err = run(base + ["--json"], stdin=script.encode())
    try:
        objs = [json.loads(ln) for ln in out.split("\n") if ln]
        errs = [o for o in objs if "error" in o]   # a failed chat command line is an object too
        check("chat --json: the unknown chat command is one error object", len(errs) == 1 and errs[0]["exit_code"] == 2
              and "/bogus" in errs[0]["error"] and errs[0]["task"] == "chat", out)
        objs = [o for o in objs if "error" not in o]
        check("chat --json: 4 objects with the same texts", [o["text"] for o in objs] == answers[:4] and
              [o["question"] for o in objs] == ["What is it?", "And this sound?", "Again?", "Last?"] and
              all(o["task"] == "chat" for o in objs), out)
        n_user = len(ref_fused.bpe(rm, "User: "))
        check("chat --json: the 2nd question reuses 'User: ' + the picture's rows from the KV cache",
              len(objs) == 4 and objs[1]["cached_positions"] >= n_user + len(img_rows) and
              objs[0]["cached_positions"] == 0 and objs[2]["cached_positions"] == 0 and objs[3]["cached_positions"] == 0
              and objs[1]["media_positions"] == len(img_rows) + len(clip_rows), out)
    except (ValueError, KeyError) as e:
        check("chat --json parses", False, "%s: %r" % (e, out))

    # ---- --multi-turn: the whole conversation stays in the KV cache
    script = "What is it?\n/audio %s\nAnd this sound?\n/system Be brief.\nAgain?\n/quit\n" % wav
    rc, out, err = run(base + ["--multi-turn"], stdin=script.encode())
    answers = out.split("\n")
    seq = ref_fused.turn(rm, "What is it?", [img_rows], raw=False)
    t1 = ref_fused.greedy(rm, seq, N)
    seq = seq + t1 + [rm.eos] + ref_fused.turn(rm, "And this sound?", [clip_rows], raw=False, kinds=["audio"])
    t2 = ref_fused.greedy(rm, seq, N)
    seq = ref_fused.turn(rm, "Again?", [img_rows, clip_rows], raw=False, system="Be brief.", kinds=["image", "audio"])
    t3 = ref_fused.greedy(rm, seq, N)
    want = [text(t1), text(t2), text(t3)]
    check("chat --multi-turn: exit 0, 3 answers", rc == 0 and len(answers) == 4, "rc %d %r %r" % (rc, out, err))
    for i, (g, w) in enumerate(zip(answers, want)):
        check("chat --multi-turn answer %d == reference of the conversation" % (i + 1), g == w, "%r vs %r" % (g, w))
    rc, out, err = run(base + ["--multi-turn", "--json"], stdin=script.encode())
    try:
        objs = [json.loads(ln) for ln in out.split("\n") if ln]
        check("chat --multi-turn --json: the second turn adds only its own media",
              len(objs) == 3 and objs[1]["media_positions"] == len(clip_rows) and
              objs[2]["media_positions"] == len(img_rows) + len(clip_rows), out)
    except (ValueError, KeyError) as e:
        check("chat --multi-turn --json parses", False, "%s: %r" % (e, out))

    # -p asks first; end of input ends the session with exit 0
    rc, out, err = run(["chat", "-m", m, "--image", img, "-n", str(N), "-q", "-p", "What is it?"], stdin=b"")
    check("chat -p then EOF", rc == 0 and out == text(t1) + "\n", "rc %d %r %r" % (rc, out, err))
    # a bad /image file is reported and the session goes on
    rc, out, err = run(["chat", "-m", m, "-n", "3", "-q"], stdin=("/image %s\nhi\n" % os.path.join(d, "no.png")).encode())
    check("chat: bad /image -> error line, session continues, exit 3",
          rc == 3 and "no.png" in err and out.count("\n") == 1, "rc %d %r %r" % (rc, out, err))
    return finish()


if __name__ == "__main__":
    sys.exit(main())
