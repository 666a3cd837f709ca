"""Small GPT-2 byte-level BPE encoder/decoder for the training texts (prompts and answers).

Reads the 50,257-token GPT-2 vocabulary (encoder.json / vocab.json) and merges (vocab.bpe /
merges.txt) from tests/data/gpt2_bpe. Written from the published algorithm:
  1. pre-tokenize with GPT-2's pattern  's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+
  2. map each piece's UTF-8 bytes to printable unicode (bytes_to_unicode)
  3. repeatedly merge the adjacent pair of lowest merge rank.
Python's `re` has no \\p{L}; [^\\W\\d_] (unicode letters) and \\d stand in for it, which is exact for
the ASCII texts of this training world (checked against refdata test vectors in selftest()).
"""
import json
import os
import re

EOT_ID = 50256
EOT = "<|endoftext|>"

_PAT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+""")


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def default_dir():
    here = os.path.dirname(os.path.abspath(__file__))
    cands = [os.environ.get("MMGPT_REFDATA", ""),
             os.path.join(here, "..", "..", "tests", "data")]
    for c in cands:
        if c and os.path.isfile(os.path.join(c, "gpt2_bpe", "encoder.json")):
            return os.path.join(c, "gpt2_bpe")
    raise FileNotFoundError("GPT-2 vocabulary not found (tests/data/gpt2_bpe; or set MMGPT_REFDATA)")


class BPE:
    def __init__(self, bpe_dir=None):
        d = bpe_dir or default_dir()
        vj = os.path.join(d, "encoder.json")
        if not os.path.exists(vj):
            vj = os.path.join(d, "hf", "vocab.json")
        with open(vj, encoding="utf-8") as f:
            self.encoder = json.load(f)
        mp = os.path.join(d, "vocab.bpe")
        if not os.path.exists(mp):
            mp = os.path.join(d, "hf", "merges.txt")
        with open(mp, encoding="utf-8") as f:
            lines = f.read().split("\n")
        merges = [tuple(l.split(" ")) for l in lines[1:] if l.strip() and not l.startswith("#")]
        self.merges = merges
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.decoder = {v: k for k, v in self.encoder.items()}
        self.b2u = bytes_to_unicode()
        self.u2b = {v: k for k, v in self.b2u.items()}
        self.cache = {}
        assert len(self.encoder) == 50257 and self.encoder[EOT] == EOT_ID

    def _bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = list(token)
        while len(word) > 1:
            best, bi = None, -1
            for i in range(len(word) - 1):
                r = self.ranks.get((word[i], word[i + 1]))
                if r is not None and (best is None or r < best):
                    best, bi = r, i
            if best is None:
                break
            a, b = word[bi], word[bi + 1]
            out, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and word[i] == a and word[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            word = out
        self.cache[token] = word
        return word

    def encode(self, text):
        ids = []
        for piece in _PAT.findall(text):
            u = "".join(self.b2u[b] for b in piece.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self._bpe(u))
        return ids

    def decode(self, ids):
        parts = []
        for i in ids:
            if i == EOT_ID:
                parts.append(EOT)
                continue
            parts.append(self.decoder[i])
        bs = bytearray()
        for p in parts:
            if p == EOT:
                bs.extend(EOT.encode())
            else:
                bs.extend(self.u2b[c] for c in p)
        return bs.decode("utf-8", errors="replace")

    def tokens_bytes(self):
        """Token strings as stored in tokenizer.ggml.tokens (GPT-2's byte-to-unicode form)."""
        return [self.decoder[i] for i in range(len(self.decoder))]


def selftest(bpe_dir=None):
    d = bpe_dir or default_dir()
    b = BPE(d)
    with open(os.path.join(d, "test_vectors.json")) as f:
        tv = json.load(f)
    cases = tv if isinstance(tv, list) else tv.get("cases", tv)
    n = ok = 0
    for c in cases:
        if not isinstance(c, dict):
            continue
        text = c.get("text", c.get("input"))
        exp = c.get("ids", c.get("expected", c.get("tokens")))
        if text is None or exp is None or EOT in text or not text.isascii():
            continue
        n += 1
        got = b.encode(text)
        if got == exp:
            ok += 1
        else:
            print("MISMATCH", repr(text), got, exp)
    print("bpe selftest: %d/%d ascii cases match" % (ok, n))
    return ok == n


if __name__ == "__main__":
    import sys
    ok = selftest()
    b = BPE()
    for s in ["User: ", "\nDescribe this image.\nAssistant:", " a large red circle at the top left."]:
        ids = b.encode(s)
        print(repr(s), ids, repr(b.decode(ids)))
    sys.exit(0 if ok else 1)
