"""Settings given by name: flat keyword arguments routed to ``ModelConfig`` / ``FitConfig`` (``train``), and
the ``FitConfig`` a fine-tuning run starts from (``finetune``). Torch-free."""

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


def finetune_config(model_dir: str | os.PathLike, **changes) -> FitConfig:
    """The ``FitConfig`` that ``finetune`` uses for the saved model in ``model_dir`` when given none:
    ``FINETUNE_DEFAULTS`` (fewer epochs, a lower learning rate), the batch size and n-gram C the model was
    trained with, then ``changes`` (FitConfig fields; None for ``batch_size``/``ngram_c`` keeps the base
    model's). Raises ZhseqError for a folder without a model, TypeError for an unknown field."""
    recipe = read_config(resolve_model_dir(model_dir)).get("training", {})
    base = FitConfig(**FINETUNE_DEFAULTS, batch_size=recipe.get("batch_size", default_of(FitConfig, "batch_size")),
                     ngram_c=recipe.get("ngram_c", default_of(FitConfig, "ngram_c")))
    kept = {k: v for k, v in changes.items() if not (v is None and k in ("batch_size", "ngram_c"))}
    model_settings = sorted(set(kept) - {f.name for f in fields(FitConfig)})
    if model_settings:
        raise TypeError(f"got an unexpected keyword argument {model_settings[0]!r} (a fine-tuned model keeps "
                        "its base's settings; fine-tuning takes the fields of FitConfig)")
    return replace(base, **kept)
