"""The model folder: ``config.json`` + ``model.safetensors`` + ``vocab.json``. No pickle anywhere.

``config.json`` holds the task, the backbone and head settings, the labels (a list: JSON keys are only
strings), the tokenizer settings and the zhseq version; loading rebuilds the model from it and then loads
the weights. A folder is written beside its final place and renamed into it, so a crash never leaves a
half-written model under the final name.

This module does not import torch at the top: reading a config (``zhseq info``) stays cheap.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

from .config import TASKS, check_saved_config
from .errors import ZhseqError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
VOCAB_NAME = "vocab.json"
METRICS_NAME = "metrics.json"
BEST_DIR, LAST_DIR = "model-best", "model-last"
STATE_DIR = "checkpoint"  # a training run's resumable state, beside them (zhseq.training.state)
FORMAT = "zhseq-model"
MODELS_DIR = Path(__file__).parent / "models"  # shipped default models, one folder per task: models/sentiment, models/lm


def default_model_dir(task: str) -> Path:
    """The shipped default model for a task, or a ZhseqError saying how to get one."""
    path = MODELS_DIR / task
    if not (path / CONFIG_NAME).is_file():
        example = (
            "zhseq train sentiment --data corpora/chnsenticorp/train.tsv.gz --out my-sentiment"
            if task == "sentiment"
            else "zhseq train lm --data corpora/peoples_daily/train.txt.gz --out my-lm"
        )
        raise ZhseqError(
            f"no default {task} model is installed with this zhseq; train one ({example}) "
            f"and pass its folder with --model"
        )
    return path


def resolve_model_dir(path: str | os.PathLike) -> Path:
    """A model folder, a training output folder (→ its ``model-best``), or the name of a shipped model
    (``"sentiment"``, ``"lm"``) when no folder of that name exists here. Raises ZhseqError otherwise, a
    ``path`` that is not a str or path (``5``, None) included."""
    if not isinstance(path, (str, os.PathLike)):
        raise ZhseqError(f"a model is named by a folder path or 'sentiment'/'lm', not {type(path).__name__} {path!r}")
    p = Path(path)
    if not p.exists() and str(path) in TASKS:
        return default_model_dir(str(path))
    if not p.exists():
        raise ZhseqError(f"model folder not found: {p} (the shipped models are named {' and '.join(TASKS)})")
    if not p.is_dir():
        raise ZhseqError(f"not a model folder (it is a file): {p}")
    if (p / CONFIG_NAME).is_file():
        return p
    if (p / BEST_DIR / CONFIG_NAME).is_file():
        return p / BEST_DIR
    shadowed = (f"; this folder here hides the shipped model {str(path)!r} (name it by its path, "
                f"{default_model_dir(str(path))})" if str(path) in TASKS else "")
    unfinished = ("; it holds a training run that has not finished an epoch yet: continue it with the same command "
                  "and --resume" if (p / STATE_DIR).is_dir() else "")
    raise ZhseqError(f"not a zhseq model folder (no {CONFIG_NAME}): {p}{shadowed}{unfinished}")


def read_config(model_dir: str | os.PathLike) -> dict:
    d = resolve_model_dir(model_dir)
    try:
        config = json.loads((d / CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ZhseqError(f"cannot read {d / CONFIG_NAME}: {e}") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ZhseqError(f"not a zhseq model folder ({CONFIG_NAME} is not a zhseq config): {d}")
    try:
        check_saved_config(config)
    except ZhseqError as e:
        raise ZhseqError(f"{d / CONFIG_NAME}: {str(e).removeprefix('config.json: ')}") from None
    for name in (WEIGHTS_NAME, VOCAB_NAME):
        if not (d / name).is_file():
            raise ZhseqError(f"model folder {d} is missing {name}")
    return config


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: Path, obj) -> None:
    """Write JSON atomically: a temporary file in the same folder, fsync, rename."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


SCALE_SUFFIX = ".int8_scale"  # a tensor stored as int8 rows comes with NAME.int8_scale: one float32 per row
QUANTIZABLE = ("backbone.embedding.weight",)


def quantize_rows(w):
    """(R, C) float tensor → int8 (R, C) and float32 scales (R,) with w ≈ q · scale[:, None] (absmax per row)."""
    import torch

    w = w.detach().float()
    scale = w.abs().amax(1) / 127.0
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    return (w / scale[:, None]).round().clamp(-127, 127).to(torch.int8), scale


