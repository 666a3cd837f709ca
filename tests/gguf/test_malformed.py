"""gguf_malformed: every broken file must give exit code 4 and ONE line on stderr from `mmgpt info`.

Cases (tests/gguf/malformed.py, assembled byte by byte): bad magic, versions 0/1/4/big-endian, huge kv
and tensor counts, huge string and array lengths, too deep nesting, unknown value/element/tensor types,
removed ggml types, n_dims 0/5, dims that overflow int64, zero dims, ne[0] not a multiple of the
block, misaligned / out-of-file / wrapping offsets, overlapping tensors, duplicate keys and names, bad
alignment values; the valid files they derive from must open (exit 0). Then a valid file truncated at
every section boundary and at every byte offset (every 3rd under the sanitizer build) before the end
of its tensor data. The error line must be "mmgpt: FILE: ..." and name the problem (a substring).
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import malformed  # noqa: E402

BIN = os.environ.get("MMGPT_BIN")
TMP = os.path.join(os.environ.get("MMGPT_TEST_TMP", "/tmp"), "gguf_malformed")
os.makedirs(TMP, exist_ok=True)
if not BIN or not os.path.exists(BIN):
    print("MMGPT_BIN not set or missing")
    sys.exit(1)
fails = []


def run(path):
    return subprocess.run([BIN, "info", path], capture_output=True, text=True, errors="replace")


def expect_fail(name, data, want):
    path = os.path.join(TMP, name + ".gguf")
    with open(path, "wb") as f:
        f.write(data)
    p = run(path)
    err = p.stderr
    ok = (p.returncode == 4 and err.count("\n") == 1 and err.endswith("\n")
          and err.startswith("mmgpt: %s: " % path) and want in err and p.stdout == "")
    if not ok:
        fails.append(name)
        print("FAIL %s: rc %d, stderr %r (want %r), stdout %d bytes" % (name, p.returncode, err, want, len(p.stdout)))
    return err.strip()


def expect_ok(name, data):
    path = os.path.join(TMP, name + ".gguf")
    with open(path, "wb") as f:
        f.write(data)
    p = run(path)
    if p.returncode != 0:
        fails.append(name)
        print("FAIL %s (valid) rc %d: %s" % (name, p.returncode, p.stderr.strip()))


# the valid parents
expect_ok("valid_base", malformed.base())
expect_ok("valid_base_v2", malformed.base(version=2))
expect_ok("valid_no_tensors", malformed.gguf([malformed.ARCH], []))
rich, cuts, data_end = malformed.valid_rich()
expect_ok("valid_rich", rich)

cases = malformed.cases()
for name, data, want in cases:
    msg = expect_fail(name, data, want)
    print("%-28s %s" % (name, msg))

# truncations: section boundaries (labelled), then every byte offset
for cut, label in cuts:
    if cut < data_end:
        expect_fail("cut_%d" % cut, rich[:cut], "")
step = 3 if os.environ.get("MMGPT_SANITIZE_RUN") else 1
n_cut = 0
for cut in range(0, data_end, step):
    expect_fail("cut_all", rich[:cut], "")
    n_cut += 1
print("section cuts: %d, byte cuts: %d (file %d bytes)" % (len(cuts), n_cut, len(rich)))

if fails:
    print("%d failures: %s" % (len(fails), ", ".join(sorted(set(fails)))))
    sys.exit(1)
print("gguf malformed: %d broken files and %d truncations rejected with one line, exit 4" % (len(cases), len(cuts) + n_cut))
