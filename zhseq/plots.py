"""Pictures of a run: learning curves from ``metrics.json``, the confusion matrix from ``evaluate()``.

matplotlib is an optional extra (``pip install 'zhseq[plot]'``), imported inside the functions, so
importing this module costs nothing and works without it. Figures are made with
``matplotlib.figure.Figure`` directly, never through pyplot: no display is needed, and the caller's
matplotlib backend and open figures are left alone.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import os
import re
import warnings
from pathlib import Path

from .errors import ZhseqError

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'zhseq[plot]'"
FORMATS = ("png", "svg", "pdf")  # chosen by the file name's extension

# Fonts with Chinese glyphs, most wanted first: label names may be Chinese. The font found also draws
# the Latin text (matplotlib before 3.6 takes every glyph from one font); all of these have Latin letters.
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Heiti SC",
    "Noto Sans CJK JP",  # the regional variants share the common Chinese characters
    "Noto Sans CJK TC",
    "Arial Unicode MS",
)


def available() -> bool:
    """True if matplotlib can be imported (without importing it)."""
    return importlib.util.find_spec("matplotlib") is not None


def check_path(path: str | os.PathLike) -> Path:
    """Refuse a file name we cannot draw to before any work is done; returns it as a ``Path``."""
    path = Path(path)
    if path.suffix.lower().lstrip(".") not in FORMATS:
        raise ZhseqError(f"{path}: a plot file name must end in {', '.join('.' + f for f in FORMATS)}")
    if not path.parent.is_dir():
        raise ZhseqError(f"{path}: folder {path.parent} does not exist")
    return path


# what the file names of CJK_FONTS look like (wqy-microhei.ttc, NotoSansCJK-Regular.ttc, msyh.ttc, simhei.ttf)
_CJK_FILE_NAME = re.compile(r"cjk|wqy|wenquanyi|sourcehan|notosanssc|msyh|yahei|simhei|pingfang|heiti|unicode",
                            re.IGNORECASE)
NO_CJK_FONT = ("no font with Chinese characters found: the label names {names} are drawn as boxes; install one "
               "(Noto Sans CJK, WenQuanYi Micro Hei), or delete ~/.cache/matplotlib if one was installed after "
               "matplotlib's first run")


@functools.lru_cache(maxsize=None)
def cjk_font() -> str | None:
    """The name of an installed font that renders Chinese, or None. matplotlib lists the fonts it found on its
    first run (in ``~/.cache/matplotlib``); a CJK font installed since is looked for on disk by its file name
    and added (``font_manager.fontManager.addfont``)."""
    from matplotlib import font_manager

    manager = font_manager.fontManager

    def listed() -> str | None:
        installed = {font.name for font in manager.ttflist}
        return next((name for name in CJK_FONTS if name in installed), None)

    if listed() is None:
        known = {font.fname for font in manager.ttflist}
        for path in font_manager.findSystemFonts():
            if path not in known and _CJK_FILE_NAME.search(os.path.basename(path)):
                try:
                    manager.addfont(path)
                except (OSError, RuntimeError, ValueError):  # a file matplotlib cannot read: not this one
                    continue
    return listed()


@contextlib.contextmanager
def _style():
    """A Chinese-capable font while a figure is made and saved; without one, the default font (the glyph
    warnings silenced: ``confusion_matrix`` says it once, in one line)."""
    import matplotlib

    font = cjk_font()
    rc = {"font.family": "sans-serif", "font.sans-serif": [font, *matplotlib.rcParams["font.sans-serif"]]}
    with matplotlib.rc_context(rc if font else {}), warnings.catch_warnings():
        # Without a CJK font Chinese labels come out as boxes; the numbers and their positions still read.
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from", category=UserWarning)
        yield


def _save(fig, path: str | os.PathLike) -> Path:
    path = check_path(path)
    fig.savefig(path, format=path.suffix.lower().lstrip("."), dpi=120)
    return path


def _number(value: float) -> str:
    """Four decimals for scores such as accuracy, fewer for large ones such as perplexity."""
    return f"{value:.4f}" if abs(value) < 100 else f"{value:,.1f}"


def learning_curves(metrics: dict, path: str | os.PathLike) -> Path:
    """Draw training loss and the dev metric per epoch (``metrics.json``'s content) to ``path``.

    ``metrics``: ``{"task", "metric", "epochs": [{"epoch", "train_loss", "dev": {...}, "best"}, ...]}``;
    ``dev`` and ``best`` may be absent. Without any dev scores only the loss panel is drawn."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    epochs = metrics.get("epochs") or []
    if not epochs:
        raise ZhseqError("the metrics hold no epochs: no learning curves to draw")
    metric = metrics.get("metric")
    x = [e["epoch"] for e in epochs]
    with_dev = [e for e in epochs if metric in (e.get("dev") or {})]
    with _style():
        fig = Figure(figsize=(10, 4) if with_dev else (5.5, 4), layout="constrained")
        panels = fig.subplots(1, 2 if with_dev else 1, squeeze=False)[0]
        loss = panels[0]
        loss.plot(x, [e["train_loss"] for e in epochs], marker="o", label="training loss")
        dev_loss = [e for e in epochs if "loss" in (e.get("dev") or {})]  # an lm's dev set has one
        if dev_loss:
            loss.plot([e["epoch"] for e in dev_loss], [e["dev"]["loss"] for e in dev_loss], marker="s",
                      label="dev loss")
        loss.set(title="Loss", xlabel="epoch", ylabel="cross-entropy")
        loss.legend()
        if with_dev:
            ax = panels[1]
            scores = [e["dev"][metric] for e in with_dev]
            ax.plot([e["epoch"] for e in with_dev], scores, marker="o", color="C2", label=f"dev {metric}")
            best = [e for e in with_dev if e.get("best")]
            if best:
                b = best[-1]
                ax.plot([b["epoch"]], [b["dev"][metric]], marker="*", markersize=16, linestyle="none",
                        color="C3", label=f"best: {_number(b['dev'][metric])} (epoch {b['epoch']})")
            if min(scores) > 0 and max(scores) / min(scores) > 10:  # perplexity early on spans decades
                ax.set_yscale("log")
            ax.set(title=f"Dev {metric}", xlabel="epoch", ylabel=metric)
            ax.legend()
        for ax in panels:
            if len(x) <= 15:
                ax.set_xticks(x)  # one tick per epoch, also when there is only one
            else:
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
        fig.suptitle(f"Learning curves ({metrics.get('task', 'model')})")
        return _save(fig, path)


def confusion_matrix(result: dict, path: str | os.PathLike) -> Path:
    """Draw the confusion matrix of a sentiment evaluation (``evaluate()``'s dict) to ``path``.

    Rows are true labels, columns predicted labels; every cell shows its count."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    if "confusion_matrix" not in result or "labels" not in result:
        raise ZhseqError("this evaluation has no confusion matrix (only sentiment models have one)")
    labels = [str(label) for label in result["labels"]]
    unreadable = [label for label in labels if not label.isascii()]
    if unreadable and cjk_font() is None:
        logger.warning(NO_CJK_FONT.format(names=", ".join(unreadable)))
    matrix = result["confusion_matrix"]
    n = len(labels)
    if n == 0 or len(matrix) != n or any(len(row) != n for row in matrix):
        raise ZhseqError(f"the confusion matrix is not {n} × {n}, one row and column per label")
    side = max(4.0, 1.5 + 0.7 * n)  # inches; cells stay big enough for their numbers
    with _style():
        fig = Figure(figsize=(side + 1.5, side), layout="constrained")
        ax = fig.add_subplot()
        image = ax.imshow(matrix, cmap="Blues", vmin=0)
        bar = fig.colorbar(image, ax=ax, label="texts", shrink=0.8)
        bar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no 2.5 texts
        slanted = n > 4 or max(map(len, labels)) > 8  # long or many names would overlap
        ax.set_xticks(range(n))
        ax.set_xticklabels(labels, rotation=45 if slanted else 0, ha="right" if slanted else "center")
        ax.set_yticks(range(n))
        ax.set_yticklabels(labels)
        ax.set(xlabel="predicted label", ylabel="true label")
        top = max((max(row) for row in matrix), default=0)
        size = max(7, 13 - n // 2)
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                # white on the dark cells, black on the light ones
                ax.text(j, i, f"{count:,}", ha="center", va="center", fontsize=size,
                        color="white" if count > top / 2 else "black")
        facts = [f"{name} {result[key]:.4f}" for key, name in (("accuracy", "accuracy"), ("macro_f1", "macro-F1"))
                 if key in result]
        if "n" in result:
            facts.append(f"{result['n']:,} texts")
        ax.set_title("Confusion matrix" + ("\n" + ", ".join(facts) if facts else ""))
        return _save(fig, path)
