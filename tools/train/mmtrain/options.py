"""train.py's options: one table, stage config files, and the checks that need no model.

Every option is one row of OPTIONS: (name, type, default, scope, help). The command-line flag is
--name with '-' for '_'; a stage config file (recipe/stage_*.json) is a JSON object of name: value for
any option whose scope is not "cli". Values are resolved in this order, later winning:
  the table's default  <  (with --resume) the checkpoint's own run settings  <  --config FILE  <  the command line.
Scopes: "stage" options are stage settings (config files hold them; a resumed run keeps the checkpoint's
value unless given again); "fresh" options only act on a fresh run (the model shape, the warm start: a
resumed run takes its shape from the checkpoint); "cli" options belong to one invocation (never in a
config file, never taken from a checkpoint).
resolve() raises UsageError (one line) for an unknown config key, a value of the wrong type, or a bad
--q-kinds; check_stage() for option values that contradict the model's shape.
"""
import argparse
import json
import math

from . import UsageError, world

FLAG = "flag"  # type of a store_true option (JSON true / false in a config file)

OPTIONS = [
    # invocation
    ("out", str, None, "cli", "run folder (required): last.pt, step<N>.pt, train.log, speech_bank.npz"),
    ("config", str, None, "cli", "stage config file (JSON object of option names, e.g. recipe/stage_b.json); "
                                 "options on the command line override it"),
    ("resume", FLAG, False, "cli", "continue OUT/last.pt with its own settings (schedule, batch, losses, cadence)"),
    ("dry_run", FLAG, False, "cli", "print the resolved options as JSON and exit"),
    ("vocab", str, None, "cli", "GPT-2 vocabulary: a folder (encoder.json + vocab.bpe) or a GGUF file; default "
                                "$MMGPT_REFDATA/gpt2_bpe, tests/data/gpt2_bpe, then the bundled model"),
    # model shape and warm start (fresh runs)
    ("tiny", FLAG, False, "fresh", "a tiny config for smoke tests"),
    ("image_size", int, None, "fresh", "vision input side (fresh runs; default Config's)"),
    ("patch", int, None, "fresh", "vision patch side (fresh runs; default Config's)"),
    ("v_merge", int, None, "fresh", "pixel-shuffle factor before the image projector (fresh runs; default Config's)"),
    ("init", str, None, "fresh", "fresh run warm-started from this checkpoint: every tensor of the same shape is "
                                 "copied; the vision position table is resized (bicubic) when the patch grid differs"),
    # schedule
    ("steps", int, 6000, "stage", "length of the learning-rate schedule (and of the run, unless --stop-at)"),
    ("stop_at", int, 0, "stage", "end the run at this step, the schedule still spanning --steps (0 = at --steps)"),
    ("lr", float, 1e-3, "stage", "peak learning rate"),
    ("lr_min", float, 1e-4, "stage", "learning rate at the end of the cosine decay"),
    ("warmup", int, 200, "stage", "steps of linear warmup"),
    ("wd", float, 0.01, "stage", "AdamW weight decay on matrices"),
    ("seed", int, 1, "stage", "data seed: step s draws its batches from 'train-<seed>-<s>-img|aud|vis'"),
    ("threads", int, 2, "stage", "torch threads (1 on a 2-core machine: numpy's BLAS takes the other)"),
    # batch
    ("bi", int, 12, "stage", "images per step (a caption and --questions questions each)"),
    ("ba", int, 12, "stage", "clips per step (a description and --questions questions each)"),
    ("bv", int, 0, "stage", "extra pictures per step through the vision encoder only (probe losses, no decoder)"),
    ("questions", int, 1, "stage", "questions per image and per clip (besides the caption)"),
    ("q_kinds", str, None, "stage", "how often each kind of picture question is drawn, e.g. 'count_shape:2,where:2' "
                                    "(unnamed kinds 1; default: all kinds alike)"),
    ("neg", int, 2048, "stage", "random non-answer tokens in each step's output softmax"),
    ("max_seconds", float, 10.0, "stage", "longest clip fed in training"),
    # losses
    ("q_weight", float, 0.0, "stage", "average question answers apart from captions / descriptions and add them with "
                                      "this weight (0 = one token mean over all sequences, as earlier runs)"),
    ("aux_weight", float, 1.0, "stage", "weight of the per-cell / per-clip probe losses"),
    ("seg_weight", float, 0.5, "stage", "weight of the dense per-pixel vision probe (0 = off)"),
    ("obj_weight", float, 1.0, "stage", "weight of cells / pixels holding a shape in the vision probe losses "
                                        "(background 1)"),
    ("row_l2", float, 1e-3, "stage", "penalty on the mean square of media rows"),
    ("img_row_l2", float, None, "stage", "the same penalty for picture rows only (default --row-l2). Rows far larger "
                                         "than the position embeddings (norm 17-117 against 1-2) drown the row's "
                                         "position after the decoder's LayerNorm: questions about a place could not "
                                         "find their row"),
    ("att_weight", float, 0.0, "stage", "weight of the attention-focus loss on picture questions (0 = off; see "
                                        "losses.focus_loss)"),
    ("att_layer", int, 2, "stage", "decoder block whose head 0 the focus loss guides"),
    ("key_weight", float, 0.0, "stage", "weight of the key-word attention loss on picture questions (0 = off; see "
                                        "losses.focus_loss)"),
    ("key_layer", int, 1, "stage", "decoder block whose head 0 the key-word loss guides to the question's key words"),
    # speech bank
    ("bank", str, None, "stage", "speech bank file (made there if missing; default OUT/speech_bank.npz)"),
    ("bank_seed", int, None, "stage", "seed of the speech bank's voices 'speech-bank-<n>' (default --seed)"),
    ("bank_per_word", int, 96, "stage", "espeak-ng renderings per word in a new speech bank"),
    # checkpoints, log, validation
    ("ckpt_minutes", float, 10.0, "stage", "write OUT/last.pt at least this often (and at the end)"),
    ("keep_every", int, 1000, "stage", "keep a copy OUT/step<N>.pt every N steps"),
    ("val_every", int, 500, "stage", "PyTorch-side validation every N steps (0 = never)"),
    ("val_n", int, 24, "stage", "pictures and clips per validation"),
    ("log_every", int, 10, "stage", "one train.log line per N steps"),
]
TABLE = {o[0]: o for o in OPTIONS}


