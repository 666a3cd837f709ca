#!/usr/bin/python3
"""Evaluate a model on held-out sets (heldout.py) THROUGH THE mmgpt BINARY, and print the table.

  /usr/bin/python3 tools/train/eval.py -m assets/models/mmgpt-demo.gguf --bin build/mmgpt \\
      SETS/heldout1 SETS/heldout2 [--json results.json] [--log answers.jsonl] [--limit N]
  (tools/eval is the same command.)

For each image: `mmgpt caption -m M FILE` and `mmgpt ask -m M FILE "QUESTION"` per question; for each
clip: `mmgpt describe -m M FILE` and `mmgpt ask ...`. --backend torch --ckpt last.pt scores the
PyTorch checkpoint on the same files instead; its numbers are labelled "torch" and are NOT the
engine's. Metrics and targets: mmtrain/evaluate.py.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mmtrain import BUNDLED_MODEL, REPO_DIR  # noqa: E402
from mmtrain.evaluate import BinBackend, TorchBackend, eval_set, table  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sets", nargs="+", help="held-out set folders (manifest.jsonl inside); set 1 first")
    ap.add_argument("-m", "--model", default=BUNDLED_MODEL)
    ap.add_argument("--bin", default=os.path.join(REPO_DIR, "build", "mmgpt"))
    ap.add_argument("--backend", choices=["bin", "torch"], default="bin")
    ap.add_argument("--ckpt", help="checkpoint for --backend torch")
    ap.add_argument("--vocab", help="GPT-2 vocabulary for --backend torch (a folder or a GGUF file)")
    ap.add_argument("-t", "--threads", type=int, default=None)
    ap.add_argument("--limit", type=int, default=None, help="at most N images and N clips per set")
    ap.add_argument("--json", help="write all numbers here")
    ap.add_argument("--log", help="write every answer (jsonl) here")
    a = ap.parse_args()
    if a.backend == "bin":
        if not os.access(a.bin, os.X_OK):
            sys.exit("eval.py: %s is not an executable mmgpt binary (build it, or pass --bin)" % a.bin)
        if not os.path.exists(a.model):
            sys.exit("eval.py: model %s not found (export one with tools/train/export.py)" % a.model)
        be = BinBackend(a.bin, a.model, a.threads)
    else:
        if not a.ckpt:
            sys.exit("eval.py: --backend torch needs --ckpt")
        be = TorchBackend(a.ckpt, a.vocab)
    log = open(a.log, "w") if a.log else None
    results = []
    for d in a.sets:
        t0 = time.time()
        r = eval_set(be, d, a.limit, log)
        r["seconds"] = round(time.time() - t0, 1)
        results.append((d, r))
        print("%s: %s" % (d, json.dumps({k: v for k, v in r.items() if k != "per_kind"})), file=sys.stderr)
        print("  per kind: %s" % json.dumps(r["per_kind"]), file=sys.stderr)
    print(table(results, a.backend if a.backend == "torch" else "mmgpt binary"))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"backend": a.backend, "model": a.model if a.backend == "bin" else a.ckpt,
                       "sets": {d: r for d, r in results}}, f, indent=1)


if __name__ == "__main__":
    main()
