#!/usr/bin/python3
"""fus_logits: `mmgpt logits --image/--audio` (all-position logits of the fused sequence) against the
independent reference in ref_fused.py, on random-weight combined models built by tools/make_random_mm.py.

Cases: two images and one clip in one prompt (mlp projector, CLS, quick-GELU, f32); linear projector
without CLS, GELU, f16 matrices, clip padded to a 30 s window; Q8_0 matrices everywhere (the reference
uses the same dequantized weights: prompts run through sgemm on dequantized tiles); the separate --mmproj layout with no
marker (media first); the chat template through `mmgpt ask` (greedy tokens vs the reference).
Inputs of the encoders are the C program's own preprocessed pixels and log-mel (their parity with
independent references is tested in tests/image and tests/audio).

Tolerance: max |logit - ref| <= 1e-4 * max |ref logit| (float32 engine vs float64 reference through
two encoders, a projector and the decoder; errors measured are printed).
"""
import json
import os
import subprocess
import sys
import wave

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ref_fused  # noqa: E402

sys.path.insert(0, os.path.join(HERE, ".."))
import testdata  # noqa: E402

BIN = os.environ.get("MMGPT_BIN")
SRC = os.environ.get("MMGPT_SOURCE_DIR", os.path.join(HERE, "..", ".."))
TMP = os.path.join(os.environ.get("MMGPT_TEST_TMP", "/tmp"), "fus_logits")
TOL = 1e-4
failures = []


