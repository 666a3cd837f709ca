"""checks.py - the Python tests' "ok  / FAIL label detail" lines and relative error, in one place.

    sys.path.insert(0, <tests folder>); from checks import check, rel, finish
    check("label", ok, "figures")      # prints the line; a FAIL is remembered
    e = rel(got, ref)                  # max |got - ref| / max |ref| (inf when the shapes differ)
    sys.exit(finish())                 # "FAILED: labels" and 1, or "all ok" and 0
"""
import numpy as np

fails = []


def check(label, ok, msg=""):
    print("%s %s %s" % ("ok  " if ok else "FAIL", label, msg))
    if not ok:
        fails.append(label)


def rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)) if a.shape == b.shape else float("inf")


def finish():
    if fails:
        print("FAILED:", ", ".join(fails))
        return 1
    print("all ok")
    return 0
