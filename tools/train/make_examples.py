#!/usr/bin/python3
"""Render the small committed examples in assets/examples/ (deterministic; < 1 MB in all).

  /usr/bin/python3 tools/train/make_examples.py [--out assets/examples]

Writes a few images (PNG and JPEG) and clips (WAV, FLAC, Ogg) of the demo model's world, and
EXPECTED.txt with the canonical caption / description of each, for the README quick start.
Speech uses the training voices' espeak-ng directly (voice en-us, default variant).
"""
import argparse
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from mmtrain import REPO_DIR, render_audio, render_image, world  # noqa: E402

IMAGES = [
    ("shapes1.png", (320, 240), [("large", "red", "circle", 0), ("small", "blue", "square", 4),
                                 ("large", "yellow", "star", 8)]),
    ("shapes2.png", (256, 256), [("large", "green", "triangle", 4)]),
    ("shapes3.jpg", (400, 200), [("small", "purple", "star", 2), ("large", "white", "circle", 6)]),
    ("shapes4.png", (160, 224), [("small", "orange", "triangle", 1), ("large", "black", "square", 5),
                                 ("small", "red", "star", 7)]),
]

CLIPS = [
    ("beeps.wav", {"kind": "beeps", "n": 3}, 16000),
    ("seven.flac", {"kind": "speech", "word": "seven"}, 22050),
    ("sweep.ogg", {"kind": "sweep", "dir": "rising"}, 44100),
    ("tone.wav", {"kind": "tone", "pitch": "high"}, 8000),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO_DIR, "assets", "examples"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    lines = []
    for i, (name, size, spec) in enumerate(IMAGES):
        rng = random.Random("example-img-%d-v2" % i)
        objs = [{"size": s, "color": c, "shape": sh, "pos": world.POSITIONS[cell], "cell": cell}
                for s, c, sh, cell in spec]
        img, _ = render_image.render_scene(objs, rng, size=size, augment=False)
        p = os.path.join(a.out, name)
        if name.endswith(".jpg"):
            img.save(p, quality=85)
        else:
            img.save(p, optimize=True)
        lines.append("%s\t%s" % (name, world.caption(objs)))
    for i, (name, spec, sr) in enumerate(CLIPS):
        rng = random.Random("example-aud-%d" % i)
        if spec["kind"] == "speech":
            pcm, esr = render_audio.espeak_word(spec["word"], "en-us", "", 150, 50)
            pcm = render_audio.trim_silence(pcm)
            x = np.concatenate([np.zeros(int(0.3 * esr)), pcm, np.zeros(int(0.4 * esr))])
            x = render_audio.resample(x.astype(np.float32), esr, sr) * 0.7
        else:
            x = render_audio.synth(dict(spec), rng, sr, dur=1.5)
            x = (x / max(1e-9, np.abs(x).max()) * 0.5).astype(np.float32)
        render_audio.write_audio(os.path.join(a.out, name), x.astype(np.float32), sr, random.Random(0))
        lines.append("%s\t%s" % (name, world.describe(spec)))
    with open(os.path.join(a.out, "EXPECTED.txt"), "w") as f:
        f.write("# file<TAB>canonical caption / description (made by tools/train/make_examples.py)\n")
        f.write("\n".join(lines) + "\n")
    tot = sum(os.path.getsize(os.path.join(a.out, f)) for f in os.listdir(a.out))
    print("make_examples.py: %d files, %.0f KB in %s" % (len(os.listdir(a.out)), tot / 1024, a.out))


if __name__ == "__main__":
    main()
