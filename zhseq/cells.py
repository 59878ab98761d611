"""Recurrent cells, looked up by name.

Every cell is an ``nn.Module`` built as ``cls(input_size, hidden_size, num_layers, bidirectional, dropout)``
and called as ``outputs, final = cell(x, lengths)``:

- ``x``: (B, T, E), padded after each row's length; ``lengths``: (B,) int64 on the CPU, zeros allowed.
- ``outputs``: (B, T, D*H), the last layer's per-token states, exactly zero at ``t >= length``.
- ``final``: (B, D*H), the last layer's final state: the forward half after the last real token, the
  backward half after reading back to position 0; zeros for empty rows.

``rnn``, ``lstm``, ``gru`` run torch's fused kernels on packed sequences (cuDNN's on a CUDA GPU: they are
``nn.RNN``, ``nn.LSTM``, ``nn.GRU`` with the same parameters); ``lstm`` trains on the CPU with zhseq's own kernel
(``zhseq.kernels``), the same function with a faster backward pass. ``rnn-ref``, ``lstm-ref``,
``gru-ref`` spell out the gate equations one time step at a time: slower, but readable, and with the
same parameter names, shapes and initialisation as torch's modules, so a state_dict moves freely
between ``lstm`` and ``lstm-ref``. The step functions (``rnn_step``, ``lstm_step``, ``gru_step``) use
only ``@``, ``.T`` and elementwise operations so that a numpy runtime can mirror them line for line.

Add a cell with ``@register_cell("name")``. A package makes its cells known to every zhseq command (and to
models saved with them) through the entry-point group ``zhseq.cells``, each entry point named as the cell and
pointing at its class (or at a module that registers it)::

    [options.entry_points]            # setup.cfg; pyproject.toml: [project.entry-points."zhseq.cells"]
    zhseq.cells =
        my-gru = my_package.cells:MyGRU

Such a cell is loaded the first time its name is asked for and not registered (``get_cell``).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from zhseq.errors import ZhseqError

CELLS: dict = {}
ENTRY_POINT_GROUP = "zhseq.cells"


def register_cell(name: str, *, override: bool = False):
    """Class decorator: make a cell buildable as ``build_rnn(name, ...)``.

    The class is constructed as ``cls(input_size, hidden_size, num_layers, bidirectional, dropout)``
    and its ``forward(x, lengths)`` returns ``(outputs, final)`` as described in this module's docstring.
    """

    def decorator(cls):
        if name in CELLS and not override:
            raise ValueError(f"cell {name!r} is already registered; pass override=True to replace it")
        CELLS[name] = cls
        return cls

    return decorator


def cell_names() -> list:
    """The registered cells and those installed packages offer (entry points of ``ENTRY_POINT_GROUP``)."""
    return sorted(set(CELLS) | {ep.name for ep in _entry_points()})


def build_rnn(
    name: str,
    *,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
) -> nn.Module:
    return get_cell(name)(input_size, hidden_size, num_layers, bidirectional, dropout)


def get_cell(name: str):
    """The registered class for ``name``, else the one an installed package offers under that name (entry-point
    group ``zhseq.cells``: loaded now, and registered). ZhseqError for a name neither knows (listing the
    choices), and for an entry point that cannot be loaded or is not a cell class."""
    if name not in CELLS:
        _load_entry_point(name)
    try:
        return CELLS[name]
    except KeyError:
        raise ZhseqError(f"unknown cell {name!r}; choose one of: {', '.join(cell_names())}") from None


def _entry_points() -> list:
    from importlib.metadata import entry_points

    try:
        return list(entry_points(group=ENTRY_POINT_GROUP))
    except TypeError:  # Python 3.9: no selection by group
        return list(entry_points().get(ENTRY_POINT_GROUP, ()))


def _load_entry_point(name: str) -> None:
    """Register the cell an installed package offers as ``name`` (the first one found), if any."""
    for ep in _entry_points():
        if ep.name != name:
            continue
        package = getattr(getattr(ep, "dist", None), "name", None) or ep.value
        try:
            found = ep.load()
        except Exception as exc:
            raise ZhseqError(f"cell {name!r} of {package} ({ep.value}) cannot be loaded: "
                             f"{type(exc).__name__}: {exc}") from exc
        if name not in CELLS:  # its module may have registered it with @register_cell
            if not (isinstance(found, type) and issubclass(found, nn.Module)):
                raise ZhseqError(f"cell {name!r} of {package} ({ep.value}) is not a cell class (an nn.Module)")
            CELLS[name] = found
        return


class _Recurrent(nn.Module):
    """What every built-in cell shares: the (outputs, final) contract and empty rows.

    Subclasses implement ``_run(x, lengths)`` for lengths that are all >= 1 and <= T.
    """

    def forward(self, x: torch.Tensor, lengths: torch.Tensor):
        lengths = torch.as_tensor(lengths, dtype=torch.int64).cpu()
        batch, steps = x.shape[:2]
        width = self.hidden_size * (2 if self.bidirectional else 1)
        if batch == 0 or steps == 0:  # nothing to read; packing refuses empty batches
            return x.new_zeros(batch, steps, width), x.new_zeros(batch, width)
        # An empty text is read as one (padding) step so every kernel sees length >= 1, then blanked.
        outputs, final = self._run(x, lengths.clamp(min=1))
        empty = lengths == 0
        if not empty.any():  # the usual batch: nothing to blank (and no copy to a GPU to wait for)
            return outputs, final
        empty = empty.to(x.device)
        return outputs.masked_fill(empty[:, None, None], 0.0), final.masked_fill(empty[:, None], 0.0)


# --- torch's fused kernels ----------------------------------------------------------------------


class _Fused(_Recurrent):
    """Runs a torch recurrent module on packed sequences, so padding never enters a state.

    Concrete classes inherit from this and from the torch module (parameters keep torch's names),
    and name that module in ``_kernel``.
    """

    _kernel: type

    def _run(self, x, lengths):
        if x.device.type == "cuda":
            # float32 even under autocast: torch's autocast rule for cuDNN's recurrent kernel casts it, as far as we
            # know, to float16 whatever autocast's dtype (unscaled float16 gradients: bench/gpu_check.py's first
            # stage records what it does), and at these sizes a time step costs its latency more than its arithmetic
            with torch.autocast("cuda", enabled=False):
                return self._packed(x.to(self.weight_ih_l0.dtype), lengths)
        return self._packed(x, lengths)

    def _packed(self, x, lengths):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=_presorted(x, lengths))
        packed_out, h_n = self._kernel.forward(self, packed)
        if isinstance(h_n, tuple):  # LSTM's (h, c): the cell state never leaves this module
            h_n = h_n[0]
        # Padding comes back as exact zeros; total_length keeps T even when every row is shorter.
        outputs, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=x.size(1))
        directions = 2 if self.bidirectional else 1
        # h_n: (L*D, B, H), already in the batch's original order -> last layer (D, B, H) -> (B, D*H)
        final = h_n[-directions:].transpose(0, 1).reshape(x.size(0), -1)
        return outputs, final


def _presorted(x, lengths) -> bool:
    """Whether to pack the rows as they come: on a GPU, when they already come longest first (the training loop
    orders each batch so), which spares the reordering copies and the wait for the order's copy to the GPU.
    On the CPU rows are always packed as before, so its results stay what they were, bit for bit."""
    return x.device.type != "cpu" and bool((lengths[:-1] >= lengths[1:]).all())


def _fused_kwargs(num_layers, bidirectional, dropout):
    # torch warns about dropout on a single layer, where it does nothing anyway.
    return dict(
        num_layers=num_layers,
        bidirectional=bidirectional,
        dropout=dropout if num_layers > 1 else 0.0,
        batch_first=True,
    )


@register_cell("rnn")
class FusedRNN(_Fused, nn.RNN):
    _kernel = nn.RNN

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, dropout=0.0):
        nn.RNN.__init__(
            self, input_size, hidden_size, nonlinearity="tanh", **_fused_kwargs(num_layers, bidirectional, dropout)
        )


@register_cell("lstm")
class FusedLSTM(_Fused, nn.LSTM):
    _kernel = nn.LSTM

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, dropout=0.0):
        nn.LSTM.__init__(self, input_size, hidden_size, **_fused_kwargs(num_layers, bidirectional, dropout))

    def _run(self, x, lengths):
        # Training on the CPU: zhseq's own kernel (zhseq.kernels), about twice as fast as torch's there.
        if torch.is_grad_enabled() and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64):
            from zhseq.kernels import dropout, lstm_forward

            between = (lambda t: dropout(t, self.dropout, self.training)) if self.dropout else None
            return lstm_forward(self, x, lengths, between)
        return super()._run(x, lengths)


@register_cell("gru")
class FusedGRU(_Fused, nn.GRU):
    _kernel = nn.GRU

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, dropout=0.0):
        nn.GRU.__init__(self, input_size, hidden_size, **_fused_kwargs(num_layers, bidirectional, dropout))


# --- one time step of each cell, from the equations -----------------------------------------------
# x: (B, I); h, c: (B, H); w_ih: (G*H, I); w_hh: (G*H, H); b_ih, b_hh: (G*H,), with the G gate
# blocks stacked in torch's order.


def rnn_step(x, h, w_ih, w_hh, b_ih, b_hh):
    """Elman RNN: h' = tanh(W_ih x + b_ih + W_hh h + b_hh)."""
    return torch.tanh(x @ w_ih.T + b_ih + h @ w_hh.T + b_hh)


def lstm_step(x, state, w_ih, w_hh, b_ih, b_hh):
    """LSTM, gate blocks (i, f, g, o). Returns the new (h, c)."""
    h, c = state
    i, f, g, o = (x @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(4, dim=-1)
    i = torch.sigmoid(i)  # input gate: how much of the candidate to write
    f = torch.sigmoid(f)  # forget gate: how much of the old cell state to keep
    g = torch.tanh(g)  # candidate cell content
    o = torch.sigmoid(o)  # output gate: how much of the cell to expose as h
    c = f * c + i * g
    h = o * torch.tanh(c)
    return h, c


def gru_step(x, h, w_ih, w_hh, b_ih, b_hh):
    """GRU, gate blocks (r, z, n), torch's formulation (the reset gate scales W_hn h + b_hn)."""
    x_r, x_z, x_n = (x @ w_ih.T + b_ih).chunk(3, dim=-1)
    h_r, h_z, h_n = (h @ w_hh.T + b_hh).chunk(3, dim=-1)
    r = torch.sigmoid(x_r + h_r)  # reset gate: how much history the candidate may see
    z = torch.sigmoid(x_z + h_z)  # update gate: how much of the old state to keep
    n = torch.tanh(x_n + r * h_n)  # candidate state
    return (1 - z) * n + z * h


# --- reference cells: a Python loop over time around the step functions -------------------------


class _Reference(_Recurrent):
    """Per-step loop over time, layer by layer, each direction on its own.

    Parameters are named and shaped as in torch (``weight_ih_l{k}``, ``weight_hh_l{k}``,
    ``bias_ih_l{k}``, ``bias_hh_l{k}``, plus ``_reverse`` for the backward direction), registered
    in torch's order and initialised as torch does, so state_dicts are interchangeable with the
    fused cell of the same kind.
    """

    gates: int  # gate blocks stacked in each weight: rnn 1, gru 3 (r, z, n), lstm 4 (i, f, g, o)
    step: staticmethod

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, dropout=0.0):
        super().__init__()
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"dropout must be in [0, 1], got {dropout}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.dropout = float(dropout)
        directions = 2 if bidirectional else 1
        rows = self.gates * hidden_size
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * directions
            for suffix in ["", "_reverse"][:directions]:
                self.register_parameter(f"weight_ih_l{layer}{suffix}", nn.Parameter(torch.empty(rows, layer_input)))
                self.register_parameter(f"weight_hh_l{layer}{suffix}", nn.Parameter(torch.empty(rows, hidden_size)))
                self.register_parameter(f"bias_ih_l{layer}{suffix}", nn.Parameter(torch.empty(rows)))
                self.register_parameter(f"bias_hh_l{layer}{suffix}", nn.Parameter(torch.empty(rows)))
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0.0
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    # The state is h for rnn/gru; ReferenceLSTM overrides these three to carry (h, c).
    def _initial_state(self, x):
        return x.new_zeros(x.size(0), self.hidden_size)

    @staticmethod
    def _hidden(state):
        return state

    @staticmethod
    def _keep(alive, new, old):
        return torch.where(alive, new, old)

    def _run(self, x, lengths):
        alive_until = lengths.to(x.device)[:, None]  # (B, 1)
        layer_input = x
        for layer in range(self.num_layers):
            if layer > 0:  # dropout between layers, as torch: only while training, not after the last
                layer_input = nn.functional.dropout(layer_input, self.dropout, self.training)
            directions = [self._direction(layer_input, alive_until, layer, "")]
            if self.bidirectional:
                directions.append(self._direction(layer_input, alive_until, layer, "_reverse"))
            layer_input = torch.cat([out for out, _ in directions], dim=-1)  # (B, T, D*H)
        final = torch.cat([h for _, h in directions], dim=-1)  # (B, D*H), last layer
        return layer_input, final

    def _direction(self, x, alive_until, layer, suffix):
        """One direction of one layer. x: (B, T, I) -> outputs (B, T, H), final h (B, H)."""
        weights = [getattr(self, f"{name}_l{layer}{suffix}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        steps = x.size(1)
        # Backward runs T-1 .. 0; a row's state stays zero until its own last token.
        order = range(steps - 1, -1, -1) if suffix else range(steps)
        state = self._initial_state(x)
        outputs = [None] * steps
        for t in order:
            alive = t < alive_until  # (B, 1): rows whose text still covers step t
            state = self._keep(alive, self.step(x[:, t], state, *weights), state)  # frozen past the end
            outputs[t] = torch.where(alive, self._hidden(state), 0.0)
        return torch.stack(outputs, dim=1), self._hidden(state)


@register_cell("rnn-ref")
class ReferenceRNN(_Reference):
    gates = 1
    step = staticmethod(rnn_step)


@register_cell("gru-ref")
class ReferenceGRU(_Reference):
    gates = 3
    step = staticmethod(gru_step)


@register_cell("lstm-ref")
class ReferenceLSTM(_Reference):
    gates = 4
    step = staticmethod(lstm_step)

    def _initial_state(self, x):
        h = x.new_zeros(x.size(0), self.hidden_size)
        return h, torch.zeros_like(h)

    @staticmethod
    def _hidden(state):
        return state[0]

    @staticmethod
    def _keep(alive, new, old):
        return tuple(torch.where(alive, n, o) for n, o in zip(new, old))
