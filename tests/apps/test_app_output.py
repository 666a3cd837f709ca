#!/usr/bin/python3
"""app_output: output formats of the media commands on a random-weight model.
- one input: stdout is exactly the generated text + "\\n" (what --json reports as "text");
- several files: one line per file, "FILE: text", each text equal to that file's single-file output,
  and a failing file in the middle gives its error line on stderr while the others still print;
- --json: one JSON object per input, parsed with Python's json module, with the documented fields;
- stderr never carries terminal control sequences when it is not a terminal (no progress indicator);
- the answer is the model's greedy continuation with the leading space removed: checked against the
  independent reference (tests/fusion/ref_fused.py) for describe (audio) and caption with --system.
"""
import json
import os
import sys

from apptest import (SRC, check, finish, make_model, need_bin, run, tmpdir, write_ppm, write_tga,
                     write_wav)

sys.path.insert(0, os.path.join(SRC, "tests", "fusion"))


def main():
    need_bin()
    d = tmpdir("app_output")
    m = make_model(d, "m.gguf", "--seed", "21", "--std", "0.4")
    imgs = [write_ppm(os.path.join(d, "p%d.ppm" % i), 20 + 7 * i, 31 - 3 * i, 30 + i) for i in range(3)]
    wavs = [write_wav(os.path.join(d, "s%d.wav" % i), 0.5 + 0.4 * i, [16000, 44100][i], 40 + i, channels=1 + i)
            for i in range(2)]
    N = ["-n", "10", "-t", "1"]

    # single input: only the text
    singles = {}
    for f in imgs:
        rc, out, err = run(["caption", "-m", m] + N + [f])
        check("caption %s: exit 0, one line" % os.path.basename(f), rc == 0 and out.endswith("\n") and
              out.count("\n") == 1, "rc %d out %r err %r" % (rc, out, err))
        check("caption %s: no control characters on stderr" % os.path.basename(f),
              "\r" not in err and "\033" not in err, repr(err))
        singles[f] = out[:-1]
    for f in wavs:
        rc, out, err = run(["describe", "-m", m] + N + [f])
        check("describe %s: exit 0, one line" % os.path.basename(f), rc == 0 and out.count("\n") == 1, err)
        singles[f] = out[:-1]
    rc, out, err = run(["caption"] + N + [imgs[0]], env={"MMGPT_MODEL": m})
    check("caption without -m uses $MMGPT_MODEL", rc == 0 and out[:-1] == singles[imgs[0]], "rc %d %r" % (rc, err))
    rc, out, err = run(["caption", "-m", m, "-q"] + N + [imgs[0]])
    check("-q: nothing on stderr", rc == 0 and err == "" and out[:-1] == singles[imgs[0]], repr(err))

    # several files: "FILE: text" lines
    rc, out, err = run(["caption", "-m", m] + N + imgs)
    lines = out.split("\n")
    check("caption 3 files: 3 lines + final newline", rc == 0 and len(lines) == 4 and lines[3] == "", repr(out))
    for f, ln in zip(imgs, lines):
        check("caption multi: line of %s" % os.path.basename(f), ln == "%s: %s" % (f, singles[f]),
              "%r vs %r" % (ln, singles[f]))
    rc, out, err = run(["describe", "-m", m] + N + wavs)
    lines = out.split("\n")
    check("describe 2 files", rc == 0 and lines[:2] == ["%s: %s" % (f, singles[f]) for f in wavs], repr(out))
    missing = os.path.join(d, "missing.ppm")
    rc, out, err = run(["caption", "-m", m, "-q"] + N + [imgs[0], missing, imgs[1]])
    check("caption with a missing file in the middle: exit 3, the others printed",
          rc == 3 and out == "%s: %s\n%s: %s\n" % (imgs[0], singles[imgs[0]], imgs[1], singles[imgs[1]]) and
          err.count("\n") == 1 and "missing.ppm" in err, "rc %d out %r err %r" % (rc, out, err))

    # --json
    rc, out, err = run(["caption", "-m", m, "--json"] + N + imgs[:2])
    objs = []
    try:
        objs = [json.loads(ln) for ln in out.split("\n") if ln]
    except ValueError as e:
        check("caption --json parses", False, "%s: %r" % (e, out))
    check("caption --json: one object per file", rc == 0 and len(objs) == 2, repr(out))
    for f, o in zip(imgs, objs):
        ok = (o.get("file") == f and o.get("task") == "caption" and o.get("text") == singles[f] and
              o["generated_tokens"] >= 1 and o["prompt_positions"] == o["media_positions"] + o["text_tokens"] and
              o["media_positions"] == 16 and o["stop"] in ("eos", "max_tokens") and
              all(k in o["timings_ms"] for k in ("model_load", "image_decode", "image_encode", "project", "prompt",
                                                 "generate", "total")))
        check("caption --json fields for %s" % os.path.basename(f), ok, json.dumps(o)[:400])
    rc, out, err = run(["ask", "-m", m, "--json"] + N + [wavs[1], "is it loud?"])
    try:
        o = json.loads(out)
        check("ask --json (audio)", rc == 0 and o["task"] == "ask" and o["question"] == "is it loud?" and
              o["file"] == wavs[1] and o["timings_ms"]["audio_encode"] >= 0 and o["media_positions"] > 0, out)
    except ValueError as e:
        check("ask --json parses", False, "%s %r %r" % (e, out, err))
    tga = write_tga(os.path.join(d, "t.tga"), 17, 23, 50)
    rc, out, err = run(["ask", "-m", m, "--json"] + N + [tga, "what is it?"])
    try:
        o = json.loads(out)
        check("ask on a TGA (no signature: tried as an image)", rc == 0 and o["media_positions"] == 16 and
              o["timings_ms"]["image_encode"] > 0, out)
    except ValueError as e:
        check("ask on a TGA parses", False, "%s %r %r" % (e, out, err))
    rc, out, err = run(["generate", "-m", m, "--json", "-p", "Hello <__media__> world", "--image", imgs[2]] + N)
    try:
        o = json.loads(out)
        check("generate --image --json", rc == 0 and o["media_positions"] == 16 and o["generated_tokens"] >= 1, out)
    except ValueError as e:
        check("generate --image --json parses", False, "%s %r %r" % (e, out, err))

    # generate with the media path (--mmproj, no media) = the text-only generate, greedy and sampled
    for extra in (["--temp", "0"], ["--seed", "5"], ["--stop", "e"]):
        a = run(["generate", "-m", m, "-p", "Hello world", "-n", "12", "-q"] + extra)
        b = run(["generate", "-m", m, "-p", "Hello world", "-n", "12", "-q", "--mmproj", m] + extra)
        check("generate %s: media path == text path" % " ".join(extra), a[0] == 0 and a[:2] == b[:2] and a[1],
              "%r vs %r" % (a, b))

    import numpy as np
    la, lb = os.path.join(d, "la.npy"), os.path.join(d, "lb.npy")
    ra = run(["logits", "-m", m, "-p", "Hello world, again", "-o", la])
    rb = run(["logits", "-m", m, "-p", "Hello world, again", "-o", lb, "--mmproj", m])
    check("logits: media path == text path", ra[0] == 0 and rb[0] == 0 and np.array_equal(np.load(la), np.load(lb)),
          "%r %r" % (ra, rb))

    # answers against the independent reference (greedy, template, leading space trimmed)
    import ref_fused
    rm = ref_fused.load(m)

    def c_mel(wav):
        out = os.path.join(d, "mel.npy")
        rc, _, err = run(["mel", wav, "-o", out, "--n-mels", "80"])
        check("mel %s" % os.path.basename(wav), rc == 0, err)
        return np.load(out)

    def c_pixels(img):
        out = os.path.join(d, "pix.npy")
        rc, _, err = run(["encode-image", "-m", m, img, "-o", os.path.join(d, "enc.npy"), "--preprocessed", out])
        check("encode-image %s" % os.path.basename(img), rc == 0, err)
        return np.load(out)

    def want(inputs, n=10):
        t = ref_fused.detok(rm, ref_fused.greedy(rm, inputs, n)).decode("utf-8", "replace")
        return t[1:] if t.startswith(" ") else t

    rows = ref_fused.project_audio(rm, ref_fused.audio(rm, c_mel(wavs[0])))
    w = want(ref_fused.turn(rm, rm.tpl["describe"], [rows], raw=False, kinds=["audio"]))
    check("describe answer == reference greedy", singles[wavs[0]] == w, "%r vs %r" % (singles[wavs[0]], w))
    rows = ref_fused.project_image(rm, ref_fused.vit(rm, c_pixels(imgs[1])))
    w = want(ref_fused.turn(rm, rm.tpl["caption"], [rows], raw=False, system="Answer briefly."))
    rc, out, err = run(["caption", "-m", m, "--system", "Answer briefly."] + N + [imgs[1]])
    check("caption --system answer == reference greedy", rc == 0 and out[:-1] == w, "%r vs %r" % (out, w))
    return finish()


if __name__ == "__main__":
    sys.exit(main())
