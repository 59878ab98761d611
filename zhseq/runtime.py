"""Prediction without torch: the shipped cells and heads in numpy, reading the same model folder.

    clf = load_numpy_model("out/")                       # a NumpySentiment (or NumpyNextWord for an lm)
    clf("这家餐厅的菜很好吃")                              # {"label": "positive", "score": 0.97}
    NumpyNextWord.from_pretrained("lm/").predict_next("今天天气", k=5)

Importing torch alone costs more than a whole prediction should (1.7 s and 220 MB on a busy 2-core
machine), so the prediction path runs the trained weights with numpy; torch stays the training engine. This
module imports only numpy, safetensors and zhseq's torch-free modules (checkpoint, vocab, tokenizer,
data, textops, errors), and gives the same results as ``zhseq.api`` to float32 rounding (about 1e-7;
the tests hold it to 1e-5 for every cell, direction, layer count and pooling).

Design:

- Loading: ``config.json`` is read with ``zhseq.checkpoint``; every tensor ``modeling`` would build is
  required in ``model.safetensors`` with its exact shape, and nothing else (as torch's strict
  ``load_state_dict``). float16 and bfloat16 files are widened to float32, as torch does on loading.
- Cells: ``rnn``, ``lstm``, ``gru`` and their ``-ref`` twins (same weights), with torch's parameter
  names and gate order (LSTM i, f, g, o; GRU r, z, n with n = tanh(W_in x + b_in + r·(W_hn h + b_hn))).
  Any other registered cell needs the torch path. Dropout is the identity at inference.
- Packed, time-major layout (torch's PackedSequence): a batch is sorted longest first, so at step t
  the rows still reading are a prefix ``[:n_t]`` of the batch, and all real tokens are stacked as
  (N, E) in step order. Each layer's input projection ``x @ W_ih.T + b`` is one matmul over all N
  tokens; the loop over time only does ``h[:n_t] @ W_hh.T`` on the live rows. A row's state is
  frozen past its length by not being touched; the backward direction starts each row at its own last
  token because rows join the prefix only once t < length. Padding is never computed; empty rows
  keep zero states, as in ``zhseq.cells``.
- Batches are cut by a token budget after sorting (rows × longest row ≤ ``token_budget``), so memory
  stays flat for long texts; results come back in input order.
- float32 throughout; sigmoid is 0.5·(1 + tanh(x/2)) (no overflow), softmax subtracts the row max.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from . import ngrams
from .checkpoint import (
    VOCAB_NAME,
    WEIGHTS_NAME,
    default_model_dir,
    dequantize,
    read_config,
    resolve_model_dir,
)
from .data import batched
from .errors import STACKED_BIDIRECTIONAL_LM, ZhseqError
from .textops import banned_ids, check_labels, neutral_column, sentiment_result, top_k_size, truncate
from .tokenizer import Tokenizer
from .vocab import BOS_ID, Vocab

GATES = {"rnn": 1, "gru": 3, "lstm": 4}  # gate blocks stacked in each weight, in torch's order
NUMPY_CELLS = ("rnn", "lstm", "gru", "rnn-ref", "lstm-ref", "gru-ref")
POOLINGS = ("max", "mean", "last")

# The defaults of zhseq.modeling's config dataclasses, for a config.json that leaves a setting out
# (tests/test_runtime.py checks they agree).
BACKBONE_DEFAULTS = dict(embedding_size=128, hidden_size=128, cell="lstm", layers=1, bidirectional=True,
                         dropout=0.2, embedding_dropout=0.1)
HEAD_DEFAULTS = {
    "sentiment": dict(num_labels=2, pooling="max", max_tokens=256, ngram_buckets=0, ngram_words=2, ngram_chars=3,
                      ngram_weight=0.0),
    "lm": dict(bptt=64, sampled_softmax=0),
}

F32 = np.float32


# -- settings and weights -------------------------------------------------------------------------


def _settings(task: str, config: dict) -> dict:
    """config.json's {"backbone", "head"} → one flat dict of checked settings, as modeling would accept."""
    backbone, head = config.get("backbone"), config.get("head", {})
    if not isinstance(backbone, dict) or not isinstance(head, dict):
        raise ZhseqError(f"config.json does not describe a {task} model: no backbone settings")
    for what, given, known in (("backbone", backbone, {"vocab_size", *BACKBONE_DEFAULTS}),
                               ("head", head, set(HEAD_DEFAULTS[task]))):
        unknown = sorted(set(given) - known)
        if unknown:
            raise ZhseqError(f"unknown {what} settings in config.json: {', '.join(unknown)}")
    if "vocab_size" not in backbone:
        raise ZhseqError(f"config.json does not describe a {task} model: no vocab_size")
    s = {**BACKBONE_DEFAULTS, **backbone, **HEAD_DEFAULTS[task], **head}
    for name in ("vocab_size", "embedding_size", "hidden_size", "layers"):
        if not isinstance(s[name], int) or isinstance(s[name], bool) or s[name] < 1:
            raise ZhseqError(f"config.json does not describe a {task} model: {name} is {s[name]!r}")
    if s["cell"] not in NUMPY_CELLS:
        raise ZhseqError(
            f"cell {s['cell']!r} has no numpy implementation (built in: {', '.join(NUMPY_CELLS)}); "
            f"load this model with zhseq.api, which runs it with torch"
        )
    if task == "sentiment":
        if s["pooling"] not in POOLINGS:
            raise ZhseqError(f"unknown pooling {s['pooling']!r}; choose one of: {', '.join(POOLINGS)}")
        if not isinstance(s["num_labels"], int) or s["num_labels"] < 2:
            raise ZhseqError("a classifier needs at least two labels")
        for name in ("ngram_buckets", "ngram_words", "ngram_chars"):
            if not isinstance(s[name], int) or isinstance(s[name], bool) or s[name] < 0:
                raise ZhseqError(f"config.json does not describe a {task} model: {name} is {s[name]!r}")
        if not isinstance(s["ngram_weight"], (int, float)) or not 0.0 <= s["ngram_weight"] <= 1.0:
            raise ZhseqError("ngram_buckets must be ≥ 0 and ngram_weight within 0 … 1")
    elif s["bidirectional"] and s["layers"] > 1:
        raise ZhseqError(STACKED_BIDIRECTIONAL_LM)
    return s


