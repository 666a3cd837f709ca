"""tok_cli - `mmgpt tokenize` / `mmgpt detokenize` command-line behaviour.

Expected ids come from the published vectors (test_vectors.json) and from the independent Python reference
(ref_gpt2_bpe.py); token strings in --json from encoder.json. Covers: TEXT argument, stdin, -f FILE,
--json (parses, ids and tokens agree), --special vs plain text, vocabulary given as a folder of each kind,
as tokenizer.json and as .gguf, detokenize from arguments / stdin / file / JSON array, byte-exact round
trips, -h, and the distinct error exits (2 usage, 3 input, 4 model). Data: tests/data/gpt2_bpe.
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ref_gpt2_bpe as R  # noqa: E402

sys.path.insert(0, os.path.join(HERE, ".."))
import testdata  # noqa: E402

REF = testdata.path("gpt2_bpe")  # tests/data/gpt2_bpe (a missing file fails the test)
BIN = os.environ.get("MMGPT_BIN", "mmgpt")
TMP = os.environ.get("MMGPT_TEST_TMP", "/tmp")

fails = 0


def check(cond, msg):
    global fails
    if not cond:
        fails += 1
        print("FAIL:", msg)


def run(args, stdin=b"", env=None):
    e = dict(os.environ)
    e.pop("MMGPT_MODEL", None)
    if env:
        e.update(env)
    return subprocess.run([BIN] + args, input=stdin, capture_output=True, timeout=60, env=e)


def ids_of(p):
    return [int(x) for x in p.stdout.split()]


enc = R.Encoder.from_files(testdata.path("gpt2_bpe", "encoder.json"), testdata.path("gpt2_bpe", "vocab.bpe"))
tv = json.load(open(testdata.path("gpt2_bpe", "test_vectors.json"), encoding="utf-8"))
V = ["--vocab", REF]

# TEXT argument, stdin, -f FILE against the published cases
for c in tv["cases"]:
    if not c["text"]:
        continue
    p = run(["tokenize"] + V + [c["text"]])
    check(p.returncode == 0 and ids_of(p) == c["ids"], "arg %r -> %r %r" % (c["text"], p.stdout, p.stderr))
    check(p.stdout.count(b"\n") == 1 and p.stdout.endswith(b"\n"), "one line of output")
c = tv["cases"][5]  # emoji case
p = run(["tokenize"] + V, stdin=c["text"].encode("utf-8"))
check(p.returncode == 0 and ids_of(p) == c["ids"], "stdin")
f = os.path.join(TMP, "tok_cli_in.txt")
text = "Hello world\n  it's 2024 \U0001F30D<|endoftext|> <__media__>\n\n"
with open(f, "wb") as fh:
    fh.write(text.encode("utf-8"))
p = run(["tokenize"] + V + ["-f", f])
check(p.returncode == 0 and ids_of(p) == enc.encode(text.encode("utf-8")), "-f FILE")
check(50256 not in ids_of(p), "<|endoftext|> must be plain text without --special")
# -f - is standard input, as users expect of "-" (it once opened a file named "-": exit 3)
p = run(["tokenize"] + V + ["-f", "-"], stdin=text.encode("utf-8"))
check(p.returncode == 0 and ids_of(p) == enc.encode(text.encode("utf-8")), "-f - reads stdin: %r" % p.stderr)
p = run(["tokenize"] + V + ["--special", "-f", f])
check(p.returncode == 0 and ids_of(p) == enc.encode(text.encode("utf-8"), special=True), "--special")
check(ids_of(p).count(50256) == 1, "--special parses <|endoftext|>")
p = run(["tokenize"] + V + ["--special", "x<__media__>y"])
check(p.returncode == 0 and ids_of(p) == enc.encode(b"x<__media__>y"), "<__media__> is plain text even with --special")
sc = tv["special_token_cases"][0]
p = run(["tokenize"] + V + ["--special", sc["text"]])
check(ids_of(p) == sc["ids"], "special case from test_vectors.json")
p = run(["tokenize"] + V + ["", ])
check(p.returncode == 0 and p.stdout == b"\n", "empty text -> empty line")

# --json
p = run(["tokenize"] + V + ["--json", "hello world \u00e9"])
check(p.returncode == 0, "--json exit")
try:
    j = json.loads(p.stdout)
    want = enc.encode("hello world \u00e9".encode("utf-8"))
    check(j["ids"] == want, "--json ids")
    check(j["tokens"] == [enc.decoder[i] for i in want], "--json tokens are the vocabulary strings")
except (ValueError, KeyError) as e:
    check(False, "--json output does not parse: %s %r" % (e, p.stdout))

# every vocabulary source gives the same ids
tj = os.path.join(TMP, "tok_cli_tokenizer.json")
with open(testdata.path("gpt2_bpe", "hf", "vocab.json"), encoding="utf-8") as fh:
    vocab = json.load(fh)
with open(testdata.path("gpt2_bpe", "hf", "merges.txt"), encoding="utf-8") as fh:
    merges = [l for l in fh.read().split("\n")[1:] if l]
with open(tj, "w", encoding="utf-8") as fh:
    json.dump({"added_tokens": [{"id": 50256, "content": "<|endoftext|>", "special": True}],
               "model": {"type": "BPE", "vocab": vocab, "merges": [m.split(" ") for m in merges]}}, fh)
want = enc.encode(text.encode("utf-8"), special=True)
for src in [REF, testdata.path("gpt2_bpe", "hf"), tj]:
    p = run(["tokenize", "--vocab", src, "--special", "-f", f])
    check(p.returncode == 0 and ids_of(p) == want, "vocabulary %s: %r" % (src, p.stderr))

# detokenize: arguments, stdin, file, JSON array; byte-exact
ids = enc.encode(text.encode("utf-8"))
p = run(["detokenize"] + V + [str(i) for i in ids])
check(p.returncode == 0 and p.stdout == text.encode("utf-8"), "detokenize args")
p = run(["detokenize"] + V, stdin=" ".join(map(str, ids)).encode())
check(p.returncode == 0 and p.stdout == text.encode("utf-8"), "detokenize stdin")
p = run(["detokenize"] + V, stdin=json.dumps(ids).encode())
check(p.returncode == 0 and p.stdout == text.encode("utf-8"), "detokenize JSON array")
idf = os.path.join(TMP, "tok_cli_ids.txt")
with open(idf, "w") as fh:
    fh.write("\n".join(map(str, ids)) + "\n")
p = run(["detokenize"] + V + ["-f", idf])
check(p.returncode == 0 and p.stdout == text.encode("utf-8"), "detokenize -f")
p = run(["detokenize"] + V + ["-f", "-"], stdin=json.dumps(ids).encode())
check(p.returncode == 0 and p.stdout == text.encode("utf-8"), "detokenize -f - reads stdin: %r" % p.stderr)
raw = b"\xff\xfe invalid \xed\xa0\x80 utf-8 \xc3"
t = run(["tokenize"] + V, stdin=raw)
d = run(["detokenize"] + V, stdin=t.stdout)
check(t.returncode == 0 and d.returncode == 0 and d.stdout == raw, "invalid UTF-8 round trip through the CLI")
check(ids_of(t) == enc.encode(raw), "invalid UTF-8 ids equal the reference")

# help and errors
for cmd in ["tokenize", "detokenize"]:
    p = run([cmd, "--help"])
    check(p.returncode == 0 and b"usage: mmgpt " + cmd.encode() in p.stdout, "%s --help" % cmd)
    p = run([cmd, "--bogus"])
    check(p.returncode == 2 and p.stderr.startswith(b"mmgpt: "), "%s unknown option -> 2" % cmd)
    p = run([cmd] + V + ["-f"])
    check(p.returncode == 2, "%s -f without value -> 2" % cmd)
    p = run([cmd] + V + ["-f", os.path.join(TMP, "does-not-exist.txt")])
    check(p.returncode == 3 and b"does-not-exist" in p.stderr, "%s missing input file -> 3" % cmd)
    p = run([cmd, "--vocab", TMP, "1"])
    check(p.returncode == 4 and p.stderr.startswith(b"mmgpt: "), "%s folder without vocabulary -> 4: %r" % (cmd, p.stderr))
    p = run([cmd, "-m", os.path.join(TMP, "no-model.gguf"), "1"])
    check(p.returncode == 4, "%s missing model -> 4" % cmd)
    p = run([cmd, "-m", "x.gguf", "--vocab", REF, "1"])
    check(p.returncode == 2, "%s -m and --vocab -> 2" % cmd)
p = run(["tokenize"] + V + ["a", "b"])
check(p.returncode == 2, "tokenize with two texts -> 2")
p = run(["detokenize"] + V + ["50257"])
check(p.returncode == 3 and b"out of range" in p.stderr, "id out of range -> 3")
p = run(["detokenize"] + V + ["12x"])
check(p.returncode == 3, "bad id -> 3")
p = run(["detokenize"] + V, stdin=b"1 2 -5")
check(p.returncode == 3, "negative id -> 3")
bad = os.path.join(TMP, "tok_cli_bad.gguf")
with open(bad, "wb") as fh:
    fh.write(b"GGUF\x03\x00\x00\x00garbage")
p = run(["tokenize", "-m", bad, "x"])
check(p.returncode == 4 and p.stderr.startswith(b"mmgpt: ") and p.stderr.count(b"\n") == 1, "corrupt gguf -> 4, one line")

if fails:
    print("%d failure(s)" % fails)
    sys.exit(1)
print("ok")
