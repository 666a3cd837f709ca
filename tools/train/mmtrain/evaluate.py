"""Scoring a model on the held-out sets (heldout.py), through the mmgpt binary or a checkpoint.

  BinBackend(bin, model)   `mmgpt caption / describe / ask -m MODEL FILE...`; the answer is stdout (stripped)
  TorchBackend(ckpt)       the PyTorch checkpoint on the same files (PIL bicubic resize, sox decoding +
                           resampling), for use while the engine is not built; NOT the engine's numbers
  eval_set(backend, dir)   every file of a set's manifest.jsonl -> the metrics below (+ per question kind)
  table(results, name)     the Markdown table of docs/MODEL_CARD.md

Metrics (per set):
  caption exact      the set of (size, colour, shape, position) objects equals the truth
  caption attributes per true object and attribute (position found, shape, colour, size): fraction correct
  picture questions  normalised answer equals the truth
  audio description  normalised description equals the truth
  audio questions    normalised answer equals the truth
Targets (issue 7): set 1 caption exact >= 90 %, attributes >= 97 %, picture Q >= 95 %, audio description
>= 90 %, audio Q >= 90 %; set 2 >= 85 % on each.
"""
import json
import os
import subprocess

from . import world


class BinBackend:
    def __init__(self, binary, model, threads=None, timeout=120):
        self.bin, self.model, self.timeout = binary, model, timeout
        self.extra = ["-t", str(threads)] if threads else []

    def _run(self, args):
        p = subprocess.run([self.bin] + args, capture_output=True, text=True, timeout=self.timeout)
        if p.returncode != 0:
            return None, p.stderr.strip().splitlines()[-1] if p.stderr.strip() else "exit %d" % p.returncode
        return p.stdout.strip(), None

    def many(self, cmd, files, chunk=50):
        """One process per chunk of files: stdout lines are "FILE: text" (several files) -> {file: (text, err)}."""
        out = {}
        for i in range(0, len(files), chunk):
            part = files[i:i + chunk]
            if len(part) == 1:
                out[part[0]] = self._run([cmd, "-m", self.model] + self.extra + part)
                continue
            p = subprocess.run([self.bin, cmd, "-m", self.model] + self.extra + part, capture_output=True,
                               text=True, timeout=self.timeout * len(part))
            lines = p.stdout.splitlines()
            got = {}
            for ln in lines:
                for f in part:
                    if ln.startswith(f + ": ") or ln == f + ":":
                        got[f] = ln[len(f) + 1:].strip()
                        break
            for f in part:
                if f in got:
                    out[f] = (got[f], None)
                else:  # fall back to one call for a file whose line is missing (e.g. a decode error)
                    out[f] = self._run([cmd, "-m", self.model] + self.extra + [f])
        return out

    def caption(self, f):
        return self._run(["caption", "-m", self.model] + self.extra + [f])

    def describe(self, f):
        return self._run(["describe", "-m", self.model] + self.extra + [f])

    def ask(self, f, q):
        return self._run(["ask", "-m", self.model] + self.extra + [f, q])


class TorchBackend:
    def __init__(self, ckpt, vocab=None):
        import torch
        from . import data, render_image
        from .model import load_ckpt
        self.torch = torch
        self.m, _ = load_ckpt(ckpt)
        render_image.IMAGE_SIZE = self.m.c.image_size
        self.tok = data.Tok(vocab)
        self.data = data
        self.cache = {}

    def _rows(self, f):
        if f in self.cache:
            return self.cache[f]
        import numpy as np
        from PIL import Image
        from . import render_audio, render_image
        with self.torch.no_grad():
            if f.endswith((".png", ".jpg", ".jpeg")):
                pix = render_image.preprocess(Image.open(f))
                rows = self.m.image_rows(self.torch.from_numpy(pix)[None])[0]
            else:
                mel = render_audio.log_mel(render_audio.load_pcm_16k(f))
                r, nr = self.m.audio_rows(self.torch.from_numpy(np.ascontiguousarray(mel))[None], [mel.shape[1]])
                rows = r[0, :int(nr[0])]
        self.cache = {f: rows}
        return rows

    def _gen(self, f, prompt):
        from .model import greedy
        rows = self._rows(f)
        out = greedy(self.m, rows, self.tok.pre(), self.tok.post(prompt))
        return self.tok.bpe.decode(out).strip(), None

    def caption(self, f):
        return self._gen(f, self.data.CAPTION_PROMPT)

    def describe(self, f):
        return self._gen(f, self.data.DESCRIBE_PROMPT)

    def ask(self, f, q):
        return self._gen(f, q)


def score_caption(got, objs):
    truth = world.scene_tuples(objs)
    pred = world.parse_caption(got or "")
    exact = pred == truth
    attrs = {"position": 0, "shape": 0, "color": 0, "size": 0}
    by_pos = {}
    for p in pred or []:
        by_pos.setdefault(p[3], p)
    for size, color, shape, pos in truth:
        p = by_pos.get(pos)
        if p is None:
            continue
        attrs["position"] += 1
        attrs["shape"] += p[2] == shape
        attrs["color"] += p[1] == color
        attrs["size"] += p[0] == size
    extra = len([p for p in (pred or []) if p[3] not in {t[3] for t in truth}])
    return exact, attrs, len(truth), extra


