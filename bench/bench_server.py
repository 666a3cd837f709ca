#!/usr/bin/env python3
"""bench_server.py - aggregate generated tokens/s of `mmgpt serve` with 1, 2, 4, 8, 16 concurrent clients.

    /usr/bin/python3 bench/bench_server.py [--bin build/mmgpt[,OTHER...]] [--model FILE | --gpt2-124m]
        [--clients 1,2,4,8,16] [--tokens 64] [--rounds 2] [--threads 1] [--media] [--sample] [--repeat 1]
        [--type f16] [--no-stream] [--warm-one] [--interleave]

Each client sends --rounds streaming requests one after another (ignore_eos, max_tokens = --tokens, so every
answer has exactly that many tokens; --media: with assets/examples/shapes1.png); the server runs with
--parallel = the client count. Reports per client count: aggregate tokens/s (all generated tokens / wall
time), the speed-up over one client, mean and worst time to first token, and the server's peak RSS; and from
the server's /metrics over the same window (its own counters, whatever the client side costs): the mean batch
(slots per decode step), the worker's busy rate (generated tokens / the worker's time in decode steps and
admitting jobs - what the server would do if requests were always there), the share of that time spent
admitting (prompt evaluation; a prompt found in the slot's cache but for its last position has that
position evaluated in the next decode step instead, counted there: /metrics mmgpt_prompt_positions_in_steps_total,
which also counts in the mean batch), the worker's idle share (waiting for requests with no slot busy: high means
the clients, not the server, set the pace) and the server's mean time to first token (queue to first text).
Before each measured run every slot serves one request (as many at once as there are clients), so the N-client
run, like the 1-client run, measures slots that were used before (first-touch page faults of a never-used
slot's KV cache are not counted in one case only); --warm-one warms one slot only (the former warm-up).
The last column is the clients' own CPU time (this Python process: all its threads) over the wall time, in
cores: on a machine with few cores it is CPU the server did not have.
The speed-up column divides the best runs; "median speed-up" is the median over repetitions of run k's rate
over the first client count's run k. --interleave: repetition k runs every client count (and binary) one after
the other, so the two runs of a ratio are close in time (on a loaded machine the 1- and 8-client runs of one
repetition then see about the same load; without it all repetitions of one count run before the next count).
--no-stream: plain JSON answers instead of server-sent events (the client then parses one JSON per request;
its time to first token is the whole answer's, so the server's is the one to read).
--repeat N runs each client count N times (a fresh server each time) and keeps the run with the best
aggregate rate (on a machine shared with other work the best run is the one least disturbed); RSS is the
largest of the N. --threads is the server's -t: the threads of the whole server (every slot runs on one
pool of -t threads; before the shared pool, -t was per slot and a batched step ran on the first slot's
pool, so the same -t gives 1 and N clients the same threads either way). --sample: the requests sample
(temperature 0.8, top_k 0, top_p 0.95, a seed per request) instead of greedy decoding.
Several binaries (--bin A,B): each client count and repetition runs them one after the other (alternated,
so a loaded machine disturbs them alike), one table per binary, then the rate of each against the first
per client count (the median of the per-repetition ratios).
--gpt2-124m builds a random GPT-2-124M-shaped model (d 768, 12 layers, 12 heads, GPT-2 vocabulary, weights at
--type: f16 (default), f32, q8_0, q4_0) under build/ once (a tied output; llama.cpp's gpt2 loader wants
`output.weight`: give --model a `tools/make_random_mm.py --untied` file for both servers). A --bin whose name
contains "llama-server" (llama.cpp's server, for a side-by-side run on the same file) is started as
`llama-server -m MODEL --port P -np N -t T -c N*--slot-ctx --metrics` (ready when /health answers 200); its
answers are counted by their streamed content chunks (one per token there) when no usage arrives, and the
mmgpt-only columns stay empty. The worker decodes all active slots in one pass over the weights per token (apps/server.c
step_slots: mmgpt_generate_next_many), so the aggregate rate grows with the clients while decode is bound by
reading the weights."""
import argparse
import base64
import http.client
import json
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


SLOT_CTX = 512


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_llama(bin_, model, parallel, threads):
    port = free_port()
    p = subprocess.Popen([bin_, "-m", model, "--host", "127.0.0.1", "--port", str(port), "-np", str(parallel), "-t",
                          str(threads), "-c", str(parallel * SLOT_CTX), "--metrics"], stderr=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL)
    t0 = time.time()
    while time.time() - t0 < 120:
        time.sleep(0.3)
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/health")
            ok = c.getresponse().status == 200
            c.close()
            if ok:
                return p, port
        except OSError:
            pass
    p.kill()
    raise RuntimeError("llama-server did not start")


