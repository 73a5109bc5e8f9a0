"""Regression and binary metrics against hand-computed values, and the curve images."""
from __future__ import annotations

import math

import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from dltrain.metrics.binary import BinaryMetrics, average_precision, precision_recall_curve, roc_auc, roc_curve
from dltrain.metrics.regression import RegressionMetrics
from dltrain.visuals.curves import curve_figure
from dltrain.visuals.figures import figure_to_uint8


def regression(prediction: list[float], target: list[float]) -> dict[str, float]:
    metrics = RegressionMetrics()
    metrics.update(torch.tensor(prediction), torch.tensor(target))
    return metrics.compute()


def test_a_perfect_prediction_has_r2_one_and_no_error():
    values = regression([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0])
    assert values["r2"] == 1.0 and values["mae"] == 0.0 and values["rmse"] == 0.0


def test_predicting_the_mean_has_r2_zero():
    assert regression([2.5] * 4, [1.0, 2.0, 3.0, 4.0])["r2"] == pytest.approx(0.0)


def test_regression_metrics_by_hand_and_over_several_batches():
    # errors 0, 0, 0, -1: MAE 1/4, RMSE sqrt(1/4), SSE 1, SST = 1.5^2 + 0.5^2 + 0.5^2 + 1.5^2 = 5
    expected = {"mae": 0.25, "rmse": 0.5, "mse": 0.25, "r2": 0.8}
    one_pass = regression([1.0, 2.0, 3.0, 5.0], [1.0, 2.0, 3.0, 4.0])
    batched = RegressionMetrics()
    batched.update(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0]), loss=torch.tensor(3.0))
    batched.update(torch.tensor([3.0, 5.0]), torch.tensor([3.0, 4.0]), loss=torch.tensor(1.0))
    values = batched.compute()
    for name, value in expected.items():
        assert one_pass[name] == pytest.approx(value) and values[name] == pytest.approx(value)
    assert values["loss"] == pytest.approx(2.0)  # batch losses weighted by batch size


SCORES = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1])
LABELS = torch.tensor([1, 1, 0, 1, 0, 1, 0, 0])


def test_binary_metrics_by_hand():
    metrics = BinaryMetrics()
    metrics.update(SCORES[:5], LABELS[:5], loss=torch.tensor(1.0))
    metrics.update(SCORES[5:], LABELS[5:], loss=torch.tensor(2.0))
    values = metrics.compute()
    # p >= 0.5 calls the first four positive: TP 3, FP 1, FN 1, TN 3
    assert values["acc"] == 0.75 and values["precision"] == 0.75 and values["recall"] == 0.75
    # positives beat negatives in 4 + 4 + 3 + 2 of the 16 pairs
    assert values["roc_auc"] == pytest.approx(13 / 16)
    assert values["loss"] == pytest.approx((5 * 1.0 + 3 * 2.0) / 8)


def test_roc_auc_matches_scikit_learn_with_ties():
    generator = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 5, (200,), generator=generator).float() / 4  # many ties
    labels = (torch.rand(200, generator=generator) < 0.3 + 0.4 * scores).long()
    assert roc_auc(*roc_curve(scores, labels)) == pytest.approx(roc_auc_score(labels.numpy(), scores.numpy()))


def test_curves_start_and_end_where_they_should():
    fpr, tpr = roc_curve(SCORES, LABELS)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    recall, precision = precision_recall_curve(SCORES, LABELS)
    assert precision[0] == 1.0 and recall[-1] == 1.0 and precision[-1] == 0.5  # half the samples are positive
    assert torch.all(torch.diff(fpr) >= 0) and torch.all(torch.diff(tpr) >= 0)


def test_average_precision_equals_scikit_learns_with_ties():
    generator = torch.Generator().manual_seed(1)
    scores = torch.randint(0, 7, (300,), generator=generator).float() / 6
    labels = (torch.rand(300, generator=generator) < 0.2 + 0.6 * scores).long()
    recall, precision = precision_recall_curve(scores, labels)
    assert float(average_precision(recall, precision)) == pytest.approx(
        average_precision_score(labels.numpy(), scores.numpy()), abs=1e-12)


def test_curve_figure_is_a_labelled_picture_with_the_curve_drawn():
    fpr, tpr = roc_curve(SCORES, LABELS)
    figure = curve_figure(fpr, tpr, "val ROC, class 1", "false positive rate", "true positive rate",
                          label=f"ROC-AUC {roc_auc(fpr, tpr):.3f}", diagonal=True)
    axes = figure.axes[0]
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("false positive rate", "true positive rate")
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["chance", f"ROC-AUC {roc_auc(fpr, tpr):.3f}"]
    image = figure_to_uint8(figure)
    assert image.dtype == torch.uint8 and image.shape[0] == 3 and min(image.shape[1:]) >= 500
    blue = (image[2] > 150) & (image[0] < 60)  # matplotlib's C0 line
    assert blue.sum() > 100 and not math.isclose(float(image.float().std()), 0.0)
