"""The world the demo model knows: scene / sound specs, canonical captions, questions and answers.

Everything here is pure Python and deterministic given a random.Random(seed). Renderers live in
render_image.py (images) and render_audio.py (sounds); other programs' renderings for the second
held-out set live in heldout.py (set 2). The same spec objects drive all of them.
"""

SHAPES = ["circle", "square", "triangle", "star"]
COLORS = ["red", "orange", "yellow", "green", "blue", "purple", "black", "white"]
SIZES = ["small", "large"]
# 3x3 grid, row-major (top-to-bottom, then left-to-right): the canonical caption order
POSITIONS = ["top left", "top", "top right", "left", "center", "right", "bottom left", "bottom",
             "bottom right"]
NUM_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
SPEECH_WORDS = NUM_WORDS + ["yes", "no", "hello", "stop", "go"]
PLURAL = {"circle": "circles", "square": "squares", "triangle": "triangles", "star": "stars"}


def pos_phrase(p):
    """'at the top left', 'at the top', 'at the center' ..."""
    return "at the " + p


# ------------------------------------------------------------------ images
def sample_scene(rng):
    """A scene: list of dicts {shape,color,size,pos} (distinct grid cells), sorted canonically."""
    n = rng.choice([1, 1, 2, 2, 2, 3, 3, 3])
    cells = rng.sample(range(9), n)
    objs = []
    for c in sorted(cells):
        objs.append({"shape": rng.choice(SHAPES), "color": rng.choice(COLORS),
                     "size": rng.choice(SIZES), "pos": POSITIONS[c], "cell": c})
    return objs


def join_items(items):
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def caption(objs):
    objs = sorted(objs, key=lambda o: o["cell"])
    items = ["a %s %s %s %s" % (o["size"], o["color"], o["shape"], pos_phrase(o["pos"])) for o in objs]
    return join_items(items) + "."


def parse_caption(text):
    """Caption text -> sorted list of (size, color, shape, pos) tuples, or None when unparsable."""
    t = text.strip().lower().rstrip(".").strip()
    if not t:
        return None
    parts = []
    for chunk in t.split(", "):
        parts.extend(chunk.split(" and "))
    out = []
    for p in parts:
        w = p.strip().split()
        if len(w) < 6 or w[0] not in ("a", "an") or w[4] != "at" or w[5] != "the":
            return None
        pos = " ".join(w[6:])
        if w[1] not in SIZES or w[2] not in COLORS or w[3] not in SHAPES or pos not in POSITIONS:
            return None
        out.append((w[1], w[2], w[3], pos))
    return sorted(out, key=lambda x: (POSITIONS.index(x[3]), x))


def scene_tuples(objs):
    return sorted([(o["size"], o["color"], o["shape"], o["pos"]) for o in objs],
                  key=lambda x: (POSITIONS.index(x[3]), x))


def _style(rng, q):
    """Surface variation of a question: case, final punctuation, colour/color, extra spaces."""
    if rng.random() < 0.35:
        q = q.replace("color", "colour")
    r = rng.random()
    if r < 0.12:
        q = q.lower()
    elif r < 0.17:
        q = q.upper()
    elif r < 0.22:
        q = q.title()
    r = rng.random()
    if q.endswith("?") or q.endswith("."):
        if r < 0.15:
            q = q[:-1]
        elif r < 0.2:
            q = q[:-1] + "??"
        elif r < 0.23:
            q = q[:-1] + " ?"
    if rng.random() < 0.03:
        q = "  " + q
    if rng.random() < 0.03:
        q = q + " "
    return q


def _cap(s):
    return s[0].upper() + s[1:]


IMAGE_QUESTION_KINDS = ["count", "count_shape", "color", "shape_at", "exists", "where", "size"]


