#!/usr/bin/python3
"""app_nonfinite: NaN / Inf in the model's weights is a model error (exit 4, one line naming where), never
text printed with exit 0 (before: `caption` printed "!!!!" and exited 0).

Copies of the bundled model (assets/models/mmgpt-demo.gguf, Q8_0) with one weight made bad, the byte
offsets taken from tools/mmgguf.py's reader (independent of the C reader):
  * load time (small tensors are read at load: 1-D, or at most MM_GGUF_CHECK_BYTES = 1 MiB, and the
    position embeddings): the message names the tensor, the element and nan / inf / -inf;
  * evaluation time (big matrices stay unread at load): a NaN block scale in token_embd.weight (the tied
    unembedding, 13.7 MB) -> "decoder logits at position P are not finite"; in mm.0.weight (the image
    projector, 1.25 MB) -> "the image projector's output row R is not finite";
  * overflow from finite weights (a norm scaled to 3e38) -> "image encoder output row R" / "audio encoder
    output row R is not finite".
Every case: exit 4, stdout empty, exactly one "mmgpt: " line on stderr containing the expected fragments.
"""
import os
import struct
import sys

from apptest import SRC, check, finish, need_bin, run, tmpdir

sys.path.insert(0, os.path.join(SRC, "tools"))
import mmgguf  # noqa: E402

MODEL = os.path.join(SRC, "assets", "models", "mmgpt-demo.gguf")
IMG = os.path.join(SRC, "assets", "examples", "shapes1.png")
WAV = os.path.join(SRC, "assets", "examples", "beeps.wav")
F16_NAN, F16_INF = struct.pack("<H", 0x7E00), struct.pack("<H", 0x7C00)
F32 = {"nan": struct.pack("<f", float("nan")), "inf": struct.pack("<f", float("inf")),
       "-inf": struct.pack("<f", float("-inf"))}


def main():
    need_bin()
    if not os.path.exists(MODEL):
        print("bundled model missing: %s" % MODEL)
        return 1
    d = tmpdir("app_nonfinite")
    with open(MODEL, "rb") as f:
        base = f.read()
    r = mmgguf.GGUFReader(data=base)

    def where(name):
        return r.data_start + r.tensor_offsets[name]

    def f32_at(name, i, v):        # one F32 element
        assert r.tensors[name][0] == "f32"
        return [(where(name) + 4 * i, v)]

    def f32_all(name, value):      # every element of an F32 tensor
        ttype, ne, raw = r.tensors[name]
        assert ttype == "f32"
        return [(where(name), struct.pack("<f", value) * (len(raw) // 4))]

    def q8_scale(name, block, v):  # the f16 scale d of one Q8_0 block (34 bytes: d, then 32 int8)
        assert r.tensors[name][0] == "q8_0"
        return [(where(name) + 34 * block, v)]

    cases = [
        # (label, patches, command, fragments)
        ("NaN in blk.1.ffn_norm.weight (load)", f32_at("blk.1.ffn_norm.weight", 5, F32["nan"]), ["caption", IMG],
         ["blk.1.ffn_norm.weight", "non-finite value (nan) at element 5"]),
        ("Inf block scale in blk.0.attn_qkv.weight (load)", q8_scale("blk.0.attn_qkv.weight", 7, F16_INF),
         ["caption", IMG], ["blk.0.attn_qkv.weight", "(inf) at element 224"]),
        ("-Inf in position_embd.weight (load)", f32_at("position_embd.weight", 1000, F32["-inf"]), ["caption", IMG],
         ["position_embd.weight", "(-inf) at element 1000"]),
        ("NaN in a.position_embd.weight (load)", f32_at("a.position_embd.weight", 10, F32["nan"]), ["describe", WAV],
         ["a.position_embd.weight", "(nan) at element 10"]),
        ("Inf in v.blk.0.ln1.bias (load)", f32_at("v.blk.0.ln1.bias", 3, F32["inf"]), ["caption", IMG],
         ["v.blk.0.ln1.bias", "(inf) at element 3"]),
        ("NaN block scale in token_embd.weight: caption", q8_scale("token_embd.weight", 0, F16_NAN), ["caption", IMG],
         ["decoder logits at position", "not finite"]),
        ("NaN block scale in token_embd.weight: generate (text only)", q8_scale("token_embd.weight", 0, F16_NAN),
         ["generate", "-p", "a red circle", "-n", "4"], ["decoder logits at position", "not finite"]),
        ("NaN block scale in token_embd.weight: logits", q8_scale("token_embd.weight", 0, F16_NAN),
         ["logits", "-p", "a red circle", "-o", os.path.join(d, "l.npy")], ["decoder logits at position 0", "not finite"]),
        ("NaN block scale in mm.0.weight: caption", q8_scale("mm.0.weight", 3, F16_NAN), ["caption", IMG],
         ["image projector's output row", "not finite"]),
        ("overflow in the image encoder (v.blk.2.ln2.weight = 3e38): caption", f32_all("v.blk.2.ln2.weight", 3e38),
         ["caption", IMG], ["image encoder output row", "not finite", "v.*"]),
        ("overflow in the image encoder: encode-image", f32_all("v.blk.2.ln2.weight", 3e38),
         ["encode-image", IMG, "-o", os.path.join(d, "e.npy")], ["image encoder output row", "not finite"]),
        ("overflow in the audio encoder (a.post_ln.weight = 3e38): describe", f32_all("a.post_ln.weight", 3e38),
         ["describe", WAV], ["audio encoder output row", "not finite", "a.*"]),
        ("overflow in the audio encoder: encode-audio", f32_all("a.post_ln.weight", 3e38),
         ["encode-audio", WAV, "-o", os.path.join(d, "e.npy")], ["audio encoder output row", "not finite"]),
    ]
    bad = os.path.join(d, "bad.gguf")
    for label, patches, cmd, frags in cases:
        b = bytearray(base)
        for off, v in patches:
            b[off:off + len(v)] = v
        with open(bad, "wb") as f:
            f.write(b)
        rc, out, err = run([cmd[0], "-m", bad] + cmd[1:])
        lines = [ln for ln in err.split("\n") if ln.startswith("mmgpt: ")]
        ok = rc == 4 and out == "" and len(lines) == 1 and all(f in lines[0] for f in frags)
        check("%s -> exit 4" % label, ok, "exit %d, stdout %r, stderr %r (want %r)" % (rc, out[:200], err[-400:], frags))
        if ok:
            print("     " + lines[0])
    # the unmodified model still works (the checks pass on good weights)
    rc, out, err = run(["caption", "-m", MODEL, IMG])
    check("bundled model: caption works", rc == 0 and out.strip() != "", "exit %d %r" % (rc, err))
    os.remove(bad)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