def start(bin_, model, parallel, threads):
    if "llama-server" in os.path.basename(bin_):
        return start_llama(bin_, model, parallel, threads)
    p = subprocess.Popen([bin_, "serve", "-m", model, "--port", "0", "--parallel", str(parallel), "-t", str(threads),
                          "--queue", "256"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, bufsize=0)
    t0 = time.time()
    while time.time() - t0 < 120:
        r, _, _ = select.select([p.stderr], [], [], 0.5)
        if r:
            m = re.match(rb"listening on http://[^:]+:(\d+)", p.stderr.readline())
            if m:
                return p, int(m.group(1))
    p.kill()
    raise RuntimeError("server did not start")


def peak_rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return -1


def metrics(port):
    """The server's /metrics as {name: value} (unlabelled samples only)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    c.close()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "{" not in line and len(line.split()) == 2:
            k, v = line.split()
            try:
                out[k] = float(v)
            except ValueError:
                pass
    return out


def one_request(port, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.time()
    c.request("POST", "/v1/chat/completions", body=body, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    if r.getheader("Content-Type", "").startswith("application/json"):  # --no-stream
        js = json.loads(r.read())
        c.close()
        return js["usage"]["completion_tokens"], time.time() - t0
    ttft, n, chunks, buf = None, 0, 0, b""
    while True:
        chunk = r.read1(65536)
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf:
            ev, buf = buf.split(b"\n\n", 1)
            if not ev.startswith(b"data: {"):
                continue
            js = json.loads(ev[6:])
            if js.get("choices") and js["choices"][0]["delta"].get("content"):
                chunks += 1
                if ttft is None:
                    ttft = time.time() - t0
            if js.get("usage"):
                n = js["usage"]["completion_tokens"]
    c.close()
    return n or chunks, ttft if ttft is not None else time.time() - t0


def run(bin_, model, clients, tokens, rounds, threads, media, sample, stream=True, warm_all=True):
    p, port = start(bin_, model, clients, threads)
    content = "Describe this image."
    if media:
        with open(os.path.join(ROOT, "assets", "examples", "shapes1.png"), "rb") as f:
            url = "data:image/png;base64," + base64.b64encode(f.read()).decode()
        content = [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": content}]

    def body(seed):
        req = {"messages": [{"role": "user", "content": content}], "max_tokens": tokens, "ignore_eos": True,
               "stream": stream}
        if sample:
            req.update(temperature=0.8, top_k=0, top_p=0.95, seed=seed)
        return json.dumps(req).encode()
    # warm-up: one request per client at once, so that every slot has been used once (its KV cache pages
    # and scratch touched, the batch made) as the one slot of a 1-client run has; else the N-client run pays
    # N - 1 slots' first-touch page faults that the 1-client run does not (on this VM ~4 % of a short run)
    ws = [threading.Thread(target=one_request, args=(port, body(0))) for _ in range(clients if warm_all else 1)]
    for t in ws:
        t.start()
    for t in ws:
        t.join()
    res = []
    lock = threading.Lock()

    def client(k):
        for r_ in range(rounds):
            r = one_request(port, body(1 + k * rounds + r_))
            with lock:
                res.append(r)
    m0 = metrics(port)
    c0 = os.times()
    t0 = time.time()
    ts = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.time() - t0
    c1 = os.times()
    client_cpu = (c1.user - c0.user + c1.system - c0.system) / wall  # the clients' CPU time / wall (cores)
    m1 = metrics(port)
    rss = peak_rss_mib(p.pid)
    p.terminate()
    p.wait()
    total = sum(n for n, _ in res)
    ttfts = [t for _, t in res]
    d = {k: m1[k] - m0.get(k, 0) for k in m1}
    srv = None  # (mean batch, busy tok/s, admit share, idle share, server TTFT s): servers with these metrics
    if "mmgpt_worker_decode_seconds_total" in d:
        busy = d["mmgpt_worker_decode_seconds_total"] + d["mmgpt_worker_admit_seconds_total"]
        srv = (d["mmgpt_decode_step_sequences_total"] / max(1, d["mmgpt_decode_steps_total"]),
               d["mmgpt_tokens_generated_total"] / busy if busy > 0 else 0, d["mmgpt_worker_admit_seconds_total"] /
               busy if busy > 0 else 0, d["mmgpt_worker_idle_seconds_total"] / wall,
               d["mmgpt_time_to_first_token_seconds_total"] / max(1, d["mmgpt_completions_total"]))
    return total / wall, sum(ttfts) / len(ttfts), max(ttfts), rss, total, srv, client_cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "mmgpt"))
    ap.add_argument("--model", default=os.path.join(ROOT, "assets", "models", "mmgpt-demo.gguf"))
    ap.add_argument("--gpt2-124m", action="store_true")
    ap.add_argument("--clients", default="1,2,4,8,16")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--media", action="store_true")
    ap.add_argument("--sample", action="store_true")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--type", default="f16", choices=["f16", "f32", "q8_0", "q4_0"])
    ap.add_argument("--no-stream", action="store_true")
    ap.add_argument("--warm-one", action="store_true")
    ap.add_argument("--interleave", action="store_true")
    a = ap.parse_args()
    model = a.model
    if a.gpt2_124m:
        model = os.path.join(ROOT, "build", "bench_gpt2_124m_%s.gguf" % a.type)
        if not os.path.exists(model):
            subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_random_gpt2.py"), model, "--vocab",
                            "50257", "--ctx", "1024", "--d", "768", "--layers", "12", "--heads", "12", "--type", a.type,
                            "--tokenizer", os.path.join(ROOT, "tests", "data", "gpt2_bpe", "hf")], check=True)
    bins = a.bin.split(",")
    print("model %s, %d tokens per answer, %d rounds per client, %d server thread(s) (-t)%s%s%s, best of %d" %
          (os.path.basename(model), a.tokens, a.rounds, a.threads, ", with a picture" if a.media else "",
           ", sampled (T 0.8, top_k 0, top_p 0.95)" if a.sample else ", greedy",
           ", not streamed" if a.no_stream else ", streamed", a.repeat))
    counts = [int(x) for x in a.clients.split(",")]
    rows = {b: [] for b in bins}
    ratios = []
    runs = {(c, b): [] for c in counts for b in bins}
    if a.interleave:  # repetition k runs every client count and binary one after the other (close in time)
        for _ in range(max(1, a.repeat)):
            for c in counts:
                for b in bins:
                    runs[c, b].append(run(b, model, c, a.tokens, a.rounds, a.threads, a.media, a.sample,
                                          not a.no_stream, not a.warm_one))
                    print("# %s, %d clients: %.1f tok/s" % (b, c, runs[c, b][-1][0]), file=sys.stderr, flush=True)
    for c in counts:
        if not a.interleave:
            for _ in range(max(1, a.repeat)):
                for b in bins:  # alternated
                    runs[c, b].append(run(b, model, c, a.tokens, a.rounds, a.threads, a.media, a.sample,
                                          not a.no_stream, not a.warm_one))
        for b in bins:
            tps, ttft, worst, _, total, srv, ccpu = max(runs[c, b], key=lambda r: r[0])
            # the speed-up over the first client count, as the median of the per-repetition ratios (with
            # --interleave the two runs of a repetition are minutes apart at most: the load moves less)
            sp = sorted(runs[c, b][k][0] / runs[counts[0], b][k][0] for k in range(len(runs[c, b])))
            rows[b].append((c, tps, ttft, worst, max(r[3] for r in runs[c, b]), srv, ccpu, sp[len(sp) // 2]))
        per = [sorted(runs[c, b][k][0] / runs[c, bins[0]][k][0] for k in range(len(runs[c, b]))) for b in bins[1:]]
        ratios.append([x[len(x) // 2] for x in per])
        if len(bins) > 1:  # progress: this count's rows and ratios at once (the tables follow at the end)
            for b in bins:
                print("# %s, %d clients: %s" % (b, c, rows[b][-1]), file=sys.stderr, flush=True)
            print("# %d clients: median ratios %s" % (c, ratios[-1]), file=sys.stderr, flush=True)
        if len(bins) == 1:
            r = rows[bins[0]][-1]
            print_row(r, rows[bins[0]][0][1], header=len(rows[bins[0]]) == 1)
    if len(bins) > 1:
        for b in bins:
            print("\n%s" % b)
            for k, r in enumerate(rows[b]):
                print_row(r, rows[b][0][1], header=k == 0)
        print("\n| clients | " + " | ".join("%s / %s (median ratio)" % (b, bins[0]) for b in bins[1:]) + " |")
        print("|---|" + "---|" * (len(bins) - 1))
        for c, rr in zip(counts, ratios):
            print("| %d | %s |" % (c, " | ".join("%.2fx" % x for x in rr)))

def print_row(r, base, header):
    if header:
        print("| clients | aggregate tok/s | speed-up | median speed-up | mean TTFT ms | worst TTFT ms | peak RSS MiB | mean batch "
              "| worker-busy tok/s | admit share | worker idle | server TTFT ms | client CPU |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    c, tps, ttft, worst, rss, srv, ccpu, msp = r
    extra = "| %.2f | %.1f | %.0f%% | %.0f%% | %.0f |" % (srv[0], srv[1], 100 * srv[2], 100 * srv[3], 1000 * srv[4]) \
        if srv else "| - | - | - | - | - |"
    print("| %d | %.1f | %.2fx | %.2fx | %.0f | %.0f | %.0f %s %.0f%% |" % (c, tps, tps / base, msp, ttft * 1000,
                                                                            worst * 1000, rss, extra, 100 * ccpu),
          flush=True)


if __name__ == "__main__":
    main()