def expected_shapes(task: str, s: dict) -> dict:
    """Every tensor name in model.safetensors → its shape, as zhseq.modeling builds them."""
    V, E, H, L = s["vocab_size"], s["embedding_size"], s["hidden_size"], s["layers"]
    D = 2 if s["bidirectional"] else 1
    rows = GATES[s["cell"].removesuffix("-ref")] * H
    shapes = {"backbone.embedding.weight": (V, E)}
    for layer in range(L):
        width = E if layer == 0 else D * H
        for suffix in ("", "_reverse")[:D]:
            shapes[f"backbone.rnn.weight_ih_l{layer}{suffix}"] = (rows, width)
            shapes[f"backbone.rnn.weight_hh_l{layer}{suffix}"] = (rows, H)
            shapes[f"backbone.rnn.bias_ih_l{layer}{suffix}"] = (rows,)
            shapes[f"backbone.rnn.bias_hh_l{layer}{suffix}"] = (rows,)
    if task == "sentiment":
        shapes["classifier.weight"] = (s["num_labels"], D * H)
        shapes["classifier.bias"] = (s["num_labels"],)
        if s["ngram_buckets"]:
            shapes["ngrams.weight"] = (s["ngram_buckets"], s["num_labels"])
            shapes["ngrams.bias"] = (s["num_labels"],)
            shapes["ngrams.idf"] = (s["ngram_buckets"],)
    else:
        for name in ("projection", "projection_backward")[:D]:
            shapes[f"{name}.weight"] = (E, H)
            shapes[f"{name}.bias"] = (E,)
        shapes["out_bias"] = (V,)
    return shapes


