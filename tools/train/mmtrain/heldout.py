"""The two held-out evaluation sets, as files + a manifest (manifest.jsonl); heldout.py writes them.

  set 1 "synthetic": this pipeline's renderers, seeds 'heldout1-*' (training uses 'train-*', validation
        'val-*'): PNG or JPEG images, WAV / FLAC / Ogg clips at 8-48 kHz, mono or stereo.
  set 2 "other programs": ImageMagick `convert` draws the shapes (X11 colour names, its own
        anti-aliasing, noise and JPEG), `sox synth` makes tones, beeps, sweeps, noise and silence,
        espeak-ng speaks with voices held out from training (render_audio.HELDOUT_*).

Manifest lines: {"file", "media": "image"|"audio", "truth": caption/description, "objs"|"sound",
"questions": [[question, answer, kind], ...]}. Both sets follow the world spec of world.py.
"""
import json
import math
import os
import random
import subprocess

from . import render_audio, render_image, world

# ImageMagick / X11 colour names per family, with their RGB (for the contrast check)
IM_COLORS = {
    "red": [("red", (255, 0, 0)), ("crimson", (220, 20, 60)), ("firebrick", (178, 34, 34)), ("red3", (205, 0, 0))],
    "orange": [("orange", (255, 165, 0)), ("darkorange", (255, 140, 0))],
    "yellow": [("yellow", (255, 255, 0)), ("gold", (255, 215, 0)), ("yellow2", (238, 238, 0))],
    "green": [("green", (0, 128, 0)), ("lime", (0, 255, 0)), ("forestgreen", (34, 139, 34)),
              ("limegreen", (50, 205, 50)), ("seagreen", (46, 139, 87))],
    "blue": [("blue", (0, 0, 255)), ("royalblue", (65, 105, 225)), ("mediumblue", (0, 0, 205)),
             ("dodgerblue", (30, 144, 255)), ("navy", (0, 0, 128))],
    "purple": [("purple", (128, 0, 128)), ("darkviolet", (148, 0, 211)), ("mediumorchid", (186, 85, 211)),
               ("darkorchid", (153, 50, 204)), ("blueviolet", (138, 43, 226))],
    "black": [("black", (0, 0, 0)), ("gray10", (26, 26, 26))],
    "white": [("white", (255, 255, 255)), ("snow", (255, 250, 250)), ("whitesmoke", (245, 245, 245))],
}


def pick_questions(rng, objs, n=2):
    kinds = rng.sample(world.IMAGE_QUESTION_KINDS, n)
    return [list(world.image_question(rng, objs, k)) for k in kinds]


def audio_questions(rng, s):
    return [list(world.audio_question(rng, s))]


# ------------------------------------------------------------------ set 1
def set1(out, n_img, n_aud, bank_path):
    rows = []
    for i in range(n_img):
        rng = random.Random("heldout1-img-%d" % i)
        objs, img = render_image.sample_image_example(rng, augment=True)
        if rng.random() < 0.5:
            f = "img%04d.png" % i
            img.save(os.path.join(out, f))
        else:
            f = "img%04d.jpg" % i
            img.save(os.path.join(out, f), quality=rng.randint(30, 95))
        rows.append({"file": f, "media": "image", "truth": world.caption(objs), "objs": objs,
                     "questions": pick_questions(rng, objs)})
    bank = render_audio.SpeechBank(bank_path) if n_aud else None
    for i in range(n_aud):
        rng = random.Random("heldout1-aud-%d" % i)
        s = world.sample_sound(rng)
        x, sr = render_audio.render_sound_src(s, rng, bank, augment=True)
        f = "aud%04d.%s" % (i, rng.choice(["wav", "flac", "ogg"]))
        render_audio.write_audio(os.path.join(out, f), x, sr, rng)
        rows.append({"file": f, "media": "audio", "truth": world.describe(s), "sound": s,
                     "questions": audio_questions(rng, s)})
    return rows


# ------------------------------------------------------------------ set 2
def im_image(path, objs, rng):
    W, H = render_image.random_size(rng)
    cols = [rng.choice(IM_COLORS[o["color"]]) for o in objs]
    bg = render_image.sample_background(rng, [c[1] for c in cols])
    cmd = ["convert", "-size", "%dx%d" % (W, H), "xc:rgb(%d,%d,%d)" % bg]
    for o, (cname, _) in zip(objs, cols):
        cx, cy, r = render_image.shape_geometry(rng, o, W, H)
        cmd += ["-fill", cname, "-stroke", "none"]
        if o["shape"] == "circle":
            cmd += ["-draw", "circle %.1f,%.1f %.1f,%.1f" % (cx, cy, cx + r, cy)]
        elif o["shape"] == "square":
            h = r * 0.92
            cmd += ["-draw", "rectangle %.1f,%.1f %.1f,%.1f" % (cx - h, cy - h, cx + h, cy + h)]
        else:
            pts = render_image.shape_points(o["shape"], cx, cy, r, 0.0)
            cmd += ["-draw", "polygon " + " ".join("%.1f,%.1f" % p for p in pts)]
    if rng.random() < 0.3:
        cmd += ["-attenuate", "%.2f" % rng.uniform(0.1, 0.5), "+noise", "Gaussian"]
    if path.endswith(".jpg"):
        cmd += ["-quality", str(rng.randint(40, 95))]
    subprocess.run(cmd + [path], check=True)


