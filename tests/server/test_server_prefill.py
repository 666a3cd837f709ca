"""srv_prefill: chunked prefill in `mmgpt serve` (issue 20.3: prefill of new requests joins between steps).

A prompt longer than the decoder's step (512 positions) is evaluated 512 positions at a time, and between two
pieces the slots already generating take a decode step (apps/server.c prefill_between), so a long prompt does
not stall the answers in progress for its whole evaluation. Checked without timing assertions on a random
GPT-2 model (GPT-2 tokenizer, 2048-position context, made here):
  1. while a long answer streams in slot 1, a ~1500-token prompt arrives in slot 2: /metrics'
     mmgpt_decode_steps_during_prefill_total grows (steps of slot 1 between the pieces), and both complete;
  2. the long prompt's answer (temperature 0) equals the one a fresh server gives it alone, and the streamed
     answer equals the one it gets alone (the pieces are the ones mm_gpt_eval takes anyway: the same cache);
  3. with nothing else running, the same prompt takes no step between its pieces (the metric stays 0)."""
import os
import sys
import json
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from srvtest import SRC, Server, check, finish, need  # noqa: E402

sys.path.insert(0, os.path.join(SRC, "tools"))
import make_random_gpt2  # noqa: E402

TMP = os.environ.get("MMGPT_TEST_TMP") or tempfile.mkdtemp()


def body(text, n, stream=False):
    return {"messages": [{"role": "user", "content": text}], "max_tokens": n, "ignore_eos": True,
            "temperature": 0, "stream": stream}


def content(js):
    return js["choices"][0]["message"]["content"]


def main():
    need()
    model = os.path.join(TMP, "srv_prefill_gpt2.gguf")
    make_random_gpt2.make_model(model, n_ctx=2048, d=64, n_layer=2, n_head=4, seed=20,
                                tokenizer_dir=os.path.join(SRC, "tests", "data", "gpt2_bpe", "hf"))
    long_q = " ".join("word%d" % (i % 97) for i in range(700))  # ~1500 tokens: 3 pieces of 512
    short_q = "Tell a long story."

    # alone: the reference answers, and no step between the pieces (nothing else runs)
    s = Server("--parallel", "2", "-c", "2048", model=model)
    try:
        st, ref_long = s.chat(body(long_q, 8))
        check("alone: long prompt answered", st == 200, ref_long)
        n_prompt = ref_long.get("usage", {}).get("prompt_tokens", 0)
        check("alone: the prompt is over two pieces of 512 positions", n_prompt > 1024, n_prompt)
        st, ref_short = s.chat(body(short_q, 600))
        check("alone: short prompt answered", st == 200, ref_short)
        check("alone: no step between pieces",
              s.metrics().get("mmgpt_decode_steps_during_prefill_total") == 0.0, s.metrics())
    finally:
        s.stop()

    # together: the long prompt arrives while the short one streams
    s = Server("--parallel", "2", "-c", "2048", model=model)
    try:
        c = s.conn()
        c.request("POST", "/v1/chat/completions", body=json.dumps(body(short_q, 600, True)).encode(),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        got = b""
        while b'"content"' not in got:  # the first token arrived: slot 1 is generating
            got += r.read1(4096)
        st, js = s.chat(body(long_q, 8))
        rest = r.read()
        c.close()
        text = ""
        for ev in (got + rest).decode().split("\n\n"):
            if ev.startswith("data: {"):
                text += json.loads(ev[6:])["choices"][0]["delta"].get("content") or ""
        m = s.metrics()
        check("together: long prompt answered", st == 200, js)
        check("together: the long prompt's answer equals its answer alone",
              st == 200 and content(js) == content(ref_long), (content(js) if st == 200 else js, content(ref_long)))
        check("together: the streamed answer equals its answer alone", text == content(ref_short),
              (text[:200], content(ref_short)[:200]))
        check("together: slot 1 stepped between the long prompt's pieces",
              m.get("mmgpt_decode_steps_during_prefill_total", 0) >= 1, m)
    finally:
        s.stop()
    finish()


if __name__ == "__main__":
    main()
