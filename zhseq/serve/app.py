"""The HTTP JSON API of ``zhseq serve``: FastAPI routes in front of the prediction pipelines, one dynamic batcher
per endpoint.

    POST /v1/sentiment     {"texts": [...], "neutral_band": 0.0, "explain": false} → {"results": [{"text", "label", "score"}]}
    POST /v1/predict-next  {"texts": [...], "k": 5 (≤ max_k), "words_only": false} → {"results": [{"text", "predictions"}]}
    POST /v1/segment       {"texts": [...]}                             → {"results": [{"text", "tokens"}]}
    GET  /v1/models        what ``zhseq info`` shows for the two models
    GET  /healthz          {"status": "ok", "queued_texts": {...}}
    GET  /docs             the OpenAPI page;  GET /  the web page in zhseq/serve/static/ when it is there

A request's body is read here (bounded by ``max_body_bytes``), checked by ``schemas.parse`` and the limits, then
its texts join the endpoint's batcher (``batching.Batcher``), whose thread scores whole batches through the
pipelines (numpy engine: no torch in the server). Errors are JSON ``{"error": "one line"}``: 400 (not JSON,
not UTF-8), 404, 405, 413 (a limit), 422 (a wrong field, type or value), 503 with ``Retry-After`` (the queue
is full), 500 (a bug; its traceback goes to the log). Results are the values ``zhseq sentiment|predict-next|segment --format jsonl`` prints.
"""

from __future__ import annotations

import json
import os
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pydantic_core
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from .. import __version__
from ..checkpoint import info
from ..config import PredictConfig, check_prediction, default_of
from ..errors import ZhseqError
from ..pipeline import NextWordPredictor, SentimentClassifier, load, neutral_column
from ..tokenizer import Tokenizer
from . import schemas
from .batching import Batcher, QueueFull, group_by_options
from .config import ServeConfig

STATIC_DIR = Path(__file__).parent / "static"
CONFIG_ENV = "ZHSEQ_SERVE_CONFIG"  # the settings as JSON, for uvicorn's workers where SO_REUSEPORT is missing
RETRY_AFTER_S = 1


class JSONResponse(Response):
    """JSON written by pydantic-core (Rust): UTF-8 text kept readable, floats in their shortest exact form."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return pydantic_core.to_json(content)


class ApiError(Exception):
    """An answer other than 200: ``status``, a one-line ``message`` and extra headers."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


class Models:
    """What a server process loads once: the two pipelines and the segmentation tokenizer."""

    def __init__(self, sentiment: SentimentClassifier, lm: NextWordPredictor, tokenizer: Tokenizer | None = None):
        self.sentiment, self.lm = sentiment, lm
        # as `zhseq segment` without options
        self.tokenizer = tokenizer or Tokenizer(hmm=False, user_dicts=(), emoji=False, social=False)

    @classmethod
    def load(cls, config: ServeConfig) -> "Models":
        """The models ``config`` names (None: the shipped ones), on the numpy engine when their cell has it.
        Raises ZhseqError for a missing or broken folder, or a model of the other task."""
        return cls(load(config.sentiment_model, task="sentiment"), load(config.lm_model, task="lm"))


# -- scoring: runs in each batcher's thread --------------------------------------------------------------------
def _sentiment_scorer(classifier: SentimentClassifier):
    def score(texts: list[str], options) -> list[dict]:
        band, explain = options
        results = classifier(texts, batch_size=max(1, len(texts)), neutral_band=band, explain=explain)
        return [{"text": t, **r} for t, r in zip(texts, results)]

    return lambda jobs: group_by_options(jobs, score)


def _next_word_scorer(predictor: NextWordPredictor):
    def score(texts: list[str], options) -> list[dict]:
        k, words_only = options
        results = predictor.predict_next(texts, k=k, words_only=words_only, batch_size=max(1, len(texts)))
        return [{"text": t, "predictions": p} for t, p in zip(texts, results)]

    return lambda jobs: group_by_options(jobs, score)


def _segment_scorer(tokenizer: Tokenizer):
    def score(texts: list[str], options) -> list[dict]:
        return [{"text": t, "tokens": tokens} for t, tokens in zip(texts, tokenizer.cut_many(texts))]

    return lambda jobs: group_by_options(jobs, score)


