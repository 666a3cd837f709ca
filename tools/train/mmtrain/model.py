"""PyTorch model that mirrors the mmgpt C engine exactly (GGUF names: export.tensor_map, docs/ARCHITECTURE.md).

  decoder  GPT-2: token + learned position embeddings, pre-LN blocks (fused qkv, causal MHA, GELU-tanh
           MLP 4x), final LN, unembedding tied to token_embd (no output.weight in the file).
  vision   ViT: patch conv (p x p, stride p, bias), no CLS, learned positions, pre-LN blocks (separate
           q/k/v, biased, GELU-erf MLP: clip.use_gelu = true), no pre_ln/post_ln; features = last block.
  audio    Whisper-style: GELU(conv k3 s1 p1) -> GELU(conv k3 s2 p1) -> + sinusoidal positions (stored in
           the file) -> pre-LN blocks (GELU-erf) -> post_ln, over the clip's own mel frames.
  projectors  image: mm.2(GELU_erf(mm.0 x)) per patch;  audio: stack k consecutive frames (zero-pad the
           last row) -> mm.a.mlp.2(GELU_erf(mm.a.mlp.1 x)).
Batching: decoder sequences are right-padded (causal attention makes the pad harmless); audio clips
in a batch are padded and masked (key mask in attention, conv1 output zeroed past the clip, so every
clip sees exactly what the engine computes for it alone).
"""
import math
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F

from .bpe import EOT_ID


@dataclass
class Config:
    n_vocab: int = 50257
    n_ctx: int = 256
    d: int = 256
    n_layer: int = 4
    n_head: int = 4
    d_ff: int = 1024
    eps: float = 1e-5
    # vision
    image_size: int = 144  # 9x9 patches: each grid cell is 3x3 patches (96 px left small shapes at 5-14 px)
    patch: int = 16
    v_d: int = 128
    v_layer: int = 3
    v_head: int = 2
    v_ff: int = 512
    v_merge: int = 1  # pixel shuffle: v_merge x v_merge patches -> one projector row (clip.vision.projector.scale_factor)
    # audio
    n_mels: int = 80
    a_d: int = 128
    a_layer: int = 3
    a_head: int = 2
    a_ff: int = 512
    a_max_frames: int = 1500  # mel frames per encoder window (15 s); n_pos = a_max_frames / 2
    stack: int = 8
    a_proj_mid: int = 256

    def to_dict(self):
        return asdict(self)


def gelu_tanh(x):
    return F.gelu(x, approximate="tanh")


def gelu_erf(x):
    return F.gelu(x)


class EncBlock(nn.Module):
    """Pre-LN block with separate biased q/k/v/out and GELU-erf MLP (v.blk.N / a.blk.N)."""

    def __init__(self, d, n_head, d_ff, eps):
        super().__init__()
        self.n_head = n_head
        self.ln1 = nn.LayerNorm(d, eps=eps)
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, d)
        self.v = nn.Linear(d, d)
        self.o = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d, eps=eps)
        self.up = nn.Linear(d, d_ff)
        self.down = nn.Linear(d_ff, d)

    def forward(self, x, key_mask=None):
        B, T, D = x.shape
        h = self.ln1(x)
        hd = D // self.n_head
        q = self.q(h).view(B, T, self.n_head, hd).transpose(1, 2)
        k = self.k(h).view(B, T, self.n_head, hd).transpose(1, 2)
        v = self.v(h).view(B, T, self.n_head, hd).transpose(1, 2)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        if key_mask is not None:  # [B, T] True = real frame
            att = att.masked_fill(~key_mask[:, None, None, :], float("-inf"))
        att = att.softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, D)
        x = x + self.o(y)
        x = x + self.down(gelu_erf(self.up(self.ln2(x))))
        return x


