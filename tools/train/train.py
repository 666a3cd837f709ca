#!/usr/bin/python3
"""Train the mmgpt demo model on generated data (CPU, deterministic, resumable).

  nice -n 19 /usr/bin/python3 tools/train/train.py --out /work/ckpt/mmgpt-demo            # fresh run
  nice -n 19 /usr/bin/python3 tools/train/train.py --out /work/ckpt/mmgpt-demo --resume   # continue

The data of step s is generated from the seed string "train-<seed>-<s>-img|aud", so a resumed run sees
exactly the batches a straight run would. Checkpoints: OUT/last.pt (atomic), every --ckpt-minutes and
at the end; a copy OUT/step<N>.pt every --keep-every steps. Log: OUT/train.log (one line per
--log-every steps: step, loss_img, loss_aud, lr, sec/step; validation lines start with 'val').
Output softmax during training is over the world's answer tokens + --neg random other tokens
(resampled each step), so the 50,257-row unembedding costs little; the file keeps the full vocab.
"""
import argparse
import json
import math
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import data  # noqa: E402
import gen_audio  # noqa: E402
import gen_image  # noqa: E402
import world  # noqa: E402
from model import Config, MMGPT, assemble, n_params  # noqa: E402
from bpe import EOT_ID  # noqa: E402


def log(out, msg):
    line = time.strftime("%Y-%m-%d %H:%M:%S ", time.gmtime()) + msg
    print(line, flush=True)
    with open(os.path.join(out, "train.log"), "a") as f:
        f.write(line + "\n")


def lr_at(step, a):
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    p = min(1.0, (step - a.warmup) / max(1, a.steps - a.warmup))
    return a.lr_min + 0.5 * (a.lr - a.lr_min) * (1 + math.cos(math.pi * p))


class SegHead(torch.nn.Module):
    """Training-only dense probe on the vision encoder's patch features: for each patch, the shape and
    colour class of each of its (patch/4)^2 sub-pixels (the scene's label map at 1/4 resolution). A
    dense, local signal that teaches the patch features colour-invariant geometry early."""

    def __init__(self, v_d, grid, patch):
        super().__init__()
        self.g = grid
        self.sub = patch // 4
        self.lin = torch.nn.Linear(v_d, self.sub * self.sub * 14)

    def loss(self, feats, lab, obj_weight=1.0):  # feats [B, g*g, v_d]; lab [B, g*sub, g*sub, 2]
        B = feats.shape[0]
        g, s = self.g, self.sub
        x = self.lin(feats).view(B, g, g, s, s, 14).permute(0, 1, 3, 2, 4, 5).reshape(B, g * s, g * s, 14)
        ce = (F.cross_entropy(x[..., :5].reshape(-1, 5), lab[..., 0].reshape(-1), reduction="none") +
              F.cross_entropy(x[..., 5:].reshape(-1, 9), lab[..., 1].reshape(-1), reduction="none"))
        w = 1.0 + (obj_weight - 1.0) * (lab[..., 0].reshape(-1) > 0).to(ce.dtype)
        return (ce * w).sum() / w.sum()


