"""Classification metrics against scikit-learn's definitions."""
from __future__ import annotations

import warnings

import pytest
import torch
from sklearn.metrics import accuracy_score, balanced_accuracy_score

from dltrain.metrics.classification import ClassificationMetrics


def test_balanced_accuracy_averages_recall_over_the_classes_present_as_scikit_learn_does():
    """A split without class 6 (of 7): its recall is undefined, not 0, so it is left out of the mean."""
    generator = torch.Generator().manual_seed(0)
    target = torch.randint(0, 6, (200,), generator=generator)  # classes 0..5 only
    logits = torch.randn(200, 7, generator=generator)
    logits[torch.arange(200), target] += 1.0  # better than chance, not perfect; some predictions are class 6
    assert (logits.argmax(1) == 6).any()
    metrics = ClassificationMetrics(num_classes=7)
    for part in torch.arange(200).split(64):  # over several batches, as a validation pass
        metrics.update(logits[part], target[part], loss=torch.tensor(0.0))
    values = metrics.compute()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true": exactly the case tested
        expected = balanced_accuracy_score(target.numpy(), logits.argmax(1).numpy())
    assert values["balanced_acc"] == pytest.approx(expected, abs=1e-12)
    assert values["acc"] == pytest.approx(accuracy_score(target.numpy(), logits.argmax(1).numpy()), abs=1e-12)


def test_balanced_accuracy_with_every_class_present_is_the_mean_recall():
    target = torch.tensor([0, 0, 0, 1, 2, 2])
    logits = torch.nn.functional.one_hot(torch.tensor([0, 1, 0, 1, 2, 0]), 3).float()
    metrics = ClassificationMetrics(num_classes=3, top_k=1)
    metrics.update(logits, target, loss=torch.tensor(0.0))
    assert metrics.compute()["balanced_acc"] == pytest.approx((2 / 3 + 1 + 1 / 2) / 3)
