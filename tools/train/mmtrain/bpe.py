"""Small GPT-2 byte-level BPE encoder/decoder for the training texts (prompts and answers).

Reads the 50,257-token GPT-2 vocabulary and merges from a folder (encoder.json + vocab.bpe, or
hf/vocab.json + hf/merges.txt) or from a GGUF file's tokenizer.ggml.tokens / merges (find_vocab says
which). Written from the published algorithm:
  1. pre-tokenize with GPT-2's pattern  's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+
  2. map each piece's UTF-8 bytes to printable unicode (bytes_to_unicode)
  3. repeatedly merge the adjacent pair of lowest merge rank.
Python's `re` has no \\p{L}; [^\\W\\d_] (unicode letters) and \\d stand in for it, which is exact for
the ASCII texts of this training world (the engine tokenizes the same prompts: parity.py compares).
"""
import json
import os
import re

from . import BUNDLED_MODEL, REPO_DIR

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


def find_vocab(vocab=None):
    """Where the GPT-2 vocabulary comes from, in this order: `vocab` (a folder with encoder.json +
    vocab.bpe, or hf/vocab.json + hf/merges.txt; or a GGUF file with tokenizer.ggml.tokens / merges),
    $MMGPT_REFDATA/gpt2_bpe, <repo>/tests/data/gpt2_bpe, the bundled model's GGUF. Returns the folder
    or file; raises FileNotFoundError naming every place looked at. The repository never reads
    ../shared: a clone finds the vocabulary in its own bundled model."""
    if vocab:
        if os.path.isfile(vocab) or _has_json(vocab):
            return vocab
        raise FileNotFoundError("GPT-2 vocabulary: %s is neither a GGUF file nor a folder with encoder.json + "
                                "vocab.bpe" % vocab)
    looked = []
    for d in (os.path.join(os.environ["MMGPT_REFDATA"], "gpt2_bpe") if os.environ.get("MMGPT_REFDATA") else "",
              os.path.join(REPO_DIR, "tests", "data", "gpt2_bpe")):
        if d and _has_json(d):
            return d
        if d:
            looked.append(d)
    if os.path.isfile(BUNDLED_MODEL):
        return BUNDLED_MODEL
    looked.append(BUNDLED_MODEL)
    raise FileNotFoundError("GPT-2 vocabulary not found (looked in %s; pass --vocab FOLDER|MODEL.gguf)"
                            % ", ".join(looked))


def _has_json(d):
    return os.path.isfile(os.path.join(d, "encoder.json")) or os.path.isfile(os.path.join(d, "hf", "vocab.json"))


def read_vocab(src):
    """(tokens in id order, merges as (a, b) pairs in rank order) from a folder or a GGUF file (find_vocab)."""
    if os.path.isfile(src):
        import mmgguf
        kv = mmgguf.GGUFReader(src).kv
        if "tokenizer.ggml.tokens" not in kv or "tokenizer.ggml.merges" not in kv:
            raise ValueError("%s: no tokenizer.ggml.tokens / tokenizer.ggml.merges" % src)
        return list(kv["tokenizer.ggml.tokens"]), [tuple(m.split(" ")) for m in kv["tokenizer.ggml.merges"]]
    vj = os.path.join(src, "encoder.json")
    if not os.path.exists(vj):
        vj = os.path.join(src, "hf", "vocab.json")
    with open(vj, encoding="utf-8") as f:
        encoder = json.load(f)
    mp = os.path.join(src, "vocab.bpe")
    if not os.path.exists(mp):
        mp = os.path.join(src, "hf", "merges.txt")
    with open(mp, encoding="utf-8") as f:
        lines = f.read().split("\n")
    tokens = [None] * len(encoder)
    for t, i in encoder.items():
        if not 0 <= i < len(tokens) or tokens[i] is not None:
            raise ValueError("%s: token ids are not 0..%d once each" % (vj, len(tokens) - 1))
        tokens[i] = t
    return tokens, [tuple(l.split(" ")) for l in lines[1:] if l.strip() and not l.startswith("#")]


class BPE:
    def __init__(self, vocab=None):
        """vocab: as find_vocab's argument (None: the first place find_vocab knows)."""
        self.source = find_vocab(vocab)
        tokens, merges = read_vocab(self.source)
        self.encoder = {t: i for i, t in enumerate(tokens)}
        self.merges = merges
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.decoder = dict(enumerate(tokens))
        self.b2u = bytes_to_unicode()
        self.u2b = {v: k for k, v in self.b2u.items()}
        self.cache = {}
        if len(self.encoder) != 50257 or self.encoder.get(EOT) != EOT_ID:
            raise ValueError("%s: not the GPT-2 vocabulary (%d tokens, %r at %s)" % (
                self.source, len(self.encoder), EOT, self.encoder.get(EOT)))

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
