"""The torch models: one shared backbone, two thin heads.

    ids (B, T), lengths (B,) → Backbone: Embedding → recurrent cell(s) → outputs (B, T, D·H), final (B, D·H)
    SentimentNet:  outputs → dropout → pooled → linear → logits (B, C)
                   (+ optionally a hashed n-gram table, ``NgramTable``, mixed in at prediction: zhseq.ngrams)
    NextWordNet:   outputs → dropout → projection to E → linear tied to the embedding → logits over the vocabulary
                   (a bidirectional one also trains its right-to-left half to predict the previous word, as ELMo
                   does: a backbone to start a BiLSTM classifier from; it predicts with the left-to-right half)

Both heads have ``forward(ids, lengths, targets=None) -> (logits, loss)`` so one loop trains either.
Each model is built from one small config dataclass; the checkpoint stores that config and loading calls
the constructor again.

Devices: a model runs where its parameters are (``net.to(device)``); ``ids`` and ``targets`` go there too, while
``lengths`` stay on the CPU, where packing reads them. ``resolve_device`` turns a device name (``FitConfig.device``)
into the torch device this machine has, or one error line.
"""

from __future__ import annotations

import math
import os
import re

import torch
import torch.nn as nn
import torch.nn.functional as F

from .cells import build_rnn
from .config import DEVICE, BackboneConfig, NextWordConfig, SentimentConfig, model_config
from .errors import ZhseqError
from .kernels import Dropout
from .vocab import BOS_ID, PAD_ID, SPECIALS, UNK_ID


# -- devices -----------------------------------------------------------------------------------------
def resolve_device(name: str = "auto") -> torch.device:
    """The torch device that ``name`` (``FitConfig.device``) stands for on this machine.

    - ``"auto"``: a CUDA GPU when torch sees one, else the CPU. Never MPS: Apple's GPU is taken only when asked,
      as torch's packed recurrent kernels are not proven there and zhseq's CPU kernel is fast on those machines.
    - ``"cuda"``: the CUDA GPU torch calls current (``cuda:0`` unless ``CUDA_VISIBLE_DEVICES`` or
      ``torch.cuda.set_device`` say otherwise); ``"cuda:N"``: the N-th one.
    - ``"mps"``: Apple's GPU; ``"cpu"``: the CPU.

    Under torchrun (``WORLD_SIZE`` > 1) ``"cuda"`` takes ``cuda:LOCAL_RANK``, one GPU per process (``cuda:N`` is
    refused there: two processes would share one GPU), and so does ``"auto"`` when every process on the machine
    can have one (``LOCAL_WORLD_SIZE`` ≤ the GPUs), else the CPU.

    Raises ZhseqError, one line, for a name that is none of these and for a device this machine does not have
    (no CUDA GPU, ``cuda:7`` with fewer GPUs, MPS off a Mac, more torchrun processes than GPUs)."""
    DEVICE("device", name)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0")) if world > 1 else None
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ZhseqError("device 'mps' asked for, but torch sees no Apple GPU (MPS) on this machine")
        return torch.device("mps")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if name == "auto" and (count == 0 or (local is not None and
                                          int(os.environ.get("LOCAL_WORLD_SIZE", world)) > count)):
        return torch.device("cpu")
    if count == 0:
        build = "" if torch.version.cuda else f" (this torch, {torch.__version__}, is built without CUDA)"
        raise ZhseqError(f"device {name!r} asked for, but torch sees no CUDA GPU{build}")
    if name.startswith("cuda:"):
        if local is not None:
            raise ZhseqError(f"device {name!r} under torchrun: each process takes the GPU of its LOCAL_RANK, "
                             "so ask for 'cuda' (or 'auto')")
        index = int(name[len("cuda:"):])
    elif local is not None:
        index = local
    else:
        index = torch.cuda.current_device()
    if index >= count:
        have = f"{count} CUDA GPU{'s' if count > 1 else ''} (cuda:0{f' … cuda:{count - 1}' if count > 1 else ''})"
        if local is not None:
            raise ZhseqError(f"torchrun started process LOCAL_RANK={local} but torch sees {have}: start at most "
                             f"{count} processes per machine (--nproc-per-node)")
        raise ZhseqError(f"device {name!r} asked for, but torch sees {have}")
    return torch.device("cuda", index)