# -- reading a request -----------------------------------------------------------------------------------------
async def read_body(request: Request, limit: int) -> bytes:
    """The request body, or 413 as soon as it is known to pass ``limit`` bytes (from Content-Length, else while
    reading)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"the body holds {int(declared):,} bytes; this server takes at most {limit:,}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"the body holds more than {limit:,} bytes; this server takes at most {limit:,}")
        chunks.append(chunk)
    return b"".join(chunks)


def check_texts(texts: list[str], config: ServeConfig) -> None:
    """413 for too many or too long texts; 422 for a NUL character (no text holds one)."""
    if len(texts) > config.max_texts:
        raise ApiError(413, f"{len(texts):,} texts in one request; this server takes at most {config.max_texts:,}")
    for i, text in enumerate(texts):
        if len(text) > config.max_chars:
            raise ApiError(413, f"texts[{i}] has {len(text):,} characters; this server takes at most "
                                f"{config.max_chars:,} per text")
        if "\x00" in text:
            raise ApiError(422, f"texts[{i}] holds a NUL character (U+0000)")


async def _request(request: Request, model, config: ServeConfig):
    body = await read_body(request, config.max_body_bytes)
    try:
        parsed = schemas.parse(model, body)
    except schemas.BadRequest as exc:
        raise ApiError(exc.status, exc.message) from None
    check_texts(parsed.texts, config)
    return parsed


async def _results(batcher: Batcher, texts: list[str], options) -> JSONResponse:
    if not texts:
        return JSONResponse({"results": []})
    try:
        results = await batcher.submit(texts, options)
    except QueueFull as exc:
        raise ApiError(503, f"the server is busy ({exc}); retry in {RETRY_AFTER_S} s",
                       {"Retry-After": str(RETRY_AFTER_S)}) from None
    return JSONResponse({"results": results})


def _checked(**values) -> None:
    try:
        check_prediction(**values)
    except ZhseqError as exc:
        raise ApiError(422, str(exc)) from None


def _fastapi(**settings) -> FastAPI:
    """FastAPI whose /docs and /redoc use the Swagger UI and ReDoc files shipped in the fastapi-offline package (the
    serve extra), so that they work offline; FastAPI's own pages (which load them from a CDN) without it."""
    try:
        from fastapi_offline import FastAPIOffline
    except ModuleNotFoundError:
        return FastAPI(**settings)
    return FastAPIOffline(**settings)


# -- the application -------------------------------------------------------------------------------------------
def _errors(status: int) -> dict:
    return {status: {"model": schemas.ErrorBody}}


_BAD = {**_errors(400), **_errors(413), **_errors(422), **_errors(503)}


