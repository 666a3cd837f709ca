"""tok_ref - mmgpt's tokenizer equals the independent Python reference (ref_gpt2_bpe.py) on random text.

~600 random byte strings (letters and numbers of many scripts, every kind of Unicode space and
look-alikes that are not White_Space, combining marks, emoji ZWJ / flag / skin-tone sequences,
contractions, digits, invalid UTF-8 incl. surrogates encoded as bytes) are joined with <|endoftext|>
and tokenized in ONE `mmgpt tokenize --special` call; the expected ids are the reference's ids of every
segment joined by 50256. Done twice: vocabulary from the OpenAI files (--vocab), and from a GGUF written
by tools/mmgguf.py (an independent writer) with the tokenizer.ggml.* keys (-m). `mmgpt detokenize` must
give back the exact bytes. The reference itself is first checked against the published test vectors.
Exact ids / bytes. Data: tests/data/gpt2_bpe.
"""
import json
import os
import random
import subprocess
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ref_gpt2_bpe as R  # noqa: E402

sys.path.insert(0, os.path.join(HERE, ".."))
import testdata  # noqa: E402

REF = testdata.path("gpt2_bpe")  # tests/data/gpt2_bpe (a missing file fails the test)
BIN = os.environ.get("MMGPT_BIN", "mmgpt")
TMP = os.environ.get("MMGPT_TEST_TMP", "/tmp")
SRC = os.environ.get("MMGPT_SOURCE_DIR", os.path.join(HERE, "..", ".."))

fails = 0


def check(cond, msg):
    global fails
    if not cond:
        fails += 1
        print("FAIL:", msg)


enc = R.Encoder.from_files(testdata.path("gpt2_bpe", "encoder.json"), testdata.path("gpt2_bpe", "vocab.bpe"))
tv = json.load(open(testdata.path("gpt2_bpe", "test_vectors.json"), encoding="utf-8"))
for c in tv["cases"]:
    check(enc.encode(c["text"].encode("utf-8")) == c["ids"], "reference disagrees with published %r" % c["text"])
for c in tv["special_token_cases"]:
    check(enc.encode(c["text"].encode("utf-8"), special=True) == c["ids"], "reference special case")
if fails:
    sys.exit(1)

rng = random.Random(int(os.environ.get("MMGPT_TEST_SEED", "12345")))


def assigned(cp):
    return not (0xD800 <= cp <= 0xDFFF) and unicodedata.category(chr(cp)) != "Cn"


BLOCKS = [(0x41, 0x7A), (0xC0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x5FF), (0x600, 0x6FF),
          (0x900, 0x97F), (0xE00, 0xE7F), (0x3040, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3),
          (0x1F300, 0x1FAFF), (0x2150, 0x218F), (0x2460, 0x24FF), (0xFF10, 0xFF5A), (0x1D400, 0x1D7FF),
          (0x10000, 0x1007F), (0x20000, 0x2A6DF)]
SPACES = [0x20, 0x20, 0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x85, 0xA0, 0x1680, 0x2000, 0x2007, 0x200A, 0x2028,
          0x2029, 0x202F, 0x205F, 0x3000,
          0x1C, 0x1D, 0x1E, 0x1F, 0x200B, 0x180E, 0xFEFF, 0x2060]  # last ones are NOT White_Space
FRAGS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "''", " '", "don't", "I'm", "x'llx",
         "\U0001F468\u200D\U0001F469\u200D\U0001F467", "\U0001F3F3\uFE0F\u200D\U0001F308", "\U0001F44D\U0001F3FD",
         "\U0001F1E9\U0001F1EA", "e\u0301", "\u0915\u094D\u0937", " \u0301", "<__media__>", "<|endoftext",
         "1,234.56", " 2024", "\u0661\u0662", "\u2167", "!?", " ...", "\r\n", "\n\n\n", "    ", "\t\t"]
BAD = [b"\x80", b"\xbf", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xc0\x80", b"\xe0\x80\x80", b"\xed\xa0\x80",
       b"\xed\xbf\xbf", b"\xed\xa0\xbd\xed\xb8\x80", b"\xf4\x90\x80\x80", b"\xf5", b"\xfe\xff"]


