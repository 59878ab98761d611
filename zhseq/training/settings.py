"""Settings given by name: flat keyword arguments routed to ``ModelConfig`` / ``FitConfig`` (``train``), and
the ``FitConfig``s a fine-tuning run starts from (``finetune``; with unlabelled text, ULMFiT's two stages:
``lm_stage_config`` for the language model, ``finetune_config(..., ulmfit=True)`` for the classifier). Torch-free."""

from __future__ import annotations

import os
from dataclasses import fields

from ..checkpoint import read_config, resolve_model_dir
from ..config import FINETUNE_DEFAULTS, FitConfig, ModelConfig, default_of, replace

_OWNER = {**{f.name: ModelConfig for f in fields(ModelConfig)}, **{f.name: FitConfig for f in fields(FitConfig)}}


def split_settings(model: ModelConfig | None = None, fit: FitConfig | None = None, /,
                   **settings) -> tuple[ModelConfig, FitConfig]:
    """Flat settings (``hidden_size=8, epochs=1``, as ``train`` took them before the configs) → (ModelConfig,
    FitConfig): each goes to the config that has a field of its name, on top of ``model`` and ``fit``
    (default: the defaults). Values are checked as the configs check them (ZhseqError naming the field);
    a name neither has is a TypeError, as Python's for an unknown keyword argument."""
    changes: dict = {ModelConfig: {}, FitConfig: {}}
    for name, value in settings.items():
        owner = _OWNER.get(name)
        if owner is None:
            raise TypeError(f"got an unexpected keyword argument {name!r} (settings are the fields of "
                            "ModelConfig and FitConfig)")
        changes[owner][name] = value
    return (replace(model or ModelConfig(), **changes[ModelConfig]),
            replace(fit or FitConfig(), **changes[FitConfig]))


# ULMFiT's classifier stage (Howard & Ruder 2018, §3.2–3.3): what finetune with unlabelled text changes besides
# FINETUNE_DEFAULTS, unless given
ULMFIT_DEFAULTS = {"discriminative_lr": 2.6, "gradual_unfreezing": True}
# the language-model stage (finetune with unlabelled text): its FitConfig besides the classifier stage's seed,
# device, precision, progress and checkpointing (lm_stage_config), and its head (sampled softmax as the shipped
# lm was trained; full softmax when the vocabulary is smaller). 3 epochs: on 4,000 reviews of corpora/reviews the
# shipped model's lm stage reached dev perplexity 309, 208, 182, 176 after epochs 1–4 of a 4-epoch run, at about
# 12 s an epoch on one CPU thread (zhseq finetune sentiment --data 500.tsv --unlabeled 4000.txt --lm-epochs 4)
LM_STAGE_DEFAULTS = {"epochs": 3, "lr": 1e-3, "batch_size": 32, "discriminative_lr": 2.6}
LM_STAGE_HEAD = {"bptt": 64, "sampled_softmax": 2048}
# given as None, these keep finetune_config's default (the base model's, or ULMFiT's)
_FROM_BASE = ("batch_size", "ngram_c", "discriminative_lr", "gradual_unfreezing")


def finetune_config(model_dir: str | os.PathLike, *, ulmfit: bool = False, **changes) -> FitConfig:
    """The ``FitConfig`` that ``finetune`` uses for the saved model in ``model_dir`` when given none:
    ``FINETUNE_DEFAULTS`` (fewer epochs, a lower learning rate), the batch size and n-gram C the model was
    trained with, with ``ulmfit`` (``finetune`` with unlabelled text) also ``ULMFIT_DEFAULTS`` (discriminative
    learning rates 2.6, gradual unfreezing), then ``changes`` (FitConfig fields; None for ``batch_size``,
    ``ngram_c``, ``discriminative_lr`` or ``gradual_unfreezing`` keeps that default). Raises ZhseqError for a
    folder without a model, TypeError for an unknown field."""
    recipe = read_config(resolve_model_dir(model_dir)).get("training", {})
    base = FitConfig(**FINETUNE_DEFAULTS, batch_size=recipe.get("batch_size", default_of(FitConfig, "batch_size")),
                     ngram_c=recipe.get("ngram_c", default_of(FitConfig, "ngram_c")),
                     **(ULMFIT_DEFAULTS if ulmfit else {}))
    kept = {k: v for k, v in changes.items() if not (v is None and k in _FROM_BASE)}
    model_settings = sorted(set(kept) - {f.name for f in fields(FitConfig)})
    if model_settings:
        raise TypeError(f"got an unexpected keyword argument {model_settings[0]!r} (a fine-tuned model keeps "
                        "its base's settings; fine-tuning takes the fields of FitConfig)")
    return replace(base, **kept)


def lm_stage_config(fit: FitConfig, **changes) -> FitConfig:
    """The ``FitConfig`` of ``finetune``'s language-model stage (with unlabelled text) when given none:
    ``LM_STAGE_DEFAULTS`` (3 epochs at lr 1e-3, batches of 32 windows, discriminative learning rates 2.6 as
    ULMFiT's §3.2), the classifier stage ``fit``'s seed, device, precision, progress, checkpointing and step
    limit (``--max-steps`` caps each stage), then
    ``changes`` (FitConfig fields; None keeps the default). ZhseqError for a value out of range, TypeError for
    an unknown field."""
    known = {f.name for f in fields(FitConfig)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise TypeError(f"got an unexpected keyword argument {unknown[0]!r} (the lm stage takes the fields of "
                        "FitConfig)")
    shared = {k: getattr(fit, k) for k in ("seed", "device", "precision", "progress", "checkpoint_every",
                                           "max_steps")}
    return replace(FitConfig(**LM_STAGE_DEFAULTS, **shared), **{k: v for k, v in changes.items() if v is not None})
