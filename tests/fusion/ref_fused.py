"""ref_fused.py - independent reference of mmgpt's whole fused sequence (importable by other tests).

Written from the rules in include/mm_fusion.h / include/mmgpt.h and the shared brief, not from the C
code. Pieces:
  load(path, mmproj=None)         decoder (tests/transformer/ref_gpt2.py), tokenizer vocabulary and the
                                  encoder/projector tensors + keys (tools/mmgguf.py) of a model file
  vit(m, pixels)                  ViT in float64 PyTorch: conv patches [+ CLS] + positions, pre_ln,
                                  pre-LN blocks (GELU if clip.use_gelu - the tanh form for idefics3 - else quick-GELU), post_ln
                                  when every block runs; feature_layer as Hugging Face hidden_states[k]
  audio(m, mel)                   tests/audio/ref_audio.py encode_mel (Whisper-style encoder, windows)
  project_image / project_audio   drop CLS; linear mm.0 or mm.0 -> GELU(erf) -> mm.2; audio: stack k
                                  frames (zero-padded) -> mm.a.mlp.1 -> GELU(erf) -> mm.a.mlp.2
  bpe(m, text)                    GPT-2 byte-level BPE restated for ASCII text (pattern with ASCII
                                  classes, which is exact for ASCII), vocabulary from the file's keys
  turn(m, text, media, raw, system)  the positions of one turn (ids and embedding rows)
  logits(m, inputs)               ref_gpt2.forward
  greedy(m, inputs, n)            greedy tokens (stops at <|endoftext|>), whole sequence rerun each step

The C program's preprocessed pixels (`mmgpt encode-image --preprocessed`) and log-mel (`mmgpt mel`) are
the inputs of the encoders here: image decoding/resampling and the mel have their own tests.
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("MMGPT_SOURCE_DIR", os.path.join(HERE, "..", ".."))
for p in (os.path.join(ROOT, "tools"), os.path.join(ROOT, "tests", "transformer"), os.path.join(ROOT, "tests", "audio"),
          os.path.join(ROOT, "tests", "tokenizer")):
    sys.path.insert(0, p)
import mmgguf  # noqa: E402
import ref_gpt2  # noqa: E402
import ref_gpt2_bpe  # noqa: E402  (the tokenizer tests' independent GPT-2 BPE)

MARKER = "<__media__>"
TEMPLATE_DEFAULTS = {
    "system_prefix": "System: ", "system_suffix": "\n", "user_prefix": "User: ", "user_suffix": "\n",
    "assistant_prefix": "Assistant:", "caption": "<__media__>\nDescribe this image.",
    "describe": "<__media__>\nDescribe this sound.", "ask": "<__media__>\n{question}", "default_system": "",
    "image_begin": "", "image_end": "", "audio_begin": "", "audio_end": "",
}


class Model:
    pass


def load(path, mmproj=None):
    m = Model()
    r = mmgguf.GGUFReader(path)
    m.gpt = ref_gpt2.load_gguf(path)
    m.kv = dict(r.kv)
    toks = r.kv["tokenizer.ggml.tokens"]
    m.tokens = toks
    m.enc = ref_gpt2_bpe.Encoder({t: i for i, t in enumerate(toks)},
                                 [tuple(s.split(" ")) for s in r.kv.get("tokenizer.ggml.merges", [])])
    m.eos = int(r.kv.get("tokenizer.ggml.eos_token_id", len(toks) - 1))
    m.tpl = dict(TEMPLATE_DEFAULTS)
    for k in TEMPLATE_DEFAULTS:
        if "mmgpt.prompt." + k in r.kv:
            m.tpl[k] = r.kv["mmgpt.prompt." + k]
    e = mmgguf.GGUFReader(mmproj) if mmproj else r
    m.ekv = e.kv
    m.t = {n: torch.from_numpy(e.tensor_f32(n).astype(np.float64)) for n in e.tensors
           if n.startswith(("v.", "a.", "mm."))}
    m.d_model = m.gpt["d"]
    return m


# ---------------------------------------------------------------- encoders
def _ln(m, x, name, eps):
    return F.layer_norm(x, (x.shape[-1],), m.t[name + ".weight"], m.t[name + ".bias"], eps)


def _lin(m, x, name):
    return F.linear(x, m.t[name + ".weight"], m.t.get(name + ".bias"))


def vit(m, pixels):
    """pixels [3, S, S] -> encoder output [n_tokens, d] (CLS first when present), float64: the image
    engineer's tests/image/ref_vit.py when it is there, else vit_own (the test checks both agree)."""
    try:
        sys.path.insert(0, os.path.join(ROOT, "tests", "image"))
        import ref_vit
    except ImportError:
        return vit_own(m, pixels)
    kv = m.ekv
    cfg = ref_vit.Config(image_size=int(kv["clip.vision.image_size"]), patch_size=int(kv["clip.vision.patch_size"]),
                         d=int(kv["clip.vision.embedding_length"]), d_ff=int(kv["clip.vision.feed_forward_length"]),
                         n_head=int(kv["clip.vision.attention.head_count"]), n_layer=int(kv["clip.vision.block_count"]),
                         eps=float(kv.get("clip.vision.attention.layer_norm_epsilon", 1e-5)),
                         cls="v.class_embd" in m.t, pre_ln="v.pre_ln.weight" in m.t, post_ln="v.post_ln.weight" in m.t,
                         gelu=bool(kv.get("clip.use_gelu", False)),
                         gelu_tanh=kv.get("mmgpt.vision.gelu", "tanh" if kv.get("clip.projector_type") == "idefics3"
                                          else "erf") == "tanh",
                         feature_layer=int(kv.get("mmgpt.vision.feature_layer", -1)),
                         patch_bias="v.patch_embd.bias" in m.t)
    W = {n: v.numpy() for n, v in m.t.items() if n.startswith("v.")}
    return ref_vit.forward(cfg, W, pixels)