class Int8Rows:
    """An int8 matrix with one float32 scale per row (an embedding saved with ``quantize=True``), kept so in
    memory: indexing by rows gives those rows in float32, ``np.asarray`` the whole matrix."""

    dtype = np.dtype(F32)

    def __init__(self, q: np.ndarray, scale: np.ndarray):
        self.q, self.scale, self.shape = q, scale.astype(F32, copy=False), q.shape

    def __getitem__(self, rows) -> np.ndarray:
        return self.q[rows].astype(F32) * self.scale[rows, None]

    def __array__(self, dtype=None, copy=None):
        return self[:].astype(dtype or F32, copy=False)


def load_weights(path: str | os.PathLike, shapes: dict, *, int8_rows: tuple = ()) -> dict:
    """``model.safetensors`` → {name: float32 array}, strictly the names and shapes in ``shapes``.

    Memory: an int8 tensor named in ``int8_rows`` stays an ``Int8Rows`` (its rows are widened as they are
    gathered), and the n-gram tables (``ngrams.*``) keep the float16 they are stored in; the products they
    take part in are float32 all the same."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = Path(path)
    try:
        raw = load_file(str(path))
    except TypeError:  # a dtype numpy does not have: bfloat16 (the file itself parsed)
        raw = _load_bfloat16(path)
    except (SafetensorError, OSError, ValueError) as e:
        raise ZhseqError(f"cannot read {path} (corrupt or truncated?): {e}") from None
    # int8 rows with their scales: those named in int8_rows stay int8, any other is widened now
    raw = dequantize(raw, lambda name, q, scale: Int8Rows(q, scale) if name in int8_rows else q * scale[:, None])
    missing, unexpected = sorted(set(shapes) - set(raw)), sorted(set(raw) - set(shapes))
    if missing or unexpected:
        what = (f"missing {', '.join(missing)}" if missing else "") + ("; " if missing and unexpected else "") + (
            f"unexpected {', '.join(unexpected)}" if unexpected else "")
        raise ZhseqError(f"{path} does not match its config.json: {what}")
    weights = {}
    for name, shape in shapes.items():
        a = raw[name]
        if a.shape != shape:
            raise ZhseqError(f"{path} does not match its config.json: {name} has shape {a.shape}, expected {shape}")
        if a.dtype.kind != "f":
            raise ZhseqError(f"{path}: {name} holds {a.dtype} values, not floating point")
        keep = isinstance(a, Int8Rows) or (name.startswith("ngrams.") and a.dtype == np.float16)
        weights[name] = a if keep else a.astype(F32, copy=False)
    return weights


_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "F64": np.dtype("<f8"), "BF16": np.dtype("<u2"),
           "I8": np.dtype("i1")}


def _load_bfloat16(path: Path) -> dict:
    """Read a safetensors file holding bfloat16 tensors (numpy has no bfloat16): the header is JSON after
    an 8-byte little-endian length; a bfloat16 is the upper half of a float32."""
    try:
        data = path.read_bytes()
        size = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + size])
        header.pop("__metadata__", None)
        out = {}
        for name, meta in header.items():
            dtype = _DTYPES.get(meta["dtype"])
            if dtype is None:
                raise ValueError(f"{name} has dtype {meta['dtype']}")
            start, stop = meta["data_offsets"]
            count = int(np.prod(meta["shape"], dtype=np.int64))
            if stop - start != count * dtype.itemsize or 8 + size + stop > len(data):
                raise ValueError(f"{name} has a bad extent")
            a = np.frombuffer(data, dtype=dtype, count=count, offset=8 + size + start).reshape(meta["shape"])
            out[name] = (a.astype(np.uint32) << 16).view(F32) if meta["dtype"] == "BF16" else a
        return out
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ZhseqError(f"cannot read {path}: {e}") from None


# -- the recurrent layers ---------------------------------------------------------------------------


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # = 1 / (1 + exp(-x)), never overflows


def _direction(kind, xp, batch, steps, live, start, w_hh_t, b_hn, reverse, rows=None):
    """One direction of one layer over a packed batch of ``batch`` rows, longest first.

    xp: (N, G·H) input projections of all real tokens, step-major; at step t the live rows are the
    batch's first ``live[t]`` rows, stored at ``xp[start[t] : start[t] + live[t]]``. LSTM gate blocks
    come in the order i, f, o, g here (see ``NumpyModel``), so one call squashes the three sigmoids.
    With ``rows`` (N,), token k's projection is ``xp[rows[k]]`` (one row per distinct word).
    ``w_hh_t``: the recurrent weights transposed, (H, G·H), contiguous.
    Returns the packed outputs (N, H) and the final state h (B, H) (zeros for empty rows)."""
    H = w_hh_t.shape[0]
    h = np.zeros((batch, H), F32)
    c = np.zeros((batch, H), F32) if kind == "lstm" else None
    out = np.empty((xp.shape[0] if rows is None else len(rows), H), F32)
    buf = np.empty((batch, w_hh_t.shape[1]), F32)
    for t in range(steps - 1, -1, -1) if reverse else range(steps):
        n, s = int(live[t]), int(start[t])
        hn = h[:n]
        hh = np.matmul(hn, w_hh_t, out=buf[:n])  # (n, G·H)
        x = xp[s : s + n] if rows is None else xp[rows[s : s + n]]
        if kind == "rnn":
            new = np.tanh(x + hh)
        elif kind == "lstm":
            gates = hh
            gates += x  # (n, 4H): i, f, o, g
            sig = gates[:, : 3 * H]
            sig *= 0.5  # sigmoid(x) = 0.5 tanh(x / 2) + 0.5, in place
            np.tanh(sig, out=sig)
            sig *= 0.5
            sig += 0.5
            g = gates[:, 3 * H :]
            np.tanh(g, out=g)
            cn = c[:n]
            cn *= gates[:, H : 2 * H]
            g *= gates[:, :H]
            cn += g
            new = np.tanh(cn)
            new *= gates[:, 2 * H : 3 * H]
        else:  # gru: b_hr and b_hz are folded into xp; b_hn stays inside r·(W_hn h + b_hn)
            r = _sigmoid(x[:, :H] + hh[:, :H])
            z = _sigmoid(x[:, H : 2 * H] + hh[:, H : 2 * H])
            cand = np.tanh(x[:, 2 * H :] + r * (hh[:, 2 * H :] + b_hn))
            new = (1.0 - z) * cand + z * hn
        h[:n] = new
        out[s : s + n] = new
    return out, h


def _lstm_gate_order(w: np.ndarray) -> np.ndarray:
    """torch's LSTM gate blocks i, f, g, o (first axis) → i, f, o, g."""
    i, f, g, o = np.split(w, 4)
    return np.concatenate([i, f, o, g])


