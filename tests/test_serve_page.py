"""The page of ``zhseq serve`` at ``/`` (zhseq/serve/static/), in a real headless browser: Debian's chromium and
chromium-driver, driven by selenium, against the real server started in a subprocess with the shipped models.

Skipped, saying so, only when chromium or chromedriver is not installed (``apt-get install chromium
chromium-driver``).
"""

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

CHROMIUM = next(filter(None, map(shutil.which, ["chromium", "chromium-browser", "google-chrome"])), None)
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="the page test needs a headless browser: chromium and chromedriver not found on PATH "
           "(Debian: apt-get install chromium chromium-driver)")

WAIT_S = 15  # for an answer on a busy 2-core machine; a passing run waits far less


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(base, path, body):
    request = urllib.request.Request(base + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=WAIT_S) as response:
        return json.load(response)


def _refusal(base, path, body):
    """(status, the server's one-line message) of a request the server refuses."""
    with pytest.raises(urllib.error.HTTPError) as refused:
        _post(base, path, body)
    return refused.value.code, json.load(refused.value)["error"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``zhseq serve --port N`` in a subprocess (the shipped models); its base URL once it answers GET /."""
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "zhseq.cli", "serve", "--port", str(port)],
                                   stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"zhseq serve exited with {process.returncode}:\n{log.read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(base, timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"zhseq serve did not answer GET / within 60 s:\n{log.read_text(errors='replace')}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1000,900", "--disable-extensions", "--no-first-run"]:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # an explicit driver and browser: selenium's manager never looks anything up on the network
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture
def page(server, browser):
    """The page, freshly loaded, with its first answers (the next words of an empty text) shown."""
    browser.get(server)
    _wait_for(browser, "")
    browser.get_log("browser")  # start each test with an empty console
    return browser


def _wait_for(browser, text, panels=("sentiment", "next")):
    """Until both panels show their answers for ``text`` (the page sets data-text when an answer is shown)."""
    def shown(d):
        return all(d.find_element("id", p).get_attribute("data-text") == text
                   and d.find_element("id", p).get_attribute("data-state") in ("ready", "error") for p in panels)

    _until(browser, shown, f"no answers shown for {text!r}")


def _until(browser, condition, message):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, WAIT_S, poll_frequency=0.05).until(condition, message)


def _type(browser, text):
    box = browser.find_element("id", "text")
    box.send_keys(text)
    return box


def _words(browser):
    return [(w.text, float(w.get_attribute("data-weight")), w.get_attribute("class"),
             w.value_of_css_property("background-color"))
            for w in browser.find_elements("css selector", "#words .word")]


def _console_errors(browser):
    return [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def test_typing_shows_label_score_and_words_shaded_as_the_server_weighs_them(page, server):
    text = "这家餐厅的菜很好吃，就是等得太久了"
    _type(page, text)
    _wait_for(page, text)
    expected = _post(server, "v1/sentiment", {"texts": [text], "explain": True})["results"][0]

    assert page.find_element("id", "label").text == expected["label"] == "positive"
    assert page.find_element("id", "score").text == f"{expected['score']:.3f}"
    words = _words(page)
    assert [(t, w) for t, w, _, _ in words] == [(e["token"], e["weight"]) for e in expected["explanation"]]
    assert "".join(t for t, *_ in words) == text.replace("，", ",")  # the words as cut: NFKC's comma
    # green for the label, red against it, the alpha growing with |weight| (0.8 for the strongest word)
    alphas = {}
    for token, weight, cls, color in words:
        rgba = [float(x) for x in color[color.index("(") + 1:-1].split(",")]
        assert rgba[:3] == ([22, 163, 74] if weight > 0 else [220, 38, 38]), (token, weight, color)
        assert cls == "word " + ("for" if weight > 0 else "against")
        alphas[token] = (abs(weight), rgba[3])
    assert {"for", "against"} <= {cls.split()[1] for *_, cls, _ in words}
    ranked = sorted(alphas.values())
    assert [a for _, a in ranked] == sorted(a for _, a in ranked)
    assert ranked[-1][1] == pytest.approx(0.8, abs=0.01) and ranked[0][1] >= 0.12
    legend = page.find_element("id", "legend")
    assert legend.is_displayed() and "for positive" in legend.text and "against" in legend.text
    page.find_element("css selector", "#weights-box summary").click()
    rows = [r.text for r in page.find_elements("css selector", "#weights tbody tr")]
    strongest = max(expected["explanation"], key=lambda e: abs(e["weight"]))
    assert len(rows) == len(words) and rows[0].split()[0] == strongest["token"]
    assert not page.find_element("id", "error").is_displayed()
    # every field has a label, every suggestion a name saying what it does
    assert page.execute_script("return [...document.querySelectorAll('input, textarea')].map(e => e.labels.length)") \
        == [1, 1]
    assert all(b.get_attribute("aria-label").startswith("append “")
               for b in page.find_elements("css selector", "#suggestions button"))
    # nothing but the server's own files: the page works offline
    urls = page.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert urls and all(u.startswith(server) for u in urls), urls
    assert _console_errors(page) == []


def test_a_suggestion_appends_to_the_text_by_click_and_by_keyboard(page, server):
    from selenium.webdriver.common.keys import Keys

    box = _type(page, "今天天气")
    _wait_for(page, "今天天气")
    expected = _post(server, "v1/predict-next", {"texts": ["今天天气"], "k": 5})["results"][0]["predictions"]
    buttons = page.find_elements("css selector", "#suggestions button")
    assert [b.get_attribute("data-token") for b in buttons] == [p["token"] for p in expected]
    assert len(buttons) == 5

    token = buttons[0].get_attribute("data-token")
    buttons[0].click()
    assert box.get_property("value") == "今天天气" + token
    assert page.switch_to.active_element == box  # back to typing
    _wait_for(page, "今天天气" + token)
    assert page.find_element("id", "label").text in ("positive", "negative")

    grown = box.get_property("value")
    box.send_keys(Keys.TAB)  # the suggestions come right after the text box
    first = page.switch_to.active_element
    assert first.get_attribute("class") == "suggestion"
    first.send_keys(Keys.TAB)
    second = page.switch_to.active_element
    token = second.get_attribute("data-token")
    assert token == page.find_elements("css selector", "#suggestions button")[1].get_attribute("data-token")
    second.send_keys(Keys.ENTER)
    assert box.get_property("value") == grown + token
    _wait_for(page, grown + token)
    assert _console_errors(page) == []


def test_half_composed_pinyin_is_never_sent(page):
    """What an IME does in Chrome: compositionstart, input events with isComposing and the pinyin in the box,
    then the characters and compositionend. Nothing is asked until the composition ends."""
    page.execute_script("""
        window.__asked = [];
        const fetch0 = window.fetch;
        window.fetch = (url, init) => { window.__asked.push(JSON.parse(init.body).texts[0]); return fetch0(url, init); };
        const box = document.getElementById('text');
        box.focus();
        box.dispatchEvent(new CompositionEvent('compositionstart', {data: ''}));
        for (const s of ['z', 'zh', 'zhe']) {
          box.value = s;
          box.dispatchEvent(new InputEvent('input', {isComposing: true, inputType: 'insertCompositionText', data: s}));
        }""")
    time.sleep(0.8)  # three times the page's debounce: time enough for a wrong request to have gone out
    assert page.execute_script("return window.__asked") == []
    page.execute_script("""
        const box = document.getElementById('text');
        box.value = '这';
        box.dispatchEvent(new InputEvent('input', {isComposing: true, inputType: 'insertCompositionText', data: '这'}));
        box.dispatchEvent(new CompositionEvent('compositionend', {data: '这'}));""")
    _wait_for(page, "这")
    assert page.execute_script("return window.__asked") == ["这", "这"]  # sentiment and next words, once


def test_no_label_and_the_servers_errors_are_shown(page, server):
    from selenium.webdriver.common.keys import Keys

    box = _type(page, "   ")
    _wait_for(page, "   ")
    assert page.find_element("id", "label").text == "—"
    assert page.find_element("id", "score").text == ""
    assert page.find_elements("css selector", "#words .word") == []
    assert not page.find_element("id", "legend").is_displayed()
    assert "no label" in page.find_element("id", "note").text

    box.send_keys(Keys.CONTROL, "a", Keys.NULL, Keys.BACKSPACE)
    _type(page, "还可以吧，凑合用")
    band = page.find_element("id", "band")
    band.send_keys(Keys.CONTROL, "a", Keys.NULL, "0.5")  # outside [0, 0.5): the server refuses it
    error = page.find_element("id", "error")
    _until(page, lambda d: error.is_displayed(), "no error shown for a neutral band of 0.5")
    assert error.get_attribute("role") == "alert"
    refused = _refusal(server, "v1/sentiment", {"texts": ["还可以吧，凑合用"], "neutral_band": 0.5})
    assert refused == (422, "neutral_band must be a number in [0, 0.5), not 0.5")
    assert error.text == f"Error: sentiment: {refused[1]}"  # the server's own words
    assert page.find_element("id", "label").text == "—"
    assert page.find_element("id", "sentiment").get_attribute("data-state") == "error"
    assert len(page.find_elements("css selector", "#suggestions button")) == 5  # the next words still came

    band.send_keys(Keys.CONTROL, "a", Keys.NULL, "0.2")
    _until(page, lambda d: d.find_element("id", "label").text == "neutral", "no neutral label with a band of 0.2")
    assert not error.is_displayed()
    assert "the side it leans to" in page.find_element("id", "legend").text
