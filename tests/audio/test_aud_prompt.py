#!/usr/bin/env python3
"""aud_prompt (issue 18.4): the whole sequence mmgpt evaluates for a question about a clip with llama.cpp-layout
text + audio mmproj pairs, against an independent reconstruction of the prompt llama.cpp's multimodal CLI
(tools/mtmd, b10182: `llama-mtmd-cli -m TEXT --mmproj MMPROJ --audio CLIP -p Q`) evaluates:

  the text model's chat template as llama.cpp's built-in one (no --jinja) around one user turn whose content is
  the media marker immediately followed by Q (no newline, no default system prompt - Qwen2-Audio's Jinja
  template would add one, llama.cpp's chatml does not), BOS only when add_bos_token says so; the clip's rows
  where the marker stands, wrapped as mtmd wraps them for the projector type (ultravox: nothing; qwen2a:
  <|audio_bos|> rows <|audio_eos|>, parsed as special tokens); special-token text split out as single tokens,
  the rest byte-level BPE (tests/tokenizer/ref_bpe_vocab.py).
Pairs (random weights, F32, tools/convert_ultravox.py on synthetic HF checkpoints, tools/make_random_llama.py):
  * Ultravox (80 mel bins, stack 8: 188 rows per 30 s window) + a llama text model with Llama 3's vocabulary and
    template (add_bos_token true);
  * Qwen2-Audio (128 bins, qwen2a: 750 rows per window) + a qwen2 text model with Qwen2-Audio's audio tokens and
    chat template (ChatML for llama.cpp; add_bos_token false).
Rows from tests/audio/ref_ultravox.py (HF WhisperEncoder / Qwen2AudioEncoder + the projectors, float64) on
ref_audio's log-mel; logits from tests/transformer/ref_llama.py (HF Llama / Qwen2 forward, float64).
Checks: token ids exactly, audio rows and the logits of every position <= 1e-4 relative (max |diff| / max |ref|);
`mmgpt ask --json` and `mmgpt describe` run end to end on each pair (ask's prompt_positions = the reconstruction's
length). Clips: jfk.wav (11 s, one window) and 45 s (two windows, Qwen2-Audio).
    test_aud_prompt.py VLM_TOOL     (MMGPT_BIN: the mmgpt binary; MMGPT_TEST_TMP: scratch folder)
"""
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
for p in (os.path.join(ROOT, "tools"), os.path.join(ROOT, "tests"), os.path.join(ROOT, "tests", "transformer"),
          os.path.join(ROOT, "tests", "tokenizer"), HERE):
    sys.path.insert(0, p)
import make_random_llama as mrl  # noqa: E402
import ref_audio  # noqa: E402
import ref_llama  # noqa: E402
import ref_ultravox as ru  # noqa: E402
import testdata  # noqa: E402
from checks import check, finish, rel  # noqa: E402
from ref_bpe_vocab import Vocab  # noqa: E402

TOOL = sys.argv[1]
BIN = os.environ.get("MMGPT_BIN")
TMP = os.path.join(os.environ.get("MMGPT_TEST_TMP", "/tmp"), "aud_prompt")
QUICK = os.environ.get("MMGPT_SANITIZE_RUN") == "1"
os.makedirs(TMP, exist_ok=True)


def text_model(name, arch, family, d):
    cfg = mrl.make_config(arch=arch, d=d, layers=2, heads=4, kv_heads=2, ff=2 * d, vocab=420, ctx=4096,
                          family=family)
    W = mrl.random_weights(cfg, seed=5)
    path = os.path.join(TMP, name + ".gguf")
    mrl.write_gguf(path, cfg, W, "f32", "aud-" + family)
    return path, cfg, W, Vocab(*mrl.make_vocab(family, cfg["vocab"]))


jfk, _ = ref_audio.read_wav16(testdata.path("whisper", "jfk.wav"))
clip45 = np.concatenate([jfk, 0.5 * jfk[::-1], jfk, jfk])[:720000].astype(np.float32)
WAV = {"11s": os.path.join(TMP, "jfk.wav"), "45s": os.path.join(TMP, "clip45.wav")}
PCM = {"11s": ref_audio.write_wav16(WAV["11s"], jfk), "45s": ref_audio.write_wav16(WAV["45s"], clip45)}
with np.load(testdata.path("whisper", "mel_filters.npz")) as z:
    FILTERS = {80: z["mel_80"], 128: z["mel_128"]}
