"""gpt_hf_convert: tools/convert_hf_gpt2.py (= tools/convert_hf.py -o for GPT-2) on random checkpoints in Hugging Face's GPT-2 layout.

Two checkpoint folders are written with torch, with HF's names and Conv1D weight layout [in, out]:
  A: pytorch_model.bin (torch.save, GPT2LMHeadModel keys "transformer.*", tied lm_head, the old
     float attn.bias mask buffers), converted at f32 and q8_0;
  B: model.safetensors written by hand (8-byte header length + JSON header + raw data; GPT2Model keys,
     position embeddings stored as F16, an untied lm_head), converted at f32, f16, q8_0 and q4_0.
config.json, vocab.json and merges.txt come along (the real GPT-2 vocabulary, tests/data/gpt2_bpe/hf).
The reference is a float64 torch implementation written here from the HF layout (x @ W_conv1d + b).
Checks (max |diff| / max |logit|):
  f32 file: C logits vs the torch reference                             <= 1e-4
  every type: C logits vs ref_gpt2 on the converted file (dequantized; the prompt gemm's 8-bit input rounding
              as ref_gpt2.prompt_q8_types says)  <= 1e-4 at positions clear of rounding
              boundaries (ref_gpt2.Ambiguity; at least a third, as gpt_parity), <= 3e-2 at the others
  every type: C logits vs the torch reference (weight quantization only)  <= f16 2e-3, q8_0 4e-2, q4_0 5e-1
    (measured: f16 5e-4, q8_0 1.2e-2..1.3e-2, q4_0 2.3e-1: 4-bit embeddings dominate; the exact check is
    the one against the converted file)
  f32 file through `mmgpt logits` with a published tokenizer vector       <= 1e-4
usage: test_gpt_hf_convert.py GPT_DRIVER
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
import ref_gpt2  # noqa: E402
import convert_hf_gpt2  # noqa: E402
from convert_hf import write_safetensors  # noqa: E402

sys.path.insert(0, os.path.join(HERE, ".."))
import testdata  # noqa: E402

DRIVER = sys.argv[1] if len(sys.argv) > 1 else None
KERNEL = ""   # the kernel level gpt_driver runs (set in main)
BIN = os.environ.get("MMGPT_BIN")
TMP = os.environ.get("MMGPT_TEST_TMP") or tempfile.mkdtemp()
TOL_Q = {"f32": 1e-4, "f16": 2e-3, "q8_0": 4e-2, "q4_0": 5e-1}
failures = []


def check(name, ok, msg=""):
    print("%-52s %s  %s" % (name, "ok  " if ok else "FAIL", msg))
    if not ok:
        failures.append(name)


def rel(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def random_hf(V, n_ctx, d, L, seed, untied):
    rng = np.random.default_rng(seed)
    f = lambda *s, sc=0.02: (rng.standard_normal(s) * sc).astype(np.float32)
    t = {"wte.weight": f(V, d, sc=0.5), "wpe.weight": f(n_ctx, d, sc=0.2)}
    for l in range(L):
        h = "h.%d." % l
        t[h + "ln_1.weight"] = 1 + f(d, sc=0.1)
        t[h + "ln_1.bias"] = f(d, sc=0.1)
        t[h + "attn.c_attn.weight"] = f(d, 3 * d, sc=d ** -0.5)     # Conv1D: [in, out]
        t[h + "attn.c_attn.bias"] = f(3 * d, sc=0.1)
        t[h + "attn.c_proj.weight"] = f(d, d, sc=d ** -0.5)
        t[h + "attn.c_proj.bias"] = f(d, sc=0.1)
        t[h + "ln_2.weight"] = 1 + f(d, sc=0.1)
        t[h + "ln_2.bias"] = f(d, sc=0.1)
        t[h + "mlp.c_fc.weight"] = f(d, 4 * d, sc=d ** -0.5)
        t[h + "mlp.c_fc.bias"] = f(4 * d, sc=0.1)
        t[h + "mlp.c_proj.weight"] = f(4 * d, d, sc=(4 * d) ** -0.5)
        t[h + "mlp.c_proj.bias"] = f(d, sc=0.1)
    t["ln_f.weight"] = 1 + f(d, sc=0.1)
    t["ln_f.bias"] = f(d, sc=0.1)
    t["lm_head.weight"] = f(V, d, sc=0.5) if untied else t["wte.weight"]
    return t


def torch_ref(t, cfg, ids):
    """GPT-2 forward from the HF layout in float64 torch (Conv1D: y = x @ W + b)."""
    import torch
    T = {k: torch.tensor(np.asarray(v, dtype=np.float64)) for k, v in t.items()}
    d, H, eps = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
    n = len(ids)
    x = T["wte.weight"][torch.tensor(ids)] + T["wpe.weight"][:n]
    ln = lambda x, p: torch.nn.functional.layer_norm(x, (d,), T[p + ".weight"], T[p + ".bias"], eps)
    mask = torch.triu(torch.ones(n, n, dtype=torch.bool), 1)
    for l in range(cfg["n_layer"]):
        h = "h.%d." % l
        qkv = ln(x, h + "ln_1") @ T[h + "attn.c_attn.weight"] + T[h + "attn.c_attn.bias"]
        q, k, v = qkv.split(d, dim=1)
        heads = lambda z: z.view(n, H, d // H).transpose(0, 1)
        s = heads(q) @ heads(k).transpose(1, 2) / (d // H) ** 0.5
        s = s.masked_fill(mask, float("-inf")).softmax(-1)
        a = (s @ heads(v)).transpose(0, 1).reshape(n, d)
        x = x + a @ T[h + "attn.c_proj.weight"] + T[h + "attn.c_proj.bias"]
        m = ln(x, h + "ln_2") @ T[h + "mlp.c_fc.weight"] + T[h + "mlp.c_fc.bias"]
        m = 0.5 * m * (1 + torch.tanh((2 / torch.pi) ** 0.5 * (m + 0.044715 * m ** 3)))
        x = x + m @ T[h + "mlp.c_proj.weight"] + T[h + "mlp.c_proj.bias"]
    return (ln(x, "ln_f") @ T["lm_head.weight"].T).numpy()


def c_logits(model, ids):
    ids_path = os.path.join(TMP, "gpt_hf_ids_%d.npy" % os.getpid())
    out = os.path.join(TMP, "gpt_hf_out_%d.npy" % os.getpid())
    np.save(ids_path, np.asarray(ids, dtype=np.float32))
    r = subprocess.run([DRIVER, model, "logits", ids_path, out, "512", "2"], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return np.load(out)


def main():
    import torch
    if not DRIVER or not os.path.exists(DRIVER):
        print("usage: test_gpt_hf_convert.py GPT_DRIVER")
        return 2
    global KERNEL
    KERNEL = subprocess.run([DRIVER, "kernel"], capture_output=True, text=True).stdout.strip()
    vocab_json = open(testdata.path("gpt2_bpe", "hf", "vocab.json"), encoding="utf-8").read()
    merges = open(testdata.path("gpt2_bpe", "hf", "merges.txt"), encoding="utf-8").read()
    V = len(json.loads(vocab_json))
    d, L, H, n_ctx = 64, 2, 4, 64
    cfg = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": V, "n_positions": n_ctx,
           "n_ctx": n_ctx, "n_embd": d, "n_layer": L, "n_head": H, "n_inner": None,
           "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "bos_token_id": V - 1,
           "eos_token_id": V - 1}
    rng = np.random.default_rng(5)
    ids = [int(i) for i in rng.integers(0, V, 24)]
    for which, untied, types in (("A", False, ("f32", "q8_0")), ("B", True, ("f32", "f16", "q8_0", "q4_0"))):
        folder = os.path.join(TMP, "gpt_hf_%s_%d" % (which, os.getpid()))
        os.makedirs(folder, exist_ok=True)
        t = random_hf(V, n_ctx, d, L, seed=11 if which == "A" else 12, untied=untied)
        with open(os.path.join(folder, "config.json"), "w") as fh:
            json.dump(cfg, fh)
        open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8").write(vocab_json)
        open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8").write(merges)
        if which == "A":
            sd = {"transformer." + k: torch.tensor(v) for k, v in t.items() if k != "lm_head.weight"}
            sd["lm_head.weight"] = sd["transformer.wte.weight"]
            for l in range(L):   # HF's causal-mask buffers (floats in older checkpoints): must be ignored
                sd["transformer.h.%d.attn.bias" % l] = torch.tril(torch.ones(1, 1, n_ctx, n_ctx))
            torch.save(sd, os.path.join(folder, "pytorch_model.bin"))
        else:
            st = dict(t)
            st["wpe.weight"] = t["wpe.weight"].astype(np.float16)
            t["wpe.weight"] = st["wpe.weight"].astype(np.float32)   # the reference sees what was stored
            write_safetensors(os.path.join(folder, "model.safetensors"), st)
        ref_t = torch_ref(t, cfg, ids)
        for tt in types:
            out = os.path.join(TMP, "gpt_hf_%s_%s_%d.gguf" % (which, tt, os.getpid()))
            r = subprocess.run([sys.executable, os.path.join(HERE, "..", "..", "tools", "convert_hf_gpt2.py"),
                                folder, out, "--type", tt], capture_output=True, text=True)
            if r.returncode != 0:
                check("%s convert --type %s" % (which, tt), False, r.stderr.strip())
                continue
            if tt == "f32":   # tools/convert_hf.py (which convert_hf_gpt2.py is a part of) writes the same file
                out2 = out + ".convert_hf.gguf"
                r2 = subprocess.run([sys.executable, os.path.join(HERE, "..", "..", "tools", "convert_hf.py"),
                                     folder, "-o", out2, "--type", tt], capture_output=True, text=True)
                same = r2.returncode == 0 and open(out, "rb").read() == open(out2, "rb").read()
                check("%s convert_hf.py -o == convert_hf_gpt2.py" % which, same, r2.stderr.strip()[-120:])
                if os.path.exists(out2):
                    os.remove(out2)
            c = c_logits(out, ids)
            p = ref_gpt2.load_gguf(out)
            amb = ref_gpt2.Ambiguity(ref_gpt2.AMBIGUOUS_STEPS)   # q4_0's prompt gemm rounds x to 8 bits
            e_file, e_amb, n_clean = ref_gpt2.position_errors(
                c, ref_gpt2.forward(p, ids, gemm_q8=ref_gpt2.prompt_q8_types(KERNEL), amb=amb), amb.rows)
            e_torch = rel(c, ref_t)
            tag = "%s (%s, %s) --type %s" % (which, "bin" if which == "A" else "safetensors",
                                             "untied" if untied else "tied", tt)
            check(tag + " vs converted-file reference", e_file <= 1e-4 and e_amb <= 3e-2 and 3 * n_clean >= len(ids),
                  "rel %.2e (tol 1e-4) at %d clean positions, %.2e (tol 3e-2) at %d ambiguous (at most two thirds)"
                  % (e_file, n_clean, e_amb, len(ids) - n_clean))
            check(tag + " vs torch checkpoint", e_torch <= TOL_Q[tt], "rel %.2e (tol %.0e)" % (e_torch, TOL_Q[tt]))
            check(tag + " tied flag", p["tied"] == (not untied))
            if tt == "f32" and BIN and which == "A":
                cases = json.load(open(testdata.path("gpt2_bpe", "test_vectors.json"), encoding="utf-8"))["cases"]
                case = [c_ for c_ in cases if 3 <= len(c_["ids"]) <= 20 and "<|" not in c_["text"]][0]
                npy = os.path.join(TMP, "gpt_hf_cli_%d.npy" % os.getpid())
                r = subprocess.run([BIN, "logits", "-m", out, "-p", case["text"], "-o", npy], capture_output=True)
                ok = r.returncode == 0
                e = rel(np.load(npy), torch_ref(t, cfg, case["ids"])) if ok else float("inf")
                check("mmgpt logits on the converted file (published ids)", ok and e <= 1e-4,
                      "rel %.2e %s" % (e, r.stderr.decode().strip()[-120:]))
                os.remove(npy)
            os.remove(out)
    # a broken checkpoint is refused with a message
    bad = os.path.join(TMP, "gpt_hf_bad_%d" % os.getpid())
    os.makedirs(bad, exist_ok=True)
    with open(os.path.join(bad, "config.json"), "w") as fh:
        json.dump(cfg, fh)
    t = random_hf(V, n_ctx, d, L, seed=1, untied=False)
    del t["h.1.mlp.c_fc.weight"]
    write_safetensors(os.path.join(bad, "model.safetensors"), t)
    open(os.path.join(bad, "vocab.json"), "w", encoding="utf-8").write(vocab_json)
    open(os.path.join(bad, "merges.txt"), "w", encoding="utf-8").write(merges)
    r = subprocess.run([sys.executable, os.path.join(HERE, "..", "..", "tools", "convert_hf_gpt2.py"), bad,
                        os.path.join(TMP, "bad.gguf")], capture_output=True, text=True)
    check("missing tensor refused", r.returncode != 0 and "h.1.mlp.c_fc.weight" in r.stderr, r.stderr.strip())
    if failures:
        print("FAILED: %s" % ", ".join(failures))
        return 1
    print("all converter checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