def vit_own(m, pixels):
    """The same ViT restated here (float64 PyTorch)."""
    kv, t = m.ekv, m.t
    P = int(kv["clip.vision.patch_size"])
    H = int(kv["clip.vision.attention.head_count"])
    L = int(kv["clip.vision.block_count"])
    eps = float(kv.get("clip.vision.attention.layer_norm_epsilon", 1e-5))
    form = kv.get("mmgpt.vision.gelu", "tanh" if kv.get("clip.projector_type") == "idefics3" else "none")
    form = "none" if form == "erf" else form
    act = (lambda x: F.gelu(x, approximate=form)) if kv.get("clip.use_gelu", False) else \
        (lambda x: x * torch.sigmoid(1.702 * x))
    x = torch.from_numpy(np.asarray(pixels, dtype=np.float64))[None]
    x = F.conv2d(x, t["v.patch_embd.weight"], t.get("v.patch_embd.bias"), stride=P)  # [1, d, g, g]
    x = x[0].flatten(1).t()  # [g*g, d], patches row-major
    if "v.class_embd" in t:
        x = torch.cat([t["v.class_embd"][None], x], 0)
    x = x + t["v.position_embd.weight"][: x.shape[0]]
    if "v.pre_ln.weight" in t:
        x = _ln(m, x, "v.pre_ln", eps)
    k = int(kv.get("mmgpt.vision.feature_layer", -1))
    n_run = k if k >= 0 else L + 1 + k
    n, d = x.shape
    dh = d // H
    for i in range(n_run):
        p = "v.blk.%d." % i
        h = _ln(m, x, p + "ln1", eps)
        q = _lin(m, h, p + "attn_q").view(n, H, dh).transpose(0, 1)
        kk = _lin(m, h, p + "attn_k").view(n, H, dh).transpose(0, 1)
        v = _lin(m, h, p + "attn_v").view(n, H, dh).transpose(0, 1)
        a = torch.softmax(q @ kk.transpose(1, 2) / np.sqrt(dh), -1) @ v
        x = x + _lin(m, a.transpose(0, 1).reshape(n, d), p + "attn_out")
        x = x + _lin(m, act(_lin(m, _ln(m, x, p + "ln2", eps), p + "ffn_up")), p + "ffn_down")
    if n_run == L and "v.post_ln.weight" in t:
        x = _ln(m, x, "v.post_ln", eps)
    return x.numpy()


