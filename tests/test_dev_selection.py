"""Which epoch a run keeps: the dev metric, and on a tie the dev log loss (small dev sets tie often)."""

import numpy as np
import pytest
import torch

from zhseq.config import BackboneConfig, FitConfig, SentimentConfig
from zhseq.modeling import SentimentNet
from zhseq.training.loop import fit
from zhseq.training.tasks import SentimentTask

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _run(scores: list[dict], *, tie_metric="log_loss", patience=2) -> tuple[list[int], list[dict]]:
    """fit over a tiny net whose dev scores per epoch are ``scores``; returns the epochs on_best saw, and the history."""
    net = SentimentNet(SentimentConfig(BackboneConfig(40, 4, 4), num_labels=2))
    g = torch.Generator().manual_seed(0)
    examples = [(torch.randint(4, 40, (5,), generator=g).tolist(), i % 2) for i in range(32)]
    given = iter(scores)
    bests = []
    history = fit(net, examples, collate=SentimentTask.collate,
                  config=FitConfig(epochs=len(scores), batch_size=16, patience=patience, progress=False),
                  evaluate=lambda m: next(given), metric="accuracy", greater_is_better=True, tie_metric=tie_metric,
                  on_best=lambda record: bests.append(record["epoch"]))
    return bests, history


def test_a_tie_in_accuracy_goes_to_the_epoch_with_the_lower_log_loss_and_does_not_count_towards_patience():
    scores = [{"accuracy": 0.84, "log_loss": 0.60}, {"accuracy": 0.84, "log_loss": 0.45},
              {"accuracy": 0.84, "log_loss": 0.40}, {"accuracy": 0.88, "log_loss": 0.50},
              {"accuracy": 0.88, "log_loss": 0.55}]
    bests, history = _run(scores)
    assert bests == [1, 2, 3, 4]  # without the tie-break, patience 2 would have stopped after epoch 3 keeping 1
    assert [h["best"] for h in history] == [True, True, True, True, False]


def test_a_tie_with_a_higher_log_loss_is_no_improvement_and_a_lower_accuracy_never_is():
    bests, history = _run([{"accuracy": 0.9, "log_loss": 0.3}, {"accuracy": 0.9, "log_loss": 0.31},
                           {"accuracy": 0.8, "log_loss": 0.01}], patience=5)
    assert bests == [1]


def test_without_a_tie_metric_a_tie_is_no_improvement():
    bests, history = _run([{"accuracy": 0.9, "log_loss": 0.3}, {"accuracy": 0.9, "log_loss": 0.1}],
                          tie_metric=None, patience=5)
    assert bests == [1]


def test_the_sentiment_dev_score_holds_the_log_loss_of_the_gold_labels():
    task = SentimentTask(None, None, ["negative", "positive"], 256)
    examples = [([1], 0), ([1], 1), ([1], 1)]
    probs = np.array([[0.8, 0.2], [0.4, 0.6], [0.9, 0.1]])
    score = task.score(examples, probs)
    assert score["accuracy"] == pytest.approx(2 / 3)
    assert score["log_loss"] == pytest.approx(-(np.log(0.8) + np.log(0.6) + np.log(0.1)) / 3)
