"""test_dist_mpi.py - pipeline parallelism under mpirun (2 and 4 ranks on this machine, one thread each,
--oversubscribe, root allowed by Open MPI's variables), against the single-process run:

1. the library (test_dist_pipeline, C): every position's logits within 1e-5 of each row's largest and the
   same argmax, for prompts in micro-batches, decode steps, a rewind, a reset; on a random GPT-2 (F32 and
   Q8_0, balanced and a --split) and random llama and qwen2 models (tools/make_random_llama.py);
2. the program: `mmgpt generate` (greedy) prints the same text and `mmgpt logits` the same logits
   (1e-5 of each row's largest) as one process; the bundled model captions a picture and describes a clip
   with the same words;
3. memory: on a random model of >= 0.5 GB each rank's peak RSS is its share of the weights (its layers,
   rank 0 also the embeddings) plus at most SLACK, and well below the whole model;
4. failures: a worker whose model file is missing, or that cannot map it under `ulimit -v`, makes every
   rank stop with exit 4 and ONE message from rank 0 naming that rank; rank 0's own failure is its message
   alone; a worker killed mid-chat ends the run within a bounded time (mpirun reports it); a stopped
   (hung) worker is reported by rank 0 after $MMGPT_MPI_TIMEOUT seconds.

usage: test_dist_mpi.py MPIEXEC TEST_DIST_PIPELINE   (env: MMGPT_BIN, MMGPT_SOURCE_DIR, MMGPT_TEST_TMP)
"""
import os
import signal
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("MMGPT_SOURCE_DIR", os.path.join(HERE, "..", ".."))
BIN = os.environ.get("MMGPT_BIN")
sys.path.insert(0, os.path.join(SRC, "tests"))
sys.path.insert(0, os.path.join(SRC, "tools"))
import testdata  # noqa: E402
import make_random_gpt2  # noqa: E402

MPIEXEC, PIPE = sys.argv[1], sys.argv[2]
TMP = os.path.join(os.environ.get("MMGPT_TEST_TMP", "/tmp"), "dist_mpi")
os.makedirs(TMP, exist_ok=True)
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", OMPI_MCA_btl_vader_single_copy_mechanism="none",
           OPENBLAS_NUM_THREADS="1", MMGPT_MODEL="")
SLACK = 160 << 20   # per rank: program, libraries (BLAS, MPI), state, MPI's shared-memory segments
fails = []


def check(name, ok, detail=""):
    print("%s: %s%s" % ("ok  " if ok else "FAIL", name, "" if ok else " -- " + str(detail)[:2000]))
    sys.stdout.flush()
    if not ok:
        fails.append(name)
    return ok


def mpirun(n, args, timeout=600, stdin=None, env=None):
    cmd = [MPIEXEC, "-np", str(n), "--oversubscribe"] + args
    return subprocess.run(cmd, capture_output=True, timeout=timeout, input=stdin, env=env or ENV)


def text(b):
    """stdout without its final newline: under mpirun rank 0's stdout is a terminal (Open MPI forwards it
    through a pty), where generate ends its text with a newline; piped, it does not."""
    return b.replace(b"\r\n", b"\n").rstrip(b"\n")


def mmgpt(args, timeout=300):
    return subprocess.run([BIN] + args, capture_output=True, timeout=timeout, env=ENV)


# ---------------------------------------------------------------- 1. library equality
def lib_equal(model, label, extra=()):
    for n in (2, 4):
        r = mpirun(n, [PIPE, model] + list(extra))
        out = r.stdout.decode(errors="replace")
        check("%s, %d ranks: pipeline logits = one process" % (label, n), r.returncode == 0,
              out + r.stderr.decode(errors="replace"))
        for line in out.splitlines():
            if "worst" in line:
                print("    " + line)


