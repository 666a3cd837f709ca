"""On-the-fly training / evaluation batches for the demo model (deterministic given a seed string).

A batch of B images gives 2B decoder sequences (the caption + one question per image); a batch of B
clips gives 2B (the description + one question). The media are encoded once per batch.
Sequence (fusion's template, no system prompt):
   "User: " <media rows> "\n" PROMPT "\n" "Assistant:"  " " ANSWER <|endoftext|>
The text before and after the media is tokenized as separate pieces, exactly as the engine does.
"""
import random

import numpy as np
import torch

from . import render_audio, render_image, world
from .bpe import BPE, EOT_ID

CAPTION_PROMPT = "Describe this image."
DESCRIBE_PROMPT = "Describe this sound."
USER_PREFIX = "User: "
USER_SUFFIX = "\n"
ASSISTANT_PREFIX = "Assistant:"


class Tok:
    """The prompt pieces of fusion's template as token ids (cached). vocab: see bpe.find_vocab."""

    def __init__(self, vocab=None):
        self.bpe = BPE(vocab)
        self.cache = {}

    def enc(self, s):
        r = self.cache.get(s)
        if r is None:
            r = self.bpe.encode(s)
            if len(self.cache) < 200000:
                self.cache[s] = r
        return r

    def pre(self):
        return self.enc(USER_PREFIX)

    def post(self, prompt):
        return self.enc("\n" + prompt + USER_SUFFIX + ASSISTANT_PREFIX)

    def ans(self, text):
        return self.enc(" " + text) + [EOT_ID]


def world_tokens(tok, n=3000):
    """Every token that can occur in an answer (sampled exhaustively enough) + EOT."""
    s = set([EOT_ID])
    rng = random.Random("world-tokens")
    for _ in range(n):
        objs = world.sample_scene(rng)
        s.update(tok.ans(world.caption(objs)))
        for k in world.IMAGE_QUESTION_KINDS:
            s.update(tok.ans(world.image_question(rng, objs, k)[1]))
        snd = world.sample_sound(rng)
        s.update(tok.ans(world.describe(snd)))
        s.update(tok.ans(world.audio_question(rng, snd)[1]))
    for w in world.NUM_WORDS + world.SPEECH_WORDS + world.POSITIONS + world.COLORS + world.SHAPES + \
            ["nothing", "yes", "no", "rising", "falling", "low", "medium", "high", "small", "large"]:
        s.update(tok.ans(w))
    return sorted(s)


def train_vocab(tok, n=20000):
    """Every token of the prompts, questions (all surface styles) and answers, sampled broadly."""
    s = set(world_tokens(tok))
    s.update(tok.pre())
    for p in (CAPTION_PROMPT, DESCRIBE_PROMPT):
        s.update(tok.post(p))
    rng = random.Random("train-vocab")
    for _ in range(n):
        objs = world.sample_scene(rng)
        q, a, _ = world.image_question(rng, objs)
        s.update(tok.enc("\n" + q + USER_SUFFIX + ASSISTANT_PREFIX))
        snd = world.sample_sound(rng)
        q, a, _ = world.audio_question(rng, snd)
        s.update(tok.enc("\n" + q + USER_SUFFIX + ASSISTANT_PREFIX))
    return sorted(s)


AUDIO_CLASSES = ["tone:low", "tone:medium", "tone:high"] + ["beeps:%d" % n for n in range(1, 6)] + \
    ["sweep:rising", "sweep:falling", "noise", "silence"] + ["speech:" + w for w in world.SPEECH_WORDS]


def audio_class(s):
    k = s["kind"]
    key = {"tone": "tone:%s" % s.get("pitch"), "beeps": "beeps:%s" % s.get("n"), "sweep": "sweep:%s" % s.get("dir"),
           "speech": "speech:%s" % s.get("word")}.get(k, k)
    return AUDIO_CLASSES.index(key)


def scene_labels(objs):
    """Per grid cell: shape (0 = none, 1..4), colour (0 = none, 1..8), size (0 = none, 1..2) -> [9, 3]."""
    lab = np.zeros((9, 3), np.int64)
    for o in objs:
        lab[o["cell"]] = [1 + world.SHAPES.index(o["shape"]), 1 + world.COLORS.index(o["color"]),
                          1 + world.SIZES.index(o["size"])]
    return lab


LAST_LABELS = {}


def key_token(tok, q, key):
    """Index in tok.post(q) of the token holding the last character of `key` in question q (any case),
    or -1 (no key, or not found as written)."""
    if not key:
        return -1
    pieces = [tok.bpe.decode([t]) for t in tok.post(q)]
    at = "".join(pieces).lower().rfind(key.lower())
    if at < 0:
        return -1
    last = at + len(key) - 1
    n = 0
    for i, piece in enumerate(pieces):
        n += len(piece)
        if n > last:
            return i
    return -1


