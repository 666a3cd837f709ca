#!/usr/bin/python3
"""convert_ultravox.py - an Ultravox or Qwen2-Audio checkpoint (Hugging Face: Whisper encoder + Ultravox's or
Qwen2-Audio's projector) -> the mmproj GGUF llama.cpp's convert_hf_to_gguf.py --mmproj writes for it (the same
keys, names, shapes and types), read with numpy only (safetensors parsed by convert_hf_gpt2.read_safetensors; no
torch, no transformers).

    /usr/bin/python3 tools/convert_ultravox.py HF_DIR -o mmproj.gguf [--outtype f16|f32|q8_0]

HF_DIR holds config.json and model.safetensors (or model.safetensors.index.json + shards). config.json is
Ultravox's or Qwen2-Audio's (architectures ["Qwen2AudioForConditionalGeneration"]): audio_config (a WhisperConfig
or Qwen2AudioEncoderConfig: d_model, encoder_layers, encoder_attention_heads, encoder_ffn_dim, num_mel_bins),
text_config.hidden_size (or hidden_size), and for Ultravox stack_factor. Tensors read: audio_tower.* and
multi_modal_projector.*; language_model.* and anything else is skipped.

What is written (as llama.cpp's UltravoxWhisperEncoderModel / WhisperEncoderModel / MmprojModel do):
  general.architecture "clip", clip.has_audio_encoder true, clip.projector_type "ultravox",
  clip.audio.{num_mel_bins, embedding_length, feed_forward_length, block_count, attention.head_count,
  attention.layer_norm_epsilon (layer_norm_eps, default 1e-5), projection_dim, projector.stack_factor}
  audio_tower.conv{1,2}.weight        [d, c_in, 3]   -> a.conv1d.{1,2}.weight  (always F16, as llama.cpp)
  audio_tower.conv{1,2}.bias          [d] -> [d, 1]  -> a.conv1d.{1,2}.bias    (F32, ne [1, d])
  audio_tower.embed_positions.weight  [n_pos, d]     -> a.position_embd.weight
  audio_tower.layers.N.self_attn.{q,k,v}_proj.*      -> a.blk.N.attn_{q,k,v}.*   (k_proj has no bias)
  audio_tower.layers.N.self_attn.out_proj.*          -> a.blk.N.attn_out.*
  audio_tower.layers.N.self_attn_layer_norm.*        -> a.blk.N.ln1.*
  audio_tower.layers.N.final_layer_norm.*            -> a.blk.N.ln2.*
  audio_tower.layers.N.fc1.* / fc2.*                 -> a.blk.N.ffn_up.* / ffn_down.*
  audio_tower.layer_norm.*                           -> a.post_ln.*
  multi_modal_projector.ln_pre.weight                -> mm.a.norm_pre.weight
  multi_modal_projector.linear_1.weight              -> mm.a.mlp.1.weight
  multi_modal_projector.ln_mid.weight                -> mm.a.norm_mid.weight
  multi_modal_projector.linear_2.weight              -> mm.a.mlp.2.weight
Qwen2-Audio (llama.cpp's WhisperEncoderModel, clip.projector_type "qwen2a", no stack factor; the encoder tensors
as above):
  multi_modal_projector.linear.{weight,bias}         -> mm.a.fc.{weight,bias}
1-D tensors stay F32; other matrices take --outtype (default f16, llama.cpp's default); with q8_0, matrices
whose rows are not a multiple of 32 and the position table are F16. Unknown tensor names under audio_tower. / multi_modal_projector. are an error.
"""
import argparse
import json
import os
import re
import sys


HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import convert_hf_gpt2  # noqa: E402
import mmgguf  # noqa: E402



def read_safetensors(path):
    """{name: float32 array} of one .safetensors file (convert_hf_gpt2's reader: F32, F16, F64, BF16)."""
    try:
        return convert_hf_gpt2.read_safetensors(path)
    except (ValueError, KeyError, UnicodeDecodeError) as e:
        raise SystemExit("%s: not a readable safetensors file (%s)" % (path, e))


def read_checkpoint(d):
    idx = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(idx):
        with open(idx, encoding="utf-8") as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    t = {}
    for fn in files:
        if os.path.basename(fn) != fn:
            raise SystemExit("%s: shard name %r is not a plain file name" % (idx, fn))
        t.update(read_safetensors(os.path.join(d, fn)))
    return t


LAYER = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
         "self_attn.out_proj": "attn_out", "self_attn_layer_norm": "ln1", "final_layer_norm": "ln2",
         "fc1": "ffn_up", "fc2": "ffn_down"}
ENCODER = {"audio_tower.conv1": "a.conv1d.1", "audio_tower.conv2": "a.conv1d.2",
           "audio_tower.embed_positions": "a.position_embd", "audio_tower.layer_norm": "a.post_ln"}
