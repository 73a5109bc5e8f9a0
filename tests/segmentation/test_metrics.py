"""Segmentation metrics and losses against hand-computed values."""
from __future__ import annotations

import pytest
import torch

from dltrain.losses.segmentation import CrossEntropyDiceLoss, DiceLoss
from dltrain.metrics.segmentation import SegmentationMetrics


def metrics_of(prediction, target, num_classes=3, ignore_index=255):
    metrics = SegmentationMetrics(num_classes, ignore_index)
    metrics.update(torch.tensor(prediction), torch.tensor(target))
    return metrics.compute()


def test_perfect_prediction_scores_one():
    target = [[[0, 1, 2], [2, 1, 0]]]
    values = metrics_of(target, target)
    for name in ("pixel_acc", "mean_acc", "miou", "fwiou", "iou_0", "iou_1", "iou_2"):
        assert values[name] == pytest.approx(1.0)


def test_partial_overlap_matches_hand_computation():
    # truth: 4 background, 2 class 1; prediction gets one class-1 pixel wrong and one background pixel wrong
    target = [[[0, 0, 0, 0, 1, 1]]]
    prediction = [[[0, 0, 0, 1, 1, 0]]]
    values = metrics_of(prediction, target, num_classes=2)
    # confusion [[3, 1], [1, 1]]
    assert values["pixel_acc"] == pytest.approx(4 / 6)
    assert values["mean_acc"] == pytest.approx((3 / 4 + 1 / 2) / 2)
    iou0, iou1 = 3 / (4 + 4 - 3), 1 / (2 + 2 - 1)
    assert values["iou_0"] == pytest.approx(iou0) and values["iou_1"] == pytest.approx(iou1)
    assert values["miou"] == pytest.approx((iou0 + iou1) / 2)
    assert values["fwiou"] == pytest.approx((4 * iou0 + 2 * iou1) / 6)


def test_per_class_rows_give_iou_precision_recall_and_pixels_by_hand():
    metrics = SegmentationMetrics(2, class_names=["background", "shape"])
    metrics.update(torch.tensor([[[0, 0, 0, 1, 1, 0]]]), torch.tensor([[[0, 0, 0, 0, 1, 1]]]))  # [[3, 1], [1, 1]]
    background, shape = metrics.per_class()
    assert background == {"class": "background", "iou": pytest.approx(3 / 5), "precision": pytest.approx(3 / 4),
                          "recall": pytest.approx(3 / 4), "pixels": 4}
    assert shape == {"class": "shape", "iou": pytest.approx(1 / 3), "precision": pytest.approx(1 / 2),
                     "recall": pytest.approx(1 / 2), "pixels": 2}
    assert shape["iou"] == pytest.approx(metrics.compute()["iou_shape"])


def test_ignored_pixels_and_absent_classes_do_not_count():
    target = [[[0, 1, 255, 255]]]
    prediction = [[[0, 1, 2, 1]]]  # wrong guesses on ignored pixels only
    values = metrics_of(prediction, target)
    assert values["pixel_acc"] == 1.0 and values["miou"] == 1.0  # class 2 is in neither truth nor prediction


def test_metrics_accumulate_over_batches_exactly():
    whole = SegmentationMetrics(2)
    split = SegmentationMetrics(2)
    target, prediction = torch.randint(0, 2, (4, 5, 5)), torch.randint(0, 2, (4, 5, 5))
    whole.update(prediction, target)
    for i in range(4):
        split.update(prediction[i:i + 1], target[i:i + 1])
    assert whole.compute() == split.compute()


def test_dice_loss_is_zero_for_confident_right_logits_and_ignores_pixels():
    target = torch.tensor([[[0, 1], [1, 255]]])
    logits = torch.nn.functional.one_hot(target.clamp(max=1), 2).permute(0, 3, 1, 2).float() * 50
    logits[0, :, 1, 1] = torch.tensor([50.0, -50.0])  # wrong, but on an ignored pixel
    assert DiceLoss(smooth=0.0)(logits, target) == pytest.approx(0.0, abs=1e-6)
    assert CrossEntropyDiceLoss()(logits, target) == pytest.approx(0.0, abs=1e-6)
    assert DiceLoss(smooth=0.0)(-logits, target) == pytest.approx(1.0, abs=1e-6)
