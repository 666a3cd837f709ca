#!/usr/bin/python3
"""app_bench: `mmgpt bench` (issue 19.1) on a small random-weight model, without timing assertions.
- --json: every stdout line is one JSON object (Python's json module) with llama-bench's fields (n_prompt,
  n_gen, n_threads, avg_ts, stddev_ts, samples_ts, model_type, model_size, ...) and mmgpt's, one line per
  test in llama-bench's order (pp then tg per thread count; then the encoders);
- the statistics agree with the samples (avg_ts = mean, stddev_ts = sample standard deviation, t/s = tokens /
  seconds of each sample); model_size / model_n_params = the decoder tensors of the file (read with
  tools/mmgguf.py); the FLOP count = the work actually done, computed here from the hyper-parameters: every
  block matrix per position, the output matrix once per computed logits row (the last prompt position only
  for pp, every step for tg), causal attention 4 * d_model per attended position per layer;
- -npl B,...: after tg<N>, one tg<N>x<B> line per B (B sequences decoded together): "n_parallel" = B,
  samples_ts = B * N / seconds, the FLOPs of B sequences, roofline > 0;
- the human table has a header and one row per test; --image / --audio add one row each;
- errors: unknown option / a test longer than the context / -r 0 / -npl 0 or 65 exit 2, a file without a
  decoder and no media exits 4.
"""
import json
import math
import os
import sys

from apptest import SRC, check, finish, make_model, need_bin, run, tmpdir, write_ppm, write_wav

sys.path.insert(0, os.path.join(SRC, "tools"))
import mmgguf  # noqa: E402

FIELDS = ["build_commit", "cpu_info", "model_filename", "model_type", "model_size", "model_n_params", "n_threads",
          "type_k", "type_v", "test", "n_prompt", "n_gen", "test_time", "avg_ns", "stddev_ns", "avg_ts", "stddev_ts",
          "samples_ns", "samples_ts"]
DEC_FIELDS = ["weight_bytes_per_token", "read_gbs", "flops", "gflops"]


def close(a, b, rel=1e-9):
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)