g2 = os.path.join(TMP, "g2.gguf")
make_random_gpt2.make_model(g2, V=300, n_ctx=64, d=64, n_layer=6, n_head=4, seed=3)
lib_equal(g2, "random GPT-2 F32, 6 layers")
g2q = os.path.join(TMP, "g2q.gguf")
make_random_gpt2.make_model(g2q, V=300, n_ctx=64, d=64, n_layer=5, n_head=4, ttype="q8_0", tied=False, seed=4)
lib_equal(g2q, "random GPT-2 Q8_0 untied, 5 layers")
r = mpirun(2, [PIPE, g2, "--split", "1,5"])
check("random GPT-2, --split 1,5", r.returncode == 0, r.stdout.decode() + r.stderr.decode())
tool = os.path.join(SRC, "tools", "make_random_llama.py")   # the llama/qwen2 decoder's random models
if os.path.exists(tool):
    for arch, kv in (("llama", "2"), ("qwen2", "2")):
        ll = os.path.join(TMP, "%s.gguf" % arch)
        subprocess.run([sys.executable, tool, ll, "--arch", arch, "--d", "128", "--layers", "4", "--heads", "8",
                        "--kv-heads", kv, "--ff", "256", "--seed", "5"], check=True, capture_output=True)
        lib_equal(ll, "random %s (grouped-query attention, RoPE, SwiGLU), 4 layers" % arch)
else:
    check("tools/make_random_llama.py present (llama-family model)", False, tool)

# ---------------------------------------------------------------- 2. the program
tg = os.path.join(TMP, "tg.gguf")
make_random_gpt2.make_model(tg, n_ctx=128, d=64, n_layer=4, n_head=4, seed=7,
                            tokenizer_dir=testdata.path("gpt2_bpe", "hf"))
prompt = "The pipeline passes rows from rank to rank"
one = mmgpt(["generate", "-m", tg, "-p", prompt, "-n", "24", "--temp", "0", "-t", "1", "-q"])
check("generate, one process", one.returncode == 0, one.stderr)
lg1 = os.path.join(TMP, "lg1.npy")
r = mmgpt(["logits", "-m", tg, "-p", prompt, "-o", lg1, "-t", "1"])
check("logits, one process", r.returncode == 0, r.stderr)
ref = np.load(lg1)
for n in (2, 4):
    r = mpirun(n, [BIN, "generate", "-m", tg, "-p", prompt, "-n", "24", "--temp", "0", "-t", "1", "-q"])
    check("generate, %d ranks: the same greedy text" % n, r.returncode == 0 and text(r.stdout) == text(one.stdout),
          "%r vs %r %s" % (r.stdout, one.stdout, r.stderr))
    lgn = os.path.join(TMP, "lg%d.npy" % n)
    r = mpirun(n, [BIN, "logits", "-m", tg, "-p", prompt, "-o", lgn, "-t", "1"])
    ok = r.returncode == 0 and os.path.exists(lgn)
    if ok:
        got = np.load(lgn)
        err = np.max(np.abs(got - ref) / np.max(np.abs(ref), axis=1, keepdims=True))
        ok = got.shape == ref.shape and err <= 1e-5
        print("    logits, %d ranks: worst %.3g of the row's largest" % (n, err))
    check("logits, %d ranks: within 1e-5 of each row's largest" % n, ok, r.stderr)
r = mpirun(2, [BIN, "generate", "-m", tg, "-p", prompt, "-n", "24", "--temp", "0", "-t", "1", "-q",
               "--layer-split", "3,1"])
check("generate --layer-split 3,1: the same text", r.returncode == 0 and text(r.stdout) == text(one.stdout),
      "%r %s" % (r.stdout, r.stderr))
# the workers parse the command line with the option table, as rank 0 does (dist_cli.c): a value that looks
# like an option (the prompt "-m", the stop string "--kv-f16") is a value (the worker once re-read
# -m/-t/-c/--kv-f16 by hand: it took the prompt "-m" for the option and failed, "rank 1: -m: ...")
args = ["generate", "-p", "-m", "-m", tg, "--stop", "--kv-f16", "-n", "8", "--temp", "0", "-t", "1", "-q"]
one2 = mmgpt(args)
r = mpirun(2, [BIN] + args)
check("generate -p -m --stop --kv-f16, 2 ranks: the same text as one process",
      one2.returncode == 0 and r.returncode == 0 and text(r.stdout) == text(one2.stdout),
      "%r %s / %r %s" % (one2.stdout, one2.stderr, r.stdout, r.stderr))

