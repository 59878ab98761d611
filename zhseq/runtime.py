"""The numpy engine: the built-in cells and both heads' networks in numpy, from a model folder's weights.

    ids (lists) → packed, length-sorted batch → embedding → cell(s) → pooled / last state → logits

It is the engine of the prediction pipeline (``zhseq.pipeline``) for the cells ``rnn``, ``lstm``, ``gru``
and their ``-ref`` twins; a model with a cell of its own runs on the torch engine instead. It is zhseq's own
code because it is the product's speed lever: importing torch alone costs more than a whole prediction
(1.5 s and 220 MB), and the prediction commands never import it. It imports numpy, safetensors and
zhseq's torch-free modules only, and gives the torch models' results to float32 rounding (the tests hold it
to 1e-5 for every cell, direction, layer count and pooling).

- Loading: every tensor ``zhseq.modeling`` would build is required in ``model.safetensors`` with its exact
  shape, and nothing else (as torch's strict ``load_state_dict``); float16 is widened to float32.
- Cells: torch's parameter names and gate order (LSTM i, f, g, o; GRU r, z, n with
  n = tanh(W_in x + b_in + r·(W_hn h + b_hn))). Dropout is the identity at inference.
- Packed, time-major layout (torch's PackedSequence): a batch is sorted longest first, so at step t the rows
  still reading are a prefix ``[:n_t]``; all real tokens are stacked as (N, E) in step order. Each layer's
  input projection is one product over the batch's distinct words (first layer) or all N tokens; the loop
  over time multiplies only the live rows' states. Padding is never computed; empty rows keep zero states.
- Batches are cut by a token budget after sorting (rows × longest row ≤ ``token_budget``), so memory stays
  flat for long texts; results come back in input order.
- **A row's result does not depend on its batch**, to the bit: every product has its weights C-contiguous on
  the right and at least two rows on the left (BLAS's one-row kernel sums in another order), and everything
  else is row-wise. So batch size, ``--workers`` and the order of the input never change an answer.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .checkpoint import WEIGHTS_NAME, dequantize
from .config import NextWordConfig, SentimentConfig
from .errors import ZhseqError

GATES = {"rnn": 1, "gru": 3, "lstm": 4}  # gate blocks stacked in each weight, in torch's order
NUMPY_CELLS = ("rnn", "lstm", "gru", "rnn-ref", "lstm-ref", "gru-ref")

F32 = np.float32


def numpy_refusal(head: SentimentConfig | NextWordConfig) -> str | None:
    """Why the numpy engine cannot run this model, or None when it can."""
    cell = head.backbone.cell
    if cell not in NUMPY_CELLS:
        return f"cell {cell!r} has no numpy implementation (built in: {', '.join(NUMPY_CELLS)})"
    return None


def expected_shapes(head: SentimentConfig | NextWordConfig) -> dict:
    """Every tensor name in model.safetensors → its shape, as zhseq.modeling builds them."""
    bb = head.backbone
    V, E, H, L = bb.vocab_size, bb.embedding_size, bb.hidden_size, bb.layers
    D = 2 if bb.bidirectional else 1
    rows = GATES[bb.cell.removesuffix("-ref")] * H
    shapes = {"backbone.embedding.weight": (V, E)}
    for layer in range(L):
        width = E if layer == 0 else D * H
        for suffix in ("", "_reverse")[:D]:
            shapes[f"backbone.rnn.weight_ih_l{layer}{suffix}"] = (rows, width)
            shapes[f"backbone.rnn.weight_hh_l{layer}{suffix}"] = (rows, H)
            shapes[f"backbone.rnn.bias_ih_l{layer}{suffix}"] = (rows,)
            shapes[f"backbone.rnn.bias_hh_l{layer}{suffix}"] = (rows,)
    if isinstance(head, SentimentConfig):
        shapes["classifier.weight"] = (head.num_labels, D * H)
        shapes["classifier.bias"] = (head.num_labels,)
        if head.ngram_buckets:
            shapes["ngrams.weight"] = (head.ngram_buckets, head.num_labels)
            shapes["ngrams.bias"] = (head.num_labels,)
            shapes["ngrams.idf"] = (head.ngram_buckets,)
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
    take part in are float32 all the same. Raises ZhseqError for a corrupt file, a missing, extra or
    misshapen tensor, and a dtype numpy has no type for (bfloat16: load such a model with the torch engine)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = Path(path)
    try:
        raw = load_file(str(path))
    except TypeError:  # the header parsed, but a dtype has no numpy type: bfloat16
        raise ZhseqError(f"{path} holds bfloat16 tensors, which numpy cannot read; load it with "
                         "engine=\"torch\" or save it again as float32 or float16") from None
    except (SafetensorError, OSError, ValueError) as e:
        raise ZhseqError(f"cannot read {path} (corrupt or truncated?): {e}") from None
    # int8 rows with their scales: those named in int8_rows stay int8, any other is widened now
    raw = dequantize(raw, lambda name, q, scale: Int8Rows(q, scale) if name in int8_rows else q * scale[:, None])
    return checked_weights(raw, shapes, str(path))


def checked_weights(raw: dict, shapes: dict, source: str) -> dict:
    """``raw`` {name: array} → float32 arrays (int8 rows and float16 n-gram tables kept), strictly the names
    and shapes in ``shapes``; a ZhseqError naming ``source`` otherwise."""
    missing, unexpected = sorted(set(shapes) - set(raw)), sorted(set(raw) - set(shapes))
    if missing or unexpected:
        what = (f"missing {', '.join(missing)}" if missing else "") + ("; " if missing and unexpected else "") + (
            f"unexpected {', '.join(unexpected)}" if unexpected else "")
        raise ZhseqError(f"{source} does not match its config.json: {what}")
    weights = {}
    for name, shape in shapes.items():
        a = raw[name]
        if a.shape != shape:
            raise ZhseqError(f"{source} does not match its config.json: {name} has shape {a.shape}, expected {shape}")
        if a.dtype.kind != "f":
            raise ZhseqError(f"{source}: {name} holds {a.dtype} values, not floating point")
        keep = isinstance(a, Int8Rows) or (name.startswith("ngrams.") and a.dtype == np.float16)
        weights[name] = a if keep else a.astype(F32, copy=False)
    return weights


def matmul_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` (n, K) · (K, M), with each row's result independent of n: ``b`` must be C-contiguous, and a
    single row is multiplied beside a zero row (for one row BLAS takes a matrix-vector kernel, which sums in
    another order and would make a text's scores depend on the batch it came in)."""
    if a.shape[0] == 1:
        return np.matmul(np.concatenate([a, np.zeros_like(a)]), b)[:1]
    return np.matmul(a, b)


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
    h = np.zeros((max(batch, 2), H), F32)  # a spare zero row when the batch has one: see matmul_rows
    c = np.zeros((batch, H), F32) if kind == "lstm" else None
    out = np.empty((xp.shape[0] if rows is None else len(rows), H), F32)
    buf = np.empty((max(batch, 2), w_hh_t.shape[1]), F32)
    for t in range(steps - 1, -1, -1) if reverse else range(steps):
        n, s = int(live[t]), int(start[t])
        hn = h[:n]
        # (n, G·H); never one row alone (it would take BLAS's matrix-vector kernel): rows past n are discarded
        np.matmul(h[: max(n, 2)], w_hh_t, out=buf[: max(n, 2)])
        hh = buf[:n]
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


