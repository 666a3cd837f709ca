#!/usr/bin/python3
"""Numpy forward pass of a combined mmgpt GGUF, read with tools/mmgguf.py (weights dequantized).

Written separately from model.py (numpy, from the GGUF names and keys only), so that
  * mmtrain/export.py is checked: torch model (with the file's dequantized weights) == this forward, and
  * the C engine's parity test has an independent reference: logits of the last position for
    [caption | describe | ask] prompts, or for raw token ids.

  /usr/bin/python3 tools/train/diag/gguf_ref.py MODEL.gguf --image X.png            # caption logits + greedy text
  /usr/bin/python3 tools/train/diag/gguf_ref.py MODEL.gguf --audio X.wav --question "How many beeps?"
  /usr/bin/python3 tools/train/diag/gguf_ref.py MODEL.gguf --image X.png --save-logits out.npy
  /usr/bin/python3 tools/train/diag/gguf_ref.py MODEL.gguf --check-ckpt last.pt     # export vs torch check

Image input: RGB, squash-resized to image_size with PIL BICUBIC (the engine uses stb_image_resize, so
image logits differ slightly unless you pass --pixels a .npy of the engine's preprocessed pixels).
Audio input: any file sox/PIL... here WAV/FLAC/Ogg via the 'soundfile'-free path: sox converts to
16 kHz mono f32 (or pass --pcm a .npy of 16 kHz float samples, e.g. the engine's).
"""
import argparse
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tools/train: the mmtrain package

import numpy as np  # noqa: E402

from mmtrain.render_audio import load_pcm_16k  # noqa: E402  (importing mmtrain puts tools/ on the path)
import mmgguf  # noqa: E402


def _ln(x, w, b, eps):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * w + b


