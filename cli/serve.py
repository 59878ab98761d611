"""serve: the pipelines behind an HTTP JSON API (zhseq.serve; FastAPI and uvicorn come with the serve extra)."""

import click
from zhseq.cli import cli
from zhseq.cli.options import Checked


def serve_option(name, *flags, **extra):
    """An option whose type, default and help come from ``zhseq.serve.config.ServeConfig``'s field ``name``."""
    from dataclasses import fields

    from zhseq.serve.config import ServeConfig

    field = next(f for f in fields(ServeConfig) if f.name == name)
    check = field.metadata["check"]
    extra.setdefault("show_default", field.default is not None)
    return click.option(*flags, name, type=Checked(name, check) if check.kind in ("int", "float") else None,
                        default=field.default, help=field.metadata["help"], **extra)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface; put a reverse proxy with TLS in front).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="TCP port.")
@serve_option("sentiment_model", "--sentiment-model", metavar="DIR|NAME")
@serve_option("lm_model", "--lm-model", metavar="DIR|NAME")
@click.option("--workers", type=click.IntRange(1), default=1, show_default=True,
              help="uvicorn worker processes, each loading the models once and batching its own requests.")
@serve_option("max_explain_texts", "--max-explain-texts", metavar="N")
@serve_option("max_batch_texts", "--max-batch-texts", metavar="N")
@serve_option("max_wait_ms", "--max-wait-ms", metavar="MS")
@serve_option("max_queue_texts", "--max-queue-texts", metavar="N")
@serve_option("max_texts", "--max-texts", metavar="N")
@serve_option("max_chars", "--max-chars", metavar="N")
@serve_option("max_body_bytes", "--max-body-bytes", metavar="BYTES")
@serve_option("max_k", "--max-k", metavar="K")
@click.option("--shutdown-timeout", type=click.FloatRange(0), default=30.0, show_default=True, metavar="S",
              help="On SIGTERM or Ctrl-C, wait this long for the requests in flight, then close.")
@click.option("--access-log/--no-access-log", default=False, show_default=True,
              help="Log one line per request on stderr (uvicorn's access log; it costs throughput).")
def serve(host, port, workers, shutdown_timeout, access_log, **settings):
    """Answer sentiment, next-word and segmentation requests over HTTP (JSON).

    \b
    POST /v1/sentiment     {"texts": [...], "neutral_band": 0.1, "explain": false}
    POST /v1/predict-next  {"texts": [...], "k": 5, "words_only": false}
    POST /v1/segment       {"texts": [...]}
    GET  /v1/models, /healthz; the API's documentation at /docs; a web page at /

    Each result has the fields `zhseq sentiment|predict-next|segment --format jsonl` prints, with the same
    values. Requests arriving within --max-wait-ms of each other are scored as one batch. A request over a
    limit answers 413, a full queue 503 with Retry-After, a malformed one 400 or 422, each with
    {"error": "…"}. SIGTERM (or Ctrl-C) answers the requests in flight, then exits.

    \b
    Examples:
      zhseq serve
      zhseq serve --host 0.0.0.0 --port 8080 --workers 2 --sentiment-model runs/reviews
      curl -s localhost:8000/v1/sentiment -d '{"texts": ["这家餐厅的菜很好吃"]}'
        -> {"results":[{"text":"这家餐厅的菜很好吃","label":"positive","score":0.87456}]}
    """
    from zhseq.serve.config import ServeConfig
    from zhseq.serve.run import serve as run

    run(ServeConfig(**settings), host=host, port=port, workers=workers, shutdown_timeout=shutdown_timeout,
        access_log=access_log)
