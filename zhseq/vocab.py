"""Vocabulary: tokens ↔ ids, saved as JSON, extendable for fine-tuning.

Ids 0–3 are fixed specials: ``<pad>`` (padding), ``<unk>`` (unknown word), ``<bos>`` and ``<eos>`` (the
language model's line start and end). Sentiment and LM models share the same layout, so a backbone
pretrained as a language model can be fine-tuned as a classifier with the same embedding rows.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

from .errors import ZhseqError

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(4)


def count_tokens(token_lists: Iterable[Sequence[str]]) -> Counter:
    counts: Counter = Counter()
    for tokens in token_lists:
        counts.update(tokens)
    return counts


def _ranked(counts: Counter, min_freq: int, exclude) -> list[str]:
    # frequency descending, ties broken by the token itself: the same corpus always gives the same ids
    return [
        w
        for w, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        if n >= min_freq and w not in exclude
    ]


class Vocab:
    """An ordered token list; ``encode`` maps unknown tokens to ``<unk>``."""

    def __init__(self, tokens: Iterable[str]):
        self.itos: list[str] = list(tokens)
        if not all(isinstance(t, str) for t in self.itos):
            raise ZhseqError("vocabulary tokens must all be strings")
        if tuple(self.itos[: len(SPECIALS)]) != SPECIALS:
            raise ZhseqError(f"vocabulary must start with {', '.join(SPECIALS)}")
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ZhseqError("vocabulary has duplicate tokens")

    @classmethod
    def build(
        cls, token_lists: Iterable[Sequence[str]], *, min_freq: int = 2, max_size: int | None = None
    ) -> "Vocab":
        """Keep tokens seen at least ``min_freq`` times, the most frequent first, ``max_size`` in all."""
        words = _ranked(count_tokens(token_lists), max(1, min_freq), set(SPECIALS))
        if max_size is not None:
            words = words[: max(0, max_size - len(SPECIALS))]
        return cls(SPECIALS + tuple(words))

    def extend(
        self, token_lists: Iterable[Sequence[str]], *, min_freq: int = 2, max_new: int | None = None
    ) -> int:
        """Append new frequent tokens (existing ids never move); returns how many were added."""
        new = _ranked(count_tokens(token_lists), max(1, min_freq), self.stoi)
        if max_new is not None:
            new = new[:max_new]
        for w in new:
            self.stoi[w] = len(self.itos)
            self.itos.append(w)
        return len(new)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def encode(self, tokens: Iterable[str]) -> list[int]:
        get = self.stoi.get
        return [get(t, UNK_ID) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.itos[i] for i in ids]

    # -- JSON -------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"format": "zhseq-vocab", "version": 1, "tokens": self.itos}

    @classmethod
    def from_dict(cls, d: dict) -> "Vocab":
        if not isinstance(d, dict) or d.get("format") != "zhseq-vocab" or not isinstance(d.get("tokens"), list):
            raise ZhseqError("not a zhseq vocabulary (expected {'format': 'zhseq-vocab', 'tokens': [...]})")
        return cls(d["tokens"])

    def save(self, path: str | os.PathLike) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Vocab":
        try:
            d = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ZhseqError(f"cannot read vocabulary {path}: {e}") from None
        return cls.from_dict(d)
