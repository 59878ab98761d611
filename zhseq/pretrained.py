"""What both prediction pipelines share: a model folder loaded, its engine chosen, the torch model on demand.

    folder → config.json (checked: zhseq.config) + vocab.json + Tokenizer settings → engine (numpy | torch)

A pipeline (``zhseq.pipeline.SentimentClassifier``, ``NextWordPredictor``) predicts through ``.engine``:

- ``"numpy"`` (``zhseq.runtime``): the built-in cells, no torch; a row's result never depends on its batch;
- ``"torch"`` (``zhseq.torch_engine``): any registered cell;
- ``"auto"`` (the default): numpy when the cell has it, else torch.

``.net`` is the torch model (``zhseq.modeling``), built from the folder the first time it is asked for (it
imports torch); from then on the engine follows its current weights, so a model being trained or fine-tuned
predicts with what it has learnt. ``forward`` and ``save_pretrained`` are the torch model's.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from . import __version__
from .checkpoint import VOCAB_NAME, default_model_dir, read_config, resolve_model_dir
from .config import model_config
from .errors import ZhseqError
from .tokenizer import Tokenizer
from .vocab import Vocab

ENGINES = ("auto", "numpy", "torch")


class Pretrained:
    """A loaded model: ``config`` (config.json as a dict), ``head`` (its checked settings), ``vocab``,
    ``tokenizer``, ``path``, ``engine``, and ``net`` (torch, on demand)."""

    task: str = ""

    def __init__(self, net, vocab: Vocab, tokenizer: Tokenizer, config: dict, path=None, *, engine: str = "auto"):
        """Wrap a torch model (``net``, e.g. one being trained) with its vocabulary, tokenizer and config."""
        self._setup(config, vocab, tokenizer, path, engine, net=net)

    def _setup(self, config, vocab, tokenizer, path, engine, *, net=None, head=None, numpy_engine=None):
        if engine not in ENGINES:
            raise ZhseqError(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")
        self.config = dict(config)
        self.vocab, self.tokenizer = vocab, tokenizer
        self.path = Path(path) if path is not None else None
        self._net, self._head = net, head if net is None else None
        if self._net is None and self._head is None:
            self._head = model_config(self.task, self.config)
        if len(vocab) != self.head.backbone.vocab_size:
            raise ZhseqError(f"vocabulary has {len(vocab)} tokens but the model expects {self.head.backbone.vocab_size}")
        self._check()
        from .runtime import numpy_refusal

        refusal = numpy_refusal(self.head)
        if engine == "numpy" and refusal:
            raise ZhseqError(f"{refusal}; load this model with engine=\"torch\"")
        self.engine_name = "torch" if engine == "torch" or (engine == "auto" and refusal) else "numpy"
        if self.engine_name == "torch" and net is None and importlib.util.find_spec("torch") is None:
            from .extras import missing_message

            # as zhseq's other ways to torch: ModuleNotFoundError naming the extra (zhseq.extras)
            why = "engine=\"torch\"" if engine == "torch" else f"this model ({refusal})"
            raise ModuleNotFoundError(missing_message(ModuleNotFoundError(name="torch"), why), name="torch")
        self._engine, self._engine_key = numpy_engine, None

    def _check(self) -> None:
        """The head's own checks of config.json (labels)."""

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | None = None, *, engine: str = "auto",
                        device: str | None = None):
        """Load a model folder (or a training output folder: its ``model-best``); ``None`` loads the default
        model shipped with zhseq. ``engine``: ``"auto"``, ``"numpy"`` or ``"torch"`` (module docstring).
        ``device`` (``"cuda"``, ``"cuda:N"``, ``"mps"``, ``"cpu"``, ``"auto"``: as ``FitConfig.device``): run the
        torch engine there (``engine`` "auto" becomes "torch"; "numpy" runs on the CPU only).
        Raises ZhseqError for a missing or corrupt folder, a config.json setting of the wrong type or value
        (naming it), a model of the other task, weights that do not match the config, and a device the machine
        does not have."""
        if device is not None:
            if engine == "numpy":
                raise ZhseqError("the numpy engine runs on the CPU only; load with engine=\"torch\" to use a device")
            from .modeling import resolve_device

            engine, device = "torch", resolve_device(device)  # a device the machine lacks fails before loading
        folder = resolve_model_dir(default_model_dir(cls.task) if path is None else path)
        config = read_config(folder)
        if config.get("task") != cls.task:
            raise ZhseqError(f"{folder} holds a {config.get('task')!r} model, not a {cls.task!r} model")
        self = cls.__new__(cls)
        tokenizer = Tokenizer.from_dict(config.get("tokenizer", {}))
        self._setup(config, Vocab.load(folder / VOCAB_NAME), tokenizer, folder, engine)
        if self.engine_name == "numpy":
            from .runtime import NumpyEngine

            self._engine = NumpyEngine.load(folder, self.head)
        else:
            net = self.net  # load the weights now, so that a bad file fails here
            if device is not None:
                net.to(device)
        return self

    @property
    def head(self):
        """The model's checked settings: ``zhseq.config.SentimentConfig`` or ``NextWordConfig``."""
        return self._net.config if self._net is not None else self._head

    @property
    def net(self):
        """The torch model (imports torch; built from the folder on first use). Where torch is not installed
        (``pip install zhseq`` predicts without it), ModuleNotFoundError with the line that installs it, as
        zhseq's other ways to torch (``zhseq.extras``)."""
        if self._net is None:
            try:
                from .checkpoint import load_weights
                from .modeling import build_model
            except ModuleNotFoundError as exc:
                from .extras import missing_message

                line = missing_message(exc, "a model's torch network (.net, forward, save_pretrained)")
                if line is None:
                    raise
                raise ModuleNotFoundError(line, name=exc.name) from None

            if self.path is None:
                raise ZhseqError("this model has no folder to load its torch network from")
            net = build_model(self.task, self.head.to_dict())
            load_weights(net, self.path)
            self._net = net.eval()
        return self._net

    @property
    def engine(self):
        """What computes the logits: ``zhseq.runtime.NumpyEngine`` or ``zhseq.torch_engine.TorchEngine``."""
        if self.engine_name == "torch":
            if self._engine is None or self._engine.net is not self.net:
                from .torch_engine import TorchEngine

                self._engine = TorchEngine(self.net)
            return self._engine
        if self._net is not None:  # follow the torch model's weights as they are now
            state = self._net.state_dict()
            key = tuple((name, t.data_ptr(), t._version) for name, t in state.items())
            if key != self._engine_key:
                from .runtime import NumpyEngine

                arrays = {name: t.detach().float().cpu().numpy() for name, t in state.items()}
                self._engine, self._engine_key = NumpyEngine.from_state(self.head, arrays), key
        return self._engine

    def config_dict(self) -> dict:
        """config.json as it stands now (the model may have been fine-tuned or resized since loading)."""
        return {**self.config, "zhseq_version": __version__, "task": self.task, **self.head.to_dict(),
                "tokenizer": self.tokenizer.to_dict()}

    def save_pretrained(self, path: str | os.PathLike, *, dtype: str | None = None, quantize: bool = False) -> Path:
        """Write the model folder (needs torch: without it, ``net``'s ModuleNotFoundError naming the extra);
        ``dtype="float16"`` halves the weights on disk, ``quantize=True`` stores the embedding matrix as int8
        rows with a float32 scale each (loading restores float32)."""
        from .checkpoint import save_model

        self.config = self.config_dict()
        return save_model(path, config=self.config, module=self.net, vocab=self.vocab, dtype=dtype,
                          quantize=quantize)

    def forward(self, ids, lengths, targets=None):
        """The torch model's ``forward(ids (B, T), lengths (B,), targets=None) -> (logits, loss)``."""
        return self.net(ids, lengths, targets)

    def encode(self, text: str) -> list[int]:
        return self.vocab.encode(self.tokenizer.cut(text))

    def __repr__(self) -> str:
        bb = self.head.backbone
        return (f"{type(self).__name__}(cell={bb.cell!r}, layers={bb.layers}, bidirectional={bb.bidirectional}, "
                f"vocab={len(self.vocab)}, engine={self.engine_name!r}, "
                f"path={str(self.path) if self.path else None!r})")
