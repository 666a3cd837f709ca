"""aud_cli: `mmgpt mel` and `mmgpt encode-audio` command lines - help, exit codes and one-line errors.

Exit codes (apps/cli.h): 0 ok, 2 usage, 3 bad input file, 4 model problem. Errors are one line
"mmgpt: <file>: <problem>" on stderr; results go to the -o file, nothing to stdout except --help.
Also: `mmgpt mel --pad-30s` of jfk.wav equals jfk_wav_logmel80_derived.npy (<= 1e-4) and `--n-mels 128`
gives [128, n_samples // 160]; the empty-clip and 0-sample cases write valid (empty) arrays.
"""
import os
import subprocess
import sys
import wave

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import testdata  # noqa: E402

BIN = os.environ.get("MMGPT_BIN", "")
TMP = os.environ.get("MMGPT_TEST_TMP", "/tmp")
if not BIN or not os.path.exists(BIN):
    print("MMGPT_BIN not found: skipped")
    sys.exit(77)

fails = []


def run(args, want_rc, want_err=None, name=None):
    r = subprocess.run([BIN] + args, capture_output=True, text=True)
    errl = [l for l in r.stderr.splitlines() if l.startswith("mmgpt:")]
    ok = r.returncode == want_rc
    if want_rc not in (0,) and ok:
        ok = len(errl) == 1 and (want_err is None or want_err in errl[0])
    print("%-4s %-40s rc %d %s" % ("ok" if ok else "FAIL", name or " ".join(args[:3]), r.returncode,
                                    errl[0] if errl else ""))
    if not ok:
        fails.append(name or " ".join(args))
        print(r.stdout[-500:], r.stderr[-500:])
    return r


def t(p):
    return os.path.join(TMP, "aud_cli_" + p)


empty = t("empty.wav")
open(empty, "wb").close()
text = t("text.wav")
with open(text, "w") as f:
    f.write("not audio\n")
zero = t("zero.wav")
with wave.open(zero, "wb") as w:
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(16000)
    w.writeframes(b"")

r = run(["mel", "--help"], 0, name="mel --help")
if "usage" not in r.stdout:
    fails.append("mel --help prints no usage")
run(["encode-audio", "--help"], 0, name="encode-audio --help")
run(["mel"], 2, "no AUDIO", name="mel (no args)")
run(["mel", zero], 2, "-o", name="mel without -o")
run(["mel", zero, "-o", t("x.npy"), "--n-mels", "64"], 2, "--n-mels", name="mel --n-mels 64")
run(["mel", zero, "-o", t("x.npy"), "--bogus"], 2, "--bogus", name="mel --bogus")
run(["mel", empty, "-o", t("x.npy")], 3, "empty", name="mel empty file")
run(["mel", text, "-o", t("x.npy")], 3, "text.wav", name="mel text named .wav")
run(["mel", t("missing.wav"), "-o", t("x.npy")], 3, "missing.wav", name="mel missing file")
run(["mel", zero, "-o", t("zero.npy")], 0, name="mel 0-sample clip")
if os.path.exists(t("zero.npy")):
    a = np.load(t("zero.npy"))
    if a.shape != (80, 0):
        fails.append("0-sample mel shape %s" % (a.shape,))
run(["mel", zero, "-o", t("zero30.npy"), "--pad-30s"], 0, name="mel 0-sample clip --pad-30s")
if os.path.exists(t("zero30.npy")):
    a = np.load(t("zero30.npy"))
    if a.shape != (80, 3000) or np.abs(a + 1.5).max() > 1e-6:
        fails.append("0-sample --pad-30s mel should be -1.5 everywhere, shape (80, 3000)")
run(["encode-audio", zero, "-o", t("x.npy"), "-m", t("missing.gguf")], 4, "missing.gguf", name="encode-audio missing model")
run(["encode-audio", zero, "-o", t("x.npy"), "-m", text], 4, name="encode-audio text as model")

# a GGUF without an audio encoder
sys.path.insert(0, os.path.join(os.environ.get("MMGPT_SOURCE_DIR", "."), "tools"))
try:
    import mmgguf
    g = mmgguf.GGUFWriter()
    g.add_str("general.architecture", "clip")
    g.add_tensor("v.dummy", np.zeros(4, np.float32))
    g.write(t("noaudio.gguf"))
    run(["encode-audio", zero, "-o", t("x.npy"), "-m", t("noaudio.gguf")], 4, "audio", name="encode-audio model w/o audio")
