#!/usr/bin/python3
"""make_random_mm.py - build a random-weight combined mmgpt model (GGUF): GPT-2 decoder + ViT image
encoder + Whisper-style audio encoder + projectors + GPT-2 tokenizer keys, small shapes.

Used by the fusion and apps tests before a trained model exists. Everything the engine reads is here,
with the names and keys of docs (HELPERS / include/mm_fusion.h). Weights are drawn from a seeded numpy
generator, so the same arguments give the same file.

    /usr/bin/python3 tools/make_random_mm.py -o model.gguf [--vocab tests/data/gpt2_bpe | --vocab bytes]
        [--projector linear|mlp] [--no-vision] [--no-audio] [--mmproj-out mmproj.gguf] ...

With --mmproj-out the decoder + tokenizer go to -o (a plain text model) and the encoders + projectors
to the separate mmproj file (general.architecture = "clip"), the layout llama.cpp users have.
"""
import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import mmgguf  # noqa: E402
import gguf_model  # noqa: E402


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable unicode character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def add_tokenizer(w, vocab_dir):
    """tokenizer.ggml.* from OpenAI's encoder.json + vocab.bpe (gguf_model.add_bpe_vocab)."""
    with open(os.path.join(vocab_dir, "encoder.json"), encoding="utf-8") as f:
        enc = json.load(f)
    try:
        tokens = gguf_model.vocab_tokens(enc)
    except ValueError:
        raise SystemExit("encoder.json ids are not 0..n-1")
    with open(os.path.join(vocab_dir, "vocab.bpe"), encoding="utf-8") as f:
        lines = f.read().split("\n")
    merges = [ln for ln in lines[1:] if ln]
    return gguf_model.add_bpe_vocab(w, tokens, merges, enc.get("<|endoftext|>", len(tokens) - 1), pre=None)


def byte_level_vocab():
    """--vocab bytes: 256 byte tokens + <|endoftext|>, no merges."""
    b2u = bytes_to_unicode()
    tokens = [b2u[b] for b in range(256)] + ["<|endoftext|>"]
    return tokens


class Gen:
    def __init__(self, seed, std):
        self.rng = np.random.default_rng(seed)
        self.std = std

    def w(self, *shape, std=None):
        return (self.rng.standard_normal(shape) * (self.std if std is None else std)).astype(np.float32)

    def ln(self, d):
        return (1.0 + self.w(d, std=0.1)), self.w(d, std=0.1)


def add_linear(w, g, name, n_out, n_in, ttype, std=None, bias=True):
    w.add_tensor(name + ".weight", g.w(n_out, n_in, std=std), ttype)
    if bias:
        w.add_tensor(name + ".bias", g.w(n_out, std=0.05))


def add_ln(w, g, name, d):
    a, b = g.ln(d)
    w.add_tensor(name + ".weight", a)
    w.add_tensor(name + ".bias", b)


