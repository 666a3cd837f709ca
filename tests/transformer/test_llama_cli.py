"""llama_cli: the commands on llama / qwen2 text GGUF files with no mmgpt-specific keys (made by
tools/make_random_llama.py), against independent expectations:
  - mmgpt tokenize / logits: the ids and every position's logits match the PyTorch reference (ref_llama.py) on
    the tokenized prompt, BOS first where the file asks for it (max |diff| / max |logit| <= 1e-4);
  - mmgpt info (text and --json) and mmgpt params -m FILE [-c N] [--json]: the architecture, the chat template
    recognised in tokenizer.chat_template, parameter counts by group (computed here from the shapes) and the
    KV-cache bytes 2 n_layer n_ctx n_head_kv d_head x 4 (f32) at the default -c = min(trained context, 4096);
  - mmgpt chat --multi-turn filling its context: the answer that reaches the end stops with stop reason
    "context"; the next question that does not fit is refused with a message saying so (and that /clear
    starts a new conversation), nothing is dropped, and the exit code is 3 at the end;
  - a context whose KV cache cannot fit in this machine's memory (a file declaring 2^20 positions of 128 KV
    heads x 1024) is refused before anything is allocated, naming the bytes and -c.
usage: test_llama_cli.py       (MMGPT_BIN = the mmgpt binary)
"""
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
import make_random_llama as mrl  # noqa: E402
import ref_llama  # noqa: E402
from llama_util import BIN, TMP, check, failures, finish  # noqa: E402,F401




def mmgpt(*args, stdin=None):
    return subprocess.run([BIN] + [str(a) for a in args], capture_output=True, input=stdin, timeout=300)


def kv_bytes(cfg, n_ctx):
    return 2 * cfg["layers"] * n_ctx * cfg["kv_heads"] * cfg["head_dim"] * 4


