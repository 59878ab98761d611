"""Training, fine-tuning and evaluation.

    corpus file(s) → zhseq.data (datasets) → Tokenizer.cut → Vocab.encode → examples
        → fit(): the one loop, which knows nothing about the task → out/model-best, out/model-last, out/metrics.json

A *task* object (``SentimentTask``, ``LMTask``) turns texts into examples, batches them and scores a model
on a dev set; ``fit`` only sees ``net(ids, lengths, targets) -> (logits, loss)`` and those callbacks.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from . import __version__, distributed
from . import ngrams as hashed_ngrams
from .api import NextWordPredictor, SentimentClassifier, ngram_logits, pad_batch, truncate
from .checkpoint import info  # noqa: F401  (part of this module's API: train, finetune, evaluate, info)
from .checkpoint import (
    BEST_DIR,
    CONFIG_NAME,
    LAST_DIR,
    METRICS_NAME,
    VOCAB_NAME,
    load_weights,
    read_config,
    resolve_model_dir,
    save_model,
    write_json,
)
from .data import read_labelled, read_lm_texts
from .trainstate import clear_state, load_state
from .errors import STACKED_BIDIRECTIONAL_LM, ZhseqError
from .optim import AdamW, LambdaSchedule, lbfgs
from .modeling import BackboneConfig, NextWordConfig, NextWordNet, SentimentConfig, SentimentNet, build_model, special_mask
from .tokenizer import Tokenizer
from .vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID, Vocab

Example = tuple  # (ids: list[int], target) — target is a label index or a list of next-token ids
CURVES_NAME = "learning_curves.png"  # beside METRICS_NAME, drawn from it when matplotlib is installed


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _quiet(msg: str) -> None:
    pass


# -- tasks: examples, batches, dev scores ---------------------------------------------------------
class SentimentTask:
    name = "sentiment"
    metric, greater_is_better = "accuracy", True

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
        n-gram half as prediction does (``zhseq.ngrams.mix``)."""
        probs = np.empty((len(examples), net.config.num_labels), np.float32)
        net.eval()
        with torch.inference_mode():
            for batch in _length_sorted_batches(examples, batch_size):
                ids, lengths, _ = self.collate([examples[i] for i in batch])
                logits, _ = net(ids, lengths)
                probs[batch] = logits.float().softmax(-1).numpy()
        if tokens is not None and net.ngrams is not None and net.config.ngram_weight > 0:
            probs = hashed_ngrams.mix(probs, ngram_logits(net, tokens), net.config.ngram_weight)
        return probs

    def evaluate(self, net, examples: list[Example], batch_size: int = 256, tokens=None) -> dict:
        return self.score(examples, self.probabilities(net, examples, batch_size, tokens))

    def score(self, examples: list[Example], probs: np.ndarray) -> dict:
        """``sentiment_metrics`` of the most likely label in each row of ``probs`` (N, C)."""
        return sentiment_metrics([y for _, y in examples], probs.argmax(-1).tolist(), self.labels)


