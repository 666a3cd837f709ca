#!/usr/bin/env python3
"""pp_cpu_rounds.py - prompt processing of mmgpt against llama-bench, timed by CPU time (for shared machines).

    /usr/bin/python3 bench/pp_cpu_rounds.py --mmgpt build/mmgpt --llama-bench PATH/llama-bench \
        [--rounds 3] [--prompt 512] [--threads 1] [--config NAME:VAR=VALUE,...]... FILE.gguf ...

On a machine shared with other jobs wall-clock tokens/s are mostly a measure of the other jobs (and llama.cpp's
threads spin while they wait). Here each engine runs its pp test with -r 1 and with -r R (--reps, default 2; each
with its own warm-up and model load) and the rate is P (R - 1) tokens / (CPU seconds of the second run - CPU
seconds of the first):
user + system time of the process, so time spent preempted does not count; load, warm-up and mmgpt's bandwidth
pass cancel out (the latter is shrunk with --bw-mib 4). Use --threads 1: with more threads CPU time also counts
spinning. Rounds are interleaved (llama-bench, then mmgpt, per file); the ratio is taken within the round.
MMGPT_KERNEL in the environment picks mmgpt's kernel level. --config runs mmgpt once per config in every round
(after llama-bench), each with those variables added to the environment, e.g. --config avx2:MMGPT_KERNEL=avx2
--config avx2-openblas:MMGPT_KERNEL=avx2,MMGPT_GEMM=openblas (MMGPT_BIN=PATH: another mmgpt binary for that
config, e.g. a build of main); without --config one run of --mmgpt in the inherited environment. Prints one line per file per round per config, then medians.
Each line also gives the wall-clock rates both programs report (avg_ts of the -r R run) and their ratio: with
--threads 2 the CPU-time rate counts waiting threads (llama.cpp's spin), so read both there.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys


def cpu_seconds(cmd, env=None):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit(f"pp_cpu_rounds: {' '.join(cmd)} exited {p.returncode}")
    return (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), p.stdout


def rate(cmd_for_reps, n_prompt, env=None, reps=2):
    c1, _ = cpu_seconds(cmd_for_reps(1), env)
    c2, out = cpu_seconds(cmd_for_reps(reps), env)
    return n_prompt * (reps - 1) / (c2 - c1) if c2 > c1 else float("nan"), out


def wall_ts(out):
    """avg_ts of the last JSON line of a llama-bench -o jsonl / mmgpt bench --json output (nan if none)"""
    for ln in reversed(out.strip().splitlines()):
        try:
            return float(json.loads(ln).get("avg_ts", "nan"))
        except (ValueError, AttributeError):
            continue
    return float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mmgpt", required=True)
    ap.add_argument("--llama-bench", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=2,
                    help="the second run's repetitions (rate = P (reps - 1) / CPU-time difference); more = less noise")
    ap.add_argument("--config", action="append", default=[],
                    help="NAME:VAR=VALUE,... (repeatable): an mmgpt run per round with these environment variables")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    p, t = str(a.prompt), str(a.threads)
    configs = []
    for c in a.config or [""]:
        name, _, assigns = c.partition(":")
        env, binary = dict(os.environ), a.mmgpt
        for kv in filter(None, assigns.split(",")):
            k, eq, v = kv.partition("=")
            if not eq:
                sys.exit(f"pp_cpu_rounds: --config {c}: expected VAR=VALUE, got {kv}")
            if k == "MMGPT_BIN":   # another mmgpt binary for this config (e.g. a build of main)
                binary = v
            else:
                env[k] = v
        configs.append((name or "mmgpt", env, binary))
    ratios = {(f, n): [] for f in a.files for n, _, _ in configs}
    wall = {(f, n): [] for f in a.files for n, _, _ in configs}
    for rnd in range(1, a.rounds + 1):
        for f in a.files:
            lb, lout = rate(lambda r: [a.llama_bench, "-m", f, "-p", p, "-n", "0", "-t", t, "-r", str(r), "-o", "jsonl"],
                         a.prompt, None, a.reps)
            for name, env, binary in configs:
                mm, out = rate(lambda r: [binary, "bench", "-m", f, "-p", p, "-n", "0", "-t", t, "-r", str(r),
                                          "--json", "--bw-mib", "4"], a.prompt, env, a.reps)
                line = json.loads(out.strip().splitlines()[-1])
                flops = line.get("flops", 0)
                ratios[(f, name)].append(mm / lb)
                lw, mw = wall_ts(lout), wall_ts(out)
                wall[(f, name)].append(mw / lw)
                print(f"round {rnd} {os.path.basename(f)}: llama.cpp {lb:.1f} t/s, {name} ({line.get('kernels', '?')}) "
                      f"{mm:.1f} t/s ({flops / a.prompt * mm / 1e9:.1f} GFLOP/s), ratio {mm / lb:.2f}; "
                      f"wall {lw:.1f} / {mw:.1f} t/s, ratio {mw / lw:.2f}", flush=True)
    for f in a.files:
        for name, _, _ in configs:
            r = ratios[(f, name)]
            w = wall[(f, name)]
            print(f"{os.path.basename(f)} {name}: median ratio {statistics.median(r):.2f} "
                  f"(rounds {', '.join(f'{x:.2f}' for x in r)}); wall {statistics.median(w):.2f} "
                  f"(rounds {', '.join(f'{x:.2f}' for x in w)})")


if __name__ == "__main__":
    main()