class DecBlock(nn.Module):
    def __init__(self, d, n_head, d_ff, eps):
        super().__init__()
        self.n_head = n_head
        self.keep_att, self.att = False, None  # att [B, n_head, T, T] of the last forward when keep_att
        self.ln1 = nn.LayerNorm(d, eps=eps)
        self.qkv = nn.Linear(d, 3 * d)
        self.o = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d, eps=eps)
        self.up = nn.Linear(d, d_ff)
        self.down = nn.Linear(d_ff, d)

    def forward(self, x, causal):
        B, T, D = x.shape
        hd = D // self.n_head
        q, k, v = self.qkv(self.ln1(x)).split(D, dim=-1)
        q = q.view(B, T, self.n_head, hd).transpose(1, 2)
        k = k.view(B, T, self.n_head, hd).transpose(1, 2)
        v = v.view(B, T, self.n_head, hd).transpose(1, 2)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        att = att.masked_fill(~causal[:T, :T], float("-inf")).softmax(-1)
        if self.keep_att:  # training-only: the attention-focus loss reads it
            self.att = att
        y = (att @ v).transpose(1, 2).reshape(B, T, D)
        x = x + self.o(y)
        x = x + self.down(gelu_tanh(self.up(self.ln2(x))))
        return x


def sinusoids(length, channels, max_timescale=10000):
    """Whisper's sinusoidal position table [length, channels] (sin half, then cos half)."""
    inc = math.log(max_timescale) / (channels // 2 - 1)
    inv = torch.exp(-inc * torch.arange(channels // 2, dtype=torch.float64))
    t = torch.arange(length, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cat([torch.sin(t), torch.cos(t)], dim=1).float()


def pixel_shuffle(feats, s):
    """[B, g*g, E] patch features -> [B, (g/s)^2, s*s*E]: out row (I, J) (I-major) holds patches
    (I*s + di, J*s + dj) at columns (di*s + dj)*E, as Idefics3 / llama.cpp order them
    (clip.vision.projector.scale_factor). s = 1 returns feats unchanged."""
    if s == 1:
        return feats
    B, N, E = feats.shape
    g = int(round(N ** 0.5))
    return feats.view(B, g // s, s, g // s, s, E).permute(0, 1, 3, 2, 4, 5).reshape(B, N // (s * s), s * s * E)


class VisionEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.patch = nn.Conv2d(3, c.v_d, c.patch, stride=c.patch)
        n = (c.image_size // c.patch) ** 2
        self.pos = nn.Parameter(torch.randn(n, c.v_d) * 0.02)
        self.blocks = nn.ModuleList([EncBlock(c.v_d, c.v_head, c.v_ff, c.eps) for _ in range(c.v_layer)])

    def forward(self, img):  # [B, 3, S, S] normalised
        x = self.patch(img).flatten(2).transpose(1, 2)  # [B, n_patches (row-major y, x), d]
        x = x + self.pos[None]
        for b in self.blocks:
            x = b(x)
        return x


class AudioEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.conv1 = nn.Conv1d(c.n_mels, c.a_d, 3, padding=1)
        self.conv2 = nn.Conv1d(c.a_d, c.a_d, 3, stride=2, padding=1)
        self.register_buffer("pos", sinusoids(c.a_max_frames // 2, c.a_d), persistent=False)
        self.blocks = nn.ModuleList([EncBlock(c.a_d, c.a_head, c.a_ff, c.eps) for _ in range(c.a_layer)])
        self.post_ln = nn.LayerNorm(c.a_d, eps=c.eps)

    def forward(self, mel, n_frames):
        """mel [B, n_mels, T] zero-padded past each clip's n_frames (list/tensor of ints, T_in per clip).
        Returns (x [B, T2, d], lengths T2 = (n+1)//2)."""
        B, _, T = mel.shape
        nf = torch.as_tensor(n_frames)
        m1 = (torch.arange(T)[None, :] < nf[:, None]).to(mel.dtype)
        x = gelu_erf(self.conv1(mel * m1[:, None, :])) * m1[:, None, :]
        x = gelu_erf(self.conv2(x))
        T2 = x.shape[2]
        n2 = (nf + 1) // 2
        x = x.transpose(1, 2) + self.pos[None, :T2]
        km = torch.arange(T2)[None, :] < n2[:, None]
        for b in self.blocks:
            x = b(x, km)
        x = self.post_ln(x)
        return x, n2


class MMGPT(nn.Module):
    """train_ids: token ids whose embedding rows are trained (the world's prompt/answer tokens); the
    other rows of the 50,257-row table stay at their random initialisation (frozen), which keeps the
    optimiser off 12.9 M unused parameters. The effective table is full_wte() (what the file holds)."""

    def __init__(self, c: Config, train_ids=None):
        super().__init__()
        self.c = c
        self.wte = nn.Embedding(c.n_vocab, c.d)
        self.wte.weight.requires_grad_(False)
        if train_ids is None:
            train_ids = torch.arange(c.n_vocab)
        train_ids = torch.as_tensor(train_ids, dtype=torch.long)
        self.register_buffer("train_ids", train_ids)
        slot = torch.full((c.n_vocab,), len(train_ids), dtype=torch.long)
        slot[train_ids] = torch.arange(len(train_ids))
        self.register_buffer("slot", slot, persistent=False)
        self.wte_delta = nn.Parameter(torch.zeros(len(train_ids), c.d))
        self.wpe = nn.Embedding(c.n_ctx, c.d)
        self.blocks = nn.ModuleList([DecBlock(c.d, c.n_head, c.d_ff, c.eps) for _ in range(c.n_layer)])
        self.ln_f = nn.LayerNorm(c.d, eps=c.eps)
        self.vision = VisionEncoder(c)
        self.audio = AudioEncoder(c)
        self.mm0 = nn.Linear(c.v_d * c.v_merge * c.v_merge, c.d)
        self.mm2 = nn.Linear(c.d, c.d)
        self.ma1 = nn.Linear(c.stack * c.a_d, c.a_proj_mid)
        self.ma2 = nn.Linear(c.a_proj_mid, c.d)
        self.register_buffer("causal", torch.tril(torch.ones(c.n_ctx, c.n_ctx, dtype=torch.bool)),
                             persistent=False)
        self.apply(self._init)
        for b in self.blocks:  # GPT-2 residual scaling
            nn.init.normal_(b.o.weight, std=0.02 / math.sqrt(2 * c.n_layer))
            nn.init.normal_(b.down.weight, std=0.02 / math.sqrt(2 * c.n_layer))

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    # ---------------------------------------------------------------- media -> decoder rows
    def image_rows(self, img):
        return self.project_image(self.vision(img))  # [B, n_patches / v_merge^2, d]

    def project_image(self, feats):
        """Vision features [B, g*g, v_d] -> decoder rows: pixel_shuffle(v_merge) -> mm.0 -> GELU -> mm.2."""
        return self.mm2(gelu_erf(self.mm0(pixel_shuffle(feats, self.c.v_merge))))

    def audio_rows(self, mel, n_frames):
        """Returns (rows [B, R, d] zero-padded, n_rows per clip)."""
        x, n2 = self.audio(mel, n_frames)
        B, T2, D = x.shape
        k = self.c.stack
        km = (torch.arange(T2)[None, :] < n2[:, None]).to(x.dtype)
        x = x * km[:, :, None]  # frames past the clip are the zero padding of the last row
        R = (T2 + k - 1) // k
        if R * k > T2:
            x = F.pad(x, (0, 0, 0, R * k - T2))
        x = x.reshape(B, R, k * D)
        rows = self.ma2(gelu_erf(self.ma1(x)))
        return rows, (n2 + k - 1) // k

    # ---------------------------------------------------------------- decoder
    def decode_hidden(self, emb):
        """emb [B, T, d] input embeddings (without positions) -> final-LN hidden [B, T, d]."""
        B, T, _ = emb.shape
        x = emb + self.wpe.weight[None, :T]
        for b in self.blocks:
            x = b(x, self.causal)
        return self.ln_f(x)

    def _delta(self):
        return torch.cat([self.wte_delta, self.wte_delta.new_zeros(1, self.c.d)], 0)

    def embed(self, ids):
        return self.wte.weight[ids] + self._delta()[self.slot[ids]]

    def embed_prompt(self, pre_ids, rows, post_ids):
        """One sequence's decoder input (without positions): tokens pre_ids, media rows [R, d], tokens
        post_ids -> [len(pre_ids) + R + len(post_ids), d] (assemble() does the same for a batch)."""
        dev = self.wte.weight.device
        return torch.cat([self.embed(torch.tensor(pre_ids, dtype=torch.long, device=dev)), rows,
                          self.embed(torch.tensor(post_ids, dtype=torch.long, device=dev))], 0)

    def full_wte(self):
        w = self.wte.weight.detach().clone()
        w[self.train_ids] += self.wte_delta.detach()
        return w

    def logits(self, h, cand=None):
        if cand is None:
            w = self.wte.weight + self._delta()[self.slot]
        else:
            w = self.embed(cand)
        return h @ w.t()


def assemble(model, pre_ids, rows_list, post_ids, ans_ids):
    """Build a right-padded batch of decoder inputs.

    For each sequence i: tokens pre_ids[i] (text before the media), rows_list[i] [R_i, d] (media rows),
    post_ids[i] (text after the media up to 'Assistant:'), ans_ids[i] (answer tokens incl. EOT).
    Input = pre + media + post + ans[:-1]; targets = ans at the positions predicting them.
    One embedding lookup and one gather for the whole batch (a dense 50,257-row gradient per call
    would otherwise dominate the step). Returns emb [B, T, d], (b, t) target positions and target ids.
    """
    dev = model.wte.weight.device
    all_ids, bi, ti, tg = [], [], [], []
    n_rows = sum(r.shape[0] for r in rows_list)
    # source table: [text embeddings (N) | media rows (n_rows) | one zero row]
    row_off = 0
    text_pos = []
    for i in range(len(pre_ids)):
        a = pre_ids[i]
        b = post_ids[i] + ans_ids[i][:-1]
        base = len(all_ids)
        all_ids.extend(a)
        all_ids.extend(b)
        text_pos.append((base, len(a), len(b), row_off, rows_list[i].shape[0]))
        row_off += rows_list[i].shape[0]
        start = len(a) + rows_list[i].shape[0] + len(post_ids[i]) - 1
        for j, t in enumerate(ans_ids[i]):
            bi.append(i)
            ti.append(start + j)
            tg.append(t)
    N = len(all_ids)
    T = max(tp[1] + tp[2] + tp[4] for tp in text_pos)
    if T > model.c.n_ctx:
        raise ValueError("sequence of %d positions exceeds n_ctx %d" % (T, model.c.n_ctx))
    zero = N + n_rows
    idx = torch.full((len(pre_ids), T), zero, dtype=torch.long)
    for i, (base, la, lb, ro, nr) in enumerate(text_pos):
        idx[i, :la] = torch.arange(base, base + la)
        idx[i, la:la + nr] = torch.arange(N + ro, N + ro + nr)
        idx[i, la + nr:la + nr + lb] = torch.arange(base + la, base + la + lb)
    E = model.embed(torch.tensor(all_ids, dtype=torch.long, device=dev))
    S = torch.cat([E] + list(rows_list) + [E.new_zeros(1, E.shape[1])], 0)
    emb = S[idx.to(dev)]
    return emb, torch.tensor(bi), torch.tensor(ti), torch.tensor(tg)


def load_ckpt(path):
    """A training checkpoint (train.py's last.pt / step<N>.pt) -> (model in eval mode, checkpoint dict)."""
    ck = torch.load(path, map_location="cpu")
    model = MMGPT(Config(**ck["config"]), ck["model"]["train_ids"])
    model.load_state_dict(ck["model"])
    model.eval()
    return model, ck


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def audio_rows_grouped(model, mel, nfr, group=4):
    """Encode clips in groups of similar length (little padding); returns one [R_i, d] per clip."""
    order = sorted(range(len(nfr)), key=lambda i: nfr[i])
    out = [None] * len(nfr)
    for g in range(0, len(order), group):
        idx = order[g:g + group]
        T = max(nfr[i] for i in idx)
        rows, nr = model.audio_rows(mel[idx, :, :T], [nfr[i] for i in idx])
        for j, i in enumerate(idx):
            out[i] = rows[j, :int(nr[j])]
    return out


@torch.no_grad()
def greedy(model, rows, pre, post, max_new=40):
    """Greedy decode one sequence with the full 50,257-token softmax (as the engine does): token ids
    after pre + media rows [R, d] + post, up to (not including) <|endoftext|>."""
    out = []
    for _ in range(max_new):
        h = model.decode_hidden(model.embed_prompt(pre, rows, post + out)[None])[0, -1]
        t = int(model.logits(h).argmax())
        if t == EOT_ID:
            break
        out.append(t)
    return out
