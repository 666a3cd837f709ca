#!/usr/bin/python3
"""app_errors: every error case of the media commands gives ONE line on stderr, "mmgpt: ...", naming the
file and the problem, with the exit code of its kind (apps/cli.h: 2 usage, 3 input, 4 model). The
expected codes and message fragments are the documented contract (include/mmgpt.h, apps/cli.h)."""
import os
import sys

from apptest import (check, finish, make_model, need_bin, run, tmpdir, write_ppm, write_wav)


def expect(name, args, code, *frags, stdin=None, env=None):
    rc, out, err = run(args, stdin=stdin, env=env)
    lines = [ln for ln in err.split("\n") if ln]
    ok = rc == code and len(lines) == 1 and lines[0].startswith("mmgpt: ") and all(f in err for f in frags)
    check("%s -> exit %d" % (name, code), ok, "exit %d, stderr %r, stdout %r (want fragments %r)" % (rc, err, out[:200],
                                                                                                  frags))


def main():
    need_bin()
    d = tmpdir("app_errors")
    m = make_model(d, "m.gguf", "--seed", "2")
    novis = make_model(d, "novision.gguf", "--seed", "2", "--no-vision")
    noaud = make_model(d, "noaudio.gguf", "--seed", "2", "--no-audio")
    small = make_model(d, "small.gguf", "--seed", "2", "--n-ctx", "40")
    img = write_ppm(os.path.join(d, "pic.ppm"), 20, 30, 1)
    wav = write_wav(os.path.join(d, "beep.wav"), 0.6, 16000, 2)
    txt = os.path.join(d, "notes.txt")
    with open(txt, "w") as f:
        f.write("plain text, neither picture nor sound\n")
    empty = os.path.join(d, "empty.png")
    open(empty, "wb").close()
    badjpg = os.path.join(d, "broken.jpg")
    with open(badjpg, "wb") as f:
        f.write(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xdb\x00")
    badpng = os.path.join(d, "broken.png")
    with open(badpng, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    badwav = os.path.join(d, "broken.wav")
    with open(badwav, "wb") as f:
        f.write(b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + b"\xff" * 10)
    utf16 = os.path.join(d, "notes16.txt")   # UTF-16LE text (as Windows Notepad saves it): FF FE reads as an MPEG header
    with open(utf16, "wb") as f:
        f.write("\ufeffhello, this is a note saved as UTF-16, neither picture nor sound\n".encode("utf-16-le") * 40)
    badmodel = os.path.join(d, "garbage.gguf")
    with open(badmodel, "wb") as f:
        f.write(b"GGUF\x03\x00\x00\x00" + os.urandom(64))
    # a text model + an mmproj whose projectors output 48 while the decoder's d_model is 64
    import subprocess
    from apptest import SRC, testdata
    tm, mp = os.path.join(d, "text.gguf"), os.path.join(d, "mmproj48.gguf")
    subprocess.run([sys.executable, os.path.join(SRC, "tools", "make_random_mm.py"), "-o", tm, "--mmproj-out", mp,
                    "--proj-out", "48", "--vocab", testdata.path("gpt2_bpe")], check=True, capture_output=True)

    # ---- input files (exit 3)
    expect("caption: missing file", ["caption", "-m", m, os.path.join(d, "nope.png")], 3, "nope.png",
           "No such file")
    expect("describe: missing file", ["describe", "-m", m, os.path.join(d, "nope.wav")], 3, "nope.wav")
    expect("ask: missing file", ["ask", "-m", m, os.path.join(d, "nope.jpg"), "what?"], 3, "nope.jpg")
    expect("caption: empty file", ["caption", "-m", m, empty], 3, "empty.png", "empty")
    expect("caption: corrupt JPEG", ["caption", "-m", m, badjpg], 3, "broken.jpg")
    expect("caption: corrupt PNG", ["caption", "-m", m, badpng], 3, "broken.png")
    expect("describe: corrupt WAV", ["describe", "-m", m, badwav], 3, "broken.wav")
    expect("caption: a sound file", ["caption", "-m", m, wav], 3, "beep.wav", "not an image")
    expect("describe: a picture", ["describe", "-m", m, img], 3, "pic.ppm", "not a sound")
    expect("ask: a text file", ["ask", "-m", m, txt, "what is it?"], 3, "notes.txt", "not a supported image or audio")
    # a UTF-16 text was taken for MP3 ("this is a sound file", then libsndfile's "File does not exist" and a
    # libmpg123 warning line on stderr)
    expect("caption: a UTF-16 text file", ["caption", "-m", m, utf16], 3, "notes16.txt", "not a readable image")
    expect("ask: a UTF-16 text file", ["ask", "-m", m, utf16, "what is it?"], 3, "notes16.txt",
           "not a supported image or audio")
    expect("describe: a UTF-16 text file", ["describe", "-m", m, utf16], 3, "notes16.txt", "not a readable sound file")
    expect("chat: missing --image", ["chat", "-m", m, "--image", os.path.join(d, "gone.png")], 3, "gone.png")
    expect("generate: missing --audio", ["generate", "-m", m, "-p", "x", "--audio", os.path.join(d, "gone.wav")], 3,
           "gone.wav")
    expect("ask: prompt over the context", ["ask", "-m", small, img, "why " * 30], 3, "pic.ppm", "context")
    expect("caption: prompt over the context (-c)", ["caption", "-m", m, "-c", "20", img], 3, "context")
    expect("caption: image rows over the context (-c)", ["caption", "-m", m, "-c", "12", img], 3, "pic.ppm",
           "an image takes 16 positions, over the context of 12")
    long_wav = write_wav(os.path.join(d, "long.wav"), 12.0, 8000, 3)
    expect("describe: clip rows over the context", ["describe", "-m", small, long_wav], 3, "long.wav",
           "12.0 s of audio take", "over the context of 40")

    # ---- messages tell the truth: a directory is named as one (it once read "empty file"), and a pipe
    # (/dev/stdin) is read once and decoded from memory, with the same result as the file (audio once failed
    # "Format not recognised" because the format sniff had consumed the pipe's first bytes)
    for cmd, extra in (("caption", []), ("describe", []), ("ask", ["what?"]),
                       ("encode-image", ["-o", os.path.join(d, "x.npy")]),
                       ("encode-audio", ["-o", os.path.join(d, "x.npy")]), ("mel", ["-o", os.path.join(d, "x.npy")])):
        rc, out, err = run([cmd, "-m", m, d] + extra if cmd != "mel" else [cmd, d] + extra)
        check("%s DIRECTORY -> exit 3, 'is a directory'" % cmd,
              rc == 3 and "is a directory" in err and "empty" not in err and err.count("\n") == 1,
              "exit %d, stderr %r" % (rc, err))
    with open(wav, "rb") as f:
        wav_bytes = f.read()
    with open(img, "rb") as f:
        img_bytes = f.read()
    for name, args, data in (("describe", ["describe", "-m", m], wav_bytes),
                             ("caption", ["caption", "-m", m], img_bytes),
                             ("ask (sound)", ["ask", "-m", m, "{}", "what is it?"], wav_bytes)):
        src = wav if data is wav_bytes else img
        fa = [src if a == "{}" else a for a in args] + ([] if "{}" in args else [src])
        pa = ["/dev/stdin" if a == "{}" else a for a in args] + ([] if "{}" in args else ["/dev/stdin"])
        rc1, out1, err1 = run(fa)
        rc2, out2, err2 = run(pa, stdin=data)
        check("%s /dev/stdin (a pipe) = %s FILE" % (name, name), rc1 == 0 and rc2 == 0 and out1 == out2 and out1,
              "file: exit %d %r %r; pipe: exit %d %r %r" % (rc1, out1, err1, rc2, out2, err2))
        rc3, out3, err3 = run(["-" if a == "/dev/stdin" else a for a in pa], stdin=data)   # "-" as users write it
        check("%s - (stdin) = %s FILE" % (name, name), rc3 == 0 and out3 == out1, "exit %d %r %r" % (rc3, out3, err3))
    for cmd, data, src in (("encode-image", img_bytes, img), ("encode-audio", wav_bytes, wav)):
        fo, po = os.path.join(d, "file.npy"), os.path.join(d, "pipe.npy")
        rc1, _, err1 = run([cmd, "-m", m, src, "-o", fo])
        rc2, _, err2 = run([cmd, "-m", m, "/dev/stdin", "-o", po], stdin=data)
        same = rc1 == 0 and rc2 == 0
        if same:
            with open(fo, "rb") as a, open(po, "rb") as b:
                same = a.read() == b.read()
        check("%s /dev/stdin (a pipe) = %s FILE" % (cmd, cmd), same, "exit %d %r / %d %r" % (rc1, err1, rc2, err2))
        rc3, _, err3 = run([cmd, "-m", m, "-", "-o", po], stdin=data)
        if rc3 == 0:
            with open(fo, "rb") as a, open(po, "rb") as b:
                rc3 = 0 if a.read() == b.read() else -1
        check("%s - (stdin) = %s FILE" % (cmd, cmd), rc3 == 0, "exit %d %r" % (rc3, err3))
    rc, _, err = run(["mel", "/dev/stdin", "-o", os.path.join(d, "mel.npy")], stdin=wav_bytes)
    check("mel /dev/stdin (a pipe)", rc == 0, "exit %d %r" % (rc, err))
    rc, _, err = run(["mel", "-", "-o", os.path.join(d, "mel.npy")], stdin=wav_bytes)
    check("mel - (stdin)", rc == 0, "exit %d %r" % (rc, err))
    rc, out, err = run(["generate", "-m", m, "-p", "x", "--image", "-", "-n", "2", "--temp", "0", "-q"], stdin=img_bytes)
    rc1, out1, _ = run(["generate", "-m", m, "-p", "x", "--image", img, "-n", "2", "--temp", "0", "-q"])
    check("generate --image - (stdin) = --image FILE", rc == 0 and rc1 == 0 and out == out1, "exit %d %r" % (rc, err))
    expect("caption: a sound piped to /dev/stdin", ["caption", "-m", m, "/dev/stdin"], 3, "/dev/stdin",
           "not an image", stdin=wav_bytes)
    expect("caption: nothing piped to /dev/stdin", ["caption", "-m", m, "/dev/stdin"], 3, "/dev/stdin", "empty",
           stdin=b"")

    # a prompt file (-f) is UTF-8 text: a NUL byte cut the prompt short without a word ("hello\0world" was "hello"),
    # a UTF-16 file became a few bytes of garbage
    nulp, u16p = os.path.join(d, "nul.txt"), os.path.join(d, "prompt16.txt")
    with open(nulp, "wb") as f:
        f.write(b"hello\0world")
    with open(u16p, "wb") as f:
        f.write("\ufeffDescribe the picture".encode("utf-16-le"))
    expect("generate -f: a NUL byte in the prompt file", ["generate", "-m", m, "-f", nulp, "-n", "1"], 3, "nul.txt",
           "NUL byte at offset 5")
    expect("ask -f: a UTF-16 prompt file", ["ask", "-m", m, "-f", u16p, img, "q"], 3, "prompt16.txt", "UTF-16",
           "UTF-8")
    expect("generate -f -: a NUL byte on stdin", ["generate", "-m", m, "-f", "-", "-n", "1"], 3, "NUL byte",
           stdin=b"abc\0")

    # ---- model (exit 4)
    expect("caption: model without an image encoder", ["caption", "-m", novis, img], 4, "pic.ppm", "no image encoder")
    expect("describe: model without an audio encoder", ["describe", "-m", noaud, wav], 4, "beep.wav",
           "no audio encoder")
    expect("ask: audio on a model without audio", ["ask", "-m", noaud, wav, "what?"], 4, "no audio encoder")
    expect("caption: missing model", ["caption", "-m", os.path.join(d, "nomodel.gguf"), img], 4, "nomodel.gguf")
    expect("caption: corrupt model", ["caption", "-m", badmodel, img], 4, "garbage.gguf")
    expect("caption: MMGPT_MODEL points nowhere", ["caption", img], 4, "gone.gguf",
           env={"MMGPT_MODEL": os.path.join(d, "gone.gguf")})
    expect("caption: mmproj does not fit", ["caption", "-m", tm, "--mmproj", mp, img], 4,
           "this mmproj does not fit this model: projector outputs 48, decoder d_model is 64")
    expect("caption: text model, no mmproj", ["caption", "-m", tm, img], 4, "no image encoder")
    # files of the wrong kind name what they are and where they go
    expect("caption: an mmproj given as -m", ["caption", "-m", mp, img], 4, "mmproj48.gguf", "an mmproj file",
           "--mmproj")
    expect("generate: an mmproj given as -m", ["generate", "-m", mp, "-p", "x"], 4, "an mmproj file", "--mmproj")
    expect("caption: a text model given as --mmproj", ["caption", "-m", tm, "--mmproj", tm, img], 4,
           "text.gguf", "a text model", "-m")
    expect("encode-image: a text model", ["encode-image", "-m", tm, img, "-o", os.path.join(d, "x.npy")], 4,
           "text.gguf", "no image encoder")
    rc, out, err = run(["mel", "-m", tm, wav, "-o", os.path.join(d, "x.npy")])
    check("mel -m a text model -> exit 4, 'no audio encoder', the file named once",
          rc == 4 and "no audio encoder" in err and err.count("text.gguf") == 1 and err.count("\n") == 1,
          "exit %d, stderr %r" % (rc, err))

    # ---- a context that does not fit in memory (a 1M-position llama file, -c 1048576: 8.6 GB of KV cache) under a
    # 2 GB address-space limit: exit 5 naming the way out (-c, --kv-f16), not only mm_arena_init's byte count.
    # Skipped under the sanitizers (their shadow memory needs more address space than the limit).
    big = os.path.join(d, "ctx1m.gguf")
    subprocess.run([sys.executable, os.path.join(SRC, "tools", "make_random_llama.py"), "--arch", "llama", "--d", "256",
                    "--layers", "4", "--heads", "4", "--kv-heads", "4", "--ff", "256", "--vocab", "300", "--ctx",
                    "1048576", big], check=True, capture_output=True)
    if not os.environ.get("MMGPT_SANITIZE_RUN"):
        import resource
        from apptest import BIN

        def limit():
            resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
        p = subprocess.run([BIN, "generate", "-m", big, "-p", "hi", "-n", "2", "-c", "1048576"], capture_output=True,
                           preexec_fn=limit)
        err = p.stderr.decode("utf-8", "replace")
        check("generate -c 1048576 over the memory -> exit 5, one line naming -c and --kv-f16",
              p.returncode == 5 and err.count("\n") == 1 and err.startswith("mmgpt: ") and "out of memory" in err and
              "-c 1048576" in err and "--kv-f16" in err, "exit %d, stderr %r" % (p.returncode, err))

    # ---- usage (exit 2)
    expect("caption: temperature over 2", ["caption", "-m", m, "--temp", "2.5", img], 2, "--temp", "[0, 2]")
    expect("ask: temperature over 2", ["ask", "-m", m, "--temp", "3", img, "q"], 2, "--temp", "[0, 2]")
    expect("generate --image: temperature over 2", ["generate", "-m", m, "--image", img, "--temp", "2.01", "-p", "x"],
           2, "--temp", "[0, 2]")
    expect("caption: no IMAGE", ["caption", "-m", m], 2, "no IMAGE")
    expect("describe: unknown option", ["describe", "--frobnicate", wav], 2, "--frobnicate")
    expect("ask: no QUESTION", ["ask", "-m", m, img], 2, "QUESTION")
    expect("ask: three arguments", ["ask", "-m", m, img, "what", "extra"], 2, "quote")
    expect("caption: -n not a number", ["caption", "-m", m, "-n", "lots", img], 2, "-n")
    expect("chat: stray argument", ["chat", "-m", m, "stray"], 2, "stray")
    expect("logits --image: marker count mismatch", ["logits", "-m", m, "--image", img, "-p", "<__media__> <__media__>",
                                                     "-o", os.path.join(d, "x.npy")], 2, "marker")

    # ---- help and version succeed
    for cmd in ("caption", "describe", "ask", "chat"):
        rc, out, err = run([cmd, "--help"])
        check("%s --help" % cmd, rc == 0 and "usage: mmgpt " + cmd in out and err == "", "rc %d %r" % (rc, err))
    rc, out, err = run(["caption", "--version"])
    check("caption --version", rc == 0 and out.startswith("mmgpt "), out + err)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
