#!/usr/bin/python3
"""Export a training checkpoint to one combined mmgpt GGUF (decoder + vision + audio + projectors +
GPT-2 tokenizer + prompt template): mmtrain.export.write_gguf.

  /usr/bin/python3 tools/train/export.py RUN/last.pt -o assets/models/mmgpt-demo.gguf
  options: --qtype q8_0|q4_0|f16|f32 (big matrices; default q8_0),
           --vocab FOLDER|MODEL.gguf (GPT-2 vocabulary; default: the first place mmtrain.bpe.find_vocab knows)
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mmtrain import BUNDLED_MODEL  # noqa: E402
from mmtrain.export import write_gguf  # noqa: E402
from mmtrain.model import load_ckpt  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ckpt")
    ap.add_argument("-o", "--out", default=BUNDLED_MODEL)
    ap.add_argument("--qtype", default="q8_0", choices=["q8_0", "q4_0", "f16", "f32"])
    ap.add_argument("--vocab", "--bpe", default=None, help="GPT-2 vocabulary: a folder or a GGUF file")
    a = ap.parse_args()
    model, ck = load_ckpt(a.ckpt)
    try:
        write_gguf(model, a.out, a.qtype, a.vocab)
    except (FileNotFoundError, ValueError) as e:
        sys.exit("export.py: %s" % e)
    print("export.py: %s (step %d, %s): %.1f MB" % (a.out, ck["step"], a.qtype, os.path.getsize(a.out) / 1e6))


if __name__ == "__main__":
    main()
