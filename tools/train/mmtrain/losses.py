"""The training objective (nothing here is exported to the GGUF).

  seq_loss     cross-entropy on the answer tokens over a candidate set (the world's answer tokens + random
               others), question answers optionally averaged apart from captions (q_weight)
  focus_loss   attention guidance for picture questions: head 0 of one decoder block at the answer position
               -> the question's key words, or -> the asked grid cell's picture row
  AuxHeads     probes on the projected media rows: per grid cell shape / colour / size, per clip its class
  SegHead      dense probe on the vision encoder's patch features: shape / colour per 4x4-pixel sub-block
  row_penalty  mean square of the media rows (keeps them near the scale of the token embeddings)
"""
import torch
import torch.nn.functional as F

from . import data
from .model import assemble


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
    """Training-only probes on the PROJECTED media rows (not exported): per grid cell (the rows pooled to
    3 x 3) shape/colour/size, and per clip its class. They give the encoders and projectors a direct
    signal from the start instead of only through the decoder."""

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


def row_penalty(rows):
    """Mean square of media rows [.., d] (the trainer weighs it by --row-l2 / --img-row-l2): unpenalised
    the rows grew to std ~60 and the decoder treated them as constant attention sinks."""
    return rows.pow(2).mean()
