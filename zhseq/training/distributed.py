"""One training run in several processes, under PyTorch's launcher (DistributedDataParallel).

    torchrun --standalone --nproc-per-node 2 --no-python zhseq train sentiment --data … --out …

torchrun starts the same command once per process and tells each its place in the environment
(``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``). Every process then:

- reads the same files and tokenises a share of the texts (process r cuts texts r, r+W, …); the tokens
  are gathered, so every process builds the same vocabulary, labels and examples (``map_split``);
- builds the same shuffled batch list from the same seed and trains on its share (``shard``); one step
  is one update, synchronised across processes (DDP averages the gradients), so the learning-rate
  schedule counts the same steps everywhere;
- leaves writing to process 0: it alone scores the dev set (the scores are broadcast, so every process
  stops at the same epoch), saves models, metrics and checkpoints, and prints messages.

On CUDA GPUs each process trains on the GPU of its ``LOCAL_RANK`` (``zhseq.modeling.resolve_device``) and the
processes talk through NCCL; on the CPU through gloo::

    torchrun --standalone --nproc-per-node 8 --no-python zhseq train lm --data … --out … --device cuda

Without ``WORLD_SIZE`` > 1 every function here is the single-process identity, and nothing imports torch
until training needs it.
"""

from __future__ import annotations

import os
from typing import Callable, Sequence, TypeVar

from ..errors import ZhseqError

T = TypeVar("T")


class FailedOnMain(ZhseqError):
    """Raised in processes 1… when process 0 failed at a step only it does; process 0 says why."""


def world() -> int:
    """How many processes share the run (1 outside torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process's place among them, 0 … world() − 1."""
    return int(os.environ.get("RANK", "0")) if world() > 1 else 0


def is_main() -> bool:
    """The process that writes files and prints messages."""
    return rank() == 0


def backend(device="cpu") -> str:
    """The one place the communication library is chosen: nccl for models on CUDA GPUs, gloo on the CPU.
    ``device``: a ``torch.device`` or its name."""
    import torch

    return "nccl" if torch.device(device).type == "cuda" else "gloo"


_device = None  # the torch.device this process trains on, once setup() has joined the group


def setup(device="cpu") -> None:
    """Join the process group torchrun describes (once per process); nothing outside torchrun. ``device``
    (a ``torch.device`` or its name, as ``zhseq.modeling.resolve_device`` gives it): the process's own; a CUDA
    GPU becomes torch's current device and the group talks through NCCL."""
    if world() == 1:
        return
    import torch
    import torch.distributed as dist

    if not dist.is_available():
        raise ZhseqError("this torch build has no torch.distributed: train in one process")
    if dist.is_initialized():
        return
    global _device
    _device = torch.device(device)
    if backend(_device) == "nccl":
        torch.cuda.set_device(_device)
    dist.init_process_group(backend(_device))

    import atexit

    atexit.register(_teardown)


def _teardown() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def shard(items: Sequence[T], part: tuple[int, int] | None = None) -> list[T]:
    """This process's share: every W-th item from item r on (``part`` = (r, W), by default this process
    and the world), cut to ``len(items) // W`` so that every process runs the same number of steps (DDP
    needs matching calls). The at most W − 1 items left over are dropped: with batches shuffled anew
    every epoch, they are different ones each time."""
    r, w = part if part is not None else (rank(), world())
    return list(items[r::w][: len(items) // w])


def map_split(fn: Callable, items: Sequence) -> list:
    """``[fn(x) for x in items]``, computed in shares (process r takes items r, r+W, …) and gathered,
    so every process gets the whole list in order while doing 1/W of the work."""
    n = world()
    if n == 1:
        return [fn(x) for x in items]
    import torch.distributed as dist

    mine = [fn(x) for x in items[rank() :: n]]
    parts: list = [None] * n
    dist.all_gather_object(parts, (len(items), mine))
    sizes = sorted({size for size, _ in parts})
    if len(sizes) > 1:
        raise ZhseqError(f"the processes read different data ({' vs '.join(map(str, sizes))} texts): "
                         "every machine needs the same files at the same paths")
    out: list = [None] * len(items)
    for r, (_, part) in enumerate(parts):
        out[r::n] = part
    return out


def on_main(fn: Callable[[], T]) -> T:
    """Run ``fn`` in process 0 only and hand its result to every process (the output folder, a checkpoint
    on process 0's disk). If it fails there, the others raise ``FailedOnMain`` instead of waiting."""
    if world() == 1:
        return fn()
    outcome: list = [None]
    if is_main():
        try:
            outcome[0] = ("ok", fn())
        except BaseException as exc:
            _broadcast([("failed", f"process 0 failed: {exc or type(exc).__name__}")])
            raise
    _broadcast(outcome)
    kind, value = outcome[0]
    if kind == "failed":
        raise FailedOnMain(value)
    return value


def broadcast(obj: T) -> T:
    """Process 0's ``obj`` in every process (picklable objects)."""
    if world() == 1:
        return obj
    box = [obj]
    _broadcast(box)
    return box[0]


def _broadcast(box: list) -> None:
    import torch.distributed as dist

    dist.broadcast_object_list(box, src=0)


def gather(obj) -> list:
    """Every process's ``obj``, in rank order, in every process."""
    if world() == 1:
        return [obj]
    import torch.distributed as dist

    parts: list = [None] * world()
    dist.all_gather_object(parts, obj)
    return parts


def all_sum(values: list[float]) -> list[float]:
    """Each value summed over the processes (float64)."""
    if world() == 1:
        return list(values)
    import torch
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=_collective_device())  # NCCL reduces GPU tensors only
    dist.all_reduce(t)
    return t.tolist()


def _collective_device():
    """Where tensors sent through the group live: the process's GPU under NCCL, else the CPU."""
    return _device if _device is not None and backend(_device) == "nccl" else "cpu"


def barrier() -> None:
    """Wait until every process gets here."""
    if world() > 1:
        import torch.distributed as dist

        if _device is not None and backend(_device) == "nccl":
            dist.barrier(device_ids=[_device.index])  # NCCL's barrier runs on this process's GPU
        else:
            dist.barrier()


def wrap(net):
    """The module to run training steps through: ``net`` itself, or DDP around it in several processes
    (DDP starts from process 0's weights and averages gradients in ``backward``). ``net`` is on the process's
    device already; no ``device_ids`` are given, so DDP leaves the inputs where the loop put them (lengths stay
    on the CPU, where packing reads them).

    The only buffers are a sentiment model's n-gram tables (megabytes), fitted on process 0 before this and
    neither read by a training step nor changed by the loop, so they are not sent before every step. torch 2.13
    deprecates ``broadcast_buffers`` for ``forward_sync_buffers`` with a FutureWarning that every process
    printed, though zhseq's use was right: this asks for ``forward_sync_buffers=False`` where torch has it (the
    tables then go out once, as DDP starts) and ``broadcast_buffers=False`` before. Any other warning DDP gives
    as it wraps the model (the same in every process) is printed by process 0 alone."""
    if world() == 1:
        return net
    import inspect
    import warnings

    from torch.nn.parallel import DistributedDataParallel

    known = inspect.signature(DistributedDataParallel).parameters
    buffers = {"forward_sync_buffers": False} if "forward_sync_buffers" in known else {"broadcast_buffers": False}
    with warnings.catch_warnings():
        if not is_main():
            warnings.simplefilter("ignore")
        return DistributedDataParallel(net, **buffers)
