#!/usr/bin/python3
"""Train the mmgpt demo model on generated data (CPU, deterministic, resumable): one stage per run.

  /usr/bin/python3 tools/train/train.py --config tools/train/recipe/stage_a.json --out RUN   # a stage of the recipe
  /usr/bin/python3 tools/train/train.py --out RUN --resume                                   # continue after a break
  /usr/bin/python3 tools/train/train.py --config tools/train/recipe/stage_b.json --out RUN --val-every 0 # + overrides

Options come from a table (mmtrain/options.py: defaults < the checkpoint's settings with --resume <
--config FILE < the command line); --dry-run prints the resolved options. The recipe of the bundled
model is recipe/stage_a.json ... stage_d.json (tools/train/README.md has the commands). The work is
done by mmtrain.trainer (setup, step, loop, checkpoints): see its top comment for the files a run writes.
Exit 2 with one line on a bad option.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mmtrain import UsageError, options, trainer  # noqa: E402


def main(argv):
    ck = {}

    def ckpt_args(out):  # --resume: the checkpoint is read once, for its settings and its state
        ck["last"] = trainer.load_last(out)
        return ck["last"]["args"]
    try:
        a = options.resolve(argv, ckpt_args, __doc__)
        if a.dry_run:
            print(json.dumps(vars(a), indent=1, sort_keys=True))
            return
        trainer.run(a, ck.get("last"))
    except (UsageError, FileNotFoundError) as e:
        print("train.py: %s" % e, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
