"""One training stage: setup, the step, the loop, checkpoints, validation (train.py calls run()).

  run(a, ck)      a = options.resolve(...), ck = load_last(a.out) with --resume: set up, train to the end
  setup(a, ck)    -> Stage: model config, tokenizer, model + training-only heads, optimisers, data side
  train_step(s)   one optimiser step on generated batches; the loss parts, or None when it was skipped
  save_ckpt / init_from / validate / lr_at / log

Determinism: step s draws its batches from the seed strings "train-<seed>-<s>-img|aud|vis" and its
negative tokens from numpy's default_rng(seed * 1000003 + s), so a resumed run sees exactly the
batches of a run without a break. Checkpoints: OUT/last.pt (atomic), every --ckpt-minutes and at the
end; a copy OUT/step<N>.pt every --keep-every steps. Log: OUT/train.log (one line per --log-every
steps: losses, lr, sec/step; validation lines start with 'val'). Output softmax during training is
over the world's answer tokens + --neg random other tokens (resampled each step), so the 50,257-row
unembedding costs little; the file keeps the full vocabulary.
"""
import json
import math
import os
import random
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from . import UsageError, data, options, render_audio, render_image, world
from .losses import AuxHeads, SegHead, focus_loss, row_penalty, seq_loss
from .model import Config, MMGPT, audio_rows_grouped, greedy, n_params

TINY = dict(d=64, n_layer=2, n_head=2, d_ff=256, v_d=64, v_layer=1, v_head=2, v_ff=128,
            a_d=64, a_layer=1, a_head=2, a_ff=128, a_proj_mid=64)


def log(out, msg):
    line = time.strftime("%Y-%m-%d %H:%M:%S ", time.gmtime()) + msg
    print(line, flush=True)
    with open(os.path.join(out, "train.log"), "a") as f:
        f.write(line + "\n")


def lr_at(step, a):
    """Linear warmup over a.warmup steps, then cosine from a.lr to a.lr_min at a.steps."""
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    p = min(1.0, (step - a.warmup) / max(1, a.steps - a.warmup))
    return a.lr_min + 0.5 * (a.lr - a.lr_min) * (1 + math.cos(math.pi * p))


def end_step(a):
    return min(a.steps, a.stop_at) if a.stop_at else a.steps


# ---------------------------------------------------------------- checkpoints
def load_last(out):
    """OUT/last.pt, the checkpoint --resume continues (its "args" are the run's settings)."""
    last = os.path.join(out, "last.pt")
    if not os.path.exists(last):
        raise UsageError("--resume but %s does not exist" % last)
    return torch.load(last, map_location="cpu")


def save_ckpt(path, s):
    tmp = path + ".tmp"
    torch.save({"model": s.model.state_dict(), "opt": s.opt.state_dict(), "step": s.step, "config": s.cfg.to_dict(),
                "args": vars(s.a), "aux": s.aux.state_dict(), "seg": s.seg.state_dict(),
                "opt_seg": s.opt_seg.state_dict()}, tmp)
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


# ---------------------------------------------------------------- validation
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


# ---------------------------------------------------------------- stage setup
@dataclass
class Stage:
    a: object            # resolved options (argparse.Namespace)
    cfg: Config
    tok: data.Tok
    model: MMGPT
    aux: AuxHeads
    seg: SegHead
    params: list         # [(name, parameter)] of model + aux, in the optimiser's order
    opt: torch.optim.Optimizer
    opt_seg: torch.optim.Optimizer
    step: int
    kind_weights: list   # per world.IMAGE_QUESTION_KINDS, or None
    bank: object = None  # render_audio.SpeechBank
    wt: list = None      # the world's answer tokens (always in the output softmax)
    others: np.ndarray = None  # every other token id (negatives are drawn from them)


def model_config(a, ck):
    """The run's model.Config: the checkpoint's when resuming, else Config (or TINY) with the shape options."""
    if ck is not None:
        return Config(**ck["config"])
    cfg = Config(**TINY) if a.tiny else Config()
    for k in ("image_size", "patch", "v_merge"):
        if getattr(a, k):
            setattr(cfg, k, getattr(a, k))
    options.check_shape(cfg)
    return cfg