class _Packed:
    """A batch sorted longest first, in step-major packed form (see the module docstring)."""

    def __init__(self, seqs: list[list[int]]):
        self.lengths = np.array([len(x) for x in seqs], dtype=np.int64)  # (B,), non-increasing
        self.steps = int(self.lengths[0]) if len(seqs) else 0
        padded = np.zeros((len(seqs), self.steps), dtype=np.int64)
        for row, x in zip(padded, seqs):
            row[: len(x)] = x
        self.mask = np.arange(self.steps)[:, None] < self.lengths[None, :]  # (T, B), True on real tokens
        self.live = self.mask.sum(1)  # (T,) rows still reading at each step
        self.start = np.concatenate([[0], np.cumsum(self.live)[:-1]]).astype(np.int64)
        self.ids = padded.T[self.mask]  # (N,) step-major

    def unpack(self, packed: np.ndarray, fill: float) -> np.ndarray:
        """(N, W) → (max(T, 1), B, W) with ``fill`` at padding."""
        buf = np.full((max(self.steps, 1), len(self.lengths), packed.shape[1]), fill, F32)
        buf[: self.steps][self.mask] = packed
        return buf


# -- the model ------------------------------------------------------------------------------------


class NumpyModel:
    """A model folder in numpy: weights, settings, vocabulary and tokenizer; the backbone and both heads.

    ``load_numpy_model`` returns the subclass for the folder's task (``NumpySentiment`` or
    ``NumpyNextWord``), which add the prediction methods of ``zhseq.api``."""

    task: str = ""
    token_budget = 16384  # rows × longest row per forward pass: bounds the working memory

    def __init__(self, config: dict, weights: dict, vocab: Vocab, tokenizer: Tokenizer, path=None):
        self.config = config
        self.settings = s = _settings(self.task, config)
        if len(vocab) != s["vocab_size"]:
            raise ZhseqError(f"vocabulary has {len(vocab)} tokens but the model expects {s['vocab_size']}")
        self.weights = weights
        self.vocab = vocab
        self.tokenizer = tokenizer
        self.path = Path(path) if path is not None else None
        self.kind = s["cell"].removesuffix("-ref")
        self.directions = 2 if s["bidirectional"] else 1
        H = s["hidden_size"]
        self._layers = []  # per layer, per direction: (W_ih (G·H, I), bias folded into xp (G·H,), W_hh.T, b_hn)
        for layer in range(s["layers"]):
            dirs = []
            for suffix in ("", "_reverse")[: self.directions]:
                w = {k: weights[f"backbone.rnn.{k}_l{layer}{suffix}"]
                     for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
                bias, b_hn = w["bias_ih"] + w["bias_hh"], None
                if self.kind == "gru":  # the reset gate scales W_hn h + b_hn, so b_hn cannot be folded
                    bias = np.concatenate([bias[: 2 * H], w["bias_ih"][2 * H :]])
                    b_hn = w["bias_hh"][2 * H :]
                w_ih, w_hh = w["weight_ih"], w["weight_hh"]
                if self.kind == "lstm":
                    w_ih, bias, w_hh = (_lstm_gate_order(a) for a in (w_ih, bias, w_hh))
                dirs.append((w_ih, bias, np.ascontiguousarray(w_hh.T), b_hn))
            self._layers.append(dirs)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | None = None):
        """Load a model folder (or a training output folder); ``None`` loads the shipped default."""
        if path is None:
            if not cls.task:
                raise ZhseqError("give a model folder")
            path = default_model_dir(cls.task)
        return load_numpy_model(path, task=cls.task or None)

    def encode(self, text: str) -> list[int]:
        return self.vocab.encode(self.tokenizer.cut(text))

    def __repr__(self) -> str:
        s = self.settings
        return (
            f"{type(self).__name__}(cell={s['cell']!r}, layers={s['layers']}, bidirectional={s['bidirectional']}, "
            f"vocab={len(self.vocab)}, path={str(self.path) if self.path else None!r})"
        )

    # -- forward ------------------------------------------------------------------------------------
    def _run(self, batch: _Packed):
        """Packed batch → last layer's packed outputs (N, D·H) and final states (B, D·H)."""
        # The first layer's input projection depends on the word alone: compute it once per distinct id
        # in the batch (a few thousand) instead of once per token, then gather.
        words, where = np.unique(batch.ids, return_inverse=True)
        x = self.weights["backbone.embedding.weight"][words]  # (U, E)
        for layer, dirs in enumerate(self._layers):
            outs, finals = [], []
            for d, (w_ih, bias, w_hh_t, b_hn) in enumerate(dirs):
                xp = x @ w_ih.T + bias  # every step's input projection in one matmul: (U or N, G·H)
                out, h = _direction(self.kind, xp, len(batch.lengths), batch.steps, batch.live, batch.start,
                                    w_hh_t, b_hn, reverse=d == 1, rows=where if layer == 0 else None)
                outs.append(out)
                finals.append(h)
            x = np.concatenate(outs, axis=1) if len(outs) > 1 else outs[0]  # (N, D·H)
        return x, np.concatenate(finals, axis=1) if len(finals) > 1 else finals[0]

    def _by_length(self, seqs: list[list[int]], fn, width: int) -> np.ndarray:
        """Apply ``fn`` (longest-first list of id lists → (b, width)) to length-sorted slices of ``seqs``
        of at most ``token_budget`` padded tokens; rows come back in input order."""
        order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))
        result = np.empty((len(seqs), width), F32)
        start = 0
        while start < len(order):
            stop = min(len(order), start + max(1, self.token_budget // max(1, len(seqs[order[start]]))))
            rows = order[start:stop]
            result[rows] = fn([seqs[i] for i in rows])
            start = stop
        return result

    def backbone(self, seqs: list[list[int]]):
        """Lists of ids → outputs (B, T, D·H) zero at padding, final (B, D·H), as ``Backbone`` returns
        for ``pad_batch(seqs)`` (T = the longest length, at least 1)."""
        width = self.directions * self.settings["hidden_size"]
        steps = max(1, max((len(x) for x in seqs), default=0))
        order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))
        batch = _Packed([seqs[i] for i in order])
        packed, final = self._run(batch)
        outputs = np.zeros((len(seqs), steps, width), F32)
        outputs[order, : max(batch.steps, 1)] = batch.unpack(packed, 0.0).transpose(1, 0, 2)
        finals = np.empty_like(final)
        finals[order] = final
        return outputs, finals


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(-1, keepdims=True)
    return z


