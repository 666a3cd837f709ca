#!/usr/bin/python3
"""app_exports: libmmgpt.so exports exactly the documented API (issue 15 item 6).

The allowed list is derived from the public headers, not written here: every function (or extern
variable) with the mmgpt_ / mm_ prefix declared at file level in include/*.h. The exports are
`nm -D --defined-only` of the built library. Fails on any exported symbol that is not in that list
(e.g. the internal gguf_* / tok_* / mm_ops512_* functions), and on any header function that is not exported.

usage: test_app_exports.py LIBMMGPT_SO INCLUDE_DIR
"""
import glob
import os
import re
import subprocess
import sys

from apptest import check, finish


def strip_c(text):
    """Source without comments, C++-only blocks (extern "C" { / }), preprocessor lines (with their
    continuations) and string literals."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r"^[ \t]*#[ \t]*ifdef[ \t]+__cplusplus\b.*?#[ \t]*endif", " ", text, flags=re.M | re.S)  # extern "C"
    text = re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", " ", text, flags=re.M)
    text = re.sub(r'"(?:[^"\\\n]|\\.)*"', '""', text)
    return re.sub(r"\bMM_API_(?:BEGIN|END)\b", " ", text)   # the visibility region markers (mm_api.h)


def top_level_statements(text):
    """File-level declarations: text at brace depth 0 up to ';' (bodies of structs, enums and inline
    functions are replaced by {}). A function definition at file level ends at its closing brace."""
    out, cur, depth = [], [], 0
    for ch in text:
        if ch == "{":
            if depth == 0:
                cur.append("{}")
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                stmt = "".join(cur)
                head = stmt[:stmt.index("{}")]
                if "(" in head and not re.search(r"\b(typedef|struct|enum|union)\b", head):
                    out.append(stmt)   # a function defined in the header (static inline: not exported)
                    cur = []
        elif depth == 0:
            if ch == ";":
                out.append("".join(cur))
                cur = []
            else:
                cur.append(ch)
    return [" ".join(s.split()) for s in out]


def header_api(include_dir):
    """{name: header} of the functions and extern variables the public headers declare."""
    api = {}
    for h in sorted(glob.glob(os.path.join(include_dir, "*.h"))):
        for stmt in top_level_statements(strip_c(open(h, encoding="utf-8").read())):
            if re.search(r"\b(typedef|static)\b", stmt):
                continue   # types and header-only functions are not symbols of the library
            m = re.search(r"\b((?:mmgpt|mm)_\w+)\s*\(", stmt)                      # a function declaration
            if not m and stmt.startswith("extern "):
                m = re.search(r"\b((?:mmgpt|mm)_\w+)\s*(?:\[[^\]]*\]\s*)*(?:=|$)", stmt)  # extern data
            if m:
                api[m.group(1)] = os.path.basename(h)
    return api


def exports(lib):
    p = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True)
    if p.returncode != 0:
        print("nm failed: %s" % p.stderr)
        sys.exit(1)
    return {ln.split()[-1]: ln.split()[-2] for ln in p.stdout.splitlines() if len(ln.split()) >= 2}


def main():
    lib, include_dir = sys.argv[1], sys.argv[2]
    api = header_api(include_dir)
    exp = exports(lib)
    print("%d functions / variables declared in %s/*.h; %d symbols exported by %s"
          % (len(api), include_dir, len(exp), os.path.basename(lib)))
    # the parser sees the API it must see (a broken parser would make both checks below vacuous)
    check("the header parser finds the product API and the module functions",
          len(api) >= 100 and api.get("mmgpt_model_load") == "mmgpt.h" and api.get("mm_gguf_open") == "mm_gguf.h"
          and api.get("mm_err") == "mm_core.h" and "mm_type" not in api, "found %d: %s" % (len(api), sorted(api)[:20]))
    extra = sorted(n for n in exp if n not in api)
    check("every exported symbol is declared in a public header with the mmgpt_ / mm_ prefix", not extra,
          "%d not: %s" % (len(extra), " ".join(extra)))
    missing = sorted(n for n in api if n not in exp)
    check("every function of the public headers is exported", not missing,
          "%d missing: %s" % (len(missing), " ".join("%s (%s)" % (n, api[n]) for n in missing)))
    return finish()


if __name__ == "__main__":
    sys.exit(main())
