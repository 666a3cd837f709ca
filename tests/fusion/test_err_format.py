#!/usr/bin/python3
"""fus_err_format: one error style (issue 15.4, include/mm_core.h at mm_err). err_tool provokes errors in every
module (core, tokenizer, transformer, encoders, fusion's projector, the product API) and prints each message;
this checks the format the header states:
  - one line, "SUBJECT: ...", no trailing newline or period;
  - a message about a file starts with that file's path and ": ", and names it once at the front (nobody
    added it twice, nobody dropped it);
  - no C function name except a public one (declared in include/*.h) at the very start of a message about no
    file: never "mm_xxx: " inside a message, never after a path, never an internal (static) function's name.
Before the change the image decoder wrote "mm_image_load: PATH: ...", the ViT loader "mm_vit_model_load: key
...", the audio loader "audio model: ..." without the file, and mmgpt.c parsed and rewrote them."""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "apps"))
from apptest import SRC, testdata, tmpdir, write_ppm, write_wav  # noqa: E402


def public_functions():
    names = set()
    for f in os.listdir(os.path.join(SRC, "include")):
        if f.endswith(".h"):
            with open(os.path.join(SRC, "include", f), encoding="utf-8") as h:
                names.update(re.findall(r"\b((?:mm|mmgpt)_[a-z0-9_]+)\s*\(", h.read()))
    return names


def main():
    tool = sys.argv[1]
    d = tmpdir("err_format")
    model = os.path.join(d, "m.gguf")
    text, proj = os.path.join(d, "text.gguf"), os.path.join(d, "mmproj48.gguf")
    mk = [sys.executable, os.path.join(SRC, "tools", "make_random_mm.py"), "--vocab", testdata.path("gpt2_bpe")]
    subprocess.run(mk + ["-o", model, "--seed", "2"], check=True, capture_output=True)
    subprocess.run(mk + ["-o", text, "--mmproj-out", proj, "--proj-out", "48"], check=True, capture_output=True)
    garbage = os.path.join(d, "garbage.gguf")
    with open(garbage, "wb") as f:
        f.write(b"GGUF\x03\x00\x00\x00" + bytes(range(64)))
    png = os.path.join(d, "broken.png")
    with open(png, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    wav = os.path.join(d, "broken.wav")
    with open(wav, "wb") as f:
        f.write(b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + b"\xff" * 10)
    missing = os.path.join(d, "missing.gguf")
    r = subprocess.run([tool, model, text, proj, garbage, png, wav, d, missing], capture_output=True, text=True)
    if r.returncode != 0:
        print("FAIL err_tool exited %d: %s" % (r.returncode, r.stderr))
        return 1
    pub = public_functions()
    bad, modules = [], set()
    func_re = re.compile(r"\b((?:mm|mmgpt)_[a-z0-9_]+): ")
    for line in r.stdout.splitlines():
        module, file, msg = line.split("\t", 2)
        modules.add(module)
        why = []
        if msg == "(no error)":
            why.append("the call did not fail")
        if not re.match(r"^[^:\n]+: \S", msg) or msg.endswith(".") or msg.endswith("\n"):
            why.append("not one line 'SUBJECT: ...'")
        if file != "-":
            if not msg.startswith(file + ": "):
                why.append("does not start with its file")
            if msg.count(file) != 1:
                why.append("names its file %d times" % msg.count(file))
        for m in func_re.finditer(msg):
            if m.start() != 0 or file != "-":
                why.append("function name '%s' inside the message" % m.group(1))
            elif m.group(1) not in pub:
                why.append("'%s' is not a public function" % m.group(1))
        print("%s %-12s %s" % ("FAIL" if why else "ok  ", module, msg.replace(d + "/", "")))
        if why:
            print("     -> " + "; ".join(why))
            bad.append(msg)
    want = {"core", "tokenizer", "transformer", "encoders", "fusion", "mmgpt"}
    if modules != want:
        print("FAIL modules seen %s, want %s" % (sorted(modules), sorted(want)))
        return 1
    if bad:
        print("FAILED: %d message(s) out of format" % len(bad))
        return 1
    print("all messages follow the format")
    return 0


if __name__ == "__main__":
    sys.exit(main())
