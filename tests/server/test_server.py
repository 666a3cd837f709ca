"""srv_http: `mmgpt serve` on the bundled model (issue 20 items 1, 2, 4, 6).

Every endpoint and every error status (400 / 401 / 404 / 413 / 503) with OpenAI's error object; answers at
temperature 0 equal `mmgpt ask` on the same file and question (every example picture and clip, streamed
and not); system prompt, sampling (temperature + seed), penalties, stop, max_tokens against the CLI with
the same options; a replayed conversation; many clients at once (answers == the CLI's, bad requests
mixed in do not disturb them); a client that disconnects mid-stream frees its slot; SIGTERM finishes the
request in flight, refuses new connections and exits 0. The reference is the `mmgpt ask` program."""
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from srvtest import (CLIPS, EX, IMAGES, Server, ask_body, check, cli_ask, finish, media_part,  # noqa: E402
                     need, question_for)


def err_ok(name, st, js, status, param=None):
    e = js.get("error", {}) if isinstance(js, dict) else {}
    good = (st == status and isinstance(e.get("message"), str) and e.get("message") and
            isinstance(e.get("type"), str) and (e.get("code") is None or isinstance(e.get("code"), str)) and
            (param is None or e.get("param") == param))
    return check(name, good, "status %s body %s" % (st, js))


def stream_text(chunks):
    return "".join(ch["delta"].get("content", "") for c in chunks for ch in c.get("choices", []))


def command_line():
    """serve's options: help, usage errors (exit 2) naming the option, a bad model (exit 4)."""
    import subprocess
    from srvtest import BIN, MODEL
    r = subprocess.run([BIN, "serve", "--help"], capture_output=True, text=True)
    check("serve --help", r.returncode == 0 and "--parallel" in r.stdout and "--api-key" in r.stdout, r.stdout[:200])
    for args, what in ((["--bogus"], "--bogus"), (["--port", "70000"], "--port"), (["--parallel", "0"], "--parallel"),
                       (["--queue"], "--queue"), (["--max-body", "10"], "--max-body"),
                       (["--host", "no.such.host.invalid"], "--host")):
        r = subprocess.run([BIN, "serve", "-m", MODEL] + args, capture_output=True, text=True, timeout=60)
        check("serve %s: exit 2 naming it" % " ".join(args), r.returncode == 2 and what in r.stderr,
              (r.returncode, r.stderr))
    r = subprocess.run([BIN, "serve", "-m", "/nonexistent.gguf", "--port", "0"], capture_output=True, text=True,
                       timeout=60)
    check("serve with a missing model: exit 4", r.returncode == 4, (r.returncode, r.stderr))


