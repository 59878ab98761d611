"""The two training tasks: texts → examples, batches, and a model's dev scores (accuracy or perplexity)."""

from __future__ import annotations

import math
import random
from typing import Sequence

import numpy as np
import torch

from ..api import pad_batch, truncate
from ..modeling import device_of, special_mask, to_device
from ..pipeline import sentiment_probabilities
from ..tokenizer import Tokenizer
from ..vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID, Vocab

Example = tuple  # (ids: list[int], target) — target is a label index or a list of next-token ids


# -- tasks: examples, batches, dev scores ---------------------------------------------------------
class SentimentTask:
    name = "sentiment"
    metric, greater_is_better = "accuracy", True
    # two epochs with the same dev accuracy (common on a small dev set: 25 texts score in steps of 4 %) are told
    # apart by the network's dev log loss, lower being better
    tie_metric = "log_loss"

    def __init__(self, tokenizer: Tokenizer, vocab: Vocab, labels: Sequence[str], max_tokens: int):
        self.tokenizer, self.vocab, self.labels, self.max_tokens = tokenizer, vocab, list(labels), max_tokens

    def examples(self, tokens: list[list[str]], labels: list[str]) -> list[Example]:
        index = {lab: i for i, lab in enumerate(self.labels)}
        return [(truncate(self.vocab.encode(t), self.max_tokens), index[y]) for t, y in zip(tokens, labels)]

    @staticmethod
    def collate(batch: list[Example]):
        ids, lengths = pad_batch([x for x, _ in batch])
        return ids, lengths, torch.tensor([y for _, y in batch], dtype=torch.long)

    def probabilities(self, net, examples: list[Example], batch_size: int = 256, tokens=None) -> np.ndarray:
        """(N, C) probabilities of the network; with the examples' ``tokens``, mixed with the model's
        n-gram half. The torch model gives the logits (on its device, in float32); the probabilities are the
        prediction pipeline's (``zhseq.pipeline.sentiment_probabilities``), so a dev score is what prediction
        would give."""
        logits = np.empty((len(examples), net.config.num_labels), np.float32)
        device = device_of(net)
        net.eval()
        with torch.inference_mode():
            for batch in _length_sorted_batches(examples, batch_size):
                ids, lengths, _ = self.collate([examples[i] for i in batch])
                logits[batch] = net(to_device(ids, device), lengths)[0].float().cpu().numpy()
        tables = net.ngrams.numpy() if tokens is not None and net.ngrams is not None else None
        return sentiment_probabilities(logits, tokens if tables is not None else [], net.config, tables)

    def evaluate(self, net, examples: list[Example], batch_size: int = 256, tokens=None) -> dict:
        return self.score(examples, self.probabilities(net, examples, batch_size, tokens))

    def score(self, examples: list[Example], probs: np.ndarray) -> dict:
        """``sentiment_metrics`` of the most likely label in each row of ``probs`` (N, C), and ``log_loss``: the
        mean of −ln p(gold label) (natural log; probabilities floored at 1e-12)."""
        gold = [y for _, y in examples]
        p = probs[np.arange(len(gold)), gold] if gold else np.ones(1)
        return {**sentiment_metrics(gold, probs.argmax(-1).tolist(), self.labels),
                "log_loss": float(-np.log(np.maximum(p, 1e-12)).mean())}