def dequantize(state: dict, widen=None) -> dict:
    """Replace each int8 tensor that has a ``NAME.int8_scale`` beside it by ``q · scale[:, None]``, in
    place; works on numpy arrays and torch tensors alike (the product is float32 in both).
    ``widen(name, q, scale)``, if given, makes the replacement instead (``zhseq.runtime`` keeps some int8)."""
    for key in [k for k in state if k.endswith(SCALE_SUFFIX)]:
        name = key[: -len(SCALE_SUFFIX)]
        scale = state.pop(key)
        if name in state and len(state[name].shape) == 2 and tuple(scale.shape) == tuple(state[name].shape[:1]):
            q = state[name]
            state[name] = widen(name, q, scale) if widen is not None else q * scale[:, None]
        else:
            raise ZhseqError(f"{key} does not fit a tensor of {len(scale)} rows")
    return state


def save_model(model_dir: str | os.PathLike, *, config: dict, module, vocab, dtype: str | None = None,
               quantize: bool = False) -> Path:
    """Write a complete model folder, replacing any folder of that name only once all files exist.

    ``dtype="float16"`` stores floating-point weights in half precision (half the size on disk); loading
    converts them back to the model's float32. ``quantize`` stores the embedding matrix as int8 with one
    float32 scale per row (a quarter of its float32 size; loading multiplies them back)."""
    import torch
    from safetensors.torch import save_file

    cast = {None: None, "float32": torch.float32, "float16": torch.float16}  # both readable by numpy
    if dtype not in cast:
        raise ZhseqError(f"unknown weights dtype {dtype!r}; choose one of: float32, float16")

    final = Path(model_dir)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        # .cpu(): a module on a GPU saves as on the CPU (cuDNN keeps a recurrent layer's weights as views of one
        # buffer, which safetensors refuses); a CPU tensor stays as it is
        original = {k: v.detach().cpu() for k, v in module.state_dict().items()}
        state = {
            k: (v.to(cast[dtype]) if dtype and v.is_floating_point() else v).contiguous()
            for k, v in original.items()
        }
        for name in QUANTIZABLE if quantize else ():
            if name in state:
                state[name], state[name + SCALE_SUFFIX] = quantize_rows(original[name])
        # one metadata key only: safetensors writes several in random order, and a model must be byte-identical
        save_file(state, str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})
        os.chmod(tmp / WEIGHTS_NAME, 0o666 & ~_umask())  # safetensors writes 0600; a model is shared like its JSON
        vocab.save(tmp / VOCAB_NAME)
        write_json(tmp / CONFIG_NAME, {"format": FORMAT, **config})
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def load_weights(module, model_dir: Path) -> None:
    """Load ``model.safetensors`` into a module built from the same config (strict: every name must match)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(model_dir) / WEIGHTS_NAME
    try:
        state = dequantize(load_file(str(path)))
    except (SafetensorError, OSError, ValueError) as e:
        raise ZhseqError(f"cannot read {path} (corrupt or truncated?): {e}") from None
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise ZhseqError(f"{path} does not match its config.json: {first}") from None


def info(model_dir: str | os.PathLike | None = None) -> dict:
    """What a model is: config.json plus its folder, size, parameter count and vocabulary size.
    Without a folder: the shipped default models, ``{"sentiment": {...} or None, "lm": ...}``."""
    if model_dir is None:
        return {
            task: info(MODELS_DIR / task) if (MODELS_DIR / task / CONFIG_NAME).is_file() else None
            for task in TASKS
        }
    from safetensors import safe_open

    folder = resolve_model_dir(model_dir)
    config = read_config(folder)
    try:
        with safe_open(str(folder / WEIGHTS_NAME), framework="numpy") as f:
            n_params = sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys() if not k.endswith(SCALE_SUFFIX))
    except Exception as e:  # noqa: BLE001 — whatever fails to parse is a corrupt file to the user
        raise ZhseqError(f"cannot read {folder / WEIGHTS_NAME}: {e}") from None
    size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    return {
        **config,
        "path": str(folder),
        "size_bytes": size,
        "n_parameters": int(n_params),
        "vocab_size": config["backbone"]["vocab_size"],
    }
