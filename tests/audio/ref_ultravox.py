"""ref_ultravox.py - independent PyTorch reference of an Ultravox or Qwen2-Audio audio path, in Hugging Face's layout.

Written from the descriptions of Hugging Face's WhisperEncoder (transformers modeling_whisper: conv1 k3 p1 +
GELU, conv2 k3 s2 p1 + GELU, + embed_positions[:T], pre-LN layers whose attention scales q by head_dim^-0.5
and whose k_proj has no bias, fc1 -> GELU -> fc2, final layer_norm) and of Ultravox's projector
(fixie-ai ultravox_model.py: StackAudioFrames pads the frame count to a multiple of stack_factor with zeros
and reshapes; ln_pre RMSNorm; linear_1 without bias; SwiGLU = x, gate = chunk(2); silu(gate) * x; ln_mid
RMSNorm; linear_2 without bias; RMSNorm eps 1e-6), and of Hugging Face's Qwen2AudioEncoder (transformers
modeling_qwen2_audio: the same Whisper layers, then avg_pooler = AvgPool1d(2, stride 2) over time BEFORE the final
layer_norm) + Qwen2AudioMultiModalProjector (one nn.Linear with bias, audio d_model -> text hidden_size), never
from mmgpt's C code or its GGUF names. A config is Qwen2-Audio's when its architectures say
Qwen2AudioForConditionalGeneration (config(..., qwen2a=True)).

  random_checkpoint(cfg, seed)      {HF name: numpy array} with the real names and shapes
  write_safetensors(path, tensors, dtypes)   the safetensors format restated (header u64 + JSON + data)
  encoder(sd, cfg, mel)             one window: mel [n_mels, T_in] -> [(T_in + 1) // 2, d] (float64)
                                    (Qwen2-Audio: [(T_in + 1) // 2 // 2, d], pooled)
  projector(sd, cfg, x)             [n, d] -> [ceil(n / k), d_text] (Qwen2-Audio: [n, d_text])
  make_mmproj(tmp, name, n_mels, stack, outtype)   a random checkpoint (stack None: Qwen2-Audio) written as
                                    safetensors in tmp/name and converted by tools/convert_ultravox.py to
                                    tmp/name.gguf; returns (cfg, the weights as the file holds them, path)
  clip(sd, cfg, pcm, filters)       the whole clip as mmgpt runs llama.cpp's Ultravox files: padded to whole
                                    30 s windows (Whisper's pad_or_trim per window), the log-mel of the padded
                                    clip (ref_audio.log_mel), windows of 3000 frames encoded and projected
                                    one by one, rows concatenated. Returns (mel, encoder rows, projected rows).
"""
import json
import os
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_audio  # noqa: E402

SRC = os.environ.get("MMGPT_SOURCE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tools"))
import mmgguf  # noqa: E402

WINDOW = 3000  # mel frames of Whisper's 30 s window
HOP = 160


def is_qwen2a(cfg):
    return "Qwen2AudioForConditionalGeneration" in cfg.get("architectures", [])


def config(n_mels, stack, d=64, layers=2, heads=2, ffn=256, n_pos=1500, text_hidden=96, proj_hidden=128,
           qwen2a=False):
    """An Ultravox config.json (Whisper-base relations: ffn = 4 d, d / heads = 32 here) at small width; qwen2a:
    Qwen2-Audio's (no stack factor, no projector width)."""
    if qwen2a:
        return {"architectures": ["Qwen2AudioForConditionalGeneration"], "text_config": {"hidden_size": text_hidden},
                "audio_config": {"d_model": d, "encoder_layers": layers, "encoder_attention_heads": heads,
                                 "encoder_ffn_dim": ffn, "num_mel_bins": n_mels, "max_source_positions": n_pos,
                                 "layer_norm_eps": 1e-5, "model_type": "qwen2_audio_encoder"}}
    return {"architectures": ["UltravoxModel"], "stack_factor": stack, "hidden_size": proj_hidden,
            "projector_act": "swiglu", "projector_ln_mid": True,
            "text_config": {"hidden_size": text_hidden},
            "audio_config": {"d_model": d, "encoder_layers": layers, "encoder_attention_heads": heads,
                             "encoder_ffn_dim": ffn, "num_mel_bins": n_mels, "max_source_positions": n_pos,
                             "layer_norm_eps": 1e-5}}


