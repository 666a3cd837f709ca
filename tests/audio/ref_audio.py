"""ref_audio.py - independent PyTorch reference of mmgpt's audio path (importable by other tests).

Written from the Whisper recipe (openai/whisper audio.py / model.py as documented in
tests/data/SOURCES.md and the mmgpt brief), not from the C code:

  log_mel(pcm, n_mels, n_total)   torch.stft(400, hop 160, periodic Hann, center=True, reflect),
                                  |X|^2 without the last frame, filters from mel_filters.npz (or
                                  slaney_filters() if no npz is given), log10(clamp 1e-10),
                                  max(x, max-8), (x+4)/4. n_total: zero-pad / trim the clip first.
  AudioEncoderRef                 conv1d(k3,s1,p1)+GELU, conv1d(k3,s2,p1)+GELU, + positions,
                                  pre-LN blocks (MHA with biases, GELU-erf MLP), post-LN.
  encode_mel(weights, hp, mel)    windows of hp["max_frames"] frames, the last one shorter, each
                                  encoded over its own frames, outputs concatenated. q8: names of
                                  matrices ("a.blk.0.ffn_up.weight", "a.conv1d.2.weight") whose input
                                  rows (for a conv its im2col rows, column c*3 + k) are rounded to 8 bits per
                                  block of 32 (ref_gpt2.q8_roundtrip, half to even: mmgpt's int8 prompt
                                  gemm; ref_gpt2.prompt_q8_types says which types).
  n_mel_frames(hp, n_samples)     mel frames after window padding (pad_to_window) or n_samples//160.
  random_weights(hp, seed)        numpy weights (PyTorch orientation: Linear [out, in], Conv1d [out, in, k]).
  write_gguf(path, hp, w, ttype)  mmproj-style GGUF with the names in the mmgpt brief (via tools/mmgguf.py).
  read_wav16 / write_wav16        16-bit mono WAV in / out (write returns the samples as the file holds them).
"""
import os
import sys
import wave

import numpy as np
import torch
import torch.nn.functional as F

SR, N_FFT, HOP = 16000, 400, 160


def read_wav16(path):
    """(samples in [-1, 1), rate) of a 16-bit mono WAV."""
    with wave.open(path, "rb") as f:
        assert f.getsampwidth() == 2 and f.getnchannels() == 1
        return np.frombuffer(f.readframes(f.getnframes()), "<i2").astype(np.float32) / 32768.0, f.getframerate()


