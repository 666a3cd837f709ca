"""aud_ultravox: llama.cpp's Ultravox and Qwen2-Audio mmproj layouts (Whisper encoder + Ultravox's projector;
Whisper encoder + average pool by 2 + Qwen2-Audio's linear, clip.projector_type "qwen2a") end to end.

Random-weight Hugging Face checkpoints with the real names and shapes (ref_ultravox.random_checkpoint: a
Whisper-base-like encoder at width 64 - ffn 4 d, head width 32, 1500 positions - and Ultravox's projector)
are written as safetensors and converted by tools/convert_ultravox.py the way llama.cpp's converter does
(conv kernels F16, conv biases [d, 1], k_proj without bias, 1-D tensors F32). Then, per case:

  * the file's layout: keys and every tensor's name, type and shape as llama.cpp's converter writes them;
  * `mmgpt encode-audio --mel --projected` on clips of 1 s, 11 s (jfk.wav), 30 s and 45 s:
      log-mel vs ref_audio.log_mel (torch.stft + Whisper's published mel_filters.npz for 80 and 128 bins) of
      the clip padded to whole 30 s windows: max |diff| <= 1e-4;
      encoder rows and projected rows vs ref_ultravox (HF WhisperEncoder + UltravoxProjector restated in
      float64 PyTorch, on the reference log-mel): max |diff| / max |ref| <= TOL[type];
      row counts: n_windows x ceil(1500 / stack) (stack 8: 188 per window, stack 4: 375);
  * `mmgpt mel -m FILE` takes the file's bin count and padding (same array as --mel);
  * `mmgpt info --ctx-size N`: positions per window and the longest clip in N positions;
  * the fused prompt: `mmgpt logits` of a gpt2 text model + this mmproj with "<__media__>What is this?" vs
    the reference decoder (tests/fusion/ref_fused.py) over the reference rows: max rel <= TOL[type];
  * a clip over the context: exit 3 and "over the context" (checked before the encoder runs);
  * `ask` and `chat --audio` evaluate llama-mtmd-cli's user turn with the Llama 3 template (count of text
    positions in a byte vocabulary: the marker immediately followed by the question, no default system
    prompt, no BOS); `describe` runs.
Qwen2-Audio (ref_ultravox with a Qwen2AudioForConditionalGeneration config: HF Qwen2AudioEncoder - pool before the
final LN - + multi_modal_projector.linear): layout (mm.a.fc weight + bias, no stack factor), 750 rows per window,
encoder and projected rows on 1 s, 11 s, 45 s in F32 and 11 s in Q8_0, info; its prompt is tests/audio/
test_aud_prompt.py's.
Cases: 80 bins / stack 8 and 128 bins / stack 4 in F32 (TOL 1e-4); F16 matrices (80/8) and Q8_0 matrices
(128/4) on the 11 s clip, the reference using the weights as the file holds them (TOL 1e-4 as well: the
encoder's many-row products run sgemm on dequantized weights, so only the weights are rounded; measured
about 2e-6 for every type).
"""
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ref_audio  # noqa: E402
import ref_ultravox as ru  # noqa: E402

sys.path.insert(0, os.path.join(HERE, ".."))
import testdata  # noqa: E402

sys.path.insert(0, os.path.join(HERE, "..", "fusion"))
import ref_fused  # noqa: E402