def create_app(config: ServeConfig | None = None, *, models: Models | None = None) -> FastAPI:
    """The FastAPI application: ``models`` (loaded from ``config`` when not given, raising ZhseqError for a
    missing model), one batcher per endpoint, started and stopped with the application (its lifespan)."""
    config = config or ServeConfig()
    models = models or Models.load(config)
    batching = dict(max_batch_texts=config.max_batch_texts, max_wait=config.max_wait_ms / 1000,
                    max_queue_texts=config.max_queue_texts)
    batchers = {
        "sentiment": Batcher(_sentiment_scorer(models.sentiment), name="sentiment", **batching),
        "predict-next": Batcher(_next_word_scorer(models.lm), name="predict-next", **batching),
        "segment": Batcher(_segment_scorer(models.tokenizer), name="segment", **batching),
    }
    described = {"sentiment": info(models.sentiment.path), "lm": info(models.lm.path)}

    @asynccontextmanager
    async def lifespan(app):
        for batcher in batchers.values():
            await batcher.start()
        try:
            yield
        finally:  # uvicorn has answered the requests in flight by now (graceful shutdown)
            for batcher in batchers.values():
                await batcher.stop()

    app = _fastapi(title="zhseq", version=__version__, lifespan=lifespan, default_response_class=JSONResponse,
                  description="Chinese text on recurrent networks: sentiment labels, next-word prediction and word "
                              "segmentation. Errors are `{\"error\": \"one line\"}`.")
    app.state.config, app.state.models, app.state.batchers = config, models, batchers

    @app.exception_handler(ApiError)
    async def api_error(request, exc: ApiError):
        return JSONResponse({"error": exc.message}, exc.status, headers=exc.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request, exc: HTTPException):  # 404, 405 and the like
        headers = getattr(exc, "headers", None) or {}
        message = str(exc.detail)
        if exc.status_code == 405 and headers.get("Allow"):  # say what the path takes, not only what it does not
            message = f"{request.method} {request.url.path}: this path takes {headers['Allow']}"
        return JSONResponse({"error": message}, exc.status_code, headers=headers or None)

    @app.exception_handler(Exception)
    async def server_error(request, exc: Exception):  # a bug: one JSON line here, the traceback in the log
        return JSONResponse({"error": f"internal error ({type(exc).__name__}); the server goes on"}, 500)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request, exc: RequestValidationError):
        return JSONResponse({"error": "; ".join(e.get("msg", "") for e in exc.errors())}, 422)

    @app.post("/v1/sentiment", response_model=None, openapi_extra=schemas.request_schema(schemas.SentimentRequest),
              responses={200: {"model": schemas.SentimentResponse}, **_BAD}, summary="Sentiment labels")
    async def sentiment(request: Request):
        """The label and score of each text, as `zhseq sentiment --format jsonl`."""
        req = await _request(request, schemas.SentimentRequest, config)
        if req.neutral_band is None:  # null: off, the default
            req.neutral_band = default_of(PredictConfig, "neutral_band")
        req.explain = bool(req.explain)  # null: false, the default
        _checked(neutral_band=req.neutral_band)
        try:
            neutral_column(models.sentiment.labels, req.neutral_band)
        except ZhseqError as exc:
            raise ApiError(422, str(exc)) from None
        if req.explain and len(req.texts) > config.max_explain_texts:
            raise ApiError(413, f"{len(req.texts):,} texts with explain in one request; this server explains at "
                                f"most {config.max_explain_texts:,} per request")
        return await _results(batchers["sentiment"], req.texts, (req.neutral_band, req.explain))

    @app.post("/v1/predict-next", response_model=None,
              openapi_extra=schemas.request_schema(schemas.PredictNextRequest),
              responses={200: {"model": schemas.PredictNextResponse}, **_BAD}, summary="Next words")
    async def predict_next(request: Request):
        """The k most likely continuations of each prefix, as `zhseq predict-next --format jsonl`."""
        req = await _request(request, schemas.PredictNextRequest, config)
        if req.k is None:  # the default, within what this server allows
            req.k = min(default_of(PredictConfig, "k"), config.max_k)
        req.words_only = bool(req.words_only)  # null: false, the default
        _checked(k=req.k)
        if req.k > config.max_k:
            raise ApiError(422, f"k must be at most {config.max_k} on this server, not {req.k}")
        return await _results(batchers["predict-next"], req.texts, (req.k, req.words_only))

    @app.post("/v1/segment", response_model=None, openapi_extra=schemas.request_schema(schemas.SegmentRequest),
              responses={200: {"model": schemas.SegmentResponse}, **_BAD}, summary="Word segmentation")
    async def segment(request: Request):
        """Each text's words, as `zhseq segment --format jsonl`."""
        req = await _request(request, schemas.SegmentRequest, config)
        return await _results(batchers["segment"], req.texts, None)

    @app.get("/v1/models", response_model=None, summary="The models")
    async def models_info():
        """What `zhseq info` shows for the sentiment model and the language model this server loaded."""
        return JSONResponse(described)

    @app.get("/healthz", response_model=None, summary="Liveness")
    async def healthz():
        """`{"status": "ok"}` and the texts each endpoint has admitted and not yet answered."""
        return JSONResponse({"status": "ok",
                             "queued_texts": {name: b.admitted_texts for name, b in batchers.items()}})

    app.router.default = _fallback(app)
    return app


def _fallback(app: FastAPI):
    """What no route takes: the web page's files (index.html at /; another method there is a 405), else a JSON
    404 that lists the endpoints. (A POST to a mistyped path, ``/v1/predict_next``, was the page's 405, which
    sent users looking at the method instead of the path.) An API path with another method stays a 405."""
    static = StaticFiles(directory=STATIC_DIR, html=True) if STATIC_DIR.is_dir() else None
    files = {"/"} | {f"/{f.name}" for f in STATIC_DIR.iterdir() if f.is_file()} if static else set()
    endpoints = ", ".join(f"{'/'.join(sorted(r.methods - {'HEAD'}))} {r.path}" for r in app.routes
                          if getattr(r, "methods", None) and (r.path.startswith("/v1/") or r.path == "/healthz"))
    not_found = app.router.not_found

    async def fallback(scope, receive, send):
        if scope["type"] != "http":
            await not_found(scope, receive, send)
        elif scope["path"] in files:
            await static(scope, receive, send)
        else:
            await JSONResponse({"error": f"no endpoint {scope['method']} {scope['path']}; the endpoints: "
                                         f"{endpoints}"}, 404)(scope, receive, send)

    return fallback


def app_from_environment() -> FastAPI:
    """uvicorn's application factory in each of its worker processes (``zhseq serve --workers N`` on a system
    without SO_REUSEPORT, ``zhseq.serve.run``): the settings the parent process wrote as JSON into
    ``ZHSEQ_SERVE_CONFIG``."""
    return create_app(ServeConfig.from_dict(json.loads(os.environ.get(CONFIG_ENV, "{}"))))
