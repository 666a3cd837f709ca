"""srvtest.py - shared helpers of the `mmgpt serve` tests: start a server on a free port, HTTP requests,
OpenAI request bodies with the assets/examples media, and the reference answers of `mmgpt ask`."""
import base64
import http.client
import json
import os
import re
import select
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("MMGPT_SOURCE_DIR", os.path.join(HERE, "..", ".."))
BIN = os.environ.get("MMGPT_BIN")
MODEL = os.path.join(SRC, "assets", "models", "mmgpt-demo.gguf")
EX = os.path.join(SRC, "assets", "examples")
failures = []


def check(name, ok, detail=""):
    print("%s %s%s" % ("ok  " if ok else "FAIL", name, "" if ok else ": " + str(detail)[:600]))
    if not ok:
        failures.append(name)
    return ok


def need():
    if not BIN or not os.path.exists(BIN):
        print("MMGPT_BIN is not set or missing")
        sys.exit(1)
    if not os.path.exists(MODEL):
        print("the bundled model %s is missing" % MODEL)
        sys.exit(1)


def finish():
    if failures:
        print("%d checks failed: %s" % (len(failures), ", ".join(failures)))
        sys.exit(1)
    print("all checks passed")


class Server:
    """mmgpt serve on 127.0.0.1 and a free port (--port 0: the port is read from the 'listening on' line)."""

    def __init__(self, *args, threads=1, model=None):
        self.p = subprocess.Popen([BIN, "serve", "-m", model or MODEL, "--port", "0", "-t", str(threads)] + list(args),
                                  stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, bufsize=0)
        self.log = b""
        deadline = time.time() + 60
        self.port = None
        while time.time() < deadline and self.p.poll() is None:
            r, _, _ = select.select([self.p.stderr], [], [], 0.5)
            if r:
                line = self.p.stderr.readline()  # unbuffered: reads up to the newline, no further
                self.log += line
                m = re.match(rb"listening on http://([^:]+):(\d+)\n", line)
                if m:
                    self.port = int(m.group(2))
                    break
        if self.port is None:
            raise RuntimeError("server did not start: %s" % self.log.decode(errors="replace"))

    def conn(self, timeout=120):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=120):
        """(status, headers dict, body bytes)"""
        c = self.conn(timeout)
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        h = {"Content-Type": "application/json"} if body is not None else {}
        h.update(headers or {})
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, dict(r.getheaders()), data

    def chat(self, body, headers=None):
        """Non-streaming: (status, parsed JSON)."""
        st, _, data = self.request("POST", "/v1/chat/completions", body, headers)
        try:
            return st, json.loads(data)
        except ValueError:
            return st, {"raw": data.decode(errors="replace")}

    def stream(self, body, headers=None, usage=False):
        """Streaming: (status, list of parsed chunks, saw [DONE], raw text). usage: ask for the usage chunk
        (stream_options.include_usage: the last chunk, with "choices": [])."""
        body = dict(body, stream=True)
        if usage:
            body["stream_options"] = {"include_usage": True}
        st, hdr, data = self.request("POST", "/v1/chat/completions", body, headers)
        text = data.decode()
        chunks, done = [], False
        for ev in text.split("\n\n"):
            if not ev.strip():
                continue
            if not ev.startswith("data: "):
                chunks.append({"bad_event": ev})
                continue
            if ev[6:] == "[DONE]":
                done = True
                continue
            chunks.append(json.loads(ev[6:]))
        return st, chunks, done, text, hdr

    def metrics(self):
        return self.metrics_key(None)

    def metrics_key(self, headers):
        _, _, data = self.request("GET", "/metrics", headers=headers)
        out = {}
        for line in data.decode().splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
        return out

    def peak_rss_kb(self):
        with open("/proc/%d/status" % self.p.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return -1

    def stop(self, sig=15, timeout=60):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait()
        self.log += self.p.stderr.read()
        return rc


def b64(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def media_part(name):
    path = os.path.join(EX, name)
    ext = name.rsplit(".", 1)[1]
    if ext in ("png", "jpg"):
        mime = "image/png" if ext == "png" else "image/jpeg"
        return {"type": "image_url", "image_url": {"url": "data:%s;base64,%s" % (mime, b64(path))}}
    return {"type": "input_audio", "input_audio": {"data": b64(path), "format": ext}}


def ask_body(name, question, **kw):
    body = {"messages": [{"role": "user", "content": [media_part(name), {"type": "text", "text": question}]}]}
    body.update(kw)
    return body


_cli = {}


def cli_ask(name, question, *opts):
    """The answer of `mmgpt ask FILE QUESTION [opts]` (the reference)."""
    key = (name, question) + opts
    if key not in _cli:
        r = subprocess.run([BIN, "ask", "-q", "-t", "1", "-m", MODEL] + list(opts) +
                           [os.path.join(EX, name), question], capture_output=True, check=True)
        out = r.stdout.decode()
        _cli[key] = out[:-1] if out.endswith("\n") else out  # ask ends its answer with a newline
    return _cli[key]


IMAGES = ["shapes1.png", "shapes2.png", "shapes3.jpg", "shapes4.png"]
CLIPS = ["beeps.wav", "seven.flac", "sweep.ogg", "tone.wav"]


def question_for(name):
    return "Describe this image." if name in IMAGES else "Describe this sound."
