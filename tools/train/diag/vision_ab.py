#!/usr/bin/python3
"""Vision-only A/B of patch layouts: a ViT (d 128, 3 layers, 2 heads, as model.Config) with patch P and an
s x s pixel shuffle before the projector, trained only through the training-time probes (cell probe on
the projected rows + dense per-patch probe, shape cells weighted x4) on a fixed set of rendered pictures;
prints the cell probe's small/large-object shape accuracy on 300 held-out pictures (seed 'probe').

  /usr/bin/python3 tools/train/diag/vision_ab.py p16 1000 --cache DIR/vab.npz   # patch 16, no shuffle
  /usr/bin/python3 tools/train/diag/vision_ab.py p8 1000 --cache DIR/vab.npz    # patch 8, 2x2 shuffle

The cache (3000 training + 300 test pictures at 144 px, float16, ~420 MB) is rendered once (~30 s) and
shared by both arms. Used on 2026-11-29 to choose the demo model's vision layout (docs/MODEL_CARD.md)."""
import argparse
import math
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tools/train: the mmtrain package
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from mmtrain import data, render_image  # noqa: E402
from mmtrain.losses import AuxHeads, SegHead  # noqa: E402
from mmtrain.model import Config, VisionEncoder, gelu_erf, pixel_shuffle  # noqa: E402

S = 144      # picture side
N_TEST = 300


def make(seed, n):
    """n augmented pictures of seed namespace `seed`: (pixels float16, cell labels, per-pixel labels)."""
    rng = random.Random(seed)
    xs, labs, segs = [], [], []
    for _ in range(n):
        objs, img, lab = render_image.sample_image_example(rng, label_map=True)
        segs.append(data.seg_labels(objs, lab, S // 4))
        labs.append(data.scene_labels(objs))
        xs.append(render_image.train_preprocess(img, rng).astype(np.float16))
    return np.stack(xs), np.stack(labs), np.stack(segs).astype(np.int8)


def load_cache(path, n_train):
    if not os.path.exists(path):
        t = time.time()
        a = make("vexp-train", n_train)
        b = make("probe", N_TEST)
        np.savez(path, xtr=a[0], ltr=a[1], str_=a[2], xte=b[0], lte=b[1], ste=b[2])
        print("data %.0f s" % (time.time() - t), flush=True)
    return np.load(path)


class Arm(nn.Module):
    """The training model's vision side (model.VisionEncoder, pixel_shuffle, mm.0 -> GELU -> mm.2) with the
    training-time probes (losses.SegHead on the patch features, losses.AuxHeads' cell probe on the rows)."""

    def __init__(self, patch, shuffle, d=256):
        super().__init__()
        c = Config(image_size=S, patch=patch, v_merge=shuffle)
        self.s = shuffle
        self.vision = VisionEncoder(c)
        self.mm0 = nn.Linear(c.v_d * shuffle * shuffle, d)
        self.mm2 = nn.Linear(d, d)
        self.seg = SegHead(c.v_d, S // patch, patch)
        self.aux = AuxHeads(d, S // patch // shuffle)

    def forward(self, x):
        f = self.vision(x)
        return f, self.mm2(gelu_erf(self.mm0(pixel_shuffle(f, self.s))))

    def losses(self, x, lab, seg, ow=4.0):
        f, rows = self(x)
        return self.aux.image_loss(rows, lab, ow), self.seg.loss(f, seg, ow)

    def cell_logits(self, rows):
        return self.aux.cell_logits(rows)


def evaluate(m, xte, lte):
    """Cell-probe shape accuracy on the test pictures: [small objects, large objects]."""
    m.eval()
    with torch.no_grad():
        lg = torch.cat([m.cell_logits(m(xte[i:i + 50])[1]) for i in range(0, len(xte), 50)])
    m.train()
    sh = lg[..., :5].argmax(-1)
    out = []
    for sz in (1, 2):
        mk = lte[..., 2] == sz
        out.append(float((sh == lte[..., 0])[mk].float().mean()))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("arm", choices=["p16", "p8"])
    ap.add_argument("steps", type=int)
    ap.add_argument("--cache", required=True, help="the rendered pictures (.npz; made there if missing)")
    ap.add_argument("--n-train", type=int, default=3000)
    cl = ap.parse_args()
    torch.set_num_threads(1)
    render_image.IMAGE_SIZE = S
    D = load_cache(cl.cache, cl.n_train)
    xtr, ltr, s_tr = torch.from_numpy(D["xtr"]), torch.from_numpy(D["ltr"]), torch.from_numpy(D["str_"]).long()
    xte, lte = torch.from_numpy(D["xte"]).float(), torch.from_numpy(D["lte"])
    steps, B = cl.steps, 32
    torch.manual_seed(0)
    m = Arm(16, 1) if cl.arm == "p16" else Arm(8, 2)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3, betas=(0.9, 0.98), weight_decay=0.01)
    rng = np.random.default_rng(0)
    t0 = time.time()
    for step in range(1, steps + 1):
        lr = 1e-3 * min(1, step / 100) * (0.5 + 0.5 * math.cos(math.pi * step / steps)) + 1e-5
        for gp in opt.param_groups:
            gp["lr"] = lr
        idx = torch.from_numpy(rng.integers(0, len(xtr), B))
        lc, ls = m.losses(xtr[idx].float(), ltr[idx], s_tr[idx])
        loss = lc + 0.5 * ls
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        if step % 250 == 0 or step == steps:
            sm, lg_ = evaluate(m, xte, lte)
            print("%s step %d cell %.3f seg %.3f | small shape %.3f large %.3f | %.2f s/step" % (
                cl.arm, step, lc.item(), ls.item(), sm, lg_, (time.time() - t0) / step), flush=True)


if __name__ == "__main__":
    main()
