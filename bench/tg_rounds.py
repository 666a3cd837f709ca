#!/usr/bin/env python3
"""tg_rounds.py - decode of mmgpt against llama.cpp on the same files, interleaved rounds, ratios within a round.

    /usr/bin/python3 bench/tg_rounds.py --mmgpt build/mmgpt --llama-bin PATH/llama.cpp/build/bin \
        [--rounds 3] [--threads 2] [--n-gen 128] [--reps 3] [--npl 1,2,4,8,16] [--ntg 32] FILE.gguf ...

Per round and file (the order of the two engines flips every round):
  tg       llama-bench -p 0 -n N -r R -o jsonl      against  mmgpt bench -p 0 -n N -r R --json
           (N single-token steps from an empty cache, a warm-up first, avg_ts over R repetitions: the same protocol);
  batched  llama-batched-bench -npp 1 -ntg G -npl L  against  mmgpt bench -p 0 -n G -npl L -r 1 --json
           (per B in L: B sequences decoded together, the aggregate tokens/s of the generation: llama.cpp's
           S_TG, after its 1-token prompt per sequence; mmgpt's tg<G>x<B>, from empty caches after one warm-up step).
--npl '' skips the batched part. Prints one line per file per round, then per file the median ratio and the
ratio of each engine's B tokens/s to its own B = 1 (what batching gains). Wall clock: run it on a quiet machine.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit("tg_rounds: %s exited %d: %s" % (" ".join(cmd), p.returncode, p.stderr[-500:]))
    return p.stdout + "\n" + p.stderr


def objs(text, key):
    out = []
    for ln in text.splitlines():
        ln = ln.strip()
        if ln.startswith("{") and key in ln:
            out.append(json.loads(ln))
    return out


def llama_tg(a, f):
    o = objs(run([os.path.join(a.llama_bin, "llama-bench"), "-m", f, "-p", "0", "-n", str(a.n_gen), "-r", str(a.reps),
                  "-t", str(a.threads), "-o", "jsonl"]), '"avg_ts"')
    return o[-1]["avg_ts"]


def mmgpt_tg(a, f):
    o = objs(run([a.mmgpt, "bench", "-m", f, "-p", "0", "-n", str(a.n_gen), "-r", str(a.reps), "-t", str(a.threads),
                  "--bw-mib", "64", "--json"]), '"avg_ts"')
    return o[-1]["avg_ts"], o[-1]["roofline"]


def llama_batched(a, f, npl):
    o = objs(run([os.path.join(a.llama_bin, "llama-batched-bench"), "-m", f, "-c", str((a.ntg + 1) * max(npl) + 16),
                  "-b", "512", "-ub", "512", "-npp", "1", "-ntg", str(a.ntg), "-npl", ",".join(map(str, npl)),
                  "-t", str(a.threads), "--output-format", "jsonl"]), '"speed_tg"')
    return {x["pl"]: x["speed_tg"] for x in o}


def mmgpt_batched(a, f, npl):
    o = objs(run([a.mmgpt, "bench", "-m", f, "-p", "0", "-n", str(a.ntg), "-npl", ",".join(map(str, npl)), "-r", "1",
                  "-t", str(a.threads), "--bw-mib", "64", "--json"]), '"n_parallel"')
    return {x["n_parallel"]: x["avg_ts"] for x in o}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mmgpt", required=True)
    ap.add_argument("--llama-bin", required=True, help="folder with llama-bench and llama-batched-bench")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-gen", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--npl", default="1,2,4,8,16")
    ap.add_argument("--ntg", type=int, default=32)
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    npl = [int(x) for x in a.npl.split(",") if x]
    res = {f: [] for f in a.files}
    for r in range(a.rounds):
        for f in a.files:
            row = {}
            for eng in (("llama", "mmgpt") if r % 2 == 0 else ("mmgpt", "llama")):
                if eng == "llama":
                    row["l_tg"] = llama_tg(a, f)
                    row["l_b"] = llama_batched(a, f, npl) if npl else {}
                else:
                    row["m_tg"], row["m_roof"] = mmgpt_tg(a, f)
                    row["m_b"] = mmgpt_batched(a, f, npl) if npl else {}
            res[f].append(row)
            bl = " ".join("B%d %.1f/%.1f (%.2f)" % (b, row["m_b"][b], row["l_b"][b], row["m_b"][b] / row["l_b"][b])
                          for b in npl if b in row["m_b"] and b in row["l_b"])
            print("round %d %-28s tg%d mmgpt %.1f llama.cpp %.1f ratio %.2f (mmgpt roofline %.1f%%) | batched tg%d "
                  "mmgpt/llama.cpp t/s: %s" % (r + 1, os.path.basename(f), a.n_gen, row["m_tg"], row["l_tg"],
                                               row["m_tg"] / row["l_tg"], 100 * row["m_roof"], a.ntg, bl), flush=True)
    print("\nmedians over %d rounds (%d threads)" % (a.rounds, a.threads))
    for f, rows in res.items():
        med = statistics.median(x["m_tg"] / x["l_tg"] for x in rows)
        line = "%-28s tg%d ratio %.2f" % (os.path.basename(f), a.n_gen, med)
        for b in npl:
            if all(b in x["m_b"] and b in x["l_b"] for x in rows):
                mr = statistics.median(x["m_b"][b] / x["l_b"][b] for x in rows)
                mg = statistics.median(x["m_b"][b] / x["m_b"][npl[0]] for x in rows)
                lg = statistics.median(x["l_b"][b] / x["l_b"][npl[0]] for x in rows)
                line += " | B%d ratio %.2f, x B%d: mmgpt %.2f llama.cpp %.2f" % (b, mr, npl[0], mg, lg)
        print(line)


if __name__ == "__main__":
    main()
