"""srv_media: `mmgpt serve` with media encoding off the decode worker and the prefix cache over turns.

1. Media encoding does not block the other slots: while streams decode, a request with pictures no request
   sent before (made up here, so the media cache cannot hold them) is encoded by the encoder thread; the
   worker's decode steps go on meanwhile. Observed through /metrics, without timing assertions:
   mmgpt_decode_steps_while_encoding_total counts the decode steps the worker took while a request's media
   were being encoded (0 when the worker itself encodes), and the streams in progress complete. Memory is
   bounded: at most --parallel requests wait with their media encoded (the encoder waits for a slot to take
   one), the others wait unencoded (mmgpt_media_prepared, mmgpt_media_queue_length).
2. Prefix cache over turns: a client sends turn 1, gets the answer, then sends [turn 1, that answer,
   turn 2]: the whole previous conversation comes from the slot's KV cache (usage.prompt_tokens_details.
   cached_tokens >= turn 1's prompt + the answer's tokens - 1, the last generated token never being
   evaluated), and the answer equals a fresh server's (nothing cached). A changed earlier message (the
   first question, or the answer) misses from the change on, and its answer equals a fresh server's too.
   With two slots and two conversations interleaved, each goes back to the slot that holds it.
3. serve's options come from the one option table (apps/options.def): -c and --chat-template reach the slots."""
import os
import random
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from srvtest import Server, ask_body, check, cli_ask, finish, media_part, need  # noqa: E402

import base64  # noqa: E402


def bmp(w, h, seed):
    """A w x h 24-bit BMP of random pixels (a picture no request sent before)."""
    rnd = random.Random(seed)
    row = (w * 3 + 3) & ~3
    pix = bytearray()
    for _ in range(h):
        line = bytes(rnd.getrandbits(8) for _ in range(w * 3))
        pix += line + b"\0" * (row - w * 3)
    hdr = struct.pack("<2sIHHI", b"BM", 54 + len(pix), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(pix), 2835, 2835, 0, 0)
    return hdr + info + bytes(pix)


def picture_part(data):
    return {"type": "image_url", "image_url": {"url": "data:image/bmp;base64," + base64.b64encode(data).decode()}}


def content(js):
    return js["choices"][0]["message"]["content"]


def cached(js):
    return js["usage"]["prompt_tokens_details"]["cached_tokens"]


def encoding_off_the_worker():
    s = Server("--parallel", "2", threads=1)
    try:
        q = "Describe this image."
        stop = threading.Event()
        streams = []

        def streamer():  # keeps a slot decoding until the media request is answered
            while not stop.is_set():
                st, chunks, done, raw, _ = s.stream(ask_body("shapes1.png", q, max_tokens=200, ignore_eos=True), usage=True)
                n_gen = chunks[-1].get("usage", {}).get("completion_tokens") if chunks else None
                streams.append((st, done, n_gen))
        t = threading.Thread(target=streamer)
        t.start()
        while s.metrics()["mmgpt_decode_steps_total"] < 1:
            time.sleep(0.01)
        m0 = s.metrics()
        parts = [picture_part(bmp(144, 144, seed)) for seed in range(4)] + [{"type": "text", "text": q}]
        st, js = s.chat({"messages": [{"role": "user", "content": parts}], "max_tokens": 8})
        m1 = s.metrics()
        stop.set()
        t.join()
        check("a request with 4 new pictures is answered", st == 200 and js["usage"]["prompt_tokens"] > 4, js)
        check("its pictures were encoded (4 media cache misses)",
              m1["mmgpt_media_cache_misses_total"] - m0["mmgpt_media_cache_misses_total"] == 4, (m0, m1))
        steps = m1["mmgpt_decode_steps_while_encoding_total"] - m0["mmgpt_decode_steps_while_encoding_total"]
        print("    decode steps while the 4 pictures were encoded: %d (encode %.3f s)" %
              (steps, m1["mmgpt_media_encode_seconds_total"] - m0["mmgpt_media_encode_seconds_total"]))
        check("the other slot kept decoding while the pictures were encoded (steps while encoding > 0)", steps > 0,
              (m0, m1))
        check("the streams in progress completed (%d streams of 200 tokens)" % len(streams),
              len(streams) >= 1 and all(x == (200, True, 200) for x in streams), streams[:4])
        m = s.metrics()
        check("gauges back to 0", m["mmgpt_media_encoding"] == 0 and m["mmgpt_media_queue_length"] == 0 and
              m["mmgpt_queue_length"] == 0 and m["mmgpt_slots_busy"] == 0, m)
        # a bad picture fails in the encoder thread with a 400, the server goes on
        st, js = s.chat({"messages": [{"role": "user", "content": [picture_part(b"BM" + b"\0" * 60),
                                                                   {"type": "text", "text": "x"}]}]})
        check("an undecodable picture: 400 from the encoder thread", st == 400 and "error" in js, js)
        st, js = s.chat(ask_body("shapes2.png", q))
        check("answers after it", st == 200 and content(js) == cli_ask("shapes2.png", q), js)
    finally:
        stopped(s)