def audio(m, mel):
    """log-mel [n_mels, F] -> encoder output [n, d] (ref_audio, float32 PyTorch)."""
    import ref_audio
    kv = m.ekv
    hp = {"n_mels": int(kv["clip.audio.num_mel_bins"]), "d": int(kv["clip.audio.embedding_length"]),
          "d_ff": int(kv["clip.audio.feed_forward_length"]), "n_layer": int(kv["clip.audio.block_count"]),
          "n_head": int(kv["clip.audio.attention.head_count"]),
          "eps": float(kv.get("clip.audio.attention.layer_norm_epsilon", 1e-5)),
          "max_frames": int(kv.get("mmgpt.audio.max_frames", 3000)),
          "pad_to_window": bool(kv.get("mmgpt.audio.pad_to_window", True))}
    w = {n: v.numpy().astype(np.float32) for n, v in m.t.items() if n.startswith("a.")}
    return ref_audio.encode_mel(hp, w, np.asarray(mel, np.float32)).astype(np.float64)


# ---------------------------------------------------------------- projectors
def project_image(m, feats):
    x = torch.from_numpy(np.asarray(feats, np.float64))
    if "v.class_embd" in m.t:
        x = x[1:]
    sf = int(m.ekv.get("clip.vision.projector.scale_factor", 1))
    if sf > 1:  # pixel shuffle, written as Idefics3's view/permute chain on the [g, g, d] grid
        g = int(m.ekv["clip.vision.image_size"]) // int(m.ekv["clip.vision.patch_size"])
        d = x.shape[1]
        x = x.view(g, g, d).view(g, g // sf, d * sf).permute(1, 0, 2)
        x = x.reshape(g // sf, g // sf, d * sf * sf).permute(1, 0, 2).reshape(-1, d * sf * sf)
    if m.ekv.get("clip.projector_type") == "idefics3":
        return _lin(m, x, "mm.model.fc").numpy()
    if "mm.2.weight" in m.t and m.ekv.get("clip.projector_type", "mlp") == "mlp":
        return _lin(m, F.gelu(_lin(m, x, "mm.0")), "mm.2").numpy()
    return _lin(m, x, "mm.0").numpy()


def project_audio(m, feats):
    k = int(m.ekv.get("clip.audio.projector.stack_factor", 1))
    x = np.asarray(feats, np.float64)
    n, d = x.shape
    rows = -(-n // k)
    st = np.zeros((rows * k, d))
    st[:n] = x
    st = torch.from_numpy(st.reshape(rows, k * d))
    return _lin(m, F.gelu(_lin(m, st, "mm.a.mlp.1")), "mm.a.mlp.2").numpy()


# ---------------------------------------------------------------- text
def bpe(m, text):
    """GPT-2 BPE ids of plain text (special-token text stays ordinary text, as the engine does)."""
    return m.enc.encode(text.encode("utf-8"))


def detok(m, ids):
    return b"".join(bytes(m.enc.u2b[c] for c in m.tokens[i]) if i != m.eos else b"<|endoftext|>" for i in ids)


# ---------------------------------------------------------------- assembly
def turn(m, text, media, raw=True, system=None, kinds=None):
    """Inputs of one turn: text with <__media__> markers, media = list of [n_rows, d_model] arrays
    (kinds: "image"/"audio" per media, for the begin/end wrappers)."""
    kinds = kinds or ["image"] * len(media)
    n_mark = text.count(MARKER)
    if n_mark and n_mark != len(media):
        raise ValueError("marker/media count mismatch")
    if not n_mark:
        text = (MARKER + "\n") * len(media) + text
    t = m.tpl
    if not raw:
        sysp = system if system is not None else t["default_system"]
        pre = (t["system_prefix"] + sysp + t["system_suffix"]) if sysp else ""
        text = pre + t["user_prefix"] + text + t["user_suffix"] + t["assistant_prefix"]
    pieces = text.split(MARKER)
    out = []
    for i, piece in enumerate(pieces):
        if i > 0:
            kind = kinds[i - 1]
            piece = t[kind + "_end"] + piece
        if i < len(pieces) - 1:
            piece = piece + t[kinds[i] + "_begin"]
        out += bpe(m, piece)
        if i < len(pieces) - 1:
            out += [row for row in np.asarray(media[i])]
    return out


def logits(m, inputs):
    return ref_gpt2.forward(m.gpt, inputs)


def greedy(m, inputs, n):
    seq = list(inputs)
    toks = []
    for _ in range(n):
        t = int(np.argmax(ref_gpt2.forward(m.gpt, seq)[-1]))
        if t == m.eos:
            break
        toks.append(t)
        seq.append(t)
    return toks