except ImportError:
    print("(tools/mmgguf.py not importable: no-audio-model case skipped)")

# Nothing to hear: a header-only WAV and a one-sample WAV are input errors (exit 3) for every command that
# encodes audio, with one line giving the clip's length and the shortest accepted (0.1 s, mm_audio.h), and
# nothing on stdout (before: `describe` printed "one short beep", exit 0). 1600 samples (0.1 s) are accepted.
demo = os.path.join(os.environ.get("MMGPT_SOURCE_DIR", "."), "assets", "models", "mmgpt-demo.gguf")
one = t("one.wav")
shortest = t("shortest.wav")
for path, frames in ((one, b"\x10\x00"), (shortest, (np.sin(np.arange(1600) * 0.2) * 8000).astype("<i2").tobytes())):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(frames)
if os.path.exists(demo):
    for path, n in ((zero, 0), (one, 1)):
        label = "%d-sample clip" % n
        r = run(["describe", "-m", demo, path], 3, "0.1 s", name="describe " + label)
        if r.stdout or "(%d samples" % n not in r.stderr:
            fails.append("describe %s: stdout %r, stderr %r" % (label, r.stdout, r.stderr))
        run(["encode-audio", "-m", demo, path, "-o", t("x.npy")], 3, "0.1 s", name="encode-audio " + label)
        run(["ask", "-m", demo, path, "what is it?"], 3, "0.1 s", name="ask " + label)
    r = run(["describe", "-m", demo, shortest], 0, name="describe 0.1 s clip")
    if not r.stdout.strip():
        fails.append("describe of a 0.1 s clip printed nothing")
    run(["encode-audio", "-m", demo, shortest, "-o", t("x.npy")], 0, name="encode-audio 0.1 s clip")
else:
    fails.append("bundled model %s not found" % demo)

# malformed audio encoders: each must be refused with exit 4 and a message naming the problem
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_audio  # noqa: E402

hp0 = dict(n_mels=80, d=32, n_head=2, d_ff=64, n_layer=1, max_frames=200, pad_to_window=True, eps=1e-5)
bad = [
    ("missing a.conv1d.2.bias", dict(), lambda w: w.pop("a.conv1d.2.bias"), "a.conv1d.2.bias"),
    ("conv1 wrong n_mels", dict(), lambda w: w.__setitem__("a.conv1d.1.weight", np.zeros((32, 81, 3), np.float32)),
     "a.conv1d.1.weight"),
    ("missing a.blk.0.ffn_up.weight", dict(), lambda w: w.pop("a.blk.0.ffn_up.weight"), "ffn_up"),
    ("too few positions for the window", dict(n_pos=50), lambda w: None, "max_frames"),
    ("d not a multiple of heads", dict(n_head=3), lambda w: None, "head"),
    ("missing positions", dict(), lambda w: w.pop("a.position_embd.weight"), "position_embd"),
]
for i, (label, hchange, mutate, want) in enumerate(bad):
    hp = dict(hp0, **hchange)
    w = ref_audio.random_weights(hp, 0)
    mutate(w)
    path = t("bad_%d.gguf" % i)
    ref_audio.write_gguf(path, hp, w)
    run(["encode-audio", zero, "-o", t("x.npy"), "-m", path], 4, want, name="bad model: " + label)

jfk = testdata.path("whisper", "jfk.wav")
run(["mel", jfk, "-o", t("jfk30.npy"), "--pad-30s", "-t", "2"], 0, name="mel jfk.wav --pad-30s")
a = np.load(t("jfk30.npy"))
b = np.load(testdata.path("whisper", "jfk_wav_logmel80_derived.npy"))
d = float(np.abs(a - b).max()) if a.shape == b.shape else 1e9
print("%-4s jfk.wav --pad-30s vs derived reference: max|diff| %.2e (tol 1e-4)" % ("ok" if d <= 1e-4 else "FAIL", d))
if d > 1e-4:
    fails.append("jfk --pad-30s")
run(["mel", jfk, "-o", t("jfk128.npy"), "--n-mels", "128"], 0, name="mel jfk.wav --n-mels 128")
if np.load(t("jfk128.npy")).shape != (128, 1100):
    fails.append("jfk 128 shape")
run(["mel", jfk, "-o", t("x.npy"), "--max-seconds", "5"], 3, "limit", name="mel jfk.wav --max-seconds 5")

print("aud_cli: %d failed" % len(fails) if fails else "aud_cli: all checks passed")
sys.exit(1 if fails else 0)