def image_question(rng, objs, kind=None, focus=None, weights=None):
    """One (question, answer, kind) about a scene; the kind is drawn uniformly, or by `weights` (one per
    IMAGE_QUESTION_KINDS entry) when given. With a list `focus`, also appends (cell, key): the
    grid cell that the answer is read from (0..8), or -1 when no single cell holds it (counts, 'no' to
    'is there'), and the words of the question that pick it ('star', 'top left', 'red star'; None
    for 'how many shapes')."""
    def at(cell, key):
        if focus is not None:
            focus.append((cell, key))
    if kind is None:
        kind = rng.choices(IMAGE_QUESTION_KINDS, weights)[0] if weights else rng.choice(IMAGE_QUESTION_KINDS)
    shapes_present = [o["shape"] for o in objs]
    unique = [s for s in SHAPES if shapes_present.count(s) == 1]
    if kind in ("color", "where", "size") and not unique:
        kind = "count"
    if kind == "count":
        t = rng.choice(["How many shapes are there?", "How many shapes?", "Count the shapes.",
                        "How many shapes are in the picture?", "How many shapes do you see?",
                        "How many objects are there?", "What is the number of shapes?",
                        "How many shapes are in this image?", "Count the objects."])
        at(-1, None)
        return _style(rng, t), NUM_WORDS[len(objs)], kind
    if kind == "count_shape":
        s = rng.choice(SHAPES) if rng.random() < 0.5 else rng.choice(shapes_present)
        pl = PLURAL[s]
        t = rng.choice(["How many %s are there?", "How many %s?", "Count the %s.",
                        "How many %s are in the picture?", "How many %s do you see?",
                        "What is the number of %s?", "How many %s are in this image?"]) % pl
        at(-1, pl)
        return _style(rng, t), NUM_WORDS[shapes_present.count(s)], kind
    if kind == "color":
        s = rng.choice(unique)
        o = [o for o in objs if o["shape"] == s][0]
        t = rng.choice(["What color is the %s?", "Which color is the %s?", "What is the color of the %s?",
                        "What color is the %s in the picture?", "The %s is what color?",
                        "Tell me the color of the %s.", "What color does the %s have?",
                        "Which color does the %s have?", "Color of the %s?"]) % s
        at(o["cell"], s)
        return _style(rng, t), o["color"], kind
    if kind == "shape_at":
        if rng.random() < 0.6:
            o = rng.choice(objs)
            p, ans = o["pos"], o["shape"]
        else:
            used = {o["pos"] for o in objs}
            free = [p for p in POSITIONS if p not in used]
            p = rng.choice(free)
            ans = "nothing"
        t = rng.choice(["What shape is at the %s?", "Which shape is at the %s?", "What is at the %s?",
                        "What shape is in the %s?", "What is in the %s?", "Which shape is in the %s?",
                        "What shape do you see at the %s?", "What's at the %s?"]) % p
        at(POSITIONS.index(p), p)
        return _style(rng, t), ans, kind
    if kind == "exists":
        if rng.random() < 0.5:
            o = rng.choice(objs)
            c, s = o["color"], o["shape"]
        else:
            # a near miss: right colour or right shape, but not the pair
            while True:
                c, s = rng.choice(COLORS), rng.choice(SHAPES)
                if rng.random() < 0.6:
                    o = rng.choice(objs)
                    if rng.random() < 0.5:
                        c = o["color"]
                    else:
                        s = o["shape"]
                if not any(o["color"] == c and o["shape"] == s for o in objs):
                    break
        hit = [o["cell"] for o in objs if o["color"] == c and o["shape"] == s]
        ans = "yes" if hit else "no"
        at(hit[0] if hit else -1, "%s %s" % (c, s))
        art = "an" if c == "orange" else "a"
        t = rng.choice(["Is there %s %s %s?", "Is there %s %s %s in the picture?", "Do you see %s %s %s?",
                        "Is there %s %s %s in the image?", "Can you see %s %s %s?",
                        "Does the picture contain %s %s %s?", "Is %s %s %s present?"]) % (art, c, s)
        return _style(rng, t), ans, kind
    if kind == "where":
        s = rng.choice(unique)
        o = [o for o in objs if o["shape"] == s][0]
        t = rng.choice(["Where is the %s?", "Where's the %s?", "Where is the %s located?",
                        "In which position is the %s?", "Where is the %s in the picture?",
                        "Where can you see the %s?", "What is the position of the %s?",
                        "Where does the %s appear?"]) % s
        at(o["cell"], s)
        return _style(rng, t), o["pos"], kind
    if kind == "size":
        s = rng.choice(unique)
        o = [o for o in objs if o["shape"] == s][0]
        t = rng.choice(["Is the %s small or large?", "Is the %s large or small?", "How big is the %s?",
                        "What size is the %s?", "Is the %s big or small?", "Is the %s small or big?",
                        "What is the size of the %s?"]) % s
        at(o["cell"], s)
        return _style(rng, t), o["size"], kind
    raise ValueError(kind)