class LMTask:
    name = "lm"
    metric, greater_is_better = "perplexity", False
    tie_metric = None

    def __init__(self, tokenizer: Tokenizer, vocab: Vocab, bptt: int):
        self.tokenizer, self.vocab, self.bptt = tokenizer, vocab, bptt

    def examples(self, tokens: list[list[str]], labels=None) -> list[Example]:
        """Each paragraph → <bos> w1 … wn <eos>, cut into windows of ``bptt`` inputs with their next tokens."""
        out = []
        for t in tokens:
            seq = [BOS_ID] + self.vocab.encode(t) + [EOS_ID]
            for i in range(0, len(seq) - 1, self.bptt):
                chunk = seq[i : i + self.bptt + 1]
                out.append((chunk[:-1], chunk[1:]))
        return out

    @staticmethod
    def collate(batch: list[Example]):
        ids, lengths = pad_batch([x for x, _ in batch])
        targets, _ = pad_batch([y for _, y in batch])  # <pad> targets are ignored by the loss
        return ids, lengths, targets

    def evaluate(self, net, examples: list[Example], batch_size: int = 128, progress=None) -> dict:
        """Perplexity over every target (line ends included); top-1/top-5 over targets that are real words
        (not <unk> or <eos>), ranking only what ``predict-next`` may propose. On the model's device.
        ``progress``: called with the number of examples each batch scored."""
        # each batch holds (batch × bptt × vocabulary) logits: keep that near 256 MB whatever the vocabulary
        batch_size = max(1, min(batch_size, 2**26 // (self.bptt * len(self.vocab))))
        nll, n_tok, hits1, hits5, n_words = 0.0, 0, 0, 0, 0
        device = device_of(net)
        net.eval()
        with torch.inference_mode():
            for batch in _length_sorted_batches(examples, batch_size):
                ids, lengths, targets = self.collate([examples[i] for i in batch])
                ids, targets = to_device(ids, device), to_device(targets, device)
                logits, _ = net(ids, lengths, targets)  # (N, V) at real positions
                gold = targets[targets != PAD_ID]
                nll += float(torch.nn.functional.cross_entropy(logits, gold, reduction="sum"))
                n_tok += gold.numel()
                word = (gold != UNK_ID) & (gold != EOS_ID)
                never = special_mask(logits.size(1)).to(device)
                ranked = logits[word].masked_fill(never, float("-inf")).topk(5, -1).indices
                g = gold[word][:, None]
                hits1 += int((ranked[:, :1] == g).sum())
                hits5 += int((ranked == g).any(-1).sum())
                n_words += int(word.sum())
                if progress is not None:
                    progress(len(batch))
        mean = nll / max(1, n_tok)
        return {
            "perplexity": math.exp(min(mean, 50.0)),
            "loss": mean,
            "top1": hits1 / max(1, n_words),
            "top5": hits5 / max(1, n_words),
            "n_tokens": n_tok,
        }


def sentiment_metrics(y_true: list[int], y_pred: list[int], labels: list[str]) -> dict:
    """Accuracy, macro-F1, per-label precision/recall/F1/support and the confusion matrix (rows: true labels,
    columns: predicted) of label indices into ``labels`` (−1 in ``y_pred``: no label, always an error), by
    ``sklearn.metrics``. The per-label scores cover every label (one never predicted or never present scores
    0, not a warning); macro-F1 averages over the labels that are present or predicted, as scikit-learn does
    by default (a model label the data never holds and the model never predicts does not pull it down).
    Plain Python numbers, ready for JSON."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    index = list(range(len(labels)))
    if not y_true:  # scikit-learn refuses empty input
        zero = {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
        return {"n": 0, "accuracy": 0.0, "macro_f1": 0.0, "labels": list(labels),
                "per_label": {lab: dict(zero) for lab in labels}, "confusion_matrix": [[0] * len(index) for _ in index]}
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=index, zero_division=0)
    return {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=sorted(set(y_true) | set(y_pred) - {-1}), average="macro",
                                   zero_division=0)),
        "labels": list(labels),
        "per_label": {lab: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                            "support": int(support[i])} for i, lab in enumerate(labels)},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=index).tolist(),
    }


# -- batching -------------------------------------------------------------------------------------
def _length_sorted_batches(examples: list[Example], batch_size: int) -> list[list[int]]:
    order = sorted(range(len(examples)), key=lambda i: len(examples[i][0]))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def length_batches(lengths: list[int], batch_size: int, rng: random.Random, pool: int = 50) -> list[list[int]]:
    """Shuffled batches of similar lengths: shuffle, sort within pools of ``pool`` batches, shuffle batches.
    Less padding means less wasted work; the pools keep the order random enough for SGD."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches = []
    span = batch_size * pool
    for start in range(0, len(order), span):
        chunk = sorted(order[start : start + span], key=lengths.__getitem__)
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


