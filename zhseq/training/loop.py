"""The one training loop, ``fit``: it knows nothing about the task.

    examples → length_batches (seeded) → [to the device] → forward/backward → clip → torch.optim.AdamW → LambdaLR
        (AdamW's groups: decay / no decay, within each layer group when their learning rates differ; frozen
        layer groups: gradual unfreezing)
        → after each epoch: evaluate, on_best, on_epoch, early stopping; a resumable checkpoint (state.py)

On a CUDA GPU (``FitConfig.device``): the recurrent layers are cuDNN's (``zhseq.cells``), each batch's rows come
longest first (packing then needs no reordering), ids and targets go over from pinned memory without waiting,
``precision="bf16"`` is torch's bf16 autocast (around the recurrent layer, which stays float32: ``zhseq.cells``),
AdamW is fused, and the loss is read back every
``SYNC_EVERY`` steps rather than every step, so that the CPU queues work ahead of the GPU.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import sys
import time
from pathlib import Path
from typing import Callable

import torch

from ..config import FitConfig
from ..errors import ZhseqError
from ..modeling import resolve_device, to_device
from ..progress import PROGRESS_LINE_EVERY
from . import distributed
from .tasks import Example, length_batches

logger = logging.getLogger(__name__)

SYNC_EVERY = 32  # off the CPU: steps between reading the losses back (each read waits for the GPU)
# stderr not a terminal (a file, a pipe: CI logs, 2> log.txt, nohup): no bar, a progress line on the logger at most
# every PROGRESS_LINE_EVERY seconds (zhseq.progress, which evaluate's progress uses too)
PROGRESS_LINE = ("step {n}/{total} ({percentage:.0f} %){postfix}, {rate_noinv_fmt}, {elapsed} elapsed, "
                 "{remaining} left")  # tqdm's bar_format fields


@contextlib.contextmanager
def reporting(progress: bool):
    """Within: the ``zhseq`` logger's level raised to WARNING when ``progress`` is off (so a run says only
    what goes wrong) and to ERROR in torchrun's processes other than 0 (process 0 alone reports); as it was
    afterwards. A level the user set higher stays."""
    root = logging.getLogger("zhseq")
    floor = logging.ERROR if not distributed.is_main() else logging.NOTSET if progress else logging.WARNING
    before = root.level
    if floor > root.getEffectiveLevel():
        root.setLevel(floor)
    try:
        yield
    finally:
        root.setLevel(before)


def parameter_groups(net: torch.nn.Module, weight_decay: float, params=None) -> list[dict]:
    """AdamW's two groups, as nanoGPT and transformers make them: weight matrices (dim ≥ 2) decay by
    ``weight_decay``; biases, norms (dim 1) and embedding matrices (a tied output layer is its embedding)
    do not. ``params``: a part of ``net``'s parameters (default: all of them). Empty groups are left out;
    the order of ``params`` is kept within each group."""
    embeddings = {id(m.weight) for m in net.modules() if isinstance(m, torch.nn.Embedding)}
    decay, plain = [], []
    for p in net.parameters() if params is None else params:
        if p.requires_grad:
            (decay if p.dim() >= 2 and id(p) not in embeddings else plain).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def discriminative_groups(net: torch.nn.Module, layers: list[list], weight_decay: float, lr: float,
                          factor: float) -> list[dict]:
    """AdamW's groups for ULMFiT's discriminative learning rates (Howard & Ruder 2018, §3.2): within each layer
    group of ``layers`` (bottom to top, ``zhseq.modeling.layer_groups``) the two groups of ``parameter_groups``;
    the layer group ``l`` below the top gets the learning rate ``lr / factor**l`` (each group's own ``lr``,
    which ``LambdaLR`` then scales), the top group ``lr``. Each group also holds its ``layer`` (0: the bottom).
    Bottom groups first."""
    groups = []
    for index, params in enumerate(layers):
        below_top = len(layers) - 1 - index
        for g in parameter_groups(net, weight_decay, params):
            groups.append({**g, "lr": lr / factor**below_top, "layer": index})
    return groups


GRADUAL_UNFREEZING_DDP = ("gradual_unfreezing trains in one process only: under torchrun, DDP needs the same "
                          "trainable parameters all run long; start it without torchrun, or leave "
                          "--gradual-unfreezing off")


def check_layers(config: FitConfig) -> None:
    """ZhseqError (one line) for ``gradual_unfreezing`` under torchrun (``GRADUAL_UNFREEZING_DDP``)."""
    if config.gradual_unfreezing and distributed.world() > 1:
        raise ZhseqError(GRADUAL_UNFREEZING_DDP)


def unfreeze(layers: list[list], epoch: int) -> int:
    """ULMFiT's gradual unfreezing (Howard & Ruder 2018, §3.3) for epoch ``epoch`` (1, 2, …): the top ``epoch``
    layer groups of ``layers`` (bottom to top) train (``requires_grad``), those below are frozen; all train
    from epoch ``len(layers)`` on. Decided by the epoch number alone, so a resumed run freezes as the
    interrupted one did. A frozen parameter gets no gradient, so AdamW leaves it (and its moments) untouched.
    Returns how many groups train."""
    trained = min(epoch, len(layers))
    for index, params in enumerate(layers):
        for p in params:
            p.requires_grad_(index >= len(layers) - trained)
    return trained


def adamw(groups: list[dict], lr: float) -> torch.optim.AdamW:
    """``torch.optim.AdamW`` with its fused kernel (one pass over each tensor per step, on a GPU and on the CPU),
    or, on a torch before 2.4 whose fused kernel is CUDA-only, its foreach kernel."""
    try:
        return torch.optim.AdamW(groups, lr=lr, fused=True)
    except RuntimeError:
        return torch.optim.AdamW(groups, lr=lr, foreach=True)


def warmup_then_linear(warm: int, total: int) -> Callable[[int], float]:
    """The learning-rate factor of step s (``LambdaLR``'s lambda): (s + 1) / warm over the first ``warm``
    steps, then down in a straight line to 0 at step ``total``."""
    return lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))


def fit(net: torch.nn.Module, examples: list[Example], *, config: FitConfig, **kwargs) -> list[dict]:
    """Train ``net`` (``forward(ids, lengths, targets) -> (logits, loss)``) on ``examples``.

    ``torch.optim.AdamW`` (``adamw``, ``parameter_groups``), gradient clipping to ``config.clip``, the learning
    rate of ``warmup_then_linear`` through ``LambdaLR``, seeded shuffling; after each epoch ``evaluate``
    scores the model on dev data, ``on_best`` is called when ``metric`` improves, or stays equal while
    ``tie_metric`` (lower is better; e.g. the dev log loss beside accuracy) improves (without ``evaluate``,
    every epoch counts as best), ``on_epoch`` gets the history so far, and training stops early after
    ``patience`` epochs without improvement; ``on_step`` gets the number of each training step (counted over
    the whole run, from 1) as it begins. ``config.max_steps`` ends the run after that many steps, within an
    epoch too: that epoch's part is scored and recorded as the epoch (``on_best``, ``on_epoch``), and an INFO
    line says the limit stopped it. Returns the per-epoch history.

    With ``state_dir``, a resumable checkpoint (``zhseq.training.state``) is written every
    ``config.checkpoint_every`` steps and after every epoch; ``resume`` (a loaded checkpoint) continues
    exactly where it was written: same batches, same random draws, so the same final weights.

    Under torchrun (``zhseq.training.distributed``) every process calls ``fit`` with the same examples and
    trains on its share of each epoch's batches through DDP; one step is one synchronised update. Process 0
    alone evaluates (its scores are broadcast), shows progress and writes checkpoints; pass the
    callbacks that write files only there.

    ULMFiT's levers (Howard & Ruder 2018), over ``zhseq.modeling.layer_groups(net)``: ``config.discriminative_lr``
    F ≠ 1 gives the layer group l below the top the learning rate ``config.lr / F**l`` (``discriminative_groups``);
    ``config.gradual_unfreezing`` trains only the top group in epoch 1 and one more group down each epoch after
    (``unfreeze``; one process only: ZhseqError under torchrun). The parameters that were trainable when ``fit``
    was called are trainable again when it returns or fails.

    ``config.device`` (``zhseq.modeling.resolve_device``): ``net`` is moved there and stays there; ``collate``
    gives CPU tensors (ids, lengths, targets), and the loop moves ids and targets (lengths stay on the CPU).
    ``config.precision``: on the CPU the lstm training kernel's matrix products (``zhseq.kernels``) for this run;
    on a GPU the forward pass under ``torch.autocast(dtype=torch.bfloat16)`` (the recurrent layer excepted).

    ``config.average_last`` N > 1: the parameters after each of the last N epochs are kept (in checkpoints too),
    and at the end ``on_average`` gets their mean ({name: tensor}, on the CPU) and how many epochs it averages
    (fewer than N when fewer ran): checkpoint averaging (Vaswani et al. 2017; Izmailov et al. 2018, SWA,
    there with a cyclic learning rate). Process 0 only.

    Progress, only with ``config.progress``: one INFO line per epoch on the ``zhseq.training.loop`` logger, and
    on a terminal a tqdm bar on stderr; when stderr is not a terminal (tqdm's ``disable=None``: a file or a pipe)
    an INFO line instead, at most every ``PROGRESS_LINE_EVERY`` seconds (``step 120/400 (30 %), epoch 1, loss
    0.6931, 8.02 steps/s, 00:14 elapsed, 00:34 left``: tqdm's ``format_meter``), so that a log holds lines, not
    carriage-return frames."""
    from .. import kernels

    before = kernels.get_precision()
    kernels.set_precision(config.precision)
    trainable = [p for p in net.parameters() if p.requires_grad]  # gradual unfreezing gives them back
    try:
        with reporting(config.progress):
            return _fit(net, examples, config=config, **kwargs)
    finally:
        kernels.set_precision(before)
        for p in trainable:
            p.requires_grad_(True)


def describe(device: torch.device) -> str:
    """``cuda:0 (NVIDIA H200)``, ``cpu``."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def synchronize(device: torch.device) -> None:
    """Wait for the work queued on ``device`` (a GPU's kernels run after the call that queued them returns)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def device_rng_state(device: torch.device) -> torch.Tensor | None:
    """The random state of ``device``'s own generator (dropout on a GPU draws from it), or None for the CPU."""
    if device.type == "cuda":
        return torch.cuda.get_rng_state(device)
    if device.type == "mps":
        return torch.mps.get_rng_state()
    return None


def autocast(device: torch.device, precision: str):
    """The forward pass's context: torch's bf16 autocast on a GPU for ``precision="bf16"``, else nothing (the
    CPU's bf16 is the lstm kernel's own, ``zhseq.kernels``)."""
    if precision == "bf16" and device.type in ("cuda", "mps"):
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _fit(
    net: torch.nn.Module,
    examples: list[Example],
    *,
    collate: Callable,
    config: FitConfig,
    evaluate: Callable[[torch.nn.Module], dict] | None = None,
    metric: str = "loss",
    greater_is_better: bool = False,
    tie_metric: str | None = None,
    on_best: Callable[[dict], None] | None = None,
    on_epoch: Callable[[list[dict]], None] | None = None,
    state_dir: Path | None = None,
    resume: dict | None = None,
    fingerprint: dict | None = None,
    on_average: Callable[[dict, int], None] | None = None,
    on_step: Callable[[int], None] | None = None,
) -> list[dict]:
    from tqdm import tqdm

    from .state import restore, save_state, snapshots_of

    if not examples:
        raise ZhseqError("nothing to train on: the corpus gave no examples")
    check_layers(config)
    world, rank, main = distributed.world(), distributed.rank(), distributed.is_main()
    device = resolve_device(config.device)
    if device.type != "cpu":
        net.to(device)
        logger.info("training on %s%s", describe(device), ", bf16 autocast" if config.precision == "bf16" else "")
    # dropout draws (on a GPU, from its own generator, seeded here too): process r its own, process 0 as a
    # single process
    torch.manual_seed(config.seed + rank)
    rng = random.Random(config.seed)  # the batch order: the same in every process
    steps_per_epoch = math.ceil(len(examples) / config.batch_size) // world
    if steps_per_epoch == 0:
        raise ZhseqError(f"{len(examples)} examples make fewer batches of {config.batch_size} than there are "
                         f"processes ({world}): use a smaller --batch-size or fewer processes")
    total = config.epochs * steps_per_epoch
    if config.max_steps:
        total = min(total, config.max_steps)
    warm = max(1, int(config.warmup * total))
    layers = None
    if config.discriminative_lr != 1 or config.gradual_unfreezing:
        from ..modeling import layer_groups

        layers = [[p for p in g if p.requires_grad] for g in layer_groups(net)]
        layers = [g for g in layers if g]
    if config.discriminative_lr != 1:
        groups = discriminative_groups(net, layers, config.weight_decay, config.lr, config.discriminative_lr)
    else:
        groups = parameter_groups(net, config.weight_decay)
    optimizer = adamw(groups, config.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_then_linear(warm, total))
    lengths = [len(x) for x, _ in examples]
    # what a checkpoint must bring back besides the tensors
    loop = {"step": 0, "epoch": 1, "batches_done": 0, "rng_epoch_start": None, "history": [], "best": None,
            "bad_epochs": 0, "loss_sum": 0.0, "n_batches": 0, "fingerprint": fingerprint}
    # checkpoint averaging: the parameters after each of the last config.average_last epochs, on the CPU
    keep = config.average_last if config.average_last > 1 and main else 0
    snapshots: list[dict] = []
    if resume is not None:
        restore(resume, net=net, optimizer=optimizer, schedule=schedule, rank=rank, device=device)
        loop.update(resume["loop"])
        snapshots = snapshots_of(resume)[-keep:] if keep else []
    model = distributed.wrap(net)  # training steps only; evaluation and saving use net itself
    history = loop["history"]
    show = config.progress and main
    # disable=None: tqdm draws the bar only when stderr is a terminal; elsewhere progress_line says it
    bar = tqdm(total=total, initial=loop["step"], disable=None if show else True, file=sys.stderr, unit="step",
               dynamic_ncols=True)
    as_lines = show and bar.disable
    started = last_line = time.monotonic()
    first_step = loop["step"]

    # the losses not yet added to loop["loss_sum"]: on a GPU they are read back SYNC_EVERY steps at a time
    # (in the same order, so the sums are the same floats as one .item() per step, which the CPU keeps)
    pending: list = []
    sync_every = 1 if device.type == "cpu" else SYNC_EVERY

    def read_losses() -> None:
        if pending:
            values = [pending[0].item()] if len(pending) == 1 else torch.stack(pending).tolist()
            for value in values:
                loop["loss_sum"] += value
            pending.clear()
            bar.set_postfix(epoch=loop["epoch"], loss=f"{loop['loss_sum'] / loop['n_batches']:.4f}", refresh=False)

    def progress_line() -> None:
        """Not on a terminal: the bar's numbers as one INFO line, when PROGRESS_LINE_EVERY seconds have passed."""
        nonlocal last_line
        now = time.monotonic()
        if not as_lines or now - last_line < PROGRESS_LINE_EVERY:
            return
        last_line = now
        read_losses()
        logger.info("%s", tqdm.format_meter(
            loop["step"], total, now - started, initial=first_step, unit=" steps", unit_scale=True,  # 0.26 steps/s
            postfix=f"epoch {loop['epoch']}, loss {loop['loss_sum'] / max(1, loop['n_batches']):.4f}",
            bar_format=PROGRESS_LINE))

    def checkpoint() -> None:
        if state_dir is None:
            return
        read_losses()
        # the loss so far becomes its mean over the processes, so process 0's checkpoint holds the run's
        rng_states = distributed.gather(torch.get_rng_state())
        device_rng = device_rng_state(device)
        device_rng = None if device_rng is None else (device.type, distributed.gather(device_rng))
        loop["loss_sum"] = distributed.all_sum([loop["loss_sum"]])[0] / world
        if main:
            save_state(state_dir, net=net, optimizer=optimizer, schedule=schedule, loop=loop, rng_states=rng_states,
                       device_rng=device_rng, snapshots=snapshots)

    step = loop["step"]
    finished = step >= total
    try:  # an interruption closes the bar too, so that the message below it is not drawn over
        for epoch in range(loop["epoch"], config.epochs + 1):
            if finished:
                break
            if loop["rng_epoch_start"] is not None:  # resuming: the shuffle this epoch had or will have
                rng.setstate(_rng_state(loop["rng_epoch_start"]))
            loop.update(epoch=epoch, rng_epoch_start=rng.getstate())
            if config.gradual_unfreezing:
                trained = unfreeze(layers, epoch)
                logger.info("epoch %d trains the top %d of %d layer groups%s", epoch, trained, len(layers),
                            "" if trained < len(layers) else " (all)")
            batches = distributed.shard(length_batches(lengths, config.batch_size, rng))
            model.train()
            t0, tokens = time.perf_counter(), 0
            for batch in batches[loop["batches_done"]:]:
                if device.type != "cpu":  # longest first: packed as they come (zhseq.cells)
                    batch = sorted(batch, key=lambda i: -lengths[i])
                if on_step is not None:
                    on_step(step + 1)
                ids, lens, targets = collate([examples[i] for i in batch])
                with autocast(device, config.precision):
                    _, loss = model(to_device(ids, device), lens, to_device(targets, device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), config.clip)
                optimizer.step()
                schedule.step()
                step += 1
                pending.append(loss.detach())
                loop.update(step=step, batches_done=loop["batches_done"] + 1, n_batches=loop["n_batches"] + 1)
                if len(pending) >= sync_every:
                    read_losses()
                tokens += int(lens.sum())
                bar.update(1)
                progress_line()
                if step >= total:
                    break
                if config.checkpoint_every and step % config.checkpoint_every == 0:
                    checkpoint()
            read_losses()
            synchronize(device)  # the epoch's time includes the GPU's last steps
            finished = step >= total
            seconds = time.perf_counter() - t0
            loss_sum, tokens = distributed.all_sum([loop["loss_sum"], tokens])  # over the processes
            record = {
                "epoch": epoch,
                "step": step,
                "train_loss": loss_sum / world / max(1, loop["n_batches"]),
                "lr": max(schedule.get_last_lr()),  # the top layer group's (discriminative_lr)
                "seconds": round(seconds, 3),
                "tokens_per_s": round(tokens / max(seconds, 1e-9)),
            }
            if evaluate is not None:
                # scored once, in process 0: every process takes the same early-stopping decision
                record["dev"] = distributed.broadcast(evaluate(net) if main else None)
                score = record["dev"][metric]
                best = loop["best"]
                improved = best is None or (score > best if greater_is_better else score < best)
                if not improved and score == best and tie_metric is not None:  # a tie: the lower tie_metric wins
                    tie, best_tie = record["dev"].get(tie_metric), loop.get("best_tie")
                    improved = tie is not None and best_tie is not None and tie < best_tie
                logger.info("epoch %d: train loss %.4f, dev %s %.4f%s", epoch, record["train_loss"], metric, score,
                            " (best)" if improved else "")
            else:
                improved = True
                logger.info("epoch %d: train loss %.4f", epoch, record["train_loss"])
            if config.max_steps and step >= config.max_steps and step < config.epochs * steps_per_epoch:
                # the step limit ended the run, not its last epoch: the epoch above may be a part of one
                part = loop["batches_done"]
                logger.info("stopped at --max-steps %d: %s", config.max_steps,
                            f"after epoch {epoch} of {config.epochs}" if part >= len(batches) else
                            f"epoch {epoch} of {config.epochs} not finished ({part} of its {len(batches)} steps"
                            f"{', scored on dev as they stand' if evaluate is not None else ''})")
            record["best"] = improved
            history.append(record)
            if keep:
                snapshots = [*snapshots, {n: p.detach().cpu().clone() for n, p in net.named_parameters()}][-keep:]
            if improved:
                loop.update(best=record["dev"][metric] if evaluate is not None else None, bad_epochs=0,
                            best_tie=record["dev"].get(tie_metric) if evaluate is not None and tie_metric else None)
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
                logger.info("early stop: no better dev %s for %d epochs", metric, loop["bad_epochs"])
                break
    finally:
        bar.close()
    if keep and on_average is not None:
        # the mean in float64, so that the order of the epochs does not change a bit of it
        on_average({n: torch.stack([s[n].double() for s in snapshots]).mean(0).to(snapshots[-1][n].dtype)
                    for n in snapshots[-1]}, len(snapshots))
    return history


def _rng_state(saved) -> tuple:
    """random.Random state from its JSON form (lists) back to the tuples ``setstate`` wants."""
    version, internal, gauss = saved
    return (version, tuple(internal), gauss)
