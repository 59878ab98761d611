"""Every setting of a model and of a training run, with its default and its check, in one place. No torch.

    config.json {"backbone": {...}, "head": {...}} → model_config(task, d) → SentimentConfig | NextWordConfig
    train(task, data, out, model=ModelConfig(...), fit=FitConfig(...))     (zhseq.train)

- ``BackboneConfig``, ``SentimentConfig``, ``NextWordConfig``: what a saved model is (stored in its
  ``config.json``); ``zhseq.modeling`` builds the torch network from them, the numpy engine reads the same.
- ``ModelConfig``: what ``train`` builds (sizes, cell, vocabulary, tokenizer, head options).
- ``FitConfig``: how the loop trains (epochs, batch size, learning rate …) and how the n-gram half is fitted.

Each dataclass checks its fields when built (``__post_init__``): a wrong type or a value out of range raises
``ZhseqError`` with one line naming the field and what it expects. ``from_dict`` also refuses unknown
keys and names the section of ``config.json`` the field sits in (``head.max_tokens must be …``). The CLI
takes its option defaults from these classes (``default_of``), so every default is written once.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import os
import re
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import STACKED_BIDIRECTIONAL_LM, ZhseqError

POOLINGS = ("max", "mean", "last")
PRECISIONS = ("fp32", "bf16")
TASKS = ("sentiment", "lm")


# -- checks: one per kind of field; each says what it expects ------------------------------------
class _Check:
    def __init__(self, kind: str, expected: str, test=lambda v: True, optional: bool = False):
        self.kind, self.expected, self.test, self.optional = kind, expected, test, optional

    def __call__(self, name: str, value):
        """``value`` as the field keeps it (floats as float, paths as str), or ZhseqError naming ``name``."""
        if value is None and self.optional:
            return None
        if self.kind == "path" and isinstance(value, os.PathLike):
            value = os.fspath(value)
        ok = {
            # numpy's integers and floats too (np.int64(2): a pandas column's values), never a bool
            "int": isinstance(value, numbers.Integral) and not isinstance(value, bool),
            "float": isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value),
            "bool": isinstance(value, bool) or (type(value).__module__ == "numpy" and type(value).__name__ in
                                                ("bool", "bool_")),  # numpy's, as a pandas column gives it
            "str": isinstance(value, str),
            "path": isinstance(value, str),
        }[self.kind]
        if not ok or not self.test(value):
            raise ZhseqError(f"{name} must be {self.expected}, not {_shown(value)}")
        return {"float": float, "int": int, "bool": bool}.get(self.kind, lambda v: v)(value)


def _shown(value) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def whole(at_least: int, optional: bool = False, at_most: int | None = None) -> _Check:
    none = " (or null)" if optional else ""
    if at_most is not None:
        return _Check("int", f"a whole number from {at_least} to {at_most:,}{none}",
                      lambda v: at_least <= v <= at_most, optional)
    return _Check("int", f"a whole number ≥ {at_least}{none}", lambda v: v >= at_least, optional)


MAX_BATCH = 1_000_000  # texts per prediction batch: far beyond what fits in memory, well within what Python indexes


def number(low: float, high: float | None = None, *, low_open=False, high_open=False) -> _Check:
    left, right = "(" if low_open else "[", ")" if high_open else "]"
    if high is None:
        text = f"a number {'>' if low_open else '≥'} {low:g}"
    else:
        text = f"a number in {left}{low:g}, {high:g}{right}"

    def test(v):
        above = v > low if low_open else v >= low
        below = high is None or (v < high if high_open else v <= high)
        return above and below

    return _Check("float", text, test)


def choice(options: tuple) -> _Check:
    return _Check("str", f"one of: {', '.join(options)}", lambda v: v in options)


BOOL = _Check("bool", "true or false")
NAME = _Check("str", "a non-empty name", lambda v: bool(v.strip()))
OPTIONAL_PATH = _Check("path", "a folder name (or null)", lambda v: bool(v.strip()), optional=True)
OPTIONAL_BOOL = _Check("bool", "true, false (or null)", optional=True)
OPTIONAL_POOLING = _Check("str", f"one of: {', '.join(POOLINGS)} (or null)", lambda v: v in POOLINGS, optional=True)


def setting(default, check: _Check, help: str = ""):
    """A dataclass field with its check and a line of help (the CLI's)."""
    return field(default=default, metadata={"check": check, "help": help})


class _Checked:
    """Checks every field when built; ``from_dict``/``to_dict`` for JSON."""

    def __post_init__(self):
        for f in fields(self):
            check = f.metadata.get("check")
            if check is not None:
                object.__setattr__(self, f.name, check(f.name, getattr(self, f.name)))

    @classmethod
    def from_dict(cls, d: dict, where: str = ""):
        """Build from a JSON object, refusing unknown keys and values of the wrong kind.
        ``where`` prefixes field names in errors (``"head."`` gives ``head.max_tokens must be …``)."""
        if not isinstance(d, dict):
            raise ZhseqError(f"{where.rstrip('.') or cls.__name__} must be a JSON object, not {_shown(d)}")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ZhseqError(f"unknown {where.rstrip('.') or cls.__name__} settings: {', '.join(unknown)}")
        missing = [n for n, f in known.items() if f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING and n not in d]
        if missing:
            raise ZhseqError(f"{where}{missing[0]} is missing")
        values = {}
        for name, value in d.items():
            check = known[name].metadata.get("check")
            values[name] = check(where + name, value) if check is not None else value
        return cls(**values)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def default_of(cls, name: str):
    """The default of field ``name`` of dataclass ``cls`` (what the CLI shows and passes)."""
    return next(f.default for f in fields(cls) if f.name == name)


# -- a saved model ----------------------------------------------------------------------------------
@dataclass
class BackboneConfig(_Checked):
    """Embedding + recurrent layer. Stored in config.json as ``"backbone"``."""

    vocab_size: int = setting(dataclasses.MISSING, whole(1))
    embedding_size: int = setting(128, whole(1), "Width of the word embeddings.")
    hidden_size: int = setting(128, whole(1), "Width of each direction's recurrent state.")
    cell: str = setting("lstm", NAME, "Recurrent cell: rnn, lstm, gru, or any name registered with "
                                      "zhseq.register_cell.")
    layers: int = setting(1, whole(1), "Stacked recurrent layers.")
    bidirectional: bool = setting(True, BOOL)
    dropout: float = setting(0.2, number(0, 1, high_open=True),
                             "Dropout between recurrent layers and on the recurrent outputs.")
    embedding_dropout: float = setting(0.1, number(0, 1, high_open=True))

    @property
    def output_size(self) -> int:
        """D·H: the width of each state the backbone returns."""
        return self.hidden_size * (2 if self.bidirectional else 1)


class _HeadConfig(_Checked):
    """Stored in config.json as {"backbone": {...}, "head": {...the head's own fields}}."""

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        return {"backbone": d.pop("backbone"), "head": d}

    @classmethod
    def from_json(cls, d: dict):
        """config.json's {"backbone", "head"} → the config; errors name the section (``head.bptt must be …``)."""
        backbone = BackboneConfig.from_dict(d.get("backbone"), "backbone.")
        head = d.get("head", {})
        if not isinstance(head, dict):
            raise ZhseqError(f"head must be a JSON object, not {_shown(head)}")
        if "backbone" in head:
            raise ZhseqError("unknown head settings: backbone")
        return cls.from_dict({**head, "backbone": backbone}, "head.")


@dataclass
class SentimentConfig(_HeadConfig):
    """The classifier head: pooled states → linear → logits (B, C), and the optional linear n-gram half,
    whose probabilities are averaged with the network's: (1 − ngram_weight) · p_rnn + ngram_weight · p_ngrams."""

    backbone: BackboneConfig = setting(dataclasses.MISSING, None)
    num_labels: int = setting(2, whole(2))
    pooling: str = setting("max", choice(POOLINGS), "How the states of a text become one vector.")
    max_tokens: int = setting(256, whole(1), "Longer texts keep their first third and last two thirds of N "
                                             "tokens, in training and prediction.")
    ngram_buckets: int = setting(0, whole(0))  # 0: no n-gram half
    ngram_words: int = setting(2, whole(1))  # word 1..n-grams
    ngram_chars: int = setting(3, whole(1))  # character 1..n-grams
    ngram_weight: float = setting(0.0, number(0, 1))
    # the social placeholders (zhseq.textnorm.PLACEHOLDERS: <链接>, @用户, //转发; with them the 回复 and colon of a
    # reply marker 回复@name:) left out of what the classifier reads, in training and prediction
    # (zhseq.pipeline.classifier_words); on for models trained since, off (what a missing key means) for those before
    ignore_placeholders: bool = setting(False, BOOL)

    def __post_init__(self):
        super().__post_init__()
        if self.ngram_buckets == 1:
            raise ZhseqError("ngram_buckets must be 0 (no n-gram half) or at least 2")


@dataclass
class NextWordConfig(_HeadConfig):
    """The next-word head: state → projection to E → linear tied to the embedding → logits (B, V)."""

    backbone: BackboneConfig = setting(dataclasses.MISSING, None)
    bptt: int = setting(64, whole(1), "Training window in tokens.")
    # training only: score each target against this many sampled words instead of the whole vocabulary
    sampled_softmax: int = setting(0, whole(0), "Train the output layer against N sampled words per batch "
                                                "instead of the whole vocabulary (0 = full softmax).")

    def __post_init__(self):
        super().__post_init__()
        if self.backbone.bidirectional and self.backbone.layers > 1:
            raise ZhseqError(STACKED_BIDIRECTIONAL_LM)


HEADS = {"sentiment": SentimentConfig, "lm": NextWordConfig}


def model_config(task: str, config: dict) -> SentimentConfig | NextWordConfig:
    """A model folder's config.json (a dict) → its checked head config, or ZhseqError naming the field."""
    if task not in HEADS:
        raise ZhseqError(f"unknown task {_shown(task)}; choose one of: {', '.join(HEADS)}")
    return HEADS[task].from_json(config)


def check_label_names(labels, n: int) -> list[str]:
    """config.json's "labels" for a classifier with ``n`` outputs: a list of n different strings."""
    if not (isinstance(labels, list) and len(labels) == n and all(isinstance(x, str) for x in labels)
            and len(set(labels)) == n):
        raise ZhseqError(f"labels must be a list of {n} different label names, not {_shown(labels)}")
    return labels


def check_saved_config(config: dict) -> SentimentConfig | NextWordConfig:
    """Everything a model needs from its folder's config.json, checked: the task, the backbone and head
    settings, the labels and the tokenizer settings. Returns the head config; raises ZhseqError naming the
    field and what it expects (``head.max_tokens must be a whole number ≥ 1, not "256"``)."""
    from .tokenizer import check_settings

    head = model_config(config.get("task"), config)
    if isinstance(head, SentimentConfig):
        check_label_names(config.get("labels"), head.num_labels)
    check_settings(config.get("tokenizer", {}))
    return head


# -- a training run ---------------------------------------------------------------------------------
@dataclass
class ModelConfig(_Checked):
    """What ``train`` builds. The sizes and cell go to ``BackboneConfig``; ``pooling``/``max_tokens``
    (sentiment) and ``bptt``/``sampled_softmax`` (lm) to the head, where None keeps the head's default.
    With ``init_backbone`` (a saved model's folder), its tokenizer, vocabulary, cell and sizes are used."""

    cell: str = setting(default_of(BackboneConfig, "cell"), NAME, "Recurrent cell: rnn, lstm, gru, or any name "
                                                                   "registered with zhseq.register_cell.")
    bidirectional: bool | None = setting(None, OPTIONAL_BOOL)  # None: sentiment both ways, lm one way
    layers: int = setting(default_of(BackboneConfig, "layers"), whole(1), "Stacked recurrent layers.")
    embedding_size: int = setting(default_of(BackboneConfig, "embedding_size"), whole(1),
                                  "Width of the word embeddings.")
    hidden_size: int = setting(default_of(BackboneConfig, "hidden_size"), whole(1),
                               "Width of each direction's recurrent state.")
    dropout: float = setting(default_of(BackboneConfig, "dropout"), number(0, 1, high_open=True),
                             "Dropout between recurrent layers and on the recurrent outputs (0: none).")
    pooling: str | None = setting(None, OPTIONAL_POOLING)
    max_tokens: int | None = setting(None, whole(1, optional=True))
    bptt: int | None = setting(None, whole(1, optional=True))
    sampled_softmax: int = setting(default_of(NextWordConfig, "sampled_softmax"), whole(0))
    ngrams: bool = setting(True, BOOL, "sentiment only: add a linear model over hashed word and character "
                                       "n-grams (TF-IDF, logistic regression), averaged with the network as the "
                                       "dev set prefers.")
    min_freq: int = setting(2, whole(1), "Rarer words become <unk>.")
    max_vocab: int = setting(50000, whole(1), "Vocabulary size cap.")
    hmm: bool = setting(False, BOOL, "Segment with jieba's HMM for unknown words.")
    t2s: bool = setting(False, BOOL, "Read traditional characters as simplified (OpenCC t2s), in training and "
                                     "prediction (saved with the model; needs: pip install 'zhseq[t2s]').")
    emoji: bool = setting(True, BOOL, "Read emoji as their Chinese names (👍 → 拇指 向上), in training and "
                                      "prediction (saved with the model).")
    emoji_keywords: bool | None = setting(
        None, OPTIONAL_BOOL, "With --emoji: read an emoji as its Unicode CLDR Chinese keywords (👍 → 同意 好 … 赞) "
                             "instead of its name, where CLDR gives some. Default: as the --init-backbone model "
                             "read them, else off (saved with the model).")
    social: bool = setting(True, BOOL, "Read social-media markup: @mentions and links become the tokens @用户 and "
                                       "<链接>, //@ repost chains //转发, emoticon tags like [哈哈] one token each, "
                                       "#topic# marks dropped (saved with the model).")
    init_backbone: str | None = setting(None, OPTIONAL_PATH)  # a str or os.PathLike, kept as str

    # which task each head setting belongs to; a setting of the other task is refused by train()
    HEAD_SETTINGS = {"pooling": "sentiment", "max_tokens": "sentiment", "bptt": "lm", "sampled_softmax": "lm"}


# where a run trains (FitConfig.device); whether the machine has it is zhseq.modeling.resolve_device's question
DEVICE_NAMES = ("auto", "cpu", "cuda", "cuda:N", "mps")
DEVICE = _Check("str", f"one of: {', '.join(DEVICE_NAMES)}",
                lambda v: v in ("auto", "cpu", "cuda", "mps") or re.fullmatch(r"cuda:[0-9]+", v) is not None)


@dataclass
class FitConfig(_Checked):
    """The training loop (``zhseq.training.loop.fit``) and the n-gram half's fit (``zhseq.training.ngramfit``)."""

    epochs: int = setting(5, whole(1), "Passes over the training data (fewer if the dev score stops improving).")
    max_steps: int | None = setting(None, whole(1, optional=True), "Stop after this many optimizer steps.")
    batch_size: int = setting(64, whole(1), "Texts (sentiment) or windows (lm) per optimizer step.")
    lr: float = setting(2e-3, number(0), "Peak learning rate (0: nothing learns).")
    weight_decay: float = setting(0.01, number(0))  # AdamW's, on weight matrices (not embeddings, biases, norms)
    clip: float = setting(1.0, number(0, low_open=True))  # gradient norm
    warmup: float = setting(0.05, number(0, 1, high_open=True))  # share of steps warming up, then linear decay
    seed: int = setting(0, whole(0), "Seed of the initial weights, the shuffling and dropout: the same seed, data "
                                "and settings give the same model, byte for byte.")
    patience: int = setting(2, whole(1), "Stop after N epochs without a better dev score.")
    checkpoint_every: int = setting(500, whole(1), "Write a resumable checkpoint every N steps (and after "
                                                   "every epoch).")
    precision: str = setting("fp32", choice(PRECISIONS), "bf16: on the CPU, the lstm training kernel's matrix "
                                                         "products in bfloat16 (faster with AMX or AVX512-BF16); "
                                                         "on a GPU, torch's bf16 autocast around the recurrent "
                                                         "layer (which stays float32).")
    device: str = setting("auto", DEVICE, "Where to train: auto (a CUDA GPU when torch sees one, else the CPU), "
                                          "cpu, cuda, cuda:N, or mps (Apple GPU, only when asked). Under torchrun "
                                          "each process takes the GPU of its LOCAL_RANK.")
    # the n-gram half (sentiment): L2-regularised logistic regression, as scikit-learn's C; each feature
    # scaled by its naive-Bayes log-count ratio to the power ngram_nb first, as NBSVM does
    ngram_c: float = setting(16.0, number(0, low_open=True), "Inverse regularisation of the n-gram model "
                                                             "(larger: fits the data closer).")
    ngram_nb: float = setting(0.5, number(0), "Scale each n-gram by its naive-Bayes log-count ratio to this "
                                              "power before the fit, as NBSVM does (0: plain TF-IDF).")
    progress: bool = setting(True, BOOL, "A progress bar and INFO messages (the zhseq loggers) during the run.")
    # ULMFiT's fine-tuning (Howard & Ruder 2018, §3.2–3.3) over the model's layer groups, bottom to top: the
    # embedding, each recurrent layer, the head (zhseq.modeling.layer_groups)
    discriminative_lr: float = setting(1.0, number(0, low_open=True),
                                       "Layer group l below the top (the head) trains at lr / F**l (ULMFiT's "
                                       "discriminative learning rates: 2.6; 1 = one rate for all).")
    gradual_unfreezing: bool = setting(False, BOOL, "Epoch 1 trains only the head, each later epoch one more layer "
                                                    "group down (recurrent layers, then the embedding) (ULMFiT). "
                                                    "One process only (not under torchrun).")
    average_last: int = setting(0, whole(0), "Also save OUT/model-average: the weights averaged over the last N "
                                             "epochs' models (checkpoint averaging, Vaswani et al. 2017; SWA, "
                                             "Izmailov et al. 2018), scored on dev; 0 or 1 = off.")
    # regularisation (training only: nothing of them is saved in the model's backbone or head)
    label_smoothing: float = setting(0.0, number(0, 1, high_open=True),
                                     "sentiment only: the training target puts 1 − P + P/C on the gold label "
                                     "and P/C on each other of the C labels (Szegedy et al. 2016, torch's "
                                     "cross_entropy; 0 = off).")
    word_dropout: float = setting(0.0, number(0, 1, high_open=True),
                                  "In training only, replace each word of a text by <unk> with this probability "
                                  "(Iyyer et al. 2015; Bowman et al. 2016; 0 = off). Padding and the lm's line "
                                  "start/end stay.")


@dataclass
class PredictConfig(_Checked):
    """The prediction options of the pipelines (``zhseq.pipeline``), the CLI and the service: their defaults
    and checks, in one place (``check_prediction``)."""

    batch_size: int = setting(256, whole(1, at_most=MAX_BATCH),
                              "Texts per batch; memory stays flat however long the input is.")
    neutral_band: float = setting(0.0, number(0, 0.5, high_open=True),
                                  "Label a text 'neutral' when its positive probability is within 0.5 ± X "
                                  "(e.g. 0.1). Default: off.")
    k: int = setting(5, whole(1), "Words to show per prefix.")
    n: int = setting(20, whole(0), "Words to generate.")
    temperature: float = setting(0.0, number(0), "0 picks the most likely word each step; higher values "
                                                 "sample more freely.")
    seed: int | None = setting(None, whole(0, optional=True),
                               "Seed for sampling, for repeatable output.")
    top_p: float = setting(0.9, number(0, 1, low_open=True),
                           "Nucleus sampling (Holtzman et al., 2020): sample among the most likely words that "
                           "together hold this share of the probability (with --temperature above 0).")
    repetition_penalty: float = setting(1.2, number(1), "Divide the scores of words already in the text by this "
                                                        "(CTRL, Keskar et al., 2019); 1 = off.")
    no_repeat_ngram: int = setting(3, whole(0), "Never repeat a sequence of this many words (0 = off).")


_PREDICT_CHECKS = {f.name: f.metadata["check"] for f in fields(PredictConfig)}
# the Python API's switches (the CLI's flags): a str such as "no" would be true
_PREDICT_CHECKS.update(words_only=_Check("bool", "True or False"), explain=_Check("bool", "True or False"))


def check_prediction(**values) -> None:
    """Check prediction options by name (``k=0`` → ZhseqError "k must be a whole number ≥ 1, not 0")."""
    for name, value in values.items():
        _PREDICT_CHECKS[name](name, value)


# what finetune changes from FitConfig's defaults; batch size and n-gram C default to the base model's
FINETUNE_DEFAULTS = {"epochs": 3, "lr": 5e-4}
FINETUNE_MAX_NEW_WORDS = 20000
# finetune: the share of the base model's n-gram half kept beside the one refitted on the new data (logits
# averaged; zhseq.training.fit_ngrams' keep): chosen on the 500-label runs of bench/domain_dev.py
FINETUNE_NGRAM_KEEP = 0.5
NGRAM_KEEP = number(0, 1, high_open=True)  # its check: a share in [0, 1)


def replace(config, **changes) -> Any:
    """``dataclasses.replace`` that checks the new values (as building does)."""
    return dataclasses.replace(config, **changes)
