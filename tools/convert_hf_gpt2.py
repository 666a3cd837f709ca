#!/usr/bin/env python3
"""convert_hf_gpt2.py - Hugging Face GPT-2 checkpoint folder -> GGUF (llama.cpp "gpt2" names): the GPT-2 part of
tools/convert_hf.py, kept under its old name and command line.

    /usr/bin/python3 tools/convert_hf_gpt2.py HF_DIR OUT.gguf [--type f32|f16|q8_0|q4_0] [--name NAME]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_hf import convert_gpt2 as convert, load_checkpoint, read_safetensors  # noqa: E402,F401


def main():
    ap = argparse.ArgumentParser(description="Hugging Face GPT-2 checkpoint -> GGUF (llama.cpp gpt2 names)")
    ap.add_argument("hf_dir")
    ap.add_argument("out")
    ap.add_argument("--type", default="f16", choices=["f32", "f16", "q8_0", "q4_0"])
    ap.add_argument("--name", default=None)
    a = ap.parse_args()
    try:
        info = convert(a.hf_dir, a.out, a.type, a.name)
    except (KeyError, ValueError, FileNotFoundError) as e:
        print("convert_hf_gpt2: %s" % (e.args[0] if e.args else e), file=sys.stderr)
        return 1
    print("wrote %s: %s, %s" % (a.out, a.type, ", ".join("%s %s" % kv for kv in info.items())), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
