"""The torch engine: a torch model (``zhseq.modeling``) behind the prediction pipeline's one engine interface.

The pipeline (``zhseq.pipeline``) runs on the numpy engine whenever the model's cell has one (``rnn``,
``lstm``, ``gru`` and their ``-ref`` twins); this engine runs the rest (cells registered with
``zhseq.register_cell``) and whatever asks for ``engine="torch"``. Its results agree with the numpy
engine's to float32 rounding (about 1e-7), but torch's kernels sum in an order that depends on the batch,
so unlike the numpy engine a text's last bits may change with the texts batched beside it.

It runs where the model's parameters are: ``model.net.to("cuda")`` (or ``resolve_device("auto")``) puts a loaded
model on a GPU, and the engine sends it the ids and brings the logits back to the CPU.
"""

from __future__ import annotations

import numpy as np
import torch

from .modeling import device_of, to_device
from .vocab import PAD_ID


def pad_batch(seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Lists of ids → ids (B, T) padded with <pad>, lengths (B,); T is at least 1, even if all are empty."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    width = max(1, max((len(s) for s in seqs), default=0))
    ids = torch.full((len(seqs), width), PAD_ID, dtype=torch.long)
    for i, s in enumerate(seqs):
        if s:
            ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return ids, lengths


class TorchEngine:
    """``sentiment_logits`` (B, C) and ``next_logits`` (B, V) as float32 numpy arrays, from a torch model
    in evaluation mode (its training mode is restored afterwards), on the model's device."""

    def __init__(self, net: torch.nn.Module):
        self.net = net
        self.head = net.config

    def _run(self, fn):
        was_training = self.net.training
        self.net.eval()
        try:
            with torch.inference_mode():
                return fn().float().cpu().numpy()
        finally:
            self.net.train(was_training)

    def _batch(self, seqs):
        ids, lengths = pad_batch(seqs)
        return to_device(ids, device_of(self.net)), lengths  # lengths stay on the CPU, where packing reads them

    def sentiment_logits(self, seqs: list[list[int]]) -> np.ndarray:
        return self._run(lambda: self.net(*self._batch(seqs))[0])

    def next_logits(self, seqs: list[list[int]]) -> np.ndarray:
        return self._run(lambda: self.net.next_logits(*self._batch(seqs)))

    def ngram_tables(self):
        """The n-gram half's (weight, bias, idf) as float32 arrays, or None."""
        table = getattr(self.net, "ngrams", None)
        return None if table is None else table.numpy()
