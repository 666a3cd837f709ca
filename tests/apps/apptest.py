"""apptest.py - shared helpers of the tests/apps scripts: random-weight models, input files, running mmgpt."""
import os
import subprocess
import sys
import wave

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("MMGPT_SOURCE_DIR", os.path.join(HERE, "..", ".."))
BIN = os.environ.get("MMGPT_BIN")
sys.path.insert(0, os.path.join(HERE, ".."))
import testdata  # noqa: E402
failures = []


def tmpdir(name):
    d = os.path.join(os.environ.get("MMGPT_TEST_TMP", "/tmp"), name)
    os.makedirs(d, exist_ok=True)
    return d


def need_bin():
    if not BIN or not os.path.exists(BIN):
        print("MMGPT_BIN is not set or missing")
        sys.exit(77)


def make_model(d, name, *args):
    """A random-weight combined model with the GPT-2 vocabulary (tests/data/gpt2_bpe)."""
    path = os.path.join(d, name)
    subprocess.run([sys.executable, os.path.join(SRC, "tools", "make_random_mm.py"), "-o", path, "--vocab",
                    testdata.path("gpt2_bpe")] + list(args), check=True, capture_output=True)
    return path


def write_ppm(path, h, w, seed):
    r = np.random.default_rng(seed)
    with open(path, "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (w, h) + (r.random((h, w, 3)) * 255).astype(np.uint8).tobytes())
    return path


def write_tga(path, h, w, seed):
    """Uncompressed 24-bit TGA (no signature bytes: found by trying the decoders)."""
    import struct
    r = np.random.default_rng(seed)
    px = (r.random((h, w, 3)) * 255).astype(np.uint8)
    with open(path, "wb") as f:
        f.write(struct.pack("<BBBHHBHHHHBB", 0, 0, 2, 0, 0, 0, 0, 0, w, h, 24, 0x20) + px[:, :, ::-1].tobytes())
    return path


def write_wav(path, seconds, rate, seed, channels=1):
    r = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    x = 0.3 * np.sin(2 * np.pi * 500 * t) + 0.05 * r.standard_normal(n)
    x = np.repeat(x[:, None], channels, 1)
    with wave.open(path, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((x * 32767).astype("<i2").tobytes())
    return path


def run(args, stdin=None, env=None):
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run([BIN] + args, capture_output=True, input=stdin, env=e)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def check(name, cond, detail=""):
    print("%s %s%s" % ("ok  " if cond else "FAIL", name, "" if cond or not detail else "\n     " + detail))
    if not cond:
        failures.append(name)
    return cond


def finish():
    if failures:
        print("FAILED %d: %s" % (len(failures), "; ".join(failures)))
        return 1
    print("all checks passed")
    return 0


def run_bounded(args, stdin=None, stdout=None, rss_limit_mb=1024, timeout=120):
    """Run mmgpt watching its memory: killed as soon as its resident set passes rss_limit_mb (so a test of
    bounded memory fails fast instead of swapping the machine) or after timeout seconds.
    stdin: bytes to feed, or a file name opened for reading; stdout: None (captured) or a file name.
    Returns (exit code or None when killed, stdout bytes, stderr text, peak RSS in MB, why killed or "")."""
    import threading
    import time
    fin = open(stdin, "rb") if isinstance(stdin, str) else (subprocess.PIPE if stdin is not None else subprocess.DEVNULL)
    fout = open(stdout, "wb") if stdout else subprocess.PIPE
    p = subprocess.Popen([BIN] + args, stdin=fin, stdout=fout, stderr=subprocess.PIPE)
    got = {"out": b"", "err": b""}

    def feed():
        try:
            p.stdin.write(stdin)
            p.stdin.close()
        except (BrokenPipeError, OSError):
            pass

    def drain(name, f):
        got[name] = f.read()

    th = [threading.Thread(target=drain, args=("err", p.stderr))]
    if not stdout:
        th.append(threading.Thread(target=drain, args=("out", p.stdout)))
    if isinstance(stdin, bytes):
        th.append(threading.Thread(target=feed))
    for t in th:
        t.start()
    t0, peak, killed, status, ru = time.time(), 0, "", None, None
    while status is None:
        pid, st, r = os.wait4(p.pid, os.WNOHANG)
        if pid:
            status, ru = st, r
            break
        try:
            with open("/proc/%d/status" % p.pid) as f:
                for ln in f:
                    if ln.startswith("VmRSS:"):
                        peak = max(peak, int(ln.split()[1]) / 1024)
        except OSError:
            pass
        if not killed and peak > rss_limit_mb:
            killed = "resident memory %.0f MB > %d MB" % (peak, rss_limit_mb)
        if not killed and time.time() - t0 > timeout:
            killed = "still running after %d s" % timeout
        if killed:
            p.kill()
        time.sleep(0.02)
    p.returncode = os.waitstatus_to_exitcode(status)
    for t in th:
        t.join()
    for f in (fin, fout):
        if hasattr(f, "close"):
            f.close()
    peak = max(peak, ru.ru_maxrss / 1024)
    return (None if killed else p.returncode), got["out"], got["err"].decode("utf-8", "replace"), peak, killed


def reference_image_rows(ref_fused, rm, model, img, d):
    """The projected rows of a picture computed by the reference (tests/fusion/ref_fused.py) from the
    program's preprocessed pixels (`encode-image --preprocessed`); None after a failed check."""
    pix = os.path.join(d, "pix.npy")
    rc, _, err = run(["encode-image", "-m", model, img, "-o", os.path.join(d, "enc.npy"), "--preprocessed", pix])
    if not check("encode-image for the reference", rc == 0, err):
        return None
    return ref_fused.project_image(rm, ref_fused.vit(rm, np.load(pix)))
