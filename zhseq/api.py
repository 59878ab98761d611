"""The Python API: load a model folder and use it.

    clf = SentimentClassifier.from_pretrained("out/")   # a model folder or a training output folder
    clf("这家餐厅的菜很好吃")                              # {"label": "positive", "score": 0.97}
    lm = NextWordPredictor.from_pretrained("lm/")
    lm.predict_next("今天天气", k=5)                      # [{"token": "很", "score": 0.11}, ...]

Each object holds the torch model (``.net``), its ``Vocab``, its ``Tokenizer`` and its ``config``;
``forward(ids, lengths, targets=None) -> (logits, loss)`` is the head's, so the same object trains.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator

import torch

from . import __version__, ngrams
from .checkpoint import VOCAB_NAME, default_model_dir, load_weights, read_config, resolve_model_dir, save_model
from .data import batched
from .errors import ZhseqError
from .modeling import build_model, special_mask
from .textops import banned_ids, check_labels, join_tokens, neutral_column, sentiment_result, top_k_size, truncate
from .tokenizer import Tokenizer
from .vocab import BOS_ID, EOS_ID, PAD_ID, Vocab

def ngram_logits(net, tokens: list[list[str]]):
    """(N, C) numpy logits of a ``SentimentNet``'s n-gram half for token lists."""
    c = net.config
    weight, bias, idf = net.ngrams.numpy()
    return ngrams.logits(tokens, weight, bias, idf, c.ngram_words, c.ngram_chars)


def pad_batch(seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Lists of ids → ids (B, T) padded with <pad>, lengths (B,)."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    width = max(1, max((len(s) for s in seqs), default=0))  # at least one column, even if all are empty
    ids = torch.full((len(seqs), width), PAD_ID, dtype=torch.long)
    for i, s in enumerate(seqs):
        if s:
            ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return ids, lengths


class _Pretrained:
    """What both heads share: loading, saving, tokenising, ``forward``."""

    task: str = ""

    def __init__(self, net: torch.nn.Module, vocab: Vocab, tokenizer: Tokenizer, config: dict, path=None):
        if len(vocab) != net.config.backbone.vocab_size:
            raise ZhseqError(
                f"vocabulary has {len(vocab)} tokens but the model expects {net.config.backbone.vocab_size}"
            )
        self.net = net.eval()
        self.vocab = vocab
        self.tokenizer = tokenizer
        self.config = config
        self.path = Path(path) if path is not None else None

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | None = None):
        """Load a model folder (or a training output folder); ``None`` loads the shipped default."""
        folder = resolve_model_dir(default_model_dir(cls.task) if path is None else path)
        config = read_config(folder)
        if config.get("task") != cls.task:
            raise ZhseqError(f"{folder} holds a {config.get('task')!r} model, not a {cls.task!r} model")
        net = build_model(cls.task, config)
        load_weights(net, folder)
        return cls(net, Vocab.load(folder / VOCAB_NAME), Tokenizer.from_dict(config.get("tokenizer", {})), config, folder)

    def config_dict(self) -> dict:
        """config.json as it stands now (the model may have been fine-tuned or resized since loading)."""
        return {
            **self.config,
            "zhseq_version": __version__,
            "task": self.task,
            **self.net.config.to_dict(),
            "tokenizer": self.tokenizer.to_dict(),
        }

    def save_pretrained(self, path: str | os.PathLike, *, dtype: str | None = None, quantize: bool = False) -> Path:
        """Write the model folder; ``dtype="float16"`` halves the weights on disk, ``quantize=True`` stores
        the embedding matrix as int8 rows with a float32 scale each (loading restores float32)."""
        self.config = self.config_dict()
        return save_model(path, config=self.config, module=self.net, vocab=self.vocab, dtype=dtype,
                          quantize=quantize)

    def forward(self, ids, lengths, targets=None):
        return self.net(ids, lengths, targets)

    def encode(self, text: str) -> list[int]:
        return self.vocab.encode(self.tokenizer.cut(text))

    def __repr__(self) -> str:
        bb = self.net.config.backbone
        return (
            f"{type(self).__name__}(cell={bb.cell!r}, layers={bb.layers}, bidirectional={bb.bidirectional}, "
            f"vocab={len(self.vocab)}, path={str(self.path) if self.path else None!r})"
        )


