"""test_dist_plan.py - `mmgpt params --arch A --ranks N|auto --type T --mem SIZE --json` against ref_plan.py
(an independent computation of the same accounting): layer ranges exactly, every byte count within 1 byte
(the program prints doubles rounded to integers), fits, the smallest N of --ranks auto; and the usage errors."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_plan  # noqa: E402

BIN = os.environ.get("MMGPT_BIN")
if not BIN or not os.path.exists(BIN):
    print("MMGPT_BIN is not set or missing")
    sys.exit(77)
GiB = 1 << 30
fails = []


def run(*args):
    return subprocess.run([BIN, "params"] + list(args), capture_output=True, text=True)


def check(arch, t, ranks, mem=None, extra=(), **kw):
    args = ["--arch", arch, "--ranks", str(ranks), "--type", t, "--json"] + list(extra)
    if mem:
        args += ["--mem", "%dGiB" % mem]
    r = run(*args)
    if r.returncode != 0:
        fails.append("%s: exit %d %s" % (args, r.returncode, r.stderr))
        return None
    got = json.loads(r.stdout)
    n = ref_plan.auto(arch, t, (mem or 0) * GiB, **kw) if ranks == "auto" else ranks
    if got["ranks"] != n:
        fails.append("%s: %d ranks, reference %s" % (args, got["ranks"], n))
        return got
    want = ref_plan.plan(arch, t, n, (mem or 0) * GiB, **kw)
    for g, w in zip(got["plan"], want):
        for k in ("layer_begin", "layer_end", "fits"):
            if g[k] != w[k]:
                fails.append("%s rank %d: %s = %s, reference %s" % (args, g["rank"], k, g[k], w[k]))
        for k in ("weight_bytes", "kv_bytes", "act_bytes", "total_bytes"):
            if abs(g[k] - float(w[k])) > 1:
                fails.append("%s rank %d: %s = %s, reference %s" % (args, g["rank"], k, g[k], float(w[k])))
    if got["fits"] != all(w["fits"] for w in want):
        fails.append("%s: fits %s" % (args, got["fits"]))
    return got


for arch in ("gpt3-175b", "gpt3-13b", "gpt2-xl", "gpt2"):
    for t in ("q4_0", "q8_0", "f16", "q4_k"):
        for n in (1, 2, 3, 5, 7, 8, 12):
            check(arch, t, n, mem=24)
for mem in (8, 16, 24, 48, 80):
    for t in ("q4_0", "q6_k", "f16"):
        check("gpt3-175b", t, "auto", mem=mem)
        check("gpt3-175b", t, "auto", mem=mem, extra=["--kv-f16"], kv_f16=True)
check("gpt3-175b", "q4_0", "auto", mem=24, extra=["--ctx", "1024", "--batch", "64"], ctx=1024, batch=64)
g = check("gpt3-175b", "q4_0", 6, mem=24)
print("gpt3-175b q4_0 on 6 x 24 GiB:", [(p["layer_begin"], p["layer_end"], round(p["total_bytes"] / GiB, 2))
                                      for p in g["plan"]])
# the question: 5 ranks of 24 GiB hold gpt3-175b at Q4_0 (KV f32 at 2048), 4 do not
if ref_plan.auto("gpt3-175b", "q4_0", 24 * GiB) != 5:
    fails.append("reference: expected 5 ranks of 24 GiB for gpt3-175b q4_0")
# a user split: layer counts per rank, exactly as given
counts = [10, 30, 30, 26]
g = check("gpt3-175b", "q4_0", 4, mem=24, extra=["--layer-split", ",".join(map(str, counts))], counts=counts)
# text output: one line per rank and the verdict
r = run("--arch", "gpt3-175b", "--ranks", "4", "--mem", "24GiB")
if r.returncode != 0 or "NO" not in r.stdout or "does not fit" not in r.stdout:
    fails.append("text plan of 4 ranks: %r" % r.stdout)
# usage errors: exit 2 with a message
for args, msg in [
    (["--arch", "gpt3-175b", "--ranks", "auto"], "needs --mem"),
    (["--arch", "gpt3-175b", "--ranks", "0"], "--ranks"),
    (["--arch", "gpt3-175b", "--ranks", "97"], "--ranks"),
    (["--arch", "gpt3-175b", "--ranks", "2", "--layer-split", "50,50"], "exceed"),
    (["--arch", "gpt3-175b", "--ranks", "2", "--layer-split", "40,40"], "sum to 80"),
    (["--arch", "gpt3-175b", "--ranks", "2", "--layer-split", "96"], "1 counts for 2 ranks"),
    (["--arch", "gpt3-175b", "--ranks", "2", "--layer-split", "0,96"], "each count"),
    (["--arch", "gpt3-175b", "--ranks", "2", "--layer-split", "48,48,"], "trailing comma"),
    (["--arch", "gpt3-175b", "--ranks", "2", "--mem", "lots"], "--mem"),
    (["--arch", "gpt3-175b", "--ranks", "2", "--type", "q3_x"], "--type"),
    (["--arch", "gpt3-175b", "--mem", "24GiB"], "go with --ranks"),
]:
    r = run(*args)
    if r.returncode != 2 or msg not in r.stderr:
        fails.append("%s: exit %d, stderr %r (expected 2 and %r)" % (args, r.returncode, r.stderr, msg))
# no N fits: exit 3 with the reason
r = run("--arch", "gpt3-175b", "--ranks", "auto", "--mem", "1GiB")
if r.returncode != 3 or "no number of ranks" not in r.stderr:
    fails.append("auto with 1 GiB: exit %d %r" % (r.returncode, r.stderr))
for f in fails:
    print("FAIL:", f)
print("dist_plan: %s" % ("FAIL" if fails else "ok"))
sys.exit(1 if fails else 0)