def eval_set(backend, d, limit=None, log=None):
    rows = [json.loads(l) for l in open(os.path.join(d, "manifest.jsonl"))]
    if limit:
        imgs = [r for r in rows if r["media"] == "image"][:limit]
        auds = [r for r in rows if r["media"] == "audio"][:limit]
        rows = imgs + auds
    pre = {}
    if hasattr(backend, "many"):  # caption / describe all files with few processes
        pre.update(backend.many("caption", [os.path.join(d, r["file"]) for r in rows if r["media"] == "image"]))
        pre.update(backend.many("describe", [os.path.join(d, r["file"]) for r in rows if r["media"] == "audio"]))
    n_img = n_aud = 0
    r = {"cap_exact": [], "attr_ok": 0, "attr_n": 0, "extra_objects": 0, "img_q": [], "aud_desc": [], "aud_q": [],
         "errors": 0, "per_kind": {}}
    for row in rows:
        f = os.path.join(d, row["file"])
        if row["media"] == "image":
            if limit and n_img >= limit:
                continue
            n_img += 1
            got, err = pre[f] if f in pre else backend.caption(f)
            if err:
                r["errors"] += 1
            ex, attrs, n, extra = score_caption(got, row["objs"])
            r["cap_exact"].append(ex)
            r["attr_ok"] += sum(attrs.values())
            r["attr_n"] += 4 * n
            r["extra_objects"] += extra
            if log:
                log.write(json.dumps({"file": row["file"], "task": "caption", "got": got, "truth": row["truth"],
                                      "ok": ex, "err": err}) + "\n")
            for q, a, k in row["questions"]:
                got, err = backend.ask(f, q)
                ok = world.norm_answer(got or "") == world.norm_answer(a)
                r["img_q"].append(ok)
                r["per_kind"].setdefault(k, []).append(ok)
                if log:
                    log.write(json.dumps({"file": row["file"], "task": "ask", "q": q, "got": got, "truth": a,
                                          "ok": ok, "err": err}) + "\n")
        else:
            if limit and n_aud >= limit:
                continue
            n_aud += 1
            got, err = pre[f] if f in pre else backend.describe(f)
            if err:
                r["errors"] += 1
            ok = world.norm_answer(got or "") == world.norm_answer(row["truth"])
            r["aud_desc"].append(ok)
            r["per_kind"].setdefault("describe:" + row["sound"]["kind"], []).append(ok)
            if log:
                log.write(json.dumps({"file": row["file"], "task": "describe", "got": got, "truth": row["truth"],
                                      "ok": ok, "err": err}) + "\n")
            for q, a, k in row["questions"]:
                got, err = backend.ask(f, q)
                ok = world.norm_answer(got or "") == world.norm_answer(a)
                r["aud_q"].append(ok)
                r["per_kind"].setdefault("a_" + k, []).append(ok)
                if log:
                    log.write(json.dumps({"file": row["file"], "task": "ask", "q": q, "got": got, "truth": a,
                                          "ok": ok, "err": err}) + "\n")
    return {"images": n_img, "clips": n_aud,
            "caption_exact": _mean(r["cap_exact"]), "caption_attributes": r["attr_ok"] / max(1, r["attr_n"]),
            "picture_questions": _mean(r["img_q"]), "audio_description": _mean(r["aud_desc"]),
            "audio_questions": _mean(r["aud_q"]), "errors": r["errors"], "extra_objects": r["extra_objects"],
            "per_kind": {k: _mean(v) for k, v in sorted(r["per_kind"].items())}}


def _mean(v):
    return sum(v) / len(v) if v else float("nan")


TARGETS = {1: {"caption_exact": 0.90, "caption_attributes": 0.97, "picture_questions": 0.95,
               "audio_description": 0.90, "audio_questions": 0.90}}
TARGET_OTHER = 0.85


def table(results, backend_name):
    cols = ["caption_exact", "caption_attributes", "picture_questions", "audio_description", "audio_questions"]
    names = ["caption exact", "caption attributes", "picture questions", "audio description", "audio questions"]
    lines = ["| set (%s) | images | clips | " % backend_name + " | ".join(names) + " |",
             "|---|---|---|" + "---|" * len(cols)]
    for i, (d, r) in enumerate(results):
        tg = TARGETS.get(i + 1, {c: TARGET_OTHER for c in cols})
        cells = []
        for c in cols:
            v = r[c]
            mark = "" if v != v else (" ok" if v >= tg[c] else " (< %d%%)" % round(tg[c] * 100))
            cells.append("%.1f%%%s" % (100 * v, mark) if v == v else "n/a")
        lines.append("| %s | %d | %d | %s |" % (os.path.basename(d.rstrip("/")), r["images"], r["clips"],
                                                 " | ".join(cells)))
    return "\n".join(lines)