def flag(name):
    return "--" + name.replace("_", "-")


def parser(description=None):
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 argument_default=argparse.SUPPRESS)  # only the options given appear
    for name, typ, default, scope, hlp in OPTIONS:
        hlp = hlp + ("" if default in (None, False) else " (default %s)" % default)
        if typ is FLAG:
            ap.add_argument(flag(name), action="store_true", help=hlp)
        else:
            ap.add_argument(flag(name), type=typ, metavar={int: "N", float: "X"}.get(typ), help=hlp)
    return ap


def _typed(name, v, where):
    """A config file's value for option name, checked against the table's type."""
    typ = TABLE[name][1]
    ok = (v is None and TABLE[name][2] is None) or \
        (typ is FLAG and isinstance(v, bool)) or (typ is str and isinstance(v, str)) or \
        (typ is int and isinstance(v, int) and not isinstance(v, bool)) or \
        (typ is float and isinstance(v, (int, float)) and not isinstance(v, bool))
    if not ok:
        raise UsageError("%s: option %r: want %s, got %r" % (where, name, "true/false" if typ is FLAG else
                                                             typ.__name__, v))
    return float(v) if typ is float and v is not None else v


def load_config(path):
    """A stage config file -> {option: value} (UsageError on a missing file, bad JSON, an unknown or
    invocation-only option, a value of the wrong type)."""
    try:
        with open(path, encoding="utf-8") as f:
            conf = json.load(f)
    except (OSError, ValueError) as e:
        raise UsageError("--config %s: %s" % (path, e)) from None
    if not isinstance(conf, dict):
        raise UsageError("--config %s: want a JSON object of option: value" % path)
    out = {}
    for k, v in conf.items():
        if k.startswith("#"):  # "#": a comment
            continue
        if k not in TABLE or TABLE[k][3] == "cli":
            raise UsageError("--config %s: %r is not a stage option (see train.py --help)" % (path, k))
        out[k] = _typed(k, v, "--config " + path)
    return out


def resolve(argv, ckpt_args=None, description=None):
    """Command line (+ its --config, + with --resume the checkpoint's own settings from ckpt_args(out),
    a function called only then) -> argparse.Namespace with every option of the table."""
    given = vars(parser(description).parse_args(argv))
    if "out" not in given:
        raise UsageError("--out RUN_FOLDER is required")
    a = {name: default for name, _, default, _, _ in OPTIONS}
    if given.get("resume"):
        for k, v in ckpt_args(given["out"]).items():
            if k in TABLE and TABLE[k][3] == "stage":  # old checkpoints lack newer options: those keep defaults
                a[k] = v
    if given.get("config"):
        a.update(load_config(given["config"]))
    a.update(given)
    a = argparse.Namespace(**a)
    parse_q_kinds(a.q_kinds)  # a bad spec is an error before any work
    return a


def parse_q_kinds(spec):
    """--q-kinds 'KIND:W,...' -> one weight per world.IMAGE_QUESTION_KINDS entry (unnamed kinds 1), or None
    for no spec; UsageError on an unknown kind, a weight that is not a finite number >= 0, or all weights 0."""
    if not spec:
        return None
    w = dict.fromkeys(world.IMAGE_QUESTION_KINDS, 1.0)
    for item in spec.split(","):
        k, _, v = item.partition(":")
        try:
            v = float(v)
        except ValueError:
            v = -1.0
        if k.strip() not in w or not (math.isfinite(v) and v >= 0):
            raise UsageError("--q-kinds %r: want KIND:WEIGHT,... with KIND one of %s and WEIGHT a number >= 0"
                             % (spec, ", ".join(world.IMAGE_QUESTION_KINDS)))
        w[k.strip()] = v
    if not sum(w.values()):
        raise UsageError("--q-kinds %r: all weights are 0" % spec)
    return [w[k] for k in world.IMAGE_QUESTION_KINDS]


def check_shape(cfg):
    """The vision geometry of a fresh run's model.Config."""
    if cfg.image_size % cfg.patch or (cfg.image_size // cfg.patch) % cfg.v_merge or cfg.patch % 4:
        raise UsageError("image size %d, patch %d, merge %d: the patch grid must be whole and divisible by the "
                         "merge, and the patch a multiple of 4" % (cfg.image_size, cfg.patch, cfg.v_merge))


def check_stage(a, cfg):
    """The attention-guidance options against the model's shape."""
    if (a.key_weight > 0 and not 0 <= a.key_layer < cfg.n_layer) or (a.key_weight > 0 and a.att_weight > 0 and
                                                                       a.key_layer == a.att_layer):
        raise UsageError("--key-layer must be in [0, %d) and differ from --att-layer" % cfg.n_layer)
    rows = cfg.image_size // cfg.patch // cfg.v_merge
    if a.att_weight > 0 and (rows != 3 or not 0 <= a.att_layer < cfg.n_layer):
        raise UsageError("--att-weight needs one picture row per grid cell (image size / patch / merge = 3, "
                         "here %d) and --att-layer in [0, %d)" % (rows, cfg.n_layer))