def seg_labels(objs, lab, side):
    """Per pixel of a side x side map (the squashed image at 1/4 resolution): [side, side, 2] =
    (shape 0 = background / 1..4, colour 0 / 1..8) of the object covering it."""
    from PIL import Image
    q = np.asarray(lab.resize((side, side), Image.NEAREST)).astype(np.int64)
    sh = np.zeros(len(objs) + 1, np.int64)
    co = np.zeros(len(objs) + 1, np.int64)
    for k, o in enumerate(objs):
        sh[k + 1] = 1 + world.SHAPES.index(o["shape"])
        co[k + 1] = 1 + world.COLORS.index(o["color"])
    return np.stack([sh[q], co[q]], -1)


def image_batch(tok, seed, B, augment=True, questions=1, seg_side=0, kind_weights=None):
    """kind_weights: per world.IMAGE_QUESTION_KINDS entry, how often questions of that kind are drawn
    (None: uniformly). Also leaves the scenes' cell labels [B, 9, 3] in LAST_LABELS['img'] (auxiliary training loss),
    per sequence the grid cell its answer is read from (-1: none or a caption) in LAST_LABELS['focus']
    and the index in post[i] of the last token of the question's key words (-1: none) in
    LAST_LABELS['key'],
    and, with seg_side, per-pixel labels [B, seg_side, seg_side, 2] in LAST_LABELS['seg']."""
    rng = random.Random(seed)
    imgs, pre, rows_idx, post, ans, meta = [], [], [], [], [], []
    labs, segs, focus, keys = [], [], [], []
    for i in range(B):
        if seg_side:
            objs, img, lab = render_image.sample_image_example(rng, augment=augment, label_map=True)
            segs.append(seg_labels(objs, lab, seg_side))
        else:
            objs, img = render_image.sample_image_example(rng, augment=augment)
        labs.append(scene_labels(objs))
        x = render_image.train_preprocess(img, rng) if augment else render_image.preprocess(img)
        imgs.append(x)
        items = [(CAPTION_PROMPT, world.caption(objs), "caption")]
        focus.append(-1)
        keys.append(-1)
        for _ in range(questions):
            f = []
            q, a, k = world.image_question(rng, objs, focus=f, weights=kind_weights)
            items.append((q, a, k))
            focus.append(f[0][0])
            keys.append(key_token(tok, q, f[0][1]))
        for p, a, k in items:
            pre.append(tok.pre())
            rows_idx.append(i)
            post.append(tok.post(p))
            ans.append(tok.ans(a))
            meta.append((k, a))
    LAST_LABELS["img"] = torch.from_numpy(np.stack(labs))
    LAST_LABELS["focus"] = torch.tensor(focus, dtype=torch.long)
    LAST_LABELS["key"] = torch.tensor(keys, dtype=torch.long)
    if seg_side:
        LAST_LABELS["seg"] = torch.from_numpy(np.stack(segs))
    return torch.from_numpy(np.stack(imgs)), pre, rows_idx, post, ans, meta


def audio_batch(tok, seed, B, bank, augment=True, questions=1, max_seconds=10.0):
    """Also leaves the clips' classes [B] (AUDIO_CLASSES) in LAST_LABELS['aud']."""
    rng = random.Random(seed)
    labs = []
    mels, nfr, pre, rows_idx, post, ans, meta = [], [], [], [], [], [], []
    for i in range(B):
        s = world.sample_sound(rng)
        labs.append(audio_class(s))
        pcm = render_audio.render_sound(s, rng, bank, augment=augment)
        pcm = pcm[:int(max_seconds * render_audio.SR)]
        m = render_audio.log_mel(pcm)
        mels.append(m)
        nfr.append(m.shape[1])
        items = [(DESCRIBE_PROMPT, world.describe(s), "describe")]
        for _ in range(questions):
            q, a, k = world.audio_question(rng, s)
            items.append((q, a, "a_" + k))
        for p, a, k in items:
            pre.append(tok.pre())
            rows_idx.append(i)
            post.append(tok.post(p))
            ans.append(tok.ans(a))
            meta.append((k, a))
    T = max(nfr)
    mel = np.zeros((B, render_audio.N_MELS, T), np.float32)
    for i, m in enumerate(mels):
        mel[i, :, :m.shape[1]] = m
    LAST_LABELS["aud"] = torch.tensor(labs, dtype=torch.long)
    return torch.from_numpy(mel), nfr, pre, rows_idx, post, ans, meta