class LMTask:
    name = "lm"
    metric, greater_is_better = "perplexity", False

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

    def evaluate(self, net, examples: list[Example], batch_size: int = 128) -> dict:
        """Perplexity over every target (line ends included); top-1/top-5 over targets that are real words
        (not <unk> or <eos>), ranking only what ``predict-next`` may propose."""
        # each batch holds (batch × bptt × vocabulary) logits: keep that near 256 MB whatever the vocabulary
        batch_size = max(1, min(batch_size, 2**26 // (self.bptt * len(self.vocab))))
        nll, n_tok, hits1, hits5, n_words = 0.0, 0, 0, 0, 0
        net.eval()
        with torch.inference_mode():
            for batch in _length_sorted_batches(examples, batch_size):
                ids, lengths, targets = self.collate([examples[i] for i in batch])
                logits, _ = net(ids, lengths, targets)  # (N, V) at real positions
                gold = targets[targets != PAD_ID]
                nll += float(torch.nn.functional.cross_entropy(logits, gold, reduction="sum"))
                n_tok += gold.numel()
                word = (gold != UNK_ID) & (gold != EOS_ID)
                ranked = logits[word].masked_fill(special_mask(logits.size(1)), float("-inf")).topk(5, -1).indices
                g = gold[word][:, None]
                hits1 += int((ranked[:, :1] == g).sum())
                hits5 += int((ranked == g).any(-1).sum())
                n_words += int(word.sum())
        mean = nll / max(1, n_tok)
        return {
            "perplexity": math.exp(min(mean, 50.0)),
            "loss": mean,
            "top1": hits1 / max(1, n_words),
            "top5": hits5 / max(1, n_words),
            "n_tokens": n_tok,
        }


# -- the n-gram half of a sentiment model (zhseq.ngrams) ---------------------------------------------
NGRAM_C = 16.0  # inverse L2 strength, as scikit-learn's LogisticRegression(C=...)
NGRAM_NB = 0.5  # power of the naive-Bayes ratio each n-gram column is scaled by before the fit (0: none)
NGRAM_WEIGHTS = tuple(i / 10 for i in range(11))  # mixing weights tried on the dev set


def nb_scale(doc: np.ndarray, column: np.ndarray, targets, columns: int, classes: int, power: float,
             alpha: float = 1.0) -> np.ndarray:
    """(columns,) float64 naive-Bayes scale of each feature column, as NBSVM (Wang & Manning, 2012) uses it:
    with p_k the smoothed share of class k's texts that hold the feature (``alpha`` added to every count,
    normalised over the columns), the scale is (max_k ln p_k − min_k ln p_k) ** ``power``: for two labels,
    |ln(p_pos / p_neg)| ** power. ``doc``, ``column``: one entry per (text, column) pair that is non-zero."""
    y = np.asarray(targets, np.int64)[doc]
    df = np.stack([np.bincount(column[y == k], minlength=columns) for k in range(classes)]) + alpha  # (K, A)
    log_p = np.log(df / df.sum(1, keepdims=True))
    return (log_p.max(0) - log_p.min(0)) ** power


def fit_ngrams(net, tokens: list[list[str]], targets: list[int], *, c: float = NGRAM_C, nb: float = NGRAM_NB,
               say=log) -> dict:
    """Fit ``net.ngrams`` on the training texts: their idf, then L2-regularised logistic regression over
    their TF-IDF n-grams, full batch with L-BFGS. The objective is scikit-learn's ``LogisticRegression(C=c)``
    (multinomial): C · Σ cross-entropy + ½ ‖W‖², here divided by C · N.

    With ``nb`` > 0, each column is first multiplied by its naive-Bayes scale (``nb_scale`` with power
    ``nb``), as NBSVM does, and the fitted weights by the same scale, so the table holds weights for the plain
    TF-IDF values and prediction is unchanged. In effect, n-grams that lean to one label are regularised
    less. On ChnSentiCorp the n-gram half alone gains about a point over plain TF-IDF, and the standard
    protocol 0.3 to 0.9 points (bench/quality.md)."""
    import warnings

    cfg = net.config
    B, K, N = cfg.ngram_buckets, cfg.num_labels, len(tokens)
    t0 = time.perf_counter()
    doc, bucket, count = hashed_ngrams.ngram_counts(tokens, B, cfg.ngram_words, cfg.ngram_chars)
    idf = hashed_ngrams.fit_idf(bucket, N, B)
    value = hashed_ngrams.tfidf(doc, bucket, count, idf, N)
    keep = value != 0  # features too rare to have an idf
    doc, bucket, value = doc[keep], bucket[keep], value[keep]  # sorted by doc, then bucket: CSR order
    # only buckets with an idf can get a weight: fit over those A columns (fewer than half of B, so
    # L-BFGS's vector work shrinks as much)
    active = np.flatnonzero(idf)
    column = np.zeros(B, np.int64)
    column[active] = np.arange(len(active))
    bucket, A = column[bucket], len(active)
    scale = nb_scale(doc, bucket, targets, A, K, nb) if nb > 0 else np.ones(A)
    value = (value * scale[bucket]).astype(np.float32)
    by_bucket = np.argsort(bucket, kind="stable")  # the transpose's order: by column, then doc

    def csr(rows, cols, vals, shape):
        starts = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=shape[0]))])
        return torch.sparse_csr_tensor(torch.from_numpy(starts), torch.from_numpy(cols), torch.from_numpy(vals),
                                       shape, check_invariants=False)

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ss]parse")  # "CSR support is in beta" and the like
        x = csr(doc, bucket, value, (N, A))  # (N, A)
        x_t = csr(bucket[by_bucket], doc[by_bucket], value[by_bucket], (A, N))  # (A, N)
    y, rows, l2 = torch.tensor(targets), torch.arange(N), 1.0 / (c * N)
    params = torch.zeros(A * K + K)  # W (A, K) then b (K,), as one vector for L-BFGS

    def loss_and_grad(flat):  # written out: X is sparse
        w, b = flat[: A * K].view(A, K), flat[A * K :]
        logp = (x @ w + b).log_softmax(-1)  # (N, K)
        loss = float(-logp[rows, y].mean() + 0.5 * l2 * (w * w).sum())
        grad = logp.exp()
        grad[rows, y] -= 1.0
        grad /= N
        return loss, torch.cat([(x_t @ grad + l2 * w).reshape(-1), grad.sum(0)])

    with torch.no_grad():
        calls = lbfgs(loss_and_grad, params, max_iter=300, history_size=20, tolerance_grad=1e-6,
                      tolerance_change=1e-9)
        loss, _ = loss_and_grad(params)  # at the solution
    table = net.ngrams
    with torch.no_grad():
        table.weight.zero_()
        table.weight[torch.from_numpy(active)] = params[: A * K].view(A, K) * torch.from_numpy(scale).float()[:, None]
        table.bias.copy_(params[A * K :])
        table.idf.copy_(torch.from_numpy(idf))
    seconds = time.perf_counter() - t0
    say(f"n-grams: logistic regression over {len(value)} TF-IDF values of {N} texts ({A} buckets), C {c}, "
        f"naive-Bayes power {nb}: loss {loss:.4f} after {calls} evaluations, {seconds:.1f} s")
    return {"c": c, "nb": nb, "buckets": B, "loss": loss, "evaluations": calls, "seconds": round(seconds, 2)}


def _choose_ngram_weight(folder: Path, task: "SentimentTask", dev_examples, z, p_rnn=None, say=log) -> dict:
    """Pick the saved model's mixing weight on the dev set (the best accuracy; on a tie, the weight
    nearest 0.5) and write it, with the mixed model's dev scores, into its config.json. No dev set: 0.5.
    ``z``: the n-gram half's dev logits; ``p_rnn``: the network's dev probabilities, if the loop kept them
    (else the saved network is loaded and run)."""
    config = read_config(folder)
    if not dev_examples:
        config["head"]["ngram_weight"] = 0.5
        write_json(folder / CONFIG_NAME, config)
        return {"weight": 0.5}
    if p_rnn is None:
        net = build_model("sentiment", config)
        load_weights(net, folder)
        p_rnn = task.probabilities(net, dev_examples)
    mixed = {w: hashed_ngrams.mix(p_rnn, z, w) for w in NGRAM_WEIGHTS}
    scores = {w: task.score(dev_examples, p) for w, p in mixed.items()}
    accuracy = {w: s["accuracy"] for w, s in scores.items()}
    best = max(NGRAM_WEIGHTS, key=lambda w: (accuracy[w], -abs(w - 0.5)))
    config["head"]["ngram_weight"] = best
    config["dev_scores"] = scores[best]
    write_json(folder / CONFIG_NAME, config)
    found = {"weight": best, "dev_accuracy": {"network": accuracy[0.0], "ngrams": accuracy[1.0],
                                              "mixed": accuracy[best]}}
    say(f"{folder.name}: n-gram weight {best} on dev: accuracy {accuracy[0.0]:.4f} (network), "
        f"{accuracy[1.0]:.4f} (n-grams), {accuracy[best]:.4f} (both)")
    return found


