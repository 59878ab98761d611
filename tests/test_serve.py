"""``zhseq serve``: the HTTP API (zhseq/serve/) with the shipped models.

In-process through FastAPI's TestClient (and httpx's ASGI transport where requests must be concurrent in one
event loop); the real server as a subprocess for SIGTERM, --workers and the one-line errors of the command.
"""

import asyncio
import contextlib
import json
import multiprocessing
import multiprocessing.context
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from cli_helpers import TRAIN_ONLY, command_without, invoke, ok, one_error_line

SERVE_EXTRA = ("fastapi", "uvicorn", "starlette", "fastapi_offline")
TEXTS = ["这家餐厅的菜很好吃", "等了一个小时，太失望了", "", "   ", "味道一般，价格还可以", "👍👍", "房间干净，服务周到，下次还会再来",
         "hello world", "a\tb\nc"]
PREFIXES = ["今天天气", "我们明天", "", "中国人民", "1"]


# -- in-process --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def models():
    pytest.importorskip("fastapi")
    from zhseq.serve.app import Models
    from zhseq.serve.config import ServeConfig

    return Models.load(ServeConfig())


def make_app(models, **settings):
    from zhseq.serve.app import create_app
    from zhseq.serve.config import ServeConfig

    return create_app(ServeConfig(**settings), models=models)


@pytest.fixture(scope="module")
def client(models):
    from fastapi.testclient import TestClient

    with TestClient(make_app(models)) as c:
        yield c


def jsonl(result):
    return [json.loads(line) for line in result.stdout.splitlines()]


def results(response):
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()["results"]


def test_sentiment_equals_the_cli_jsonl(client):
    assert results(client.post("/v1/sentiment", json={"texts": TEXTS})) == jsonl(
        ok("sentiment", "--format", "jsonl", *TEXTS))
    assert results(client.post("/v1/sentiment", json={"texts": TEXTS, "neutral_band": 0.2})) == jsonl(
        ok("sentiment", "--format", "jsonl", "--neutral-band", "0.2", *TEXTS))
    one = results(client.post("/v1/sentiment", json={"texts": ["这家餐厅的菜很好吃"]}))
    assert one == [{"text": "这家餐厅的菜很好吃", "label": "positive", "score": one[0]["score"]}]
    assert results(client.post("/v1/sentiment", json={"texts": []})) == []


def test_predict_next_equals_the_cli_jsonl(client):
    assert results(client.post("/v1/predict-next", json={"texts": PREFIXES, "k": 3})) == jsonl(
        ok("predict-next", "--format", "jsonl", "-k", "3", *PREFIXES))
    assert results(client.post("/v1/predict-next", json={"texts": PREFIXES, "words_only": True})) == jsonl(
        ok("predict-next", "--format", "jsonl", "--words-only", *PREFIXES))


def test_segment_equals_the_cli_jsonl(client):
    assert results(client.post("/v1/segment", json={"texts": TEXTS})) == jsonl(ok("segment", "--format", "jsonl",
                                                                                  *TEXTS))


def test_models_is_what_info_shows(client):
    response = client.get("/v1/models")
    assert response.status_code == 200
    assert response.json() == json.loads(ok("info", "--format", "json").stdout)
    assert response.json()["sentiment"]["task"] == "sentiment" and response.json()["lm"]["task"] == "lm"


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "queued_texts": {"sentiment": 0, "predict-next": 0, "segment": 0}}


def test_explain_equals_the_cli_jsonl(client, models):
    response = client.post("/v1/sentiment", json={"texts": TEXTS[:3], "explain": True})
    expected = jsonl(ok("sentiment", "--format", "jsonl", "--explain", *TEXTS[:3]))
    assert results(response) == expected
    assert [w["token"] for w in expected[0]["explanation"]] == models.sentiment.tokenizer.cut(TEXTS[0])
    assert expected[2]["explanation"] == []
    assert all("explanation" not in r for r in results(client.post("/v1/sentiment", json={"texts": TEXTS[:1]})))


