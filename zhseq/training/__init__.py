"""Training: corpus files → examples → the one loop → a model folder.

    corpus (read, dev set) → Tokenizer.cut → Vocab → tasks (examples, batches, dev scores)
        → [ngramfit: the n-gram half, scikit-learn] → loop.fit (torch.optim; knows nothing about the task)
        → run (train / finetune) → outdir (the output folder's life); state: resumable checkpoints;
          distributed: torchrun

``train(task, data, out, model=ModelConfig(...), fit=FitConfig(...))`` and ``finetune`` are the API; the
configs live in ``zhseq.config`` (torch-free).

Logging: every message is a record on a logger under ``zhseq`` (``zhseq.training.run``, ``.loop``, …):
INFO for progress, WARNING for what went wrong without stopping the run. zhseq adds no handler: a library
user sees the WARNINGs on stderr (Python's last-resort handler) and the INFO lines after, for example,
``logging.basicConfig(level=logging.INFO)``; the ``zhseq`` command prints both, one line each.
``FitConfig(progress=False)`` silences the INFO lines and the progress bar during a run; under torchrun
only process 0 reports.

Names are imported when first used, so ``zhseq.training.distributed`` (which the CLI reads) costs no torch.
"""

from .. import lazy_attributes

_LAZY = {
    "FitConfig": "zhseq.config",
    "ModelConfig": "zhseq.config",
    "fit": "zhseq.training.loop",
    "NGRAM_WEIGHTS": "zhseq.training.ngramfit",
    "choose_ngram_weight": "zhseq.training.ngramfit",
    "fit_ngrams": "zhseq.training.ngramfit",
    "finetune": "zhseq.training.run",
    "finetune_config": "zhseq.training.settings",
    "lm_stage_config": "zhseq.training.settings",
    "split_settings": "zhseq.training.settings",
    "train": "zhseq.training.run",
    "LMTask": "zhseq.training.tasks",
    "SentimentTask": "zhseq.training.tasks",
    "length_batches": "zhseq.training.tasks",
    "sentiment_metrics": "zhseq.training.tasks",
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_attributes("zhseq.training", _LAZY, globals())