# ------------------------------------------------------------------ audio
AUDIO_KINDS = ["tone", "beeps", "sweep", "noise", "silence", "speech"]
TONE_BANDS = {"low": (70.0, 240.0), "medium": (310.0, 790.0), "high": (1050.0, 3600.0)}


def sample_sound(rng):
    """A sound spec: dict with kind and its parameters (no rendering details)."""
    k = rng.choices(AUDIO_KINDS, weights=[3, 4, 2, 1, 1, 5])[0]
    s = {"kind": k}
    if k == "tone":
        s["pitch"] = rng.choice(["low", "medium", "high"])
    elif k == "beeps":
        s["n"] = rng.randint(1, 5)
    elif k == "sweep":
        s["dir"] = rng.choice(["rising", "falling"])
    elif k == "speech":
        s["word"] = rng.choice(SPEECH_WORDS)
    return s


def describe(s):
    k = s["kind"]
    if k == "tone":
        return "a %s sine tone" % s["pitch"]
    if k == "beeps":
        return "one short beep" if s["n"] == 1 else "%s short beeps" % NUM_WORDS[s["n"]]
    if k == "sweep":
        return "a %s sweep" % s["dir"]
    if k == "noise":
        return "white noise"
    if k == "silence":
        return "silence"
    if k == "speech":
        return "a voice saying %s" % s["word"]
    raise ValueError(k)


def audio_question(rng, s, kind=None):
    """One (question, answer, kind) about a sound. Questions mostly match the sound's kind."""
    k = s["kind"]
    default = {"tone": "pitch", "beeps": "beeps", "sweep": "sweep", "speech": "word"}.get(k)
    if kind is None:
        if default is None or rng.random() < 0.15:
            kind = rng.choice(["beeps", "word"])
        else:
            kind = default
    if kind == "beeps":
        t = rng.choice(["How many beeps are there?", "How many beeps?", "Count the beeps.",
                        "How many beeps do you hear?", "How many times does it beep?",
                        "What is the number of beeps?", "How many beeps can you hear?"])
        return _style(rng, t), NUM_WORDS[s["n"]] if k == "beeps" else "zero", kind
    if kind == "pitch":
        t = rng.choice(["Is the tone high, medium or low?", "Is the tone low, medium or high?",
                        "Is the tone high or low?", "What pitch is the tone?", "How high is the tone?",
                        "Is this a high, medium or low tone?", "Is the pitch high, medium or low?",
                        "Is the sound high, medium or low?"])
        return _style(rng, t), s["pitch"], kind
    if kind == "word":
        t = rng.choice(["What word is said?", "What word is spoken?", "What does the voice say?",
                        "Which word is said?", "What word do you hear?", "What is said?",
                        "What does the speaker say?", "Which word is spoken?", "What word does the voice say?"])
        return _style(rng, t), s["word"] if k == "speech" else "nothing", kind
    if kind == "sweep":
        t = rng.choice(["Is the sweep rising or falling?", "Is the sweep falling or rising?",
                        "Does the sweep go up or down?", "Is the sweep going up or down?",
                        "Is the pitch rising or falling?", "Which way does the sweep go?",
                        "Is it a rising or a falling sweep?"])
        return _style(rng, t), s["dir"], kind
    raise ValueError(kind)


def norm_answer(a):
    """Answer normalisation for scoring: lower case, strip spaces and final punctuation."""
    return " ".join(a.strip().lower().rstrip(".!?").split())
