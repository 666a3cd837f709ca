#!/usr/bin/python3
"""Parity: the C engine's logits on a model file == the PyTorch model's (mmtrain/model.py) with the same weights.

  /usr/bin/python3 tools/train/parity.py --bin build/mmgpt -m assets/models/mmgpt-demo.gguf [--image F] [--audio F]

The PyTorch model is built from the GGUF itself (dequantized weights loaded into model.MMGPT), so any
file works (the bundled Q8_0 model, or an F32 export for a tight check; mmtrain.export.torch_from_gguf),
and the prompts are tokenized with the file's own vocabulary. Inputs: the committed
examples (assets/examples) unless --image/--audio are given, plus a text-only prompt. To take the
resampler and the audio decoder out of the comparison, PyTorch is fed the engine's own preprocessed
pixels (`mmgpt encode-image --preprocessed`) and its own log-mel (`mmgpt mel`); the log-mel itself is
checked against render_audio.log_mel on the engine's PCM-independent path only through those tests.
Compared: logits of every position of the raw prompt "User: <__media__>\\nDescribe this image.\\nAssistant:"
(`mmgpt logits`), plus the arg-max at the last position.
Tolerance: max |diff| <= TOL * max(1, max |logit|), TOL = 2e-3 for F32/F16 files, 2e-2 for Q8_0/Q4_0
(the engine may quantize activations for quantized dot products, as ggml does). Exit 0 pass, 1 fail,
77 skip (binary or model missing).
"""
import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from mmtrain import BUNDLED_MODEL, REPO_DIR  # noqa: E402


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("%s -> exit %d: %s" % (" ".join(cmd), p.returncode, p.stderr.strip()[-500:]))
    return p.stdout


def check(a, m, tok, tol, kind, f, prompt, tmp):
    """One case: the engine's logits (`mmgpt logits`) against the PyTorch model's; prints a line, returns ok."""
    import torch
    from mmtrain import data
    out = os.path.join(tmp, kind + "_logits.npy")
    with torch.no_grad():
        if kind == "image":
            pix_p = os.path.join(tmp, "pix.npy")
            run([a.bin, "encode-image", "-m", a.model, f, "-o", os.path.join(tmp, "enc.npy"), "--preprocessed", pix_p])
            pix = np.load(pix_p).astype(np.float32)
            rows = m.image_rows(torch.from_numpy(pix)[None])[0]
        elif kind == "audio":
            mel_p = os.path.join(tmp, "mel.npy")
            run([a.bin, "mel", f, "-o", mel_p])
            mel = np.load(mel_p).astype(np.float32)
            r, nr = m.audio_rows(torch.from_numpy(mel)[None], [mel.shape[1]])
            rows = r[0, :int(nr[0])]
        if kind == "text":
            text = "User: What is the capital of France?\nAssistant:"
            run([a.bin, "logits", "-m", a.model, "-p", text, "-o", out])
            emb = m.embed(torch.tensor(tok.enc(text)))
        else:
            text = data.USER_PREFIX + "<__media__>\n" + prompt + data.USER_SUFFIX + data.ASSISTANT_PREFIX
            run([a.bin, "logits", "-m", a.model, "-p", text, "--" + kind, f, "-o", out])
            emb = m.embed_prompt(tok.pre(), rows, tok.post(prompt))
        ref = m.logits(m.decode_hidden(emb[None]))[0].numpy()
    got = np.load(out)
    if got.shape != ref.shape:
        print("parity %s: FAIL shape engine %s vs torch %s" % (kind, got.shape, ref.shape))
        return False
    d = np.abs(got - ref).max()
    scale = max(1.0, np.abs(ref).max())
    same_top = int(got[-1].argmax()) == int(ref[-1].argmax())
    good = d <= tol * scale and same_top
    print("parity %s: %s max|diff| %.3g (limit %.3g = %g x %.3g), last-position argmax %s (%d vs %d)" % (
        kind, "ok" if good else "FAIL", d, tol * scale, tol, scale, "same" if same_top else "DIFFERS",
        int(got[-1].argmax()), int(ref[-1].argmax())))
    return good


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("MMGPT_BIN", os.path.join(REPO_DIR, "build", "mmgpt")))
    ap.add_argument("-m", "--model", default=BUNDLED_MODEL)
    ap.add_argument("--image", default=os.path.join(REPO_DIR, "assets", "examples", "shapes1.png"))
    ap.add_argument("--audio", default=os.path.join(REPO_DIR, "assets", "examples", "beeps.wav"))
    ap.add_argument("--vocab", help="GPT-2 vocabulary for the PyTorch side's tokens (default: the model file's own)")
    ap.add_argument("--tol", type=float, default=None)
    a = ap.parse_args()
    for f, what in ((a.bin, "mmgpt binary"), (a.model, "model")):
        if not os.path.exists(f):
            print("parity.py: skip: %s %s not found" % (what, f))
            sys.exit(77)
    import torch
    from mmtrain import data
    from mmtrain.export import torch_from_gguf
    torch.set_num_threads(1)
    m, qt = torch_from_gguf(a.model)
    tol = a.tol or (2e-3 if qt in ("f32", "f16") else 2e-2)
    tok = data.Tok(a.vocab or a.model)
    cases = [("image", a.image, data.CAPTION_PROMPT), ("audio", a.audio, data.DESCRIBE_PROMPT), ("text", None, None)]
    with tempfile.TemporaryDirectory(prefix="mmgpt-parity-") as tmp:
        ok = [check(a, m, tok, tol, kind, f, prompt, tmp) for kind, f, prompt in cases]
    sys.exit(0 if all(ok) else 1)


if __name__ == "__main__":
    main()
