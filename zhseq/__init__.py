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
    ``name`` is asked for and keeps the value in ``namespace``; shared by zhseq's packages."""
    import importlib

    def __getattr__(name):
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = namespace[name] = getattr(importlib.import_module(module), name)
        return value

    return __getattr__


__getattr__ = lazy_attributes("zhseq", _LAZY, globals())