def random_checkpoint(cfg, seed=0):
    r = np.random.default_rng(seed)
    ac = cfg["audio_config"]
    d, nm, ffn, n_pos = ac["d_model"], ac["num_mel_bins"], ac["encoder_ffn_dim"], ac["max_source_positions"]
    dt = cfg["text_config"]["hidden_size"]
    g = lambda *s, std=0.1: (r.standard_normal(s) * std).astype(np.float32)  # noqa: E731
    t = {"audio_tower.conv1.weight": g(d, nm, 3, std=0.15), "audio_tower.conv1.bias": g(d, std=0.05),
         "audio_tower.conv2.weight": g(d, d, 3, std=1.0 / np.sqrt(3 * d)), "audio_tower.conv2.bias": g(d, std=0.05),
         "audio_tower.embed_positions.weight": g(n_pos, d, std=0.3),
         "audio_tower.layer_norm.weight": 1.0 + g(d), "audio_tower.layer_norm.bias": g(d, std=0.05)}
    for i in range(ac["encoder_layers"]):
        p = "audio_tower.layers.%d." % i
        for nme, (o, n, bias) in {"self_attn.q_proj": (d, d, True), "self_attn.k_proj": (d, d, False),
                                  "self_attn.v_proj": (d, d, True), "self_attn.out_proj": (d, d, True),
                                  "fc1": (ffn, d, True), "fc2": (d, ffn, True)}.items():
            t[p + nme + ".weight"] = g(o, n, std=1.0 / np.sqrt(n))
            if bias:
                t[p + nme + ".bias"] = g(o, std=0.02)
        for ln in ("self_attn_layer_norm", "final_layer_norm"):
            t[p + ln + ".weight"] = 1.0 + g(d)
            t[p + ln + ".bias"] = g(d, std=0.05)
    if is_qwen2a(cfg):
        t["multi_modal_projector.linear.weight"] = g(dt, d, std=1.0 / np.sqrt(d))
        t["multi_modal_projector.linear.bias"] = g(dt, std=0.02)
        t["language_model.model.embed_tokens.weight"] = g(8, dt)
        return t
    k, hid = cfg["stack_factor"], cfg["hidden_size"]
    t["multi_modal_projector.ln_pre.weight"] = 1.0 + g(k * d)
    t["multi_modal_projector.linear_1.weight"] = g(hid, k * d, std=1.0 / np.sqrt(k * d))
    t["multi_modal_projector.ln_mid.weight"] = 1.0 + g(hid // 2)
    t["multi_modal_projector.linear_2.weight"] = g(dt, hid // 2, std=1.0 / np.sqrt(hid // 2))
    t["language_model.model.embed_tokens.weight"] = g(8, dt)  # skipped by the converter, as llama.cpp's
    return t


def write_safetensors(path, tensors, dtypes=None):
    """dtypes: {name: "F32"|"F16"} (default F32). Returns the tensors as stored (rounded through F16). The
    format is written by tests/transformer/test_gpt_hf_convert.py's writer (header u64 + JSON + data)."""
    dtypes = dtypes or {}
    st = {n: np.asarray(a, dtype=np.float16 if dtypes.get(n) == "F16" else np.float32) for n, a in tensors.items()}
    _hf_convert_test().write_safetensors(path, st)
    return {n: a.astype(np.float32) for n, a in st.items()}


def _hf_convert_test():
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "transformer"))
    import test_gpt_hf_convert
    return test_gpt_hf_convert


def _t(sd, name):
    return torch.from_numpy(np.asarray(sd[name], dtype=np.float64))


