"""A CPU training kernel for the ``lstm`` cell: both directions in one time loop, written-out gradients.

torch's own CPU LSTM trains about half as fast as this on packed batches: each packed step is a separate
small kernel call per direction, and its backward replays the sequence through autograd. Here

- both directions run in the same loop as one batched product per step (the backward direction reads
  each row reversed within its own length, so padding always comes after the real tokens and never
  reaches a real position);
- the input projection for every step, and every weight gradient, is one large matrix product;
- the backward pass is an ``autograd.Function`` with the LSTM gradient written out, so a time step costs
  one small matrix product and a handful of elementwise operations, with nothing recorded per step.

It is the same function as torch's LSTM (the tests compare outputs and gradients with torch's kernel and
with ``lstm-ref``), used by ``FusedLSTM`` whenever gradients are needed on the CPU.

``set_precision("bf16")`` makes the matrix products run in bfloat16 (states, gates and weight updates
stay float32): its products run up to twice as fast on CPUs with AMX or AVX512-BF16; on the development
machine a whole epoch is about 10 % faster (bench/train_speed.py), within training noise for accuracy.

``dropout`` (and the ``Dropout`` module the models use) is the training loop's dropout, cheaper on the CPU
than torch's.
"""

from __future__ import annotations

import torch

_PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}
_lowp = None


def set_precision(name: str) -> None:
    """``"fp32"`` (default) or ``"bf16"`` for the kernel's matrix products."""
    global _lowp
    if name not in _PRECISIONS:
        raise ValueError(f"unknown precision {name!r}; choose one of: {', '.join(_PRECISIONS)}")
    _lowp = _PRECISIONS[name]


def get_precision() -> str:
    return next(k for k, v in _PRECISIONS.items() if v is _lowp)