bundled = os.path.join(SRC, "assets", "models", "mmgpt-demo.gguf")
pic = os.path.join(SRC, "assets", "examples", "shapes1.png")
clip = os.path.join(SRC, "assets", "examples", "beeps.wav")
if os.path.exists(bundled):
    for cmd, args in (("caption", [pic]), ("describe", [clip]), ("ask", [pic, "What is at the center?"])):
        one = mmgpt([cmd, "-m", bundled, "-t", "1", "-q"] + args)
        check("%s, one process" % cmd, one.returncode == 0 and one.stdout.strip(), one.stderr)
        for n in (2, 4):
            r = mpirun(n, [BIN, cmd, "-m", bundled, "-t", "1", "-q"] + args)
            check("bundled model %s, %d ranks: %r" % (cmd, n, one.stdout.decode().strip()),
                  r.returncode == 0 and text(r.stdout) == text(one.stdout), "%r %s" % (r.stdout, r.stderr))
    # chat: two questions about a picture, then a sound (the KV cache kept between turns on every rank)
    script = ("What is it?\n/audio %s\nAnd this sound?\n/quit\n" % clip).encode()
    chat = ["chat", "-m", bundled, "--image", pic, "-n", "16", "-t", "1", "-q"]
    one = subprocess.run([BIN] + chat, input=script, capture_output=True, timeout=300, env=ENV)
    r = mpirun(2, [BIN] + chat, stdin=script)
    check("bundled model chat, 2 ranks: the same answers", one.returncode == 0 and r.returncode == 0 and
          text(r.stdout) == text(one.stdout), "%r vs %r %s" % (r.stdout, one.stdout, r.stderr))
else:
    check("bundled model present", False, bundled)

# ---------------------------------------------------------------- 3. memory per rank
big = os.path.join(TMP, "big-tok.gguf")
if not os.path.exists(big):
    make_random_gpt2.make_model(big, n_ctx=64, d=1024, n_layer=12, n_head=16, seed=9,   # with a tokenizer:
                                tokenizer_dir=testdata.path("gpt2_bpe", "hf"))   # generate loads it too
size = os.path.getsize(big)
layer = 12 * 1024 * 1024 * 4 + 4 * (13 * 1024 + 4096)        # weights + vectors of one layer (F32)
check("memory model is >= 0.5 GB", size >= 0.5e9, size)
for n in (1, 2, 4):
    r = mpirun(n, [PIPE, big, "--rss"])
    rows = [list(map(int, l.split()[1:])) for l in r.stdout.decode().splitlines() if l.startswith("rss ")]
    ok = r.returncode == 0 and len(rows) == n
    detail = r.stdout.decode() + r.stderr.decode()
    for rank, lb, le, rss in sorted(rows):
        share = (le - lb) * layer + (size - 12 * layer if rank == 0 else 0)
        print("    %d ranks: rank %d layers %d-%d: peak RSS %.0f MiB, its weights %.0f MiB (model %.0f MiB)" %
              (n, rank, lb, le - 1, rss / 2**20, share / 2**20, size / 2**20))
        ok = ok and 0.8 * share <= rss <= share + SLACK
        if n > 1:
            ok = ok and rss <= size / n + size / 12 + SLACK
    check("peak RSS per rank = its share of the weights (+ <= %d MiB), %d ranks" % (SLACK >> 20, n), ok, detail)

# ---------------------------------------------------------------- 4. failures
missing = os.path.join(TMP, "no-such-model.gguf")
args = ["generate", "-p", "hello", "-n", "4", "--temp", "0", "-t", "1", "-q"]


def one_message(r, who, what):
    err = r.stderr.decode(errors="replace")
    lines = [l for l in err.splitlines() if l.startswith("mmgpt:")]
    return (r.returncode != 0 and len(lines) == 1 and who in lines[0] and what in lines[0], err)