def encoder(sd, cfg, mel):
    ac = cfg["audio_config"]
    eps, H = ac["layer_norm_eps"], ac["encoder_attention_heads"]
    x = torch.from_numpy(np.asarray(mel, dtype=np.float64))[None]
    x = F.gelu(F.conv1d(x, _t(sd, "audio_tower.conv1.weight"), _t(sd, "audio_tower.conv1.bias"), padding=1))
    x = F.gelu(F.conv1d(x, _t(sd, "audio_tower.conv2.weight"), _t(sd, "audio_tower.conv2.bias"), stride=2, padding=1))
    x = x[0].t()
    T, d = x.shape
    x = x + _t(sd, "audio_tower.embed_positions.weight")[:T]
    dh = d // H

    def lin(h, n, bias=True):
        return F.linear(h, _t(sd, n + ".weight"), _t(sd, n + ".bias") if bias else None)

    def ln(h, n):
        return F.layer_norm(h, (d,), _t(sd, n + ".weight"), _t(sd, n + ".bias"), eps)

    for i in range(ac["encoder_layers"]):
        p = "audio_tower.layers.%d." % i
        h = ln(x, p + "self_attn_layer_norm")
        q = (lin(h, p + "self_attn.q_proj") * dh ** -0.5).view(T, H, dh).transpose(0, 1)
        k = lin(h, p + "self_attn.k_proj", bias=False).view(T, H, dh).transpose(0, 1)
        v = lin(h, p + "self_attn.v_proj").view(T, H, dh).transpose(0, 1)
        a = torch.softmax(q @ k.transpose(1, 2), dim=-1) @ v
        x = x + lin(a.transpose(0, 1).reshape(T, d), p + "self_attn.out_proj")
        h = ln(x, p + "final_layer_norm")
        x = x + lin(F.gelu(lin(h, p + "fc1")), p + "fc2")
    if is_qwen2a(cfg):  # Qwen2AudioEncoder.avg_pooler over time, then the final layer_norm
        x = F.avg_pool1d(x.t()[None], kernel_size=2, stride=2)[0].t()
    return F.layer_norm(x, (d,), _t(sd, "audio_tower.layer_norm.weight"), _t(sd, "audio_tower.layer_norm.bias"), eps)


def _rms(x, w, eps=1e-6):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def projector(sd, cfg, x):
    if is_qwen2a(cfg):
        return F.linear(x, _t(sd, "multi_modal_projector.linear.weight"), _t(sd, "multi_modal_projector.linear.bias"))
    k = cfg["stack_factor"]
    T, d = x.shape
    x = F.pad(x, (0, 0, 0, (-T) % k)).reshape(-1, k * d)
    x = _rms(x, _t(sd, "multi_modal_projector.ln_pre.weight"))
    h = F.linear(x, _t(sd, "multi_modal_projector.linear_1.weight"))
    a, gate = h.chunk(2, dim=-1)
    h = _rms(F.silu(gate) * a, _t(sd, "multi_modal_projector.ln_mid.weight"))
    return F.linear(h, _t(sd, "multi_modal_projector.linear_2.weight"))


def make_mmproj(tmp, name, n_mels, stack, outtype):
    cfg = config(n_mels, stack, qwen2a=stack is None)
    ck = random_checkpoint(cfg, seed=n_mels + (stack or 3))
    d = os.path.join(tmp, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)
    # conv kernels stored F16 (as llama.cpp writes them; HF Ultravox checkpoints are bf16), for f16 also the
    # matrices, so the file holds exactly the checkpoint's values; q8_0: the reference dequantizes below
    f16 = {n for n, a in ck.items() if (".conv" in n and n.endswith(".weight"))
           or (outtype == "f16" and a.ndim == 2 and not n.endswith("embed_positions.weight"))}
    sd = write_safetensors(os.path.join(d, "model.safetensors"), ck, {n: "F16" for n in f16})
    out = os.path.join(tmp, name + ".gguf")
    p = subprocess.run([sys.executable, os.path.join(SRC, "tools", "convert_ultravox.py"), d, "-o", out,
                        "--outtype", outtype], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("convert_ultravox.py failed: " + p.stderr[-600:])
    if outtype == "q8_0":  # the weights as the file holds them
        for n, a in sd.items():
            if a.ndim == 2 and a.shape[-1] % 32 == 0 and n.startswith(("audio_tower.layers", "multi_modal_projector")):
                sd[n] = mmgguf.dequantize(mmgguf.quantize(a, "q8_0"), "q8_0", a.size).reshape(a.shape)
    if outtype in ("f16", "q8_0"):
        n = "audio_tower.embed_positions.weight"
        sd[n] = sd[n].astype(np.float16).astype(np.float32)
    return cfg, sd, out


def clip(sd, cfg, pcm, filters):
    n_win = max(1, -(-len(pcm) // (WINDOW * HOP)))
    mel = ref_audio.log_mel(pcm, cfg["audio_config"]["num_mel_bins"], n_win * WINDOW * HOP, filters)
    enc, proj = [], []
    with torch.no_grad():
        for w in range(n_win):
            e = encoder(sd, cfg, mel[:, w * WINDOW:(w + 1) * WINDOW])
            enc.append(e.numpy())
            proj.append(projector(sd, cfg, e).numpy())
    return mel, np.concatenate(enc), np.concatenate(proj)
