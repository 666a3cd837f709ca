#!/usr/bin/python3
"""app_freetext (issue 14: free text is text; messages tell the truth): on a random-weight model, answers
checked against the greedy continuation of the independent reference (tests/fusion/ref_fused.py) of the
sequence written out here from include/mm_fusion.h's template rules:
- `ask FILE QUESTION` with `<__media__>` or `<|endoftext|>` typed in QUESTION: the question is plain text
  ("User: " + picture rows + "\\n" + QUESTION + "\\nAssistant:", every character of it tokenized as text);
- a chat line with a typed marker: the picture stays in front (media first), the marker is text;
- `--system` text and `/system` with a marker: plain text in the system block;
- `-p` with media still places the media at its markers (the documented prompt option);
- a prompt over the context: the message gives the positions it takes and the context size."""
import json
import os
import sys

import numpy as np

from apptest import (SRC, check, finish, make_model, need_bin, run, testdata, tmpdir, write_ppm)

sys.path.insert(0, os.path.join(SRC, "tests", "fusion"))

N = 5


def main():
    need_bin()
    testdata.path("gpt2_bpe", "encoder.json")  # the reference tokenizes with it (a missing file fails)
    import ref_fused
    d = tmpdir("app_freetext")
    m = make_model(d, "m.gguf", "--seed", "41", "--std", "0.4")
    small = make_model(d, "small.gguf", "--seed", "41", "--n-ctx", "40")
    img = write_ppm(os.path.join(d, "pic.ppm"), 21, 17, 9)
    rm = ref_fused.load(m)
    pix = os.path.join(d, "pix.npy")
    r1, _, e1 = run(["encode-image", "-m", m, img, "-o", os.path.join(d, "enc.npy"), "--preprocessed", pix])
    if not check("encode-image for the reference", r1 == 0, e1):
        return finish()
    rows = ref_fused.project_image(rm, ref_fused.vit(rm, np.load(pix)))
    t = rm.tpl

    def seq(question, system=None):
        """[system block] user_prefix ROWS "\\n" question user_suffix assistant_prefix: the text before the
        rows and the text after them are one piece each, all of it plain text."""
        pre = (t["system_prefix"] + system + t["system_suffix"] if system else "") + t["user_prefix"]
        post = "\n" + question + t["user_suffix"] + t["assistant_prefix"]
        return ref_fused.bpe(rm, pre) + [r for r in rows] + ref_fused.bpe(rm, post)

    def text(toks):
        s = ref_fused.detok(rm, toks).decode("utf-8", "replace")
        return s[1:] if s.startswith(" ") else s

    def want(question, system=None):
        return text(ref_fused.greedy(rm, seq(question, system), N))

    base = ["-m", m, "-n", str(N), "-t", "1", "-q"]
    eot_id = rm.eos

    # ---- ask: a typed marker is text (before: exit 2 "prompt has 2 <__media__> markers")
    q = "<__media__> what is it"
    rc, out, err = run(["ask"] + base + ["--json", img, q])
    try:
        o = json.loads(out) if rc == 0 else {}
    except ValueError:
        o = {}
    check("ask with a typed <__media__>: exit 0, answer and positions of the plain-text question",
          rc == 0 and o.get("text") == want(q) and o.get("prompt_positions") == len(seq(q)) and
          o.get("media_positions") == len(rows), "rc %d out %r err %r want %r (%d positions)" % (rc, out, err, want(q),
                                                                                           len(seq(q))))
    # ---- ask: a typed <|endoftext|> is text (the tokenizer never gives the special id for user text)
    q2 = "what <|endoftext|> is it"
    assert eot_id not in ref_fused.bpe(rm, q2)
    rc, out, err = run(["ask"] + base + ["--json", img, q2])
    o = json.loads(out) if rc == 0 else {}
    check("ask with a typed <|endoftext|>: answer and positions of the plain-text question",
          rc == 0 and o.get("text") == want(q2) and o.get("prompt_positions") == len(seq(q2)), "rc %d %r %r" % (rc, out, err))
    # ---- --system with a marker is plain text (before: exit 2 "the system prompt ... holds a marker")
    sy = "<__media__> Be brief."
    rc, out, err = run(["ask"] + base + ["--system", sy, img, "what?"])
    check("ask --system with a typed <__media__>: the system block holds it as text",
          rc == 0 and out == want("what?", sy) + "\n", "rc %d %r %r want %r" % (rc, out, err, want("what?", sy)))

    # ---- chat: a typed marker stays text, the picture stays in front (before: the picture moved into the words)
    script = "%s\n/system %s\nwhat?\n" % (q, sy)
    rc, out, err = run(["chat"] + base + ["--json", "--image", img], stdin=script.encode())
    try:
        objs = [json.loads(ln) for ln in out.split("\n") if ln]
    except ValueError:
        objs = []
    check("chat line with a typed <__media__>: answer and positions of the plain-text line",
          rc == 0 and len(objs) == 2 and objs[0]["text"] == want(q) and objs[0]["prompt_positions"] == len(seq(q)),
          "rc %d %r %r want %r (%d positions)" % (rc, out, err, want(q), len(seq(q))))
    check("chat /system with a typed <__media__>: plain text in the system block",
          len(objs) == 2 and objs[1]["text"] == want("what?", sy), "%r want %r" % (out, want("what?", sy)))

    # ---- -p with media still places them at the markers (the documented prompt option)
    p = "Look: <__media__> now"
    ref = ref_fused.turn(rm, p, [rows], raw=True)
    rc, out, err = run(["generate"] + base + ["--temp", "0", "--json", "--image", img, "-p", p])
    o = json.loads(out) if rc == 0 else {}
    g = ref_fused.detok(rm, ref_fused.greedy(rm, ref, N)).decode("utf-8", "replace")
    check("generate --image -p with a marker: the picture at the marker",
          rc == 0 and o.get("text") == g and o.get("prompt_positions") == len(ref), "rc %d %r %r want %r" % (rc, out, err, g))

    # ---- over the context: the true position count and the context size (before: "takes 0 positions")
    rms = ref_fused.load(small)
    qq = "why " * 30
    pre = rms.tpl["user_prefix"]
    post = "\n" + qq + rms.tpl["user_suffix"] + rms.tpl["assistant_prefix"]
    n_pos = len(ref_fused.bpe(rms, pre)) + len(rows) + len(ref_fused.bpe(rms, post))
    rc, out, err = run(["ask", "-m", small, "-q", img, qq])
    msg = "the prompt takes %d positions (%d of them media), over the context of 40" % (n_pos, len(rows))
    check("ask over the context: '%s'" % msg, rc == 3 and msg in err, "rc %d %r" % (rc, err))
    return finish()


if __name__ == "__main__":
    sys.exit(main())
