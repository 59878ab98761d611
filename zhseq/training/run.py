"""``train`` and ``finetune``: data → tokens → vocabulary → model → ``fit`` → the output folder.

    train(task, data, out, model=ModelConfig(...), fit=FitConfig(...))
        read (zhseq.data) → dev set (given, or held out) → Tokenizer.cut → Vocab → SentimentNet | NextWordNet
        → _run: [fit_ngrams] → loop.fit → OUT/model-best, OUT/model-last, OUT/metrics.json (outdir.py)
    finetune(model_dir, data, out, fit=finetune_config(model_dir, ...)): the same from a saved model
    finetune(model_dir, data, out, unlabeled=[...]): ULMFiT (Howard & Ruder 2018) for a classifier: the backbone
        first adapted as a language model on the domain's text (_adapt_backbone → OUT/lm/), then the classifier

Messages go to the ``zhseq.training`` loggers (INFO: progress; WARNING: what went wrong but did not stop
the run); ``FitConfig.progress=False`` silences the INFO lines and the progress bar.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
from dataclasses import fields
from pathlib import Path

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
from ..config import (
    FINETUNE_MAX_NEW_WORDS,
    FINETUNE_NGRAM_KEEP,
    NGRAM_KEEP,
    TASKS,
    BackboneConfig,
    FitConfig,
    ModelConfig,
    NextWordConfig,
    SentimentConfig,
    default_of,
    replace,
)
from ..data.labels import label_map as parse_label_map
from ..errors import ZhseqError
from ..modeling import NextWordNet, SentimentNet, build_model, resolve_device
from ..pipeline import classifier_words
from ..tokenizer import Tokenizer, check_emoji_keywords
from ..vocab import SPECIALS, Vocab
from . import distributed, outdir
from .corpus import as_list, check_known_labels, holdout, label_order, read_parts, read_task_data, recorded
from .loop import check_layers
from .loop import fit as fit_loop
from .loop import reporting
from .ngramfit import choose_ngram_weight, fit_ngrams
from .settings import LM_STAGE_HEAD, finetune_config, lm_stage_config, split_settings
from .state import STATE_DIR, clear_state, load_state
from .tasks import LMTask, SentimentTask

logger = logging.getLogger(__name__)

def train(task: str, data, out: str | os.PathLike, *, model: ModelConfig | None = None, fit: FitConfig | None = None,
          dev: str | os.PathLike | None = None, text_column: str | None = None, label_column: str | None = None,
          encoding: str | None = None, label_map=None, allow_rare_labels: bool = False, ngram_data=(),
          resume: bool = False, **settings) -> Path:
    """Train a new ``task`` model ("sentiment" or "lm") on corpus file(s) ``data``; returns ``out/model-best``.

    ``model`` (``zhseq.config.ModelConfig``, default ``ModelConfig()``): what is built; ``fit``
    (``FitConfig``): how it is trained. These configs are the API; the flat keyword arguments of earlier
    versions (``train("sentiment", files, out=..., epochs=1, hidden_size=8)``) still work, each going to the
    config field of its name (``split_settings``), on top of ``model``/``fit`` if given.

    ``dev``: file(s) to pick the best epoch on (and, for sentiment, the n-gram weight); without it 5 % of
    the training texts (at most 2,000) are held out. ``text_column``/``label_column``: a table's columns
    (default: detected). ``encoding``: the character encoding of every data file (``gb18030``, ``big5``, …;
    default: UTF-8, else detected per file, see ``zhseq.data.read_rows``). ``label_map`` (``{"好评":
    "positive"}``, or ``"好评=positive,差评=negative"``): rename the labels of every data file as they are read.
    Labels that differ only in case or width are one label (a warning says so); a label held by very few rows
    beside large ones (``zhseq.data.labels.rare_labels``, e.g. one ``postive``) is refused unless
    ``allow_rare_labels``. ``ngram_data`` (file(s) with the same columns): fit the n-gram half on these instead
    of the training data. ``resume``: continue a killed run of the same call from its last checkpoint in
    ``out`` (with none there, a warning says that it starts from the beginning).

    Sentiment with ``model.ngrams``: the model also gets a linear half over hashed word and character
    n-grams (``zhseq.ngrams``), fitted before the network (``fit_ngrams``; ``fit.ngram_c``, ``fit.ngram_nb``)
    and averaged with it, weighted as the dev set prefers. ``model.init_backbone``: start from the embedding
    and recurrent weights of a saved model (e.g. the shipped lm): its tokenizer, vocabulary (extended by this
    corpus's frequent words), cell and sizes are used; a classifier's second direction starts from the
    saved model's if it has one (a bidirectional lm), else fresh.

    ``fit.average_last`` N > 1 (checkpoint averaging, Vaswani et al. 2017; SWA, Izmailov et al. 2018): also
    ``out/model-average``, the parameters averaged over the last N epochs run (model-best and model-last
    unchanged), scored on dev (``metrics.json``'s ``average``; its own n-gram weight); ``finetune`` too.

    ``fit.device`` (``auto``: a CUDA GPU when torch sees one, else the CPU; ``zhseq.modeling.resolve_device``):
    where the network trains; the recipe in config.json records the kind of device (``cpu``, ``cuda``, ``mps``).

    Raises ZhseqError, before any data is read, for an unknown task or cell, a setting of the other task's
    head (``ModelConfig.HEAD_SETTINGS``), ``ngram_data`` without an n-gram half, a stacked bidirectional
    lm, an ``out`` that holds something else, a malformed ``label_map``, a device this machine does not have;
    and later for data that cannot be read, has fewer than two labels, or rare labels not allowed. A failed
    run leaves ``out`` as it found it."""
    from ..cells import get_cell

    if task not in TASKS:
        raise ZhseqError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}")
    model, fit = split_settings(model, fit, **settings)
    get_cell(model.cell)  # an unknown cell fails here, before any data is read
    label_map = parse_label_map(label_map)  # so does a malformed label map
    for name, owner in ModelConfig.HEAD_SETTINGS.items():
        if owner != task and getattr(model, name) != default_of(ModelConfig, name):
            raise ZhseqError(f"{name} is a setting of {owner} models only")
    _check_fit(task, fit)
    _check_unused(task, fit, ngrams=model.ngrams, ngram_data=ngram_data, label_column=label_column,
                  allow_rare_labels=allow_rare_labels, ngrams_set=model.ngrams != default_of(ModelConfig, "ngrams"))
    device = resolve_device(fit.device)  # a GPU this machine lacks fails here too
    out = Path(out)
    source = None
    if model.init_backbone is not None:
        folder = resolve_model_dir(model.init_backbone)
        source = (folder, read_config(folder))
        sb = source[1]["backbone"]
        _check_backbone_settings(model, source)
        model = replace(model, cell=sb["cell"], layers=sb["layers"], embedding_size=sb["embedding_size"],
                        hidden_size=sb["hidden_size"])
    _head_config(task, model, vocab_size=1, num_labels=2)  # its checks (a stacked bidirectional lm), now
    progress = outdir.Progress()  # what an interruption before the first checkpoint says (outdir.guarded)

    def body() -> Path:
        torch.manual_seed(fit.seed)
        tokenizer = _tokenizer(model, source)
        train_part, dev_part = read_parts(task, data, dev, text_column, label_column, fit.seed, encoding=encoding,
                                          label_map=label_map, allow_rare_labels=allow_rare_labels)
        logger.info("tokenising %d training texts …", len(train_part[0]))
        train_tokens = distributed.map_split(tokenizer.cut, train_part[0])  # in shares under torchrun
        if source:
            vocab = Vocab.load(source[0] / VOCAB_NAME)
            added = vocab.extend(train_tokens, min_freq=model.min_freq, max_new=max(0, model.max_vocab - len(vocab)))
            logger.info("vocabulary: %d tokens (%d new beside those of %s)", len(vocab), added, source[0])
        else:
            vocab = Vocab.build(train_tokens, min_freq=model.min_freq, max_size=model.max_vocab)
            logger.info("vocabulary: %d tokens (min_freq %d, max %d)", len(vocab), model.min_freq, model.max_vocab)
            _check_vocabulary(vocab, train_tokens, model.min_freq)
        labels = label_order(train_part[1]) if task == "sentiment" else None
        if labels and dev_part is not None:
            check_known_labels(dev_part[1], labels, "the dev set")
        head = _head_config(task, model, vocab_size=len(vocab), num_labels=len(labels) if labels else 2)
        net = SentimentNet(head) if task == "sentiment" else NextWordNet(head)
        recipe = {"command": "train", "data": as_list(data), "dev": recorded(dev), "n_train": len(train_tokens),
                  "min_freq": model.min_freq, "max_vocab": model.max_vocab, **_public(fit, device),
                  **_mapped(label_map)}
        ngram_part = None
        if task == "sentiment" and model.ngrams:
            recipe["ngram_c"], recipe["ngram_nb"] = fit.ngram_c, fit.ngram_nb
            if ngram_data:
                ngram_texts, ngram_labels = read_task_data(task, ngram_data, text_column, label_column,
                                                           encoding=encoding, label_map=label_map,
                                                           prefer_labels=labels)
                check_known_labels(ngram_labels, labels, "--ngram-data")
                ngram_part = (distributed.map_split(tokenizer.cut, ngram_texts), ngram_labels)
                recipe["ngram_data"] = as_list(ngram_data)
        if source:
            copied = _copy_backbone(net.backbone, source)
            recipe["init_backbone"] = str(source[0])
            logger.info("backbone started from %s (%d tensors)", source[0], copied)
        return _run(task=task, net=net, vocab=vocab, tokenizer=tokenizer, labels=labels,
                    train_data=(train_tokens, train_part[1]), dev_part=dev_part, out=out, fit_config=fit,
                    recipe=recipe, resume=resume, ngram_data=ngram_part, progress=progress)

    with reporting(fit.progress):
        return outdir.guarded(out, body, resume, device, progress=progress)


def finetune(model_dir: str | os.PathLike, data, out: str | os.PathLike, *, fit: FitConfig | None = None,
             dev: str | os.PathLike | None = None, text_column: str | None = None, label_column: str | None = None,
             encoding: str | None = None, label_map=None, allow_rare_labels: bool = False, new_labels: bool = False,
             min_freq: int = default_of(ModelConfig, "min_freq"), max_new_words: int = FINETUNE_MAX_NEW_WORDS,
             unlabeled=(), lm_fit: FitConfig | None = None, ngram_keep: float = FINETUNE_NGRAM_KEEP,
             resume: bool = False, **settings) -> Path:
    """Continue training the saved model in ``model_dir`` on new data; returns ``out/model-best``.

    ``fit``: how (default ``finetune_config(model_dir, ulmfit=bool(unlabeled))``: ``FINETUNE_DEFAULTS`` with the
    base model's batch size and n-gram C, and with ``unlabeled`` ULMFiT's discriminative learning rates 2.6 and
    gradual unfreezing); flat FitConfig fields (``epochs=1``) change that default, as ``train``'s do.

    ``unlabeled`` (file(s) of text: one text a line, or tables whose text column is read, labels ignored; read
    as ``data`` is, ``text_column`` and ``encoding`` included; sentiment models only): ULMFiT's stages 2 and 3
    (Howard & Ruder 2018). The vocabulary first grows by the new words of the unlabelled and the labelled
    texts; then a ``NextWordNet`` over the same backbone config, its embedding and recurrent weights copied
    from the classifier, its head fresh, is trained by the same loop as a language model on the unlabelled
    texts plus the labelled training texts (their labels unused; 5 % of them, at most 2,000, held out to pick
    the best epoch by perplexity), with ``lm_fit`` (default ``lm_stage_config(fit)``: 3 epochs at lr 1e-3,
    batches of 32 windows of 64 tokens, discriminative learning rates 2.6) and a sampled softmax of 2,048 words
    (``LM_STAGE_HEAD``; the full softmax for a smaller vocabulary). It is saved as ``out/lm/`` (a normal lm
    training folder: ``out/lm/model-best`` predicts next words of the domain); its best embedding and recurrent
    weights then replace the classifier's, and the classifier is fine-tuned on the labels. A bidirectional
    classifier of one layer adapts as a bidirectional lm (the right-to-left half predicting each previous
    word); one of several layers is refused (a stacked bidirectional lm would see the words it predicts).
    Time: about 3 s per 1,000 texts (reviews of 56 characters on average) per lm epoch on one CPU thread for
    the shipped model: 12.4 s an epoch on 4,000 reviews of ``corpora/reviews`` plus 500 labelled (4,252 after
    the held-out 5 %), so about 40 s for the default 3 epochs (``OMP_NUM_THREADS=1 zhseq finetune sentiment
    --data 500.tsv --unlabeled 4000.txt``; ``LM_STAGE_DEFAULTS``). The recipe in config.json records the
    unlabelled files and the lm stage's settings (``training.unlabeled``, ``training.lm_stage``).

    ``dev``, ``text_column``, ``label_column``, ``encoding``, ``label_map``, ``allow_rare_labels``: the data
    files, as for ``train``; labels that differ from the model's only in case or width take its spelling.

    The vocabulary grows by the new corpus's words seen at least ``min_freq`` times, ``max_new_words`` at
    most (new embedding rows, old ids unchanged). A sentiment model keeps its labels when the new data uses
    only those; a label it does not know needs ``new_labels=True`` (``--new-labels``), and then the output layer
    is rebuilt for the new data's label set. A sentiment model with an n-gram half has it fitted again on the
    new data (``fit.ngram_c``; naive-Bayes scaling as the base model had) and its mixing weight chosen again
    on dev; when the labels stay the model's, ``ngram_keep`` (default ``FINETUNE_NGRAM_KEEP``, 0.5; 0 ≤ x < 1)
    of the old n-gram half is kept: the new half's logits are ``ngram_keep`` · the old ones + (1 − ``ngram_keep``)
    · those of the refit (``fit_ngrams``' ``keep``), so a few hundred texts add to what the model knew rather
    than replace it (bench/quality.md: with 500 labels of a new domain, fewer errors than either half alone). ``resume``: continue a killed run of the same call, in either stage (a finished lm stage is kept
    and not run again). Raises ZhseqError as ``train`` does, when ``out`` is the base model's folder, when the
    new data has labels the model does not know and ``new_labels`` is false (one line naming them), for
    ``unlabeled`` with an lm or a stacked bidirectional classifier, ``new_labels`` with an lm, and when
    ``--resume`` finds ``out/lm`` made by a different run."""
    src = resolve_model_dir(model_dir)
    config = read_config(src)
    task = config.get("task")
    out = Path(out)
    if out.resolve() == src.resolve() or src.resolve().is_relative_to(out.resolve()):
        raise ZhseqError("--out must be a new folder, not the model being fine-tuned")
    recipe_old = config.get("training", {})
    ngram_keep = NGRAM_KEEP("ngram_keep", ngram_keep)
    unlabeled = [] if unlabeled is None else as_list(unlabeled)
    if unlabeled:
        _check_adaptable(task, config)
    if new_labels and task != "sentiment":
        raise ZhseqError("--new-labels is for sentiment models: a next-word (lm) model has no labels")
    fit = replace(fit, **settings) if fit is not None else finetune_config(src, ulmfit=bool(unlabeled), **settings)
    _check_fit(task, fit)
    _check_unused(task, fit, ngrams=task == "sentiment" and bool(config.get("head", {}).get("ngram_buckets")),
                  label_column=label_column, allow_rare_labels=allow_rare_labels,
                  ngram_keep_set=ngram_keep != FINETUNE_NGRAM_KEEP)
    lm_fit = (lm_fit if lm_fit is not None else lm_stage_config(fit)) if unlabeled else None
    if lm_fit is not None:
        _check_fit("lm", lm_fit)
    label_map = parse_label_map(label_map)
    device = resolve_device(fit.device)
    progress = outdir.Progress()

    def body() -> Path:
        torch.manual_seed(fit.seed)
        net = build_model(task, config)
        load_weights(net, src)
        vocab = Vocab.load(src / VOCAB_NAME)
        tokenizer = Tokenizer.from_dict(config.get("tokenizer", {}))
        # the unlabelled files first: one that cannot be read fails before the rest is read
        raw_texts = read_task_data("lm", unlabeled, text_column, None, encoding=encoding)[0] if unlabeled else []
        train_part, dev_part = read_parts(task, data, dev, text_column, label_column, fit.seed, encoding=encoding,
                                          label_map=label_map, allow_rare_labels=allow_rare_labels,
                                          known_labels=config.get("labels") or ())
        train_tokens = distributed.map_split(tokenizer.cut, train_part[0])
        raw_tokens = []
        if unlabeled:
            logger.info("tokenising %d unlabelled texts …", len(raw_texts))
            raw_tokens = distributed.map_split(tokenizer.cut, raw_texts)
        added = vocab.extend(raw_tokens + train_tokens, min_freq=min_freq, max_new=max_new_words)
        if added:
            (net.resize_vocab if task == "lm" else net.backbone.resize_embedding)(len(vocab))
        logger.info("vocabulary: %d tokens (%d new from this corpus)", len(vocab), added)
        labels = None
        if task == "sentiment":
            old = list(config["labels"])
            new = label_order(train_part[1])
            if set(new) <= set(old):
                labels = old
            elif not new_labels:
                unknown = ", ".join(sorted(set(new) - set(old)))
                raise ZhseqError(f"the new data has labels the model does not know: {unknown} "
                                 f"(model labels: {', '.join(old)}); training on them replaces the model's trained "
                                 "output layer: confirm with --new-labels (new_labels=True in Python), or rename "
                                 "them with --label-map")
            else:
                labels = new
                net.reset_labels(len(new))
                logger.info("new label set %s (was %s): the output layer starts afresh", new, old)
            if dev_part is not None:
                check_known_labels(dev_part[1], labels, "the dev set")
        recipe = {"command": "finetune", "base_model": str(src), "base_training": recipe_old,
                  "data": as_list(data), "dev": recorded(dev), "n_train": len(train_tokens), "new_words": added,
                  **_public(fit, device), **_mapped(label_map)}
        if task == "sentiment" and net.ngrams is not None:
            recipe["ngram_c"] = fit.ngram_c
            recipe["ngram_nb"] = recipe_old.get("ngram_nb", 0.0)  # absent: fitted before the scaling existed
            if labels == list(config["labels"]):  # the old table means the same labels
                recipe["ngram_keep"] = float(ngram_keep)
            elif ngram_keep:
                logger.info("the n-gram half is fitted on the new data alone: the old one was fitted for other "
                            "labels (--ngram-keep applies when the labels stay the model's)")
        if unlabeled:
            recipe["unlabeled"] = unlabeled
            recipe["lm_stage"] = _adapt_backbone(
                net, vocab=vocab, tokenizer=tokenizer, texts=raw_texts + list(train_part[0]),
                tokens=raw_tokens + train_tokens, n_unlabeled=len(raw_texts), out=out / LM_DIR, fit_config=lm_fit,
                recipe={"command": LM_STAGE_COMMAND, "base_model": str(src),
                        "unlabeled": unlabeled, "data": as_list(data), "new_words": added,
                        **_public(lm_fit, device)},
                resume=resume, progress=progress)
            logger.info("stage 2 of 2: fine-tuning the classifier on %d labelled texts%s", len(train_tokens),
                        _levers(fit))
            progress.stage, progress.step = "the classifier stage", 0
        return _run(task=task, net=net, vocab=vocab, tokenizer=tokenizer, labels=labels,
                    train_data=(train_tokens, train_part[1]), dev_part=dev_part, out=out, fit_config=fit,
                    recipe=recipe, resume=resume, progress=progress)

    with reporting(fit.progress):
        return outdir.guarded(out, body, resume, device, inner=(LM_DIR,) if unlabeled else (), progress=progress,
                              check=lambda: _check_stages(out, bool(unlabeled)))


LM_DIR = "lm"  # finetune with unlabelled text: the lm stage's output folder in OUT


def _check_stages(out: Path, unlabeled: bool) -> None:
    """ZhseqError (one line saying what to run) when ``out`` holds an unfinished fine-tuning of the other kind:
    the stages of one with unlabelled text (``out/lm``'s checkpoint or finished lm, or a classifier checkpoint
    whose recipe names unlabelled files) for a call without ``unlabeled``, or another run's checkpoint (a
    recipe without unlabelled files) for a call with it. A finished ``out`` (model-last) is ``prepare``'s to
    refuse."""
    if (out / LAST_DIR).exists():
        return
    lm = out / LM_DIR
    lm_state, state = outdir.unfinished(lm), outdir.unfinished(out)
    lm_done = None
    if (lm / LAST_DIR / CONFIG_NAME).is_file():
        try:
            lm_done = read_config(lm / LAST_DIR).get("training", {})
        except ZhseqError:
            lm_done = {}
    recipe = (state or {}).get("recipe", {})
    if not unlabeled and (lm_state is not None or lm_done is not None or recipe.get("unlabeled")):
        if lm_state is not None:
            where = f"in its language-model stage (1 of 2; {outdir.kept_words(lm / STATE_DIR)})"
            files = lm_state["recipe"].get("unlabeled")
        elif state is not None:
            where = f"in its classifier stage (2 of 2; {outdir.kept_words(out / STATE_DIR)})"
            files = recipe.get("unlabeled")
        else:
            where = f"its language-model stage (1 of 2) finished in {lm}"
            files = lm_done.get("unlabeled")
        again = (" ".join(f"--unlabeled {shlex.quote(str(f))}" for f in files) if files
                 else "--unlabeled FILE (the same files)")
        raise ZhseqError(f"--out {out} holds an unfinished fine-tuning with --unlabeled, {where}: continue it with "
                         f"the same command plus {again} --resume, or choose a new or empty folder")
    if unlabeled and state is not None and lm_state is None and lm_done is None and not recipe.get("unlabeled"):
        command = recipe.get("command") or "train"
        what = "fine-tuning without --unlabeled" if command == "finetune" else f"zhseq {command} run"
        again = "the same command minus --unlabeled" if command == "finetune" else f"its zhseq {command} command"
        raise ZhseqError(f"--out {out} holds an unfinished {what} ({outdir.kept_words(out / STATE_DIR)}): continue "
                         f"it with {again}, plus --resume; or choose a new or empty folder for this --unlabeled run")


def _check_adaptable(task: str, config: dict) -> None:
    """ZhseqError (one line) unless the saved model can be adapted on unlabelled text first."""
    if task != "sentiment":
        raise ZhseqError("--unlabeled is for sentiment models: a next-word (lm) model is fine-tuned on plain "
                         "text with --data itself")
    backbone = config.get("backbone", {})
    if backbone.get("bidirectional") and backbone.get("layers", 1) > 1:
        raise ZhseqError(f"--unlabeled cannot adapt this classifier: it is bidirectional with {backbone['layers']} "
                         "layers, and a stacked bidirectional language model would see the words it predicts "
                         "(one layer, or one direction, can be adapted)")


def _levers(fit: FitConfig) -> str:
    """``, discriminative lr 2.6, gradual unfreezing`` for a progress line (nothing when both are off)."""
    said = [f"discriminative lr {fit.discriminative_lr:g}"] if fit.discriminative_lr != 1 else []
    return "".join(", " + x for x in said + (["gradual unfreezing"] if fit.gradual_unfreezing else []))


def _adapt_backbone(net, *, vocab, tokenizer, texts, tokens, n_unlabeled: int, out: Path, fit_config: FitConfig,
                    recipe: dict, resume: bool, progress: outdir.Progress | None = None) -> dict:
    """ULMFiT's stage 2 (Howard & Ruder 2018, §3.2): the classifier ``net``'s embedding and recurrent weights
    trained as a language model on ``texts`` (their ``tokens``: the unlabelled texts, then the labelled ones),
    then put back into ``net``. The lm (``NextWordNet`` over ``net``'s backbone config, ``LM_STAGE_HEAD``, its
    projection and output bias fresh) is trained by ``_run`` into ``out`` (``OUT/lm``), 5 % of the texts (at
    most 2,000) held out, and its model-best's backbone is copied back. With ``resume``: a checkpoint in ``out``
    is continued; a finished ``out`` is used as it is if it was trained with this ``recipe``, else ZhseqError.
    ``progress``: the run's (``outdir.Progress``), told that this stage trains. Returns what the classifier's
    recipe records of the stage."""
    backbone = BackboneConfig.from_dict(net.config.backbone.to_dict())
    head = NextWordConfig(backbone, **LM_STAGE_HEAD)
    best = out / BEST_DIR
    shown = {"dir": LM_DIR, "n_texts": len(texts), "n_unlabeled": n_unlabeled, **LM_STAGE_HEAD,
             **{k: v for k, v in recipe.items() if k in ("epochs", "lr", "batch_size", "discriminative_lr",
                                                          "gradual_unfreezing", "word_dropout", "seed")}}
    done = resume and (out / LAST_DIR / CONFIG_NAME).is_file()
    if done:
        saved = read_config(out / LAST_DIR).get("training", {})
        expected = json.loads(json.dumps({**recipe, "n_train": saved.get("n_train")}))
        changed = _differences(expected, saved)
        if changed:
            raise ZhseqError(f"{out} holds an lm stage of a different run: it differs in "
                             f"{_described(changed, recipe['command'])}; rerun the same command, or start afresh in "
                             "a new --out")
        logger.info("stage 1 of 2: the language model in %s is finished; continuing with the classifier", out)
    else:
        logger.info("stage 1 of 2: adapting the backbone as a language model on %d texts (%d unlabelled, %d "
                    "labelled) → %s", len(texts), n_unlabeled, len(texts) - n_unlabeled, out)
        outdir.prepare(out, resume and out.exists())  # a checkpoint there is continued
        if progress is not None:
            progress.stage, progress.step = "the language-model stage", 0
        lm = NextWordNet(head)
        lm.backbone.load_state_dict(net.backbone.state_dict())
        (train_ids, _), dev_ids = holdout(list(range(len(texts))), None, fit_config.seed,
                                          "the language-model stage")
        dev_part = None if dev_ids is None else ([texts[i] for i in dev_ids[0]], None)
        _run(task="lm", net=lm, vocab=vocab, tokenizer=tokenizer, labels=None,
             train_data=([tokens[i] for i in train_ids], None), dev_part=dev_part, out=out, fit_config=fit_config,
             recipe={**recipe, "n_train": len(train_ids)}, resume=resume, progress=progress,
             plot_hint=False)  # the classifier stage says it, once for the command
    adapted = NextWordNet(head)
    load_weights(adapted, best)
    net.backbone.load_state_dict(adapted.backbone.state_dict())
    scores = read_config(best).get("dev_scores") or {}
    if "perplexity" in scores:
        shown["dev_perplexity"] = round(scores["perplexity"], 3)
    return shown


# -- shared by train and finetune ----------------------------------------------------------------
def _check_vocabulary(vocab: Vocab, train_tokens: list[list[str]], min_freq: int) -> None:
    """ZhseqError when no word of the training texts occurs ``min_freq`` times (the model could read nothing,
    not even its own training texts); a warning when more than half of the texts hold no vocabulary word."""
    words = set(vocab.itos[len(SPECIALS):])
    if not words:
        raise ZhseqError(f"no word of the {len(train_tokens)} training texts occurs {min_freq} times or more "
                         "(--min-freq): the vocabulary would be empty; give more text, or --min-freq 1")
    unread = sum(not words.intersection(tokens) for tokens in train_tokens)
    if unread > len(train_tokens) / 2:
        logger.warning("%d of the %d training texts hold no word that occurs %d times or more (--min-freq): the "
                       "model cannot read them; give more text, or --min-freq 1", unread, len(train_tokens),
                       min_freq)


def _head_config(task: str, model: ModelConfig, *, vocab_size: int, num_labels: int):
    """The saved model's config (checked as it is built): ModelConfig's sizes and the head settings it sets."""
    bidirectional = task == "sentiment" if model.bidirectional is None else model.bidirectional
    backbone = BackboneConfig(vocab_size=vocab_size, embedding_size=model.embedding_size,
                              hidden_size=model.hidden_size, cell=model.cell, layers=model.layers,
                              bidirectional=bidirectional, dropout=model.dropout)
    head = {name: getattr(model, name) for name, owner in ModelConfig.HEAD_SETTINGS.items()
            if owner == task and getattr(model, name) is not None}
    if task == "sentiment":
        return SentimentConfig(backbone, num_labels=num_labels, **head, ignore_placeholders=True,
                               ngram_buckets=hashed_ngrams.BUCKETS if model.ngrams else 0)
    return NextWordConfig(backbone, **head)


def _check_backbone_settings(model: ModelConfig, source) -> None:
    """ZhseqError for a setting ``init_backbone`` overrides that was set to something else than the backbone's
    (``--hidden-size 64`` on a backbone of 16 gave a model of 16, in silence): the cell and sizes, and the
    tokenizer's settings but ``emoji_keywords`` (``_tokenizer``). A setting left at its default says nothing."""
    folder, config = source
    backbone, tokenizer = config["backbone"], config.get("tokenizer", {})
    theirs = {name: backbone.get(name) for name in ("cell", "layers", "embedding_size", "hidden_size")}
    theirs |= {name: bool(tokenizer.get(name)) for name in ("hmm", "t2s", "emoji", "social")}
    for name, value in theirs.items():
        mine = getattr(model, name)
        if mine != default_of(ModelConfig, name) and mine != value:
            option = "--" + name.replace("_", "-")
            shown = (option if mine else "--no-" + name) if isinstance(mine, bool) else f"{option} {mine}"
            raise ZhseqError(f"{shown}: a model started from --init-backbone {folder} keeps its "
                             f"{name.replace('_', ' ')} ({value}); leave the option out, or train without "
                             "--init-backbone")


def _tokenizer(model: ModelConfig, source) -> Tokenizer:
    """The tokenizer of a new model: the settings of ``model``, or with ``init_backbone`` (``source``: (folder,
    config)) those the backbone was trained with, except ``emoji_keywords`` when it is set (not None): that
    one only changes how emoji are read, and it is logged when it differs from the backbone's. Raises
    ZhseqError for ``emoji_keywords`` without the emoji setting."""
    if not source:
        check_emoji_keywords(model.emoji, model.emoji_keywords, "--emoji-keywords", "--emoji")
        return Tokenizer(hmm=model.hmm, t2s=model.t2s, emoji=model.emoji, social=model.social,
                         emoji_keywords=bool(model.emoji_keywords))
    settings = dict(source[1]["tokenizer"])
    if model.emoji_keywords is not None and bool(settings.get("emoji_keywords")) != model.emoji_keywords:
        check_emoji_keywords(settings.get("emoji"), model.emoji_keywords, "--emoji-keywords",
                             f"a backbone that reads them, and {source[0]} does not (its tokenizer's emoji "
                             "setting is off; a model keeps its backbone's tokenizer)")
        settings["emoji_keywords"] = model.emoji_keywords
        logger.info("emoji are read as their %s; the backbone %s read them as their %s",
                    "CLDR keywords" if model.emoji_keywords else "names", source[0],
                    "names" if model.emoji_keywords else "CLDR keywords")
    return Tokenizer.from_dict(settings)


def _run(*, task, net, vocab, tokenizer, labels, train_data, dev_part, out, fit_config: FitConfig, recipe: dict,
         resume: bool = False, ngram_data=None, progress: outdir.Progress | None = None,
         plot_hint: bool = True) -> Path:
    """Examples → fit → model-best / model-last / metrics.json (+ its plot). ``dev_part``: (texts, labels or
    None) or None. ``ngram_data`` (tokens, labels): what a sentiment model's n-gram half is fitted on, if not
    the training data. ``progress`` (``outdir.Progress``): kept at the step under way, for ``outdir.guarded``'s
    line. ``plot_hint``: without matplotlib, say how to get it (``outdir.draw_curves``; False for a stage that
    another stage of the same command follows). In a multi-process run only process 0 writes; the others
    return once it has."""
    if task == "sentiment":
        t = SentimentTask(tokenizer, vocab, labels, net.config.max_tokens)
    else:
        t = LMTask(tokenizer, vocab, net.config.bptt)
    # training-only regularisation: attributes of the modules, never saved (zhseq.modeling)
    net.backbone.word_dropout = fit_config.word_dropout
    if task == "sentiment":
        net.label_smoothing = fit_config.label_smoothing
    train_tokens = train_data[0]
    dev_tokens = None if dev_part is None else distributed.map_split(tokenizer.cut, dev_part[0])
    if task == "sentiment":  # as the classifier reads texts (SentimentClassifier.preprocess)
        def read(token_lists):
            return [classifier_words(x, tokenizer, vocab, net.config) for x in token_lists]

        train_tokens = read(train_tokens)
        dev_tokens = None if dev_tokens is None else read(dev_tokens)
        if ngram_data is not None:
            ngram_data = (read(ngram_data[0]), ngram_data[1])
    examples = t.examples(train_tokens, train_data[1])
    dev_examples = t.examples(dev_tokens, dev_part[1]) if dev_part is not None else None
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
        # train and finetune put both settings in the recipe (finetune: the base model's power)
        ngram_info = fit_ngrams(net, ngram_tokens, ngram_targets, c=recipe["ngram_c"], nb=recipe["ngram_nb"],
                                keep=recipe.get("ngram_keep", 0.0))

    averaged: dict = {}  # fit_config.average_last: the averaged parameters, and what metrics.json says of them

    def metrics(history: list[dict]) -> dict:
        return {"task": task, "metric": t.metric, "epochs": history,
                **({"ngrams": ngram_info} if ngram_info else {}),
                **({"average": averaged["info"]} if "info" in averaged else {})}

    # a checkpoint may only continue the run that wrote it
    fingerprint = json.loads(json.dumps({"recipe": recipe, "examples": len(examples), "vocab": len(vocab),
                                         "labels": config["labels"], "model": net.config.to_dict()}))
    main = distributed.is_main()
    state = distributed.on_main(lambda: load_state(out)) if resume else None  # read on process 0's disk
    if state is not None:
        saved = state["loop"].get("fingerprint") or {}
        was, now = (saved.get("recipe") or {}).get("device", "cpu"), recipe.get("device")  # none: before devices
        if was != now:
            raise ZhseqError(f"the checkpoint in {out} was written by a run on {was}, and this one is on {now}: "
                             f"resume it on {was} (--device {was}) to finish it as it began, or start afresh in a "
                             "new --out")
        # a checkpoint from before a fit setting existed was written with its default
        saved = {**saved, "recipe": {**ADDED_FIT_SETTINGS, **saved.get("recipe", {}), "device": was}}
        changed = _differences(fingerprint, saved)
        if changed:
            raise ZhseqError(f"the checkpoint in {out} was written by a different run: it differs in "
                             f"{_described(changed, recipe.get('command'))}; rerun the same command, or start "
                             "afresh in a new --out")
        logger.info("resuming from the checkpoint at step %d (epoch %d)", state["loop"]["step"], state["loop"]["epoch"])
    if progress is not None:
        progress.step, progress.checkpoint_every = (state["loop"]["step"] if state else 0), fit_config.checkpoint_every

    dev_probs: dict = {}  # sentiment: the network's dev probabilities, last epoch and best, for the n-gram mix

    def evaluate(m) -> dict:
        if task != "sentiment":
            return t.evaluate(m, dev_examples)
        dev_probs["last"] = p = t.probabilities(m, dev_examples)
        return t.score(dev_examples, p)

    def on_best(record: dict) -> None:
        dev_probs["best"] = dev_probs.get("last")
        save(BEST_DIR, record)

    history = fit_loop(
        net,
        examples,
        collate=t.collate,
        config=fit_config,
        evaluate=evaluate if dev_examples else None,
        metric=t.metric,
        greater_is_better=t.greater_is_better,
        tie_metric=t.tie_metric,
        on_best=on_best if main else None,
        on_epoch=(lambda h: write_json(out / METRICS_NAME, metrics(h))) if main else None,
        state_dir=out,
        resume=state,
        fingerprint=fingerprint,
        on_average=(lambda params, n: averaged.update(params=params, n=n)) if main else None,
        on_step=progress.step_begins if progress is not None else None,
    )
    if main:
        save(LAST_DIR, history[-1])
        if "params" in averaged:  # checkpoint averaging: the last epochs' mean, scored and saved beside them
            net.load_state_dict(averaged.pop("params"), strict=False)  # parameters; buffers (n-grams) as they are
            last = dev_probs.get("last")
            scores = evaluate(net) if dev_examples else None  # (sets dev_probs["last"] to the average's)
            dev_probs["average"], dev_probs["last"] = (dev_probs.get("last") if scores else None), last
            averaged["info"] = {"epochs": [h["epoch"] for h in history[-averaged["n"]:]], "dev": scores}
            save(outdir.AVERAGE_DIR, {"dev": scores})
            write_json(out / METRICS_NAME, metrics(history))
            logger.info("the last %d epochs' weights averaged%s, saved to %s", averaged["n"],
                        f": dev {t.metric} {scores[t.metric]:.4f}" if scores else "", out / outdir.AVERAGE_DIR)
        if ngram_info is not None:
            z = ngram_logits(net, dev_tokens) if dev_examples else None
            # after a resume, the epochs before it left no probabilities: those models are run again
            for folder, key in ((BEST_DIR, "best"), (LAST_DIR, "last"), (outdir.AVERAGE_DIR, "average")):
                if (out / folder).is_dir():
                    ngram_info[folder] = choose_ngram_weight(out / folder, t, dev_examples, z, dev_probs.get(key))
            write_json(out / METRICS_NAME, metrics(history))
        clear_state(out)  # the run is complete: its models replace the checkpoint
        outdir.draw_curves(metrics(history), out / outdir.CURVES_NAME, hint=plot_hint)
        best = [h for h in history if h["best"]][-1]
        logger.info("best model (epoch %d) saved to %s", best["epoch"], out / BEST_DIR)
    distributed.barrier()  # every process returns a finished model
    return out / BEST_DIR


def _differences(now: dict, saved: dict, prefix: str = "") -> list[tuple[str, object, object]]:
    """The values that differ between two fingerprints, in order of their dotted names: (``recipe.epochs``,
    the value now, the saved one); a value missing on one side is None there."""
    out = []
    for key in sorted(now.keys() | saved.keys()):
        a, b = now.get(key), saved.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append((f"{prefix}{key}", a, b))
    return out


# What a refused --resume calls the values it compares (_described): the option the user types where the command
# has one (each named after its config field, --batch-size for batch_size), else the field's name in Python.
# The recipe's and the model's fields that are an option of train, of finetune, and of both:
# (tests/test_training_messages.py checks these against the commands' options)
_TRAIN_OPTIONS = {"patience", "ngram_nb", "max_vocab", "ngram_data", "init_backbone", "hmm", "t2s", "emoji",
                  "social", "emoji_keywords", "cell", "bidirectional", "layers", "embedding_size", "hidden_size",
                  "dropout", "pooling", "max_tokens", "bptt", "sampled_softmax"}
_FINETUNE_OPTIONS = {"unlabeled", "ngram_keep"}
_OPTIONS = {"epochs", "max_steps", "batch_size", "lr", "seed", "word_dropout", "label_smoothing", "average_last",
            "gradual_unfreezing", "discriminative_lr", "ngram_c", "device", "precision", "data", "dev", "label_map",
            "min_freq", "checkpoint_every"}
# finetune's language-model stage (recipe "command" LM_STAGE_COMMAND): lm_stage_config's FitConfig (lm_fit in
# Python), with two options of its own and the classifier stage's seed, device and precision
LM_STAGE_COMMAND = "finetune --unlabeled (lm stage)"
_LM_STAGE_OPTIONS = {"epochs": "--lm-epochs", "lr": "--lm-lr"}
_LM_STAGE_SHARED = {"seed", "device", "precision", "max_steps", "data", "unlabeled"}
_FIT_FIELDS = {f.name for f in fields(FitConfig)}
# what has no option: said in words (values that count what the data gave, or a whole part of the recipe)
_IN_WORDS = {"command": "the command", "n_train": "the number of training texts", "examples": "the number of "
             "training examples", "vocab": "the vocabulary size", "vocab_size": "the vocabulary size",
             "labels": "the labels", "num_labels": "the labels", "new_words": "the words new to the vocabulary",
             "processes": "the number of torchrun processes", "base_model": "MODEL_DIR (the model fine-tuned)",
             "base_training": "the training of MODEL_DIR (its config.json)", "ngram_buckets": "--ngrams",
             "lm_stage": "the language-model stage (OUT/lm)"}


def _described(changed: list[tuple[str, object, object]], command: str | None) -> str:
    """``--lm-epochs (1 then, 2 now; lm_fit.epochs in Python), --batch-size (16 then, 32 now)``: ``_differences``'
    answer for a refused --resume, each value named by the option the user types (``_TRAIN_OPTIONS`` …) for
    ``command`` (the recipe's: ``train``, ``finetune``, ``LM_STAGE_COMMAND``), else in Python or in words; the
    values shown when they are short; the options first. A name met again (a whole base recipe) is said once."""
    said: dict[str, str] = {}
    for path, now, then in changed:
        parts = path.split(".")
        field = next((p for p in parts if p in ("base_training", "lm_stage")), parts[-1])
        whole = field != parts[-1]  # a part of the recipe that differs somewhere inside
        alias = None
        if command == LM_STAGE_COMMAND and field in _LM_STAGE_OPTIONS:
            name, alias = _LM_STAGE_OPTIONS[field], f"lm_fit.{field}"
        elif field in _IN_WORDS:
            name = _IN_WORDS[field]
        elif command == LM_STAGE_COMMAND and field in _FIT_FIELDS and field not in _LM_STAGE_SHARED:
            name = f"lm_fit.{field}"  # set in Python only
        elif field in _OPTIONS or field in (_TRAIN_OPTIONS if command == "train" else _FINETUNE_OPTIONS
                                            if command == "finetune" else ()):
            name = "--" + field.replace("_", "-")
        else:
            name = field
        values = None if whole else (_shown_value(then), _shown_value(now))
        inside = [f"{values[0]} then, {values[1]} now"] if values and None not in values else []
        inside += [f"{alias} in Python"] if alias else []
        said.setdefault(name, name + (f" ({'; '.join(inside)})" if inside else ""))
    # the options first, then Python's names, then what follows from them (the vocabulary size …)
    order = sorted(said, key=lambda name: 0 if name.startswith("--") else 2 if " " in name else 1)
    return ", ".join(said[name] for name in order)


def _shown_value(value) -> str | None:
    """A fingerprint's value as a refusal shows it (``0.001``, ``off``, ``a.tsv b.tsv``, ``none``); None when it
    is not short."""
    if isinstance(value, bool):
        text = "on" if value else "off"
    elif value is None:
        text = "none"
    elif isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, (int, str)):
        text = str(value)
    elif isinstance(value, list) and all(isinstance(v, (int, float, str)) for v in value):
        text = " ".join(map(str, value)) or "none"
    else:
        return None
    return text if len(text) <= 60 else None


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


# FitConfig fields added after checkpoints were first written: absent from an older checkpoint's fingerprint,
# which then stands for their defaults (so that --resume continues a run started by an earlier version)
ADDED_FIT_SETTINGS = {name: default_of(FitConfig, name) for name in (
    "label_smoothing", "word_dropout", "discriminative_lr", "gradual_unfreezing", "average_last")}


def _check_fit(task: str, fit: FitConfig) -> None:
    """ZhseqError (one line) for a fit setting that the task cannot use, or this run cannot (gradual unfreezing
    under torchrun: ``loop.check_layers``)."""
    if task != "sentiment" and fit.label_smoothing:
        raise ZhseqError("label_smoothing is a setting of sentiment models only")
    check_layers(fit)


def _check_unused(task: str, fit: FitConfig, *, ngrams: bool, ngram_data=(), label_column=None,
                  allow_rare_labels=False, ngrams_set=False, ngram_keep_set=False) -> None:
    """ZhseqError (one line, worded as the head settings' check in ``train``: "X is a setting of … only") for
    an option given that this run would ignore: a label option or an n-gram one for an lm (which reads texts
    only and has no n-gram half), an n-gram one for a model without that half. ``ngrams``: whether the model
    has the half; ``ngrams_set``/``ngram_keep_set``: whether those were given. (A label map for an lm is
    refused as its data is read: ``read_task_data``.)"""
    if ngram_data and (task != "sentiment" or not ngrams):
        raise ZhseqError("--ngram-data needs a sentiment model with its n-gram half (--ngrams)")
    given = [name for name, on in (("ngram_c", fit.ngram_c != default_of(FitConfig, "ngram_c")),
                                   ("ngram_nb", fit.ngram_nb != default_of(FitConfig, "ngram_nb")),
                                   ("ngram_keep", ngram_keep_set)) if on]
    if task != "sentiment":
        given = (["ngrams"] if ngrams_set else []) + given
        given += [name for name, on in (("label_column", label_column is not None),
                                        ("allow_rare_labels", allow_rare_labels)) if on]
        owner = "sentiment models only: a next-word (lm) model reads texts and has no n-gram half"
    else:
        owner = "the n-gram half, which this model does not have (--no-ngrams)"
    if given and (task != "sentiment" or not ngrams):
        raise ZhseqError(f"{' and '.join(given)} {'are settings' if len(given) > 1 else 'is a setting'} of {owner}")


def _mapped(label_map: dict | None) -> dict:
    """The label map a model's recipe records: none when not given (as before label maps existed)."""
    return {"label_map": label_map} if label_map else {}


def _public(fit: FitConfig, device) -> dict:
    """The fit settings a model's recipe records (and a checkpoint's fingerprint compares); ``device`` (the
    resolved ``torch.device``) as its kind, ``cpu``/``cuda``/``mps``, in place of the asked-for name."""
    d = fit.to_dict()
    for name in ("progress", "checkpoint_every",  # how a run reports and saves itself does not change it
                 "ngram_c", "ngram_nb"):  # the recipe holds them only for a model with an n-gram half
        d.pop(name)
    d["device"] = device.type
    if distributed.world() > 1:  # the batches each step sees, and so the run, depend on it
        d["processes"] = distributed.world()
    return d