def main():
    if not BIN:
        print("MMGPT_BIN not set")
        sys.exit(1)
    llama3 = mrl.make_config(arch="llama", d=128, layers=2, heads=4, kv_heads=2, ff=256, vocab=300, ctx=131072,
                             tied=False, rope_base=500000.0, family="llama3",
                             llama3_scaling=dict(factor=32.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                                 original_max_position_embeddings=8192))
    qwen = mrl.make_config(arch="qwen2", d=64, layers=2, heads=4, kv_heads=1, ff=128, vocab=300, ctx=1024,
                           tied=True, rope_base=1000000.0, eps=1e-6, family="qwen2")
    for label, cfg, tmpl in [("llama3", llama3, "llama3"), ("qwen2", qwen, "chatml")]:
        W = mrl.random_weights(cfg, 3)
        path = os.path.join(TMP, label + ".gguf")
        tokens = mrl.write_gguf(path, cfg, W, name=label)
        fam = mrl.FAMILIES[cfg["family"]]
        prompt = "the sky is blue and the dog ran"
        r = mmgpt("tokenize", "-m", path, prompt)
        ids = [int(x) for x in r.stdout.split()]
        # an independent check of the tokenizer on this vocabulary: the ids decode to the prompt
        b2u = mrl.bytes_to_unicode()
        u2b = {v: k for k, v in b2u.items()}
        text = bytes(u2b[c] for i in ids for c in tokens[i]).decode()
        check("%s: tokenize round-trips" % label, r.returncode == 0 and text == prompt and len(ids) < len(prompt),
              "%d ids" % len(ids))
        if fam["add_bos"]:
            ids = [tokens.index(fam["bos"])] + ids
        out = os.path.join(TMP, "l.npy")
        r = mmgpt("logits", "-m", path, "-p", prompt, "-o", out, "-t", "1")
        ok = r.returncode == 0
        e = float(np.abs(np.load(out) - ref_llama.logits(cfg, W, ids)).max() /
                  np.abs(ref_llama.logits(cfg, W, ids)).max()) if ok else 1.0
        check("%s: mmgpt logits == reference (BOS %s)" % (label, fam["add_bos"]), ok and e <= 1e-4, "%.2e" % e)
        # info / params
        n_def = min(cfg["ctx"], 4096)
        r = mmgpt("info", path)
        t = r.stdout.decode()
        check("%s: info text" % label, r.returncode == 0 and "architecture:  %s" % cfg["arch"] in t and
              "chat template: %s" % tmpl in t and "KV cache at -c %d" % n_def in t, r.stderr.decode()[:200])
        r = mmgpt("info", path, "--json")
        j = json.loads(r.stdout)
        dec = j.get("memory", {}).get("decoder", {})
        check("%s: info --json KV bytes at the default -c %d" % (label, n_def),
              dec.get("kv_cache_bytes_f32") == kv_bytes(cfg, n_def) and dec.get("n_ctx") == n_def and
              dec.get("kv_cache_bytes_full_f32") == kv_bytes(cfg, cfg["ctx"]), str(dec)[:200])
        r = mmgpt("params", "-m", path, "-c", 100, "--json")
        j = json.loads(r.stdout)
        d, dh, H, Hkv, ff, L, V = (cfg[k] for k in ("d", "head_dim", "heads", "kv_heads", "ff", "layers", "vocab"))
        want = {"embedding": V * d, "attention_qkv": L * (H + 2 * Hkv) * dh * d, "attention_output": L * d * H * dh,
                "feed_forward": L * 3 * d * ff, "norms": (2 * L + 1) * d}
        if not cfg["tied"]:
            want["output"] = V * d
        got = {k: v["parameters"] for k, v in j["groups"].items() if k in want}
        check("%s: params -m -c 100 --json" % label, got == want and
              j["decoder"]["kv_cache_bytes_f32"] == kv_bytes(cfg, 100), "%s vs %s" % (got, want))
        r = mmgpt("params", "-m", path)
        check("%s: params -m text" % label, r.returncode == 0 and b"KV cache at -c" in r.stdout)
    # a chat that fills its context (qwen2 file, ChatML)
    path = os.path.join(TMP, "qwen2.gguf")
    r = mmgpt("chat", "-m", path, "--multi-turn", "-c", 40, "-n", 200, "--temp", 0, "-t", 1, "--json",
              "-q", stdin=b"the sky is\nwhat is the colour of the sky\n")
    lines = [json.loads(x) for x in r.stdout.decode().splitlines() if x.strip()]
    err = r.stderr.decode()
    check("chat: the answer that fills the context stops with stop 'context'",
          len(lines) >= 1 and lines[0].get("stop") == "context", str(lines)[:200])
    check("chat: the next question is refused, exit code 3",
          r.returncode == 3 and "only" in err and "of the context of 40 are left" in err and "/clear" in err,
          "rc %d: %s" % (r.returncode, err.strip()[:200]))
    # a context that cannot fit in memory: refused before allocating
    huge = mrl.make_config(arch="llama", d=8, layers=1, heads=128, kv_heads=128, ff=16, vocab=300, ctx=1 << 20,
                           head_dim=1024, family="smollm")
    path = os.path.join(TMP, "huge.gguf")
    mrl.write_gguf(path, huge, mrl.random_weights(huge, 1))
    r = mmgpt("chat", "-m", path, "-c", 1 << 20, "-n", 1, "-q", stdin=b"hi\n")
    err = r.stderr.decode()
    check("a KV cache of 1 TiB is refused before allocating", r.returncode != 0 and "KV cache of 1048576 positions" in err
          and "1024.00 GiB" in err and "lower the context with -c" in err, "rc %d: %s" % (r.returncode, err.strip()[:300]))
    r = mmgpt("info", path)
    check("info shows 1 TiB at the trained context", r.returncode == 0 and
          b"KV cache at the trained context 1048576: 1.00 TiB" in r.stdout)
    finish()


if __name__ == "__main__":
    main()