class AuxHeads(torch.nn.Module):
    """Training-only probes on the PROJECTED media rows (not exported): per grid cell (2x2 patches of
    the 6x6 grid) shape/colour/size, and per clip its class. They give the encoders and projectors a
    direct signal from the start instead of only through the decoder."""

    def __init__(self, d, grid):
        super().__init__()
        self.grid = grid
        self.cell = torch.nn.Linear(d, 5 + 9 + 3)
        self.aud = torch.nn.Linear(d, len(data.AUDIO_CLASSES))

    def cell_logits(self, rows):
        """Projected rows [B, g*g, d] pooled per grid cell -> [B, 9, 5 shape + 9 colour + 3 size] logits."""
        B, N, D = rows.shape
        g = self.grid
        x = rows.view(B, g, g, D).permute(0, 3, 1, 2)            # [B, D, g, g]
        x = F.adaptive_avg_pool2d(x, 3).permute(0, 2, 3, 1).reshape(B, 9, D)
        return self.cell(x)

    def image_loss(self, rows, labels, obj_weight=1.0):
        """Mean CE over cells; cells holding a shape weigh obj_weight (empty cells, the easy majority, 1)."""
        lg = self.cell_logits(rows)
        ce = (F.cross_entropy(lg[..., :5].reshape(-1, 5), labels[..., 0].reshape(-1), reduction="none") +
              F.cross_entropy(lg[..., 5:14].reshape(-1, 9), labels[..., 1].reshape(-1), reduction="none") +
              F.cross_entropy(lg[..., 14:].reshape(-1, 3), labels[..., 2].reshape(-1), reduction="none"))
        w = 1.0 + (obj_weight - 1.0) * (labels[..., 0].reshape(-1) > 0).to(ce.dtype)
        return (ce * w).sum() / w.sum()

    def audio_loss(self, rows_list, labels):
        x = torch.stack([r.mean(0) for r in rows_list])
        return F.cross_entropy(self.aud(x), labels)


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


def seq_loss(model, rows, pre, rows_idx, post, ans, cand, cand_index, is_q=None, q_weight=0.0):
    """Mean cross-entropy over the answer tokens of the batch. With q_weight > 0 the tokens of question
    sequences (is_q[i]) are averaged apart and added with that weight: a question's answer is one or two
    tokens, so in a plain token mean the long captions outweigh three questions about ten to one."""
    emb, bi, ti, tg = assemble(model, pre, [rows[i] for i in rows_idx], post, ans)
    h = model.decode_hidden(emb)[bi, ti]
    logits = model.logits(h, cand)
    tgt = cand_index[tg]
    if not q_weight or is_q is None:
        return F.cross_entropy(logits, tgt)
    ce = F.cross_entropy(logits, tgt, reduction="none")
    q = torch.tensor([bool(is_q[i]) for i in bi], dtype=torch.bool)
    parts = [ce[~q].mean() if (~q).any() else ce.new_zeros(())]
    if q.any():
        parts.append(q_weight * ce[q].mean())
    return sum(parts)


def focus_loss(model, layer, pre, n_rows, post, target, to_rows):
    """Attention supervision for picture questions: -log of the attention that head 0 of decoder block
    `layer` pays, at the position that predicts the answer's first token, to one position per question
    (target[i] >= 0): with to_rows, the row of grid cell target[i] (the cell the answer is read from;
    the n_rows picture rows are one per cell, in cell order); else token target[i] of post[i] (the last token of
    the question's key words: 'star', 'top left', 'red star'). Two hops: the key words into the last
    position, then the matching row. Without it the decoder answered every colour / where / what-is-at
    question about an arbitrary object of the picture."""
    att = model.blocks[layer].att  # [B, H, T, T] from the seq_loss forward just before
    sel = [i for i in range(len(pre)) if target[i] >= 0]
    if not sel:
        return att.new_zeros(())
    q = [len(pre[i]) + n_rows + len(post[i]) - 1 for i in sel]
    k = [len(pre[i]) + int(target[i]) + (0 if to_rows else n_rows) for i in sel]
    p = att[torch.tensor(sel), 0, torch.tensor(q), torch.tensor(k)]
    return -torch.log(p + 1e-6).mean()


def parse_q_kinds(spec):
    """--q-kinds 'KIND:W,...' -> one weight per world.IMAGE_QUESTION_KINDS entry (unnamed kinds 1);
    exits with a one-line message on an unknown kind, a weight that is not a finite number >= 0, or
    all weights 0."""
    w = dict.fromkeys(world.IMAGE_QUESTION_KINDS, 1.0)
    for item in spec.split(","):
        k, _, v = item.partition(":")
        try:
            v = float(v)
        except ValueError:
            v = -1.0
        if k.strip() not in w or not (math.isfinite(v) and v >= 0):
            sys.exit("train.py: --q-kinds %r: want KIND:WEIGHT,... with KIND one of %s and WEIGHT a number >= 0"
                     % (spec, ", ".join(world.IMAGE_QUESTION_KINDS)))
        w[k.strip()] = v
    if not sum(w.values()):
        sys.exit("train.py: --q-kinds %r: all weights are 0" % spec)
    return [w[k] for k in world.IMAGE_QUESTION_KINDS]


