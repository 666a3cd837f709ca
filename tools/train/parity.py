#!/usr/bin/python3
"""Parity: the C engine's logits on a model file == the PyTorch model's (model.py) with the same weights.

  /usr/bin/python3 tools/train/parity.py --bin build/mmgpt -m assets/models/mmgpt-demo.gguf [--image F] [--audio F]

The PyTorch model is built from the GGUF itself (dequantized weights loaded into model.MMGPT), so any
file works (the bundled Q8_0 model, or an F32 export for a tight check). Inputs: the committed
examples (assets/examples) unless --image/--audio are given, plus a text-only prompt. To take the
resampler and the audio decoder out of the comparison, PyTorch is fed the engine's own preprocessed
pixels (`mmgpt encode-image --preprocessed`) and its own log-mel (`mmgpt mel`); the log-mel itself is
checked against gen_audio.log_mel on the engine's PCM-independent path only through those tests.
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

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))

import numpy as np  # noqa: E402


def torch_from_gguf(path):
    import torch
    import mmgguf
    from model import Config, MMGPT
    from export import tensor_map
    r = mmgguf.GGUFReader(path)
    kv = r.kv
    c = Config(n_vocab=r.tensors["token_embd.weight"][1][1], n_ctx=kv["gpt2.context_length"],
               d=kv["gpt2.embedding_length"], n_layer=kv["gpt2.block_count"], n_head=kv["gpt2.attention.head_count"],
               d_ff=kv["gpt2.feed_forward_length"], eps=kv["gpt2.attention.layer_norm_epsilon"],
               image_size=kv["clip.vision.image_size"], patch=kv["clip.vision.patch_size"],
               v_merge=kv.get("clip.vision.projector.scale_factor", 1),
               v_d=kv["clip.vision.embedding_length"], v_layer=kv["clip.vision.block_count"],
               v_head=kv["clip.vision.attention.head_count"], v_ff=kv["clip.vision.feed_forward_length"],
               n_mels=kv["clip.audio.num_mel_bins"], a_d=kv["clip.audio.embedding_length"],
               a_layer=kv["clip.audio.block_count"], a_head=kv["clip.audio.attention.head_count"],
               a_ff=kv["clip.audio.feed_forward_length"], a_max_frames=kv["mmgpt.audio.max_frames"],
               stack=kv["clip.audio.projector.stack_factor"],
               a_proj_mid=r.tensors["mm.a.mlp.1.weight"][1][1])
    m = MMGPT(c, train_ids=[])
    src = {}
    tensor_map(m, src)
    sd = m.state_dict()
    with torch.no_grad():
        for n, k in src.items():
            if k is not None:
                sd[k].copy_(torch.from_numpy(r.tensor_f32(n).reshape(sd[k].shape)))
        m.wte.weight.copy_(torch.from_numpy(r.tensor_f32("token_embd.weight")))
        m.audio.pos.copy_(torch.from_numpy(r.tensor_f32("a.position_embd.weight"))[:m.audio.pos.shape[0]])
    m.eval()
    qt = r.tensors["blk.0.attn_qkv.weight"][0]
    return m, qt


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("%s -> exit %d: %s" % (" ".join(cmd), p.returncode, p.stderr.strip()[-500:]))
    return p.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.join(HERE, "..", "..")
    ap.add_argument("--bin", default=os.environ.get("MMGPT_BIN", os.path.join(root, "build", "mmgpt")))
    ap.add_argument("-m", "--model", default=os.path.join(root, "assets", "models", "mmgpt-demo.gguf"))
    ap.add_argument("--image", default=os.path.join(root, "assets", "examples", "shapes1.png"))
    ap.add_argument("--audio", default=os.path.join(root, "assets", "examples", "beeps.wav"))
    ap.add_argument("--tol", type=float, default=None)
    a = ap.parse_args()
    for f, what in ((a.bin, "mmgpt binary"), (a.model, "model")):
        if not os.path.exists(f):
            print("parity.py: skip: %s %s not found" % (what, f))
            sys.exit(77)
    import torch
    import data
    torch.set_num_threads(1)
    m, qt = torch_from_gguf(a.model)
    tol = a.tol or (2e-3 if qt in ("f32", "f16") else 2e-2)
    tok = data.Tok()
    tmp = tempfile.mkdtemp(prefix="mmgpt-parity-")
    ok = True
    cases = [("image", a.image, data.CAPTION_PROMPT), ("audio", a.audio, data.DESCRIBE_PROMPT), ("text", None, None)]
    for kind, f, prompt in cases:
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
                ids = tok.enc(text)
                emb = m.embed(torch.tensor(ids))
            else:
                text = data.USER_PREFIX + "<__media__>\n" + prompt + data.USER_SUFFIX + data.ASSISTANT_PREFIX
                run([a.bin, "logits", "-m", a.model, "-p", text, "--" + kind, f, "-o", out])
                emb = m.embed_prompt(tok.pre(), rows, tok.post(prompt))
            ref = m.logits(m.decode_hidden(emb[None]))[0].numpy()
        got = np.load(out)
        if got.shape != ref.shape:
            print("parity %s: FAIL shape engine %s vs torch %s" % (kind, got.shape, ref.shape))
            ok = False
            continue
        d = np.abs(got - ref).max()
        scale = max(1.0, np.abs(ref).max())
        same_top = int(got[-1].argmax()) == int(ref[-1].argmax())
        good = d <= tol * scale and same_top
        ok &= good
        print("parity %s: %s max|diff| %.3g (limit %.3g = %g x %.3g), last-position argmax %s (%d vs %d)" % (
            kind, "ok" if good else "FAIL", d, tol * scale, tol, scale, "same" if same_top else "DIFFERS",
            int(got[-1].argmax()), int(ref[-1].argmax())))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