ULTRAVOX = {"multi_modal_projector.ln_pre": "mm.a.norm_pre", "multi_modal_projector.linear_1": "mm.a.mlp.1",
            "multi_modal_projector.ln_mid": "mm.a.norm_mid", "multi_modal_projector.linear_2": "mm.a.mlp.2"}
QWEN2A = {"multi_modal_projector.linear": "mm.a.fc"}


def gguf_name(name, qwen2a=False):
    """The llama.cpp mmproj name of an HF tensor name, None for tensors that are skipped."""
    if not (name.startswith("audio_tower.") or name.startswith("multi_modal_projector.")):
        return None
    stem, _, suffix = name.rpartition(".")
    if suffix not in ("weight", "bias"):
        raise SystemExit("unexpected tensor %s" % name)
    fixed = dict(ENCODER, **(QWEN2A if qwen2a else ULTRAVOX))
    if stem in fixed:
        return fixed[stem] + "." + suffix
    m = re.fullmatch(r"audio_tower\.layers\.(\d+)\.(.+)", stem)
    if m and m.group(2) in LAYER:
        return "a.blk.%d.%s.%s" % (int(m.group(1)), LAYER[m.group(2)], suffix)
    raise SystemExit("unexpected tensor %s (not part of the Whisper encoder or the %s projector)" % (
        name, "Qwen2-Audio" if qwen2a else "Ultravox"))


def convert(hf_dir, out, outtype="f16"):
    with open(os.path.join(hf_dir, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    ac = cfg.get("audio_config") or {}
    need = ["d_model", "encoder_layers", "encoder_attention_heads", "encoder_ffn_dim", "num_mel_bins"]
    miss = [k for k in need if k not in ac]
    if miss:
        raise SystemExit("config.json: audio_config lacks %s" % ", ".join(miss))
    text_hidden = (cfg.get("text_config") or {}).get("hidden_size", cfg.get("hidden_size"))
    qwen2a = "Qwen2AudioForConditionalGeneration" in (cfg.get("architectures") or [])
    if (not qwen2a and "stack_factor" not in cfg) or text_hidden is None:
        raise SystemExit("config.json: needs text_config.hidden_size (and stack_factor for Ultravox)")
    t = read_checkpoint(hf_dir)
    w = mmgguf.GGUFWriter()
    w.add_str("general.architecture", "clip")
    w.add_str("general.name", cfg.get("_name_or_path", os.path.basename(os.path.abspath(hf_dir))))
    w.add_bool("clip.has_vision_encoder", False)
    w.add_bool("clip.has_audio_encoder", True)
    w.add_str("clip.projector_type", "qwen2a" if qwen2a else "ultravox")
    w.add_u32("clip.audio.num_mel_bins", int(ac["num_mel_bins"]))
    w.add_u32("clip.audio.embedding_length", int(ac["d_model"]))
    w.add_u32("clip.audio.feed_forward_length", int(ac["encoder_ffn_dim"]))
    w.add_u32("clip.audio.block_count", int(ac["encoder_layers"]))
    w.add_u32("clip.audio.attention.head_count", int(ac["encoder_attention_heads"]))
    w.add_f32("clip.audio.attention.layer_norm_epsilon", float(ac.get("layer_norm_eps", 1e-5)))
    w.add_u32("clip.audio.projection_dim", int(text_hidden))
    if not qwen2a:
        w.add_u32("clip.audio.projector.stack_factor", int(cfg["stack_factor"]))
    n = 0
    for name in sorted(t):
        g = gguf_name(name, qwen2a)
        if g is None:
            continue
        arr = t[name]
        if g.startswith("a.conv1d.") and g.endswith(".bias"):
            arr = arr.reshape(-1, 1)  # llama.cpp: bias.unsqueeze(-1), GGUF ne [1, d]
        if arr.ndim == 1:
            ty = "f32"
        elif g.startswith("a.conv1d.") and g.endswith(".weight"):
            ty = "f16"  # llama.cpp forces its conv kernels to F16
        elif g.endswith(".bias"):
            ty = "f32"
        else:
            ty = outtype
            if ty == "q8_0" and (arr.shape[-1] % 32 or g == "a.position_embd.weight"):
                ty = "f16"  # rows q8_0 cannot hold; positions are added, not multiplied: F16
        w.add_tensor(g, arr, ty)
        n += 1
    w.write(out)
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("hf_dir")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--outtype", choices=["f32", "f16", "q8_0"], default="f16")
    a = ap.parse_args()
    n = convert(a.hf_dir, a.output, a.outtype)
    print("%s: %d tensors" % (a.output, n), file=sys.stderr)


if __name__ == "__main__":
    main()