q = "what is this sound?"


def compare(label, text, mmproj, clip, want, tcfg, TW):
    pre = os.path.join(TMP, label.split()[0] + "_" + clip)
    r = subprocess.run([TOOL, text, mmproj, "0", pre, q, WAV[clip]], capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        check(label, False, r.stderr.strip())
        return
    got_ids = [int(i) for i in np.load(pre + ".ids.npy").astype(np.int64)]
    want_ids = [i if isinstance(i, int) else -1 for i in want]
    check(label + ": token ids and audio positions (%d positions, %d audio rows)" % (len(want), want_ids.count(-1)),
          got_ids == want_ids, "" if got_ids == want_ids else "\n got  %s\n want %s" % (
              [i for i in got_ids if i >= 0], [i for i in want_ids if i >= 0]))
    rows, want_rows = np.load(pre + ".rows.npy"), np.array([x for x in want if not isinstance(x, int)])
    e = rel(rows, want_rows)
    check(label + ": audio rows", e <= 1e-4, "%s rel %.2e (<= 1e-4)" % ("x".join(map(str, rows.shape)), e))
    lg = np.load(pre + ".logits.npy")
    e = rel(lg, ref_llama.logits(tcfg, TW, want))
    check(label + ": logits of every position vs a PyTorch forward of the whole prompt", e <= 1e-4,
          "%s rel %.2e (<= 1e-4)" % ("x".join(map(str, lg.shape)), e))


def cli(label, text, mmproj, n_want):
    if not BIN:
        return
    r = subprocess.run([BIN, "ask", "-m", text, "--mmproj", mmproj, "--json", "-q", "-n", "2", "-t", "2", WAV["11s"],
                        q], capture_output=True, text=True, timeout=900)
    try:
        n = json.loads(r.stdout.strip().splitlines()[-1])["prompt_positions"]
    except (ValueError, KeyError, IndexError):
        n = -1
    ok = r.returncode == 0 and n == n_want
    check("%s: mmgpt ask --json evaluates %d positions (want %d)" % (label, n, n_want), ok,
          "" if ok else r.stdout[-300:] + r.stderr[-600:])
    r = subprocess.run([BIN, "describe", "-m", text, "--mmproj", mmproj, "-n", "2", "-t", "2", WAV["11s"]],
                       capture_output=True, text=True, timeout=900)
    check("%s: mmgpt describe" % label, r.returncode == 0, "" if r.returncode == 0 else r.stderr[-600:])


# ---------------------------------------------------------------- Ultravox + llama (Llama 3 vocabulary)
ucfg, usd, u_mmproj = ru.make_mmproj(TMP, "ultravox_m80_k8", 80, 8, "f32")
u_text, lcfg, LW, LV = text_model("llama3_text", "llama", "llama3", ucfg["text_config"]["hidden_size"])
rows = list(ru.clip(usd, ucfg, PCM["11s"], FILTERS[80])[2])
want = ([LV.lookup("<|begin_of_text|>")] + LV.tok("<|start_header_id|>user<|end_header_id|>\n\n") + rows +
        LV.tok(q + "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"))
compare("Ultravox+llama 11 s", u_text, u_mmproj, "11s", want, lcfg, LW)
cli("Ultravox+llama", u_text, u_mmproj, len(want))

# ---------------------------------------------------------------- Qwen2-Audio + qwen2
qcfg, qsd, q_mmproj = ru.make_mmproj(TMP, "qwen2a_m128", 128, None, "f32")
q_text, qtcfg, QW, QV = text_model("qwen2audio_text", "qwen2", "qwen2audio", qcfg["text_config"]["hidden_size"])
for clip in ["11s"] if QUICK else ["11s", "45s"]:
    rows = list(ru.clip(qsd, qcfg, PCM[clip], FILTERS[128])[2])
    want = (QV.tok("<|im_start|>user\n<|audio_bos|>") + rows +
            QV.tok("<|audio_eos|>" + q + "<|im_end|>\n<|im_start|>assistant\n"))
    if clip == "11s":
        n11 = len(want)
    compare("Qwen2-Audio+qwen2 %s" % clip, q_text, q_mmproj, clip, want, qtcfg, QW)
cli("Qwen2-Audio+qwen2", q_text, q_mmproj, n11)

sys.exit(finish())