# -- the engine -----------------------------------------------------------------------------------


class NumpyEngine:
    """A model's network in numpy: ``sentiment_logits`` (B, C) or ``next_logits`` (B, V) for lists of ids.

    Built from a checked head config and its weights (``load`` for a folder, ``from_state`` for a torch
    model's state dict). A bidirectional language model predicts with its left-to-right half alone."""

    token_budget = 16384  # rows × longest row per forward pass: bounds the working memory

    def __init__(self, head: SentimentConfig | NextWordConfig, weights: dict):
        refusal = numpy_refusal(head)
        if refusal:
            raise ZhseqError(f"{refusal}; load this model with engine=\"torch\"")
        self.head, self.weights = head, weights
        bb = head.backbone
        self.kind = bb.cell.removesuffix("-ref")
        self.is_lm = isinstance(head, NextWordConfig)
        # a bidirectional language model predicts with its left-to-right half (one layer: NextWordConfig)
        self.directions = 1 if self.is_lm or not bb.bidirectional else 2
        H = bb.hidden_size
        self._layers = []  # per layer, per direction: (W_ih.T (I, G·H), bias folded into xp, W_hh.T, b_hn)
        for layer in range(bb.layers):
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
                dirs.append((_t(w_ih), bias, _t(w_hh), b_hn))
            self._layers.append(dirs)
        if self.is_lm:
            self._projection = (_t(weights["projection.weight"]), weights["projection.bias"])
        else:
            self._classifier = (np.asarray(weights["classifier.weight"], F32), weights["classifier.bias"])

    @classmethod
    def load(cls, folder: Path, head: SentimentConfig | NextWordConfig) -> "NumpyEngine":
        """The engine for a model folder whose config.json gave ``head``."""
        # a sentiment model only gathers embedding rows; an lm also multiplies by the whole matrix
        int8_rows = ("backbone.embedding.weight",) if isinstance(head, SentimentConfig) else ()
        return cls(head, load_weights(Path(folder) / WEIGHTS_NAME, expected_shapes(head), int8_rows=int8_rows))

    @classmethod
    def from_state(cls, head: SentimentConfig | NextWordConfig, state: dict) -> "NumpyEngine":
        """The engine for a torch model's current weights (``{name: float32 array}``, e.g. its state dict)."""
        return cls(head, checked_weights(state, expected_shapes(head), "the model"))

    def ngram_tables(self):
        """The n-gram half's (weight (buckets, C), bias (C,), idf (buckets,)), or None."""
        if self.is_lm or not self.head.ngram_buckets:
            return None
        w = self.weights
        return w["ngrams.weight"], w["ngrams.bias"], w["ngrams.idf"]

    # -- forward ------------------------------------------------------------------------------------
    def _run(self, batch: _Packed):
        """Packed batch → last layer's packed outputs (N, D·H) and final states (B, D·H)."""
        # The first layer's input projection depends on the word alone: compute it once per distinct id
        # in the batch (a few thousand) instead of once per token, then gather.
        words, where = np.unique(batch.ids, return_inverse=True)
        x = self.weights["backbone.embedding.weight"][words]  # (U, E)
        for layer, dirs in enumerate(self._layers):
            outs, finals = [], []
            for d, (w_ih_t, bias, w_hh_t, b_hn) in enumerate(dirs):
                xp = matmul_rows(x, w_ih_t) + bias  # every step's input projection at once: (U or N, G·H)
                out, h = _direction(self.kind, xp, len(batch.lengths), batch.steps, batch.live, batch.start,
                                    w_hh_t, b_hn, reverse=d == 1, rows=where if layer == 0 else None)
                outs.append(out)
                finals.append(h[: len(batch.lengths)])
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
        width = self.directions * self.head.backbone.hidden_size
        steps = max(1, max((len(x) for x in seqs), default=0))
        order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))
        batch = _Packed([seqs[i] for i in order])
        packed, final = self._run(batch)
        outputs = np.zeros((len(seqs), steps, width), F32)
        outputs[order, : max(batch.steps, 1)] = batch.unpack(packed, 0.0).transpose(1, 0, 2)
        finals = np.empty_like(final)
        finals[order] = final
        return outputs, finals

    def sentiment_logits(self, seqs: list[list[int]]) -> np.ndarray:
        """Lists of ids → (B, C) logits, as ``SentimentNet(*pad_batch(seqs))[0]``."""
        return self._by_length(seqs, self._sentiment_sorted, self.head.num_labels)

    def _sentiment_sorted(self, seqs):
        batch = _Packed(seqs)
        packed, final = self._run(batch)
        pooling = self.head.pooling
        if pooling == "last":
            pooled = final  # (B, D·H)
        elif pooling == "mean":
            pooled = batch.unpack(packed, 0.0).sum(0) / np.maximum(batch.lengths, 1)[:, None].astype(F32)
        else:
            pooled = batch.unpack(packed, -np.inf).max(0)
            pooled[batch.lengths == 0] = 0.0  # empty text: zeros
        weight, bias = self._classifier
        # C is small (2 labels): BLAS picks kernels by the matrix sizes, so a product would sum a row's C
        # dot products in an order that depends on B; numpy's row-wise sum does not
        return np.einsum("bh,ch->bc", pooled, weight, optimize=False) + bias  # (B, C)

    def next_logits(self, seqs: list[list[int]]) -> np.ndarray:
        """Lists of ids → (B, V) logits for the word after each, as ``NextWordNet.next_logits``."""
        return self._by_length(seqs, self._next_sorted, self.head.backbone.vocab_size)

    def _next_sorted(self, seqs):
        _, final = self._run(_Packed(seqs))  # one direction: the state after each row's last token
        weight_t, bias = self._projection
        projected = matmul_rows(final, weight_t) + bias  # (B, E)
        emb = np.asarray(self.weights["backbone.embedding.weight"])  # (V, E), tied to the output layer
        # (V, E) · (E, B) with the embedding on the left: each column (a row of the result) is independent
        # of B without a transposed copy of the embedding (15 MB for 30k words)
        logits = np.ascontiguousarray((emb @ _pad_rows(projected).T).T[: len(seqs)])
        logits += self.weights["out_bias"]
        return logits  # (B, V)


def _t(w: np.ndarray) -> np.ndarray:
    """A weight (out, in) → (in, out), C-contiguous, float32: the right operand of ``matmul_rows``."""
    return np.ascontiguousarray(np.asarray(w, dtype=F32).T)


def _pad_rows(a: np.ndarray) -> np.ndarray:
    return np.concatenate([a, np.zeros_like(a)]) if a.shape[0] == 1 else a
