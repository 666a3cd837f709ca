#!/usr/bin/python3
"""Does the decoder bind a picture question to the right row? (PyTorch side, a checkpoint.)

  /usr/bin/python3 tools/train/diag/qa_diag.py CKPT.pt [--n 8] [--attn] [-v] [--vocab V]

On n augmented pictures (seed namespace 'diag', never trained on) it asks, by greedy decoding, every
"What shape is at the <place>?" (9 per picture), and "What color is the <shape>?" and "Where is the
<shape>?" for each shape, and prints the counts right. A model that answers about an arbitrary object
scores about 7 / 9, 1 / n_objects, 1 / n_objects. With --attn it also prints, for the first picture,
where head 0 of every decoder block looks from the answer position (key words and rows), the
targets of train.py's --key-layer / --att-layer guidance (mmtrain.losses.focus_loss).
"""
import argparse
import collections
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tools/train: the mmtrain package

import torch  # noqa: E402

from mmtrain import data, render_image, world  # noqa: E402
from mmtrain.model import greedy, load_ckpt  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ckpt")
    ap.add_argument("--n", type=int, default=8, help="pictures")
    ap.add_argument("--attn", action="store_true", help="print head 0 of each block at the answer position")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every wrong answer")
    ap.add_argument("--vocab", help="GPT-2 vocabulary: a folder or a GGUF file (default: mmtrain.bpe.find_vocab)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    m, _ = load_ckpt(a.ckpt)
    render_image.IMAGE_SIZE = m.c.image_size
    tok = data.Tok(a.vocab)
    rng = random.Random("diag")
    right, total = collections.Counter(), collections.Counter()

    def ask(rows, q, want, kind):
        got = tok.bpe.decode(greedy(m, rows, tok.pre(), tok.post(q), 4)).strip()
        right[kind] += got == want
        total[kind] += 1
        if a.verbose and got != want:
            print("  %-34s want %-12s got %s" % (q, want, got))

    for n in range(a.n):
        objs, img = render_image.sample_image_example(rng, augment=True)
        with torch.no_grad():
            rows = m.image_rows(torch.from_numpy(render_image.preprocess(img))[None])[0]
        if a.verbose:
            print(world.caption(objs))
        for p in world.POSITIONS:
            at = [o["shape"] for o in objs if o["pos"] == p]
            ask(rows, "What shape is at the %s?" % p, at[0] if at else "nothing", "what is at <place>")
        for o in objs:
            if [x["shape"] for x in objs].count(o["shape"]) == 1:
                ask(rows, "What color is the %s?" % o["shape"], o["color"], "colour of <shape>")
                ask(rows, "Where is the %s?" % o["shape"], o["pos"], "where is <shape>")
        if a.attn and n == 0:
            show_attention(m, tok, rows, objs)
    for k in total:
        print("%-20s %3d / %3d" % (k, right[k], total[k]))


@torch.no_grad()
def show_attention(m, tok, rows, objs):
    print("attention of head 0 at the answer position; picture:", world.caption(objs))
    for b in m.blocks:
        b.keep_att = True
    pre = tok.pre()
    L, R = len(pre), rows.shape[0]
    for p in world.POSITIONS:
        post = tok.post("What shape is at the %s?" % p)
        m.decode_hidden(m.embed_prompt(pre, rows, post)[None])
        parts = []
        for i, b in enumerate(m.blocks):
            att = b.att[0, 0, -1]
            k = int(att.argmax())
            if k < L:
                where = "prompt"
            elif k < L + R:
                where = "row %d" % (k - L)
            else:
                where = repr(tok.bpe.decode([post[k - L - R]]))
            parts.append("b%d %s %.2f" % (i, where, float(att[k])))
        print("  %-13s %s | rows in block %d: %s" % (p, "; ".join(parts), len(m.blocks) - 1,
                                                     " ".join("%.2f" % v for v in m.blocks[-1].att[0, 0, -1, L:L + R])))
    for b in m.blocks:
        b.keep_att, b.att = False, None


if __name__ == "__main__":
    main()