def _gelu_erf(x):
    from math import erf
    verf = np.vectorize(erf)
    return 0.5 * x * (1.0 + verf(x / math.sqrt(2.0)))


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def _softmax(x):
    x = x - x.max(-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(-1, keepdims=True)


class Ref:
    def __init__(self, path):
        self.path = path
        self.r = mmgguf.GGUFReader(path)
        self.kv = self.r.kv
        self.cache = {}

    def t(self, name):
        if name not in self.cache:
            self.cache[name] = self.r.tensor_f32(name).astype(np.float64)
        return self.cache[name]

    def has(self, name):
        return name in self.r.tensors

    # ---------------------------------------------------------- encoders
    def _enc_block(self, x, p, n_head, eps):
        T, D = x.shape
        hd = D // n_head
        h = _ln(x, self.t(p + "ln1.weight"), self.t(p + "ln1.bias"), eps)
        q = h @ self.t(p + "attn_q.weight").T + self.t(p + "attn_q.bias")
        k = h @ self.t(p + "attn_k.weight").T + self.t(p + "attn_k.bias")
        v = h @ self.t(p + "attn_v.weight").T + self.t(p + "attn_v.bias")
        out = np.zeros_like(x)
        for hh in range(n_head):
            s = slice(hh * hd, (hh + 1) * hd)
            a = _softmax(q[:, s] @ k[:, s].T / math.sqrt(hd))
            out[:, s] = a @ v[:, s]
        x = x + out @ self.t(p + "attn_out.weight").T + self.t(p + "attn_out.bias")
        h = _ln(x, self.t(p + "ln2.weight"), self.t(p + "ln2.bias"), eps)
        h = _gelu_erf(h @ self.t(p + "ffn_up.weight").T + self.t(p + "ffn_up.bias"))
        return x + h @ self.t(p + "ffn_down.weight").T + self.t(p + "ffn_down.bias")

    def image_rows(self, pix):
        """pix [3, S, S] normalised -> projected rows [n_patches, d_model]."""
        kv = self.kv
        p = kv["clip.vision.patch_size"]
        W = self.t("v.patch_embd.weight")  # (d, 3, p, p)
        d = W.shape[0]
        S = pix.shape[1]
        g = S // p
        patches = pix.reshape(3, g, p, g, p).transpose(1, 3, 0, 2, 4).reshape(g * g, 3 * p * p)
        x = patches @ W.reshape(d, -1).T + self.t("v.patch_embd.bias")
        x = x + self.t("v.position_embd.weight")[:g * g]
        nh = kv["clip.vision.attention.head_count"]
        eps = kv["clip.vision.attention.layer_norm_epsilon"]
        for i in range(kv["clip.vision.block_count"]):
            x = self._enc_block(x, "v.blk.%d." % i, nh, eps)
        h = _gelu_erf(x @ self.t("mm.0.weight").T + self.t("mm.0.bias"))
        return h @ self.t("mm.2.weight").T + self.t("mm.2.bias")

    def audio_rows(self, mel):
        """mel [n_mels, T] -> projected rows [ceil(ceil(T/2)/k), d_model] (one window: T <= max_frames)."""
        kv = self.kv

        def conv(x, w, b, stride):  # x [C_in, T], w [C_out, C_in, 3], pad 1
            C, T = x.shape
            xp = np.pad(x, ((0, 0), (1, 1)))
            To = (T + 2 - 3) // stride + 1
            cols = np.stack([xp[:, j * stride:j * stride + 3] for j in range(To)], 0)  # [To, C, 3]
            return (cols.reshape(To, -1) @ w.reshape(w.shape[0], -1).T + b).T

        x = _gelu_erf(conv(mel.astype(np.float64), self.t("a.conv1d.1.weight"), self.t("a.conv1d.1.bias"), 1))
        x = _gelu_erf(conv(x, self.t("a.conv1d.2.weight"), self.t("a.conv1d.2.bias"), 2)).T  # [T2, d]
        T2 = x.shape[0]
        x = x + self.t("a.position_embd.weight")[:T2]
        nh = kv["clip.audio.attention.head_count"]
        eps = kv["clip.audio.attention.layer_norm_epsilon"]
        for i in range(kv["clip.audio.block_count"]):
            x = self._enc_block(x, "a.blk.%d." % i, nh, eps)
        x = _ln(x, self.t("a.post_ln.weight"), self.t("a.post_ln.bias"), eps)
        k = kv["clip.audio.projector.stack_factor"]
        R = (T2 + k - 1) // k
        x = np.concatenate([x, np.zeros((R * k - T2, x.shape[1]))], 0).reshape(R, -1)
        h = _gelu_erf(x @ self.t("mm.a.mlp.1.weight").T + self.t("mm.a.mlp.1.bias"))
        return h @ self.t("mm.a.mlp.2.weight").T + self.t("mm.a.mlp.2.bias")

    # ---------------------------------------------------------- decoder
    def decode(self, emb):
        """emb [T, d] (token embeddings / media rows, no positions) -> logits [T, n_vocab]."""
        kv = self.kv
        T, D = emb.shape
        nh = kv["gpt2.attention.head_count"]
        eps = kv["gpt2.attention.layer_norm_epsilon"]
        hd = D // nh
        x = emb + self.t("position_embd.weight")[:T]
        mask = np.triu(np.full((T, T), -np.inf), 1)
        for i in range(kv["gpt2.block_count"]):
            p = "blk.%d." % i
            h = _ln(x, self.t(p + "attn_norm.weight"), self.t(p + "attn_norm.bias"), eps)
            qkv = h @ self.t(p + "attn_qkv.weight").T + self.t(p + "attn_qkv.bias")
            q, k, v = qkv[:, :D], qkv[:, D:2 * D], qkv[:, 2 * D:]
            out = np.zeros_like(x)
            for hh in range(nh):
                s = slice(hh * hd, (hh + 1) * hd)
                out[:, s] = _softmax(q[:, s] @ k[:, s].T / math.sqrt(hd) + mask) @ v[:, s]
            x = x + out @ self.t(p + "attn_output.weight").T + self.t(p + "attn_output.bias")
            h = _ln(x, self.t(p + "ffn_norm.weight"), self.t(p + "ffn_norm.bias"), eps)
            h = _gelu_tanh(h @ self.t(p + "ffn_up.weight").T + self.t(p + "ffn_up.bias"))
            x = x + h @ self.t(p + "ffn_down.weight").T + self.t(p + "ffn_down.bias")
        x = _ln(x, self.t("output_norm.weight"), self.t("output_norm.bias"), eps)
        out_w = self.t("output.weight") if self.has("output.weight") else self.t("token_embd.weight")
        return x @ out_w.T

    def embed(self, ids):
        return self.t("token_embd.weight")[np.asarray(ids, dtype=np.int64)]

    def prompt_logits(self, pre_ids, rows, post_ids):
        emb = np.concatenate([self.embed(pre_ids), rows, self.embed(post_ids)], 0)
        return self.decode(emb)

    def greedy(self, pre_ids, rows, post_ids, max_new=40, eos=50256):
        out = []
        for _ in range(max_new):
            lg = self.prompt_logits(pre_ids, rows, post_ids + out)[-1]
            t = int(lg.argmax())
            if t == eos:
                break
            out.append(t)
        return out


def check_ckpt(ref, ckpt):
    """Load the checkpoint into torch with the FILE's (dequantized) weights; compare logits."""
    import random
    import torch
    from mmtrain import data, render_audio, render_image, world
    from mmtrain.export import load_gguf_weights
    from mmtrain.model import assemble, load_ckpt
    m, _ = load_ckpt(ckpt)
    load_gguf_weights(m, ref.r)
    render_image.IMAGE_SIZE = m.c.image_size
    tok = data.Tok(ref.path)
    rng = random.Random("check")
    objs, img = render_image.sample_image_example(rng)
    pix = render_image.preprocess(img)
    pre = tok.pre()
    post = tok.post(data.CAPTION_PROMPT)
    with torch.no_grad():
        rows_t = m.image_rows(torch.from_numpy(pix)[None])[0]
        emb, _, _, _ = assemble(m, [pre], [rows_t], [post], [[50256]])
        lt = m.logits(m.decode_hidden(emb))[0].numpy()
    ln = ref.prompt_logits(pre, ref.image_rows(pix.astype(np.float64)), post)
    e1 = np.abs(lt - ln).max()
    world.sample_sound(rng)  # (keeps the draws of the sound below as they were)
    pcm = render_audio.render_sound({"kind": "beeps", "n": 3}, rng, None)
    mel = render_audio.log_mel(pcm)
    post = tok.post(data.DESCRIBE_PROMPT)
    with torch.no_grad():
        rows_t, nr = m.audio_rows(torch.from_numpy(mel)[None], [mel.shape[1]])
        rows_t = rows_t[0, :int(nr[0])]
        emb, _, _, _ = assemble(m, [pre], [rows_t], [post], [[50256]])
        lt = m.logits(m.decode_hidden(emb))[0].numpy()
    ln = ref.prompt_logits(pre, ref.audio_rows(mel), post)
    e2 = np.abs(lt - ln).max()
    scale = max(np.abs(ln).max(), 1.0)
    print("check-ckpt: max |torch - numpy(gguf)| logits: image %.3g, audio %.3g (logit scale %.3g)" % (e1, e2, scale))
    return max(e1, e2) <= 1e-3 * scale


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--image")
    ap.add_argument("--pixels", help=".npy [3,S,S] preprocessed pixels")
    ap.add_argument("--audio")
    ap.add_argument("--pcm", help=".npy 16 kHz float samples")
    ap.add_argument("--question")
    ap.add_argument("--save-logits")
    ap.add_argument("--check-ckpt")
    a = ap.parse_args()
    ref = Ref(a.model)
    if a.check_ckpt:
        sys.exit(0 if check_ckpt(ref, a.check_ckpt) else 1)
    from mmtrain import data
    tok = data.Tok(a.model)  # the file's own vocabulary
    if a.image or a.pixels:
        if a.pixels:
            pix = np.load(a.pixels)
        else:
            from PIL import Image
            from mmtrain import render_image
            render_image.IMAGE_SIZE = ref.kv["clip.vision.image_size"]
            pix = render_image.preprocess(Image.open(a.image))
        rows = ref.image_rows(pix.astype(np.float64))
        prompt = a.question or data.CAPTION_PROMPT
    elif a.audio or a.pcm:
        from mmtrain import render_audio
        pcm = np.load(a.pcm) if a.pcm else load_pcm_16k(a.audio)
        rows = ref.audio_rows(render_audio.log_mel(pcm))
        prompt = a.question or data.DESCRIBE_PROMPT
    else:
        sys.exit("gguf_ref.py: give --image/--pixels or --audio/--pcm")
    pre, post = tok.pre(), tok.post(prompt)
    lg = ref.prompt_logits(pre, rows, post)
    if a.save_logits:
        np.save(a.save_logits, lg[-1].astype(np.float32))
    print(tok.bpe.decode(ref.greedy(pre, rows, post)).strip())


if __name__ == "__main__":
    main()