class NumpySentiment(NumpyModel):
    """Text → {"label", "score"}, as ``zhseq.api.SentimentClassifier``."""

    task = "sentiment"

    def __init__(self, config: dict, weights: dict, vocab: Vocab, tokenizer: Tokenizer, path=None):
        check_labels(config.get("labels"), _settings(self.task, config)["num_labels"])
        super().__init__(config, weights, vocab, tokenizer, path)

    @property
    def labels(self) -> list[str]:
        return list(self.config["labels"])

    def logits(self, seqs: list[list[int]]) -> np.ndarray:
        """Lists of ids → (B, C) logits, as ``SentimentNet(*pad_batch(seqs))[0]``."""
        return self._by_length(seqs, self._logits_sorted, self.settings["num_labels"])

    def _logits_sorted(self, seqs):
        batch = _Packed(seqs)
        packed, final = self._run(batch)
        pooling = self.settings["pooling"]
        if pooling == "last":
            pooled = final  # (B, D·H)
        elif pooling == "mean":
            pooled = batch.unpack(packed, 0.0).sum(0) / np.maximum(batch.lengths, 1)[:, None].astype(F32)
        else:
            pooled = batch.unpack(packed, -np.inf).max(0)
            pooled[batch.lengths == 0] = 0.0  # empty text: zeros
        return pooled @ self.weights["classifier.weight"].T + self.weights["classifier.bias"]  # (B, C)

    def __call__(self, texts: str | Iterable[str], batch_size: int = 256, *, neutral_band: float = 0.0):
        if isinstance(texts, str):
            return next(self.predict_stream([texts], neutral_band=neutral_band))
        return list(self.predict_stream(texts, batch_size=batch_size, neutral_band=neutral_band))

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """(N, C) probabilities, columns in ``self.labels`` order: the network's, averaged with the n-gram
        half's when the model has one (``zhseq.ngrams``)."""
        s = self.settings
        tokens = [self.tokenizer.cut(t) for t in texts]
        probs = softmax(self.logits([truncate(self.vocab.encode(x), s["max_tokens"]) for x in tokens]))
        if s["ngram_buckets"] and s["ngram_weight"] > 0:
            w = self.weights
            z = ngrams.logits(tokens, w["ngrams.weight"], w["ngrams.bias"], w["ngrams.idf"], s["ngram_words"],
                              s["ngram_chars"])
            probs = ngrams.mix(probs, z, s["ngram_weight"])
        return probs

    def predict_stream(
        self, texts: Iterable[str], batch_size: int = 256, *, neutral_band: float = 0.0
    ) -> Iterator[dict]:
        """One result per text, in order, reading ``texts`` lazily; ``neutral_band`` as in
        ``SentimentClassifier.predict_stream``."""
        labels = self.labels
        positive = neutral_column(labels, neutral_band)
        for batch in batched(texts, max(1, batch_size)):
            for p in self.predict_proba(batch).tolist():
                yield sentiment_result(p, labels, positive, neutral_band)


