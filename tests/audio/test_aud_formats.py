"""aud_formats: every container/codec the loader promises, on a synthetic signal with a known answer.

A two-tone signal x(t) = 0.4 sin(2 pi 440 t) + 0.2 sin(2 pi 1250 t) (stereo files: the right channel
is 0.5 x(t) + 0.1, so the mono mix is 0.75 x(t) + 0.05) is written by libsndfile (called from Python
through ctypes: the writer is not what is tested) as WAV int16 / int24 / float32 / uint8, AIFF,
FLAC, Ogg Vorbis, Ogg Opus and MP3 at 8 to 96 kHz. `mmgpt mel --pcm` must give 16 kHz mono PCM that
matches x(t) sampled analytically at 16 kHz (no resampler involved on the reference side):
  * lossless formats: length = round(n * 16000 / rate) and SNR > 80 dB over the interior (0.05 s
    trimmed at each end; measured 87-145 dB), > 35 dB for uint8 (8-bit quantisation: ~40 dB);
  * lossy formats (Vorbis, Opus, MP3; codec delay/padding differ): length within 0.1 s, and the
    magnitude spectrum's two peaks at 440 and 1250 Hz with levels within 1.5 dB of the analytic ones.
Formats this libsndfile cannot write (MP3/Opus on older builds) are reported and skipped.
"""
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sndfile_py  # noqa: E402

BIN = os.environ.get("MMGPT_BIN", "")
TMP = os.environ.get("MMGPT_TEST_TMP", "/tmp")
if not BIN or not os.path.exists(BIN):
    print("MMGPT_BIN not found: skipped")
    sys.exit(77)

from sndfile_py import WAV, AIFF, FLAC, OGG, MPEG  # noqa: E402
PCM_16, PCM_24, PCM_U8, FLOAT, VORBIS, OPUS, MP3 = 0x2, 0x3, 0x5, 0x6, 0x60, 0x64, 0x82


def sig(t):
    return 0.4 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 1250 * t)


def write(path, fmt, sr, ch, seconds=1.5):
    n = int(seconds * sr)
    t = np.arange(n) / sr
    x = sig(t)
    data = np.stack([x, 0.5 * x + 0.1], 1) if ch == 2 else x[:, None]
    return n if sndfile_py.write(path, data, sr, fmt) else None


def peak_db(x, f, sr=16000):
    w = np.hanning(len(x))
    X = np.abs(np.fft.rfft(x * w)) / (w.sum() / 2)
    k = int(round(f * len(x) / sr))
    return 20 * np.log10(X[k - 3:k + 4].max() + 1e-30)


cases = [  # name, format, rate, channels, lossy
    ("s16_44k1_stereo.wav", WAV | PCM_16, 44100, 2, False),
    ("s24_96k_mono.wav", WAV | PCM_24, 96000, 1, False),
    ("f32_22k05_stereo.wav", WAV | FLOAT, 22050, 2, False),
    ("u8_8k_mono.wav", WAV | PCM_U8, 8000, 1, False),
    ("s16_48k_mono.aiff", AIFF | PCM_16, 48000, 1, False),
    ("s24_44k1_stereo.flac", FLAC | PCM_24, 44100, 2, False),
    ("s16_16k_mono.flac", FLAC | PCM_16, 16000, 1, False),
    ("vorbis_44k1_stereo.ogg", OGG | VORBIS, 44100, 2, True),
    ("opus_48k_mono.opus", OGG | OPUS, 48000, 1, True),
    ("mp3_44k1_mono.mp3", MPEG | MP3, 44100, 1, True),
]
fails, skipped = [], []
E = 800
for name, fmt, sr, ch, lossy in cases:
    path = os.path.join(TMP, "aud_fmt_" + name)
    n = write(path, fmt, sr, ch)
    if n is None:
        skipped.append(name)
        print("skip %-26s this libsndfile cannot write it" % name)
        continue
    pcm_path = os.path.join(TMP, "aud_fmt_" + name + ".npy")
    r = subprocess.run([BIN, "mel", path, "-o", os.path.join(TMP, "aud_fmt_mel.npy"), "--pcm", pcm_path],
                       capture_output=True, text=True)
    if r.returncode:
        fails.append(name)
        print("FAIL %-26s mmgpt exit %d: %s" % (name, r.returncode, r.stderr.strip()))
        continue
    got = np.load(pcm_path).astype(np.float64)
    want_n = int(np.floor(n * 16000 / sr + 0.5))
    t = np.arange(want_n) / 16000.0
    ref = sig(t) * (0.75 if ch == 2 else 1.0) + (0.05 if ch == 2 else 0.0)
    if not lossy:
        ok = len(got) == want_n
        s = 10 * np.log10(np.sum(ref[E:-E] ** 2) / np.sum((ref[E:-E] - got[E:-E]) ** 2)) if ok else -1
        lim = 35 if "u8" in name else 80
        ok = ok and s > lim
        print("%-4s %-26s %d Hz x %d: %d samples (want %d), SNR vs analytic %.1f dB (> %d)"
              % ("ok" if ok else "FAIL", name, sr, ch, len(got), want_n, s, lim))
    else:
        ok = abs(len(got) - want_n) <= 1600
        m = min(len(got), want_n)
        seg_g, seg_r = got[E:m - E] - got[E:m - E].mean(), ref[E:m - E] - ref[E:m - E].mean()
        d1 = abs(peak_db(seg_g, 440) - peak_db(seg_r, 440))
        d2 = abs(peak_db(seg_g, 1250) - peak_db(seg_r, 1250))
        ok = ok and d1 < 1.5 and d2 < 1.5
        print("%-4s %-26s %d Hz x %d: %d samples (want %d +- 1600), peak level diff 440 Hz %.2f dB, 1250 Hz %.2f dB (< 1.5)"
              % ("ok" if ok else "FAIL", name, sr, ch, len(got), want_n, d1, d2))
    if not ok:
        fails.append(name)

print("aud_formats: %d failed, %d skipped" % (len(fails), len(skipped)) if fails
      else "aud_formats: all %d formats passed (%d skipped)" % (len(cases) - len(skipped), len(skipped)))
sys.exit(1 if fails else 0)
