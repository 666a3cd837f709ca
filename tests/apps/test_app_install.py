#!/usr/bin/python3
"""app_install: `cmake --install BUILD --prefix DIR` gives a tree that works where it was installed and
after it is moved (issue 14 item 4).

For the install prefix, then for the same tree moved to another folder (the first one no longer exists):
  - pkg-config (PKG_CONFIG_PATH = the tree's lib/pkgconfig) names this tree: --variable=prefix, -I, -L;
  - the complete example of include/mmgpt.h's top comment (cut out by tests/fusion/CMakeLists.txt, the
    file fus_example is built from) compiles with `cc ex.c $(pkg-config --cflags --libs mmgpt)` against the
    installed header, links the installed libmmgpt.so (the loader, LD_LIBRARY_PATH = pkg-config's libdir,
    maps that file) and prints the same text as the installed `mmgpt caption -n 16 -t 2` on the bundled model;
  - the same with `pkg-config --static --libs mmgpt` and the installed libmmgpt.a (the private
    dependencies listed by mmgpt.pc are enough to link it);
  - the installed `mmgpt caption PICTURE`, without -m and without $MMGPT_MODEL, run from a folder outside
    the source tree, exits 0 and prints the build tree's caption (`mmgpt --help` names the tree's model);
  - with the tree's bundled model renamed away, it exits 4 naming the tree's model path (it did not fall
    back to the source tree's assets/models: an installed program uses only its own tree).

usage: test_app_install.py CMAKE BUILD_DIR EXAMPLE_C CC [EXTRA_CFLAGS...]
  (EXTRA_CFLAGS: the sanitizer flags in the sanitizer build, so the example links the instrumented library)
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

from apptest import BIN, SRC, check, failures, finish, need_bin

PICTURE = os.path.join(SRC, "assets", "examples", "shapes1.png")


def env_without_model(**extra):
    e = {k: v for k, v in os.environ.items() if k not in ("MMGPT_MODEL", "LD_LIBRARY_PATH", "PKG_CONFIG_PATH")}
    e.update(extra)
    return e


def sh(args, **kw):
    p = subprocess.run(args, capture_output=True, **kw)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def pkg_config(pcdir, *args):
    rc, out, err = sh(["pkg-config"] + list(args) + ["mmgpt"], env=env_without_model(PKG_CONFIG_PATH=pcdir))
    check("pkg-config %s" % " ".join(args), rc == 0, err)
    return out.split()


def linkable(cc, name, flags):
    """True when libNAME.so or libNAME.a is in a -L folder of flags or on the toolchain's search path."""
    for ext in ("so", "a"):
        if any(os.path.isfile(os.path.join(f[2:], "lib%s.%s" % (name, ext))) for f in flags if f.startswith("-L")):
            return True
        rc, out, _ = sh([cc, "-print-file-name=lib%s.%s" % (name, ext)])
        if rc == 0 and os.path.isabs(out.strip()):
            return True
    return False