class NumpyNextWord(NumpyModel):
    """Prefix → the most likely next words, as ``zhseq.api.NextWordPredictor.predict_next``."""

    task = "lm"

    def __init__(self, config: dict, weights: dict, vocab: Vocab, tokenizer: Tokenizer, path=None):
        super().__init__(config, weights, vocab, tokenizer, path)
        # a bidirectional language model predicts with its left-to-right half alone (one layer: _settings)
        self._layers = [dirs[:1] for dirs in self._layers]
        self.directions = 1

    def next_logits(self, seqs: list[list[int]]) -> np.ndarray:
        """Lists of ids → (B, V) logits for the word after each, as ``NextWordNet.next_logits``."""
        return self._by_length(seqs, self._next_logits_sorted, self.settings["vocab_size"])

    def _next_logits_sorted(self, seqs):
        _, final = self._run(_Packed(seqs))  # one direction: the state after each row's last token
        w = self.weights
        projected = final @ w["projection.weight"].T + w["projection.bias"]  # (B, E)
        return projected @ w["backbone.embedding.weight"].T + w["out_bias"]  # (B, V), tied to the embedding

    def _prefix_ids(self, prefix: str) -> list[int]:
        # as NextWordPredictor: <bos> and the last 4·bptt words
        return [BOS_ID] + self.encode(prefix)[-4 * self.settings["bptt"] :]

    def predict_next(self, prefix: str | list[str], k: int = 5, *, words_only: bool = False):
        """Top-k next words with their probabilities; never ``<unk>``, ``<pad>``, ``<bos>`` or ``<eos>``.
        ``words_only``: nor punctuation or symbols (tokens without a letter or digit)."""
        single = isinstance(prefix, str)
        prefixes = [prefix] if single else list(prefix)
        cache = self.__dict__.setdefault("_banned", {})  # a vocabulary of 30k words takes 10 ms to scan
        if words_only not in cache:
            cache[words_only] = banned_ids(self.vocab.itos, words_only)
        banned = cache[words_only]
        results = []
        for batch in batched(prefixes, 256):
            probs = softmax(self.next_logits([self._prefix_ids(p) for p in batch]))
            probs[:, banned] = 0.0
            n = top_k_size(k, probs.shape[1], len(banned))
            if n <= 0:
                results.extend([] for _ in batch)
                continue
            top = np.argpartition(-probs, n - 1, axis=1)[:, :n]  # (B, n), unordered
            vals = np.take_along_axis(probs, top, 1)
            rank = np.argsort(-vals, axis=1, kind="stable")
            top, vals = np.take_along_axis(top, rank, 1), np.take_along_axis(vals, rank, 1)
            itos = self.vocab.itos
            for vs, ids in zip(vals.tolist(), top.tolist()):
                results.append([{"token": itos[i], "score": round(v, 6)} for v, i in zip(vs, ids)])
        return results[0] if single else results


