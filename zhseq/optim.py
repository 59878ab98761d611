"""The training loop's optimizer and learning-rate schedule, and the L-BFGS that fits the n-gram half.

They compute what ``torch.optim.AdamW``, ``torch.optim.lr_scheduler.LambdaLR`` and ``torch.optim.LBFGS``
compute (the tests compare them step by step). They exist because building any ``torch.optim`` optimizer
imports ``torch._dynamo``, 1.2 s of a training process on two cores, for nothing on this path.

Their state dicts keep torch's layout (``state`` by parameter index with ``step``, ``exp_avg``,
``exp_avg_sq``; ``param_groups``; the schedule's ``last_epoch``), which is what ``zhseq.trainstate`` writes.
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch


class AdamW:
    """Adam with decoupled weight decay (Loshchilov & Hutter), one parameter group, torch's arithmetic."""

    def __init__(self, params: Iterable[torch.nn.Parameter], *, lr: float, weight_decay: float = 0.01,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.params = [p for p in params]
        if not self.params:
            raise ValueError("AdamW got no parameters")
        self.param_groups = [{"params": self.params, "lr": lr, "initial_lr": lr, "betas": tuple(betas),
                              "eps": eps, "weight_decay": weight_decay}]
        self.state: dict[int, dict[str, torch.Tensor]] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        group = self.param_groups[0]
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        live = [(i, p) for i, p in enumerate(self.params) if p.grad is not None]
        if not live:
            return
        params, grads, avgs, sqs = [], [], [], []
        for i, p in live:
            state = self.state.get(i)
            if state is None:
                state = self.state[i] = {"step": torch.tensor(0.0), "exp_avg": torch.zeros_like(p),
                                         "exp_avg_sq": torch.zeros_like(p)}
            state["step"] += 1
            params.append(p)
            grads.append(p.grad)
            avgs.append(state["exp_avg"])
            sqs.append(state["exp_avg_sq"])
        torch._foreach_mul_(params, 1 - lr * wd)
        torch._foreach_lerp_(avgs, grads, 1 - beta1)
        torch._foreach_mul_(sqs, beta2)
        torch._foreach_addcmul_(sqs, grads, grads, 1 - beta2)
        steps = [float(self.state[i]["step"]) for i, _ in live]
        denom = torch._foreach_sqrt(sqs)
        torch._foreach_div_(denom, [(1 - beta2**s) ** 0.5 for s in steps])
        torch._foreach_add_(denom, eps)
        torch._foreach_addcdiv_(params, avgs, denom, [-lr / (1 - beta1**s) for s in steps])

    def state_dict(self) -> dict:
        groups = [{k: v for k, v in g.items() if k != "params"} | {"params": list(range(len(self.params)))}
                  for g in self.param_groups]
        return {"state": {i: dict(s) for i, s in self.state.items()}, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        saved = state_dict["param_groups"][0]
        if len(saved["params"]) != len(self.params):
            raise ValueError(f"the saved optimizer has {len(saved['params'])} parameters, this one "
                             f"{len(self.params)}")
        group = self.param_groups[0]
        for key in ("lr", "initial_lr", "eps", "weight_decay"):
            if key in saved:
                group[key] = saved[key]
        if "betas" in saved:
            group["betas"] = tuple(saved["betas"])
        self.state = {}
        for index, state in state_dict["state"].items():
            p = self.params[int(index)]
            self.state[int(index)] = {
                "step": torch.as_tensor(state["step"], dtype=torch.float32).clone(),
                "exp_avg": state["exp_avg"].to(p).clone(),
                "exp_avg_sq": state["exp_avg_sq"].to(p).clone(),
            }


class LambdaSchedule:
    """The learning rate of step s is ``initial_lr · factor(s)``; ``step()`` moves to the next step.
    Set at construction for step 0, as ``LambdaLR`` does."""

    def __init__(self, optimizer: AdamW, factor: Callable[[int], float]):
        self.optimizer, self.factor = optimizer, factor
        self.last_epoch = 0
        self._apply()

    def _apply(self) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"] * self.factor(self.last_epoch)

    def step(self) -> None:
        self.last_epoch += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {"last_epoch": self.last_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.last_epoch = int(state["last_epoch"])
        self._apply()


def lbfgs(fg: Callable[[torch.Tensor], tuple[float, torch.Tensor]], x: torch.Tensor, *, max_iter: int = 300,
          history_size: int = 20, tolerance_grad: float = 1e-6, tolerance_change: float = 1e-9) -> int:
    """Minimise ``fg`` (x → (loss, gradient)) from ``x``, which is updated in place, by L-BFGS with a strong
    Wolfe line search: ``torch.optim.LBFGS(lr=1, line_search_fn="strong_wolfe")`` as one ``step``, on a single
    flat tensor, with the same stopping rules. The line search is torch's own (``_strong_wolfe``).
    Returns the number of evaluations of ``fg``."""
    from torch.optim.lbfgs import _strong_wolfe  # importing the module does not import torch._dynamo

    max_eval = max_iter * 5 // 4
    loss, grad = fg(x)
    evals = 1
    if grad.abs().max() <= tolerance_grad:
        return evals
    dirs, steps, ro = [], [], []
    h_diag, d, t, prev_grad = 1.0, None, 1.0, None

    def along(x0, step, direction):  # the loss and gradient at x0 + step · direction
        return fg(x0 + step * direction)

    for n_iter in range(1, max_iter + 1):
        if n_iter == 1:
            d = grad.neg()
        else:
            y, s = grad - prev_grad, d * t
            ys = y.dot(s)
            if ys > 1e-10:
                if len(dirs) == history_size:
                    dirs.pop(0), steps.pop(0), ro.pop(0)
                dirs.append(y), steps.append(s), ro.append(1.0 / ys)
                h_diag = ys / y.dot(y)
            al = [None] * len(dirs)
            q = grad.neg()
            for i in range(len(dirs) - 1, -1, -1):
                al[i] = steps[i].dot(q) * ro[i]
                q.add_(dirs[i], alpha=-al[i])
            d = r = torch.mul(q, h_diag)
            for i in range(len(dirs)):
                r.add_(steps[i], alpha=al[i] - dirs[i].dot(r) * ro[i])
        prev_grad, prev_loss = grad.clone(), loss
        t = min(1.0, 1.0 / grad.abs().sum()) if n_iter == 1 else 1.0
        gtd = grad.dot(d)
        if gtd > -tolerance_change:
            break
        loss, grad, t, ls_evals = _strong_wolfe(along, x.clone(), t, d, loss, grad, gtd, max_ls=max_eval - evals)
        x.add_(d, alpha=t)
        evals += ls_evals
        if (n_iter == max_iter or evals >= max_eval or grad.abs().max() <= tolerance_grad
                or d.mul(t).abs().max() <= tolerance_change or abs(loss - prev_loss) < tolerance_change):
            break
    return evals
