"""ref_llama_tok.py - independent reference tokenizers for llama.cpp GGUF vocabularies (Python; needs the
`regex` module, Debian python3-regex, for \\p{L} \\p{N} \\p{P} and \\s = White_Space).

Written from the algorithm descriptions, not from the C code:
  * pre-tokenizers: the regex lists llama.cpp (src/llama-vocab.cpp) gives each tokenizer.ggml.pre name, run
    by the `regex` engine and chained as llama.cpp's unicode_regex_split chains them: every regex splits every
    piece left by the previous one into its matches AND the unmatched text between them. Bytes that are not
    valid UTF-8 are decoded with 'surrogateescape' (one lone surrogate, category Cs = "other", per byte).
  * byte-level BPE: GPT-2's loop - lowest-rank adjacent pair, merge every occurrence, repeat; for
    llama-bpe ("ignore_merges") a pre-token that is itself a vocabulary token is that token.
  * SentencePiece BPE (llama.cpp's llm_tokenizer_spm): U+2581 for spaces and in front, characters, then
    repeatedly the adjacent pair whose concatenation is a NORMAL token with the highest score (leftmost on
    ties) is merged; leftovers become <0xXX> byte tokens.
  * special tokens (only when allowed): leftmost match, the longest on a tie; the text between them is
    encoded on its own (SentencePiece: every such fragment gets the prefix space).
"""
import regex

from ref_gpt2_bpe import Encoder, bytes_to_unicode

GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
LLAMA3 = (r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
          r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2 = (r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
         r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
PRE = {
    "gpt-2": [GPT2],
    "llama-bpe": [LLAMA3],
    "qwen2": [QWEN2],
    "smollm": [r"\p{N}", GPT2],
    "default": [r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"],
}
IGNORE_MERGES = {"llama-bpe"}
_COMPILED = {}

NORMAL, UNKNOWN, CONTROL, USER, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
SPACE = "\u2581"


def pretokenize(data: bytes, pre: str):
    """list of byte strings"""
    pieces = [data.decode("utf-8", errors="surrogateescape")]
    for rx in PRE[pre]:
        c = _COMPILED.setdefault(rx, regex.compile(rx))
        out = []
        for p in pieces:
            pos = 0
            for m in c.finditer(p):
                if m.start() > pos:
                    out.append(p[pos:m.start()])
                out.append(m.group(0))
                pos = m.end()
            if pos < len(p):
                out.append(p[pos:])
        pieces = out
    return [p.encode("utf-8", errors="surrogateescape") for p in pieces]


def split_special(data: bytes, specials):
    """[(is_special, bytes or id)] - leftmost match, longest on a tie; specials: {text bytes: id}"""
    out, pos, seg = [], 0, 0
    names = sorted(specials, key=lambda s: (-len(s), specials[s]))
    while pos < len(data):
        hit = next((n for n in names if data.startswith(n, pos)), None)
        if hit is None:
            pos += 1
            continue
        if pos > seg:
            out.append((False, data[seg:pos]))
        out.append((True, specials[hit]))
        pos += len(hit)
        seg = pos
    if seg < len(data):
        out.append((False, data[seg:]))
    return out


class SpecialSplit:
    """encode(data, special): the text between special tokens (self.specials) by self.encode_text"""

    def encode(self, data: bytes, special=False):
        if not special:
            return self.encode_text(data)
        ids = []
        for is_sp, v in split_special(data, self.specials):
            ids += [v] if is_sp else self.encode_text(v)
        return ids


class BPE(SpecialSplit, Encoder):
    """byte-level BPE; tokens in GPT-2's byte-to-unicode alphabet, merges as (a, b) string pairs; the merge
    loop is GPT-2's (ref_gpt2_bpe.Encoder.bpe)"""

    def __init__(self, tokens, merges, types, pre):
        Encoder.__init__(self, {t: i for i, t in reversed(list(enumerate(tokens)))}, merges)
        self.tokens, self.types, self.pre = tokens, types, pre
        self.id = {}
        for i, t in enumerate(tokens):
            if types[i] == NORMAL:
                self.id.setdefault(t, i)
        self.specials = {t.encode(): i for i, t in enumerate(tokens) if types[i] in (CONTROL, USER)}

    def encode_text(self, data: bytes):
        ids = []
        for piece in pretokenize(data, self.pre):
            w = "".join(self.b2u[b] for b in piece)
            if self.pre in IGNORE_MERGES and w in self.id:
                ids.append(self.id[w])
                continue
            for s in self.bpe(w):
                ids.extend([self.id[s]] if s in self.id else [self.id[self.b2u[b]] for b in
                                                              bytes(self.u2b[c] for c in s)])
        return ids

    def decode(self, ids):
        out = bytearray()
        for i in ids:
            t = self.tokens[i]
            out += t.encode() if self.types[i] in (CONTROL, USER) else bytes(self.u2b[c] for c in t)
        return bytes(out)


class SPM(SpecialSplit):
    """SentencePiece BPE as llama.cpp runs it; tokens are plain strings (U+2581 for spaces)"""

    def __init__(self, tokens, scores, types, add_space_prefix=True, unk=0):
        self.tokens, self.scores, self.types = tokens, scores, types
        self.prefix = add_space_prefix
        self.normal = {}
        for i, t in enumerate(tokens):
            if types[i] == NORMAL:
                self.normal.setdefault(t.encode(), i)
        text_id = {}
        for i, t in enumerate(tokens):
            text_id.setdefault(t.encode(), i)
        self.byte_tok = []
        for b in range(256):
            i = text_id.get(("<0x%02X>" % b).encode(), text_id.get(bytes([b]), unk))
            self.byte_tok.append(i)
        self.specials = {t.encode(): i for i, t in enumerate(tokens)
                         if types[i] in (CONTROL, USER, UNKNOWN) and t}

    def encode_text(self, data: bytes):
        if not data:
            return []
        s = (SPACE.encode() if self.prefix else b"") + data.replace(b" ", SPACE.encode())
        sym = [c.encode("utf-8", errors="surrogateescape") for c in s.decode("utf-8", errors="surrogateescape")]
        while True:
            best, best_score = None, None
            for i in range(len(sym) - 1):
                j = self.normal.get(sym[i] + sym[i + 1])
                if j is not None and (best is None or self.scores[j] > best_score):
                    best, best_score = i, self.scores[j]
            if best is None:
                break
            sym[best:best + 2] = [sym[best] + sym[best + 1]]
        ids = []
        for p in sym:
            ids += [self.normal[p]] if p in self.normal else [self.byte_tok[b] for b in p]
        return ids

    def decode(self, ids):
        out = bytearray()
        for i in ids:
            t, ty = self.tokens[i], self.types[i]
            if ty == NORMAL:
                out += t.replace(SPACE, " ").encode()
            elif ty == BYTE:
                out.append(int(t[3:5], 16))
            elif ty == USER:
                out += t.encode()
        return bytes(out)