def main():
    need_bin()
    d = tmpdir("app_bench")
    D, L, H, C = 64, 2, 4, 64
    m = make_model(d, "m.gguf", "--seed", "5", "--type", "q8_0", "--d-model", str(D), "--n-layer", str(L),
                   "--n-head", str(H), "--n-ctx", str(C))
    img = write_ppm(os.path.join(d, "p.ppm"), 24, 30, 1)
    wav = write_wav(os.path.join(d, "s.wav"), 0.7, 16000, 2)
    g = mmgguf.GGUFReader(m)
    V = g.tensors["token_embd.weight"][1][1]
    dec = {k: v for k, v in g.tensors.items() if not k.startswith(("v.", "a.", "mm."))}
    size = sum(len(v[2]) for v in dec.values())
    n_params = sum(math.prod(v[1]) for v in dec.values())
    blk = L * (3 * D * D + D * D + 4 * D * D + 4 * D * D)   # qkv, attn out, ffn up, ffn down per layer
    out = V * D                                               # tied output = token_embd

    def flops(p0, n, logits):
        attended = n * p0 + n * (n + 1) / 2
        return 2 * blk * n + 2 * out * logits + 4 * L * D * attended

    P, N, R = 8, 5, 3
    rc, so, se = run(["bench", "-m", m, "--n-prompt", str(P), "--n-gen", str(N), "-r", str(R), "-t", "1,2", "--bw-mib", "4",
                      "--image", img, "--audio", wav, "--json"])
    check("bench --json: exit 0", rc == 0, "rc %d err %r" % (rc, se))
    lines = so.splitlines()
    objs = []
    for ln in lines:
        try:
            objs.append(json.loads(ln))
        except ValueError as e:
            check("bench --json: line is JSON", False, "%r: %s" % (ln, e))
    tests = [(o.get("test"), o.get("n_threads")) for o in objs]
    want = [("pp8", 1), ("tg5", 1), ("pp8", 2), ("tg5", 2), ("image", 1), ("audio", 1), ("image", 2), ("audio", 2)]
    check("bench --json: one object per test, llama-bench's order", tests == want, repr(tests))
    for o in objs:
        name = "%s/%st" % (o.get("test"), o.get("n_threads"))
        missing = [f for f in FIELDS if f not in o]
        check(name + ": llama-bench's fields", not missing, "missing %s" % missing)
        if missing:
            continue
        ns, ts = o["samples_ns"], o["samples_ts"]
        check(name + ": %d samples" % R, len(ns) == R and len(ts) == R, repr(o))
        units = o["n_prompt"] + o["n_gen"] if o["test"] in ("pp8", "tg5") else 1
        check(name + ": samples_ts = units / seconds", all(close(t, units / (n * 1e-9), 1e-6) for n, t in zip(ns, ts)),
              "%r %r" % (ns, ts))
        mean = sum(ts) / R
        sd = math.sqrt(sum((t - mean) ** 2 for t in ts) / (R - 1))
        check(name + ": avg_ts, stddev_ts", close(o["avg_ts"], mean, 1e-9) and close(o["stddev_ts"], sd, 1e-6),
              "%r vs %r %r" % ((o["avg_ts"], o["stddev_ts"]), mean, sd))
        check(name + ": avg_ns", abs(o["avg_ns"] - sum(ns) / R) <= 1, repr(o["avg_ns"]))
        check(name + ": model_filename, type_k", o["model_filename"] == m and o["type_k"] == "f32", repr(o))
        if o["test"] in ("image", "audio"):
            check(name + ": rows out", o.get("n_out", 0) > 0 and o["n_prompt"] == 0 and o["n_gen"] == 0, repr(o))
            continue
        check(name + ": model_type", o["model_type"] == "gpt2 %dM q8_0" % round(n_params / 1e6), o["model_type"])
        check(name + ": model_size, model_n_params", o["model_size"] == size and o["model_n_params"] == n_params,
              "%r %r vs %r %r" % (o["model_size"], o["model_n_params"], size, n_params))
        check(name + ": mmgpt's fields", all(f in o for f in DEC_FIELDS), repr(o))
        pp = o["test"] == "pp8"
        check(name + ": n_prompt, n_gen", (o["n_prompt"], o["n_gen"]) == ((P, 0) if pp else (0, N)), repr(o))
        ref = flops(0, P, 1) if pp else sum(flops(k, 1, 1) for k in range(N))
        check(name + ": FLOPs of the work done (logits of the last prompt position only)", close(o["flops"], ref, 1e-12),
              "%r vs %r" % (o["flops"], ref))
        check(name + ": gflops = flops / avg time", close(o["gflops"], o["flops"] / (sum(ns) / R), 1e-9), repr(o))
        check(name + ": weight bytes per token, read bandwidth > 0",
              o["weight_bytes_per_token"] > 0 and o["read_gbs"] > 0, repr(o))
        check(name + ": roofline only for tg", ("roofline" in o) == (not pp) and (pp or o["roofline"] > 0), repr(o))

    rc, so, se = run(["bench", "-m", m, "-p", "0", "-n", str(N), "-npl", "1,3", "-r", "2", "-t", "1", "--bw-mib", "4",
                      "--json"])
    objs = [json.loads(ln) for ln in so.splitlines()] if rc == 0 else []
    check("bench -npl 1,3: tg5, then tg5x1 and tg5x3", rc == 0 and [o["test"] for o in objs] == ["tg5", "tg5x1", "tg5x3"],
          "rc %d out %r err %r" % (rc, so, se))
    for o in objs[1:]:
        B = o["n_parallel"] if "n_parallel" in o else 0
        name = o["test"]
        check(name + ": n_parallel, n_gen", B == int(name.split("x")[1]) and o["n_gen"] == N and o["n_prompt"] == 0, repr(o))
        check(name + ": samples_ts = B N / seconds",
              all(close(t, B * N / (n * 1e-9), 1e-6) for n, t in zip(o["samples_ns"], o["samples_ts"])), repr(o))
        ref = B * sum(flops(k, 1, 1) for k in range(N))
        check(name + ": FLOPs of B sequences", close(o["flops"], ref, 1e-12), "%r vs %r" % (o["flops"], ref))
        check(name + ": roofline > 0", o.get("roofline", 0) > 0, repr(o))
    check("bench: n_parallel only on -npl lines", "n_parallel" not in objs[0] if objs else False, repr(objs[:1]))

    rc, so, se = run(["bench", "-m", m, "-p", str(P), "-n", str(N), "-r", "2", "-t", "1", "--bw-mib", "4",
                      "--image", img])
    rows = [ln for ln in so.splitlines() if ln.startswith("| gpt2") or ln.startswith("| encoders")]
    check("bench table: exit 0, header + a row per test", rc == 0 and so.startswith("| model") and len(rows) == 3 and
          "pp8" in rows[0] and "tg5" in rows[1] and "image" in rows[2], "rc %d out %r err %r" % (rc, so, se))

    for args, code, what in [(["--bogus"], 2, "unknown option"), (["--n-prompt", str(C + 1)], 2, "longer than the context"),
                             (["-r", "0"], 2, "-r 0"), (["-t", "0"], 2, "-t 0"), (["-npl", "0"], 2, "-npl 0"),
                             (["-npl", "65"], 2, "-npl 65"),
                             (["-p", "x"], 2, "-p x (llama-bench's prompt lengths)")]:
        rc, so, se = run(["bench", "-m", m, "--n-gen", "1", "--bw-mib", "4"] + args)
        check("bench %s: exit %d with a message" % (what, code), rc == code and se.startswith("mmgpt: "), repr((rc, se)))
    enc = os.path.join(d, "enc.gguf")
    make_model(d, "dec.gguf", "--seed", "6", "--d-model", "32", "--n-layer", "1", "--n-head", "2", "--mmproj-out", enc)
    rc, so, se = run(["bench", "-m", enc, "--n-prompt", "4", "--n-gen", "1"])
    check("bench on a file without a decoder and no media: exit 4", rc == 4 and "an mmproj file" in se, repr((rc, se)))
    rc, so, se = run(["bench", "-m", enc, "--image", img, "-r", "1", "--json"])
    check("bench on an encoder file with --image: one image line", rc == 0 and len(so.splitlines()) == 1 and
          json.loads(so)["test"] == "image", repr((rc, so, se)))
    return finish()


if __name__ == "__main__":
    sys.exit(main())
