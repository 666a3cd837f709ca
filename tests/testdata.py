"""testdata.py - where the tests' data files live (tests/data of this checkout; tests/data/SOURCES.md says
where each file came from). ctest passes the folder as $MMGPT_REFDATA; run by hand, a test finds tests/data
beside this file. A missing file is a test failure (exit 1, with the path), never a skip: the repository
carries every file a test reads.

    sys.path.insert(0, <tests folder>); import testdata
    jfk = testdata.path("whisper", "jfk.wav")
"""
import os
import sys

DIR = os.environ.get("MMGPT_REFDATA") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def path(*parts):
    """DIR/parts..., or exit 1 with a message when that file or folder is missing."""
    p = os.path.join(DIR, *parts)
    if not os.path.exists(p):
        print("FAIL: test data %s is missing (the repository carries it in tests/data; see tests/data/SOURCES.md;"
              " $MMGPT_REFDATA=%r)" % (p, os.environ.get("MMGPT_REFDATA")))
        sys.stdout.flush()
        sys.exit(1)
    return p
