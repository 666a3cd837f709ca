#!/usr/bin/python3
"""Look at what training sees: render a few pictures and sounds of the world with their captions,
descriptions and a sample question each.

  /usr/bin/python3 tools/train/diag/samples.py OUT [--n 8]

Writes OUT/s<i>.png (render_image.sample_image_example, augmented) and OUT/a<i>.wav (render_audio.render_sound
at 16 kHz, with a 2-renderings-per-word speech bank OUT/bank_small.npz), and prints one line per file.
"""
import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tools/train: the mmtrain package

from mmtrain import render_audio, render_image, world  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--n", type=int, default=8)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for i in range(a.n):
        rng = random.Random(i)
        objs, img = render_image.sample_image_example(rng)
        img.save(os.path.join(a.out, "s%d.png" % i))
        print("s%d.png" % i, img.size, world.caption(objs), world.image_question(rng, objs))
    bp = os.path.join(a.out, "bank_small.npz")
    if not os.path.exists(bp):
        render_audio.build_speech_bank(bp, random.Random(1), per_word=2)
    bank = render_audio.SpeechBank(bp)
    for i in range(a.n):
        rng = random.Random(i)
        s = world.sample_sound(rng)
        t0 = time.time()
        pcm = render_audio.render_sound(s, rng, bank)
        render_audio.write_audio(os.path.join(a.out, "a%d.wav" % i), pcm, render_audio.SR, random.Random(0))
        print("a%d.wav" % i, world.describe(s), "%.2f s" % (len(pcm) / render_audio.SR),
              render_audio.log_mel(pcm).shape, "%.3f s" % (time.time() - t0), world.audio_question(rng, s))


if __name__ == "__main__":
    main()