TASK_CLASSES = {"sentiment": NumpySentiment, "lm": NumpyNextWord}


def load_numpy_model(folder: str | os.PathLike, *, task: str | None = None) -> NumpyModel:
    """A model folder (or a training output folder) → ``NumpySentiment`` or ``NumpyNextWord``.

    ``task`` ("sentiment" or "lm"), when given, must match the folder's."""
    folder = resolve_model_dir(folder)
    config = read_config(folder)
    found = config.get("task")
    if task is not None and found != task:
        raise ZhseqError(f"{folder} holds a {found!r} model, not a {task!r} model")
    if found not in TASK_CLASSES:
        raise ZhseqError(f"unknown task {found!r} in {folder}; choose one of: {', '.join(TASK_CLASSES)}")
    settings = _settings(found, config)
    # a sentiment model only gathers embedding rows; an lm also multiplies by the whole matrix
    int8_rows = ("backbone.embedding.weight",) if found == "sentiment" else ()
    weights = load_weights(folder / WEIGHTS_NAME, expected_shapes(found, settings), int8_rows=int8_rows)
    vocab = Vocab.load(folder / VOCAB_NAME)
    tokenizer = Tokenizer.from_dict(config.get("tokenizer", {}))
    return TASK_CLASSES[found](config, weights, vocab, tokenizer, folder)