class SentimentClassifier(_Pretrained):
    """Text → {"label", "score"}: a BiLSTM (by default) over jieba words, pooled, then a linear layer."""

    task = "sentiment"

    def __init__(self, net: torch.nn.Module, vocab: Vocab, tokenizer: Tokenizer, config: dict, path=None):
        check_labels(config.get("labels"), net.config.num_labels)
        super().__init__(net, vocab, tokenizer, config, path)

    @property
    def labels(self) -> list[str]:
        return list(self.config["labels"])

    def __call__(self, texts: str | Iterable[str], batch_size: int = 256, *, neutral_band: float = 0.0):
        if isinstance(texts, str):
            return next(self.predict_stream([texts], neutral_band=neutral_band))
        return list(self.predict_stream(texts, batch_size=batch_size, neutral_band=neutral_band))

    def predict_proba(self, texts: list[str]) -> torch.Tensor:
        """(N, C) probabilities, columns in ``self.labels`` order: the network's, averaged with the n-gram
        half's when the model has one (``zhseq.ngrams``)."""
        config = self.net.config
        tokens = [self.tokenizer.cut(t) for t in texts]
        ids, lengths = pad_batch([truncate(self.vocab.encode(x), config.max_tokens) for x in tokens])
        with torch.inference_mode():
            logits, _ = self.net(ids, lengths)
        probs = logits.float().softmax(-1)
        if self.net.ngrams is not None and config.ngram_weight > 0:
            probs = torch.from_numpy(ngrams.mix(probs.numpy(), ngram_logits(self.net, tokens), config.ngram_weight))
        return probs

    def predict_stream(
        self, texts: Iterable[str], batch_size: int = 256, *, neutral_band: float = 0.0
    ) -> Iterator[dict]:
        """One result per text, in order, reading ``texts`` lazily (flat memory for huge inputs).

        ``neutral_band`` (a negative/positive model only): when the positive probability lies within
        0.5 ± band, the label is ``neutral`` and the score is 1 − |2·p − 1| (1 at p = 0.5)."""
        labels = self.labels
        positive = self._neutral_check(neutral_band)
        for batch in batched(texts, max(1, batch_size)):
            for p in self.predict_proba(batch).tolist():
                yield sentiment_result(p, labels, positive, neutral_band)

    def _neutral_check(self, band: float) -> int | None:
        """The column of ``positive`` when a band is asked for; None when it is off."""
        return neutral_column(self.labels, band)


class NextWordPredictor(_Pretrained):
    """Prefix → the most likely next words; ``generate`` continues a text word by word."""

    task = "lm"

    def _prefix_ids(self, prefix: str) -> list[int]:
        # the model was trained on windows of bptt tokens after <bos>; older context adds little
        ids = self.encode(prefix)[-4 * self.net.config.bptt :]
        return [BOS_ID] + ids

    def _next_probs(self, seqs: list[list[int]]) -> torch.Tensor:
        ids, lengths = pad_batch(seqs)
        with torch.inference_mode():
            return self.net.next_logits(ids, lengths).float().softmax(-1)  # (B, V)

    def predict_next(self, prefix: str | list[str], k: int = 5, *, words_only: bool = False):
        """Top-k next words with their probabilities; never ``<unk>``, ``<pad>``, ``<bos>`` or ``<eos>``.
        ``words_only``: nor punctuation or symbols (tokens without a letter or digit)."""
        single = isinstance(prefix, str)
        prefixes = [prefix] if single else list(prefix)
        cache = self.__dict__.setdefault("_banned", {})  # a vocabulary of 30k words takes 10 ms to scan
        if words_only not in cache:
            cache[words_only] = torch.tensor(banned_ids(self.vocab.itos, words_only))
        banned = cache[words_only]
        results = []
        for batch in batched(prefixes, 256):
            probs = self._next_probs([self._prefix_ids(p) for p in batch]).index_fill(1, banned, 0.0)
            top = probs.topk(top_k_size(k, probs.size(1), len(banned)), dim=-1)
            for vals, idx in zip(top.values.tolist(), top.indices.tolist()):
                results.append([{"token": self.vocab.itos[i], "score": round(v, 6)} for v, i in zip(vals, idx)])
        return results[0] if single else results

    def generate(self, prefix: str, n: int = 20, *, temperature: float = 0.0, seed: int | None = None) -> str:
        """Continue ``prefix`` by up to ``n`` words (stops at a line end); returns the continuation only.
        ``temperature`` 0 is greedy; above 0 samples from the softened distribution."""
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        seq = self._prefix_ids(prefix)
        banned = special_mask(len(self.vocab))
        banned[EOS_ID] = False  # a line end may come: it stops the continuation
        words = []
        for _ in range(max(0, n)):
            probs = self._next_probs([seq])[0].masked_fill(banned, 0.0)
            if temperature and temperature > 0:
                logp = probs.clamp_min(1e-30).log() / temperature
                nxt = int(torch.multinomial((logp - logp.max()).exp(), 1, generator=gen))
            else:
                nxt = int(probs.argmax())
            if nxt == EOS_ID:
                break
            seq.append(nxt)
            words.append(self.vocab.itos[nxt])
        return join_tokens(words)
