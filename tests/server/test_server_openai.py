"""srv_openai: `mmgpt serve` as OpenAI's own SDK sees it (issue 20, branch oai).

The request bodies below are the ones the official Node SDK (npm openai 6.49.0) sent, logged from its fetch
(the media data replaced by this repository's examples); the checks are what the SDK's types declare
(resources/chat/completions/completions.d.ts) and what its error classes are chosen by:
- chat.completion: id, object, created, model, choices[0] {index, message {role, content, refusal (required,
  null)}, logprobs (required, null), finish_reason}, usage {prompt_tokens, completion_tokens, total_tokens};
- streaming: without stream_options.include_usage only the finish_reason chunk has usage (the counts of the
  non-streamed answer; the SDK's types allow usage on any chunk, and clients that never ask still get it); with it every
  chunk has "usage": null but the last, which has "choices": [] and the usage (the non-streamed one);
  streamed text == non-streamed text == `mmgpt ask`;
- GET /v1/models/ID (models.retrieve): the model, or 404 with param "model" and code "model_not_found";
- error objects {message, type, param, code} with code a string or null (the SDK types code as
  string | null): "invalid_api_key" for 401;
- values of unsupported fields that ask for nothing are accepted (tools [], tool_choice "none",
  response_format {"type": "text"}, modalities ["text"], logit_bias {}), nulls mean "not given", n 1 is
  fine, n 2 is a 400 naming n (BadRequestError), a remote image URL a 400 that says why;
- the API routes without "/v1" (a base URL without it), a browser's CORS preflight (OPTIONS) answered.
No Node or npm here: the SDK's behaviour is reproduced with plain HTTP."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from srvtest import Server, b64, check, cli_ask, finish, need, EX  # noqa: E402

Q, QA = "Describe this image.", "Describe this sound."


def img(name):  # the SDK user's image part: a data URL and detail "auto"
    mime = "image/jpeg" if name.endswith(".jpg") else "image/png"
    return {"type": "image_url", "image_url": {"url": "data:%s;base64,%s" % (mime, b64(os.path.join(EX, name))),
                                               "detail": "auto"}}


def wav(name):
    return {"type": "input_audio", "input_audio": {"data": b64(os.path.join(EX, name)), "format": "wav"}}


def user(media, q):
    return {"role": "user", "content": [media, {"type": "text", "text": q}]}


def is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def usage_ok(u):
    return (isinstance(u, dict) and is_int(u.get("prompt_tokens")) and is_int(u.get("completion_tokens")) and
            is_int(u.get("total_tokens")) and u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"])


def completion_problems(c):
    """The fields ChatCompletion declares required that are missing or of the wrong type."""
    bad = []
    for k, t in (("id", str), ("model", str), ("system_fingerprint", str)):
        if not isinstance(c.get(k), t):
            bad.append(k)
    if c.get("object") != "chat.completion":
        bad.append("object")
    if not is_int(c.get("created")):
        bad.append("created")
    ch = c.get("choices")
    if not isinstance(ch, list) or len(ch) != 1:
        return bad + ["choices"]
    ch = ch[0]
    if ch.get("index") != 0:
        bad.append("index")
    if ch.get("finish_reason") not in ("stop", "length"):
        bad.append("finish_reason")
    if "logprobs" not in ch or ch["logprobs"] is not None:
        bad.append("logprobs")
    m = ch.get("message", {})
    if m.get("role") != "assistant" or not isinstance(m.get("content"), str):
        bad.append("message")
    if "refusal" not in m or m["refusal"] is not None:
        bad.append("message.refusal")
    if not usage_ok(c.get("usage")):
        bad.append("usage")
    return bad


def chunk_problems(c):
    bad = []
    if not isinstance(c.get("id"), str) or c.get("object") != "chat.completion.chunk" or not is_int(c.get("created")) \
            or not isinstance(c.get("model"), str) or not isinstance(c.get("choices"), list):
        bad.append("base")
    for ch in c.get("choices", []):
        if not is_int(ch.get("index")) or not isinstance(ch.get("delta"), dict) or "finish_reason" not in ch:
            bad.append("choice")
    return bad


def text_of(chunks):
    return "".join(ch["delta"].get("content") or "" for c in chunks for ch in c.get("choices", []))


def err_shape(st, js, status, param=None, code=None):
    e = js.get("error", {}) if isinstance(js, dict) else {}
    return (st == status and isinstance(e.get("message"), str) and e["message"] and isinstance(e.get("type"), str)
            and "param" in e and e["param"] == param and "code" in e and e["code"] == code)


def main():
    need()
    s = Server("--parallel", "4")
    try:
        # ---- models.list, models.retrieve
        st, _, body = s.request("GET", "/v1/models")
        ml = json.loads(body)
        m0 = ml["data"][0]
        check("models.list: object list, a model with id/object/created/owned_by",
              st == 200 and ml["object"] == "list" and isinstance(m0["id"], str) and m0["object"] == "model" and
              is_int(m0["created"]) and isinstance(m0["owned_by"], str), ml)
        st, _, body = s.request("GET", "/v1/models/" + m0["id"])
        check("models.retrieve(id): GET /v1/models/ID is the model", st == 200 and json.loads(body) == m0, (st, body))
        st, _, body = s.request("GET", "/v1/models/no-such-model")
        js = json.loads(body)
        check("models.retrieve(unknown): 404 param model, code model_not_found (NotFoundError)",
              err_shape(st, js, 404, "model", "model_not_found") and "no-such-model" in js["error"]["message"], js)

        # ---- the SDK's first request: an image part with detail auto, temperature 0
        want = cli_ask("shapes1.png", Q)
        req = {"model": m0["id"], "messages": [user(img("shapes1.png"), Q)], "temperature": 0}
        st, c = s.chat(req)
        check("image part (detail auto) == mmgpt ask", st == 200 and c["choices"][0]["message"]["content"] == want,
              (c, want))
        check("chat.completion: every required field, typed (message.refusal null, logprobs null)",
              st == 200 and not completion_problems(c), completion_problems(c) if st == 200 else c)

        # ---- streaming without and with stream_options.include_usage
        st, chunks, done, raw, _ = s.stream(req)
        check("stream: text == non-streamed, [DONE]", st == 200 and done and text_of(chunks) == want, raw[-300:])
        check("stream: chunk fields", all(not chunk_problems(ch) for ch in chunks), [chunk_problems(ch) for ch in chunks])
        check("stream without include_usage: only the finish_reason chunk has usage, the non-streamed counts",
              all("usage" not in ch for ch in chunks[:-1]) and usage_ok(chunks[-1].get("usage")) and
              chunks[-1]["usage"]["completion_tokens"] == c["usage"]["completion_tokens"] and
              chunks[-1]["usage"]["prompt_tokens"] == c["usage"]["prompt_tokens"], raw[-300:])
        check("stream without include_usage: the last chunk has finish_reason stop",
              chunks[-1]["choices"][0]["finish_reason"] == "stop", chunks[-1])
        st, chunks, done, raw, _ = s.stream(req, usage=True)
        last, fin = chunks[-1], chunks[-2]
        check("include_usage: text == non-streamed, [DONE]", st == 200 and done and text_of(chunks) == want, raw[-300:])
        check("include_usage: the last chunk has choices [] and the usage of the non-streamed answer",
              last.get("choices") == [] and usage_ok(last.get("usage")) and
              last["usage"]["completion_tokens"] == c["usage"]["completion_tokens"] and
              last["usage"]["prompt_tokens"] == c["usage"]["prompt_tokens"] and not chunk_problems(last), last)
        check("include_usage: the chunk before has finish_reason stop and usage null",
              fin["choices"][0]["finish_reason"] == "stop" and "usage" in fin and fin["usage"] is None, fin)
        check("include_usage: every other chunk has usage null",
              all("usage" in ch and ch["usage"] is None for ch in chunks[:-1]), raw[:400])

        # ---- what today's SDK users send (the bodies as logged): nulls mean "not given", n 1, user, logprobs false
        nulls = dict(req, temperature=None, n=1, user="user-1234", logprobs=False, seed=42, stop=None, top_p=None,
                     max_tokens=None, max_completion_tokens=None, frequency_penalty=None, presence_penalty=None,
                     stream_options=None, tools=None, tool_choice=None, response_format=None, logit_bias=None,
                     top_logprobs=None, store=False, metadata={"a": "b"}, parallel_tool_calls=None,
                     service_tier="auto", modalities=None, prediction=None, audio=None)
        st, js = s.chat(nulls)
        check("nulls for optional fields, n 1, user, logprobs false, seed: answer == ask",
              st == 200 and js["choices"][0]["message"]["content"] == want, js)
        for k, v in (("response_format", {"type": "text"}), ("tools", []), ("modalities", ["text"]),
                     ("logit_bias", {}), ("tool_choice", "none")):
            st, js = s.chat(dict(req, **{k: v}))
            check("no-op value %s: %s accepted, answer == ask" % (k, json.dumps(v)),
                  st == 200 and js["choices"][0]["message"]["content"] == want, js)
        want5 = cli_ask("shapes1.png", Q, "-n", "5")
        for k in ("max_completion_tokens", "max_tokens"):
            st, js = s.chat(dict(req, **{k: 5}))
            check("%s 5 == ask -n 5, finish_reason length" % k, st == 200 and
                  js["choices"][0]["message"]["content"] == want5 and js["choices"][0]["finish_reason"] == "length"
                  and js["usage"]["completion_tokens"] == 5, js)

        # system prompt as a string, as text parts, as the developer role; assistant content as text parts
        want_sys = cli_ask("shapes3.jpg", Q, "--system", "Be brief.")
        for label, sysmsg in (("string", {"role": "system", "content": "Be brief."}),
                              ("text parts", {"role": "system", "content": [{"type": "text", "text": "Be brief."}]}),
                              ("developer", {"role": "developer", "content": "Be brief."})):
            st, js = s.chat({"model": "x", "messages": [sysmsg, user(img("shapes3.jpg"), Q)]})
            check("system message (%s) == ask --system" % label,
                  st == 200 and js["choices"][0]["message"]["content"] == want_sys, (js, want_sys))
        turn = {"model": "x", "messages": [user(img("shapes1.png"), Q), {"role": "assistant", "content": want},
                                           {"role": "user", "content": Q}]}
        st1, a = s.chat(turn)
        turn["messages"][1]["content"] = [{"type": "text", "text": want}]
        st2, b = s.chat(turn)
        check("assistant content as text parts == as a string", st1 == st2 == 200 and
              a["choices"][0]["message"]["content"] == b["choices"][0]["message"]["content"], (a, b))
        want_a = cli_ask("beeps.wav", QA)
        st, js = s.chat({"model": "x", "messages": [user(wav("beeps.wav"), QA)]})
        check("input_audio part == mmgpt ask", st == 200 and js["choices"][0]["message"]["content"] == want_a, js)

        # ---- errors: BadRequestError (400) naming the field, code null; NotFoundError for a missing route
        for label, body, param in (("n 2", dict(req, n=2), "n"), ("logprobs true", dict(req, logprobs=True), "logprobs"),
                                   ("tools", dict(req, tools=[{"type": "function", "function": {"name": "f",
                                                                                               "parameters": {}}}]),
                                    "tools"),
                                   ("response_format json_object", dict(req, response_format={"type": "json_object"}),
                                    "response_format")):
            st, js = s.chat(body)
            check("%s: 400 naming %s, code null" % (label, param), err_shape(st, js, 400, param, None), js)
        st, js = s.chat({"model": "x", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}, {"type": "text", "text": Q}]}]})
        check("remote image URL: 400 that says why", err_shape(st, js, 400, "messages[0].content[0]", None) and
              "data: URL" in js["error"]["message"] and "network" in js["error"]["message"], js)
        st, _, body = s.request("POST", "/v1/completions", {"model": "x", "prompt": "hi"})
        check("legacy /v1/completions: 404 (NotFoundError), code null", err_shape(st, json.loads(body), 404), body)

        # ---- a base URL without /v1 (the SDK then asks /chat/completions, /models): llama-server's aliases
        st, _, body = s.request("POST", "/chat/completions", req)
        check("POST /chat/completions == /v1/chat/completions", st == 200 and
              json.loads(body)["choices"][0]["message"]["content"] == want, body[:300])
        st, _, body = s.request("GET", "/models")
        check("GET /models == /v1/models", st == 200 and json.loads(body) == ml, body)
        st, _, body = s.request("GET", "/models/" + m0["id"])
        check("GET /models/ID == /v1/models/ID", st == 200 and json.loads(body) == m0, body)
        st, _, body = s.request("GET", "/v1/health")
        check("only the API routes have aliases: GET /v1/health is 404", st == 404, body)

        # ---- a browser's CORS preflight before the SDK's request (Authorization and x-stainless-* headers)
        asked = "authorization,content-type,x-stainless-arch,x-stainless-lang,x-stainless-os,x-stainless-retry-count"
        st, hdr, body = s.request("OPTIONS", "/v1/chat/completions", headers={
            "Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": asked})
        check("OPTIONS preflight: 2xx, any origin, POST allowed, the asked headers allowed",
              200 <= st < 300 and hdr.get("Access-Control-Allow-Origin") == "*" and
              "POST" in hdr.get("Access-Control-Allow-Methods", "") and
              hdr.get("Access-Control-Allow-Headers", "").lower() == asked, (st, hdr))
    finally:
        s.stop()

    s = Server("--api-key", "sekrit", "--parallel", "1")
    try:
        for path in ("/v1/chat/completions", "/v1/models", "/v1/models/mmgpt-demo.gguf"):
            st, _, body = s.request("POST" if "chat" in path else "GET", path,
                                    {"messages": [{"role": "user", "content": "hi"}]} if "chat" in path else None,
                                    {"Authorization": "Bearer wrong"})
            check("wrong key on %s: 401 (AuthenticationError), code invalid_api_key" % path,
                  err_shape(st, json.loads(body), 401, None, "invalid_api_key"), body)
        st, _, body = s.request("GET", "/v1/models/mmgpt-demo.gguf", headers={"Authorization": "Bearer sekrit"})
        check("models.retrieve with the key", st == 200 and json.loads(body)["id"] == "mmgpt-demo.gguf", body)
    finally:
        s.stop()
    finish()


if __name__ == "__main__":
    main()
