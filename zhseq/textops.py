"""Pure-Python prediction rules shared by the torch API (``zhseq.api``) and the numpy runtime
(``zhseq.runtime``), so both truncate, label and rank exactly alike. No torch, no numpy here.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from .errors import ZhseqError
from .vocab import SPECIALS

# ids a prediction must never propose: <pad>, <unk>, <bos>, <eos>
SPECIAL_IDS = tuple(range(len(SPECIALS)))


def truncate(ids: list[int], max_tokens: int) -> list[int]:
    """Long texts keep their first third and their last two thirds (reviews conclude at the end)."""
    if max_tokens <= 0 or len(ids) <= max_tokens:
        return ids
    head = max_tokens // 3
    return ids[:head] + ids[len(ids) - (max_tokens - head):]


def join_tokens(tokens: Iterable[str]) -> str:
    """Words back to text: no spaces in Chinese, one space between two Latin or digit words."""
    out = ""
    for t in tokens:
        if out and out[-1].isascii() and out[-1].isalnum() and t[:1].isascii() and t[:1].isalnum():
            out += " "
        out += t
    return out


def neutral_column(labels: Sequence[str], band: float) -> int | None:
    """The column of ``positive`` when a neutral band is asked for; None when it is off."""
    if not band:
        return None
    if not 0.0 < band < 0.5:
        raise ZhseqError(f"the neutral band must be between 0 and 0.5 (got {band})")
    if sorted(labels) != ["negative", "positive"]:
        raise ZhseqError(
            f"a neutral band needs a negative/positive model; this one has labels {', '.join(labels)}"
        )
    return list(labels).index("positive")


def sentiment_result(probs: Sequence[float], labels: Sequence[str], positive: int | None, band: float) -> dict:
    """One row of probabilities → {"label", "score"}: the most likely label (the first on a tie) and its
    probability; or, within 0.5 ± band of ``positive``, ``neutral`` scored 1 − |2·p − 1| (1 at p = 0.5)."""
    if positive is not None and abs(probs[positive] - 0.5) <= band:
        return {"label": "neutral", "score": round(1.0 - abs(2.0 * probs[positive] - 1.0), 6)}
    best = max(range(len(probs)), key=probs.__getitem__)
    return {"label": labels[best], "score": round(probs[best], 6)}


def banned_ids(itos: Sequence[str], words_only: bool = False) -> list[int]:
    """Ids ``predict_next`` must not propose: the special tokens; with ``words_only`` also every token with
    no letter or digit in it (punctuation, symbols, spaces), so that only words remain."""
    banned = list(SPECIAL_IDS)
    if words_only:
        banned += [i for i in range(len(SPECIAL_IDS), len(itos)) if not any(ch.isalnum() for ch in itos[i])]
    return banned


def top_k_size(k: int, vocab_size: int, banned: int = len(SPECIAL_IDS)) -> int:
    """How many next words ``predict_next`` returns: ``k``, but never more than the ``vocab_size − banned``
    tokens it may propose (and 0 only when there are none)."""
    return min(max(1, k), vocab_size - banned)


def check_labels(labels, n: int) -> list[str]:
    """config.json's "labels" for a classifier with ``n`` outputs: a list of n different strings."""
    if not (isinstance(labels, list) and len(labels) == n and all(isinstance(x, str) for x in labels)
            and len(set(labels)) == n):
        raise ZhseqError(f"config.json needs \"labels\": a list of {n} different label names, not {labels!r}")
    return labels