SRC = os.environ.get("MMGPT_SOURCE_DIR", os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tools"))
import mmgguf  # noqa: E402

BIN = os.environ.get("MMGPT_BIN", "")
TMP = os.path.join(os.environ.get("MMGPT_TEST_TMP", "/tmp"), "aud_ultravox")
QUICK = os.environ.get("MMGPT_SANITIZE_RUN") == "1"
TOL = {"f32": 1e-4, "f16": 1e-4, "q8_0": 1e-4}
fails = []

if not BIN or not os.path.exists(BIN):
    print("MMGPT_BIN not found: skipped")
    sys.exit(77)
os.makedirs(TMP, exist_ok=True)


def check(label, ok, detail=""):
    print("%s %s%s" % ("ok  " if ok else "FAIL", label, "" if ok or not detail else "\n     " + detail[-600:]))
    if not ok:
        fails.append(label)


def run(args, code=0):
    p = subprocess.run([BIN] + args, capture_output=True, text=True)
    if p.returncode != code:
        fails.append("mmgpt %s -> %d" % (" ".join(args[:3]), p.returncode))
        print("FAIL mmgpt %s -> %d (want %d)\n%s" % (" ".join(args), p.returncode, code, p.stderr[-1500:]))
    return p


def rel(got, ref):
    return float(np.max(np.abs(got - ref)) / max(1e-30, np.max(np.abs(ref))))


read_wav16, write_wav16 = ref_audio.read_wav16, ref_audio.write_wav16


jfk, _ = read_wav16(testdata.path("whisper", "jfk.wav"))
rng = np.random.default_rng(7)


def long_clip(n):
    """jfk, then jfk reversed at half level, then quiet noise, cut to n samples."""
    x = np.concatenate([jfk, 0.5 * jfk[::-1], jfk, 0.02 * rng.standard_normal(n).astype(np.float32)])
    return x[:n]


CLIPS = {"1s": jfk[16000:32000], "11s": jfk, "30s": long_clip(480000), "45s": long_clip(720000)}
WAV = {k: os.path.join(TMP, "clip_%s.wav" % k) for k in CLIPS}
PCM = {k: write_wav16(WAV[k], v) for k, v in CLIPS.items()}
with np.load(testdata.path("whisper", "mel_filters.npz")) as z:
    FILTERS = {80: z["mel_80"], 128: z["mel_128"]}


def make_file(name, n_mels, stack, outtype):
    """stack None: a Qwen2-Audio checkpoint (llama.cpp's qwen2a)"""
    try:
        r = ru.make_mmproj(TMP, name, n_mels, stack, outtype)
    except RuntimeError as e:
        check("%s: convert_ultravox.py" % name, False, str(e))
        raise
    check("%s: convert_ultravox.py" % name, True)
    return r


def check_layout(name, path, cfg, outtype):
    r = mmgguf.GGUFReader(path)
    ac, qw = cfg["audio_config"], ru.is_qwen2a(cfg)
    d, nm, ffn, dt = ac["d_model"], ac["num_mel_bins"], ac["encoder_ffn_dim"], cfg["text_config"]["hidden_size"]
    want_kv = {"general.architecture": "clip", "clip.has_audio_encoder": True,
               "clip.projector_type": "qwen2a" if qw else "ultravox",
               "clip.audio.num_mel_bins": nm, "clip.audio.embedding_length": d,
               "clip.audio.feed_forward_length": ffn, "clip.audio.block_count": ac["encoder_layers"],
               "clip.audio.attention.head_count": ac["encoder_attention_heads"],
               "clip.audio.projection_dim": dt, "clip.audio.projector.stack_factor": None if qw else cfg["stack_factor"]}
    bad = ["%s=%r" % (key, r.kv.get(key)) for key, v in want_kv.items() if r.kv.get(key) != v]
    mt = outtype
    want_t = {"a.conv1d.1.weight": ("F16", (3, nm, d)), "a.conv1d.1.bias": ("F32", (1, d)),
              "a.conv1d.2.weight": ("F16", (3, d, d)), "a.conv1d.2.bias": ("F32", (1, d)),
              "a.position_embd.weight": (outtype.upper() if outtype != "q8_0" else "F16", (d, 1500)),
              "a.post_ln.weight": ("F32", (d,)), "a.post_ln.bias": ("F32", (d,))}
    if qw:
        want_t.update({"mm.a.fc.weight": (mt.upper(), (d, dt)), "mm.a.fc.bias": ("F32", (dt,))})
    else:
        k, hid = cfg["stack_factor"], cfg["hidden_size"]
        want_t.update({"mm.a.norm_pre.weight": ("F32", (k * d,)), "mm.a.mlp.1.weight": (mt.upper(), (k * d, hid)),
                       "mm.a.norm_mid.weight": ("F32", (hid // 2,)), "mm.a.mlp.2.weight": (mt.upper(), (hid // 2, dt))})
    for i in range(ac["encoder_layers"]):
        p = "a.blk.%d." % i
        for n, (o, inp) in {"attn_q": (d, d), "attn_k": (d, d), "attn_v": (d, d), "attn_out": (d, d),
                            "ffn_up": (ffn, d), "ffn_down": (d, ffn)}.items():
            want_t[p + n + ".weight"] = (mt.upper(), (inp, o))
            if n != "attn_k":
                want_t[p + n + ".bias"] = ("F32", (o,))
        for n in ("ln1", "ln2"):
            want_t[p + n + ".weight"] = ("F32", (d,))
            want_t[p + n + ".bias"] = ("F32", (d,))
    got_t = {n: (t.upper(), tuple(int(x) for x in ne)) for n, (t, ne, _) in r.tensors.items()}
    for n, v in want_t.items():
        if got_t.get(n) != v:
            bad.append("%s: %s, want %s" % (n, got_t.get(n), v))
    extra = sorted(set(got_t) - set(want_t))
    if extra:
        bad.append("extra tensors %s" % extra)
    check("%s: keys and tensors in llama.cpp's %s layout (%d tensors)" % (name, "Qwen2-Audio" if qw else "Ultravox",
          len(got_t)), not bad,
          "; ".join(bad))


def case(name, n_mels, stack, outtype, clips, text_model):
    cfg, sd, path = make_file(name, n_mels, stack, outtype)
    check_layout(name, path, cfg, outtype)
    tol = TOL[outtype]
    per_win = 750 if stack is None else -(-1500 // stack)  # qwen2a: 1500 rows averaged in pairs
    rows_win = 750 if stack is None else 1500
    for c in clips:
        pcm = PCM[c]
        o = {s: os.path.join(TMP, "%s_%s_%s.npy" % (name, c, s)) for s in ("enc", "mel", "proj", "melm")}
        p = run(["encode-audio", "-m", path, WAV[c], "-o", o["enc"], "--mel", o["mel"], "--projected", o["proj"],
                 "-t", "2"])
        if p.returncode:
            continue
        mel_ref, enc_ref, proj_ref = ru.clip(sd, cfg, pcm, FILTERS[n_mels])
        mel, enc, proj = np.load(o["mel"]), np.load(o["enc"]), np.load(o["proj"])
        n_win = max(1, -(-len(pcm) // 480000))
        ok_shape = (mel.shape == mel_ref.shape and enc.shape == enc_ref.shape and proj.shape == proj_ref.shape
                    and proj.shape[0] == n_win * per_win)
        check("%s %s: shapes mel %s enc %s proj %s (%d windows x %d positions)" % (name, c, mel.shape, enc.shape,
              proj.shape, n_win, per_win), ok_shape)
        if not ok_shape:
            continue
        em = float(np.max(np.abs(mel - mel_ref)))
        check("%s %s: log-mel (%d bins, padded to %d s) max |diff| %.2e <= 1e-4" % (name, c, n_mels, 30 * n_win, em),
              em <= 1e-4)
        ee, ep = rel(enc, enc_ref), rel(proj, proj_ref)
        check("%s %s: encoder rows rel %.2e, projected rows rel %.2e <= %g" % (name, c, ee, ep, tol),
              ee <= tol and ep <= tol)
        pw = " + ".join([str(per_win)] * n_win)
        check("%s %s: per-window counts on stderr (%s)" % (name, c, pw), ("= " + pw) in p.stderr, p.stderr)
        if c == clips[0]:
            run(["mel", "-m", path, WAV[c], "-o", o["melm"]])
            mm = np.load(o["melm"]) if os.path.exists(o["melm"]) else None
            check("%s: mel -m takes the file's %d bins and padding" % (name, n_mels),
                  mm is not None and mm.shape == mel.shape and float(np.max(np.abs(mm - mel))) == 0.0)
    # info: positions per window and the longest clip in 1000 positions
    p = run(["info", path, "--ctx-size", "1000"])
    longest = (1000 // per_win) * 30.0
    want = "-> %d rows -> %d positions (%s, stack %d); longest clip in 1000 positions: %.2f s" % (
        rows_win, per_win, "qwen2a" if stack is None else "ultravox", stack or 1, longest)
    check("%s: info says '%s'" % (name, want), want in p.stdout, p.stdout[:2000])
    pj = run(["info", "--json", path, "--ctx-size", "1000"])
    try:
        au = json.loads(pj.stdout)["audio"]
        ok = au["positions_per_window"] == per_win and abs(au["max_clip_seconds"] - longest) < 1e-9
    except (ValueError, KeyError) as e:
        ok, au = False, str(e)
    check("%s: info --json audio" % name, ok, str(au))
    if not text_model:
        return
    # the fused prompt: rows placed by the marker, then the question
    prompt = "<__media__>What is this?"
    c = clips[-1]
    lg = os.path.join(TMP, name + "_logits.npy")
    p = run(["logits", "-m", text_model, "--mmproj", path, "--audio", WAV[c], "-p", prompt, "-o", lg, "-t", "2"])
    if p.returncode == 0:
        m = ref_fused.load(text_model)
        _, _, proj_ref = ru.clip(sd, cfg, PCM[c], FILTERS[n_mels])
        inputs = ref_fused.turn(m, prompt, [proj_ref], raw=True, kinds=["audio"])
        ref = ref_fused.logits(m, inputs)
        got = np.load(lg)
        ok = got.shape == ref.shape
        e = rel(got, ref) if ok else float("inf")
        check("%s %s: fused prompt logits (%d positions, %d audio rows) rel %.2e <= %g" % (
            name, c, len(inputs), len(proj_ref), e, tol), ok and e <= tol, "shape %s vs %s" % (got.shape, ref.shape))
    # a clip over the context: refused before any work
    n_ctx = per_win + 8
    p = run(["describe", "-m", text_model, "--mmproj", path, "-c", str(n_ctx), WAV["45s"]], code=3)
    check("%s: 45 s over a context of %d: exit 3, 'over the context'" % (name, n_ctx),
          p.returncode == 3 and "over the context" in p.stderr and "take %d positions" % (2 * per_win) in p.stderr,
          p.stderr)


def llama3_turn(mmproj):
    """The user turn llama-mtmd-cli --audio builds (b10182): the Llama 3 template around one user message whose
    content is the marker immediately followed by the question; no default system prompt; no BOS (the file's
    add_bos_token is false). A byte vocabulary without the template's special tokens: every byte of the template
    text is one position, so the count says exactly what text was evaluated besides the audio rows."""
    tb = os.path.join(TMP, "text_bytes.gguf")
    subprocess.run([sys.executable, os.path.join(SRC, "tools", "make_random_mm.py"), "-o", tb, "--vocab", "bytes",
                    "--no-vision", "--no-audio", "--d-model", "96", "--n-ctx", "1024"], check=True, capture_output=True)
    q = "What is it?"
    want = len(("<|start_header_id|>user<|end_header_id|>\n\n" + q +
                "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n").encode())
    for cmd, args, stdin in (("ask", [WAV["1s"], q], None), ("chat", ["--audio", WAV["1s"]], q + "\n")):
        p = subprocess.run([BIN, cmd, "-m", tb, "--mmproj", mmproj, "--chat-template", "llama3", "--json", "-q",
                            "-n", "1"] + args, capture_output=True, text=True, input=stdin)
        try:
            j = json.loads(p.stdout.strip().splitlines()[-1])
            n, na = j["prompt_positions"] - j["media_positions"], j["media_positions"]
        except (ValueError, KeyError, IndexError):
            n, na = -1, -1
        check("%s --audio, llama3 template: %d text positions (want %d: marker then question, no system, no "
              "BOS), %d audio rows (want 188)" % (cmd, n, want, na), p.returncode == 0 and n == want and na == 188,
              p.stdout[-300:] + p.stderr[-600:])
    p = run(["describe", "-m", tb, "--mmproj", mmproj, "-n", "2", WAV["11s"]])
    check("describe on the Ultravox file", p.returncode == 0)


def main():
    text = os.path.join(TMP, "text.gguf")
    subprocess.run([sys.executable, os.path.join(SRC, "tools", "make_random_mm.py"), "-o", text, "--vocab",
                    testdata.path("gpt2_bpe"), "--no-vision", "--no-audio", "--d-model", "96", "--n-ctx", "1024"],
                   check=True, capture_output=True)
    all_clips = ["11s"] if QUICK else ["1s", "11s", "30s", "45s"]
    case("m80_k8_f32", 80, 8, "f32", all_clips, text)
    llama3_turn(os.path.join(TMP, "m80_k8_f32.gguf"))
    case("m128_k4_f32", 128, 4, "f32", all_clips, None if QUICK else text)
    case("m80_k8_f16", 80, 8, "f16", ["11s"], None)
    case("m128_k4_q8_0", 128, 4, "q8_0", ["11s"], None)
    case("qwen2a_m128_f32", 128, None, "f32", ["11s"] if QUICK else ["1s", "11s", "45s"], None)
    case("qwen2a_m128_q8_0", 128, None, "q8_0", ["11s"], None)
    if fails:
        print("FAILED %d: %s" % (len(fails), "; ".join(fails)))
        return 1
    print("all ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
