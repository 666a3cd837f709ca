#!/usr/bin/env python3
"""test_core_npy.py - mm_npy_write / mm_npy_read vs numpy, and hostile .npy files.

    test_core_npy.py CORE_TOOL

  - arrays written by mmgpt load with numpy.load with the same shape and bit-identical values
    (0-d, 1-d, 2-d, 4-d, empty);
  - arrays written by numpy (format versions 1.0, 2.0 and 3.0) read back identically;
  - 30 malformed files (truncated header/data, bad magic/version, wrong dtype or order, broken dicts,
    negative/huge/overflowing dims, 5 dims, missing/duplicate/extra keys, trailing data) are each rejected
    with exit code 3 and a one-line "FILE: problem" message (mm_err's format, mm_core.h), never a crash.
"""
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

TOOL = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="core_npy_", dir=os.environ.get("MMGPT_TEST_TMP"))
rng = np.random.default_rng(7)
failures = []


def check(ok, msg):
    if not ok:
        failures.append(msg)
        print("FAIL:", msg)


def p(name):
    return os.path.join(TMP, name)


def run(*args):
    return subprocess.run([TOOL] + [str(a) for a in args], capture_output=True, text=True)


# mmgpt writes, numpy reads
for shape in [(), (5,), (3, 4), (2, 3, 4), (1, 2, 3, 4), (0,), (2, 0, 3)]:
    a = rng.standard_normal(shape).astype(np.float32)
    if a.size:
        a.reshape(-1)[0] = np.float32(-0.0)
    a.reshape(-1).tofile(p("a.f32")) if a.size else open(p("a.f32"), "wb").close()
    r = run("npy-write", p("a.f32"), p("a.npy"), *shape)
    check(r.returncode == 0, "npy-write %r failed: %s" % (shape, r.stderr))
    if r.returncode == 0:
        b = np.load(p("a.npy"))
        check(b.dtype == np.float32 and b.shape == shape and
              np.array_equal(a.view(np.uint32), b.view(np.uint32)), "numpy.load of mmgpt's %r differs" % (shape,))
        hdr = open(p("a.npy"), "rb").read(10)
        hl = struct.unpack("<H", hdr[8:10])[0]
        check((10 + hl) % 64 == 0, "header of %r not padded to 64 bytes" % (shape,))

# numpy writes, mmgpt reads
for shape in [(), (7,), (3, 5), (2, 2, 2, 3), (0, 4)]:
    for version in [(1, 0), (2, 0), (3, 0)]:
        a = rng.standard_normal(shape).astype(np.float32)
        with open(p("n.npy"), "wb") as f:
            np.lib.format.write_array(f, a, version=version)
        r = run("npy-read", p("n.npy"), p("n.f32"))
        check(r.returncode == 0, "npy-read of numpy %r v%r failed: %s" % (shape, version, r.stderr))
        if r.returncode == 0:
            want = " ".join([str(len(shape))] + [str(d) for d in shape])
            got = np.fromfile(p("n.f32"), dtype=np.float32)
            check(r.stdout.strip() == want and np.array_equal(got, a.reshape(-1)),
                  "npy-read of numpy %r v%r: got '%s'" % (shape, version, r.stdout.strip()))


def npy(dict_text, data=b"", version=1, magic=b"\x93NUMPY", pad=True, hlen=None):
    h = dict_text.encode()
    if pad:
        pre = 10 if version == 1 else 12
        h = h + b" " * ((64 - (pre + len(h) + 1) % 64) % 64) + b"\n"
    n = len(h) if hlen is None else hlen
    ln = struct.pack("<H", n) if version == 1 else struct.pack("<I", n)
    return magic + bytes([version, 0]) + ln + h + data


good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
d6 = np.arange(6, dtype=np.float32).tobytes()
bad = {
    "empty": b"",
    "short": b"\x93NUM",
    "bad_magic": npy(good, d6, magic=b"\x93NUMPZ"),
    "version_4": npy(good, d6, version=4),
    "minor_1": npy(good, d6)[:7] + b"\x01" + npy(good, d6)[8:],
    "hlen_past_eof": npy(good, d6, hlen=60000),
    "hlen_zero": npy(good, d6, hlen=0),
    "v2_huge_hlen": npy(good, d6, version=2, hlen=0xFFFFFFF0),
    "truncated_header": npy(good, d6)[:40],
    "truncated_data": npy(good, d6)[:-1],
    "trailing_data": npy(good, d6 + b"\0\0\0\0"),
    "dtype_f8": npy(good.replace("<f4", "<f8"), d6 + d6),
    "dtype_big_endian": npy(good.replace("<f4", ">f4"), d6),
    "dtype_i4": npy(good.replace("<f4", "<i4"), d6),
    "fortran": npy(good.replace("False", "True"), d6),
    "not_dict": npy("[1, 2, 3]", d6),
    "unterminated_dict": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), ", d6),
    "missing_shape": npy("{'descr': '<f4', 'fortran_order': False, }", d6),
    "missing_descr": npy("{'fortran_order': False, 'shape': (2, 3), }", d6),
    "duplicate_shape": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'shape': (6,), }", d6),
    "extra_key": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1, }", d6),
    "negative_dim": npy(good.replace("(2, 3)", "(-2, -3)"), d6),
    "five_dims": npy(good.replace("(2, 3)", "(1, 1, 2, 3, 1)"), d6),
    "huge_dim": npy(good.replace("(2, 3)", "(99999999999999999999999,)"), d6),
    "overflow_product": npy(good.replace("(2, 3)", "(4294967296, 4294967296, 4294967296)"), d6),
    "big_but_no_data": npy(good.replace("(2, 3)", "(1000000, 1000)"), d6),
    "shape_not_int": npy(good.replace("(2, 3)", "(2.5, 3)"), d6),
    "shape_unclosed": npy(good.replace("(2, 3)", "(2, 3"), d6),
    "no_newline": npy(good, d6, pad=False),
    "junk_after_dict": npy(good + " junk", d6),
    "nul_in_header": npy(good.replace("'descr'", "'de\0scr'"), d6),
}
for name, blob in bad.items():
    open(p("bad.npy"), "wb").write(blob)
    r = run("npy-read", p("bad.npy"), p("bad.f32"))
    lines = r.stderr.strip().splitlines()
    check(r.returncode == 3 and len(lines) == 1 and (": " + p("bad.npy") + ": ") in lines[0] and "mm_" not in lines[0],
          "malformed '%s': exit %d, stderr %r" % (name, r.returncode, r.stderr))
r = run("npy-read", p("does_not_exist.npy"), p("x.f32"))
check(r.returncode == 3 and "No such file" in r.stderr, "missing file: %r" % r.stderr)
# the reference must accept what it should: sanity check that 'good' itself passes
open(p("good.npy"), "wb").write(npy(good, d6))
r = run("npy-read", p("good.npy"), p("good.f32"))
check(r.returncode == 0 and r.stdout.strip() == "2 2 3", "hand-made good file rejected: %r" % r.stderr)
check(np.array_equal(np.load(p("good.npy")).reshape(-1), np.arange(6, dtype=np.float32)), "numpy rejects the good file")

if failures:
    print("%d failure(s)" % len(failures))
    sys.exit(1)
print("npy: %d malformed files rejected, round trips exact" % len(bad))