def build(a, cfg, train_ids, tok, kind_weights):
    """Model, training-only heads and optimisers (torch's RNG draws in this order: model, aux, seg)."""
    model = MMGPT(cfg, train_ids)
    aux = AuxHeads(cfg.d, cfg.image_size // cfg.patch // cfg.v_merge)
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad] + \
        [("aux." + n, p) for n, p in aux.named_parameters()]

    def decays(n, p):
        return p.dim() >= 2 and "wte" not in n and "pos" not in n and "wpe" not in n
    opt = torch.optim.AdamW([{"params": [p for n, p in params if decays(n, p)], "weight_decay": a.wd},
                             {"params": [p for n, p in params if not decays(n, p)], "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.98), eps=1e-8)
    # the dense probe has its own optimiser, so checkpoints from before it existed resume unchanged
    seg = SegHead(cfg.v_d, cfg.image_size // cfg.patch, cfg.patch)
    opt_seg = torch.optim.AdamW(seg.parameters(), lr=a.lr, betas=(0.9, 0.98), eps=1e-8, weight_decay=0.0)
    return Stage(a, cfg, tok, model, aux, seg, params, opt, opt_seg, 0, kind_weights)


def load_resume(s, ck, last):
    s.model.load_state_dict(ck["model"])
    if "aux" in ck:
        s.aux.load_state_dict(ck["aux"])
    s.opt.load_state_dict(ck["opt"])
    if ck.get("seg"):
        s.seg.load_state_dict(ck["seg"])
        s.opt_seg.load_state_dict(ck["opt_seg"])
    s.step = ck["step"]
    log(s.a.out, "resumed from %s at step %d" % (last, s.step))


def speech_bank(a):
    """The run's speech bank (render_audio.SpeechBank), built with espeak-ng the first time (minutes)."""
    path = a.bank or os.path.join(a.out, "speech_bank.npz")
    if not os.path.exists(path):
        t0 = time.time()
        seed = a.seed if a.bank_seed is None else a.bank_seed
        render_audio.build_speech_bank(path + ".tmp.npz", random.Random("speech-bank-%d" % seed),
                                       per_word=a.bank_per_word)
        os.replace(path + ".tmp.npz", path)
        log(a.out, "speech bank: %d clips in %.0f s" % (a.bank_per_word * len(world.SPEECH_WORDS), time.time() - t0))
    return render_audio.SpeechBank(path)


def setup(a, ck=None):
    """Everything a stage needs before its first step: a fresh run, a warm start (--init) or, with ck
    (load_last), the resumed run."""
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(a.threads)
    # Debian's torch 1.13 oneDNN (mkldnn) conv backward returned garbage weight gradients (1e11, changing
    # from call to call on the same batch) for the audio convs; the native kernels are exact.
    torch.backends.mkldnn.enabled = False
    torch.manual_seed(a.seed)
    last = os.path.join(a.out, "last.pt")
    cfg = model_config(a, ck)
    options.check_stage(a, cfg)
    kind_weights = options.parse_q_kinds(a.q_kinds)
    render_image.IMAGE_SIZE = cfg.image_size  # the preprocessing's target side
    tok = data.Tok(a.vocab)
    train_ids = ck["model"]["train_ids"] if ck is not None else data.train_vocab(tok)
    s = build(a, cfg, train_ids, tok, kind_weights)
    if ck is not None:
        load_resume(s, ck, last)
    else:
        if a.init:
            init_from(s.model, s.aux, a.init, cfg, lambda m: log(a.out, m), s.seg)
        log(a.out, "fresh run: %d parameters (%d trained embedding rows), config %s, args %s" % (
            n_params(s.model) - s.model.wte_delta.numel(), len(train_ids), json.dumps(cfg.to_dict()),
            json.dumps(vars(a))))
    s.bank = speech_bank(a)
    s.wt = data.world_tokens(tok)
    wt_set = set(s.wt)
    s.others = np.array([i for i in range(cfg.n_vocab) if i not in wt_set])
    log(a.out, "world answer tokens: %d" % len(s.wt))
    return s


# ---------------------------------------------------------------- the step
def candidates(s):
    """This step's output-softmax tokens: the world's answer tokens + a.neg random others, and the
    vocabulary -> candidate index map (-1 outside)."""
    nrng = np.random.default_rng(s.a.seed * 1000003 + s.step)
    neg = nrng.choice(s.others, size=min(s.a.neg, len(s.others)), replace=False)
    cand = torch.tensor(np.concatenate([s.wt, neg]), dtype=torch.long)
    cand_index = torch.full((s.cfg.n_vocab,), -1, dtype=torch.long)
    cand_index[cand] = torch.arange(len(cand))
    return cand, cand_index


def image_losses(s, cand, cand_index, seg_side):
    """Pictures: answer loss, attention guidance, cell probe, dense probe; returns (li, xf, xi, xs, rows)."""
    a, model = s.a, s.model
    imgs, pre, ridx, post, ans, meta = data.image_batch(s.tok, "train-%d-%d-img" % (a.seed, s.step), a.bi,
                                                        questions=a.questions, seg_side=seg_side,
                                                        kind_weights=s.kind_weights)
    feats = model.vision(imgs)
    rows = model.project_image(feats)  # = model.image_rows(imgs)
    guided = [(a.att_layer, data.LAST_LABELS["focus"], True, a.att_weight),
              (a.key_layer, data.LAST_LABELS["key"], False, a.key_weight)]
    guided = [g for g in guided if g[3] > 0]
    for g in guided:
        model.blocks[g[0]].keep_att = True
    li = seq_loss(model, rows, pre, ridx, post, ans, cand, cand_index, [m[0] != "caption" for m in meta], a.q_weight)
    xf = li.new_zeros(())
    for layer, target, to_rows, w in guided:
        xf = xf + w * focus_loss(model, layer, pre, rows.shape[1], post, target, to_rows)
    for b in model.blocks:
        b.keep_att, b.att = False, None
    lab_i, lab_s = data.LAST_LABELS["img"], data.LAST_LABELS.get("seg")
    rows_p, feats_p = rows, feats
    if a.bv:  # more pictures for the vision probes only: cheap next to the decoder's sequences
        imgs_v = data.image_batch(s.tok, "train-%d-%d-vis" % (a.seed, s.step), a.bv, questions=0,
                                  seg_side=seg_side)[0]
        feats_v = model.vision(imgs_v)
        rows_p = torch.cat([rows, model.project_image(feats_v)])
        feats_p = torch.cat([feats, feats_v])
        lab_i = torch.cat([lab_i, data.LAST_LABELS["img"]])
        if seg_side:
            lab_s = torch.cat([lab_s, data.LAST_LABELS["seg"]])
    xi = s.aux.image_loss(rows_p, lab_i, a.obj_weight)
    xs = s.seg.loss(feats_p, lab_s, a.obj_weight) if seg_side else li.new_zeros(())
    return li, xf, xi, xs, rows


def audio_losses(s, cand, cand_index):
    """Clips: answer loss and clip probe; returns (la, xa, rows_list)."""
    a = s.a
    mel, nfr, pre, ridx, post, ans, meta = data.audio_batch(s.tok, "train-%d-%d-aud" % (a.seed, s.step), a.ba,
                                                            s.bank, max_seconds=a.max_seconds, questions=a.questions)
    rows_list = audio_rows_grouped(s.model, mel, nfr)
    la = seq_loss(s.model, rows_list, pre, ridx, post, ans, cand, cand_index, [m[0] != "describe" for m in meta],
                  a.q_weight)
    xa = s.aux.audio_loss(rows_list, data.LAST_LABELS["aud"])
    return la, xa, rows_list


def train_step(s):
    """One optimiser step at s.step (then s.step + 1). Returns the loss parts (floats, plus the picture
    rows' RMS) or None when a non-finite loss or gradient made it skip the update (logged)."""
    a = s.a
    lr = lr_at(s.step, a)
    for g in s.opt.param_groups + s.opt_seg.param_groups:
        g["lr"] = lr
    cand, cand_index = candidates(s)
    s.opt.zero_grad(set_to_none=True)
    s.opt_seg.zero_grad(set_to_none=True)
    seg_side = (s.cfg.image_size // 4) if a.seg_weight > 0 else 0
    li, xf, xi, xs, rows = image_losses(s, cand, cand_index, seg_side)
    la, xa, rows_list = audio_losses(s, cand, cand_index)
    rl2_i, rl2_a = row_penalty(rows), row_penalty(torch.cat(rows_list))
    rl2 = (a.row_l2 if a.img_row_l2 is None else a.img_row_l2) * rl2_i + a.row_l2 * rl2_a
    loss = li + la + a.aux_weight * (xi + xa) + a.seg_weight * xs + rl2 + xf
    parts = {"li": li, "la": la, "xi": xi, "xa": xa, "xs": xs, "rl2": rl2, "xf": xf}
    if not torch.isfinite(loss):
        log(a.out, "step %d: non-finite loss %s; step skipped" % (
            s.step, " ".join("%s=%.4g" % (k, v.item()) for k, v in parts.items())))
        s.step += 1
        return None
    loss.backward()
    gn = torch.nn.utils.clip_grad_norm_([p for _, p in s.params] + list(s.seg.parameters()), 1.0)
    if not torch.isfinite(gn):
        bad = [n for n, p in s.params if p.grad is not None and not torch.isfinite(p.grad).all()]
        log(a.out, "step %d: non-finite gradient in %s; step skipped" % (s.step, ",".join(bad[:8])))
        s.opt.zero_grad(set_to_none=True)
        s.step += 1
        return None
    s.opt.step()
    if seg_side:
        s.opt_seg.step()
    s.step += 1
    return {"img": li.item(), "aud": la.item(), "xi": xi.item(), "xa": xa.item(), "xs": xs.item(), "xf": xf.item(),
            "rms": rl2_i.item() ** 0.5, "lr": lr}


# ---------------------------------------------------------------- the loop
LOG_KEYS = ["img", "aud", "xi", "xa", "xs", "xf", "rms"]


def run(a, ck=None):
    """Train one stage from options a (options.resolve) to step end_step(a); ck: see setup."""
    s = setup(a, ck)
    end = end_step(a)
    last = os.path.join(a.out, "last.pt")
    s.model.train()
    t_ck = t_log = time.time()
    acc = {k: [] for k in LOG_KEYS}
    lr = 0.0
    while s.step < end:
        parts = train_step(s)
        if parts is None:
            continue
        lr = parts["lr"]
        for k in LOG_KEYS:
            acc[k].append(parts[k])
        step = s.step
        if step % a.log_every == 0 or step == end:
            dt = (time.time() - t_log) / len(acc["img"])
            log(a.out, "step %d loss_img %.4f loss_aud %.4f aux_img %.3f aux_aud %.3f seg %.3f focus %.3f "
                "img_row_rms %.2f lr %.2e %.2f s/step" % ((step,) + tuple(np.mean(acc[k]) for k in LOG_KEYS) +
                                                          (lr, dt)))
            acc = {k: [] for k in LOG_KEYS}
            t_log = time.time()
        if time.time() - t_ck > a.ckpt_minutes * 60 or step == end:
            save_ckpt(last, s)
            t_ck = time.time()
            log(a.out, "checkpoint %s (step %d)" % (last, step))
        if step % a.keep_every == 0:
            save_ckpt(os.path.join(a.out, "step%d.pt" % step), s)
        if a.val_every and (step % a.val_every == 0 or step == end):
            t0 = time.time()
            v = validate(s.model, s.tok, s.bank, a.val_n)
            log(a.out, "val step %d %s (%.0f s)" % (step, " ".join("%s %.3f" % kv for kv in sorted(v.items())),
                                                    time.time() - t0))
            t_log += time.time() - t0
    log(a.out, "done: %d steps" % s.step)
