"""aud_resample: mmgpt's loader (libsndfile decode -> mono -> libsamplerate 16 kHz) vs an independent
numpy pipeline on the real clips in tests/data.

Independent path: the file is decoded by calling libsndfile from Python (ctypes; decoding is not what
is tested), channels are averaged in numpy, and the clip is resampled in numpy by exact band-limited
(FFT) interpolation: zero-padded at both ends (as libsamplerate treats the outside of the clip) to a
length whose ratio to 16 kHz is exact, spectrum cut at 8 kHz. mmgpt's PCM comes from `mmgpt mel
--pcm` (the same loader the encoders use).

Tolerances (stated; the two resamplers differ only in the anti-alias filter's transition band, which
libsamplerate's SINC_BEST puts at ~97% of 8 kHz, the FFT reference at exactly 8 kHz):
  * length = round(n_frames * 16000 / rate), exactly;
  * in-band SNR (both low-passed at 7.5 kHz, 50 ms trimmed at each end) > 80 dB for every 44.1 / 48 kHz
    clip (measured ~110-130 dB); the full-band SNR is printed (it depends on how much energy the clip
    has between 7.5 and 8 kHz);
  * the 16 kHz Ogg clip is not resampled: equal to the direct decode within 1e-7;
  * common_voice 48 kHz vs its 16 kHz float32 decode by ffmpeg (another resampler, whose shorter filter
    starts rolling off lower, so the band is 0..7 kHz): SNR > 50 dB (measured ~65 dB);
  * jfk.flac (44.1 kHz stereo 24-bit) vs jfk.wav (the same speech as 16 kHz int16): in-band SNR > 60 dB,
    and their log-mels (mmgpt mel): mean |diff| < 1e-3, max |diff| < 0.02 over mel bins 0..76 (the top
    three bins, ~7.3-8 kHz, lie in the two resamplers' transition bands).
"""
import os
import subprocess
import sys
import wave
from math import gcd

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sndfile_py  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import testdata  # noqa: E402

BIN = os.environ.get("MMGPT_BIN", "")
TMP = os.environ.get("MMGPT_TEST_TMP", "/tmp")
if not BIN or not os.path.exists(BIN):
    print("MMGPT_BIN not found: skipped")
    sys.exit(77)

def decode(path):
    return sndfile_py.read(path)


