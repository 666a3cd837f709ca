#!/usr/bin/python3
"""What the vision side of a checkpoint knows, read through its training-time cell probe (losses.AuxHeads).

  /usr/bin/python3 tools/train/diag/probe.py CKPT.pt [--n 300]

Renders N augmented pictures (seed namespace 'probe', never trained on), runs the checkpoint's vision
encoder + projector, pools the rows per grid cell and prints, for small and for large objects, the
fraction of cells whose shape / colour / size the probe gets right, plus the shape confusion matrix
(rows: truth none, circle, square, triangle, star; columns: prediction). A quick PyTorch-side reading
between engine evaluations (tools/train/eval.py), which remain the measure of record.
"""
import argparse
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tools/train: the mmtrain package

import numpy as np  # noqa: E402
import torch  # noqa: E402

from mmtrain import data, render_image, world  # noqa: E402
from mmtrain.losses import AuxHeads  # noqa: E402
from mmtrain.model import load_ckpt  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ckpt")
    ap.add_argument("--n", type=int, default=300)
    a = ap.parse_args()
    torch.set_num_threads(1)
    m, ck = load_ckpt(a.ckpt)
    cfg = m.c
    render_image.IMAGE_SIZE = cfg.image_size
    aux = AuxHeads(cfg.d, cfg.image_size // cfg.patch // cfg.v_merge)
    aux.load_state_dict(ck["aux"])
    rng = random.Random("probe")
    xs, labs = [], []
    for _ in range(a.n):
        objs, img = render_image.sample_image_example(rng)
        xs.append(render_image.train_preprocess(img, rng))
        labs.append(data.scene_labels(objs))
    lab = torch.from_numpy(np.stack(labs))
    with torch.no_grad():
        lg = aux.cell_logits(m.image_rows(torch.from_numpy(np.stack(xs))))
    sh, co, sz = lg[..., :5].argmax(-1), lg[..., 5:14].argmax(-1), lg[..., 14:].argmax(-1)
    print("%s (step %d), %d pictures" % (a.ckpt, ck["step"], a.n))
    for s in (1, 2):
        mk = lab[..., 2] == s
        print("  %-5s objects %4d: shape %.3f colour %.3f size %.3f" % (
            world.SIZES[s - 1], int(mk.sum()), (sh == lab[..., 0])[mk].float().mean(),
            (co == lab[..., 1])[mk].float().mean(), (sz == lab[..., 2])[mk].float().mean()))
    mk = lab[..., 0] == 0
    print("  empty cells read as empty: %.3f" % (sh == 0)[mk].float().mean())
    cm = np.zeros((5, 5), int)
    for t, p in zip(lab[..., 0].flatten().tolist(), sh.flatten().tolist()):
        cm[t, p] += 1
    print("  shape confusion (rows truth, columns prediction: none circle square triangle star)")
    for row in cm:
        print("   " + " ".join("%6d" % v for v in row))


if __name__ == "__main__":
    main()