def load_predictor(path: str | os.PathLike | None = None, *, task: str):
    """The quickest way to run a model for prediction: numpy for the built-in cells, otherwise torch
    (``zhseq.api``, imported only then). ``path`` None is the default model installed with zhseq."""
    folder = resolve_model_dir(default_model_dir(task) if path is None else path)
    cell = (read_config(folder).get("backbone") or {}).get("cell")
    if cell in NUMPY_CELLS:
        return load_numpy_model(folder, task=task)
    from . import api

    return (api.SentimentClassifier if task == "sentiment" else api.NextWordPredictor).from_pretrained(folder)


# -- several processes ----------------------------------------------------------------------------

_WORKER_MODELS: dict = {}  # in a worker process: (folder, task) → the model it loaded


def _score_in_worker(folder: str, task: str, texts: list[str], options: dict) -> list:
    """One batch in a worker process; the model is loaded on the first batch and kept."""
    model = _WORKER_MODELS.get((folder, task))
    if model is None:
        model = _WORKER_MODELS[(folder, task)] = load_predictor(folder, task=task)
    if task == "sentiment":
        return list(model.predict_stream(texts, batch_size=max(1, len(texts)), **options))
    return model.predict_next(texts, **options)


def _start_worker() -> None:
    import signal

    from threadpoolctl import threadpool_limits

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent stops
    # the workers share the cores: a BLAS thread pool in each would only wait on the others (on 2 busy cores,
    # 2 workers of 2 threads each scored 20 times slower than 2 workers of 1)
    threadpool_limits(1)


def predict_in_processes(
    path: str | os.PathLike | None, texts: Iterable[str], *, task: str, workers: int, batch_size: int = 256, **options
) -> Iterator:
    """Score ``texts`` in ``workers`` processes, each loading the model in ``path`` once with
    ``load_predictor``: one result per text, in input order, as ``predict_stream`` (sentiment, options
    ``neutral_band``) or ``predict_next`` (lm, options ``k``, ``words_only``) give them for batches of ``batch_size``.

    ``texts`` is read lazily and at most 2 × ``workers`` batches are in flight, so memory stays flat;
    results come back in order even when a later batch finishes first. An error in a worker is raised
    here (a ``ZhseqError`` stays one); a worker that dies (killed, out of memory) is a ``ZhseqError``."""
    import collections
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    folder = str(resolve_model_dir(default_model_dir(task) if path is None else path))
    # spawn: a fresh interpreter per worker, safe whatever threads (BLAS, torch) this process runs
    pool = ProcessPoolExecutor(max(1, workers), mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_worker)
    pending: collections.deque = collections.deque()
    try:
        for batch in batched(texts, max(1, batch_size)):
            pending.append(pool.submit(_score_in_worker, folder, task, batch, options))
            if len(pending) >= 2 * workers:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
    except BrokenProcessPool:
        raise ZhseqError("a worker process stopped unexpectedly (killed, or out of memory?)") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