def write_wav16(path, pcm, rate=SR):
    """Write pcm as 16-bit mono WAV; returns the samples as the file holds them."""
    q = np.clip(np.round(np.asarray(pcm) * 32768.0), -32768, 32767).astype("<i2")
    with wave.open(path, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(q.tobytes())
    return q.astype(np.float32) / 32768.0


def slaney_filters(n_mels, sr=SR, n_fft=N_FFT):
    """librosa.filters.mel(sr, n_fft, n_mels) (htk=False, norm='slaney') restated in numpy float64."""
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0

    def hz2mel(f):
        f = np.asarray(f, dtype=np.float64)
        return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-12) / min_log_hz) / logstep, f / f_sp)

    def mel2hz(m):
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)

    fft_f = np.linspace(0, sr / 2, n_fft // 2 + 1)
    mel_f = mel2hz(np.linspace(hz2mel(0.0), hz2mel(sr / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_f[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    w = np.maximum(0, np.minimum(lower, upper))
    w *= (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]
    return w.astype(np.float32)


def load_filters(n_mels, npz=None):
    """Whisper's published filterbank from the mel_filters.npz path given, else slaney_filters()."""
    if npz:
        with np.load(npz) as z:
            return z["mel_%d" % n_mels]
    return slaney_filters(n_mels)


def log_mel(pcm, n_mels=80, n_total=None, filters=None):
    """Whisper log_mel_spectrogram of pcm zero-padded / trimmed to n_total samples -> [n_mels, n_total//160]."""
    x = np.asarray(pcm, dtype=np.float32)
    if n_total is None:
        n_total = len(x)
    x = x[:n_total]
    if len(x) < n_total:
        x = np.concatenate([x, np.zeros(n_total - len(x), np.float32)])
    if filters is None:
        filters = slaney_filters(n_mels)
    if n_total // HOP == 0:
        return np.zeros((n_mels, 0), np.float32)
    audio = torch.from_numpy(x)
    window = torch.hann_window(N_FFT)
    stft = torch.stft(audio, N_FFT, HOP, window=window, center=True, pad_mode="reflect", return_complex=True)
    mag = stft[..., :-1].abs() ** 2
    mel = torch.from_numpy(np.ascontiguousarray(filters, dtype=np.float32)) @ mag
    log_spec = torch.clamp(mel, min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).numpy()


def n_mel_frames(hp, n_samples):
    if not hp["pad_to_window"]:
        return n_samples // HOP
    wsamp = hp["max_frames"] * HOP
    n_win = max(1, -(-n_samples // wsamp))
    return n_win * hp["max_frames"]


def log_mel_for_model(hp, pcm, filters=None):
    """The log-mel the encoder sees: the clip padded to whole windows (pad_to_window) or as it is."""
    nf = n_mel_frames(hp, len(pcm))
    n_total = nf * HOP if hp["pad_to_window"] else len(pcm)
    return log_mel(pcm, hp["n_mels"], n_total, filters)


class AudioEncoderRef(torch.nn.Module):
    """Whisper-style encoder with weights given as a dict of numpy arrays (names as in the GGUF)."""

    def __init__(self, hp, w, q8=()):
        super().__init__()
        self.hp = hp
        self.w = {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in w.items()}
        self.q8 = q8

    def _round(self, x, name):
        if name + ".weight" not in self.q8:
            return x
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "transformer"))
        from ref_gpt2 import q8_roundtrip
        return torch.from_numpy(q8_roundtrip(x.numpy(), even=True).astype(np.float32))

    def _conv(self, x, name, stride):
        """conv1d (k 3, pad 1) of x [1, C, T]; as im2col rows [T_out, C*3] times W^T where the input is rounded"""
        w, b = self.w[name + ".weight"], self.w[name + ".bias"]
        if name + ".weight" not in self.q8:
            return F.conv1d(x, w, b, stride=stride, padding=1)
        cols = F.pad(x, (1, 1)).unfold(2, 3, stride)[0].permute(1, 0, 2).reshape(-1, x.shape[1] * 3)
        return (self._round(cols, name) @ w.reshape(w.shape[0], -1).t() + b).t()[None]

    def _ln(self, x, name):
        return F.layer_norm(x, (x.shape[-1],), self.w[name + ".weight"], self.w[name + ".bias"], self.hp["eps"])

    def _lin(self, x, name):
        return F.linear(self._round(x, name), self.w[name + ".weight"], self.w[name + ".bias"])

    def forward_window(self, mel):
        """mel [n_mels, T_in] -> [(T_in + 1) // 2, d]"""
        w, hp = self.w, self.hp
        x = torch.from_numpy(np.ascontiguousarray(mel, dtype=np.float32))[None]
        x = F.gelu(self._conv(x, "a.conv1d.1", 1))
        x = F.gelu(self._conv(x, "a.conv1d.2", 2))
        x = x[0].t()  # [T, d]
        T, d = x.shape
        x = x + w["a.position_embd.weight"][:T]
        H = hp["n_head"]
        dh = d // H
        for i in range(hp["n_layer"]):
            p = "a.blk.%d." % i
            h = self._ln(x, p + "ln1")
            q = self._lin(h, p + "attn_q").view(T, H, dh).transpose(0, 1)
            k = self._lin(h, p + "attn_k").view(T, H, dh).transpose(0, 1)
            v = self._lin(h, p + "attn_v").view(T, H, dh).transpose(0, 1)
            att = torch.softmax(q @ k.transpose(1, 2) / np.sqrt(dh), dim=-1)
            a = (att @ v).transpose(0, 1).reshape(T, d)
            x = x + self._lin(a, p + "attn_out")
            h = self._ln(x, p + "ln2")
            x = x + self._lin(F.gelu(self._lin(h, p + "ffn_up")), p + "ffn_down")
        if "a.post_ln.weight" in w:
            x = self._ln(x, "a.post_ln")
        return x


def encode_mel(hp, weights, mel, q8=()):
    """Windowed encode of a log-mel [n_mels, F] -> [n_out, d] (float32 numpy)."""
    enc = AudioEncoderRef(hp, weights, q8)
    W = hp["max_frames"]
    outs = []
    with torch.no_grad():
        for w0 in range(0, mel.shape[1], W):
            outs.append(enc.forward_window(mel[:, w0:w0 + W]).numpy())
    if not outs:
        return np.zeros((0, hp["d"]), np.float32)
    return np.concatenate(outs, 0).astype(np.float32)


def random_weights(hp, seed=0, post_ln=True):
    r = np.random.default_rng(seed)
    d, dff, nm = hp["d"], hp["d_ff"], hp["n_mels"]
    n_pos = hp.get("n_pos", (hp["max_frames"] + 1) // 2)
    g = lambda *s, std=0.1: (r.standard_normal(s) * std).astype(np.float32)
    w = {
        "a.conv1d.1.weight": g(d, nm, 3, std=0.15), "a.conv1d.1.bias": g(d, std=0.05),
        "a.conv1d.2.weight": g(d, d, 3, std=1.0 / np.sqrt(3 * d)), "a.conv1d.2.bias": g(d, std=0.05),
        "a.position_embd.weight": g(n_pos, d, std=0.3),
    }
    for i in range(hp["n_layer"]):
        p = "a.blk.%d." % i
        for ln in ("ln1", "ln2"):
            w[p + ln + ".weight"] = 1.0 + g(d, std=0.1)
            w[p + ln + ".bias"] = g(d, std=0.05)
        for nme, (o, n) in {"attn_q": (d, d), "attn_k": (d, d), "attn_v": (d, d), "attn_out": (d, d),
                            "ffn_up": (dff, d), "ffn_down": (d, dff)}.items():
            w[p + nme + ".weight"] = g(o, n, std=1.0 / np.sqrt(n))
            w[p + nme + ".bias"] = g(o, std=0.02)
    if post_ln:
        w["a.post_ln.weight"] = 1.0 + g(d, std=0.1)
        w["a.post_ln.bias"] = g(d, std=0.05)
    return w


def _mmgguf():
    root = os.environ.get("MMGPT_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
    sys.path.insert(0, os.path.join(root, "tools"))
    import mmgguf
    return mmgguf


def write_gguf(path, hp, w, ttype="f32"):
    """Write an audio-encoder GGUF. ttype applies to the conv and block matrices; returns the weights
    as the file holds them (rounded through f16 / quantization) so the reference can use the same."""
    mmgguf = _mmgguf()
    g = mmgguf.GGUFWriter()
    g.add_str("general.architecture", "clip")
    g.add_bool("clip.has_audio_encoder", True)
    g.add_u32("clip.audio.num_mel_bins", hp["n_mels"])
    g.add_u32("clip.audio.embedding_length", hp["d"])
    g.add_u32("clip.audio.feed_forward_length", hp["d_ff"])
    g.add_u32("clip.audio.block_count", hp["n_layer"])
    g.add_u32("clip.audio.attention.head_count", hp["n_head"])
    g.add_f32("clip.audio.attention.layer_norm_epsilon", hp["eps"])
    g.add_u32("mmgpt.audio.max_frames", hp["max_frames"])
    g.add_bool("mmgpt.audio.pad_to_window", hp["pad_to_window"])
    held = {}
    for name, arr in w.items():
        t = "f32"
        if name.endswith(".weight") and arr.ndim >= 2 and "position_embd" not in name:
            t = ttype
            if t in ("q8_0", "q4_0") and arr.reshape(arr.shape[0], -1).shape[1] % 32:
                t = "f16"
        # quantized rows need a multiple of 32 elements: a conv weight is then written 2-D
        # [out, in*3] (same bytes as ne [3, in, out]; mmgpt accepts both)
        g.add_tensor(name, arr.reshape(arr.shape[0], -1) if t in ("q8_0", "q4_0") else arr, t)
        if t == "f32":
            held[name] = arr
        else:
            raw = mmgguf.quantize(arr.astype(np.float32), t)
            held[name] = mmgguf.dequantize(raw, t, arr.size).reshape(arr.shape)
    g.write(path)
    return held
