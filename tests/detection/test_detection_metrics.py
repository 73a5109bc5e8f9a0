"""COCO mAP through the detection task, against values computed by hand."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from dltrain.tasks.detection import DetectionTask


class FixedPredictions(nn.Module):
    """A stand-in detector that returns the predictions it was given."""

    def __init__(self, predictions: list[dict[str, torch.Tensor]]) -> None:
        super().__init__()
        self.predictions = predictions

    def forward(self, images):
        return self.predictions


def _metrics(predicted_box: list[float], target_box: list[float]) -> dict[str, float]:
    prediction = {"boxes": torch.tensor([predicted_box]), "scores": torch.tensor([0.9]), "labels": torch.tensor([1])}
    task = DetectionTask(FixedPredictions([prediction]), class_names=["thing"])
    task.eval()
    target = {"boxes": torch.tensor([target_box]), "labels": torch.tensor([1])}
    task.validation_step(([torch.zeros(3, 32, 32)], [target]), 0)
    return task.compute_metrics("val")


def test_perfect_prediction_scores_one():
    metrics = _metrics([2.0, 2.0, 12.0, 12.0], [2.0, 2.0, 12.0, 12.0])
    assert metrics["val/map"] == pytest.approx(1.0)
    assert metrics["val/map_50"] == pytest.approx(1.0) and metrics["val/mar_100"] == pytest.approx(1.0)


def test_shifted_box_scores_the_share_of_iou_thresholds_it_passes():
    # shifted by 1 px: IoU = 90 / 110 = 0.818, a match at thresholds 0.50, 0.55, ..., 0.80 (7 of 10)
    metrics = _metrics([3.0, 2.0, 13.0, 12.0], [2.0, 2.0, 12.0, 12.0])
    assert metrics["val/map"] == pytest.approx(0.7, abs=1e-6)
    assert metrics["val/map_50"] == pytest.approx(1.0) and metrics["val/map_75"] == pytest.approx(1.0)


def test_a_box_on_no_object_scores_zero():
    assert _metrics([20.0, 20.0, 30.0, 30.0], [2.0, 2.0, 12.0, 12.0])["val/map"] == 0.0