def rand_cp():
    while True:
        a, b = rng.choice(BLOCKS) if rng.random() < 0.8 else (0x80, 0x10FFFF)
        cp = rng.randint(a, b)
        if assigned(cp):
            return cp


def rand_segment():
    out = bytearray()
    for _ in range(rng.randint(0, 24)):
        k = rng.random()
        if k < 0.35:
            out += "".join(chr(rand_cp()) for _ in range(rng.randint(1, 6))).encode("utf-8")
        elif k < 0.55:
            out += "".join(chr(rng.choice(SPACES)) for _ in range(rng.randint(1, 5))).encode("utf-8")
        elif k < 0.7:
            out += rng.choice(FRAGS).encode("utf-8")
        elif k < 0.8:
            out += rng.choice(BAD)
        elif k < 0.9:
            out += "".join(chr(rng.randint(0x300, 0x36F)) for _ in range(rng.randint(1, 3))).encode("utf-8")
        else:
            out += rng.choice([b"hello", b" world", b"The", b" quick", b"123", b" 4", b"_", b"-", b"\x00"])
    return bytes(out)


segs = []
while len(segs) < 600:
    s = rand_segment()
    if b"<|endoftext|>" not in s:
        segs.append(s)
segs += [b" " * 300, b"\n" * 200 + b"x", b"a" * 500, b"7" * 400]
SEP = b"<|endoftext|>"
data = SEP.join(segs)
expected = []
for i, s in enumerate(segs):
    if i:
        expected.append(50256)
    expected += enc.encode(s)
check(enc.decode(expected) == data, "reference round trip")

inp = os.path.join(TMP, "tok_ref_input.bin")
with open(inp, "wb") as f:
    f.write(data)


def run(args, stdin=None):
    return subprocess.run([BIN] + args, input=stdin, capture_output=True, timeout=120)


def compare(args, what):
    p = run(["tokenize"] + args + ["--special", "-f", inp])
    check(p.returncode == 0, "%s: exit %d: %s" % (what, p.returncode, p.stderr.decode(errors="replace")))
    got = [int(x) for x in p.stdout.split()]
    if got != expected:
        # find the first segment that differs, for the message
        pos = 0
        for i, s in enumerate(segs):
            want = enc.encode(s)
            if got[pos:pos + len(want)] != want:
                check(False, "%s: segment %d %r: got %s want %s" % (what, i, s, got[pos:pos + len(want)], want))
                break
            pos += len(want) + 1
        else:
            check(False, "%s: ids differ" % what)
    else:
        print("%s: %d segments, %d bytes, %d ids: identical to the reference" % (what, len(segs), len(data), len(got)))
    return got


ids = compare(["--vocab", REF], "openai files")

# a GGUF written by the independent Python writer
sys.path.insert(0, os.path.join(SRC, "tools"))
try:
    import mmgguf
except ImportError as e:  # numpy missing: cannot build the file
    print("FAIL: cannot import tools/mmgguf.py:", e)
    sys.exit(1)
tokens = [enc.decoder[i] for i in range(len(enc.decoder))]
w = mmgguf.GGUFWriter()
w.add_str("general.architecture", "gpt2")
w.add_str("tokenizer.ggml.model", "gpt2")
w.add_str("tokenizer.ggml.pre", "gpt-2")
w.add_arr("tokenizer.ggml.tokens", "str", tokens)
w.add_arr("tokenizer.ggml.token_type", "i32", [3 if t in enc.special else 1 for t in tokens])
w.add_arr("tokenizer.ggml.merges", "str", [a + " " + b for (a, b), _ in sorted(enc.ranks.items(), key=lambda kv: kv[1])])
w.add_u32("tokenizer.ggml.bos_token_id", 50256)
w.add_u32("tokenizer.ggml.eos_token_id", 50256)
gg = os.path.join(TMP, "tok_ref_vocab.gguf")
w.write(gg)
compare(["-m", gg], "gguf (tools/mmgguf.py)")

# detokenize gives the exact bytes back
idf = os.path.join(TMP, "tok_ref_ids.txt")
with open(idf, "w") as f:
    f.write(" ".join(map(str, expected)))
p = run(["detokenize", "--vocab", REF, "-f", idf])
check(p.returncode == 0 and p.stdout == data, "detokenize did not give the input bytes back")

if fails:
    print("%d failure(s)" % fails)
    sys.exit(1)
print("ok")
