"""ref_gpt2_bpe.py - independent reference GPT-2 byte-level BPE encoder (Python standard library only).

Written from the semantics of OpenAI's GPT-2 encoder.py, not from the C code:
  * pre-tokenization uses Python's own backtracking `re` engine on GPT-2's pattern, with \\p{L}, \\p{N} and
    \\s spelled out as explicit character classes built from `unicodedata` (letters = categories L*, numbers
    = N*, whitespace = the Unicode White_Space property, which is what the `regex` module's \\s matches);
  * bytes that are not valid UTF-8 are decoded with 'surrogateescape' (one lone surrogate per bad byte:
    category Cs, so it falls into [^\\s\\p{L}\\p{N}]) and map back to the same bytes;
  * BPE is the original loop: find the lowest-rank adjacent pair, merge every occurrence of it left to
    right, repeat.

    import ref_gpt2_bpe as R
    enc = R.Encoder.from_files("encoder.json", "vocab.bpe")
    enc.encode(b"hello world")            -> [31373, 995]
    enc.encode(b"a<|endoftext|>", special=True)
    enc.decode(ids)                       -> bytes
"""
import json
import re
import sys
import unicodedata

WHITE_SPACE = [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x85]  # plus categories Zs, Zl, Zp


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


def _ranges(pred):
    """character-class body for all code points (surrogates excluded) where pred(cp)"""
    out, start = [], None
    for cp in range(0x110001):
        ok = cp <= 0x10FFFF and not (0xD800 <= cp <= 0xDFFF) and pred(cp)
        if ok and start is None:
            start = cp
        elif not ok and start is not None:
            a, b = start, cp - 1
            out.append(re.escape(chr(a)) if a == b else re.escape(chr(a)) + "-" + re.escape(chr(b)))
            start = None
    return "".join(out)


_PATTERN = None


def pattern():
    global _PATTERN
    if _PATTERN is None:
        cat = unicodedata.category
        L = _ranges(lambda c: cat(chr(c))[0] == "L")
        N = _ranges(lambda c: cat(chr(c))[0] == "N")
        S = _ranges(lambda c: cat(chr(c)) in ("Zs", "Zl", "Zp") or c in WHITE_SPACE)
        p = (r"'s|'t|'re|'ve|'m|'ll|'d"
             rf"| ?[{L}]+| ?[{N}]+| ?[^{S}{L}{N}]+|[{S}]+(?![^{S}])|[{S}]+")
        _PATTERN = re.compile(p)
    return _PATTERN


class Encoder:
    def __init__(self, encoder, merges):
        self.encoder = encoder                      # token string -> id
        self.decoder = {v: k for k, v in encoder.items()}
        self.ranks = {tuple(m): i for i, m in enumerate(merges)}
        self.b2u = bytes_to_unicode()
        self.u2b = {v: k for k, v in self.b2u.items()}
        self.cache = {}
        # tokens that BPE can never produce are the special ones (GPT-2: <|endoftext|>)
        reachable = set(self.b2u.values()) | {a + b for a, b in merges}
        self.special = {k: v for k, v in encoder.items() if k not in reachable}

    @classmethod
    def from_files(cls, encoder_json, vocab_bpe):
        with open(encoder_json, encoding="utf-8") as f:
            enc = json.load(f)
        with open(vocab_bpe, encoding="utf-8") as f:
            lines = f.read().split("\n")
        if lines and lines[0].startswith("#version"):
            lines = lines[1:]
        merges = [tuple(l.split(" ")) for l in lines if l]
        return cls(enc, merges)

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = list(token)
        while len(word) > 1:
            pairs = [(self.ranks.get((word[i], word[i + 1]), None), i) for i in range(len(word) - 1)]
            pairs = [p for p in pairs if p[0] is not None]
            if not pairs:
                break
            i0 = min(pairs)[1]          # position of a lowest-rank pair
            a, b = word[i0], word[i0 + 1]
            new, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and word[i] == a and word[i + 1] == b:
                    new.append(a + b)
                    i += 2
                else:
                    new.append(word[i])
                    i += 1
            word = new
        self.cache[token] = word
        return word

    def pretokenize(self, data: bytes):
        """list of byte strings"""
        text = data.decode("utf-8", errors="surrogateescape")
        return [m.group(0).encode("utf-8", errors="surrogateescape") for m in pattern().finditer(text)]

    def _encode_plain(self, data: bytes):
        ids = []
        for piece in self.pretokenize(data):
            token = "".join(self.b2u[b] for b in piece)
            ids.extend(self.encoder[t] for t in self.bpe(token))
        return ids

    def encode(self, data: bytes, special=False):
        if not special or not self.special:
            return self._encode_plain(data)
        names = sorted(self.special, key=len, reverse=True)
        rx = re.compile("|".join(re.escape(n) for n in names).encode("utf-8"))
        ids, pos = [], 0
        for m in rx.finditer(data):
            ids.extend(self._encode_plain(data[pos:m.start()]))
            ids.append(self.special[m.group(0).decode("utf-8")])
            pos = m.end()
        ids.extend(self._encode_plain(data[pos:]))
        return ids

    def decode(self, ids):
        out = bytearray()
        for i in ids:
            t = self.decoder[i]
            if t in self.special:
                out += t.encode("utf-8")
            else:
                out += bytes(self.u2b[c] for c in t)
        return bytes(out)


if __name__ == "__main__":
    e = Encoder.from_files(sys.argv[1], sys.argv[2])
    print(" ".join(str(i) for i in e.encode(sys.argv[3].encode("utf-8"))))
