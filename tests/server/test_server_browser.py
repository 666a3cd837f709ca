"""srv_browser: the web page of `mmgpt serve` in a real browser (issue 20 item 5): headless Chromium driven
by selenium (Debian chromium, chromium-driver, python3-selenium; tools/setup.sh installs them).

Loads GET /, attaches assets/examples/shapes1.png with the picture input, types the question and sends it
with the Enter key: the streamed answer shown must equal `mmgpt ask` on the same file and question. A second
question in the same conversation must equal the server's answer to that conversation replayed through the
API (the page keeps the conversation). "New conversation", a clip (beeps.wav) with the sound input: equals
`mmgpt ask`. A recording from Chromium's fake microphone, encoded as WAV by the page, is accepted and
answered. An out-of-range temperature shows the server's error. A page of another origin calls the API
with the headers of OpenAI's SDK (CORS preflight). No console errors."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from srvtest import EX, Server, check, cli_ask, finish, media_part, need  # noqa: E402

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
except ImportError:
    print("python3-selenium is missing (tools/setup.sh installs it)")
    sys.exit(1)


def wait(cond, timeout=60, what=""):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise TimeoutError("timed out waiting for " + what)


def main():
    need()
    for exe in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        if not os.path.exists(exe):
            print("%s is missing (tools/setup.sh installs chromium and chromium-driver)" % exe)
            sys.exit(1)
    s = Server("--parallel", "2")
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--no-first-run",
              "--disable-extensions", "--disable-background-networking"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        base = "http://127.0.0.1:%d/" % s.port
        drv.get(base)
        check("page loads", drv.title == "mmgpt", drv.title)
        q = drv.find_element(By.ID, "question")
        check("the question box has the focus", drv.switch_to.active_element == q)

        def answers():
            return drv.find_elements(By.CSS_SELECTOR, "#log .assistant")

        def ask(question, n_before):
            q = drv.find_element(By.ID, "question")
            q.send_keys(question)
            q.send_keys(Keys.ENTER)          # Enter sends
            el = wait(lambda: len(answers()) > n_before and answers()[-1].get_attribute("data-done") == "1" and
                      answers()[-1], what="the answer")
            return el.find_element(By.CSS_SELECTOR, ".text").text

        # 1. a picture and a question
        drv.find_element(By.ID, "image").send_keys(os.path.join(EX, "shapes1.png"))
        wait(lambda: drv.find_elements(By.CSS_SELECTOR, "#preview img"), what="the picture preview")
        q1 = "Describe this image."
        a1 = ask(q1, 0)
        want = cli_ask("shapes1.png", q1)
        check("picture: the streamed answer == mmgpt ask", a1 == want, "%r != %r" % (a1, want))
        check("no error shown", drv.find_element(By.ID, "err").text == "")

        # 2. the conversation goes on: == the same conversation through the API
        q2 = "what color is it?"
        a2 = ask(q2, 1)
        st, js = s.chat({"messages": [
            {"role": "user", "content": [media_part("shapes1.png"), {"type": "text", "text": q1}]},
            {"role": "assistant", "content": a1},
            {"role": "user", "content": [{"type": "text", "text": q2}]}]})
        check("second question: the page keeps the conversation (== the API on the replayed conversation)",
              st == 200 and a2 == js["choices"][0]["message"]["content"], (a2, js))

        # 3. a new conversation with a clip
        drv.find_element(By.ID, "new").click()
        check("new conversation empties the log", len(answers()) == 0)
        drv.find_element(By.ID, "audio").send_keys(os.path.join(EX, "beeps.wav"))
        wait(lambda: "beeps.wav" in drv.find_element(By.ID, "preview").text, what="the clip preview")
        q3 = "Describe this sound."
        a3 = ask(q3, 0)
        want = cli_ask("beeps.wav", q3)
        check("clip: the streamed answer == mmgpt ask", a3 == want, "%r != %r" % (a3, want))

        # 4. a recording (Chromium's fake microphone), encoded as WAV by the page
        drv.find_element(By.ID, "new").click()
        rec = drv.find_element(By.ID, "record")
        rec.click()
        wait(lambda: rec.get_attribute("aria-pressed") == "true", what="recording to start")
        time.sleep(1.5)
        rec.click()
        wait(lambda: "recording.wav" in drv.find_element(By.ID, "preview").text, what="the recording")
        a4 = ask(q3, 0)
        err = drv.find_element(By.ID, "err").text
        check("a recording is encoded as WAV, accepted and answered", err == "" and len(answers()) == 1, (a4, err))

        # 5. errors are shown
        t = drv.find_element(By.ID, "temp")
        t.clear()
        t.send_keys("5")
        drv.find_element(By.ID, "question").send_keys("hello" + Keys.ENTER)
        wait(lambda: drv.find_element(By.ID, "err").text, what="the error")
        err = drv.find_element(By.ID, "err").text
        check("the server's error is shown (temperature 5)", "temperature" in err, err)

        # 6. a page of another origin calls the API as the OpenAI SDK does in a browser (Authorization and
        #    x-stainless-* headers: Chromium sends a CORS preflight first, OPTIONS, which must allow them)
        other = "http://localhost:%d" % s.port  # another host name: another origin than the page's
        got = drv.execute_async_script("""
            const done = arguments[arguments.length - 1];
            const h = {"Authorization": "Bearer none", "Content-Type": "application/json",
                       "x-stainless-lang": "js", "x-stainless-retry-count": "0"};
            (async () => {
              const m = await (await fetch(arguments[0] + "/v1/models", {headers: h})).json();
              const r = await fetch(arguments[0] + "/v1/chat/completions", {method: "POST", headers: h,
                body: JSON.stringify({model: m.data[0].id, messages: [{role: "user", content: arguments[1]}],
                                      max_completion_tokens: 4})});
              return [r.status, (await r.json()).choices[0].message.content];
            })().then(done, (e) => done(["failed", String(e)]));""", other, q3)
        st, js = s.chat({"messages": [{"role": "user", "content": q3}], "max_tokens": 4})
        check("another origin with the SDK's headers: preflight passes, the answer == the API's",
              got == [200, js["choices"][0]["message"]["content"]], (got, js))

        logs = drv.get_log("browser")
        severe = [l for l in logs if l.get("level") == "SEVERE"]
        # the 400 of step 5 is logged by Chromium as a failed resource load: that one is expected
        severe = [l for l in severe if "400 (Bad Request)" not in l.get("message", "")]
        check("no console errors", not severe, severe)
    finally:
        drv.quit()
        rc = s.stop()
    check("server exit 0", rc == 0, s.log[-300:])
    finish()


if __name__ == "__main__":
    main()