# a worker's model file is missing (MPMD: rank 1 gets another -m)
r = mpirun(1, [BIN] + args + ["-m", tg, ":", "-np", "1", BIN] + args + ["-m", missing], timeout=120)
ok, err = one_message(r, "rank 1", "no-such-model.gguf")
check("rank 1 cannot open its model: one message from rank 0, every rank exits", ok, err)
# a worker cannot map the model under a 100 MB address-space limit
sh = "ulimit -v 300000; exec %s %s -m %s" % (BIN, " ".join(args), big)
r = mpirun(1, [BIN] + args + ["-m", big, ":", "-np", "1", "sh", "-c", sh], timeout=120)
ok, err = one_message(r, "rank 1", "")
check("rank 1 out of memory (ulimit -v): one message from rank 0 naming rank 1", ok and "rank 1" in err, err)
# rank 0's model is missing: its message alone, the workers stop quietly
r = mpirun(2, [BIN] + args + ["-m", missing], timeout=120)
ok, err = one_message(r, "", "no-such-model.gguf")
check("rank 0 cannot open its model: its one message, exit 4", ok and r.returncode == 4, err)
# rank 0's usage error before loading: its message and exit code (2); the workers stop quietly
r = mpirun(2, [BIN, "generate", "-m", tg, "-n", "4", "--bogus"], timeout=120)
ok, err = one_message(r, "", "--bogus")
check("rank 0's usage error: its one message, mpirun exits 2", ok and r.returncode == 2, err)


def rank_pids(root_pid):
    """pid of each rank among the descendants of mpirun (by OMPI_COMM_WORLD_RANK in their environment)."""
    out = {}
    todo = [root_pid]
    while todo:
        p = todo.pop()
        try:
            kids = open("/proc/%d/task/%d/children" % (p, p)).read().split()
        except OSError:
            kids = []
        for k in map(int, kids):
            todo.append(k)
            try:
                env = open("/proc/%d/environ" % k, "rb").read().split(b"\0")
                exe = os.readlink("/proc/%d/exe" % k)
            except OSError:
                continue
            for e in env:
                if e.startswith(b"OMPI_COMM_WORLD_RANK=") and os.path.basename(exe) == "mmgpt":
                    out[int(e.split(b"=")[1])] = k
    return out


def chat_then(action, env, limit):
    """Start a 2-rank chat on the bundled model, get one answer, do action(rank-1 pid), ask again; returns
    (seconds from the second question to mpirun's exit, exit code, stderr)."""
    p = subprocess.Popen([MPIEXEC, "-np", "2", "--oversubscribe", BIN, "chat", "-m", bundled, "-t", "1", "-q",
                          "--image", pic, "-n", "8"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    pids = {}
    try:
        p.stdin.write(b"What is it?\n")
        p.stdin.flush()
        first = p.stdout.readline()
        for _ in range(50):
            pids = rank_pids(p.pid)
            if 1 in pids:
                break
            time.sleep(0.1)
        if not first or 1 not in pids:
            return None, None, "no first answer / no rank 1 (%r %r)" % (first, pids)
        action(pids[1])
        t0 = time.time()
        p.stdin.write(b"And now?\n")
        try:                        # communicate() sends the line and closes stdin
            _, err = p.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
            return None, None, "still running after %d s" % limit
        return time.time() - t0, p.returncode, err.decode(errors="replace")
    finally:
        for pid in pids.values():   # whatever is left of the ranks this test started
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if p.poll() is None:
            p.kill()
            p.wait()


if os.path.exists(bundled):
    dt, rc, err = chat_then(lambda pid: os.kill(pid, signal.SIGKILL), ENV, 60)
    check("rank 1 killed mid-chat: mpirun ends the run within 60 s, exit != 0 (%s s)" % (dt and round(dt, 1)),
          dt is not None and rc != 0, err)
    env = dict(ENV, MMGPT_MPI_TIMEOUT="3")
    dt, rc, err = chat_then(lambda pid: os.kill(pid, signal.SIGSTOP), env, 60)
    check("rank 1 stopped (hung) mid-chat: rank 0 reports it after the 3 s timeout (%s s)" % (dt and round(dt, 1)),
          dt is not None and rc != 0 and "no rows back" in err and dt < 30, err)

print("dist_mpi: %s" % ("FAIL (%d)" % len(fails) if fails else "ok"))
sys.exit(1 if fails else 0)
