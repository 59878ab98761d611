"""Training: corpus files → examples → the one loop → a model folder.

    zhseq.data (read) → Tokenizer.cut → Vocab → tasks (examples, batches, dev scores)
        → loop.fit (knows nothing about the task) → run (train / finetune: the output folder's life)

``tasks``: ``SentimentTask``, ``LMTask``; ``loop``: ``fit``; ``ngramfit``: the n-gram half's fit; ``run``:
``train``, ``finetune``; ``state``: resumable checkpoints; ``distributed``: torchrun.

Names are imported when first used, so ``zhseq.training.distributed`` (which the CLI reads) costs no torch.
"""

_LAZY = {
    "FitConfig": "zhseq.config",
    "ModelConfig": "zhseq.config",
    "fit": "zhseq.training.loop",
    "NGRAM_C": "zhseq.training.ngramfit",
    "NGRAM_NB": "zhseq.training.ngramfit",
    "NGRAM_WEIGHTS": "zhseq.training.ngramfit",
    "choose_ngram_weight": "zhseq.training.ngramfit",
    "fit_ngrams": "zhseq.training.ngramfit",
    "finetune": "zhseq.training.run",
    "train": "zhseq.training.run",
    "LMTask": "zhseq.training.tasks",
    "SentimentTask": "zhseq.training.tasks",
    "length_batches": "zhseq.training.tasks",
    "sentiment_metrics": "zhseq.training.tasks",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'zhseq.training' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