def add_blocks(w, g, prefix, n_layer, d, d_ff, ttype):
    for i in range(n_layer):
        p = "%s.blk.%d." % (prefix, i)
        add_ln(w, g, p + "ln1", d)
        for nm in ("attn_q", "attn_k", "attn_v", "attn_out"):
            add_linear(w, g, p + nm, d, d, ttype)
        add_ln(w, g, p + "ln2", d)
        add_linear(w, g, p + "ffn_up", d_ff, d, ttype)
        add_linear(w, g, p + "ffn_down", d, d_ff, ttype)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--mmproj-out", help="write encoders + projectors to this separate file")
    ap.add_argument("--vocab", default=os.path.join(HERE, "..", "tests", "data", "gpt2_bpe"),
                    help="folder with encoder.json + vocab.bpe (default tests/data/gpt2_bpe), or 'bytes' for a "
                         "byte-level vocabulary (256 byte tokens + <|endoftext|>, no merges)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--type", default="f32", help="matrix type: f32 f16 q8_0 q4_0")
    ap.add_argument("--std", type=float, default=0.2, help="weight scale")
    # decoder
    ap.add_argument("--d-model", type=int, default=64)
    ap.add_argument("--n-layer", type=int, default=2)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--n-ctx", type=int, default=256)
    ap.add_argument("--untied", action="store_true", help="write output.weight")
    # vision
    ap.add_argument("--no-vision", action="store_true")
    ap.add_argument("--projector", default="mlp", choices=["linear", "mlp", "idefics3"])
    ap.add_argument("--scale-factor", type=int, default=1,
                    help="clip.vision.projector.scale_factor: pixel-shuffle s x s patches into one row")
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--patch-size", type=int, default=8)
    ap.add_argument("--v-d", type=int, default=32)
    ap.add_argument("--v-layers", type=int, default=2)
    ap.add_argument("--v-heads", type=int, default=2)
    ap.add_argument("--no-cls", action="store_true")
    ap.add_argument("--use-gelu", action="store_true", help="clip.use_gelu = true (else quick-GELU)")
    ap.add_argument("--resize-mode", default="squash", choices=["squash", "pad", "crop"])
    ap.add_argument("--feature-layer", type=int, default=-1)
    # audio
    ap.add_argument("--no-audio", action="store_true")
    ap.add_argument("--n-mels", type=int, default=80)
    ap.add_argument("--a-d", type=int, default=32)
    ap.add_argument("--a-layers", type=int, default=2)
    ap.add_argument("--a-heads", type=int, default=2)
    ap.add_argument("--max-frames", type=int, default=400, help="encoder window in mel frames (even)")
    ap.add_argument("--pad-to-window", action="store_true")
    ap.add_argument("--stack", type=int, default=4, help="clip.audio.projector.stack_factor")
    # prompt template overrides (key=value, value with \\n escapes)
    ap.add_argument("--prompt-key", action="append", default=[],
                    help="NAME=VALUE sets mmgpt.prompt.NAME (\\n in VALUE is a newline)")
    # deliberate mistakes, for error tests
    ap.add_argument("--proj-out", type=int, default=0, help="projector output width (default d_model)")
    a = ap.parse_args()

    g = Gen(a.seed, a.std)
    d, L, H, C, T = a.d_model, a.n_layer, a.n_head, a.n_ctx, a.type
    if d % H:
        raise SystemExit("d_model must be a multiple of n_head")
    proj_out = a.proj_out or d

    main_w = mmgguf.GGUFWriter()
    main_w.add_str("general.architecture", "gpt2")
    main_w.add_str("general.name", "mmgpt-random")
    if a.vocab != "bytes":
        if not os.path.isfile(os.path.join(a.vocab, "encoder.json")):
            raise SystemExit("make_random_mm.py: --vocab %s: no encoder.json there (give the GPT-2 vocabulary "
                             "folder, e.g. tests/data/gpt2_bpe, or 'bytes')" % a.vocab)
        n_vocab = add_tokenizer(main_w, a.vocab)
    else:
        tokens = byte_level_vocab()
        n_vocab = len(tokens)
        main_w.add_str("tokenizer.ggml.model", "gpt2")
        main_w.add_arr("tokenizer.ggml.tokens", "str", tokens)
        main_w.add_arr("tokenizer.ggml.merges", "str", [])
        main_w.add_arr("tokenizer.ggml.token_type", "i32", [1] * 256 + [3])
        main_w.add_u32("tokenizer.ggml.bos_token_id", 256)
        main_w.add_u32("tokenizer.ggml.eos_token_id", 256)
        main_w.add_bool("tokenizer.ggml.add_bos_token", False)
    main_w.add_u32("gpt2.context_length", C)
    main_w.add_u32("gpt2.embedding_length", d)
    main_w.add_u32("gpt2.feed_forward_length", 4 * d)
    main_w.add_u32("gpt2.block_count", L)
    main_w.add_u32("gpt2.attention.head_count", H)
    main_w.add_f32("gpt2.attention.layer_norm_epsilon", 1e-5)
    for kv in a.prompt_key:
        k, _, v = kv.partition("=")
        main_w.add_str("mmgpt.prompt." + k, v.replace("\\n", "\n"))

    # decoder tensors (token embedding: rows small so logits stay in a sane range)
    main_w.add_tensor("token_embd.weight", g.w(n_vocab, d, std=0.1), T if T != "q4_0" else "q8_0")
    main_w.add_tensor("position_embd.weight", g.w(C, d, std=0.1))
    for i in range(L):
        p = "blk.%d." % i
        add_ln(main_w, g, p + "attn_norm", d)
        add_linear(main_w, g, p + "attn_qkv", 3 * d, d, T)
        add_linear(main_w, g, p + "attn_output", d, d, T)
        add_ln(main_w, g, p + "ffn_norm", d)
        add_linear(main_w, g, p + "ffn_up", 4 * d, d, T)
        add_linear(main_w, g, p + "ffn_down", d, 4 * d, T)
    add_ln(main_w, g, "output_norm", d)
    if a.untied:
        main_w.add_tensor("output.weight", g.w(n_vocab, d, std=0.1), T)

    # encoders: into the same file, or into the mmproj
    if a.mmproj_out:
        w = mmgguf.GGUFWriter()
        w.add_str("general.architecture", "clip")
        w.add_str("general.name", "mmgpt-random-mmproj")
    else:
        w = main_w
    if not a.no_vision:
        S, P, dv = a.image_size, a.patch_size, a.v_d
        if S % P:
            raise SystemExit("image size must be a multiple of the patch size")
        n_pos = (S // P) ** 2 + (0 if a.no_cls else 1)
        w.add_bool("clip.has_vision_encoder", True)
        w.add_str("clip.projector_type", a.projector)
        sf = a.scale_factor
        if sf > 1:
            if (S // P) % sf:
                raise SystemExit("--scale-factor must divide the patch grid")
            w.add_u32("clip.vision.projector.scale_factor", sf)
        w.add_bool("clip.use_gelu", a.use_gelu)
        w.add_u32("clip.vision.image_size", S)
        w.add_u32("clip.vision.patch_size", P)
        w.add_u32("clip.vision.embedding_length", dv)
        w.add_u32("clip.vision.feed_forward_length", 4 * dv)
        w.add_u32("clip.vision.block_count", a.v_layers)
        w.add_u32("clip.vision.attention.head_count", a.v_heads)
        w.add_f32("clip.vision.attention.layer_norm_epsilon", 1e-5)
        w.add_arr("clip.vision.image_mean", "f32", [0.48145466, 0.4578275, 0.40821073])
        w.add_arr("clip.vision.image_std", "f32", [0.26862954, 0.26130258, 0.27577711])
        w.add_u32("clip.vision.projection_dim", proj_out)
        w.add_str("mmgpt.vision.resize_mode", a.resize_mode)
        w.add_i32("mmgpt.vision.feature_layer", a.feature_layer)
        w.add_tensor("v.patch_embd.weight", g.w(dv, 3, P, P, std=0.1))
        w.add_tensor("v.patch_embd.bias", g.w(dv, std=0.05))
        if not a.no_cls:
            w.add_tensor("v.class_embd", g.w(dv, std=0.5))
        w.add_tensor("v.position_embd.weight", g.w(n_pos, dv, std=0.2))
        add_ln(w, g, "v.pre_ln", dv)
        add_blocks(w, g, "v", a.v_layers, dv, 4 * dv, T)
        add_ln(w, g, "v.post_ln", dv)
        if a.projector == "linear":
            add_linear(w, g, "mm.0", proj_out, dv * sf * sf, T)
        elif a.projector == "idefics3":  # llama.cpp / Idefics3: one bias-free matrix after the shuffle
            add_linear(w, g, "mm.model.fc", proj_out, dv * sf * sf, T, bias=False)
        else:
            add_linear(w, g, "mm.0", 2 * d, dv * sf * sf, T)
            add_linear(w, g, "mm.2", proj_out, 2 * d, T)
    if not a.no_audio:
        da, k = a.a_d, a.stack
        if a.max_frames % 2:
            raise SystemExit("--max-frames must be even")
        n_pos = a.max_frames // 2
        w.add_bool("clip.has_audio_encoder", True)
        w.add_u32("clip.audio.num_mel_bins", a.n_mels)
        w.add_u32("clip.audio.embedding_length", da)
        w.add_u32("clip.audio.feed_forward_length", 4 * da)
        w.add_u32("clip.audio.block_count", a.a_layers)
        w.add_u32("clip.audio.attention.head_count", a.a_heads)
        w.add_f32("clip.audio.attention.layer_norm_epsilon", 1e-5)
        w.add_u32("clip.audio.projection_dim", proj_out)
        w.add_u32("clip.audio.projector.stack_factor", k)
        w.add_u32("mmgpt.audio.max_frames", a.max_frames)
        w.add_bool("mmgpt.audio.pad_to_window", a.pad_to_window)
        w.add_tensor("a.conv1d.1.weight", g.w(da, a.n_mels, 3, std=0.1))
        w.add_tensor("a.conv1d.1.bias", g.w(da, std=0.05))
        w.add_tensor("a.conv1d.2.weight", g.w(da, da, 3, std=0.1))
        w.add_tensor("a.conv1d.2.bias", g.w(da, std=0.05))
        w.add_tensor("a.position_embd.weight", g.w(n_pos, da, std=0.2))
        add_blocks(w, g, "a", a.a_layers, da, 4 * da, T)
        add_ln(w, g, "a.post_ln", da)
        add_linear(w, g, "mm.a.mlp.1", d, k * da, T)
        add_linear(w, g, "mm.a.mlp.2", proj_out, d, T)

    main_w.write(a.output)
    if a.mmproj_out:
        w.write(a.mmproj_out)
    print(a.output if not a.mmproj_out else "%s %s" % (a.output, a.mmproj_out))


if __name__ == "__main__":
    main()
