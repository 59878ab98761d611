"""``train`` and ``finetune``: data → tokens → vocabulary → model → ``fit`` → the output folder."""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
from pathlib import Path
from typing import Callable

import torch

from .. import __version__
from .. import ngrams as hashed_ngrams
from ..api import ngram_logits
from ..checkpoint import (
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
from ..config import FitConfig
from ..data import read_labelled, read_lm_texts
from ..errors import STACKED_BIDIRECTIONAL_LM, ZhseqError
from ..modeling import (
    BackboneConfig,
    NextWordConfig,
    NextWordNet,
    SentimentConfig,
    SentimentNet,
    build_model,
)
from ..tokenizer import Tokenizer
from ..vocab import Vocab
from . import distributed
from .loop import fit
from .ngramfit import NGRAM_C, NGRAM_NB, choose_ngram_weight, fit_ngrams
from .state import clear_state, load_state
from .tasks import LMTask, SentimentTask

CURVES_NAME = "learning_curves.png"

def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _quiet(msg: str) -> None:
    pass



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
    from .state import STATE_DIR

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
                ngram_info[folder] = choose_ngram_weight(out / folder, t, dev_examples, z, dev_probs.get(key), say)
            write_json(out / METRICS_NAME, metrics(history))
        clear_state(out)  # the run is complete: its models replace the checkpoint
        _draw_curves(metrics(history), out / CURVES_NAME, say)
        best = [h for h in history if h["best"]][-1]
        say(f"best model (epoch {best['epoch']}) saved to {out / BEST_DIR}")
    distributed.barrier()  # every process returns a finished model
    return out / BEST_DIR


def _draw_curves(metrics: dict, path: Path, say=log) -> None:
    from .. import plots

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
    from .state import STATE_DIR

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
    from ..cells import get_cell

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
    d.pop("ngram_c"), d.pop("ngram_nb")  # the recipe holds them only for a model with an n-gram half
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


