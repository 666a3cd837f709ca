"""tok_llama_ref - mmgpt's tokenizers for llama.cpp GGUF vocabularies equal the independent Python references
(ref_llama_tok.py: the published regexes run by the `regex` module; GPT-2's BPE loop; a naive SentencePiece
BPE) id for id, on hostile random text.

Vocabularies are made here (no downloads):
  * byte-level BPE: 256 byte tokens + merges trained on a small multilingual corpus (split by every
    pre-tokenizer, so that merges cross the places where they differ) + a trap for
    llama-bpe's "ignore merges" (~^` is a token, but BPE of ~^` gives ~^ + `) + control tokens
    (<|begin_of_text|>, <|eot_id|>, <|im_start|>, <|im_end|>, <|endoftext|>, <end_of_utterance>) and a
    user-defined one (<tool_call>); one GGUF per tokenizer.ggml.pre: gpt-2, llama-bpe, qwen2, smollm,
    default, plus the aliases llama3 and starcoder;
  * SentencePiece ("llama"): <unk> <s> </s>, 256 <0xXX> byte tokens, pieces with scores trained on the
    same corpus (characters outside it fall back to bytes), two equal-score pieces (leftmost wins), an
    UNUSED piece, control and user-defined tokens; with add_space_prefix true and false.
Text: ~300 random segments per vocabulary from letters / marks / numbers of many scripts, digit runs of
1..15 digits (ASCII, Arabic-Indic, fullwidth, Roman, superscripts), every kind of whitespace run and
\\r\\n mix, contractions in both cases, emoji sequences, CJK, invalid UTF-8, special-token texts, empty.
For each vocabulary ONE `mmgpt tokenize --special` call on the segments joined by <|im_end|> and one
without --special (special texts are then plain text) must give exactly the reference ids;
`mmgpt detokenize` must give the reference's bytes (BPE: the input itself; SPM: " " + input for text
without U+2581 and specials). Unknown pre-tokenizer / model names must fail naming the name.
Exact ids / bytes, no tolerance. Needs python3-regex (tools/setup.sh).
"""
import os
import random
import subprocess
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
SRC = os.environ.get("MMGPT_SOURCE_DIR", os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tools"))
try:
    import regex  # noqa: F401
except ImportError:
    print("FAIL: the Python 'regex' module is missing (Debian python3-regex; run tools/setup.sh)")
    sys.exit(1)
import mmgguf  # noqa: E402
import ref_llama_tok as R  # noqa: E402

BIN = os.environ.get("MMGPT_BIN", "mmgpt")
TMP = os.environ.get("MMGPT_TEST_TMP", "/tmp")
rng = random.Random(int(os.environ.get("MMGPT_TEST_SEED", "20250601")))
fails = 0


def check(cond, msg):
    global fails
    if not cond:
        fails += 1
        print("FAIL:", msg)
    return cond


CORPUS = """The quick brown fox jumps over the lazy dog. It's what they'd said: we'll see, you're right, I've been
there, I'm sure, don't worry. THE QUICK BROWN FOX! In 2024 there were 1,234,567 people; 3.14159 and 42.
def main(argv): return [x * 2 for x in range(10)]  # code, with_underscores and CamelCase
Hello world, hello there, hello again. Привет мир, как дела? Γειά σου κόσμε. مرحبا بالعالم
日本語のテキストと中文文本。東京は大きい都市です。한국어 문장도 있습니다. café naïve résumé
The the the and and and of of to to in in is is that that for for with with on on as as at at by by
numbers 0 1 2 3 10 100 1000 2023 2024 12345 and symbols ... !!! ??? --- *** ### $$$ %%% &&&
\tindented\tword (paren) [bracket] "quoted" x:=y+1; IT'S WE'LL THEY'RE IT'Sok WE'LLdo they'REgood I'Mfine !bang ?what #tag @user
line one\r\nline two\n\n  spaced   out\n\t\tdeep  123456 7890 3.5 v2 x86_64 \u00a0nbsp
""" * 3 + """IT'Sok WE'LLdo they'REgood I'Mfine it's we'll IT'S WE'LL \tword !bang 1234567 12 3\n\n\n
""" * 8

BPE_SPECIAL = [("<|begin_of_text|>", R.CONTROL), ("<|eot_id|>", R.CONTROL), ("<|im_start|>", R.CONTROL),
               ("<|im_end|>", R.CONTROL), ("<|endoftext|>", R.CONTROL), ("<end_of_utterance>", R.CONTROL),
               ("<tool_call>", R.USER)]


def train(words, n_merges):
    """merge the most frequent adjacent pair of the words {tuple of symbols: count}, n_merges times"""
    merges = []
    for _ in range(n_merges):
        cnt = {}
        for w, c in words.items():
            for i in range(len(w) - 1):
                cnt[(w[i], w[i + 1])] = cnt.get((w[i], w[i + 1]), 0) + c
        if not cnt:
            break
        best = max(cnt.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(best)
        new = {}
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new[tuple(out)] = new.get(tuple(out), 0) + c
        words = new
    return merges


def train_bpe(n_merges):
    b2u = R.bytes_to_unicode()
    words = {}
    for pre in R.PRE:  # words of every pre-tokenizer, so that their differences change the ids
        for p in R.pretokenize(CORPUS.encode(), pre):
            w = tuple(b2u[b] for b in p)
            words[w] = words.get(w, 0) + 1
    return train(words, n_merges)


def make_bpe():
    b2u = R.bytes_to_unicode()
    order = list(range(256))
    rng.shuffle(order)  # byte tokens not in byte order, so an id is never accidentally the byte
    tokens = [b2u[b] for b in order]
    merges = train_bpe(500)
    assert not any(c in CORPUS for c in "~^`")
    merges += [("~", "^"), ("^", "`"), ("~", "^`")]  # ~^` is a token, BPE("~^`") = ~^ + `
    for a, b in merges:
        if a + b not in tokens:
            tokens.append(a + b)
    types = [R.NORMAL] * len(tokens)
    for t, ty in BPE_SPECIAL:
        tokens.append(t)
        types.append(ty)
    return tokens, merges, types


def train_spm(n_merges):
    words = {}
    for w in CORPUS.split():
        w = R.SPACE + w
        words[tuple(w)] = words.get(tuple(w), 0) + 1
    chars = sorted({c for w in words for c in w})
    return chars, [a + b for a, b in train(words, n_merges)]


def make_spm():
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    types = [R.UNKNOWN, R.CONTROL, R.CONTROL] + [R.BYTE] * 256
    scores = [0.0] * len(tokens)
    chars, pieces = train_spm(300)
    seen = set(tokens)

    def add(t, ty, sc):
        if t not in seen:
            seen.add(t)
            tokens.append(t)
            types.append(ty)
            scores.append(sc)
    for i, c in enumerate(chars):
        add(c, R.NORMAL, -1000.0 - i)
    for i, p in enumerate(pieces):
        add(p, R.NORMAL, -float(i))
    # leftmost wins on equal scores; whitespace runs; an UNUSED piece that merges would otherwise make
    for c in "\u3131\u3134\u3137":
        add(c, R.NORMAL, -2000.0)
    add("\u3131\u3134", R.NORMAL, -5.0)
    add("\u3134\u3137", R.NORMAL, -5.0)
    add(R.SPACE * 2, R.NORMAL, -3.0)
    add(R.SPACE * 4, R.NORMAL, -4.0)
    add(R.SPACE + "zq", R.UNUSED, 100.0)
    add("zq", R.NORMAL, -7.0)
    for t, ty in [("<|im_start|>", R.CONTROL), ("<|im_end|>", R.CONTROL), ("<end_of_utterance>", R.CONTROL),
                  ("<start_of_turn>", R.USER)]:
        add(t, ty, 0.0)
    return tokens, scores, types


# ---------------------------------------------------------------- random hostile text
def assigned(cp):
    return not (0xD800 <= cp <= 0xDFFF) and unicodedata.category(chr(cp)) != "Cn"


BLOCKS = [(0x41, 0x7A), (0xC0, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x5FF),
          (0x600, 0x6FF), (0x900, 0x97F), (0xE00, 0xE7F), (0x3040, 0x30FF), (0x4E00, 0x4EFF), (0xAC00, 0xAD00),
          (0x1F300, 0x1F64F), (0x2150, 0x218F), (0x2460, 0x24FF), (0xFF01, 0xFF5E), (0x2000, 0x206F),
          (0x1D400, 0x1D4FF), (0x20000, 0x200FF), (0xE000, 0xE0FF)]
SPACES = ["\u0020", "\u0020", "\t", "\n", "\r", "\r\n", "\n\r", "\x0b", "\x0c", "\u0085", "\u00a0", "\u1680",
          "\u2000", "\u2009", "\u2028", "\u2029", "\u202f", "\u3000",
          "\x1c", "\x1f", "\u200b", "\ufeff", "\u2060"]  # the last ones are NOT White_Space
DIGITS = ["0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669",
          "\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19", "\u00b2\u00b3\u00b9\u00bc",
          "\u2160\u2161\u2162\u216b"]
FRAGS = ["'s", "'S", "'t", "'T", "'re", "'RE", "'Re", "'ve", "'VE", "'m", "'M", "'ll", "'LL", "'lL", "'d",
         "'D", "IT'Sok", "WE'LLdo", "they'REgood", "I'Mfine", "'\u017f", "''", "'x", " '", "don't", "WE'LL", "x'llx", "\U0001F468\u200D\U0001F469\u200D\U0001F467",
         "\U0001F3F3\uFE0F\u200D\U0001F308", "\U0001F44D\U0001F3FD", "\U0001F1E9\U0001F1EA", "e\u0301",
         "\u0915\u094D\u0937", " \u0301", "\u65e5\u672c\u8a9e", " \u4e2d\u6587", "hello", " world", "The", " the",
         "caf\u00e9", "~^`", " ~^`", "~^", "^`", "a^`b", "\u3131\u3134\u3137", "zq", " zq", "...", "!?", " $5", "a+b=c", "x^2",
         "<|im_end|>", "<|eot_id|>", "<tool_call>", "<start_of_turn>", "<s>", "</s>", "<unk>", "<|im_end", "<|im_end|x", "<tool_call!", "<|im_end|<|im_end|>>",
         "|im_end|>", "<|im_start|><|im_end|>", "<end_of_utterance>", "\u2581", "\u2581\u2581x", "    ", "\t\t",
         "\n\n\n", "\r\n\r\n", " \n", "\n ", "  \n  x", "1,234.56", " 2024", "12345678901"]
BAD = [b"\x80", b"\xbf", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xc0\x80", b"\xe0\x80\x80", b"\xed\xa0\x80",
       b"\xed\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf5", b"\xfe\xff", b"\xe2\x96", b"\xc3 "]


def rand_cp():
    while True:
        a, b = rng.choice(BLOCKS) if rng.random() < 0.85 else (0x80, 0x10FFFF)
        cp = rng.randint(a, b)
        if assigned(cp):
            return cp


def rand_segment():
    out = bytearray()
    for _ in range(rng.randint(0, 14)):
        k = rng.random()
        if k < 0.25:
            out += "".join(chr(rand_cp()) for _ in range(rng.randint(1, 5))).encode()
        elif k < 0.45:
            out += "".join(rng.choice(SPACES) for _ in range(rng.randint(1, 5))).encode()
        elif k < 0.6:
            ds = rng.choice(DIGITS) if rng.random() < 0.4 else DIGITS[0]
            out += (" " if rng.random() < 0.4 else "").encode() + \
                "".join(rng.choice(ds) for _ in range(rng.randint(1, 15))).encode()
        elif k < 0.8:
            out += rng.choice(FRAGS).encode()
        elif k < 0.88:
            out += rng.choice(BAD)
        else:
            out += rng.choice([b"hello", b" world", b"The", b" quick", b"_", b"-", b"\x00", b"x", b" "])
    return bytes(out)


SEGS = [rand_segment() for _ in range(300)]
SEGS += [b"", b" ", b"  ", b"\n", b"\r\n", b"a", b"1", b"12", b"123", b"1234", b"1234567", b" " * 50 + b"x",
         b"\n" * 20, b"9" * 40, b"\xff" * 5, "\U0001F600".encode() * 5, b"hello world  ", "\u3000\u3000x".encode()]


def run(args, stdin=None):
    return subprocess.run([BIN] + args, input=stdin, capture_output=True, timeout=300)


def tokenize(gguf, data, special):
    inp = os.path.join(TMP, "tok_llama_input.bin")
    with open(inp, "wb") as f:
        f.write(data)
    p = run(["tokenize", "-m", gguf, "-f", inp] + (["--special"] if special else []))
    if not check(p.returncode == 0, "%s: tokenize exit %d: %s" % (gguf, p.returncode, p.stderr.decode(errors="replace"))):
        return None
    return [int(x) for x in p.stdout.split()]


def detokenize(gguf, ids):
    idf = os.path.join(TMP, "tok_llama_ids.txt")
    with open(idf, "w") as f:
        f.write(" ".join(map(str, ids)))
    p = run(["detokenize", "-m", gguf, "-f", idf])
    check(p.returncode == 0, "%s: detokenize exit %d: %s" % (gguf, p.returncode, p.stderr.decode(errors="replace")))
    return p.stdout


def first_diff(got, want):
    for i, (a, b) in enumerate(zip(got, want)):
        if a != b:
            return i
    return min(len(got), len(want))


def compare(name, gguf, ref, sep_id, spm):
    """one --special call on the joined segments, one plain call; returns the number of segments checked"""
    sep = b"<|im_end|>"
    data = sep.join(SEGS)
    want = []
    for i, s in enumerate(SEGS):
        if i:
            want.append(sep_id)
        want += ref.encode(s, special=True)
    got = tokenize(gguf, data, True)
    if got is not None and got != want:
        # the first segment that differs, for the message
        pos = 0
        for s in SEGS:
            w = ref.encode(s, special=True)
            if got[pos:pos + len(w)] != w:
                check(False, "%s --special: segment %r: got %s want %s" % (name, s, got[pos:pos + len(w) + 2], w))
                break
            pos += len(w) + 1
        else:
            check(False, "%s --special: ids differ at %d" % (name, first_diff(got, want)))
    if got is not None:
        check(detokenize(gguf, got) == ref.decode(want), "%s: detokenize of the --special ids" % name)
    plain = b"\n".join(SEGS)
    want2 = ref.encode(plain)
    got2 = tokenize(gguf, plain, False)
    if got2 is not None and got2 != want2:
        i = first_diff(got2, want2)
        check(False, "%s plain: ids differ at %d: got %s want %s" % (name, i, got2[i:i + 8], want2[i:i + 8]))
    if got2 is not None:
        back = detokenize(gguf, got2)
        if spm:
            # round trip: the prefix space, and U+2581 in the input reads back as a space
            check(back == b" " + plain.replace("\u2581".encode(), b" ") if ref.prefix else
                  back == plain.replace("\u2581".encode(), b" "), "%s: decode(encode(s)) round trip" % name)
        else:
            check(back == plain, "%s: decode(encode(s)) == s" % name)
    if not fails:
        print("%-26s %3d segments, %6d ids (--special) + %6d ids (plain): identical to the reference"
              % (name, len(SEGS), len(want), len(want2)))
    return len(SEGS)


def write_bpe(path, tokens, merges, types, pre, extra=None):
    w = mmgguf.GGUFWriter()
    w.add_str("general.architecture", "llama")
    w.add_str("tokenizer.ggml.model", "gpt2")
    if pre is not None:
        w.add_str("tokenizer.ggml.pre", pre)
    w.add_arr("tokenizer.ggml.tokens", "str", tokens)
    w.add_arr("tokenizer.ggml.token_type", "i32", types)
    w.add_arr("tokenizer.ggml.merges", "str", [a + " " + b for a, b in merges])
    w.add_u32("tokenizer.ggml.bos_token_id", tokens.index("<|begin_of_text|>"))
    w.add_u32("tokenizer.ggml.eos_token_id", tokens.index("<|eot_id|>"))
    for k, v in (extra or {}).items():
        w.add_str(k, v)
    w.write(path)


def write_spm(path, tokens, scores, types, prefix):
    w = mmgguf.GGUFWriter()
    w.add_str("general.architecture", "llama")
    w.add_str("tokenizer.ggml.model", "llama")
    w.add_arr("tokenizer.ggml.tokens", "str", tokens)
    w.add_arr("tokenizer.ggml.scores", "f32", scores)
    w.add_arr("tokenizer.ggml.token_type", "i32", types)
    w.add_u32("tokenizer.ggml.bos_token_id", 1)
    w.add_u32("tokenizer.ggml.eos_token_id", 2)
    w.add_u32("tokenizer.ggml.unknown_token_id", 0)
    if prefix is not None:
        w.add_bool("tokenizer.ggml.add_space_prefix", prefix)
    w.write(path)


counts = {}
tokens, merges, types = make_bpe()
sep_bpe = tokens.index("<|im_end|>")
for pre, ref_pre in [("gpt-2", "gpt-2"), ("llama-bpe", "llama-bpe"), ("qwen2", "qwen2"), ("smollm", "smollm"),
                     ("default", "default"), ("llama3", "llama-bpe"), ("starcoder", "smollm"), (None, "gpt-2")]:
    path = os.path.join(TMP, "tok_llama_bpe_%s.gguf" % (pre or "absent"))
    write_bpe(path, tokens, merges, types, pre)
    ref = R.BPE(tokens, merges, types, ref_pre)
    n = compare("bpe pre=%s" % (pre or "(absent)"), path, ref, sep_bpe, False)
    counts["gpt2/" + ref_pre] = counts.get("gpt2/" + ref_pre, 0) + n

# the ignore-merges trap really distinguishes llama-bpe from the others
r3, r2 = R.BPE(tokens, merges, types, "llama-bpe"), R.BPE(tokens, merges, types, "gpt-2")
check(r3.encode(b"~^`") == [tokens.index("~^`")] and len(r2.encode(b"~^`")) == 2, "ignore-merges trap")

stoks, sscores, stypes = make_spm()
for prefix in (None, False):
    path = os.path.join(TMP, "tok_llama_spm_%s.gguf" % ("prefix" if prefix is None else "noprefix"))
    write_spm(path, stoks, sscores, stypes, prefix)
    ref = R.SPM(stoks, sscores, stypes, add_space_prefix=prefix is None)
    n = compare("spm add_space_prefix=%s" % (prefix is None), path, ref, stoks.index("<|im_end|>"), True)
    counts["llama/spm"] = counts.get("llama/spm", 0) + n
# the tie and UNUSED rules matter
rs = R.SPM(stoks, sscores, stypes)
check(rs.encode(b"\xe3\x84\xb1\xe3\x84\xb4\xe3\x84\xb7", False)[-2:] ==
      [stoks.index("\u3131\u3134"), stoks.index("\u3137")], "SPM tie: leftmost pair first")

# unknown names fail and say which
bad = os.path.join(TMP, "tok_llama_bad.gguf")
write_bpe(bad, tokens, merges, types, "no-such-pre")
p = run(["tokenize", "-m", bad, "hello"])
check(p.returncode == 4 and b"no-such-pre" in p.stderr, "unknown pre: exit %d %r" % (p.returncode, p.stderr))
w = mmgguf.GGUFWriter()
w.add_str("tokenizer.ggml.model", "bert")
w.add_arr("tokenizer.ggml.tokens", "str", ["a", "b"])
w.write(bad)
p = run(["tokenize", "-m", bad, "hello"])
check(p.returncode == 4 and b"bert" in p.stderr, "unknown model: exit %d %r" % (p.returncode, p.stderr))

for k, v in sorted(counts.items()):
    print("segments checked: %-16s %d" % (k, v))
if fails:
    print("%d failure(s)" % fails)
    sys.exit(1)
print("ok")