def run(args, **kw):
    p = subprocess.run([BIN] + args, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise SystemExit("FAIL: mmgpt %s -> %d\n%s" % (" ".join(args), p.returncode, p.stderr))
    return p


def make_model(name, *args):
    path = os.path.join(TMP, name)
    vocab = testdata.path("gpt2_bpe")
    subprocess.run([sys.executable, os.path.join(SRC, "tools", "make_random_mm.py"), "-o", path, "--vocab", vocab]
                   + list(args), check=True, capture_output=True)
    return path


def write_inputs():
    r = np.random.default_rng(7)
    files = {}
    for name, (h, w) in {"a.ppm": (40, 56), "b.ppm": (33, 21)}.items():
        img = (r.random((h, w, 3)) * 255).astype(np.uint8)
        p = os.path.join(TMP, name)
        with open(p, "wb") as f:
            f.write(b"P6\n%d %d\n255\n" % (w, h) + img.tobytes())
        files[name] = p
    t = np.arange(int(16000 * 1.37)) / 16000.0
    x = 0.3 * np.sin(2 * np.pi * 330 * t) * np.exp(-t) + 0.05 * r.standard_normal(t.size)
    p = os.path.join(TMP, "c.wav")
    with wave.open(p, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((x * 32767).astype("<i2").tobytes())
    files["c.wav"] = p
    return files


def c_pixels(model, img, mmproj=None):
    out = os.path.join(TMP, "pix.npy")
    enc = os.path.join(TMP, "enc.npy")
    run(["encode-image", "-m", mmproj or model, img, "-o", enc, "--preprocessed", out, "-t", "1"])
    return np.load(out), np.load(enc)


def c_mel(m, wav):
    out = os.path.join(TMP, "mel.npy")
    nm = int(m.ekv["clip.audio.num_mel_bins"])
    args = ["mel", wav, "-o", out, "--n-mels", str(nm)]
    if m.ekv.get("mmgpt.audio.pad_to_window", True):
        if int(m.ekv.get("mmgpt.audio.max_frames", 3000)) != 3000:
            raise SystemExit("test setup: pad_to_window is tested with the 3000-frame window only")
        args.append("--pad-30s")
    run(args)
    return np.load(out)


def compare(label, got, ref, tol=TOL):
    if got.shape != ref.shape:
        failures.append("%s: shape %s, reference %s" % (label, got.shape, ref.shape))
        print("FAIL %s: shape %s vs %s" % (label, got.shape, ref.shape))
        return
    err = float(np.max(np.abs(got - ref)))
    scale = float(np.max(np.abs(ref)))
    ok = err <= tol * scale
    print("%s %s: max|diff| %.3g, max|ref| %.3g, ratio %.2e (tol %.0e)" % ("ok  " if ok else "FAIL", label, err,
                                                                          scale, err / scale, tol))
    if not ok:
        failures.append(label)


def media_rows(m, model, files, kinds, mmproj=None):
    rows = []
    for f, k in zip(files, kinds):
        if k == "image":
            pix, enc = c_pixels(model, f, mmproj)
            feats = ref_fused.vit(m, pix)
            own = ref_fused.vit_own(m, pix)
            if np.max(np.abs(own - feats)) > 1e-9 * max(1.0, np.max(np.abs(own))):
                failures.append("ref_vit and ref_fused.vit_own disagree")
            compare("  ViT output of %s" % os.path.basename(f), enc, feats, 1e-4)
            rows.append(ref_fused.project_image(m, feats))
        else:
            rows.append(ref_fused.project_audio(m, ref_fused.audio(m, c_mel(m, f))))
    return rows


def case_logits(label, model, prompt, files, kinds, mmproj=None):
    m = ref_fused.load(model, mmproj)
    rows = media_rows(m, model, files, kinds, mmproj)
    inputs = ref_fused.turn(m, prompt, rows, raw=True, kinds=kinds)
    ref = ref_fused.logits(m, inputs)
    out = os.path.join(TMP, "logits.npy")
    args = ["logits", "-m", model, "-p", prompt, "-o", out, "-t", "2"]
    if mmproj:
        args += ["--mmproj", mmproj]
    for f, k in zip(files, kinds):
        args += ["--" + k, f]
    run(args)
    got = np.load(out)
    n_media = sum(len(r) for r in rows)
    print("%s: %d positions (%d media rows)" % (label, len(inputs), n_media))
    compare(label, got, ref)


def case_ask(label, model, img, question, n):
    m = ref_fused.load(model)
    rows = media_rows(m, model, [img], ["image"])
    inputs = ref_fused.turn(m, m.tpl["ask"].replace("{question}", question), rows, raw=False)
    toks = ref_fused.greedy(m, inputs, n)
    want = ref_fused.detok(m, toks).decode("utf-8", "replace")
    if want.startswith(" "):
        want = want[1:]
    p = run(["ask", "-m", model, "-n", str(n), "--json", "-q", img, question])
    got = json.loads(p.stdout)["text"]
    ok = got == want
    print("%s %s: %d greedy tokens %s" % ("ok  " if ok else "FAIL", label, len(toks), "match" if ok else
                                          "differ:\n  got  %r\n  want %r" % (got, want)))
    if not ok:
        failures.append(label)


def main():
    if not BIN:
        print("MMGPT_BIN is not set")
        return 77
    os.makedirs(TMP, exist_ok=True)
    f = write_inputs()
    imgs2_clip = [f["a.ppm"], f["b.ppm"], f["c.wav"]]
    kinds = ["image", "image", "audio"]

    m1 = make_model("m1.gguf", "--projector", "mlp", "--seed", "3")
    case_logits("mlp, CLS, quick-GELU: two images and one clip", m1,
                "First <__media__> then <__media__>, and a sound: <__media__>. Which one?", imgs2_clip, kinds)

    m2 = make_model("m2.gguf", "--projector", "linear", "--no-cls", "--use-gelu", "--type", "f16", "--seed", "4",
                    "--max-frames", "3000", "--pad-to-window", "--n-ctx", "512", "--stack", "8", "--resize-mode", "pad")
    case_logits("linear, no CLS, GELU, f16, clip padded to 30 s", m2,
                "<__media__> sounds like <__media__>? Or <__media__>", [f["c.wav"], f["a.ppm"], f["b.ppm"]],
                ["audio", "image", "image"])

    m3 = os.path.join(TMP, "m3-text.gguf")
    p3 = os.path.join(TMP, "m3-mmproj.gguf")
    subprocess.run([sys.executable, os.path.join(SRC, "tools", "make_random_mm.py"), "-o", m3, "--mmproj-out", p3,
                    "--vocab", testdata.path("gpt2_bpe"), "--seed", "5", "--feature-layer", "-2",
                    "--resize-mode", "crop"], check=True, capture_output=True)
    case_logits("separate --mmproj, no marker (media first), feature layer -2", m3, "What are these?",
                [f["b.ppm"], f["c.wav"]], ["image", "audio"], mmproj=p3)

    m5 = make_model("m5.gguf", "--projector", "mlp", "--type", "q8_0", "--seed", "8", "--untied")
    case_logits("Q8_0 matrices (projectors, encoders, decoder), untied output", m5,
                "Q: <__media__> <__media__> A:", [f["c.wav"], f["b.ppm"]], ["audio", "image"])

    m6 = make_model("m6.gguf", "--projector", "idefics3", "--scale-factor", "2", "--image-size", "48", "--seed", "9")
    case_logits("idefics3 pixel shuffle (scale factor 2, 6x6 -> 3x3 rows), two images and one clip", m6,
                "<__media__> and <__media__> with <__media__>.", imgs2_clip, kinds)
    m7 = make_model("m7.gguf", "--projector", "mlp", "--scale-factor", "2", "--no-cls", "--seed", "10")
    case_logits("mlp after a 2x2 pixel shuffle, no CLS", m7, "Look: <__media__>", [f["a.ppm"]], ["image"])

    m4 = make_model("m4.gguf", "--seed", "6", "--std", "0.5")
    case_ask("chat template via mmgpt ask", m4, f["a.ppm"], "what is in it?", 8)

    if failures:
        print("FAILED: %s" % ", ".join(failures))
        return 1
    print("all fused-sequence checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
