"""Deterministic sound renderer for the audio world, augmentation, and Whisper's log-mel.

render_sound(spec, rng) -> (pcm float32 at 16 kHz, info). Each clip is synthesised at a random
source rate (8..48 kHz, so band limits match real files), optionally stereo-averaged, gain-scaled
(-40..0 dBFS peak), quantised and resampled to 16 kHz the way the engine resamples files.
Speech comes from a bank of espeak-ng words (build_speech_bank) made with the TRAINING voices only;
HELDOUT_LANGS / HELDOUT_VARIANTS are reserved for the second held-out set (heldout.py, set 2).

log_mel(pcm) is Whisper's log_mel_spectrogram over the clip's own length (no 30 s padding):
periodic Hann 400, hop 160, centre reflect pad 200, |STFT|^2, last frame dropped, Slaney mel (80),
log10(max(x,1e-10)), max(x, max-8), (x+4)/4.
"""
import math
import subprocess

import numpy as np

from . import world

SR = 16000
N_FFT = 400
HOP = 160
N_MELS = 80

TRAIN_LANGS = ["en", "en-us", "en-gb-x-rp", "en-gb-scotland", "en-029"]
TRAIN_VARIANTS = ["", "m1", "m2", "m3", "m4", "m5", "f1", "f2", "f3", "klatt", "croak", "Alex", "adam",
                  "john", "linda", "max", "paul", "robert"]
HELDOUT_LANGS = ["en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-us-nyc"]
HELDOUT_VARIANTS = ["m7", "f4", "f5", "klatt3", "steph", "quincy"]


# ------------------------------------------------------------------ mel
def _hz_to_mel(f):
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, mels)


def _mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    freqs = f_sp * m
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), freqs)


def mel_filters(n_mels=N_MELS, sr=SR, n_fft=N_FFT):
    """Slaney-style mel filterbank with Slaney area normalisation (librosa defaults)."""
    fftfreqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2.0), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fftfreqs[None, :]
    w = np.zeros((n_mels, len(fftfreqs)))
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        w[i] = np.maximum(0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels])
    w *= enorm[:, None]
    return w.astype(np.float32)


_FB = None
_WIN = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float64)  # periodic Hann


def log_mel(pcm):
    """pcm float 16 kHz -> float32 [80, n//160]."""
    global _FB
    if _FB is None:
        _FB = mel_filters().astype(np.float64)
    x = np.asarray(pcm, dtype=np.float64)
    n = len(x)
    nf = n // HOP
    if nf == 0:
        return np.zeros((N_MELS, 0), np.float32)
    pad = N_FFT // 2
    if n > pad:
        xp = np.pad(x, (pad, pad), mode="reflect")
    else:  # reflect needs n > pad; tiny clips: zero pad (never in the training world)
        xp = np.pad(x, (pad, pad))
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(nf)[:, None]
    frames = xp[idx] * _WIN[None, :]
    spec = np.abs(np.fft.rfft(frames, axis=1)) ** 2  # [nf, 201]
    mel = _FB @ spec.T
    lg = np.log10(np.maximum(mel, 1e-10))
    lg = np.maximum(lg, lg.max() - 8.0)
    return ((lg + 4.0) / 4.0).astype(np.float32)


