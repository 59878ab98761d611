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


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'zhseq' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