def fft_resample(x, sr, n_out, sr_out=16000):
    """Band-limited resampling of x (float64) from sr to sr_out; returns n_out samples from t = 0."""
    q = sr // gcd(sr, sr_out)
    pad = q * ((sr // 2) // q + 1)                       # >= 0.5 s of zeros, a multiple of q
    tail = pad + (-(len(x) + 2 * pad)) % q
    xp = np.concatenate([np.zeros(pad), x, np.zeros(tail)])
    n_in, n_tot = len(xp), len(xp) * sr_out // sr
    X = np.fft.rfft(xp)
    Y = np.zeros(n_tot // 2 + 1, complex)
    k = min(len(X), len(Y))
    Y[:k] = X[:k]
    if n_tot % 2 == 0:
        Y[-1] = Y[-1].real
    y = np.fft.irfft(Y, n_tot) * (n_tot / n_in)
    o = pad * sr_out // sr
    return y[o:o + n_out]


def lowpass(x, fc, sr=16000):
    X = np.fft.rfft(x)
    X[np.fft.rfftfreq(len(x), 1.0 / sr) > fc] = 0
    return np.fft.irfft(X, len(x))


def snr(ref, x):
    return 10 * np.log10(np.sum(ref ** 2) / max(np.sum((ref - x) ** 2), 1e-300))


def mmgpt_pcm(path, tag):
    pcm, mel = os.path.join(TMP, "aud_rs_%s.npy" % tag), os.path.join(TMP, "aud_rs_%s_mel.npy" % tag)
    r = subprocess.run([BIN, "mel", path, "-o", mel, "--pcm", pcm, "-t", "2"], capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError("mmgpt mel %s: exit %d %s" % (path, r.returncode, r.stderr))
    return np.load(pcm).astype(np.float64), np.load(mel)


fails = []


def check(ok, msg):
    print(("ok    " if ok else "FAIL  ") + msg)
    if not ok:
        fails.append(msg)


E = 800  # 50 ms trimmed at each end
clips = ["whisper/jfk.flac", "audio/librosa_sorohanro_-_solo-trumpet-06.hq.ogg",
         "audio/librosa_456440__inspectorj__bird-whistling-robin-single-13.hq.ogg",
         "audio/common_voice_a6c7706a_48k.wav", "audio/librosa_198-209-0000.hq.ogg"]
got = {}
for rel in clips:
    path = testdata.path(rel)
    x, sr = decode(path)
    mono = x.astype(np.float64).mean(1)
    c, _ = mmgpt_pcm(path, os.path.basename(rel).split(".")[0][:24])
    got[rel] = c
    n_want = int(np.floor(len(mono) * 16000 / sr + 0.5))
    check(len(c) == n_want, "%s: %d Hz x %d ch, %d frames -> %d samples (want %d)"
          % (rel, sr, x.shape[1], len(x), len(c), n_want))
    if len(c) != n_want:
        continue
    if sr == 16000:
        d = float(np.abs(c - mono).max())
        check(d <= 1e-7, "%s: 16 kHz, not resampled: max|diff| vs direct decode %.2e (tol 1e-7)" % (rel, d))
        continue
    r = fft_resample(mono, sr, len(c))
    sl = slice(E, len(c) - E)
    s_in = snr(lowpass(r, 7500)[sl], lowpass(c, 7500)[sl])
    s_full = snr(r[sl], c[sl])
    check(s_in > 80, "%s: vs numpy band-limited resampling: in-band SNR %.1f dB (> 80), full-band %.1f dB"
          % (rel, s_in, s_full))

# common voice vs ffmpeg's 16 kHz decode
cv = got.get("audio/common_voice_a6c7706a_48k.wav")
ff = np.fromfile(testdata.path("audio", "common_voice_a6c7706a_pcm_f32le_16000.bin"), "<f4").astype(np.float64)
if cv is not None:
    n = min(len(cv), len(ff))
    check(len(cv) == len(ff), "common_voice: %d samples, ffmpeg %d" % (len(cv), len(ff)))
    sl = slice(E, n - E)
    s_in = snr(lowpass(ff[:n], 7000)[sl], lowpass(cv[:n], 7000)[sl])
    check(s_in > 50, "common_voice 48k -> 16k vs ffmpeg's decode: SNR below 7 kHz %.1f dB (> 50), full-band %.1f dB"
          % (s_in, snr(ff[sl], cv[:n][sl])))

# jfk.flac (44.1 kHz stereo 24-bit) vs jfk.wav (16 kHz int16)
with wave.open(testdata.path("whisper", "jfk.wav"), "rb") as w:
    jw = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64) / 32768.0
jf = got.get("whisper/jfk.flac")
if jf is not None and len(jf) == len(jw):
    sl = slice(E, len(jw) - E)
    s_in = snr(lowpass(jw, 7500)[sl], lowpass(jf, 7500)[sl])
    check(s_in > 60, "jfk.flac -> 16 kHz vs jfk.wav: in-band SNR %.1f dB (> 60)" % s_in)
    _, mf = mmgpt_pcm(testdata.path("whisper", "jfk.flac"), "jfkflac")
    _, mw = mmgpt_pcm(testdata.path("whisper", "jfk.wav"), "jfkwav")
    ok = mf.shape == mw.shape == (80, 1100)
    d = np.abs(mf - mw) if ok else np.ones((1, 1))
    check(ok and d.mean() < 1e-3 and d[:77].max() < 0.02,
          "jfk.flac vs jfk.wav log-mel %s: mean|diff| %.2e (< 1e-3), max|diff| bins 0..76 %.4f (< 0.02)"
          % (mf.shape, d.mean(), d[:77].max()))
else:
    check(False, "jfk.flac: %s samples vs jfk.wav %d" % (None if jf is None else len(jf), len(jw)))

print("aud_resample: %d failed" % len(fails) if fails else "aud_resample: all checks passed")
sys.exit(1 if fails else 0)