@torch.no_grad()
def greedy(model, rows, pre, post, max_new=40):
    """Greedy decode one sequence with the full 50,257-token softmax (as the engine does)."""
    out = []
    for _ in range(max_new):
        h = model.decode_hidden(model.embed_prompt(pre, rows, post + out)[None])[0, -1]
        t = int(model.logits(h).argmax())
        if t == EOT_ID:
            break
        out.append(t)
    return out


@torch.no_grad()
def validate(model, tok, bank, n, seed="val"):
    """Quick PyTorch-side accuracy on n images + n clips (seed namespace 'val', never trained on)."""
    model.eval()
    res = {}
    bs = 8
    for j in range(0, n, bs):
        imgs, pre, ridx, post, ans, meta = data.image_batch(tok, "%s-img-%d" % (seed, j), min(bs, n - j),
                                                            augment=True)
        rows = model.image_rows(imgs)
        for k in range(len(pre)):
            got = tok.bpe.decode(greedy(model, rows[ridx[k]], pre[k], post[k]))
            kind, a = meta[k]
            if kind == "caption":
                ok = world.parse_caption(got) == world.parse_caption(a)
            else:
                ok = world.norm_answer(got) == world.norm_answer(a)
            res.setdefault("img_" + ("caption" if kind == "caption" else "qa"), []).append(ok)
    for j in range(0, n, bs):
        mel, nfr, pre, ridx, post, ans, meta = data.audio_batch(tok, "%s-aud-%d" % (seed, j), min(bs, n - j),
                                                                bank, augment=True)
        rows, nr = model.audio_rows(mel, nfr)
        for k in range(len(pre)):
            i = ridx[k]
            got = tok.bpe.decode(greedy(model, rows[i, :int(nr[i])], pre[k], post[k]))
            kind, a = meta[k]
            ok = world.norm_answer(got) == world.norm_answer(a)
            res.setdefault("aud_" + ("describe" if kind == "describe" else "qa"), []).append(ok)
    model.train()
    return {k: sum(v) / len(v) for k, v in res.items()}


def save_ckpt(path, model, opt, step, cfg, args, aux=None, seg=None, opt_seg=None):
    tmp = path + ".tmp"
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "config": cfg.to_dict(),
                "args": vars(args), "aux": aux.state_dict() if aux is not None else {},
                "seg": seg.state_dict() if seg is not None else {},
                "opt_seg": opt_seg.state_dict() if opt_seg is not None else {}}, tmp)
    os.replace(tmp, path)