def device_of(net: nn.Module) -> torch.device:
    """Where a model's parameters are (the CPU for a model without any)."""
    return next((p.device for p in net.parameters()), torch.device("cpu"))


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``t`` on ``device``; from the CPU to a CUDA GPU through pinned memory, without waiting for the copy
    (``non_blocking``: the GPU's stream orders it before the kernels that read it). As is when already there."""
    if t.device == device:
        return t
    if device.type == "cuda" and t.device.type == "cpu":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


class Backbone(nn.Module):
    """Embedding plus a recurrent layer from the cell registry. Padding never changes a result.

    ``word_dropout`` (a probability, default 0; set by the training run from ``FitConfig.word_dropout``, never
    saved): in training mode only, each word id (not ``<pad>``, ``<bos>``, ``<eos>``) becomes ``<unk>`` with
    this probability before the embedding (Iyyer et al. 2015, Bowman et al. 2016). The draws come from torch's
    generator on the ids' device, so a resumed run draws the same."""

    word_dropout: float = 0.0

    def __init__(self, config: BackboneConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=PAD_ID)
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        with torch.no_grad():
            self.embedding.weight[PAD_ID].zero_()
        self.embedding_dropout = Dropout(config.embedding_dropout)
        self.rnn = build_rnn(
            config.cell,
            input_size=config.embedding_size,
            hidden_size=config.hidden_size,
            num_layers=config.layers,
            bidirectional=config.bidirectional,
            dropout=config.dropout if config.layers > 1 else 0.0,
        )
        self.output_dropout = Dropout(config.dropout)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor):
        if self.training and self.word_dropout > 0:
            ids = drop_words(ids, self.word_dropout)
        x = self.embedding_dropout(self.embedding(ids))  # (B, T, E)
        outputs, final = self.rnn(x, lengths.cpu())  # (B, T, D·H), (B, D·H); zeros past each length
        # output_dropout is the heads' to apply, to what they use (SentimentNet: every state before pooling;
        # NextWordNet: the states it scores)
        return outputs, final

    def resize_embedding(self, vocab_size: int) -> None:
        """Grow the vocabulary: old rows keep their ids, new rows start small and random."""
        old = self.embedding
        if vocab_size < old.num_embeddings:
            raise ValueError("the vocabulary can only grow")
        new = nn.Embedding(vocab_size, old.embedding_dim, padding_idx=PAD_ID)
        with torch.no_grad():
            nn.init.uniform_(new.weight, -0.1, 0.1)
            new.weight[: old.num_embeddings] = old.weight
        self.embedding = new
        self.config.vocab_size = vocab_size


def drop_words(ids: torch.Tensor, p: float) -> torch.Tensor:
    """Word dropout: (B, T) ids → a copy where each word id (≥ ``len(SPECIALS)``: not ``<pad>``, ``<unk>``,
    ``<bos>``, ``<eos>``) is ``<unk>`` with probability ``p``, drawn independently per position."""
    hit = (torch.rand(ids.shape, device=ids.device) < p) & (ids >= len(SPECIALS))
    return ids.masked_fill(hit, UNK_ID)


def length_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B,) lengths → (B, T) bool, True on real tokens."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