def check_tree(prefix, tag, cc, cflags, example_c, work, want):
    pcs = glob.glob(os.path.join(prefix, "**", "pkgconfig", "mmgpt.pc"), recursive=True)
    if not check("%s: one mmgpt.pc in the tree" % tag, len(pcs) == 1, repr(pcs)):
        return
    pcdir = os.path.dirname(pcs[0])
    real = os.path.realpath(prefix)
    got = pkg_config(pcdir, "--variable=prefix")
    check("%s: pkg-config prefix is this tree" % tag, len(got) == 1 and os.path.realpath(got[0]) == real,
          "prefix %r, tree %s" % (got, real))
    libdir = pkg_config(pcdir, "--variable=libdir")
    libdir = libdir[0] if libdir else ""
    flags = pkg_config(pcdir, "--cflags", "--libs")
    inc = [f[2:] for f in flags if f.startswith("-I")]
    check("%s: --cflags names the installed mmgpt.h" % tag,
          any(os.path.isfile(os.path.join(d, "mmgpt.h")) and os.path.realpath(d).startswith(real) for d in inc),
          "flags %s" % flags)
    check("%s: --libs names the installed library" % tag,
          "-L" + libdir in flags and os.path.realpath(libdir).startswith(real), "flags %s" % flags)
    model = os.path.join(prefix, "share", "mmgpt", "models", "mmgpt-demo.gguf")
    exe = os.path.join(work, "ex_shared_" + tag)
    rc, out, err = sh([cc] + cflags + ["-Wall", "-Werror", example_c, "-o", exe] + flags)
    if check("%s: cc ex.c $(pkg-config --cflags --libs mmgpt)" % tag, rc == 0, err[-2000:]):
        e = env_without_model(LD_LIBRARY_PATH=libdir)
        rc, out, err = sh([exe], env=dict(e, LD_TRACE_LOADED_OBJECTS="1"))  # what ldd prints
        lib = [ln.split("=>")[1].split()[0] for ln in out.splitlines() if "libmmgpt.so" in ln and "=>" in ln]
        check("%s: the example loads the installed libmmgpt.so" % tag,
              len(lib) == 1 and os.path.realpath(lib[0]).startswith(real), out)
        rc, out, err = sh([exe, model, PICTURE], env=e, cwd=work)
        check("%s: the header example runs on the installed library" % tag, rc == 0 and out and out == want,
              "rc %d, out %r, want %r, err %s" % (rc, out, want, err[-1000:]))
    # static: the archive and what `pkg-config --static --libs` lists (Libs.private, Requires.private)
    sflags = pkg_config(pcdir, "--static", "--cflags", "--libs")
    archive = os.path.join(libdir, "libmmgpt.a")
    exe = os.path.join(work, "ex_static_" + tag)
    if check("%s: --static --libs has -lmmgpt and the installed libmmgpt.a exists" % tag,
             "-lmmgpt" in sflags and os.path.isfile(archive), "flags %s" % sflags):
        # --static also expands the dependencies' own Libs.private (a fully static libsndfile needs
        # -lmp3lame, -lFLAC, ...): those whose development files are not installed here are dropped
        # (the shared libsndfile is linked instead); the ones mmgpt.pc lists itself always resolve.
        dropped = [f for f in sflags if f.startswith("-l") and f != "-lmmgpt" and not linkable(cc, f[2:], sflags)]
        if dropped:
            print("     (not installed here, dropped from the static link: %s)" % " ".join(sorted(set(dropped))))
        sflags = [archive if f == "-lmmgpt" else f for f in sflags if f not in dropped]
        rc, out, err = sh([cc] + cflags + ["-Wall", "-Werror", example_c, "-o", exe] + sflags)
        if check("%s: cc ex.c $(pkg-config --static ...) with libmmgpt.a" % tag, rc == 0, err[-2000:]):
            rc, out, err = sh([exe, model, PICTURE], env=env_without_model(), cwd=work)
            check("%s: the statically linked example runs" % tag, rc == 0 and out == want,
                  "rc %d, out %r, want %r, err %s" % (rc, out, want, err[-1000:]))
    # the installed program: the bundled model of its own tree, from a folder outside the source tree
    mmgpt = os.path.join(prefix, "bin", "mmgpt")
    rc, out, err = sh([mmgpt, "--help"], env=env_without_model(), cwd=work)
    check("%s: mmgpt --help names this tree's bundled model" % tag,
          rc == 0 and os.path.realpath(model) in out and "(absent)" not in out, out[-600:])
    rc, out, err = sh([mmgpt, "caption", "-n", "16", "-t", "2", "-q", PICTURE], env=env_without_model(), cwd=work)
    check("%s: installed mmgpt caption without -m / $MMGPT_MODEL prints the caption" % tag,
          rc == 0 and out.rstrip("\n") == want, "rc %d, out %r, want %r, err %s" % (rc, out, want, err))


def main():
    need_bin()
    if len(sys.argv) < 5:
        print(__doc__)
        return 2
    cmake, build, example_c, cc = sys.argv[1:5]
    cflags = sys.argv[5:]
    if not check("the header example was extracted", os.path.isfile(example_c), example_c):
        return finish()
    work = tempfile.mkdtemp(prefix="mmgpt_app_install_")   # outside the source tree (and its build/)
    print("work folder:", work)
    if not check("the work folder is outside the source tree",
                 not os.path.realpath(work).startswith(os.path.realpath(SRC) + os.sep), work):
        return finish()
    first = os.path.join(work, "first", "prefix")
    moved = os.path.join(work, "moved", "elsewhere")
    rc, out, err = sh([cmake, "--install", build, "--prefix", first])
    if not check("cmake --install BUILD --prefix %s" % first, rc == 0, err[-2000:]):
        return finish()
    # what the build tree prints: greedy, 16 tokens, 2 threads (the header example's settings)
    rc, want, err = sh([BIN, "caption", "-n", "16", "-t", "2", "-q", PICTURE], env=env_without_model())
    want = want.rstrip("\n")
    if not check("build/mmgpt caption (the expected text)", rc == 0 and want, err):
        return finish()
    check_tree(first, "installed", cc, cflags, example_c, work, want)
    os.makedirs(os.path.dirname(moved))
    os.rename(first, moved)
    check_tree(moved, "moved", cc, cflags, example_c, work, want)
    # no bundled model in the tree: an installed program must not fall back to the source tree
    model = os.path.join(moved, "share", "mmgpt", "models", "mmgpt-demo.gguf")
    os.rename(model, model + ".away")
    rc, out, err = sh([os.path.join(moved, "bin", "mmgpt"), "caption", "-q", PICTURE],
                      env=env_without_model(), cwd=work)
    check("moved, model renamed away: exit 4 naming the tree's model (no source-tree fallback)",
          rc == 4 and os.path.realpath(os.path.dirname(model)) in err, "rc %d, out %r, err %s" % (rc, out, err))
    os.rename(model + ".away", model)
    if not failures:
        shutil.rmtree(work)   # kept on failure, to look at
    return finish()


if __name__ == "__main__":
    sys.exit(main())