def main():
    need()
    command_line()
    s = Server("--parallel", "4", "--queue", "64")
    try:
        # ---- GET routes
        check("binds 127.0.0.1 by default", b"listening on http://127.0.0.1:%d" % s.port in s.log, s.log)
        st, hdr, body = s.request("GET", "/health")
        check("GET /health 200", st == 200 and json.loads(body) == {"status": "ok"}, body)
        st, hdr, body = s.request("GET", "/v1/models")
        js = json.loads(body)
        check("GET /v1/models", st == 200 and js["object"] == "list" and js["data"][0]["id"] == "mmgpt-demo.gguf"
              and js["data"][0]["object"] == "model", js)
        st, hdr, body = s.request("GET", "/")
        page = body.decode()
        check("GET / serves the page", st == 200 and hdr.get("Content-Type", "").startswith("text/html")
              and "<html" in page and "/v1/chat/completions" in page, (st, hdr))
        check("the page loads nothing from the network", "http://" not in page and "https://" not in page
              and "<script src" not in page)
        st, _, body = s.request("GET", "/metrics")
        m = body.decode()
        check("GET /metrics is Prometheus text", st == 200 and "# TYPE mmgpt_requests_total counter" in m and
              "mmgpt_queue_length 0" in m and "mmgpt_slots_total 4" in m, m[:300])
        st, _, body = s.request("GET", "/v1/nothing")
        err_ok("404 unknown route", st, json.loads(body), 404)
        st, _, body = s.request("DELETE", "/v1/chat/completions")
        err_ok("404 unknown method", st, json.loads(body), 404)

        # ---- the media cache and the prefix cache: the same picture again is not encoded again, and the
        #      same question about it is found in the KV cache of the slot that answered it
        m0 = s.metrics()
        body = ask_body("shapes4.png", "Describe this image.")
        st1, js1 = s.chat(body)
        m1 = s.metrics()
        st2, js2 = s.chat(body)
        m2 = s.metrics()
        u1, u2 = js1["usage"], js2["usage"]
        check("media cache: first time encoded, second time found",
              m1["mmgpt_media_cache_misses_total"] == m0["mmgpt_media_cache_misses_total"] + 1 and
              m2["mmgpt_media_cache_misses_total"] == m1["mmgpt_media_cache_misses_total"] and
              m2["mmgpt_media_cache_hits_total"] == m1["mmgpt_media_cache_hits_total"] + 1, (m0, m1, m2))
        check("prefix cache: the same request again evaluates only its last position",
              u1["prompt_tokens_details"]["cached_tokens"] == 0 and
              u2["prompt_tokens_details"]["cached_tokens"] == u2["prompt_tokens"] - 1 and
              u1["prompt_tokens"] == u2["prompt_tokens"], (u1, u2))
        check("the same answer from the caches", st1 == st2 == 200 and
              js1["choices"][0]["message"]["content"] == js2["choices"][0]["message"]["content"] ==
              cli_ask("shapes4.png", "Describe this image."), (js1, js2))

        # ---- answers == mmgpt ask, every example, streamed and not
        for name in IMAGES + CLIPS:
            q = question_for(name)
            want = cli_ask(name, q)
            st, js = s.chat(ask_body(name, q))
            got = js.get("choices", [{}])[0].get("message", {}).get("content") if st == 200 else js
            check("%s: answer == mmgpt ask" % name, st == 200 and got == want, "%r != %r" % (got, want))
            if name in ("shapes1.png", "beeps.wav"):
                u = js["usage"]
                check("%s: usage" % name, u["completion_tokens"] > 0 and u["prompt_tokens"] > 10 and
                      u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"] and
                      js["object"] == "chat.completion" and js["choices"][0]["finish_reason"] == "stop", js)
                st, chunks, done, raw, hdr = s.stream(ask_body(name, q), usage=True)
                check("%s: stream == mmgpt ask" % name, st == 200 and stream_text(chunks) == want and done,
                      raw[-400:])
                check("%s: SSE shape" % name, hdr.get("Content-Type") == "text/event-stream" and
                      chunks[0]["choices"][0]["delta"].get("role") == "assistant" and
                      all(c.get("object") == "chat.completion.chunk" for c in chunks) and
                      chunks[-2]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["choices"] == [] and
                      chunks[-1]["usage"]["completion_tokens"] == js["usage"]["completion_tokens"] and
                      chunks[-1]["usage"]["prompt_tokens"] == js["usage"]["prompt_tokens"] and len(chunks) >= 3 and raw.endswith("data: [DONE]\n\n"),
                      raw[-300:])
        # a text question in the same content string form and media after text
        want = cli_ask("shapes2.png", "what color is it?")
        st, js = s.chat({"messages": [{"role": "user", "content": [media_part("shapes2.png"),
                                                                    {"type": "text", "text": "what color is it?"}]}]})
        check("image + question == ask", st == 200 and js["choices"][0]["message"]["content"] == want, (js, want))

        # ---- options against the CLI with the same options
        name, q = "shapes3.jpg", "Describe this image."
        cases = [
            ("system prompt", {"messages": [{"role": "system", "content": "Be brief."}] +
                               ask_body(name, q)["messages"]}, ["--system", "Be brief."]),
            ("temperature + seed", ask_body(name, q, temperature=1.3, seed=7), ["--temp", "1.3", "--seed", "7"]),
            ("top_p", ask_body(name, q, temperature=1.0, top_p=0.5, seed=3),
             ["--temp", "1.0", "--top-p", "0.5", "--seed", "3"]),
            ("repeat / presence / frequency penalties", ask_body(name, q, repeat_penalty=1.5, presence_penalty=0.7,
                                                                 frequency_penalty=0.4),
             ["--repeat-penalty", "1.5", "--presence-penalty", "0.7", "--frequency-penalty", "0.4"]),
            ("max_tokens", ask_body(name, q, max_tokens=5), ["-n", "5"]),
        ]
        for label, body, opts in cases:
            want = cli_ask(name, q, *opts)
            st, js = s.chat(body)
            got = js["choices"][0]["message"]["content"] if st == 200 else js
            check("%s == ask %s" % (label, " ".join(opts)), st == 200 and got == want, "%r != %r" % (got, want))
        st, js = s.chat(ask_body(name, q, max_tokens=5))
        check("max_tokens: finish_reason length, 5 tokens", js["choices"][0]["finish_reason"] == "length" and
              js["usage"]["completion_tokens"] == 5, js)
        full = cli_ask(name, q)
        word = full.split()[3]
        st, js = s.chat(ask_body(name, q, stop=[word]))
        got = js["choices"][0]["message"]["content"]
        check("stop string", st == 200 and got == full[:full.index(word)] and
              js["choices"][0]["finish_reason"] == "stop", (got, word))

        # ---- a replayed conversation: [image + q1, answer, q2] == chat's second answer; the same request twice
        q2 = "Describe this image."
        body = {"messages": [{"role": "user", "content": [media_part("shapes1.png"), {"type": "text", "text": q}]},
                             {"role": "assistant", "content": cli_ask("shapes1.png", q)},
                             {"role": "user", "content": q2}]}
        st1, js1 = s.chat(body)
        st2, js2 = s.chat(body)
        check("replayed conversation answers, the same twice", st1 == 200 and st2 == 200 and
              js1["choices"][0]["message"]["content"] == js2["choices"][0]["message"]["content"], (js1, js2))

        # ---- 400s, each naming the field where there is one
        bad = [
            ("invalid JSON", b"{not json", None),
            ("missing messages", {"model": "x"}, "messages"),
            ("temperature above 2", ask_body("shapes1.png", q, temperature=2.5), "temperature"),
            ("n > 1", ask_body("shapes1.png", q, n=2), "n"),
            ("logprobs", ask_body("shapes1.png", q, logprobs=True), "logprobs"),
            ("tools", ask_body("shapes1.png", q, tools=[{"type": "function"}]), "tools"),
            ("response_format", ask_body("shapes1.png", q, response_format={"type": "json_object"}), "response_format"),
            ("remote image URL", {"messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]},
             "messages[0].content[0]"),
            ("bad base64", {"messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}]}]}, "messages[0].content[0]"),
            ("bad audio format", {"messages": [{"role": "user", "content": [
                {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "aac"}}]}]}, "messages[0].content[0]"),
        ]
        for label, body, param in bad:
            st, js = s.chat(body)
            err_ok("400 %s" % label, st, js, 400, param)
        # undecodable media: valid base64 of bytes that are no picture / no sound
        junk = {"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "QUJD" * 100}},
            {"type": "text", "text": "hi"}]}]}
        st, js = s.chat(junk)
        err_ok("400 undecodable picture", st, js, 400)
        junk["messages"][0]["content"][0] = {"type": "input_audio", "input_audio": {"data": "UklGRgAAAABXQVZF" * 4,
                                                                                    "format": "wav"}}
        st, js = s.chat(junk)
        err_ok("400 undecodable clip", st, js, 400)
        st, chunks, done, raw, _ = s.stream(junk)
        err_ok("400 undecodable clip, streaming", st, json.loads(raw) if st != 200 else {}, 400)
        # over the context (256 positions): a long question
        st, js = s.chat({"messages": [{"role": "user", "content": "word " * 400}]})
        err_ok("400 prompt over the context", st, js, 400)

        # ---- many clients at once; bad requests mixed in do not disturb the good ones
        jobs = [(n, question_for(n)) for n in IMAGES + CLIPS] * 2
        results = {}

        def client(i, name, q, streaming):
            if streaming:
                st, chunks, done, raw, _ = s.stream(ask_body(name, q))
                results[i] = (st, stream_text(chunks) if st == 200 and done else raw)
            else:
                st, js = s.chat(ask_body(name, q))
                results[i] = (st, js["choices"][0]["message"]["content"] if st == 200 else js)
        bad_results = []

        def bad_client():
            for body in (b"{", {"messages": []}, ask_body("shapes1.png", q, temperature=9)):
                bad_results.append(s.chat(body)[0])
        ts = [threading.Thread(target=client, args=(i, n, q, i % 2 == 1)) for i, (n, q) in enumerate(jobs)]
        ts += [threading.Thread(target=bad_client) for _ in range(3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        wrong = [(jobs[i][0], results.get(i)) for i in range(len(jobs))
                 if results.get(i) != (200, cli_ask(*jobs[i]))]
        check("%d concurrent clients (4 slots): every answer == mmgpt ask" % len(jobs), not wrong, wrong)
        check("bad requests among them: all 400", bad_results == [400] * 9, bad_results)
        m = s.metrics()
        check("concurrent clients shared decode steps (mean batch %.2f > 1)" %
              (m["mmgpt_decode_step_sequences_total"] / max(1, m["mmgpt_decode_steps_total"])),
              m["mmgpt_decode_step_sequences_total"] > m["mmgpt_decode_steps_total"] > 0, m)

        # ---- the same start at once: one slot evaluates it, the others copy only its prompt's KV positions
        # (mmgpt_copy_cache_n: the positions of that slot's last prompt but the one left to the step, not its answer)
        same = {"messages": [{"role": "user", "content": "Copy check: name three colours."}], "max_tokens": 12,
                "ignore_eos": True}
        st, first = s.chat(same)
        before = s.metrics()
        got = []
        ts = [threading.Thread(target=lambda: got.append(s.chat(same))) for _ in range(3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        m = s.metrics()
        copies = m["mmgpt_prefix_cache_copies_total"] - before["mmgpt_prefix_cache_copies_total"]
        pos = m["mmgpt_prefix_cache_copied_positions_total"] - before["mmgpt_prefix_cache_copied_positions_total"]
        n_prompt = first["usage"]["prompt_tokens"] if st == 200 else -1
        check("3 identical requests at once: %d copies of %d positions each (the prompt of %d less its last)" %
              (copies, pos / max(1, copies), n_prompt), st == 200 and copies >= 1 and pos == copies * (n_prompt - 1),
              (copies, pos, n_prompt))
        check("... and their answers equal the first's", [g[0] for g in got] == [200] * 3 and
              all(g[1]["choices"][0]["message"]["content"] == first["choices"][0]["message"]["content"] for g in got),
              got)

        # ---- a client that goes away mid-stream frees its slot
        before = s.metrics()
        sock = socket.create_connection(("127.0.0.1", s.port))
        body = json.dumps(ask_body("shapes1.png", q, stream=True, ignore_eos=True, max_tokens=200)).encode()
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body)
        got = b""
        while b"content" not in got.split(b"\r\n\r\n", 1)[-1][200:]:
            got += sock.recv(4096)
        busy = s.metrics()["mmgpt_slots_busy"]
        sock.close()
        t0 = time.time()
        while time.time() - t0 < 10:
            m = s.metrics()
            if m["mmgpt_slots_busy"] == 0 and m["mmgpt_cancelled_total"] > before["mmgpt_cancelled_total"]:
                break
            time.sleep(0.05)
        freed = time.time() - t0
        check("disconnect mid-stream frees the slot (busy %d -> 0 in %.2f s, cancelled +1)" % (busy, freed),
              busy == 1 and m["mmgpt_slots_busy"] == 0 and
              m["mmgpt_cancelled_total"] == before["mmgpt_cancelled_total"] + 1 and freed < 2,
              (busy, m, freed))
        check("generation stopped early (fewer than 200 tokens)",
              m["mmgpt_tokens_generated_total"] - before["mmgpt_tokens_generated_total"] < 200, m)
        st, js = s.chat(ask_body("tone.wav", "Describe this sound."))
        check("the server answers after the disconnect", st == 200 and
              js["choices"][0]["message"]["content"] == cli_ask("tone.wav", "Describe this sound."), js)
        m = s.metrics()
        check("metrics count requests and tokens", m['mmgpt_requests_total{code="200"}'] > 20 and
              m['mmgpt_requests_total{code="400"}'] >= 20 and m['mmgpt_requests_total{code="404"}'] == 2 and
              m["mmgpt_tokens_generated_total"] > 100 and m["mmgpt_prompt_tokens_total"] > 100, m)
        # each generated token is one slot of one step; an answer that ends on its end token took one step more
        # (the end token is picked, not generated); a prompt whose start was in the slot's cache had its last
        # position evaluated in a step too (mmgpt_prompt_positions_in_steps_total)
        inst = m["mmgpt_prompt_positions_in_steps_total"]
        check("slots stepped = generated tokens + at most one end token per answer + prompt positions in steps",
              m["mmgpt_tokens_generated_total"] + inst <= m["mmgpt_decode_step_sequences_total"] <=
              m["mmgpt_tokens_generated_total"] + m["mmgpt_completions_total"] + m["mmgpt_cancelled_total"] + inst,
              (m["mmgpt_decode_step_sequences_total"], m["mmgpt_tokens_generated_total"], inst))
        check("the worker's time split: decode steps and admitting > 0, idle >= 0",
              m["mmgpt_worker_decode_seconds_total"] > 0 and m["mmgpt_worker_admit_seconds_total"] > 0 and
              m["mmgpt_worker_idle_seconds_total"] >= 0, m)
    finally:
        rc = s.stop()
    check("SIGTERM on an idle server: exit 0", rc == 0, s.log[-500:])

    # ---- 401 / 413 / 503 on servers with those limits
    s = Server("--api-key", "sekrit", "--max-body", "2048", "--parallel", "1", "--queue", "1")
    try:
        st, js = s.chat({"messages": [{"role": "user", "content": "hi"}]})
        err_ok("401 without a key", st, js, 401)
        st, js = s.chat({"messages": [{"role": "user", "content": "hi"}]}, {"Authorization": "Bearer wrong"})
        err_ok("401 wrong key", st, js, 401)
        st, _, body = s.request("GET", "/v1/models")
        err_ok("401 /v1/models without a key", st, json.loads(body), 401)
        st, _, body = s.request("GET", "/health")
        check("/health needs no key", st == 200, body)
        key = {"Authorization": "Bearer sekrit"}
        st, js = s.chat({"messages": [{"role": "user", "content": "Describe this image."}], "max_tokens": 3}, key)
        check("200 with the key", st == 200 and js["usage"]["completion_tokens"] <= 3, js)
        st, js = s.chat(ask_body("shapes1.png", "Describe this image."), key)
        err_ok("413 body over --max-body", st, js, 413)
        # 503: one slot busy, one queue place: of three more clients one waits (200), two get 503
        out, retry = [], []

        def long_req():
            st, hdr, _ = s.request("POST", "/v1/chat/completions",
                                   {"messages": [{"role": "user", "content": "Describe this image."}],
                                    "ignore_eos": True, "max_tokens": 200}, key)
            out.append(st)
            if st == 503:
                retry.append(hdr.get("Retry-After"))
        first = threading.Thread(target=long_req)
        first.start()
        t0 = time.time()
        while s.metrics_key(key)["mmgpt_slots_busy"] < 1 and time.time() - t0 < 30:
            time.sleep(0.01)
        ts = [threading.Thread(target=long_req) for _ in range(3)]
        for t in ts:
            t.start()
        for t in ts + [first]:
            t.join()
        check("503 when the queue is full (1 slot busy, queue 1, 3 more clients)", sorted(out) == [200, 200, 503, 503],
              out)
        check("503 says when to retry (Retry-After: 1)", retry == ["1", "1"], retry)
        st, js = s.chat({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}, key)
        check("served again after the 503s", st == 200, js)
    finally:
        s.stop()

    # ---- SIGTERM with a request in flight: it completes, new connections are refused, exit 0
    s = Server("--parallel", "2")
    res = {}

    def inflight():
        res["r"] = s.stream({"messages": [{"role": "user", "content": "Describe this image."}], "ignore_eos": True,
                             "max_tokens": 150}, usage=True)
    t = threading.Thread(target=inflight)
    t.start()
    time.sleep(0.3)
    s.p.send_signal(15)
    time.sleep(0.3)
    refused = False
    try:
        s.request("GET", "/health", timeout=5)
    except OSError:
        refused = True
    t.join()
    rc = s.stop()
    st, chunks, done, raw, _ = res["r"]
    check("SIGTERM: the request in flight finishes", st == 200 and done and
          chunks[-1]["usage"]["completion_tokens"] == 150, raw[-300:])
    check("SIGTERM: new connections refused while draining", refused)
    check("SIGTERM: exit 0", rc == 0, s.log[-400:])
    finish()


if __name__ == "__main__":
    main()
