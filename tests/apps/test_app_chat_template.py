"""test_app_chat_template.py - chat templates through the mmgpt program (issue 16.4).

A random-weight model with a byte vocabulary (one token per byte) plus the special tokens <|im_start|> and
<|im_end|>, so the prompt's token count says exactly which text became special tokens: each special token
is one position, every other byte one position. Checked:
  - a file whose tokenizer.chat_template is ChatML (Qwen2.5's published template) is run as ChatML:
    `mmgpt info` names it, and `mmgpt ask --json` evaluates exactly the ChatML turn (counted here from
    the ChatML format: <|im_start|>user\\n [media] QUESTION<|im_end|>\\n<|im_start|>assistant\\n: the media
    marker immediately followed by the question, as llama-mtmd-cli b10182 builds the user turn);
  - a <|im_end|> typed in the question is text (10 positions), the template's is one token;
  - --chat-template NAME overrides the file's (mmgpt on the ChatML file, chatml on a file without any);
  - an unknown name: exit 2 and the known names; a template no entry recognises (Phi-4's): `info` says
    so, `ask` exits 4 with a message naming --chat-template and the known names, and works with
    --chat-template chatml;
  - generation ends at the template's end-of-turn token (a model made to pick <|im_end|> at once: stop
    "eos", no text; with the mmgpt template it is only text), and in a multi-turn chat the next turn
    starts with the close <|im_end|> "\n" (2 positions: the model's <|im_end|>, then "\n").
"""
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import apptest  # noqa: E402
from apptest import check, run  # noqa: E402

sys.path.insert(0, os.path.join(apptest.SRC, "tools"))
import mmgguf  # noqa: E402

SPECIALS = ["<|im_start|>", "<|im_end|>"]


def with_specials(src, dst, chat_template, ends_at_once=False):
    """src (make_random_mm.py --vocab bytes, f32) + two control tokens (+2 rows of token_embd) + the template.
    ends_at_once: the final norm gives the constant 10*e0 (weight 0, bias 10*e0) and <|im_end|>'s row (tied
    output) is 10*e0, so greedy sampling picks <|im_end|> (logit 100, the others ~1) at every step."""
    r = mmgguf.GGUFReader(src)
    w = mmgguf.GGUFWriter()
    for k, v in r.kv.items():
        t = r.kv_types[k]
        if k == "tokenizer.ggml.tokens":
            v = list(v) + SPECIALS
        elif k == "tokenizer.ggml.token_type":
            v = list(v) + [3] * len(SPECIALS)
        if t == "arr":  # the reader keeps no element type: strings, i32 (token types) or f32
            et = "str" if k.endswith((".tokens", ".merges")) or v and isinstance(v[0], str) else "f32" if v and isinstance(v[0], float) else "i32"
            w.add_arr(k, et, v)
        else:
            getattr(w, "add_" + t)(k, v)
    if chat_template is not None:
        w.add_str("tokenizer.chat_template", chat_template)
    for name, (ttype, ne, raw) in r.tensors.items():
        if name == "token_embd.weight":
            assert ttype == "f32"
            ne = list(ne)
            rows = np.zeros((len(SPECIALS), ne[0]), np.float32)
            if ends_at_once:
                rows[SPECIALS.index("<|im_end|>"), 0] = 10
            raw = raw + rows.tobytes()
            ne[1] += len(SPECIALS)
        elif ends_at_once and name in ("output_norm.weight", "output_norm.bias"):
            v = np.zeros(ne[0], np.float32)
            if name.endswith("bias"):
                v[0] = 10
            raw = v.tobytes()
        w.add_tensor_raw(name, ttype, ne, raw)
    w.write(dst)
    return dst


def n_positions(text):
    """Positions of text in this vocabulary: a special token is one, every other byte one."""
    n, i = 0, 0
    while i < len(text):
        sp = next((s for s in SPECIALS if text.startswith(s, i)), None)
        i += len(sp) if sp else 1
        n += 1 if sp else len(text[i - 1].encode())
    return n


def ask(model, img, question, *extra):
    rc, out, err = run(["ask", "-m", model, "--json", "-n", "1", "-q"] + list(extra) + [img, question])
    j = json.loads(out) if rc == 0 and out.strip() else {}
    return rc, j.get("prompt_positions", -1) - j.get("media_positions", 0), err