# -- sentiment ------------------------------------------------------------------------------------
class NgramTable(nn.Module):
    """The n-gram half's tensors: weight (buckets, C), bias (C,), and the training texts' idf (buckets,).
    Fitted before the network trains (``zhseq.training.fit_ngrams``), never by the loop; scored by
    ``zhseq.ngrams.logits``."""

    def __init__(self, buckets: int, num_labels: int):
        super().__init__()
        # buffers, not parameters: the training loop's optimizer never sees them
        self.register_buffer("weight", torch.zeros(buckets, num_labels))
        self.register_buffer("bias", torch.zeros(num_labels))
        self.register_buffer("idf", torch.zeros(buckets))

    def numpy(self) -> tuple:
        """(weight, bias, idf) as float32 numpy arrays sharing memory with the tensors where they can."""
        return tuple(t.detach().float().cpu().numpy() for t in (self.weight, self.bias, self.idf))


class SentimentNet(nn.Module):
    """Backbone → dropout → pooled (B, D·H) → linear → logits (B, C); loss: cross-entropy with
    ``label_smoothing`` (a share in [0, 1), default 0; set by the training run from ``FitConfig.label_smoothing``,
    never saved; torch's ``F.cross_entropy(..., label_smoothing=)``, Szegedy et al. 2016)."""

    label_smoothing: float = 0.0

    def __init__(self, config: SentimentConfig):
        super().__init__()
        self.config = config
        self.backbone = Backbone(config.backbone)
        self.classifier = nn.Linear(config.backbone.output_size, config.num_labels)
        self.ngrams = NgramTable(config.ngram_buckets, config.num_labels) if config.ngram_buckets else None

    def pool(self, outputs: torch.Tensor, final: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if self.config.pooling == "last":
            return final  # (B, D·H)
        if self.config.pooling == "mean":
            return outputs.sum(1) / to_device(lengths.clamp(min=1), outputs.device).to(outputs)[:, None]
        mask = length_mask(to_device(lengths, outputs.device), outputs.size(1)).unsqueeze(-1)  # (B, T, 1)
        pooled = outputs.masked_fill(~mask, float("-inf")).amax(1)  # (B, D·H)
        empty = lengths == 0
        if not empty.any():  # the usual batch: nothing to blank (and no copy to the GPU to wait for)
            return pooled
        return pooled.masked_fill(to_device(empty, outputs.device)[:, None], 0.0)  # empty text: zeros

    def forward(self, ids, lengths, targets=None):
        outputs, final = self.backbone(ids, lengths)
        # dropout on every state before pooling (standard protocol, 3 seeds: test 90.86 %, against 90.61 %
        # with dropout on the pooled vector alone; within noise, but the way the shipped model was trained)
        drop = self.backbone.output_dropout
        outputs, final = drop(outputs), drop(final)
        logits = self.classifier(self.pool(outputs, final, lengths))  # (B, C)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits, targets, label_smoothing=self.label_smoothing if self.training else 0.0)
        return logits, loss

    def reset_labels(self, num_labels: int) -> None:
        """A new label set: a fresh output layer over the same backbone."""
        self.classifier = nn.Linear(self.config.backbone.output_size, num_labels)
        if self.ngrams is not None:
            self.ngrams = NgramTable(self.config.ngram_buckets, num_labels)
            self.config.ngram_weight = 0.0  # until it is fitted again
        self.config.num_labels = num_labels


# -- next word ------------------------------------------------------------------------------------
class NextWordNet(nn.Module):
    """A backbone whose output layer reuses the embedding matrix (tied weights).

    A bidirectional one (one layer: in a second layer, each direction would read the other's states, so the
    left-to-right half would see the words it predicts) trains its right-to-left half too, to predict the
    word before each position through its own ``projection_backward``; the loss is the mean of the two.
    Everything it returns, scores and predicts is the left-to-right half's. Its backbone is what
    ``zhseq train sentiment --init-backbone`` can start both directions of a classifier from."""

    def __init__(self, config: NextWordConfig):
        super().__init__()
        bb = config.backbone
        self.config = config
        self.backbone = Backbone(bb)
        self.projection = nn.Linear(bb.hidden_size, bb.embedding_size)  # H → E so the tie fits
        if bb.bidirectional:
            self.projection_backward = nn.Linear(bb.hidden_size, bb.embedding_size)
        self.out_bias = nn.Parameter(torch.zeros(bb.vocab_size))

    def logits_from_states(self, states: torch.Tensor, projection: nn.Linear | None = None) -> torch.Tensor:
        """(..., H) → (..., V)."""
        return F.linear((projection or self.projection)(states), self.backbone.embedding.weight, self.out_bias)

    def _forward_states(self, ids, lengths):
        """The backbone's outputs (B, T, D·H) and the left-to-right half (B, T, H)."""
        outputs, _ = self.backbone(ids, lengths)
        return outputs, outputs[..., : self.config.backbone.hidden_size]

    def forward(self, ids, lengths, targets=None):
        """With targets (B, T), logits are computed only where the target is real: (N, V) over the N
        non-padding positions (a full (B, T, V) tensor would not fit for large vocabularies). In training
        with ``sampled_softmax`` set, the logits are (N, 1 + S): the target, then the S sampled words."""
        outputs, ahead = self._forward_states(ids, lengths)
        drop = self.backbone.output_dropout
        if targets is None:
            return self.logits_from_states(drop(ahead)), None  # (B, T, V)
        keep = targets != PAD_ID  # (B, T)
        logits, loss = self._scored(drop(ahead[keep]), targets[keep], self.projection)  # states (N, H), gold (N,)
        if self.config.backbone.bidirectional and self.training:
            # the right-to-left state at t has read x_t … x_end and predicts x_{t-1} (not <bos>)
            before = torch.full_like(ids, PAD_ID)
            before[:, 1:] = ids[:, :-1]
            back = (before != PAD_ID) & (before != BOS_ID) & length_mask(to_device(lengths, ids.device), ids.size(1))
            behind = outputs[..., self.config.backbone.hidden_size :]
            _, back_loss = self._scored(drop(behind[back]), before[back], self.projection_backward)
            loss = (loss + back_loss) / 2
        return logits, loss

    def _scored(self, states, gold, projection):
        n_samples = self.config.sampled_softmax
        if self.training and 0 < n_samples < self.config.backbone.vocab_size:
            logits = self.sampled_logits(states, gold, n_samples, projection)
            return logits, F.cross_entropy(logits, torch.zeros_like(gold))
        logits = self.logits_from_states(states, projection)  # (N, V)
        return logits, F.cross_entropy(logits, gold)

    def sampled_logits(self, states: torch.Tensor, gold: torch.Tensor, n_samples: int,
                       projection: nn.Linear | None = None) -> torch.Tensor:
        """Sampled softmax (Jean et al. 2015): the target's logit beside ``n_samples`` words drawn once per
        batch from a log-uniform (Zipf) distribution over ids, which fits a vocabulary sorted by frequency;
        each logit is corrected by −log(expected count) so the loss estimates the full softmax's."""
        V = self.config.backbone.vocab_size
        ranks = torch.arange(V, dtype=torch.float64)
        q = ((ranks + 2).log() - (ranks + 1).log()) / math.log(V + 1)  # (V,) log-uniform, sums to 1
        q[PAD_ID] = 0.0
        q[BOS_ID] = 0.0  # never a target, never a candidate
        q = q / q.sum()
        # drawn by the CPU's generator wherever the model is: the same words on every device, and one random
        # state for a checkpoint to keep
        sampled = torch.multinomial(q.float(), n_samples, replacement=True)  # (S,)
        log_expected = (q * n_samples).log().float()  # (V,) log of each id's expected draws
        sampled, log_expected = to_device(sampled, states.device), to_device(log_expected, states.device)
        h = (projection or self.projection)(states)  # (N, E)
        weight, bias = self.backbone.embedding.weight, self.out_bias[:, None]  # (V, E), (V, 1)
        # rows gathered by F.embedding, not weight[ids]: on the CPU with more than one thread the backward of
        # advanced indexing adds the repeated ids' gradients by atomic float adds in thread order, so two runs
        # differ in the last bits; the embedding's backward sums each row in a fixed order, on the GPU too
        true = (h * F.embedding(gold, weight)).sum(-1) + F.embedding(gold, bias)[:, 0] - log_expected[gold]  # (N,)
        neg = h @ F.embedding(sampled, weight).T + F.embedding(sampled, bias)[:, 0] - log_expected[sampled]  # (N, S)
        neg = neg.masked_fill(sampled[None, :] == gold[:, None], float("-inf"))  # a draw of the target itself
        return torch.cat([true[:, None], neg], dim=1)  # (N, 1 + S)

    def next_logits(self, ids, lengths) -> torch.Tensor:
        """Logits for the word after each prefix: (B, V), read at each row's last real position."""
        _, ahead = self._forward_states(ids, lengths)  # (B, T, H)
        last = to_device(lengths.clamp(min=1) - 1, ahead.device)
        return self.logits_from_states(ahead[torch.arange(ids.size(0), device=ahead.device), last])

    def resize_vocab(self, vocab_size: int) -> None:
        old = self.out_bias.numel()
        self.backbone.resize_embedding(vocab_size)
        bias = torch.zeros(vocab_size)
        bias[:old] = self.out_bias.detach()
        self.out_bias = nn.Parameter(bias)


_LAYER = re.compile(r"_l([0-9]+)(?:_reverse)?$")  # torch's recurrent parameter names: weight_ih_l0_reverse …


def layer_groups(net: nn.Module) -> list[list[nn.Parameter]]:
    """ULMFiT's layer groups (Howard & Ruder 2018, §3.2–3.3) of a ``SentimentNet`` or ``NextWordNet``, bottom to
    top: ``[embedding]``, then one group per recurrent layer (both directions; parameters named as torch names
    them, ``…_l{k}`` / ``…_l{k}_reverse``; a registered cell that names them otherwise is one group), then the
    head: every other parameter (the classifier; an lm's projection(s) and output bias). An lm's output layer
    is its embedding (tied), so it trains with the bottom group. Buffers (the n-gram table) are in none: the
    training loop never changes them. Each parameter appears once; within a group, ``net.parameters()``'s
    order. Raises ValueError for a model without a ``backbone``."""
    backbone = getattr(net, "backbone", None)
    if not isinstance(backbone, Backbone):
        raise ValueError(f"{type(net).__name__} has no zhseq backbone to split into layer groups")
    embedding = [backbone.embedding.weight]
    recurrent = list(backbone.rnn.named_parameters())
    layers: dict[int, list] = {}
    if all(_LAYER.search(name) for name, _ in recurrent):
        for name, p in recurrent:
            layers.setdefault(int(_LAYER.search(name).group(1)), []).append(p)
    elif recurrent:
        layers[0] = [p for _, p in recurrent]
    below = {id(p) for p in embedding} | {id(p) for _, p in recurrent}
    head = [p for p in net.parameters() if id(p) not in below]
    groups = [embedding, *(layers[k] for k in sorted(layers)), head]
    return [g for g in groups if g]


def special_mask(vocab_size: int) -> torch.Tensor:
    """(V,) bool: ids a prediction must never propose."""
    m = torch.zeros(vocab_size, dtype=torch.bool)
    m[: len(SPECIALS)] = True
    return m


TASKS = {"sentiment": (SentimentConfig, SentimentNet), "lm": (NextWordConfig, NextWordNet)}


def build_model(task: str, config: dict) -> nn.Module:
    """config.json's task and {"backbone", "head"} → a fresh model with random weights; a setting of the
    wrong type or out of range is a ZhseqError naming it (``zhseq.config``)."""
    head = model_config(task, config)
    try:
        return TASKS[task][1](head)
    except (TypeError, ValueError, RuntimeError) as e:  # e.g. a cell that rejects its sizes
        raise ZhseqError(f"config.json does not describe a {task} model: {e}") from None