def sox_sound(path, s, rng):
    """sox synth for tone / beeps / sweep / noise / silence; espeak-ng (held-out voices) for speech."""
    sr = rng.choice([8000, 11025, 16000, 22050, 32000, 44100, 48000])
    ch = rng.choice(["1", "1", "2"])
    vol = "%.3f" % (10 ** (rng.uniform(-30, -1) / 20))
    k = s["kind"]
    fmt = ["-r", str(sr), "-c", ch] + ([] if path.endswith(".ogg") else ["-b", "16"])
    dur = rng.uniform(0.6, 6.0)
    if k == "tone":
        lo, hi = {"low": (90, 230), "medium": (330, 770), "high": (1100, min(3500, sr * 0.45))}[s["pitch"]]
        f = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        eff = ["synth", "%.2f" % dur, "sine", "%.1f" % f, "vol", vol]
    elif k == "beeps":
        n = s["n"]
        blen, gap = rng.uniform(0.08, 0.2), rng.uniform(0.12, 0.4)
        f = math.exp(rng.uniform(math.log(400), math.log(min(2500, sr * 0.45))))
        eff = ["synth", "%.3f" % blen, "sine", "%.1f" % f, "pad", "0", "%.3f" % gap]
        if n > 1:
            eff += ["repeat", str(n - 1)]
        eff += ["pad", "%.3f" % rng.uniform(0.05, 0.4), "0", "vol", vol]
    elif k == "sweep":
        a = math.exp(rng.uniform(math.log(150), math.log(450)))
        b = math.exp(rng.uniform(math.log(1200), math.log(min(4000, sr * 0.45))))
        f0, f1 = (a, b) if s["dir"] == "rising" else (b, a)
        sep = rng.choice(["-", ":"])
        eff = ["synth", "%.2f" % dur, "sine", "%.0f%s%.0f" % (f0, sep, f1), "vol", vol]
    elif k == "noise":
        eff = ["synth", "%.2f" % dur, "whitenoise", "vol", vol]
    elif k == "silence":
        eff = ["trim", "0", "%.2f" % dur]
    elif k == "speech":
        lang = rng.choice(render_audio.HELDOUT_LANGS)
        var = rng.choice(render_audio.HELDOUT_VARIANTS)
        tmp = path + ".espeak.wav"
        subprocess.run(["espeak-ng", "-v", lang + "+" + var, "-s", str(rng.randint(110, 220)),
                        "-p", str(rng.randint(20, 80)), "-w", tmp, s["word"]], check=True)
        cmd = ["sox", tmp] + fmt + [path, "silence", "1", "0.01", "0.5%", "reverse", "silence", "1", "0.01",
                                    "0.5%", "reverse", "pad", "%.2f" % rng.uniform(0.05, 0.8),
                                    "%.2f" % rng.uniform(0.05, 0.8), "vol", vol]
        subprocess.run(cmd, check=True)
        os.remove(tmp)
        s["voice"] = lang + "+" + var
        return
    else:
        raise ValueError(k)
    subprocess.run(["sox", "-n"] + fmt + [path] + eff, check=True)


def set2(out, n_img, n_aud):
    rows = []
    for i in range(n_img):
        rng = random.Random("heldout2-img-%d" % i)
        objs = world.sample_scene(rng)
        f = "img%04d.%s" % (i, rng.choice(["png", "jpg"]))
        im_image(os.path.join(out, f), objs, rng)
        rows.append({"file": f, "media": "image", "truth": world.caption(objs), "objs": objs,
                     "questions": pick_questions(rng, objs)})
    for i in range(n_aud):
        rng = random.Random("heldout2-aud-%d" % i)
        s = world.sample_sound(rng)
        f = "aud%04d.%s" % (i, rng.choice(["wav", "flac", "ogg"]))
        sox_sound(os.path.join(out, f), s, rng)
        rows.append({"file": f, "media": "audio", "truth": world.describe(s), "sound": s,
                     "questions": audio_questions(rng, s)})
    return rows


def write_set(n, out, n_img, n_aud, bank=None):
    """Set n (1 or 2) into folder out with its manifest.jsonl. Set 1's speech comes from bank (default
    OUT/speech_bank_heldout1.npz: training voices, fresh voice/speed/pitch draws from the seed
    'speech-bank-heldout1', made there if missing)."""
    os.makedirs(out, exist_ok=True)
    if n == 1:
        bank = bank or os.path.join(out, "speech_bank_heldout1.npz")
        if not os.path.exists(bank):
            render_audio.build_speech_bank(bank, random.Random("speech-bank-heldout1"), per_word=20)
        rows = set1(out, n_img, n_aud, bank)
    else:
        rows = set2(out, n_img, n_aud)
    with open(os.path.join(out, "manifest.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