def memory_bound():
    """At most --parallel requests wait with encoded media: with the one slot busy (three long text requests
    queued ahead), of four requests with new pictures one is encoded and waits for the slot, three wait for
    the encoder; all are answered."""
    s = Server("--parallel", "1", "--queue", "16", threads=1)
    try:
        out, lock = [], threading.Lock()

        def req(body):
            r = s.chat(body)
            with lock:
                out.append(r[0])
        # under a sanitizer (10-20x slower) shorter: the three must fit in the clients' 120 s timeout
        long_body = {"messages": [{"role": "user", "content": "Describe this image."}], "ignore_eos": True,
                     "max_tokens": 40 if os.environ.get("MMGPT_SANITIZE_RUN") else 230}
        ts = [threading.Thread(target=req, args=(long_body,)) for _ in range(3)]
        for t in ts:
            t.start()
        while s.metrics()["mmgpt_slots_busy"] < 1:
            time.sleep(0.005)
        media = [{"messages": [{"role": "user", "content": [picture_part(bmp(144, 144, 100 + i)),
                                                            {"type": "text", "text": "What is it?"}]}],
                  "max_tokens": 4} for i in range(4)]
        ts2 = [threading.Thread(target=req, args=(b,)) for b in media]
        for t in ts2:
            t.start()
        seen_bound, most = False, 0
        while any(t.is_alive() for t in ts2):
            m = s.metrics()
            most = max(most, m["mmgpt_media_prepared"])
            seen_bound |= m["mmgpt_media_prepared"] == 1 and m["mmgpt_media_queue_length"] == 3
            time.sleep(0.005)
        for t in ts + ts2:
            t.join()
        check("at most --parallel (1) requests hold encoded media while waiting (most seen %d)" % most, most <= 1)
        check("the bound was reached: 1 prepared, 3 waiting for the encoder", seen_bound)
        check("all 7 requests answered", sorted(out) == [200] * 7, out)
    finally:
        stopped(s)


def fresh(body):
    """The answer of a new server (empty caches) and its usage."""
    s = Server("--parallel", "1", threads=1)
    try:
        return s.chat(body)
    finally:
        stopped(s)


def stopped(s):
    """SIGTERM, and the server must exit 0 (under ThreadSanitizer a race report makes it exit otherwise)."""
    rc = s.stop()
    check("server exit 0", rc == 0, s.log[-600:])


def turns(q1, a1, q2, name="shapes1.png", **kw):
    body = {"messages": [{"role": "user", "content": [media_part(name), {"type": "text", "text": q1}]},
                         {"role": "assistant", "content": a1},
                         {"role": "user", "content": q2}], "max_tokens": 24}
    body.update(kw)
    return body


