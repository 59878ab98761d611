"""What several training tests share: a run stopped as Ctrl-C would stop it."""

import contextlib

import pytest


@contextlib.contextmanager
def interrupted_at_step(step: int):
    """Within the block, the training loop's ``step``-th call of ``torch.nn.utils.clip_grad_norm_`` (one per
    optimizer step) raises KeyboardInterrupt, as Ctrl-C there would; the block must see that interrupt."""
    import torch

    real, calls = torch.nn.utils.clip_grad_norm_, {"n": 0}

    def stop(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == step:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    torch.nn.utils.clip_grad_norm_ = stop
    try:
        with pytest.raises(KeyboardInterrupt):
            yield
    finally:
        torch.nn.utils.clip_grad_norm_ = real
