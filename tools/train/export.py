#!/usr/bin/python3
"""Export a training checkpoint to one combined mmgpt GGUF (decoder + vision + audio + projectors +
GPT-2 tokenizer + prompt template), written with tools/mmgguf.py.

  /usr/bin/python3 tools/train/export.py /work/ckpt/mmgpt-demo/last.pt -o assets/models/mmgpt-demo.gguf
  options: --qtype q8_0|f16|f32 (big matrices; default q8_0), --bpe DIR (GPT-2 vocab folder)

Big 2-D matrices whose rows are a multiple of 32 are stored as --qtype; norms, biases, positions and
the conv kernels stay F32. No output.weight: the unembedding is tied to token_embd.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))

import numpy as np  # noqa: E402

import mmgguf  # noqa: E402
import gen_image  # noqa: E402
from bpe import BPE, EOT_ID  # noqa: E402
from model import load_ckpt  # noqa: E402
import data  # noqa: E402


def tensor_map(model, sources=None):
    """GGUF tensor name -> numpy array (numpy shape = reversed ne) for every tensor of the file.
    sources (a dict), when given, receives GGUF name -> state_dict key (None: computed, not a parameter)."""
    c = model.c
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    t = {}
    t["token_embd.weight"] = model.full_wte().float().numpy()
    t["position_embd.weight"] = sd["wpe.weight"]
    for i in range(c.n_layer):
        p = "blocks.%d." % i
        g = "blk.%d." % i
        t[g + "attn_norm.weight"] = sd[p + "ln1.weight"]
        t[g + "attn_norm.bias"] = sd[p + "ln1.bias"]
        t[g + "attn_qkv.weight"] = sd[p + "qkv.weight"]
        t[g + "attn_qkv.bias"] = sd[p + "qkv.bias"]
        t[g + "attn_output.weight"] = sd[p + "o.weight"]
        t[g + "attn_output.bias"] = sd[p + "o.bias"]
        t[g + "ffn_norm.weight"] = sd[p + "ln2.weight"]
        t[g + "ffn_norm.bias"] = sd[p + "ln2.bias"]
        t[g + "ffn_up.weight"] = sd[p + "up.weight"]
        t[g + "ffn_up.bias"] = sd[p + "up.bias"]
        t[g + "ffn_down.weight"] = sd[p + "down.weight"]
        t[g + "ffn_down.bias"] = sd[p + "down.bias"]
    t["output_norm.weight"] = sd["ln_f.weight"]
    t["output_norm.bias"] = sd["ln_f.bias"]

    def enc_blocks(prefix_t, prefix_g, n):
        for i in range(n):
            p = "%s.blocks.%d." % (prefix_t, i)
            g = "%s.blk.%d." % (prefix_g, i)
            for a, b in [("ln1", "ln1"), ("q", "attn_q"), ("k", "attn_k"), ("v", "attn_v"), ("o", "attn_out"),
                         ("ln2", "ln2"), ("up", "ffn_up"), ("down", "ffn_down")]:
                t[g + b + ".weight"] = sd[p + a + ".weight"]
                t[g + b + ".bias"] = sd[p + a + ".bias"]

    t["v.patch_embd.weight"] = sd["vision.patch.weight"]  # (d, 3, p, p) = ne [p, p, 3, d]
    t["v.patch_embd.bias"] = sd["vision.patch.bias"]
    t["v.position_embd.weight"] = sd["vision.pos"]
    enc_blocks("vision", "v", c.v_layer)
    t["mm.0.weight"] = sd["mm0.weight"]
    t["mm.0.bias"] = sd["mm0.bias"]
    t["mm.2.weight"] = sd["mm2.weight"]
    t["mm.2.bias"] = sd["mm2.bias"]

    t["a.conv1d.1.weight"] = sd["audio.conv1.weight"]  # (d, n_mels, 3) = ne [3, n_mels, d]
    t["a.conv1d.1.bias"] = sd["audio.conv1.bias"]
    t["a.conv1d.2.weight"] = sd["audio.conv2.weight"]
    t["a.conv1d.2.bias"] = sd["audio.conv2.bias"]
    t["a.position_embd.weight"] = model.audio.pos.detach().float().numpy()
    enc_blocks("audio", "a", c.a_layer)
    t["a.post_ln.weight"] = sd["audio.post_ln.weight"]
    t["a.post_ln.bias"] = sd["audio.post_ln.bias"]
    t["mm.a.mlp.1.weight"] = sd["ma1.weight"]
    t["mm.a.mlp.1.bias"] = sd["ma1.bias"]
    t["mm.a.mlp.2.weight"] = sd["ma2.weight"]
    t["mm.a.mlp.2.bias"] = sd["ma2.bias"]
    if sources is not None:
        ids = {id(v): k for k, v in sd.items()}
        for n, arr in t.items():
            sources[n] = ids.get(id(arr))
    return t


def pick_type(name, arr, qtype):
    if qtype == "f32" or arr.ndim != 2 or "position_embd" in name:
        return "f32"
    if qtype in ("q8_0", "q4_0") and arr.shape[1] % 32 != 0:
        return "f32"
    return qtype


def write_gguf(model, path, qtype="q8_0", bpe_dir=None, name="mmgpt-demo"):
    c = model.c
    w = mmgguf.GGUFWriter()
    w.add_str("general.architecture", "gpt2")
    w.add_str("general.name", name)
    w.add_str("general.description", "mmgpt demo model trained on a generated shapes/sounds world; see docs/MODEL_CARD.md")
    w.add_u32("general.file_type", {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 7}[qtype])
    w.add_u32("gpt2.context_length", c.n_ctx)
    w.add_u32("gpt2.embedding_length", c.d)
    w.add_u32("gpt2.feed_forward_length", c.d_ff)
    w.add_u32("gpt2.block_count", c.n_layer)
    w.add_u32("gpt2.attention.head_count", c.n_head)
    w.add_f32("gpt2.attention.layer_norm_epsilon", c.eps)
    # tokenizer
    bpe = BPE(bpe_dir)
    toks = bpe.tokens_bytes()
    w.add_str("tokenizer.ggml.model", "gpt2")
    w.add_arr("tokenizer.ggml.tokens", "str", toks)
    w.add_arr("tokenizer.ggml.merges", "str", [a + " " + b for a, b in bpe.merges])
    w.add_arr("tokenizer.ggml.token_type", "i32", [3 if i == EOT_ID else 1 for i in range(len(toks))])
    w.add_u32("tokenizer.ggml.bos_token_id", EOT_ID)
    w.add_u32("tokenizer.ggml.eos_token_id", EOT_ID)
    w.add_bool("tokenizer.ggml.add_bos_token", False)
    # encoders
    w.add_bool("clip.has_vision_encoder", True)
    w.add_bool("clip.has_audio_encoder", True)
    w.add_str("clip.projector_type", "mlp")
    if c.v_merge > 1:
        w.add_u32("clip.vision.projector.scale_factor", c.v_merge)
    w.add_bool("clip.use_gelu", True)
    w.add_u32("clip.vision.image_size", c.image_size)
    w.add_u32("clip.vision.patch_size", c.patch)
    w.add_u32("clip.vision.embedding_length", c.v_d)
    w.add_u32("clip.vision.feed_forward_length", c.v_ff)
    w.add_u32("clip.vision.block_count", c.v_layer)
    w.add_u32("clip.vision.attention.head_count", c.v_head)
    w.add_f32("clip.vision.attention.layer_norm_epsilon", c.eps)
    w.add_arr("clip.vision.image_mean", "f32", gen_image.IMAGE_MEAN)
    w.add_arr("clip.vision.image_std", "f32", gen_image.IMAGE_STD)
    w.add_u32("clip.vision.projection_dim", c.d)
    w.add_str("mmgpt.vision.resize_mode", "squash")
    w.add_i32("mmgpt.vision.feature_layer", -1)
    w.add_u32("clip.audio.num_mel_bins", c.n_mels)
    w.add_u32("clip.audio.embedding_length", c.a_d)
    w.add_u32("clip.audio.feed_forward_length", c.a_ff)
    w.add_u32("clip.audio.block_count", c.a_layer)
    w.add_u32("clip.audio.attention.head_count", c.a_head)
    w.add_f32("clip.audio.attention.layer_norm_epsilon", c.eps)
    w.add_u32("clip.audio.projection_dim", c.d)
    w.add_u32("clip.audio.projector.stack_factor", c.stack)
    w.add_u32("mmgpt.audio.max_frames", c.a_max_frames)
    w.add_bool("mmgpt.audio.pad_to_window", False)
    # prompt template (fusion's defaults, written out so the file is self-describing)
    w.add_str("mmgpt.prompt.system_prefix", "System: ")
    w.add_str("mmgpt.prompt.system_suffix", "\n")
    w.add_str("mmgpt.prompt.user_prefix", data.USER_PREFIX)
    w.add_str("mmgpt.prompt.user_suffix", data.USER_SUFFIX)
    w.add_str("mmgpt.prompt.assistant_prefix", data.ASSISTANT_PREFIX)
    w.add_str("mmgpt.prompt.caption", "<__media__>\n" + data.CAPTION_PROMPT)
    w.add_str("mmgpt.prompt.describe", "<__media__>\n" + data.DESCRIBE_PROMPT)
    w.add_str("mmgpt.prompt.ask", "<__media__>\n{question}")
    for n, arr in tensor_map(model).items():
        w.add_tensor(n, np.ascontiguousarray(arr, dtype=np.float32), ttype=pick_type(n, arr, qtype))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    w.write(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ckpt")
    ap.add_argument("-o", "--out", default=os.path.join(HERE, "..", "..", "assets", "models", "mmgpt-demo.gguf"))
    ap.add_argument("--qtype", default="q8_0", choices=["q8_0", "q4_0", "f16", "f32"])
    ap.add_argument("--bpe", default=None)
    a = ap.parse_args()
    model, ck = load_ckpt(a.ckpt)
    write_gguf(model, a.out, a.qtype, a.bpe)
    print("export.py: %s (step %d, %s): %.1f MB" % (a.out, ck["step"], a.qtype, os.path.getsize(a.out) / 1e6))


if __name__ == "__main__":
    main()