def sentiment_metrics(y_true: list[int], y_pred: list[int], labels: list[str]) -> dict:
    """Accuracy, macro-F1, per-label precision/recall/F1 and the confusion matrix (rows: true labels).
    The same numbers as scikit-learn's metrics (a test checks), without its second of import time."""
    k = len(labels)
    confusion = [[0] * k for _ in range(k)]
    for t, p in zip(y_true, y_pred):
        confusion[t][p] += 1
    per_label, f1s = {}, []
    for i, lab in enumerate(labels):
        tp = confusion[i][i]
        predicted = sum(row[i] for row in confusion)
        support = sum(confusion[i])
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[lab] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
        f1s.append(f1)
    n = len(y_true)
    return {
        "n": n,
        "accuracy": sum(confusion[i][i] for i in range(k)) / n if n else 0.0,
        "macro_f1": sum(f1s) / k,
        "labels": list(labels),
        "per_label": per_label,
        "confusion_matrix": confusion,
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


# -- the loop -------------------------------------------------------------------------------------
@dataclass
class FitConfig:
    epochs: int = 5
    max_steps: int | None = None
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.01
    clip: float = 1.0
    warmup: float = 0.05  # fraction of steps with a linearly rising learning rate, then linear decay to 0
    seed: int = 0
    patience: int = 2  # epochs without a better dev score before stopping
    checkpoint_every: int = 500  # steps between resumable checkpoints (also one after every epoch)
    precision: str = "fp32"  # "bf16": the lstm kernel's matrix products in bfloat16 (zhseq.kernels)
    progress: bool = True


def fit(net: torch.nn.Module, examples: list[Example], *, config: "FitConfig", **kwargs) -> list[dict]:
    """Train ``net`` (``forward(ids, lengths, targets) -> (logits, loss)``) on ``examples``.

    AdamW, gradient clipping, linear warm-up and decay, seeded shuffling; after each epoch ``evaluate``
    scores the model on dev data, ``on_best`` is called when ``metric`` improves (without ``evaluate``,
    every epoch counts as best), ``on_epoch`` gets the history so far, and training stops early after
    ``patience`` epochs without improvement. Returns the per-epoch history.

    With ``state_dir``, a resumable checkpoint (``zhseq.trainstate``) is written every
    ``config.checkpoint_every`` steps and after every epoch; ``resume`` (a loaded checkpoint) continues
    exactly where it was written: same batches, same random draws, so the same final weights.

    Under torchrun (``zhseq.distributed``) every process calls ``fit`` with the same examples and trains
    on its share of each epoch's batches through DDP; one step is one synchronised update. Process 0
    alone evaluates (its scores are broadcast), shows progress and writes checkpoints; pass the
    callbacks that write files only there.

    ``config.precision`` sets the lstm training kernel's matrix products (``zhseq.kernels``) for this run."""
    from . import kernels

    before = kernels.get_precision()
    try:
        kernels.set_precision(config.precision)
    except ValueError as exc:
        raise ZhseqError(str(exc)) from None
    try:
        return _fit(net, examples, config=config, **kwargs)
    finally:
        kernels.set_precision(before)


def _fit(
    net: torch.nn.Module,
    examples: list[Example],
    *,
    collate: Callable,
    config: FitConfig,
    evaluate: Callable[[torch.nn.Module], dict] | None = None,
    metric: str = "loss",
    greater_is_better: bool = False,
    on_best: Callable[[dict], None] | None = None,
    on_epoch: Callable[[list[dict]], None] | None = None,
    state_dir: Path | None = None,
    resume: dict | None = None,
    fingerprint: dict | None = None,
) -> list[dict]:
    from tqdm import tqdm

    from .trainstate import restore, save_state

    if not examples:
        raise ZhseqError("nothing to train on: the corpus gave no examples")
    world, rank, main = distributed.world(), distributed.rank(), distributed.is_main()
    torch.manual_seed(config.seed + rank)  # dropout draws: process r its own, process 0 as a single process
    rng = random.Random(config.seed)  # the batch order: the same in every process
    steps_per_epoch = math.ceil(len(examples) / config.batch_size) // world
    if steps_per_epoch == 0:
        raise ZhseqError(f"{len(examples)} examples make fewer batches of {config.batch_size} than there are "
                         f"processes ({world}): use a smaller --batch-size or fewer processes")
    total = config.epochs * steps_per_epoch
    if config.max_steps:
        total = min(total, config.max_steps)
    warm = max(1, int(config.warmup * total))
    optimizer = AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = LambdaSchedule(optimizer, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))
    lengths = [len(x) for x, _ in examples]
    # what a checkpoint must bring back besides the tensors
    loop = {"step": 0, "epoch": 1, "batches_done": 0, "rng_epoch_start": None, "history": [], "best": None,
            "bad_epochs": 0, "loss_sum": 0.0, "n_batches": 0, "fingerprint": fingerprint}
    if resume is not None:
        restore(resume, net=net, optimizer=optimizer, schedule=schedule, rank=rank)
        loop.update(resume["loop"])
    model = distributed.wrap(net)  # training steps only; evaluation and saving use net itself
    history = loop["history"]
    show = config.progress and main
    bar = tqdm(total=total, initial=loop["step"], disable=not show, file=sys.stderr, unit="step",
               dynamic_ncols=True)
    say = (lambda msg: bar.write(msg, file=sys.stderr)) if show else _quiet

    def checkpoint() -> None:
        if state_dir is None:
            return
        # the loss so far becomes its mean over the processes, so process 0's checkpoint holds the run's
        rng_states = distributed.gather(torch.get_rng_state())
        loop["loss_sum"] = distributed.all_sum([loop["loss_sum"]])[0] / world
        if main:
            save_state(state_dir, net=net, optimizer=optimizer, schedule=schedule, loop=loop, rng_states=rng_states)

    step = loop["step"]
    finished = step >= total
    for epoch in range(loop["epoch"], config.epochs + 1):
        if finished:
            break
        if loop["rng_epoch_start"] is not None:  # resuming: the shuffle this epoch had or will have
            rng.setstate(_rng_state(loop["rng_epoch_start"]))
        loop.update(epoch=epoch, rng_epoch_start=rng.getstate())
        batches = distributed.shard(length_batches(lengths, config.batch_size, rng))
        model.train()
        t0, tokens = time.perf_counter(), 0
        for batch in batches[loop["batches_done"]:]:
            ids, lens, targets = collate([examples[i] for i in batch])
            _, loss = model(ids, lens, targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), config.clip)
            optimizer.step()
            schedule.step()
            step += 1
            loop.update(step=step, batches_done=loop["batches_done"] + 1, n_batches=loop["n_batches"] + 1,
                        loss_sum=loop["loss_sum"] + loss.detach().item())
            tokens += int(lens.sum())
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{loop['loss_sum'] / loop['n_batches']:.4f}", refresh=False)
            if step >= total:
                break
            if config.checkpoint_every and step % config.checkpoint_every == 0:
                checkpoint()
        finished = step >= total
        seconds = time.perf_counter() - t0
        loss_sum, tokens = distributed.all_sum([loop["loss_sum"], tokens])  # over the processes
        record = {
            "epoch": epoch,
            "step": step,
            "train_loss": loss_sum / world / max(1, loop["n_batches"]),
            "lr": schedule.get_last_lr()[0],
            "seconds": round(seconds, 3),
            "tokens_per_s": round(tokens / max(seconds, 1e-9)),
        }
        if evaluate is not None:
            # scored once, in process 0: every process takes the same early-stopping decision
            record["dev"] = distributed.broadcast(evaluate(net) if main else None)
            score = record["dev"][metric]
            best = loop["best"]
            improved = best is None or (score > best if greater_is_better else score < best)
            say(f"epoch {epoch}: train loss {record['train_loss']:.4f}, dev {metric} {score:.4f}"
                + (" (best)" if improved else ""))
        else:
            improved = True
            say(f"epoch {epoch}: train loss {record['train_loss']:.4f}")
        record["best"] = improved
        history.append(record)
        if improved:
            loop.update(best=record["dev"][metric] if evaluate is not None else None, bad_epochs=0)
            if on_best is not None:
                on_best(record)
        else:
            loop["bad_epochs"] += 1
        if on_epoch is not None:
            on_epoch(history)
        stop = loop["bad_epochs"] >= config.patience
        # the next epoch starts from the generator's state as it is now
        loop.update(epoch=epoch + 1, batches_done=0, rng_epoch_start=rng.getstate(), loss_sum=0.0, n_batches=0)
        if not (finished or stop):
            checkpoint()
        if stop:
            say(f"early stop: no better dev {metric} for {loop['bad_epochs']} epochs")
            break
    bar.close()
    return history