def test_docs(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger-ui-bundle.js" in page.text
    try:
        import fastapi_offline  # noqa: F401 — the serve extra: the Swagger UI's files come from this package
    except ModuleNotFoundError:
        pass
    else:
        assert "cdn." not in page.text and "/static-offline-docs/swagger-ui-bundle.js" in page.text
        assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200
        assert "cdn." not in client.get("/redoc").text
    spec = client.get("/openapi.json").json()
    assert {"/v1/sentiment", "/v1/predict-next", "/v1/segment", "/v1/models", "/healthz"} <= set(spec["paths"])
    body = spec["paths"]["/v1/sentiment"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) == {"texts", "neutral_band", "explain"} and body["required"] == ["texts"]
    assert {"200", "413", "422", "503"} <= set(spec["paths"]["/v1/predict-next"]["post"]["responses"])


def test_the_page_is_served_at_the_root(client):
    from zhseq.serve.app import STATIC_DIR

    if not (STATIC_DIR / "index.html").is_file():
        pytest.skip("no zhseq/serve/static/index.html in this checkout")
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.text == (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    for path in STATIC_DIR.iterdir():
        if path.is_file():
            assert client.get("/" + path.name).content == path.read_bytes()


MAX = dict(max_texts=50, max_chars=200, max_body_bytes=200_000, max_k=10, max_explain_texts=2)
TOO_LARGE = "x" * 300_000


@pytest.mark.parametrize("path, body, status, words", [
    ("/v1/sentiment", b"not json", 400, "not JSON"),
    ("/v1/sentiment", b"", 400, "not JSON"),
    ("/v1/sentiment", b'{"texts": ["\xe5\xa5\xff"]}', 400, "not UTF-8"),
    ("/v1/sentiment", b'{"texts": ["\\ud800"]}', 400, "not JSON"),  # a lone surrogate
    ("/v1/sentiment", b'{"texts": ["a\x00b"]}', 400, "not JSON"),  # a raw NUL in a string
    ("/v1/sentiment", b'\x00', 400, "not JSON"),
    ("/v1/sentiment", b'{"texts": ["a\\u0000b"]}', 422, "texts[0] holds a NUL"),
    ("/v1/sentiment", b'{"texts": "abc"}', 422, "texts: input should be a valid array"),
    ("/v1/sentiment", b'{"texts": ["ok", 1]}', 422, "texts[1]: input should be a valid string"),
    ("/v1/sentiment", b'{"texts": [null]}', 422, "texts[0]"),
    ("/v1/sentiment", b'["a"]', 422, "object"),
    ("/v1/sentiment", b'{}', 422, "texts is missing"),
    ("/v1/sentiment", b'{"text": ["a"]}', 422, "unknown field 'text'"),
    ("/v1/sentiment", b'{"texts": ["a"], "neutral_band": "0.1"}', 422, "neutral_band"),
    ("/v1/sentiment", b'{"texts": ["a"], "neutral_band": 0.7}', 422, "neutral_band must be a number in [0, 0.5)"),
    ("/v1/sentiment", b'{"texts": ["a"], "explain": "yes"}', 422, "explain"),
    ("/v1/predict-next", b'{"texts": ["a"], "k": 2.5}', 422, "k: input should be a valid integer"),
    ("/v1/predict-next", b'{"texts": ["a"], "k": 0}', 422, "k must be a whole number"),
    ("/v1/predict-next", b'{"texts": ["a"], "k": 11}', 422, "k must be at most 10"),
    ("/v1/segment", b'{"texts": ["a"], "k": 3}', 422, "unknown field 'k'"),
    ("/v1/sentiment", json.dumps({"texts": ["好"] * 10_000}).encode(), 413, "10,000 texts"),
    ("/v1/predict-next", json.dumps({"texts": ["好"] * 51}).encode(), 413, "at most 50"),
    ("/v1/segment", json.dumps({"texts": ["好" * 201]}).encode(), 413, "texts[0] has 201 characters"),
    ("/v1/sentiment", json.dumps({"texts": ["好"] * 3, "explain": True}).encode(), 413, "explain"),
    ("/v1/sentiment", b'{"texts": ["' + b"x" * 12_000_000 + b'"]}', 413, "12,000,0"),
    ("/v1/segment", b'{"texts": ["' + TOO_LARGE.encode() + b'"]}', 413, "at most 200,000"),
], ids=lambda v: v[:40].decode("utf-8", "replace") if isinstance(v, bytes) else None)
def test_a_bad_request_is_a_4xx_with_one_json_line_and_the_server_goes_on(models, path, body, status, words):
    from fastapi.testclient import TestClient

    with TestClient(make_app(models, **MAX)) as c:
        response = c.post(path, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert isinstance(error, str) and "\n" not in error and words in error, error
        assert results(c.post(path, json={"texts": ["这家餐厅的菜很好吃"]}))


def test_the_defaults_stay_within_the_servers_limits(models):
    """With --max-k 3, a request without k (the web page sends none) got 422 for the default 5; null is the
    default for every option (it was for neutral_band and k, a 422 for explain and words_only)."""
    from fastapi.testclient import TestClient

    with TestClient(make_app(models, **dict(MAX, max_k=3))) as c:
        answer = results(c.post("/v1/predict-next", json={"texts": ["今天天气"]}))
        assert len(answer[0]["predictions"]) == 3
        assert results(c.post("/v1/predict-next", json={"texts": ["今天天气"], "k": None})) == answer
        assert c.post("/v1/predict-next", json={"texts": ["今天天气"], "k": 4}).status_code == 422
        plain = results(c.post("/v1/sentiment", json={"texts": TEXTS}))
        assert results(c.post("/v1/sentiment", json={"texts": TEXTS, "neutral_band": None})) == plain
        assert results(c.post("/v1/sentiment", json={"texts": TEXTS, "explain": None})) == plain
        assert results(c.post("/v1/predict-next", json={"texts": ["今天天气"], "words_only": None})) == answer
    with TestClient(make_app(models, **MAX)) as c:  # max_k 10: the default 5
        assert len(results(c.post("/v1/predict-next", json={"texts": ["今天天气"]}))[0]["predictions"]) == 5


def test_a_body_without_content_length_is_bounded_while_read(models):
    from fastapi.testclient import TestClient

    def chunks():  # sent chunked: the limit is found while reading
        yield b'{"texts": ["'
        for _ in range(300):
            yield b"x" * 1000
        yield b'"]}'

    with TestClient(make_app(models, **MAX)) as c:
        response = c.post("/v1/segment", content=chunks())
        assert response.status_code == 413 and "more than 200,000 bytes" in response.json()["error"]


def test_unknown_paths_and_methods_answer_json(client):
    for response, status in [(client.get("/v2/nothing"), 404), (client.get("/v1/sentiment"), 405),
                             (client.put("/healthz"), 405), (client.post("/", json={}), 405)]:
        assert response.status_code == status
        assert isinstance(response.json()["error"], str)


def test_a_mistyped_path_is_a_404_that_lists_the_endpoints(client):
    """`POST /v1/predict_next` (an underscore) answered 405 "Method Not Allowed", as the page's files do."""
    for method, path in (("post", "/v1/predict_next"), ("post", "/v1/generate"), ("get", "/v1/nothing"),
                         ("post", "/nothing.png")):
        response = client.post(path, json={"texts": ["今天"]}) if method == "post" else client.get(path)
        assert response.status_code == 404, path
        error = response.json()["error"]
        assert error.startswith(f"no endpoint {method.upper()} {path}; the endpoints: ")
        assert "POST /v1/predict-next" in error and "GET /v1/models" in error and "GET /healthz" in error
    wrong = client.get("/v1/sentiment")  # a real endpoint, another method: 405, saying which it takes
    assert wrong.status_code == 405 and wrong.json()["error"] == "GET /v1/sentiment: this path takes POST"
    assert client.get("/").status_code == 200 and "<html" in client.get("/").text.lower()
    assert client.get("/app.js").status_code == 200


def test_a_failure_while_scoring_is_a_json_500_and_the_server_goes_on(models):
    from fastapi.testclient import TestClient

    def broken(jobs):
        raise RuntimeError("a bug")

    app = make_app(models)
    app.state.batchers["sentiment"].score = broken
    with TestClient(app, raise_server_exceptions=False) as c:
        response = c.post("/v1/sentiment", json={"texts": ["好"]})
        assert response.status_code == 500 and response.json() == {
            "error": "internal error (RuntimeError); the server goes on"}
        assert results(c.post("/v1/segment", json={"texts": ["好"]})) == [{"text": "好", "tokens": ["好"]}]


# -- batching and the queue: concurrent requests in one event loop -----------------------------------------------
async def _concurrently(app, requests):
    import httpx

    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            return await asyncio.gather(*(c.post(path, json=body) for path, body in requests))


def test_concurrent_requests_are_scored_in_one_batch(models):
    app = make_app(models, max_wait_ms=500, max_batch_texts=64)
    texts = TEXTS[:5] * 4
    responses = asyncio.run(_concurrently(app, [("/v1/sentiment", {"texts": [t]}) for t in texts]
                                          + [("/v1/sentiment", {"texts": ["好", "坏"], "neutral_band": 0.3})]))
    batcher = app.state.batchers["sentiment"]
    assert dict(batcher.batch_requests) == {21: 1} and dict(batcher.batch_sizes) == {22: 1}
    expected = jsonl(ok("sentiment", "--format", "jsonl", *texts))
    assert [results(r)[0] for r in responses[:-1]] == expected  # each request gets its own texts' results
    assert results(responses[-1]) == jsonl(ok("sentiment", "--format", "jsonl", "--neutral-band", "0.3", "好", "坏"))


def test_a_full_batch_does_not_wait_and_large_requests_are_split_by_request(models):
    app = make_app(models, max_wait_ms=60_000, max_batch_texts=4)  # only full batches can go before a minute
    responses = asyncio.run(_concurrently(app, [("/v1/segment", {"texts": ["我爱北京天安门"] * n}) for n in (2, 2, 5)]))
    assert [len(results(r)) for r in responses] == [2, 2, 5]
    assert dict(app.state.batchers["segment"].batch_sizes) == {4: 1, 5: 1}


def test_a_full_queue_answers_503_with_retry_after(models):
    app = make_app(models, max_wait_ms=300, max_queue_texts=4)
    responses = asyncio.run(_concurrently(app, [("/v1/sentiment", {"texts": ["好", "坏"]})] * 3))
    assert [r.status_code for r in responses] == [200, 200, 503]
    assert responses[2].headers["retry-after"] == "1" and "busy" in responses[2].json()["error"]
    assert results(asyncio.run(_concurrently(app, [("/v1/sentiment", {"texts": ["好"] * 4})]))[0])  # free again


def test_a_failing_batch_answers_its_requests_and_the_batcher_goes_on():
    from zhseq.serve.batching import Batcher, QueueFull

    calls = []

    def score(jobs):
        calls.append([job.texts for job in jobs])
        if any("boom" in job.texts for job in jobs):
            raise ValueError("boom")
        return [[t.upper() for t in job.texts] for job in jobs]

    async def main():
        batcher = Batcher(score, max_batch_texts=8, max_wait=0.05, max_queue_texts=3)
        await batcher.start()
        try:
            with pytest.raises(QueueFull):
                await batcher.submit(["a", "b", "c", "d"])
            bad = await asyncio.gather(batcher.submit(["boom"]), batcher.submit(["x"]), return_exceptions=True)
            good = await asyncio.gather(batcher.submit(["a", "b"]), batcher.submit(["c"]))
        finally:
            await batcher.stop()
        return bad, good

    bad, good = asyncio.run(main())
    assert [type(b) for b in bad] == [ValueError, ValueError]  # both requests of that batch
    assert good == [["A", "B"], ["C"]] and calls[-1] == [["a", "b"], ["c"]]


def test_group_by_options_scores_each_options_once_in_order():
    from zhseq.serve.batching import Job, group_by_options

    jobs = [Job(["a"], 1, None, 0), Job(["b", "c"], 2, None, 0), Job(["d"], 1, None, 0), Job([], 2, None, 0)]
    seen = []

    def score(texts, options):
        seen.append((texts, options))
        return [f"{t}{options}" for t in texts]

    assert group_by_options(jobs, score) == [["a1"], ["b2", "c2"], ["d1"], []]
    assert seen == [(["a", "d"], 1), (["b", "c"], 2)]


# -- the command -------------------------------------------------------------------------------------------------
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(args, blocked=TRAIN_ONLY, log=None):
    """``zhseq serve ARGS`` in a fresh interpreter where ``blocked`` modules cannot be imported."""
    return subprocess.Popen(command_without(args, blocked), stdout=log or subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def post(base, path, body, timeout=30):
    request = urllib.request.Request(base + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, json.load(response)


def wait_until_up(process, base, log, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            pytest.fail(f"zhseq serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"zhseq serve did not answer within {timeout} s:\n{log.read_text()}")
        time.sleep(0.2)


def test_sigterm_answers_the_requests_in_flight_then_exits(tmp_path):
    pytest.importorskip("uvicorn")
    port, log = free_port(), tmp_path / "serve.log"
    base = f"http://127.0.0.1:{port}"
    with open(log, "w") as out:  # a batch waits 1.5 s for company: the request is in flight when SIGTERM comes
        process = start_serve(["serve", "--port", port, "--max-wait-ms", 1500], log=out)
    try:
        wait_until_up(process, base, log)
        answers = []
        thread = threading.Thread(target=lambda: answers.append(post(base, "/v1/sentiment", {"texts": TEXTS})))
        thread.start()
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        thread.join(30)
        # uvicorn ends by re-raising the signal it handled, so the status says "ended by SIGTERM" (143 in a shell)
        assert process.wait(30) == -signal.SIGTERM, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
    assert answers and answers[0] == (200, {"results": jsonl(ok("sentiment", "--format", "jsonl", *TEXTS))})
    text = log.read_text()
    assert "Shutting down" in text and "Finished server process" in text  # shut down, not killed
    # and it answered with torch, datasets and scikit-learn impossible to import
    assert "Traceback" not in text
    with pytest.raises(OSError):
        post(base, "/healthz", {}, timeout=2)


def test_the_access_log_goes_to_stderr_and_stdout_stays_empty(tmp_path):
    """README and --help say stderr; uvicorn's default put the access lines on stdout."""
    pytest.importorskip("uvicorn")
    port, out, err = free_port(), tmp_path / "out.log", tmp_path / "err.log"
    base = f"http://127.0.0.1:{port}"
    with open(out, "w") as o, open(err, "w") as e:
        process = subprocess.Popen(command_without(["serve", "--port", port, "--access-log"], TRAIN_ONLY),
                                   stdout=o, stderr=e, text=True)
    try:
        wait_until_up(process, base, err)
        assert post(base, "/v1/segment", {"texts": ["好"]})[0] == 200
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
    assert out.read_text() == ""
    assert '"POST /v1/segment HTTP/1.1" 200' in err.read_text()


def start_workers(tmp_path, n=2):
    port, log = free_port(), tmp_path / "serve.log"
    base = f"http://127.0.0.1:{port}"
    with open(log, "w") as out:
        process = start_serve(["serve", "--port", port, "--workers", n], log=out)
    wait_until_up(process, base, log, timeout=90)
    deadline = time.monotonic() + 60
    while log.read_text().count("Application startup complete") < n and time.monotonic() < deadline:
        time.sleep(0.2)
    line = next(x for x in log.read_text().splitlines() if "worker processes" in x)
    return process, base, log, [int(p) for p in line.split("(")[1].rstrip(")").split(", ")]


def test_port_0_serves_on_a_free_port_that_the_log_names(tmp_path):
    """`serve --port 0` said "API documentation at http://127.0.0.1:0/docs"; with workers each would have
    taken a port of its own."""
    pytest.importorskip("uvicorn")
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        process = start_serve(["serve", "--port", 0, "--workers", 2], log=out)
    try:
        deadline, port = time.monotonic() + 90, None
        while port is None and time.monotonic() < deadline and process.poll() is None:
            found = re.search(r"API documentation at http://127\.0\.0\.1:(\d+)/docs", log.read_text())
            port = int(found.group(1)) if found else time.sleep(0.2)
        assert port, log.read_text()
        wait_until_up(process, f"http://127.0.0.1:{port}", log, timeout=90)
        assert post(f"http://127.0.0.1:{port}", "/v1/segment", {"texts": ["我爱北京"]})[0] == 200
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()


def alive(pid):
    """Whether process ``pid`` runs (one that ended but is not yet reaped, a zombie, does not). Linux."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_workers_serve_on_one_port_and_end_on_sigterm(tmp_path):
    pytest.importorskip("uvicorn")
    process, base, log, pids = start_workers(tmp_path)
    try:
        assert len(set(pids)) == 2 and process.pid not in pids
        for _ in range(5):
            assert post(base, "/v1/segment", {"texts": ["我爱北京天安门"]}) == (
                200, {"results": [{"text": "我爱北京天安门", "tokens": ["我", "爱", "北京", "天安门"]}]})
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == -signal.SIGTERM, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
    text = log.read_text()
    assert text.count("Application shutdown complete") == 2 and "Traceback" not in text
    assert not any(alive(pid) for pid in pids)


def test_a_worker_that_dies_stops_the_server_with_one_error_line(tmp_path):
    pytest.importorskip("uvicorn")
    process, base, log, pids = start_workers(tmp_path)
    try:
        os.kill(pids[0], signal.SIGKILL)
        try:
            code = process.wait(60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the server did not stop within 60 s of its worker's death; its log:\n{log.read_text()}")
        assert code == 1, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
    errors = [line for line in log.read_text().splitlines() if line.startswith("Error:")]
    assert errors == [f"Error: worker process {pids[0]} ended with status -9; the server stopped"]
    assert not alive(pids[1])


def test_workers_end_when_their_parent_is_killed(tmp_path):
    pytest.importorskip("uvicorn")
    process, base, log, pids = start_workers(tmp_path)
    process.kill()
    process.wait()
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(pid) for pid in pids), log.read_text()


# -- the supervisor of --workers N, with stand-in processes -----------------------------------------------------
class DiedNotYetReaped:
    """Stands for a worker process that has just ended: its sentinel is ready (the kernel has closed its files), but
    the first ``hidden`` non-blocking looks at its status (``exitcode``) find none, as the kernel makes the status
    readable a moment later (CPU load stretches that moment); ``join`` waits for it."""

    pid, name = None, "ended"

    def __init__(self, status, hidden=1):
        self.status, self.hidden = status, hidden
        self.sentinel, write = os.pipe()
        os.close(write)

    def start(self):
        pass

    @property
    def exitcode(self):
        self.hidden -= 1
        return self.status if self.hidden < 0 else None

    def join(self, timeout=None):
        self.hidden = 0


class StartedAfterASigterm(multiprocessing.context.SpawnProcess):
    """A worker process whose start comes just after the supervisor received SIGTERM."""

    def start(self):
        signal.raise_signal(signal.SIGTERM)  # the supervisor's handler runs here, before this process exists
        super().start()


@contextlib.contextmanager
def sigterm_caught():
    """SIGTERM in this process is recorded in the yielded list instead of ending pytest."""
    caught = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: caught.append(signum))
    try:
        yield caught
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def within(seconds):
    """TimeoutError in this (the main) thread if the block takes longer than ``seconds``, even blocked in a wait."""
    def late(signum, frame):
        raise TimeoutError(f"not done within {seconds} s")

    previous = signal.signal(signal.SIGALRM, late)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_worker_whose_status_comes_after_its_sentinel_still_stops_the_server():
    """The fault behind the two-worker shutdown hangs: the status of the killed worker, read a moment after its
    sentinel, was never checked, and the supervisor waited on the other worker for ever."""
    from zhseq.errors import ZhseqError
    from zhseq.serve.run import _supervise

    died = DiedNotYetReaped(-signal.SIGKILL)
    serving = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(30,))  # until SIGTERM
    start = time.monotonic()
    try:
        with pytest.raises(ZhseqError, match="ended with status -9; the server stopped"):
            _supervise([died, serving])
    finally:
        if serving.is_alive():
            serving.kill()
        os.close(died.sentinel)
    assert serving.exitcode == -signal.SIGTERM and time.monotonic() - start < 20


def test_workers_that_end_together_end_the_supervisor():
    """The fault behind the SIGTERM hang: both workers ended between two looks at their status, and the supervisor
    waited on an empty list of sentinels for ever."""
    from zhseq.serve.run import _supervise

    processes = [DiedNotYetReaped(-signal.SIGTERM), DiedNotYetReaped(-signal.SIGTERM, hidden=0)]
    try:
        with within(10):
            _supervise(processes)
    finally:
        for p in processes:
            os.close(p.sentinel)


def test_a_sigterm_while_the_workers_start_reaches_each_of_them():
    from zhseq.serve.run import _supervise

    spawn = multiprocessing.get_context("spawn")
    processes = [spawn.Process(target=time.sleep, args=(30,)), StartedAfterASigterm(target=time.sleep, args=(30,))]
    start = time.monotonic()
    with sigterm_caught() as caught:
        try:
            _supervise(processes)
        finally:
            for p in processes:
                if p.is_alive():
                    p.kill()
    assert [p.exitcode for p in processes] == [-signal.SIGTERM] * 2 and time.monotonic() - start < 20
    assert caught == [signal.SIGTERM]  # and then it ends as SIGTERM would have ended it


def test_help():
    text = ok("serve", "--help").stdout
    for words in ("/v1/sentiment", "/v1/predict-next", "/v1/segment", "--workers", "--max-batch-texts",
                  "--max-wait-ms", "--max-queue-texts", "--max-body-bytes", "Examples:"):
        assert words in text


def test_a_missing_model_is_one_error_line(tmp_path):
    pytest.importorskip("uvicorn")
    line = one_error_line(invoke("serve", "--port", free_port(), "--sentiment-model", tmp_path / "nope"))
    assert "model folder not found" in line
    line = one_error_line(invoke("serve", "--port", free_port(), "--lm-model", "sentiment"))
    assert "not a 'lm' model" in line


def test_a_port_in_use_is_one_error_line():
    pytest.importorskip("uvicorn")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        line = one_error_line(invoke("serve", "--port", taken.getsockname()[1]))
    assert "cannot listen on 127.0.0.1:" in line and "in use" in line


def test_a_missing_serve_extra_is_one_error_line():
    process = start_serve(["serve", "--port", free_port()], blocked=SERVE_EXTRA + TRAIN_ONLY)
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 1, out
    lines = [line for line in out.splitlines() if not line.startswith("LOADED")]
    assert len(lines) == 1 and lines[0].startswith("Error: zhseq serve needs "), out
    assert "pip install 'zhseq[serve]'" in lines[0]


def test_the_settings_are_checked():
    from zhseq.errors import ZhseqError
    from zhseq.serve.config import ServeConfig

    assert ServeConfig.from_dict(ServeConfig(max_texts=3).to_dict()) == ServeConfig(max_texts=3)
    for bad in ({"max_texts": 0}, {"max_wait_ms": -1}, {"max_queue_texts": 1.5}, {"bogus": 1}):
        with pytest.raises(ZhseqError):
            ServeConfig.from_dict(bad)


def test_the_command_line_does_not_import_the_server_until_it_serves():
    code = "import sys, zhseq.cli; print(sorted(m for m in ('fastapi', 'uvicorn', 'torch') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout == "[]\n"
