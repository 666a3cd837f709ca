"""ref_bpe_vocab.py - a random text model's vocabulary as llama.cpp tokenizes prompt text with parse_special:
special (control) tokens found by their text, leftmost then longest, the text between them byte-level BPE
(ref_gpt2_bpe.py); and mtmd's lookup_token (the first id whose text is the string). Shared by the prompt
reconstructions of tests/fusion/test_vlm_prompt.py and tests/audio/test_aud_prompt.py.

    V = Vocab(*make_random_llama.make_vocab(family, n_vocab))
    V.tok("<|im_start|>user\\nhello")   -> [ids]
    V.lookup("\\n\\n")                  -> id
"""
import ref_gpt2_bpe


class Vocab:
    """the text model's vocabulary: BPE for text, special tokens by their text (llama.cpp's parse_special)"""

    def __init__(self, tokens, types, merges):
        self.tokens = tokens
        self.special = [t for t, ty in zip(tokens, types) if ty == 3]
        self.enc = ref_gpt2_bpe.Encoder({t: i for i, t in enumerate(tokens) if types[i] != 3},
                                        [tuple(m) for m in merges])

    def tok(self, text):
        out = []
        while text:
            hits = [(text.find(s), s) for s in self.special if s in text]
            if not hits:
                return out + self.enc.encode(text.encode())
            at, s = min(hits, key=lambda h: (h[0], -len(h[1])))
            out += (self.enc.encode(text[:at].encode()) if at else []) + [self.tokens.index(s)]
            text = text[at + len(s):]
        return out

    def lookup(self, text):  # mtmd's lookup_token: first id whose text is `text`
        b2u = ref_gpt2_bpe.bytes_to_unicode()
        want = "".join(b2u[b] for b in text.encode())
        for i, t in enumerate(self.tokens):
            if t == text or t == want:
                return i
        raise KeyError(text)
