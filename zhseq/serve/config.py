"""The settings of ``zhseq serve``: models, limits and dynamic batching, each with its default and its check.

No FastAPI, no torch: the CLI takes its option defaults and help from here (``default_of``), and each worker
process of ``--workers N`` rebuilds the same settings from JSON (``from_dict``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import OPTIONAL_PATH, _Checked, number, setting, whole


@dataclass(frozen=True)
class ServeConfig(_Checked):
    """What one server process loads and how it answers. Limits give 413 (``max_texts``, ``max_chars``,
    ``max_body_bytes``) or 503 with ``Retry-After`` (``max_queue_texts``); a wrong type or value raises
    ZhseqError naming the field."""

    sentiment_model: str | None = setting(None, OPTIONAL_PATH, "Sentiment model folder or shipped name. "
                                                               "Default: the shipped one.")
    lm_model: str | None = setting(None, OPTIONAL_PATH, "Language model folder or shipped name. "
                                                        "Default: the shipped one.")
    max_texts: int = setting(1000, whole(1), "Texts per request; more answer 413.")
    max_chars: int = setting(10_000, whole(1), "Characters per text; a longer text answers 413.")
    max_body_bytes: int = setting(2 * 1024 * 1024, whole(1), "Bytes per request body; more answer 413.")
    max_explain_texts: int = setting(32, whole(1), "Texts per request with explain (each costs about one forward "
                                                   "pass per word); more answer 413.")
    max_batch_texts: int = setting(64, whole(1), "Texts scored together in one batch (several requests' "
                                                 "texts; one larger request is scored alone).")
    max_wait_ms: float = setting(2.0, number(0), "How long a batch that is not full waits for more requests, "
                                                 "in milliseconds, counted from its first request's arrival.")
    max_queue_texts: int = setting(4096, whole(1), "Texts admitted per endpoint and not yet answered; a request "
                                                   "that would pass this answers 503 with Retry-After.")
    max_k: int = setting(100, whole(1), "Largest k a predict-next request may ask for; more answer 422.")
