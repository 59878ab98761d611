"""zhseq: Chinese text on recurrent networks.

Heavy modules (torch, datasets, scikit-learn) are imported only when the names that need them are
first used, so ``import zhseq`` and ``zhseq --help`` stay fast.
"""

__version__ = "0.1.0"

_LAZY = {
    "Tokenizer": "zhseq.tokenizer",
    "Vocab": "zhseq.vocab",
    "ZhseqError": "zhseq.errors",
    "SentimentClassifier": "zhseq.pipeline",
    "NextWordPredictor": "zhseq.pipeline",
    "train": "zhseq.training",
    "finetune": "zhseq.training",
    "evaluate": "zhseq.evaluation",
    "register_cell": "zhseq.cells",
}

__all__ = sorted(_LAZY) + ["__version__"]


def lazy_attributes(package: str, names: dict, namespace: dict):
    """A module ``__getattr__`` (PEP 562) that imports ``names[name]`` (a module path) the first time
    ``name`` is asked for and keeps the value in ``namespace``; shared by zhseq's packages. A missing optional
    dependency raises ``ModuleNotFoundError`` naming the extra to install (``zhseq.extras``)."""
    import importlib

    def __getattr__(name):
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        try:
            imported = importlib.import_module(module)
        except ModuleNotFoundError as exc:  # an optional dependency: say which extra brings it
            from .extras import missing_message

            message = missing_message(exc, f"{package}.{name}")
            if message is None:
                raise
            raise ModuleNotFoundError(message, name=exc.name) from exc
        value = namespace[name] = getattr(imported, name)
        return value

    return __getattr__


__getattr__ = lazy_attributes("zhseq", _LAZY, globals())