def prefix_over_turns():
    q1, q2 = "Describe this image.", "What colors are there?"
    s = Server("--parallel", "1", threads=1)
    try:
        st, j1 = s.chat(dict(ask_body("shapes1.png", q1), max_tokens=24))
        a1 = content(j1)
        u1 = j1["usage"]
        body = turns(q1, a1, q2)
        st2, j2 = s.chat(body)
        want = u1["prompt_tokens"] + u1["completion_tokens"] - 1
        print("    turn 1: %d prompt + %d generated; [turn 1, answer, turn 2]: %d of %d positions cached" %
              (u1["prompt_tokens"], u1["completion_tokens"], cached(j2), j2["usage"]["prompt_tokens"]))
        check("turn 2 finds turn 1 and the generated answer in the cache (cached >= %d)" % want,
              st2 == 200 and want <= cached(j2) < j2["usage"]["prompt_tokens"], (u1, j2.get("usage")))
        stf, jf = fresh(body)
        check("turn 2's answer == a fresh server's", stf == 200 and content(jf) == content(j2) and cached(jf) == 0 and
              jf["usage"]["prompt_tokens"] == j2["usage"]["prompt_tokens"], (j2, jf))
        # streamed, the same request again: all but the last position, reported in the final chunk
        st, chunks, done, raw, _ = s.stream(body, usage=True)
        text = "".join(ch["delta"].get("content", "") for c in chunks for ch in c.get("choices", []))
        u = chunks[-1].get("usage", {}) if chunks else {}
        check("the same conversation again, streamed: cached = prompt - 1, same answer",
              st == 200 and done and text == content(j2) and
              u.get("prompt_tokens_details", {}).get("cached_tokens") == u.get("prompt_tokens", -1) - 1, raw[-400:])
        # turn 3 on top: turn 1, answer 1, turn 2, answer 2 all cached
        body3 = dict(body, messages=body["messages"] + [{"role": "assistant", "content": content(j2)},
                                                        {"role": "user", "content": "Is there a star?"}])
        st3, j3 = s.chat(body3)
        want3 = j2["usage"]["prompt_tokens"] + j2["usage"]["completion_tokens"] - 1
        check("turn 3 finds turns 1-2 and both answers (cached >= %d)" % want3,
              st3 == 200 and cached(j3) >= want3, j3.get("usage"))
        stf, jf = fresh(body3)
        check("turn 3's answer == a fresh server's", stf == 200 and content(jf) == content(j3), (j3, jf))
        # a changed earlier message misses from the change on
        for label, changed in (("the first question", turns("Describe the picture.", a1, q2)),
                               ("the answer", turns(q1, "A green triangle.", q2))):
            s.chat(body)  # the slot holds the original conversation again
            stc, jc = s.chat(changed)
            stf, jf = fresh(changed)
            check("changed %s: misses (cached %d < %d)" % (label, cached(jc), want),
                  stc == 200 and cached(jc) < want, jc.get("usage"))
            check("changed %s: answer == a fresh server's" % label, stf == 200 and content(jc) == content(jf),
                  (jc, jf))
    finally:
        stopped(s)

    # two conversations on two slots, interleaved: each turn 2 goes to the slot that holds its turn 1
    s = Server("--parallel", "2", threads=1)
    try:
        convs = [("shapes1.png", q1), ("beeps.wav", "Describe this sound.")]
        firsts = [s.chat(dict(ask_body(n, q), max_tokens=24))[1] for n, q in convs]
        for (n, q), j in zip(convs, firsts):
            st, j2 = s.chat(turns(q, content(j), q2, name=n))
            want = j["usage"]["prompt_tokens"] + j["usage"]["completion_tokens"] - 1
            check("2 slots: %s's turn 2 back in its slot (cached %d >= %d)" % (n, cached(j2), want),
                  st == 200 and cached(j2) >= want, j2.get("usage"))
    finally:
        stopped(s)


def options_from_the_table():
    """serve's options come from apps/options.def: the model group's -c / --chat-template reach the slots."""
    import subprocess
    from srvtest import BIN, MODEL
    r = subprocess.run([BIN, "serve", "-m", MODEL, "--chat-template", "nope"], capture_output=True, text=True,
                       timeout=60)
    check("serve --chat-template nope: exit 2 naming it", r.returncode == 2 and "--chat-template" in r.stderr,
          (r.returncode, r.stderr))
    r = subprocess.run([BIN, "serve", "--help"], capture_output=True, text=True, timeout=60)
    check("serve --help from the table", r.returncode == 0 and "--drain-timeout S" in r.stdout and
          "--ctx-size N" in r.stdout, r.stdout[:300])
    s = Server("-c", "64", "--chat-template", "mmgpt", threads=1)
    try:
        st, js = s.chat({"messages": [{"role": "user", "content": "word " * 70}]})
        msg = js.get("error", {}).get("message", "")
        check("-c 64 applies to the slots (400: over the context of 64)", st == 400 and "context of 64" in msg, js)
        st, js = s.chat({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4})
        check("-c 64: a short request is answered", st == 200, js)
    finally:
        stopped(s)


def main():
    need()
    options_from_the_table()
    encoding_off_the_worker()
    memory_bound()
    prefix_over_turns()
    finish()


if __name__ == "__main__":
    main()
