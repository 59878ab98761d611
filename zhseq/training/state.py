"""Resumable training state: model, optimizer, schedule, random states and data position, as safetensors + JSON.

    OUT/checkpoint/latest.json            {"dir": "step-000500"}: the last complete checkpoint
    OUT/checkpoint/step-000500/state.safetensors   model.*, optim.<param>.<name>, rng.torch (rng.torch.<r>
                                                   for process r > 0 of a multi-process run); on a GPU also
                                                   its generator's, rng.cuda (rng.cuda.<r>) or rng.mps; with
                                                   FitConfig.average_last, the last epochs' parameters,
                                                   average.<i>.<name> (i = 0: the oldest kept)
    OUT/checkpoint/step-000500/state.json          everything else (JSON): the loop's position, the
                                                   optimizer's param_groups, the schedule's state

The optimizer and schedule are ``torch.optim.AdamW`` and ``LambdaLR``: their ``state_dict`` is split into
its tensors (``state``, by parameter index: ``step``, ``exp_avg``, ``exp_avg_sq``) and the rest, which is JSON
(the schedule's lambda is code, rebuilt by the loop, so it is not saved): tensors and JSON only.

Tensors are saved from the CPU whatever device the run is on, so a checkpoint written on a GPU is read anywhere
(``restore`` puts them back on the model's device).

A checkpoint folder is written completely (each file fsynced) before ``latest.json`` is replaced by an
atomic rename, and only then are older folders removed: a process killed at any moment leaves
``latest.json`` pointing at a complete checkpoint (or no ``latest.json`` at all).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

from ..checkpoint import STATE_DIR, write_json
from ..errors import ZhseqError

FORMAT = "zhseq-train-state"
VERSION = 2  # 2: torch.optim's AdamW in two parameter groups (1: one group, zhseq's own AdamW)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_state(out: Path, *, net, optimizer, schedule, loop: dict, rng_states: list | None = None,
               device_rng: tuple[str, list] | None = None, snapshots: list[dict] = ()) -> Path:
    """Write a complete checkpoint of the run in ``out`` and point ``latest.json`` at it.

    ``rng_states``: every process's torch (CPU) random state in a multi-process run (default: this one's);
    ``device_rng``: (device type, every process's state) of a GPU's generator, for a run on one;
    ``snapshots``: the parameters ({name: CPU tensor}) of the last epochs, oldest first, for checkpoint
    averaging (``snapshots_of`` reads them back)."""
    from safetensors.torch import save_file

    root = Path(out) / STATE_DIR
    root.mkdir(parents=True, exist_ok=True)
    name = f"step-{loop['step']:09d}"
    folder = root / name
    tmp = root / f".{name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    # .cpu(): a copy of a GPU tensor (cuDNN's weights are views of one buffer, which safetensors refuses); a CPU
    # tensor as it is
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    opt = optimizer.state_dict()
    for index, state in opt["state"].items():
        for key, value in state.items():
            value = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"optim.{index}.{key}"] = value.cpu().contiguous()
    for r, rng in enumerate(rng_states or [torch.get_rng_state()]):
        tensors["rng.torch" if r == 0 else f"rng.torch.{r}"] = rng
    if device_rng is not None:
        kind, states = device_rng
        for r, rng in enumerate(states):
            tensors[f"rng.{kind}" if r == 0 else f"rng.{kind}.{r}"] = rng.cpu()
    for i, snapshot in enumerate(snapshots):
        for param, value in snapshot.items():
            tensors[f"average.{i}.{param}"] = value.contiguous()
    save_file(tensors, str(tmp / "state.safetensors"))
    with open(tmp / "state.safetensors", "rb") as f:
        os.fsync(f.fileno())
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in opt["param_groups"]]
    write_json(tmp / "state.json", {
        "format": FORMAT,
        "version": VERSION,
        "loop": loop,
        "optimizer_groups": groups,
        "schedule": {k: v for k, v in schedule.state_dict().items() if k != "lr_lambdas"},
    })
    _fsync_dir(tmp)
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    _fsync_dir(root)
    write_json(root / "latest.json", {"dir": name})
    _fsync_dir(root)
    for old in root.iterdir():  # older checkpoints and leftovers of killed writes
        if old.name not in (name, "latest.json"):
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
    return folder


def load_state(out: Path) -> dict | None:
    """The last complete checkpoint in ``out`` as {"loop", "tensors", "optimizer_groups", "schedule"},
    or None when there is none."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    root = Path(out) / STATE_DIR
    try:
        pointer = json.loads((root / "latest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise ZhseqError(f"cannot read {root / 'latest.json'}: {e}") from None
    folder = root / str(pointer.get("dir", ""))
    try:
        meta = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        tensors = load_file(str(folder / "state.safetensors"))
    except (OSError, ValueError, SafetensorError) as e:
        raise ZhseqError(f"the checkpoint in {folder} cannot be read ({e}); start again without --resume") from None
    if meta.get("format") != FORMAT:
        raise ZhseqError(f"{folder} is not a zhseq training checkpoint")
    if meta.get("version") != VERSION:
        raise ZhseqError(f"the checkpoint in {folder} was written by another version of zhseq (format "
                         f"{meta.get('version')}, this one reads {VERSION}); start again without --resume")
    return {**meta, "tensors": tensors}


def restore(state: dict, *, net, optimizer, schedule, rank: int = 0, device=None) -> None:
    """Put a loaded checkpoint back into a freshly built model, optimizer and schedule (on the model's device);
    ``rank``: which process's random state to take (model and optimizer are the same in every process);
    ``device`` (a ``torch.device``): a GPU whose generator's state the checkpoint holds is given it back."""
    tensors = state["tensors"]
    net.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}, strict=True)
    opt_state: dict = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            opt_state.setdefault(int(index), {})[name] = value
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in state["optimizer_groups"]]
    optimizer.load_state_dict({"state": opt_state, "param_groups": groups})
    schedule.load_state_dict({**state["schedule"], "lr_lambdas": [None] * len(schedule.lr_lambdas)})
    torch.set_rng_state(tensors["rng.torch" if rank == 0 else f"rng.torch.{rank}"])
    kind = getattr(device, "type", "cpu")
    key = f"rng.{kind}" if rank == 0 else f"rng.{kind}.{rank}"
    if kind == "cuda" and key in tensors:
        torch.cuda.set_rng_state(tensors[key], device)
    elif kind == "mps" and key in tensors:
        torch.mps.set_rng_state(tensors[key])


def snapshots_of(state: dict) -> list[dict]:
    """The epochs' parameters a checkpoint keeps for averaging (``save_state``'s ``snapshots``), oldest first;
    [] for none (or a checkpoint written before averaging existed)."""
    found: dict[int, dict] = {}
    for key, value in state["tensors"].items():
        if key.startswith("average."):
            _, index, name = key.split(".", 2)
            found.setdefault(int(index), {})[name] = value
    return [found[i] for i in sorted(found)]


def clear_state(out: Path) -> None:
    shutil.rmtree(Path(out) / STATE_DIR, ignore_errors=True)