# ------------------------------------------------------------------ resampling
def resample(x, sr_in, sr_out):
    if sr_in == sr_out or len(x) == 0:
        return x.astype(np.float32)
    from scipy.signal import resample_poly
    g = math.gcd(int(sr_in), int(sr_out))
    return resample_poly(x, sr_out // g, sr_in // g).astype(np.float32)


SOURCE_RATES = [8000, 11025, 16000, 16000, 22050, 24000, 32000, 44100, 48000]


# ------------------------------------------------------------------ synthesis (at rate sr)
def _fade(n, sr, rng, lo=0.002, hi=0.03):
    f = np.ones(n, np.float64)
    k = min(n // 2, int(sr * rng.uniform(lo, hi)))
    if k > 1:
        ramp = np.linspace(0, 1, k)
        f[:k] = ramp
        f[-k:] = ramp[::-1]
    return f


def _osc(freq_t, sr, phase0=0.0):
    ph = phase0 + 2 * np.pi * np.cumsum(freq_t) / sr
    return np.sin(ph)


def synth(spec, rng, sr, dur=None):
    """Unit-peak-ish signal for spec at rate sr (float64), before gain."""
    k = spec["kind"]
    nyq = sr / 2.0
    if dur is None:
        r = rng.random()
        dur = rng.uniform(0.5, 3.0) if r < 0.6 else rng.uniform(3.0, 6.0) if r < 0.85 else rng.uniform(6.0, 10.0)
    n = int(dur * sr)
    t = np.arange(n) / sr
    if k == "tone":
        lo, hi = world.TONE_BANDS[spec["pitch"]]
        hi = min(hi, nyq * 0.9)
        f = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        x = np.sin(2 * np.pi * f * t + rng.uniform(0, 6.28)) * _fade(n, sr, rng, 0.0, 0.03)
        spec["freq"] = f
        return x
    if k == "beeps":
        nb = spec["n"]
        f = math.exp(rng.uniform(math.log(300), math.log(min(3000, nyq * 0.9))))
        blen = rng.uniform(0.05, 0.25)
        gap = rng.uniform(0.08, 0.5)
        lead = rng.uniform(0.0, 0.6)
        body = nb * blen + (nb - 1) * gap
        trail = rng.uniform(0.0, 0.6)
        total = max(0.5, lead + body + trail)
        if rng.random() < 0.2:
            total = min(10.0, total + rng.uniform(0, 4))
        x = np.zeros(int(total * sr))
        for i in range(nb):
            s0 = int((lead + i * (blen + gap)) * sr)
            m = int(blen * sr)
            seg = np.sin(2 * np.pi * f * np.arange(m) / sr) * _fade(m, sr, rng, 0.0, 0.01)
            x[s0:s0 + m] += seg[:max(0, len(x) - s0)]
        return x
    if k == "sweep":
        f_lo = math.exp(rng.uniform(math.log(80), math.log(500)))
        f_hi = math.exp(rng.uniform(math.log(max(f_lo * 3, 800)), math.log(min(6000, nyq * 0.9))))
        f_hi = max(f_hi, f_lo * 2)
        f0, f1 = (f_lo, f_hi) if spec["dir"] == "rising" else (f_hi, f_lo)
        if rng.random() < 0.5:  # linear
            ft = f0 + (f1 - f0) * t / max(dur, 1e-6)
        else:  # exponential
            ft = f0 * (f1 / f0) ** (t / max(dur, 1e-6))
        return _osc(ft, sr) * _fade(n, sr, rng)
    if k == "noise":
        nr = np.random.default_rng(rng.randrange(1 << 30))
        x = nr.uniform(-1, 1, n) if rng.random() < 0.5 else np.clip(nr.normal(0, 0.35, n), -1, 1)
        return x
    if k == "silence":
        r = rng.random()
        if r < 0.5:
            return np.zeros(n)
        nr = np.random.default_rng(rng.randrange(1 << 30))
        return nr.normal(0, 1, n) * 10 ** (rng.uniform(-95, -72) / 20)  # faint hiss, far below signal
    raise ValueError(k)


# ------------------------------------------------------------------ speech bank
def espeak_word(word, lang, variant, speed, pitch, amp=100):
    v = lang + ("+" + variant if variant else "")
    p = subprocess.run(["espeak-ng", "-v", v, "-s", str(speed), "-p", str(pitch), "-a", str(amp),
                        "--stdout", word], capture_output=True, check=True)
    b = p.stdout
    # espeak-ng --stdout writes a WAV with 0xFFFFFFFF sizes; the data follows the 44-byte header
    pos = b.find(b"data")
    pcm = np.frombuffer(b[pos + 8:len(b) - ((len(b) - pos - 8) % 2)], dtype="<i2").astype(np.float32) / 32768
    sr = int.from_bytes(b[24:28], "little")
    return pcm, sr


def trim_silence(x, thr=0.01):
    idx = np.nonzero(np.abs(x) > thr * max(1e-9, np.abs(x).max()))[0]
    if len(idx) == 0:
        return x
    return x[max(0, idx[0] - 80):idx[-1] + 80]


def build_speech_bank(path, rng, per_word=48, langs=TRAIN_LANGS, variants=TRAIN_VARIANTS):
    """per_word random (voice, speed, pitch) renderings of each word -> npz (int16 at 22050 Hz)."""
    clips, words, meta = [], [], []
    for w in world.SPEECH_WORDS:
        for _ in range(per_word):
            lang, var = rng.choice(langs), rng.choice(variants)
            speed, pitch = rng.randint(100, 260), rng.randint(10, 90)
            pcm, sr = espeak_word(w, lang, var, speed, pitch)
            pcm = trim_silence(pcm)
            if sr != 22050:
                pcm = resample(pcm, sr, 22050)
            clips.append((np.clip(pcm, -1, 1) * 32767).astype(np.int16))
            words.append(w)
            meta.append("%s+%s s%d p%d" % (lang, var, speed, pitch))
    lens = np.array([len(c) for c in clips], np.int64)
    np.savez_compressed(path, data=np.concatenate(clips), lens=lens, words=np.array(words),
                        meta=np.array(meta))


class SpeechBank:
    def __init__(self, path):
        z = np.load(path)
        self.data, self.lens = z["data"], z["lens"]
        self.offs = np.concatenate([[0], np.cumsum(self.lens)])
        self.words = [str(w) for w in z["words"]]
        self.by_word = {}
        for i, w in enumerate(self.words):
            self.by_word.setdefault(w, []).append(i)

    def get(self, word, rng):
        i = rng.choice(self.by_word[word])
        return self.data[self.offs[i]:self.offs[i + 1]].astype(np.float32) / 32768, 22050


def synth_speech(spec, rng, bank, sr):
    x, bsr = bank.get(spec["word"], rng)
    # tempo/pitch wobble by resampling +-12 %
    if rng.random() < 0.5:
        fac = rng.uniform(0.88, 1.12)
        x = resample(x, int(bsr * fac) // 10 * 10, bsr)
    x = resample(x, bsr, sr)
    wl = len(x) / sr
    dur = max(0.5, wl + rng.uniform(0.05, 1.5)) if rng.random() < 0.8 else min(10.0, wl + rng.uniform(0.1, 8))
    lead = rng.uniform(0, dur - wl) if dur > wl else 0.0
    out = np.zeros(int(dur * sr))
    s0 = int(lead * sr)
    m = min(len(x), len(out) - s0)
    out[s0:s0 + m] = x[:m]
    return out


# ------------------------------------------------------------------ whole clip
def render_sound(spec, rng, bank=None, augment=True, sr=None):
    """spec -> float32 pcm at 16 kHz (what the engine sees after decoding + resampling)."""
    x, sr = render_sound_src(spec, rng, bank, augment, sr)
    return resample(x, sr, SR)


def render_sound_src(spec, rng, bank=None, augment=True, sr=None):
    """spec -> (float32 pcm at the source rate, source rate): what a file would hold."""
    sr = sr or (rng.choice(SOURCE_RATES) if augment else 16000)
    if spec["kind"] == "speech":
        x = synth_speech(spec, rng, bank, sr)
    else:
        x = synth(spec, rng, sr)
    if spec["kind"] != "silence":
        pk = np.abs(x).max()
        if pk > 0:
            x = x / pk
        gain_db = rng.uniform(-40, 0) if augment else -6.0
        x = x * 10 ** (gain_db / 20)
        if augment and rng.random() < 0.25:  # low background hiss, >= 25 dB below the signal
            nr = np.random.default_rng(rng.randrange(1 << 30))
            lvl = np.abs(x).max() * 10 ** (-rng.uniform(25, 60) / 20)
            x = x + nr.normal(0, lvl / 3, len(x))
        if augment and rng.random() < 0.05:  # clipping
            x = np.clip(x * rng.uniform(1.2, 3), -1, 1)
    if augment and rng.random() < 0.5:  # 16-bit (or 8-bit) quantisation
        q = 32768 if rng.random() < 0.9 else 128
        x = np.round(x * q) / q
    x = np.clip(x, -1, 1)
    return x.astype(np.float32), sr



# ------------------------------------------------------------------ files (sox)
def write_audio(path, x, sr, rng):
    """float pcm at sr -> file (format from the extension: wav, flac, ogg), mono or stereo (30 %), via sox."""
    ch = 2 if rng.random() < 0.3 else 1
    if ch == 2:
        x = np.stack([x, x * rng.uniform(0.7, 1.0)], 1)
    raw = np.ascontiguousarray(x, dtype="<f4").tobytes()
    cmd = ["sox", "-t", "f32", "-r", str(sr), "-c", str(ch), "-", "-b", "16"]
    if path.endswith(".ogg"):
        cmd = cmd[:-2]
    subprocess.run(cmd + [path], input=raw, check=True)


def load_pcm_16k(path):
    """Any sound file -> 16 kHz mono float32 via sox (reference only; the engine uses libsndfile+libsamplerate)."""
    p = subprocess.run(["sox", path, "-t", "f32", "-e", "floating-point", "-c", "1", "-r", "16000", "-"],
                       capture_output=True, check=True)
    return np.frombuffer(p.stdout, dtype="<f4").copy()