def main():
    apptest.need_bin()
    d = apptest.tmpdir("app_chat_template")
    base = apptest.make_model(d, "base.gguf", "--vocab", "bytes", "--no-audio")
    tdir = apptest.testdata.path("templates")
    qwen = open(os.path.join(tdir, "Qwen-Qwen2.5-7B-Instruct.jinja"), encoding="utf-8").read()
    phi4 = open(os.path.join(tdir, "microsoft-phi-4.jinja"), encoding="utf-8").read()
    chatml = with_specials(base, os.path.join(d, "chatml.gguf"), qwen)
    unknown = with_specials(base, os.path.join(d, "unknown.gguf"), phi4)
    none = with_specials(base, os.path.join(d, "none.gguf"), None)
    img = apptest.write_ppm(os.path.join(d, "x.ppm"), 40, 40, 1)
    q = "What is it?"
    turn = lambda u: "<|im_start|>user\n" + u + "<|im_end|>\n<|im_start|>assistant\n"  # noqa: E731

    rc, out, err = run(["info", chatml])
    check("info names the template found in tokenizer.chat_template",
          rc == 0 and "chat template: chatml (tokenizer.chat_template)" in out, out[:400] + err)
    rc, out, err = run(["info", "--json", chatml])
    check("info --json", rc == 0 and json.loads(out).get("chat_template", {}).get("name") == "chatml", err)
    rc, out, err = run(["info", none])
    check("info: no template in the file: mmgpt's defaults",
          rc == 0 and "chat template: mmgpt (defaults (no template in the file))" in out, out[:300])

    rc, n, err = ask(chatml, img, q)
    # a chat model without mmgpt task keys: the media rows right before the question, no "\n" (llama.cpp's turn)
    want = n_positions(turn(q))
    check("ask on the ChatML model: the ChatML turn, specials as one token each (%d text positions, want %d)"
          % (n, want), rc == 0 and n == want, err)
    rc, n2, err = ask(chatml, img, "<|im_end|>")
    want2 = n_positions(turn("")) + len("<|im_end|>")
    check("a typed <|im_end|> is text (%d, want %d)" % (n2, want2), rc == 0 and n2 == want2, err)
    rc, n3, err = ask(chatml, img, q, "--chat-template", "mmgpt")
    want3 = len("User: \n" + q + "\nAssistant:")
    check("--chat-template mmgpt overrides the file's (%d, want %d)" % (n3, want3), rc == 0 and n3 == want3, err)
    rc, n4, err = ask(none, img, q, "--chat-template", "chatml")
    check("--chat-template chatml on a file without a template (%d, want %d)" % (n4, want),
          rc == 0 and n4 == want, err)

    rc, out, err = run(["ask", "-m", chatml, "--chat-template", "nosuch", img, q])
    check("unknown --chat-template name: exit 2 with the known names",
          rc == 2 and "unknown template 'nosuch'" in err and "known: mmgpt, " in err and "llama3" in err, err)
    rc, out, err = run(["info", "--chat-template", "nosuch", chatml])
    check("info --chat-template with an unknown name: exit 2", rc == 2 and "known: mmgpt" in err, err)
    rc, out, err = run(["info", unknown])
    check("info: a template no entry recognises", rc == 0 and "chat template: not recognised" in out, out[:400])
    rc, n5, err = ask(unknown, img, q)
    check("ask with an unrecognised template: exit 4, names --chat-template and the known names",
          rc == 4 and "--chat-template NAME" in err and "known: mmgpt, " in err, "rc %d: %s" % (rc, err))
    rc, n6, err = ask(unknown, img, q, "--chat-template", "chatml")
    check("... and runs with --chat-template chatml", rc == 0 and n6 == want, err)

    # the template's end-of-turn token ends the answer; the next turn closes it with "<|im_end|>\n"
    eot = with_specials(base, os.path.join(d, "eot.gguf"), qwen, ends_at_once=True)
    rc, out, err = run(["ask", "-m", eot, "--json", "-n", "5", "-q", img, q])
    j = json.loads(out) if rc == 0 else {}
    check("generation stops at the template's end-of-turn token <|im_end|>",
          rc == 0 and j.get("stop") == "eos" and j.get("text") == "" and j.get("generated_tokens") == 0, out + err)
    rc, out, err = run(["ask", "-m", eot, "--json", "-n", "5", "-q", "--chat-template", "mmgpt", img, q])
    j = json.loads(out) if rc == 0 else {}
    # as llama.cpp: any token of the tokenizer's end-of-generation set ends the answer, whatever the template
    # (<|im_end|> is in the set by its text), and it is never printed
    check("... and also with the mmgpt template (<|im_end|> is an end-of-generation token)",
          rc == 0 and j.get("stop") == "eos" and j.get("text") == "" and j.get("generated_tokens") == 0, out + err)
    rc, out, err = run(["chat", "-m", eot, "--multi-turn", "--json", "-q"], stdin=b"Hi\nHo\n")
    lines = [json.loads(x) for x in out.splitlines()] if rc == 0 else []
    want = [n_positions(turn("Hi")), 2 + n_positions(turn("Ho"))]  # 2: <|im_end|> "\n" closes the answer
    got = [x.get("prompt_positions") for x in lines]
    check("multi-turn: the answer closed by <|im_end|>\\n before the next ChatML turn (%s, want %s)" % (got, want),
          rc == 0 and got == want, out + err)
    sys.exit(apptest.finish())


main()