def init_from(model, aux, path, cfg, say, seg=None):
    """Copy every same-shaped tensor of checkpoint `path` into model / aux / seg; resize vision.pos."""
    src = torch.load(path, map_location="cpu")
    sd, n_copied, skipped = model.state_dict(), 0, []
    for k, v in src["model"].items():
        if k not in sd:
            continue
        if sd[k].shape == v.shape:
            sd[k].copy_(v)
            n_copied += 1
        elif k == "vision.pos":
            g0, g1 = int(round(v.shape[0] ** 0.5)), cfg.image_size // cfg.patch
            t = v.t().reshape(1, v.shape[1], g0, g0)
            t = F.interpolate(t, size=(g1, g1), mode="bicubic", align_corners=False)
            sd[k].copy_(t.reshape(v.shape[1], g1 * g1).t())
            n_copied += 1
        else:
            skipped.append(k)
    model.load_state_dict(sd)
    if src.get("aux"):
        aux.load_state_dict(src["aux"])
    if seg is not None and src.get("seg"):
        ss = seg.state_dict()
        if all(k in src["seg"] and src["seg"][k].shape == v.shape for k, v in ss.items()):
            seg.load_state_dict(src["seg"])
            n_copied += len(ss)
        else:
            skipped.append("seg.*")
    say("warm start from %s (step %d): %d tensors copied, skipped %s" % (path, src["step"], n_copied, skipped))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/work/ckpt/mmgpt-demo")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--bi", type=int, default=12, help="images per step (2 sequences each)")
    ap.add_argument("--ba", type=int, default=12, help="clips per step (2 sequences each)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--row-l2", type=float, default=1e-3, help="penalty on the mean square of media rows")
    ap.add_argument("--img-row-l2", type=float, default=None,
                    help="the same penalty for picture rows only (default --row-l2). Rows far larger than the "
                         "position embeddings (norm 17-117 against 1-2) drown the row's position after the "
                         "decoder's LayerNorm: questions about a place could not find their row")
    ap.add_argument("--aux-weight", type=float, default=1.0, help="weight of the per-cell / per-clip probe losses")
    ap.add_argument("--lr-min", type=float, default=1e-4)
    ap.add_argument("--seg-weight", type=float, default=0.5, help="weight of the dense per-pixel vision probe (0 = off)")
    ap.add_argument("--bv", type=int, default=0,
                    help="extra pictures per step through the vision encoder only (probe losses, no decoder)")
    ap.add_argument("--obj-weight", type=float, default=1.0,
                    help="weight of cells / pixels holding a shape in the vision probe losses (background 1)")
    ap.add_argument("--questions", type=int, default=1, help="questions per image and per clip (besides the caption)")
    ap.add_argument("--q-weight", type=float, default=0.0,
                    help="average question answers apart from captions / descriptions and add them with this "
                         "weight (0 = one token mean over all sequences, as earlier runs)")
    ap.add_argument("--q-kinds", default=None,
                    help="how often each kind of picture question is drawn, e.g. 'count_shape:2,where:2' "
                         "(unnamed kinds 1; default: all kinds alike)")
    ap.add_argument("--att-weight", type=float, default=0.0,
                    help="weight of the attention-focus loss on picture questions (0 = off; see focus_loss)")
    ap.add_argument("--att-layer", type=int, default=2, help="decoder block whose head 0 the focus loss guides")
    ap.add_argument("--key-weight", type=float, default=0.0,
                    help="weight of the key-word attention loss on picture questions (0 = off; see focus_loss)")
    ap.add_argument("--key-layer", type=int, default=1,
                    help="decoder block whose head 0 the key-word loss guides to the question's key words")
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--wd", type=float, default=0.01)
    ap.add_argument("--neg", type=int, default=2048)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--ckpt-minutes", type=float, default=10.0)
    ap.add_argument("--keep-every", type=int, default=1000)
    ap.add_argument("--val-every", type=int, default=500)
    ap.add_argument("--val-n", type=int, default=24)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--bank-per-word", type=int, default=96)
    ap.add_argument("--max-seconds", type=float, default=10.0, help="longest clip fed in training")
    ap.add_argument("--tiny", action="store_true", help="a tiny config for smoke tests")
    ap.add_argument("--image-size", type=int, default=None, help="vision input side (fresh runs; default Config's)")
    ap.add_argument("--patch", type=int, default=None, help="vision patch side (fresh runs; default Config's)")
    ap.add_argument("--v-merge", type=int, default=None,
                    help="pixel-shuffle factor before the image projector (fresh runs; default Config's)")
    ap.add_argument("--init", default=None,
                    help="fresh run warm-started from this checkpoint: every tensor of the same shape is copied; "
                         "the vision position table is resized (bicubic) when the patch grid differs")
    a = ap.parse_args()

    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(a.threads)
    # Debian's torch 1.13 oneDNN (mkldnn) conv backward returned garbage weight gradients (1e11, changing
    # from call to call on the same batch) for the audio convs; the native kernels are exact.
    torch.backends.mkldnn.enabled = False
    torch.manual_seed(a.seed)
    last = os.path.join(a.out, "last.pt")
    ck = None
    if a.resume:
        if not os.path.exists(last):
            sys.exit("train.py: --resume but %s does not exist" % last)
        ck = torch.load(last, map_location="cpu")
        cfg = Config(**ck["config"])
        # keep every setting of the original run (schedule, batch, probes, checkpoint cadence) unless it is
        # given again on the command line; --out / --resume / --init / --tiny are this invocation's own
        for k in ck["args"]:
            if k in ("out", "resume", "init", "tiny", "image_size", "patch", "v_merge") or not hasattr(a, k):
                continue
            if ("--" + k.replace("_", "-")) not in sys.argv:
                setattr(a, k, ck["args"][k])
    else:
        cfg = Config()
        if a.tiny:
            cfg = Config(d=64, n_layer=2, n_head=2, d_ff=256, v_d=64, v_layer=1, v_head=2, v_ff=128,
                         a_d=64, a_layer=1, a_head=2, a_ff=128, a_proj_mid=64)
        if a.image_size:
            cfg.image_size = a.image_size
        if a.patch:
            cfg.patch = a.patch
        if a.v_merge:
            cfg.v_merge = a.v_merge
        if cfg.image_size % cfg.patch or (cfg.image_size // cfg.patch) % cfg.v_merge or cfg.patch % 4:
            sys.exit("train.py: image size %d, patch %d, merge %d: the patch grid must be whole and divisible by "
                     "the merge, and the patch a multiple of 4" % (cfg.image_size, cfg.patch, cfg.v_merge))
    if (a.key_weight > 0 and not 0 <= a.key_layer < cfg.n_layer) or (a.key_weight > 0 and a.att_weight > 0 and
                                                                       a.key_layer == a.att_layer):
        sys.exit("train.py: --key-layer must be in [0, %d) and differ from --att-layer" % cfg.n_layer)
    if a.att_weight > 0 and (cfg.image_size // cfg.patch // cfg.v_merge != 3 or not 0 <= a.att_layer < cfg.n_layer):
        sys.exit("train.py: --att-weight needs one picture row per grid cell (image size / patch / merge = 3, "
                 "here %d) and --att-layer in [0, %d)" % (cfg.image_size // cfg.patch // cfg.v_merge, cfg.n_layer))
    kind_weights = parse_q_kinds(a.q_kinds) if a.q_kinds else None
    gen_image.IMAGE_SIZE = cfg.image_size  # the preprocessing's target side
    tok = data.Tok()
    if ck is not None:
        train_ids = ck["model"]["train_ids"]
    else:
        train_ids = data.train_vocab(tok)
    model = MMGPT(cfg, train_ids)
    aux = AuxHeads(cfg.d, cfg.image_size // cfg.patch // cfg.v_merge)
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad] + \
        [("aux." + n, p) for n, p in aux.named_parameters()]
    decay = [p for n, p in params if p.dim() >= 2 and "wte" not in n and "pos" not in n and "wpe" not in n]
    nodecay = [p for n, p in params if not (p.dim() >= 2 and "wte" not in n and "pos" not in n and "wpe" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.wd}, {"params": nodecay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.98), eps=1e-8)
    # the dense probe has its own optimiser, so checkpoints from before it existed resume unchanged
    seg = SegHead(cfg.v_d, cfg.image_size // cfg.patch, cfg.patch)
    opt_seg = torch.optim.AdamW(seg.parameters(), lr=a.lr, betas=(0.9, 0.98), eps=1e-8, weight_decay=0.0)
    step = 0
    if ck is not None:
        model.load_state_dict(ck["model"])
        if "aux" in ck:
            aux.load_state_dict(ck["aux"])
        opt.load_state_dict(ck["opt"])
        if ck.get("seg"):
            seg.load_state_dict(ck["seg"])
            opt_seg.load_state_dict(ck["opt_seg"])
        step = ck["step"]
        log(a.out, "resumed from %s at step %d" % (last, step))
    else:
        if a.init:
            init_from(model, aux, a.init, cfg, lambda m: log(a.out, m), seg)
        log(a.out, "fresh run: %d parameters (%d trained embedding rows), config %s, args %s" % (
            n_params(model) - model.wte_delta.numel(), len(train_ids), json.dumps(cfg.to_dict()), json.dumps(vars(a))))

    bank_path = os.path.join(a.out, "speech_bank.npz")
    if not os.path.exists(bank_path):
        t0 = time.time()
        gen_audio.build_speech_bank(bank_path + ".tmp.npz", random.Random("speech-bank-%d" % a.seed),
                                    per_word=a.bank_per_word)
        os.replace(bank_path + ".tmp.npz", bank_path)
        log(a.out, "speech bank: %d clips in %.0f s" % (a.bank_per_word * len(world.SPEECH_WORDS), time.time() - t0))
    bank = gen_audio.SpeechBank(bank_path)
    wt = data.world_tokens(tok)
    wt_set = set(wt)
    others = np.array([i for i in range(cfg.n_vocab) if i not in wt_set])
    log(a.out, "world answer tokens: %d" % len(wt))

    model.train()
    t_ck = time.time()
    t_log = time.time()
    acc = {"img": [], "aud": [], "xi": [], "xa": [], "xs": [], "xf": [], "rms": []}
    while step < a.steps:
        lr = lr_at(step, a)
        for g in opt.param_groups + opt_seg.param_groups:
            g["lr"] = lr
        nrng = np.random.default_rng(a.seed * 1000003 + step)
        neg = nrng.choice(others, size=min(a.neg, len(others)), replace=False)
        cand = torch.tensor(np.concatenate([wt, neg]), dtype=torch.long)
        cand_index = torch.full((cfg.n_vocab,), -1, dtype=torch.long)
        cand_index[cand] = torch.arange(len(cand))

        opt.zero_grad(set_to_none=True)
        opt_seg.zero_grad(set_to_none=True)
        seg_side = (cfg.image_size // 4) if a.seg_weight > 0 else 0
        imgs, pre, ridx, post, ans, meta = data.image_batch(tok, "train-%d-%d-img" % (a.seed, step), a.bi,
                                                            questions=a.questions, seg_side=seg_side,
                                                            kind_weights=kind_weights)
        feats = model.vision(imgs)
        rows = model.project_image(feats)  # = model.image_rows(imgs)
        guided = [(a.att_layer, data.LAST_LABELS["focus"], True, a.att_weight),
                  (a.key_layer, data.LAST_LABELS["key"], False, a.key_weight)]
        guided = [g for g in guided if g[3] > 0]
        for g in guided:
            model.blocks[g[0]].keep_att = True
        li = seq_loss(model, rows, pre, ridx, post, ans, cand, cand_index,
                      [m[0] != "caption" for m in meta], a.q_weight)
        xf = li.new_zeros(())
        for layer, target, to_rows, w in guided:
            xf = xf + w * focus_loss(model, layer, pre, rows.shape[1], post, target, to_rows)
        for b in model.blocks:
            b.keep_att, b.att = False, None
        lab_i, lab_s = data.LAST_LABELS["img"], data.LAST_LABELS.get("seg")
        rows_p, feats_p = rows, feats
        if a.bv:  # more pictures for the vision probes only: cheap next to the decoder's sequences
            imgs_v = data.image_batch(tok, "train-%d-%d-vis" % (a.seed, step), a.bv, questions=0,
                                      seg_side=seg_side)[0]
            feats_v = model.vision(imgs_v)
            rows_p = torch.cat([rows, model.project_image(feats_v)])
            feats_p = torch.cat([feats, feats_v])
            lab_i = torch.cat([lab_i, data.LAST_LABELS["img"]])
            if seg_side:
                lab_s = torch.cat([lab_s, data.LAST_LABELS["seg"]])
        xi = aux.image_loss(rows_p, lab_i, a.obj_weight)
        xs = seg.loss(feats_p, lab_s, a.obj_weight) if seg_side else li.new_zeros(())
        mel, nfr, pre, ridx, post, ans, meta = data.audio_batch(tok, "train-%d-%d-aud" % (a.seed, step), a.ba,
                                                                bank, max_seconds=a.max_seconds,
                                                                questions=a.questions)
        rows_list = audio_rows_grouped(model, mel, nfr)
        la = seq_loss(model, rows_list, pre, ridx, post, ans, cand, cand_index,
                      [m[0] != "describe" for m in meta], a.q_weight)
        xa = aux.audio_loss(rows_list, data.LAST_LABELS["aud"])
        # keep media rows near the scale of token embeddings (unpenalised they grew to std ~60 and the
        # decoder treated them as constant attention sinks)
        rl2_i, rl2_a = rows.pow(2).mean(), torch.cat(rows_list).pow(2).mean()
        rl2 = (a.row_l2 if a.img_row_l2 is None else a.img_row_l2) * rl2_i + a.row_l2 * rl2_a
        loss = li + la + a.aux_weight * (xi + xa) + a.seg_weight * xs + rl2 + xf
        parts = {"li": li, "la": la, "xi": xi, "xa": xa, "xs": xs, "rl2": rl2, "xf": xf}
        if not torch.isfinite(loss):
            log(a.out, "step %d: non-finite loss %s; step skipped" % (
                step, " ".join("%s=%.4g" % (k, v.item()) for k, v in parts.items())))
            step += 1
            continue
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_([p for _, p in params] + list(seg.parameters()), 1.0)
        if not torch.isfinite(gn):
            bad = [n for n, p in params if p.grad is not None and not torch.isfinite(p.grad).all()]
            log(a.out, "step %d: non-finite gradient in %s; step skipped" % (step, ",".join(bad[:8])))
            opt.zero_grad(set_to_none=True)
            step += 1
            continue
        opt.step()
        if seg_side:
            opt_seg.step()
        step += 1
        acc["img"].append(li.item())
        acc["aud"].append(la.item())
        acc["xi"].append(xi.item())
        acc["xa"].append(xa.item())
        acc["xs"].append(xs.item())
        acc["xf"].append(xf.item())
        acc["rms"].append(rl2_i.item() ** 0.5)
        if step % a.log_every == 0 or step == a.steps:
            dt = (time.time() - t_log) / len(acc["img"])
            log(a.out, "step %d loss_img %.4f loss_aud %.4f aux_img %.3f aux_aud %.3f seg %.3f focus %.3f "
                "img_row_rms %.2f lr %.2e %.2f s/step" % (step, np.mean(acc["img"]), np.mean(acc["aud"]),
                                                         np.mean(acc["xi"]), np.mean(acc["xa"]), np.mean(acc["xs"]),
                                                         np.mean(acc["xf"]), np.mean(acc["rms"]), lr, dt))
            acc = {"img": [], "aud": [], "xi": [], "xa": [], "xs": [], "xf": [], "rms": []}
            t_log = time.time()
        if time.time() - t_ck > a.ckpt_minutes * 60 or step == a.steps:
            save_ckpt(last, model, opt, step, cfg, a, aux, seg, opt_seg)
            t_ck = time.time()
            log(a.out, "checkpoint %s (step %d)" % (last, step))
        if step % a.keep_every == 0:
            save_ckpt(os.path.join(a.out, "step%d.pt" % step), model, opt, step, cfg, a, aux, seg, opt_seg)
        if a.val_every and (step % a.val_every == 0 or step == a.steps):
            t0 = time.time()
            v = validate(model, tok, bank, a.val_n)
            log(a.out, "val step %d %s (%.0f s)" % (step, " ".join("%s %.3f" % kv for kv in sorted(v.items())),
                                                    time.time() - t0))
            t_log += time.time() - t0
    log(a.out, "done: %d steps" % step)


if __name__ == "__main__":
    main()
