#!/usr/bin/python3
"""fus_api: the usage example of include/mmgpt.h (extracted by CMake, compiled with -Werror) runs on a
random-weight combined model and prints the same caption as `mmgpt caption` (same template, greedy);
then test_api_threads checks two contexts on one model in two threads against each alone, media from
memory vs file, and the error statuses of the API; test_api_args checks NULL / invalid arguments of every
public function and that sampled text reaches the callback as valid UTF-8.

usage: test_api.py EXAMPLE_BIN THREADS_BIN ARGS_BIN
"""
import os
import subprocess
import sys
import wave

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("MMGPT_SOURCE_DIR", os.path.join(HERE, "..", ".."))
BIN = os.environ.get("MMGPT_BIN")
TMP = os.path.join(os.environ.get("MMGPT_TEST_TMP", "/tmp"), "fus_api")
sys.path.insert(0, os.path.join(HERE, ".."))
import testdata  # noqa: E402


def main():
    example, threads, args_bin = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(TMP, exist_ok=True)
    model = os.path.join(TMP, "m.gguf")
    subprocess.run([sys.executable, os.path.join(SRC, "tools", "make_random_mm.py"), "-o", model, "--seed", "11",
                    "--vocab", testdata.path("gpt2_bpe")], check=True, capture_output=True)
    r = np.random.default_rng(3)
    img = os.path.join(TMP, "i.ppm")
    with open(img, "wb") as f:
        f.write(b"P6\n37 23\n255\n" + (r.random((23, 37, 3)) * 255).astype(np.uint8).tobytes())
    wav = os.path.join(TMP, "s.wav")
    with wave.open(wav, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(22050)
        w.writeframes((r.standard_normal(int(22050 * 0.8)) * 3000).astype("<i2").tobytes())
    txt = os.path.join(TMP, "notes.txt")
    with open(txt, "w") as f:
        f.write("just some text, not a picture\n")

    fails = 0
    p = subprocess.run([example, model, img], capture_output=True)
    if p.returncode != 0:
        print("FAIL: the header example exited %d: %s" % (p.returncode, p.stderr.decode(errors="replace")))
        fails += 1
    else:
        q = subprocess.run([BIN, "caption", "-m", model, "-n", "16", "-t", "2", "-q", img], capture_output=True)
        want = q.stdout.rstrip(b"\n")
        ok = q.returncode == 0 and p.stdout == want and len(p.stdout) > 0
        print("%s header example output == mmgpt caption -n 16: %r" % ("ok  " if ok else "FAIL", p.stdout[:80]))
        if not ok:
            print("  example: %r\n  caption: %r (rc %d %s)" % (p.stdout, want, q.returncode, q.stderr))
            fails += 1
    for nt in ("1", "2"):  # each context's pool: 1 thread, then 2 (OpenBLAS used from both contexts at once)
        # read as bytes: the answers are sampled from a random model and need not be valid UTF-8 (its exit
        # status is the verdict; the text is shown with any invalid byte as a \xNN escape)
        p = subprocess.run([threads, model, img, wav, txt, nt], capture_output=True)
        print((p.stdout + p.stderr).decode("utf-8", errors="backslashreplace"))
        if p.returncode != 0:
            print("FAIL: test_api_threads (%s threads per context) exited %d" % (nt, p.returncode))
            fails += 1
    p = subprocess.run([args_bin, model, img], capture_output=True)
    print(p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace"))
    if p.returncode != 0:
        print("FAIL: test_api_args exited %d" % p.returncode)
        fails += 1
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