def _rng_state(saved) -> tuple:
    """random.Random state from its JSON form (lists) back to the tuples ``setstate`` wants."""
    version, internal, gauss = saved
    return (version, tuple(internal), gauss)


# -- train / finetune -----------------------------------------------------------------------------
def _as_list(data) -> list[str]:
    return [data] if isinstance(data, (str, os.PathLike)) else [str(d) for d in data]


def _label_order(labels: list[str]) -> list[str]:
    found = sorted(set(labels))
    if len(found) < 2:
        raise ZhseqError(f"a classifier needs at least two labels; the training data has only {found}")
    return found


def _read_task_data(task: str, paths, text_column, label_column):
    """→ (texts, labels or None)."""
    if task == "sentiment":
        d = read_labelled(_as_list(paths), text_column=text_column, label_column=label_column, require_labels=True)
        return d["texts"], d["labels"]
    return read_lm_texts(_as_list(paths), text_column=text_column), None


def _holdout(texts, labels, seed: int, say=log):
    """No --dev given: keep back 5% (at most 2,000 texts) as dev, chosen with the seed."""
    n = len(texts)
    k = min(2000, n // 20)
    if k < 10:
        return (texts, labels), None
    order = list(range(n))
    random.Random(seed).shuffle(order)
    dev, train = sorted(order[:k]), sorted(order[k:])
    pick = lambda xs, idx: None if xs is None else [xs[i] for i in idx]  # noqa: E731
    say(f"no --dev given: holding out {k} of {n} training texts as the dev set")
    return (pick(texts, train), pick(labels, train)), (pick(texts, dev), pick(labels, dev))


def _prepare_out(out: Path, resume: bool = False, say=log) -> bool:
    """Refuse to mix a new run into a folder that holds something else; True if this run created it.
    With ``resume``, a folder holding an unfinished run's checkpoint is taken as it is."""
    from .trainstate import STATE_DIR

    if resume and out.is_dir():
        if (out / STATE_DIR / "latest.json").is_file():
            return False
        if (out / LAST_DIR).exists():
            raise ZhseqError(f"--out {out} holds a finished run: nothing to resume")
        leftovers = [p for p in out.iterdir() if p.name in (BEST_DIR, METRICS_NAME, CURVES_NAME, STATE_DIR)]
        if leftovers:
            say(f"no checkpoint to resume in {out}: starting from the beginning")
            for p in leftovers:
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    if out.exists():
        if not out.is_dir():
            raise ZhseqError(f"--out {out} is a file")
        if (out / CONFIG_NAME).exists():
            raise ZhseqError(f"--out {out} already holds a model; choose another folder")
        if (out / BEST_DIR).exists() or (out / LAST_DIR).exists():
            # a failed run cleans up what it wrote, so an earlier run's models here would be lost
            raise ZhseqError(f"--out {out} already holds a trained model ({BEST_DIR}/); choose another folder")
        strays = [p.name for p in out.iterdir()]
        if strays:
            raise ZhseqError(f"--out {out} is not empty ({strays[0]} …); choose a new or empty folder")
        return False
    out.mkdir(parents=True)
    return True


def _run(
    *, task, net, vocab, tokenizer, labels, train_data, dev_data, out, fit_config: FitConfig, recipe: dict, say=log,
    resume: bool = False, ngram_data=None,
) -> Path:
    """Shared by train and finetune: examples → fit → model-best / model-last / metrics.json (+ its plot).
    ``ngram_data`` (tokens, labels): what a sentiment model's n-gram half is fitted on, if not the training data.
    In a multi-process run only process 0 writes; the others return once it has."""
    if task == "sentiment":
        t = SentimentTask(tokenizer, vocab, labels, net.config.max_tokens)
    else:
        t = LMTask(tokenizer, vocab, net.config.bptt)
    train_tokens = train_data[0]
    examples = t.examples(train_tokens, train_data[1])
    dev_examples = t.examples(*dev_data) if dev_data is not None else None
    config = {
        "zhseq_version": __version__,
        "task": task,
        **net.config.to_dict(),
        "labels": list(labels) if labels else None,
        "tokenizer": tokenizer.to_dict(),
        "training": recipe,
    }

    def save(folder: str, record: dict | None) -> None:
        scores = record.get("dev") if record else None
        save_model(out / folder, config={**config, "dev_scores": scores}, module=net, vocab=vocab)

    ngram_info = None
    if task == "sentiment" and net.ngrams is not None and distributed.is_main():
        # before the loop, so every model it saves holds the table; the loop never changes it
        if ngram_data is None:
            ngram_tokens, ngram_targets = train_tokens, [y for _, y in examples]
        else:
            index = {label: i for i, label in enumerate(labels)}
            ngram_tokens, ngram_targets = ngram_data[0], [index[y] for y in ngram_data[1]]
        # train and finetune put both settings in the recipe (finetune: the base model's)
        ngram_info = fit_ngrams(net, ngram_tokens, ngram_targets, c=recipe["ngram_c"], nb=recipe["ngram_nb"],
                                say=say)

    def metrics(history: list[dict]) -> dict:
        return {"task": task, "metric": t.metric, "epochs": history,
                **({"ngrams": ngram_info} if ngram_info else {})}

    # a checkpoint may only continue the run that wrote it
    fingerprint = json.loads(json.dumps({"recipe": recipe, "examples": len(examples), "vocab": len(vocab),
                                         "labels": config["labels"], "model": net.config.to_dict()}))
    main = distributed.is_main()
    state = distributed.on_main(lambda: load_state(out)) if resume else None  # read on process 0's disk
    if state is not None:
        saved = state["loop"].get("fingerprint") or {}
        changed = sorted(k for k in fingerprint.keys() | saved.keys() if fingerprint.get(k) != saved.get(k))
        if changed:
            raise ZhseqError(f"the checkpoint in {out} was written by a different run ({', '.join(changed)} "
                             "differ); rerun the same command, or start afresh in a new --out")
        say(f"resuming from the checkpoint at step {state['loop']['step']} (epoch {state['loop']['epoch']})")

    dev_probs: dict = {}  # sentiment: the network's dev probabilities, last epoch and best, for the n-gram mix

    def evaluate(m) -> dict:
        if task != "sentiment":
            return t.evaluate(m, dev_examples)
        dev_probs["last"] = p = t.probabilities(m, dev_examples)
        return t.score(dev_examples, p)

    def on_best(record: dict) -> None:
        dev_probs["best"] = dev_probs.get("last")
        save(BEST_DIR, record)

    history = fit(
        net,
        examples,
        collate=t.collate,
        config=fit_config,
        evaluate=evaluate if dev_examples else None,
        metric=t.metric,
        greater_is_better=t.greater_is_better,
        on_best=on_best if main else None,
        on_epoch=(lambda h: write_json(out / METRICS_NAME, metrics(h))) if main else None,
        state_dir=out,
        resume=state,
        fingerprint=fingerprint,
    )
    if main:
        save(LAST_DIR, history[-1])
        if ngram_info is not None:
            z = ngram_logits(net, dev_data[0]) if dev_examples else None
            # after a resume, the epochs before it left no probabilities: those models are run again
            for folder, key in ((BEST_DIR, "best"), (LAST_DIR, "last")):
                ngram_info[folder] = _choose_ngram_weight(out / folder, t, dev_examples, z, dev_probs.get(key), say)
            write_json(out / METRICS_NAME, metrics(history))
        clear_state(out)  # the run is complete: its models replace the checkpoint
        _draw_curves(metrics(history), out / CURVES_NAME, say)
        best = [h for h in history if h["best"]][-1]
        say(f"best model (epoch {best['epoch']}) saved to {out / BEST_DIR}")
    distributed.barrier()  # every process returns a finished model
    return out / BEST_DIR


def _draw_curves(metrics: dict, path: Path, say=log) -> None:
    from . import plots

    if not plots.available():
        say(f"learning curves not drawn: {plots.INSTALL_HINT}")
        return
    try:
        plots.learning_curves(metrics, path)
    except Exception as exc:  # the trained model is saved; a failed picture must not discard it
        log(f"learning curves not drawn: {exc}")
    else:
        say(f"learning curves drawn to {path}")


def _guarded(out: Path, body: Callable[[], Path], resume: bool = False, say=log) -> Path:
    """Run ``body``; if it fails, leave no half-made output folder behind. A checkpoint survives an
    interruption (Ctrl-C) and any failure of a resumed run, so ``--resume`` can still continue it.
    Under torchrun, this is where every process joins the run, and process 0 alone owns ``out``."""
    from .trainstate import STATE_DIR

    distributed.setup()
    created = distributed.on_main(lambda: _prepare_out(out, resume, say))
    pointer = out / STATE_DIR / "latest.json"
    resuming = pointer.is_file()
    try:
        return body()
    except BaseException as exc:
        if not distributed.is_main():
            raise  # process 0 owns the folder
        # with several processes, a failure here is most often another process's end (killed, out of
        # memory, a machine lost), so the checkpoint is kept for --resume as after Ctrl-C
        if pointer.is_file() and (resuming or isinstance(exc, KeyboardInterrupt) or distributed.world() > 1):
            log(f"stopped: continue with the same command plus --resume (checkpoint in {out / STATE_DIR})")
        else:
            _clean(out, created)
        raise


def _clean(out: Path, created: bool) -> None:
    clear_state(out)
    if created:
        shutil.rmtree(out, ignore_errors=True)
    else:
        for name in (BEST_DIR, LAST_DIR, METRICS_NAME, CURVES_NAME):
            p = out / name
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


HEAD_SETTINGS = {"pooling": "sentiment", "max_tokens": "sentiment", "bptt": "lm"}  # train()'s head settings


def train(
    task: str,
    data,
    *,
    out: str | os.PathLike,
    dev: str | None = None,
    cell: str = "lstm",
    bidirectional: bool | None = None,
    layers: int = 1,
    embedding_size: int = 128,
    hidden_size: int = 128,
    dropout: float = 0.2,
    epochs: int = 5,
    max_steps: int | None = None,
    batch_size: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    text_column: str | None = None,
    label_column: str | None = None,
    min_freq: int = 2,
    max_vocab: int = 50000,
    hmm: bool = False,
    pooling: str | None = None,
    max_tokens: int | None = None,
    bptt: int | None = None,
    sampled_softmax: int = 0,
    patience: int = 2,
    checkpoint_every: int = 500,
    resume: bool = False,
    init_backbone: str | os.PathLike | None = None,
    precision: str = "fp32",
    ngrams: bool = True,
    ngram_c: float = NGRAM_C,
    ngram_nb: float = NGRAM_NB,
    ngram_data=(),
    progress: bool = True,
) -> Path:
    """Train a new model from corpus file(s); returns ``out/model-best``.

    ``ngrams`` (sentiment only): the model also gets a linear half over hashed word and character
    n-grams (``zhseq.ngrams``), fitted on the same texts before the network (logistic regression, inverse
    regularisation ``ngram_c``, naive-Bayes scaling power ``ngram_nb``: ``fit_ngrams``); its probabilities
    are averaged with the network's, weighted as the dev set prefers. ``ngram_data`` (file(s) with the
    same columns): fit the n-gram half on these instead of the training data (for instance the in-domain
    part of a mixed corpus).

    ``init_backbone``: start from the embedding and recurrent weights of a saved model (for example the
    shipped language model, ``zhseq/models/lm``): its tokenizer, vocabulary (extended by this corpus's
    frequent words), cell and sizes are used. A classifier's second direction starts from the saved model's
    if it has one (a bidirectional language model: ``train("lm", ..., bidirectional=True)``), else fresh.

    ``pooling`` and ``max_tokens`` (sentiment only) and ``bptt`` (lm only) go to the model's config; None
    keeps its default (max pooling, 256 tokens, a 64-token window).

    ``sampled_softmax`` (lm only): train the output layer against that many sampled words per batch
    instead of the whole vocabulary — several times faster for large vocabularies; 0 = full softmax.
    A resumable checkpoint is written every ``checkpoint_every`` steps and after each epoch; ``resume``
    continues a killed run of the same command from its last checkpoint. ``precision="bf16"`` runs the
    lstm kernel's matrix products in bfloat16 (faster on CPUs with AMX or AVX512-BF16)."""
    from .cells import get_cell

    if task not in ("sentiment", "lm"):
        raise ZhseqError(f"unknown task {task!r}; choose one of: sentiment, lm")
    get_cell(cell)  # an unknown cell fails here, before any data is read
    if bidirectional is None:
        bidirectional = task == "sentiment"
    if ngram_data and (task != "sentiment" or not ngrams):
        raise ZhseqError("--ngram-data needs a sentiment model with its n-gram half (--ngrams)")
    if ngram_c <= 0 or ngram_nb < 0:
        raise ZhseqError(f"the n-gram fit needs C > 0 and a naive-Bayes power ≥ 0 (got {ngram_c}, {ngram_nb})")
    for name, value in (("layers", layers), ("embedding size", embedding_size), ("hidden size", hidden_size),
                        ("epochs", epochs), ("batch size", batch_size), ("max tokens", max_tokens),
                        ("bptt", bptt), ("patience", patience)):
        if value is not None and value < 1:
            raise ZhseqError(f"{name} must be at least 1 (got {value})")
    # the head's settings: None is the model's default (SentimentConfig, NextWordConfig)
    head = {k: v for k, v in (("pooling", pooling), ("max_tokens", max_tokens), ("bptt", bptt)) if v is not None}
    for name in head:
        if HEAD_SETTINGS[name] != task:
            raise ZhseqError(f"{name} is a setting of {HEAD_SETTINGS[name]} models only")
    out = Path(out)
    fit_config = FitConfig(epochs=epochs, max_steps=max_steps, batch_size=batch_size, lr=lr, seed=seed,
                           patience=patience, checkpoint_every=checkpoint_every, precision=precision,
                           progress=progress)

    say = log if progress and distributed.is_main() else _quiet

    source = None
    if init_backbone is not None:
        folder = resolve_model_dir(init_backbone)
        source = (folder, read_config(folder))
        sb = source[1]["backbone"]
        cell, layers, embedding_size, hidden_size = sb["cell"], sb["layers"], sb["embedding_size"], sb["hidden_size"]
    if task == "lm" and bidirectional and layers > 1:
        raise ZhseqError(STACKED_BIDIRECTIONAL_LM)

    def body() -> Path:
        torch.manual_seed(seed)
        tokenizer = Tokenizer.from_dict(source[1]["tokenizer"]) if source else Tokenizer(hmm=hmm)
        texts, labels = _read_task_data(task, data, text_column, label_column)
        if dev is not None:
            dev_texts, dev_labels = _read_task_data(task, dev, text_column, label_column)
            train_part, dev_part = (texts, labels), (dev_texts, dev_labels)
        else:
            train_part, dev_part = _holdout(texts, labels, seed, say)
        say(f"tokenising {len(train_part[0])} training texts …")
        train_tokens = distributed.map_split(tokenizer.cut, train_part[0])  # in shares under torchrun
        if source:
            vocab = Vocab.load(source[0] / VOCAB_NAME)
            added = vocab.extend(train_tokens, min_freq=min_freq, max_new=max(0, max_vocab - len(vocab)))
            say(f"vocabulary: {len(vocab)} tokens ({added} new beside those of {source[0]})")
        else:
            vocab = Vocab.build(train_tokens, min_freq=min_freq, max_size=max_vocab)
            say(f"vocabulary: {len(vocab)} tokens (min_freq {min_freq}, max {max_vocab})")
        backbone = BackboneConfig(vocab_size=len(vocab), embedding_size=embedding_size, hidden_size=hidden_size,
                                  cell=cell, layers=layers, bidirectional=bidirectional, dropout=dropout)
        label_list = _label_order(train_part[1]) if task == "sentiment" else None
        if task == "sentiment":
            if dev_part is not None:
                _check_labels(dev_part[1], label_list, "the dev set")
            net = SentimentNet(SentimentConfig(backbone, num_labels=len(label_list), **head,
                                               ngram_buckets=hashed_ngrams.BUCKETS if ngrams else 0))
        else:
            net = NextWordNet(NextWordConfig(backbone, **head, sampled_softmax=sampled_softmax))
        recipe = {"command": "train", "data": _as_list(data), "dev": dev, "n_train": len(train_tokens),
                  "min_freq": min_freq, "max_vocab": max_vocab, **_public(fit_config)}
        ngram_part = None
        if task == "sentiment" and ngrams:
            recipe["ngram_c"], recipe["ngram_nb"] = ngram_c, ngram_nb
            if ngram_data:
                ngram_texts, ngram_labels = _read_task_data(task, ngram_data, text_column, label_column)
                _check_labels(ngram_labels, label_list, "--ngram-data")
                ngram_part = (distributed.map_split(tokenizer.cut, ngram_texts), ngram_labels)
                recipe["ngram_data"] = _as_list(ngram_data)
        if source:
            copied = _copy_backbone(net.backbone, source)
            recipe["init_backbone"] = str(source[0])
            say(f"backbone started from {source[0]} ({copied} tensors)")
        dev_tokens = None if dev_part is None else (distributed.map_split(tokenizer.cut, dev_part[0]), dev_part[1])
        return _run(task=task, net=net, vocab=vocab, tokenizer=tokenizer, labels=label_list,
                    train_data=(train_tokens, train_part[1]), dev_data=dev_tokens, out=out,
                    fit_config=fit_config, recipe=recipe, say=say, resume=resume, ngram_data=ngram_part)

    return _guarded(out, body, resume, say)


def _copy_backbone(backbone, source) -> int:
    """Copy the embedding rows and every recurrent tensor of the same name and shape from a saved model."""
    folder, config = source
    donor = build_model(config["task"], config)
    load_weights(donor, folder)
    theirs = donor.backbone.state_dict()
    copied = 0
    with torch.no_grad():
        for name, mine in backbone.state_dict().items():
            if name == "embedding.weight":
                mine[: theirs[name].size(0)] = theirs[name]
                copied += 1
            elif name in theirs and theirs[name].shape == mine.shape:
                mine.copy_(theirs[name])
                copied += 1
    return copied


def _public(fit_config: FitConfig) -> dict:
    d = dict(fit_config.__dict__)
    d.pop("progress")
    d.pop("checkpoint_every")  # how often a run saves itself does not change the run
    if distributed.world() > 1:  # the batches each step sees, and so the run, depend on it
        d["processes"] = distributed.world()
    return d


def _check_labels(labels: list[str], known: list[str], where: str) -> None:
    unknown = sorted(set(labels) - set(known))
    if unknown:
        raise ZhseqError(f"{where} has labels the model does not know: {', '.join(unknown)} "
                         f"(model labels: {', '.join(known)})")


def finetune(
    model_dir: str | os.PathLike,
    data,
    *,
    out: str | os.PathLike,
    dev: str | None = None,
    epochs: int = 3,
    lr: float = 5e-4,
    max_steps: int | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    text_column: str | None = None,
    label_column: str | None = None,
    min_freq: int = 2,
    max_new_words: int = 20000,
    patience: int = 2,
    checkpoint_every: int = 500,
    resume: bool = False,
    precision: str = "fp32",
    ngram_c: float | None = None,
    progress: bool = True,
) -> Path:
    """Continue training a saved model on new data.

    A sentiment model with an n-gram half (``zhseq.ngrams``) has it fitted again on the new data (inverse
    regularisation ``ngram_c``, by default the base model's; naive-Bayes scaling as the base model had)
    and its mixing weight chosen again on dev.

    The vocabulary grows by the new corpus's words seen at least ``min_freq`` times (new embedding rows,
    old ids unchanged). A sentiment model keeps its labels when the new data uses only those; otherwise
    the output layer is rebuilt for the new label set."""
    src = resolve_model_dir(model_dir)
    config = read_config(src)
    task = config.get("task")
    out = Path(out)
    if out.resolve() == src.resolve() or src.resolve().is_relative_to(out.resolve()):
        raise ZhseqError("--out must be a new folder, not the model being fine-tuned")
    recipe_old = config.get("training", {})
    fit_config = FitConfig(epochs=epochs, max_steps=max_steps, lr=lr, seed=seed, patience=patience,
                           batch_size=batch_size or recipe_old.get("batch_size", 64),
                           checkpoint_every=checkpoint_every, precision=precision, progress=progress)

    say = log if progress and distributed.is_main() else _quiet

    def body() -> Path:
        torch.manual_seed(seed)
        net = build_model(task, config)
        load_weights(net, src)
        vocab = Vocab.load(src / VOCAB_NAME)
        tokenizer = Tokenizer.from_dict(config.get("tokenizer", {}))
        texts, labels = _read_task_data(task, data, text_column, label_column)
        if dev is not None:
            train_part, dev_part = (texts, labels), _read_task_data(task, dev, text_column, label_column)
        else:
            train_part, dev_part = _holdout(texts, labels, seed, say)
        train_tokens = distributed.map_split(tokenizer.cut, train_part[0])
        added = vocab.extend(train_tokens, min_freq=min_freq, max_new=max_new_words)
        if added:
            (net.resize_vocab if task == "lm" else net.backbone.resize_embedding)(len(vocab))
        say(f"vocabulary: {len(vocab)} tokens ({added} new from this corpus)")
        label_list = None
        if task == "sentiment":
            old = list(config["labels"])
            new = _label_order(train_part[1])
            if set(new) <= set(old):
                label_list = old
            else:
                label_list = new
                net.reset_labels(len(new))
                say(f"new label set {new} (was {old}): the output layer starts afresh")
            if dev_part is not None:
                _check_labels(dev_part[1], label_list, "the dev set")
        recipe = {"command": "finetune", "base_model": str(src), "base_training": recipe_old,
                  "data": _as_list(data), "dev": dev, "n_train": len(train_tokens), "new_words": added,
                  **_public(fit_config)}
        if task == "sentiment" and net.ngrams is not None:
            recipe["ngram_c"] = ngram_c if ngram_c is not None else recipe_old.get("ngram_c", NGRAM_C)
            recipe["ngram_nb"] = recipe_old.get("ngram_nb", 0.0)  # absent: fitted before the scaling existed
        dev_tokens = None if dev_part is None else (distributed.map_split(tokenizer.cut, dev_part[0]), dev_part[1])
        return _run(task=task, net=net, vocab=vocab, tokenizer=tokenizer, labels=label_list,
                    train_data=(train_tokens, train_part[1]), dev_data=dev_tokens, out=out,
                    fit_config=fit_config, recipe=recipe, say=say, resume=resume)

    return _guarded(out, body, resume, say)


# -- evaluate / info ------------------------------------------------------------------------------
def load(model_dir: str | os.PathLike | None):
    """A model folder → a ``SentimentClassifier`` or ``NextWordPredictor``, whichever it holds."""
    if model_dir is None:
        raise ZhseqError("a model folder is needed")
    task = read_config(model_dir).get("task")
    cls = {"sentiment": SentimentClassifier, "lm": NextWordPredictor}.get(task)
    if cls is None:
        raise ZhseqError(f"{model_dir}: unknown task {task!r} in config.json")
    return cls.from_pretrained(model_dir)


def evaluate(
    model_dir: str | os.PathLike,
    data,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    batch_size: int = 256,
) -> dict:
    """Score a saved model on a labelled table (sentiment) or a text corpus (lm)."""
    model = load(model_dir)
    texts, labels = _read_task_data(model.task, data, text_column, label_column)
    tokens = [model.tokenizer.cut(x) for x in texts]
    if model.task == "sentiment":
        _check_labels(labels, model.labels, str(data))
        task = SentimentTask(model.tokenizer, model.vocab, model.labels, model.net.config.max_tokens)
        result = task.evaluate(model.net, task.examples(tokens, labels), batch_size, tokens=tokens)
    else:
        task = LMTask(model.tokenizer, model.vocab, model.net.config.bptt)
        result = task.evaluate(model.net, task.examples(tokens), batch_size)
    return {"task": model.task, "model": str(model.path), "data": _as_list(data), **result}
