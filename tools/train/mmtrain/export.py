"""Checkpoint <-> combined mmgpt GGUF (decoder + vision + audio + projectors + GPT-2 tokenizer + prompt
template), written and read with tools/mmgguf.py.

  write_gguf(model, path, qtype)   the model's tensors under llama.cpp's gpt2 / clip names (tensor_map)
  torch_from_gguf(path)            a model.MMGPT holding a file's dequantized weights (parity, diagnostics)
  load_gguf_weights(model, reader) the same into an existing model

Big 2-D matrices whose rows are a multiple of 32 are stored as qtype; norms, biases, positions and
the conv kernels stay F32. No output.weight: the unembedding is tied to token_embd. The bytes depend
only on the checkpoint, qtype and the vocabulary (the same from any of bpe.find_vocab's places).
"""
import os

import mmgguf
import numpy as np

from . import data, render_image
from .bpe import BPE, EOT_ID
from .model import Config, MMGPT


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


def write_gguf(model, path, qtype="q8_0", vocab=None, name="mmgpt-demo"):
    """vocab: where the GPT-2 vocabulary comes from (bpe.find_vocab)."""
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
    bpe = BPE(vocab)
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
    w.add_arr("clip.vision.image_mean", "f32", render_image.IMAGE_MEAN)
    w.add_arr("clip.vision.image_std", "f32", render_image.IMAGE_STD)
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



def config_from_gguf(r):
    """model.Config of a combined GGUF (an mmgguf.GGUFReader)."""
    kv = r.kv
    return Config(n_vocab=r.tensors["token_embd.weight"][1][1], n_ctx=kv["gpt2.context_length"],
                  d=kv["gpt2.embedding_length"], n_layer=kv["gpt2.block_count"],
                  n_head=kv["gpt2.attention.head_count"], d_ff=kv["gpt2.feed_forward_length"],
                  eps=kv["gpt2.attention.layer_norm_epsilon"],
                  image_size=kv["clip.vision.image_size"], patch=kv["clip.vision.patch_size"],
                  v_merge=kv.get("clip.vision.projector.scale_factor", 1),
                  v_d=kv["clip.vision.embedding_length"], v_layer=kv["clip.vision.block_count"],
                  v_head=kv["clip.vision.attention.head_count"], v_ff=kv["clip.vision.feed_forward_length"],
                  n_mels=kv["clip.audio.num_mel_bins"], a_d=kv["clip.audio.embedding_length"],
                  a_layer=kv["clip.audio.block_count"], a_head=kv["clip.audio.attention.head_count"],
                  a_ff=kv["clip.audio.feed_forward_length"], a_max_frames=kv["mmgpt.audio.max_frames"],
                  stack=kv["clip.audio.projector.stack_factor"],
                  a_proj_mid=r.tensors["mm.a.mlp.1.weight"][1][1])


def load_gguf_weights(m, r):
    """Copy the dequantized tensors of a combined GGUF (an mmgguf.GGUFReader) into model m (same shapes):
    every tensor of tensor_map, token_embd into the embedding table (trained-row deltas zeroed), and the
    audio position table."""
    import torch
    src = {}
    tensor_map(m, src)
    sd = m.state_dict()
    with torch.no_grad():
        for n, k in src.items():
            if k is not None:
                sd[k].copy_(torch.from_numpy(r.tensor_f32(n).reshape(sd[k].shape)))
        m.wte.weight.copy_(torch.from_numpy(r.tensor_f32("token_embd.weight")))
        m.wte_delta.zero_()
        m.audio.pos.copy_(torch.from_numpy(r.tensor_f32("a.position_embd.weight"))[:m.audio.pos.shape[0]])


def torch_from_gguf(path):
    """(model.MMGPT in eval mode with the file's dequantized weights, type name of the big matrices)."""
    r = mmgguf.GGUFReader(path)
    m = MMGPT(config_from_gguf(r), train_ids=[])
    load_gguf_weights(m, r)
    m.eval()
    return m, r.tensors["blk.0.attn_qkv.weight"][0]
