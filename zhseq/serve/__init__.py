"""``zhseq serve``: the pipelines behind an HTTP JSON API (FastAPI + uvicorn, the ``serve`` extra).

    config.py    ServeConfig: models, limits, batching (no FastAPI: the CLI reads its defaults)
    schemas.py   the request and response bodies, checked strictly
    batching.py  dynamic batching: a bounded queue and a task that scores whole batches in a thread
    app.py       create_app(config): the routes, the errors, the web page in static/
    run.py       serve(config, host=, port=, workers=): uvicorn, one process or N on one port (SO_REUSEPORT)

    from zhseq.serve.app import create_app
    app = create_app()      # the shipped models; run it with uvicorn, or `zhseq serve`
    from zhseq.serve.config import ServeConfig
    from zhseq.serve.run import serve
    serve(ServeConfig(max_texts=100), port=8080, workers=2)

Importing this package imports neither FastAPI nor torch.
"""
