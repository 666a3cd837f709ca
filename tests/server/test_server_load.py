"""srv_load: a few hundred requests with media against `mmgpt serve` (issue 20 item 4/6).

N requests (default 300; argv[1]) from C clients at once (default 8; argv[2]) on a server with 4 slots and a
queue of 64: every picture and clip of assets/examples, half streamed. Each answer must equal `mmgpt ask`
on the same file and question (temperature 0); a request is lost when it gets no complete answer, answered
twice when its id is seen twice. Reports requests, errors, lost, duplicates, peak RSS of the server
(VmHWM) and its RSS after the first and the last 10% (memory must not grow with the request count)."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from srvtest import CLIPS, IMAGES, Server, ask_body, check, cli_ask, finish, need, question_for  # noqa: E402


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def main():
    need()
    # the sanitizer build is ~10x slower: fewer requests there (tools/test.sh --sanitize sets MMGPT_SANITIZE_RUN)
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 60 if os.environ.get("MMGPT_SANITIZE_RUN") else 300
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    files = IMAGES + CLIPS
    want = {f: cli_ask(f, question_for(f)) for f in files}
    s = Server("--parallel", "4", "--queue", "64")
    lock = threading.Lock()
    nxt = [0]
    res = {}
    ids = []
    rss = {}

    def client():
        while True:
            with lock:
                i = nxt[0]
                if i >= n:
                    return
                nxt[0] += 1
            f = files[i % len(files)]
            body = ask_body(f, question_for(f))
            try:
                if i % 2:
                    st, chunks, done, raw, _ = s.stream(body)
                    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if "choices" in c)
                    ok = st == 200 and done
                    rid = chunks[0].get("id") if chunks else None
                else:
                    st, js = s.chat(body)
                    ok = st == 200
                    text = js["choices"][0]["message"]["content"] if ok else js
                    rid = js.get("id")
            except Exception as e:  # a lost request
                st, ok, text, rid = -1, False, repr(e), None
            with lock:
                res[i] = (st, ok, text == want[f], text)
                ids.append(rid)
                done_n = len(res)
                if done_n == n // 10:
                    rss["first"] = rss_kb(s.p.pid)
                if done_n == n - n // 10:
                    rss["last"] = rss_kb(s.p.pid)
    t0 = time.time()
    ts = [threading.Thread(target=client) for _ in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.time() - t0
    m = s.metrics()
    peak = s.peak_rss_kb()
    rc = s.stop()
    errors = sum(1 for v in res.values() if v[0] != 200)
    lost = n - sum(1 for v in res.values() if v[1])
    wrong = [(i, v[3]) for i, v in res.items() if v[1] and not v[2]]
    dup = len(ids) - len(set(x for x in ids if x)) - sum(1 for x in ids if not x)
    print("load: %d requests with media, %d clients, 4 slots: %.1f s (%.1f req/s), errors %d, lost %d, "
          "answered twice %d, wrong answers %d, peak RSS %.1f MiB, RSS after 10%% %.1f MiB, after 90%% %.1f MiB, "
          "tokens generated %d" % (n, clients, wall, n / wall, errors, lost, dup, len(wrong), peak / 1024,
                                   rss.get("first", -1) / 1024, rss.get("last", -1) / 1024,
                                   m["mmgpt_tokens_generated_total"]))
    check("no errors", errors == 0, [(i, v) for i, v in res.items() if v[0] != 200][:5])
    check("no request lost", lost == 0 and len(res) == n)
    check("no request answered twice", dup == 0 and len(ids) == n)
    check("every answer == mmgpt ask", not wrong, wrong[:5])
    check("the server counted them all", m['mmgpt_requests_total{code="200"}'] == n and
          m["mmgpt_completions_total"] == n, m)
    check("memory does not grow with the request count (RSS at 90% <= RSS at 10% + 32 MiB)",
          rss.get("last", 1e12) <= rss.get("first", 0) + 32 * 1024, rss)
    check("exit 0 on SIGTERM", rc == 0, s.log[-300:])
    finish()


if __name__ == "__main__":
    main()