def _mm(a, b, lowp):
    """Batched a @ b, in ``lowp`` when set; the result has a's dtype."""
    if lowp is None:
        return torch.bmm(a, b)
    return torch.bmm(a.to(lowp), b.to(lowp)).to(a.dtype)


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Dropout with a mask drawn as 16 random bits per element: on the CPU about 5× faster than
    ``torch.nn.functional.dropout``, whose one random float per element costs more than the rest of an
    LSTM step's elementwise work. An element is dropped with probability round(p · 65536) / 65536 and the
    others are scaled by the inverse of the keep probability, so the expectation is exact. Draws from
    torch's generator, so ``torch.manual_seed`` and saved random states reproduce it. Other devices and
    ``p`` outside (0, 1) go to torch's dropout."""
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or not 0.0 < p < 1.0 or not x.is_floating_point():
        return torch.nn.functional.dropout(x, p, training)
    n = x.numel()
    dropped = round(p * 65536)
    if dropped == 0:
        return x
    bits = torch.randint(-(2**63), 2**63 - 1, ((n + 3) // 4,), dtype=torch.int64).view(torch.int16)[:n]
    mask = (bits >= dropped - 32768).view(x.shape).to(x.dtype).mul_(65536 / (65536 - dropped))
    return x * mask


class Dropout(torch.nn.Module):
    """``torch.nn.Dropout`` through ``dropout`` above (no parameters, so state dicts are unchanged)."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class _LSTMLayer(torch.autograd.Function):
    """One LSTM layer, D directions at once.

    x: (D, T, B, I), each direction's rows already in its reading order; w_ih: (D, I, 4H); w_hh: (D, H, 4H);
    b: (D, 4H); gate blocks in the order i, f, o, g. Returns h: (D, T, B, H). Direction-major, so the
    products over all steps need no copies; a step works on strided (D, B, ·) views."""

    @staticmethod
    def forward(ctx, x, w_ih, w_hh, b, lowp):
        D, T, B, I = x.shape
        H = w_hh.shape[1]
        # (D, T, B, 4H): pre-activations of every step at once, turned into activations step by step
        acts = _mm(x.view(D, T * B, I), w_ih, lowp).add_(b[:, None, :]).view(D, T, B, 4 * H)
        hs = x.new_empty(D, T + 1, B, H)  # hs[:, t + 1] is the state after step t; every step writes its own
        cs = x.new_empty(D, T + 1, B, H)
        hs[:, 0].zero_()
        cs[:, 0].zero_()
        tcs = x.new_empty(D, T, B, H)  # tanh(c), kept for the backward pass
        whh = w_hh if lowp is None else w_hh.to(lowp)
        for t in range(T):
            a = acts[:, t]
            if lowp is None:
                a.baddbmm_(hs[:, t], whh)
            else:
                a.add_(torch.bmm(hs[:, t].to(lowp), whh))
            torch.sigmoid_(a[..., : 3 * H])
            torch.tanh_(a[..., 3 * H :])
            c = torch.mul(a[..., H : 2 * H], cs[:, t], out=cs[:, t + 1])
            c.addcmul_(a[..., :H], a[..., 3 * H :])
            torch.mul(a[..., 2 * H : 3 * H], torch.tanh(c, out=tcs[:, t]), out=hs[:, t + 1])
        ctx.save_for_backward(x, w_ih, w_hh, acts, hs, cs, tcs)
        ctx.lowp = lowp
        return hs[:, 1:]

    @staticmethod
    def backward(ctx, dhs):
        x, w_ih, w_hh, acts, hs, cs, tcs = ctx.saved_tensors
        lowp = ctx.lowp
        D, T, B, I = x.shape
        H = w_hh.shape[1]
        i, f, o, g = (acts[..., k * H : (k + 1) * H] for k in range(4))
        # Everything that does not depend on the running gradients, for all steps at once:
        #   dc_t = dc_{t+1} * f_{t+1} + dh_t * o (1 - tanh(c)^2)
        #   d(pre-activation) = dc * [g i(1-i), c_prev f(1-f), i (1-g^2)] for i, f, g;  dh * tanh(c) o(1-o) for o
        dc_from_dh = o * (1 - tcs * tcs)
        factors = x.new_empty(D, T, B, 4, H)
        torch.mul(g * i, 1 - i, out=factors[..., 0, :])
        torch.mul(cs[:, :-1] * f, 1 - f, out=factors[..., 1, :])
        torch.mul(tcs * o, 1 - o, out=factors[..., 2, :])
        torch.mul(i, 1 - g * g, out=factors[..., 3, :])
        f = f.contiguous()
        dgates = x.new_empty(D, T, B, 4 * H)
        dgv = dgates.view(D, T, B, 4, H)
        dh = dhs[:, T - 1].clone()
        dc = x.new_zeros(D, B, H)
        whh_t = w_hh.transpose(1, 2).contiguous()
        if lowp is not None:
            whh_t = whh_t.to(lowp)
        for t in range(T - 1, -1, -1):
            dc.addcmul_(dh, dc_from_dh[:, t])
            ft = factors[:, t]
            dg = dgv[:, t]
            torch.mul(dc[:, :, None, :], ft[:, :, :2], out=dg[:, :, :2])
            torch.mul(dh, ft[:, :, 2], out=dg[:, :, 2])
            torch.mul(dc, ft[:, :, 3], out=dg[:, :, 3])
            if t:
                dc.mul_(f[:, t])
                if lowp is None:
                    dh = torch.baddbmm(dhs[:, t - 1], dgates[:, t], whh_t)
                else:
                    dh = torch.bmm(dgates[:, t].to(lowp), whh_t).add_(dhs[:, t - 1])
        dgf = dgates.view(D, T * B, 4 * H)
        xf = x.view(D, T * B, I)
        hprev = hs[:, :-1].reshape(D, T * B, H)  # a view: t and b merge
        dw_ih = _mm(xf.transpose(1, 2), dgf, lowp)
        dw_hh = _mm(hprev.transpose(1, 2), dgf, lowp)
        db = dgf.sum(1)
        dx = _mm(dgf, w_ih.transpose(1, 2), lowp).view(D, T, B, I)
        return dx, dw_ih, dw_hh, db, None


def _gate_order(w: torch.Tensor) -> torch.Tensor:
    """torch's gate blocks i, f, g, o → the kernel's i, f, o, g (first dimension)."""
    i, f, g, o = w.chunk(4, 0)
    return torch.cat([i, f, o, g], 0)


def reversed_index(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """(T, B): position t of row b's reversed reading, L_b - 1 - t for t < L_b; padding stays in place."""
    t = torch.arange(steps)[:, None]
    L = lengths[None, :]
    return torch.where(t < L, L - 1 - t, t)


def lstm_forward(module, x: torch.Tensor, lengths: torch.Tensor, dropout_fn=None):
    """Run an ``nn.LSTM``'s weights over padded ``x`` (B, T, E) with ``lengths`` (B,), all >= 1.

    Returns (outputs (B, T, D*H) with zeros at t >= length, final (B, D*H) of the last layer)."""
    B, T, _ = x.shape
    D = 2 if module.bidirectional else 1
    H = module.hidden_size
    lowp = _lowp if x.dtype == torch.float32 else None  # float64 stays exact
    rev = reversed_index(lengths, T) if D == 2 else None
    valid = (torch.arange(T)[:, None] < lengths[None, :])  # (T, B)
    layer_in = x.transpose(0, 1)  # (T, B, I)
    for layer in range(module.num_layers):
        sfx = [f"_l{layer}", f"_l{layer}_reverse"][:D]
        w_ih = torch.stack([_gate_order(getattr(module, "weight_ih" + s)) for s in sfx]).transpose(1, 2)
        w_hh = torch.stack([_gate_order(getattr(module, "weight_hh" + s)) for s in sfx]).transpose(1, 2)
        b = torch.stack([_gate_order(getattr(module, "bias_ih" + s) + getattr(module, "bias_hh" + s)) for s in sfx])
        I = layer_in.shape[-1]
        reads = [layer_in]
        if D == 2:
            reads.append(layer_in.gather(0, rev[..., None].expand(T, B, I)))
        hs = _LSTMLayer.apply(torch.stack(reads, 0), w_ih, w_hh, b, lowp)  # (D, T, B, H)
        outs = [hs[0]]
        if D == 2:
            outs.append(hs[1].gather(0, rev[..., None].expand(T, B, H)))
        layer_out = torch.cat(outs, -1).masked_fill(~valid[..., None], 0.0)  # (T, B, D*H)
        if layer < module.num_layers - 1 and dropout_fn is not None:
            layer_out = dropout_fn(layer_out)
        layer_in = layer_out
    # final state: each direction's state after its last step, i.e. at reading step L_b - 1
    last = (lengths - 1)[None, None, :, None].expand(D, 1, B, H)
    final = hs.gather(1, last)[:, 0].transpose(0, 1).reshape(B, D * H)
    return layer_in.transpose(0, 1), final
