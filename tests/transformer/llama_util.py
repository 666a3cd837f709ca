"""llama_util.py - what the llama tests share: the binary, a temporary folder, the check line and its tally."""
import os
import sys
import tempfile

BIN = os.environ.get("MMGPT_BIN")
TMP = tempfile.mkdtemp(dir=os.environ.get("MMGPT_TEST_TMP"))
failures = []


def check(name, ok, msg=""):
    """print one result line; a failure is remembered for finish()"""
    print("%-60s %s  %s" % (name, "ok  " if ok else "FAIL", msg))
    sys.stdout.flush()
    if not ok:
        failures.append(name)


def finish():
    if failures:
        print("FAILED: %s" % ", ".join(failures))
        sys.exit(1)
    print("all ok")
