"""COCO mAP through the detection task, against values computed by hand and against pycocotools' COCOeval."""
from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

from dltrain.tasks.detection import REPORTED, DetectionTask


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


def coco_eval_stats(predictions: list[dict[str, torch.Tensor]], targets: list[dict[str, torch.Tensor]],
                    category: int | None = None) -> list[float]:
    """pycocotools' COCOeval with its own default parameters, on the same boxes: the reference (of one category
    alone, when given)."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def xywh(box: list[float]) -> list[float]:
        return [box[0], box[1], box[2] - box[0], box[3] - box[1]]

    images, annotations, detections, categories = [], [], [], set()
    for image_id, (prediction, target) in enumerate(zip(predictions, targets)):
        images.append({"id": image_id})
        for box, label in zip(target["boxes"].tolist(), target["labels"].tolist()):
            x, y, w, h = xywh(box)
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": label,
                                "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
            categories.add(label)
        for box, score, label in zip(prediction["boxes"].tolist(), prediction["scores"].tolist(),
                                     prediction["labels"].tolist()):
            detections.append({"image_id": image_id, "category_id": label, "bbox": xywh(box), "score": score})
            categories.add(label)
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = {"images": images, "annotations": annotations,
                         "categories": [{"id": c} for c in sorted(categories)]}
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(detections), "bbox")
        if category is not None:
            evaluation.params.catIds = [category]
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation.stats.tolist()


def boxes_on_a_pixel_grid() -> tuple[list[dict[str, torch.Tensor]], list[dict[str, torch.Tensor]]]:
    """Predictions (near misses, hits and false positives) and targets of 40 images, 3 classes."""
    generator = torch.Generator().manual_seed(0)
    predictions, targets = [], []
    for _ in range(40):
        n = int(torch.randint(1, 6, (1,), generator=generator))
        corner = torch.randint(0, 40, (n, 2), generator=generator).float()
        size = torch.randint(8, 24, (n, 2), generator=generator).float()
        boxes = torch.cat([corner, corner + size], dim=1)
        labels = torch.randint(1, 4, (n,), generator=generator)
        shifted = boxes + torch.randint(-2, 3, (n, 4), generator=generator).float()  # a near miss or a hit
        shifted[:, 2:] = torch.maximum(shifted[:, 2:], shifted[:, :2] + 1)
        extra = torch.cat([corner.flip(0), corner.flip(0) + 8], dim=1)  # false positives
        predictions.append({"boxes": torch.cat([shifted, extra]),
                            "scores": torch.rand(2 * n, generator=generator),
                            "labels": torch.cat([labels, torch.randint(1, 4, (n,), generator=generator)])})
        targets.append({"boxes": boxes, "labels": labels})
    return predictions, targets


def validated_task(predictions, targets) -> DetectionTask:
    task = DetectionTask(FixedPredictions(predictions), class_names=["a", "b", "c"])
    task.eval()
    task.validation_step(([torch.zeros(3, 64, 64)] * len(targets), targets), 0)
    return task


def test_map_equals_pycocotools_cocoeval():
    """Boxes on a pixel grid give IoUs such as 0.6, 0.7 and 0.8 exactly, and recalls such as 0.3: the float32
    thresholds torchmetrics builds by default (0.6000000238...) put them on the other side of the threshold
    than COCOeval's float64 ones, and mAP / mAP@.75 differed by up to 2e-3."""
    predictions, targets = boxes_on_a_pixel_grid()
    ours = validated_task(predictions, targets).compute_metrics("val")
    reference = dict(zip(REPORTED, coco_eval_stats(predictions, targets)))
    for key, value in reference.items():
        if value >= 0:
            assert ours[f"val/{key}"] == pytest.approx(value, abs=1e-6), key


def test_the_evaluation_writes_no_progress_lines_into_the_runs_log(caplog):
    """faster-coco-eval reports each evaluation at INFO (8 lines a pass): a detector's log keeps only its own."""
    predictions, targets = boxes_on_a_pixel_grid()
    with caplog.at_level(logging.INFO):
        validated_task(predictions, targets).compute_metrics("val")
    assert not [r for r in caplog.records if r.name.startswith("faster_coco_eval")], caplog.text


def test_per_class_ap_and_ar_equal_cocoeval_of_each_category_and_average_to_the_map():
    predictions, targets = boxes_on_a_pixel_grid()
    task = validated_task(predictions, targets)
    mean_ap = task.compute_metrics("val")["val/map"]
    task.reset_metrics()  # as the trainer does after each pass: the table is of the pass before
    rows = task.per_class_metrics()
    assert [row["class"] for row in rows] == ["a", "b", "c"]
    for label, row in enumerate(rows, start=1):
        stats = coco_eval_stats(predictions, targets, category=label)
        assert row["ap"] == pytest.approx(stats[0], abs=1e-6) and row["ar_100"] == pytest.approx(stats[8], abs=1e-6)
    assert sum(row["ap"] for row in rows) / 3 == pytest.approx(mean_ap, abs=1e-6)
    assert task._last_pass.compute()["map"] == pytest.approx(mean_ap)  # the pass's metrics are unchanged by it


def test_a_class_only_predicted_never_in_the_truth_gets_no_per_class_row():
    """RetinaNet has no background class and may name label 0: COCOeval gives such a class AP -1, left out of
    the mAP, and so of the table."""
    box = torch.tensor([[2.0, 2.0, 12.0, 12.0]])
    prediction = {"boxes": torch.cat([box, box + 20]), "scores": torch.tensor([0.9, 0.3]), "labels": torch.tensor([1, 0])}
    task = DetectionTask(FixedPredictions([prediction]), class_names=["thing"])
    task.eval()
    task.validation_step(([torch.zeros(3, 48, 48)], [{"boxes": box, "labels": torch.tensor([1])}]), 0)
    assert task.compute_metrics("val")["val/map"] == pytest.approx(1.0)
    task.reset_metrics()
    assert task.per_class_metrics() == [{"class": "thing", "ap": pytest.approx(1.0), "ar_100": pytest.approx(1.0)}]
