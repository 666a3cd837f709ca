#!/usr/bin/python3
"""Write a held-out evaluation set as files + manifest.jsonl (mmtrain/heldout.py says what each set is).

  /usr/bin/python3 tools/train/heldout.py --set 1 --out SETS/heldout1 --images 300 --clips 300
  /usr/bin/python3 tools/train/heldout.py --set 2 --out SETS/heldout2 --images 300 --clips 300

Set 1 uses this pipeline's renderers with seeds never used in training; set 2 uses ImageMagick, sox and
held-out espeak-ng voices. Score a model on them with tools/eval (= tools/train/eval.py).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mmtrain.heldout import write_set  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", type=int, choices=[1, 2], required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--clips", type=int, default=300)
    ap.add_argument("--bank", default=None,
                    help="speech bank for set 1 (default OUT/speech_bank_heldout1.npz: training voices, fresh "
                         "voice/speed/pitch draws from the seed 'speech-bank-heldout1')")
    a = ap.parse_args()
    write_set(a.set, a.out, a.images, a.clips, a.bank)
    print("heldout.py: set %d: %d images, %d clips in %s" % (a.set, a.images, a.clips, a.out))


if __name__ == "__main__":
    main()
