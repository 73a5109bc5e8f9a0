"""Object detection and instance segmentation: boxes (and masks) with class labels and scores.

Batches are ``(images, targets)``: a list of ``3xHxW`` float images in
``[0, 1]`` and a list of per-image dicts with ``boxes`` (xyxy pixels),
``labels`` (``1..num_classes``) and, for instance segmentation, ``masks``
(see ``dltrain/data/vision/detection.py``).

Every detector follows torchvision's interface: in training mode
``model(images, targets)`` returns a dict of losses (torchvision's own for
Faster R-CNN, RetinaNet, SSD, Mask R-CNN; YOLO's from ``yolo.py``), which are
summed and logged one by one; in eval mode ``model(images)`` returns
``{"boxes", "scores", "labels"(, "masks")}`` per image. The task's ``loss``
argument is therefore unused.

Validation: COCO-style mean average precision over the whole pass
(``torchmetrics.detection.MeanAveragePrecision`` with the faster-coco-eval
backend, COCOeval in C++, and COCOeval's own thresholds, so the numbers equal
pycocotools' COCOeval): ``map`` (AP averaged over IoU thresholds .5:.05:.95 — the monitor),
``map_50``, ``map_75``, small / medium / large AP, and average recall with
1 / 10 / 100 detections per image. A model that predicts masks (Mask R-CNN)
also gets mask AP (``mask_map``...: the same numbers with mask IoU). At
validation end TensorBoard shows the first images twice, side by side: the
ground-truth boxes (and masks) with class names, and the confident predictions
with class names and scores (an untrained detector's pair still shows the
truth); the test pass's picture becomes plots/predictions.png.

``mode=predict`` draws the same on each input file at its own size, and
lists the boxes in the file's pixel coordinates.
"""
from __future__ import annotations

import logging
from typing import Any

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchmetrics.detection import MeanAveragePrecision
from torchvision.utils import draw_bounding_boxes, draw_segmentation_masks

from dltrain.errors import UserError
from dltrain.predict.records import ImageBatch, Prediction
from dltrain.tasks.base import Task
from dltrain.visuals.panels import font_path, titled_row

Batch = tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]
REPORTED = ("map", "map_50", "map_75", "map_small", "map_medium", "map_large", "mar_1", "mar_10", "mar_100")


def coco_mean_average_precision(iou_type: str | tuple[str, ...],
                                backend: str = "faster_coco_eval") -> MeanAveragePrecision:
    """torchmetrics' MeanAveragePrecision run by COCOeval with COCOeval's own IoU and recall thresholds.

    By default torchmetrics builds the thresholds with float32 ``linspace`` (0.6000000238... for 0.6) and hands them
    to COCOeval, so an IoU or a recall exactly on a threshold (common for boxes on a pixel grid) fell on the other
    side, and mAP differed from COCOeval's by up to 2e-3 (docs/reliability.md). These are COCOeval's float64 ones.
    The backend is faster-coco-eval, pycocotools' COCOeval in C++: the same numbers (tests/detection compare them
    with pycocotools') in a fifth of the time, 0.7 s instead of 3.8 s for a pass over 200 images of an untrained
    detector's 100 boxes each (docs/performance.md; ``backend="pycocotools"`` is that benchmark's reference).
    """
    from faster_coco_eval.core.cocoeval import Params

    # its progress lines ("Accumulating evaluation results...", 8 a pass) at INFO would fill the run's log
    logging.getLogger("faster_coco_eval").setLevel(logging.WARNING)
    coco = Params(iouType="bbox")  # the segm thresholds are the same
    return MeanAveragePrecision(box_format="xyxy", iou_type=iou_type, backend=backend,
                                iou_thresholds=coco.iouThrs.tolist(), rec_thresholds=coco.recThrs.tolist(),
                                max_detection_thresholds=list(coco.maxDets),
                                compute_with_cache=False)  # per_class_metrics computes the same pass again


def predicts_masks(model: nn.Module) -> bool:
    """Mask R-CNN's ROI heads carry a mask branch; the other detectors predict boxes only."""
    heads = getattr(model, "roi_heads", None)
    return heads is not None and heads.has_mask()


class DetectionTask(Task):
    predict_inputs = "required"

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module | None = None,
        name: str = "detection",
        monitor: str = "val/map",
        monitor_mode: str = "max",
        class_names: list[str] | None = None,
        num_sample_images: int = 8,
        visual_score_thresh: float = 0.5,
    ) -> None:
        super().__init__(model, name, monitor, monitor_mode)
        self.masks = predicts_masks(model)
        self.metric = self._new_metric()
        self._last_pass: MeanAveragePrecision | None = None  # the boxes of the pass before the reset, for per_class
        self.class_names = list(class_names or [])
        self.num_sample_images, self.visual_score_thresh = num_sample_images, visual_score_thresh
        # the first images of a pass, their ground truth and predictions
        self._samples: tuple[list[torch.Tensor], list[dict[str, torch.Tensor]], list[dict[str, torch.Tensor]]] | None = None

    def training_step(self, batch: Batch, batch_idx: int) -> dict[str, Any]:
        images, targets = batch
        losses = self.model(images, targets)
        return {"loss": sum(losses.values()), "log": {f"train/{k}": v.detach() for k, v in losses.items()}}

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        images, targets = batch
        predictions = [{k: v.float() if k in ("boxes", "scores") else v for k, v in p.items()}
                       for p in self.model(images)]
        if self.masks:  # Mask R-CNN gives (N, 1, H, W) probabilities; the metric wants boolean masks
            for prediction in predictions:
                prediction["masks"] = prediction["masks"].squeeze(1) > 0.5
        self.metric.update(predictions, [{k: v for k, v in t.items() if k in ("boxes", "labels", "masks")}
                                         for t in targets])
        if batch_idx == 0:  # the first batch is the same every epoch: predictions can be compared
            n = self.num_sample_images
            self._samples = ([i.detach().cpu() for i in images[:n]],
                             [{k: v.detach().cpu() for k, v in t.items()
                               if k in ("boxes", "labels") or (k == "masks" and self.masks)} for t in targets[:n]],
                             [{k: v.detach().cpu() for k, v in p.items()} for p in predictions[:n]])

    def compute_metrics(self, prefix: str) -> dict[str, float]:
        values = self.metric.compute()
        kinds = (("bbox_", ""), ("segm_", "mask_")) if self.masks else (("", ""),)
        metrics = {}
        for source, name in kinds:
            for key in REPORTED:
                value = float(values[f"{source}{key}"])
                if value >= 0:  # COCO reports -1 for a size range without objects (large ones in small images)
                    metrics[f"{prefix}/{name}{key}"] = value
        return metrics

    def _new_metric(self) -> MeanAveragePrecision:
        return coco_mean_average_precision(("bbox", "segm") if self.masks else "bbox")

    def reset_metrics(self) -> None:
        """A fresh metric for the next pass; this pass's boxes stay in ``_last_pass`` until then (per_class.csv)."""
        self._last_pass, self.metric = self.metric, self._new_metric().to(self.metric.device)

    def per_class_metrics(self) -> list[dict[str, Any]] | None:
        """Each class's AP (IoU .5:.95) and AR (100 detections) over the last pass, COCOeval per category: the rows
        of per_class.csv (boxes; Mask R-CNN adds its masks'). Only at the end of a run: COCOeval runs once more per
        class."""
        metric = self._last_pass if self._last_pass is not None else self.metric
        if not metric.groundtruth_labels:
            return None
        metric.class_metrics = True
        try:
            values = metric.compute()
        finally:
            metric.class_metrics = False
        kinds = (("bbox_", ""), ("segm_", "mask_")) if self.masks else (("", ""),)  # named as compute_metrics does
        rows = []
        for index, label in enumerate(values["classes"].reshape(-1).tolist()):
            row: dict[str, Any] = {"class": self._name(label)}
            for source, name in kinds:
                row[f"{name}ap"] = float(values[f"{source}map_per_class"].reshape(-1)[index])
                row[f"{name}ar_100"] = float(values[f"{source}mar_100_per_class"].reshape(-1)[index])
            if any(value >= 0 for key, value in row.items() if key != "class"):  # COCO's -1: only predicted, never
                rows.append(row)  # in the truth (a detector without a background class may name label 0)
        return rows or None

    def log_visuals(self, logger: Any, step: int, prefix: str) -> None:
        if self._samples is None or not self.num_sample_images:
            return
        images, targets, predictions = self._samples
        pairs = [self.draw_pair(*sample) for sample in zip(images, targets, predictions)]
        height, width = max(p.shape[-2] for p in pairs), max(p.shape[-1] for p in pairs)  # images of other sizes
        pairs = [F.pad(p, (0, width - p.shape[-1], 0, height - p.shape[-2]), value=255) for p in pairs]
        logger.log_image(f"{prefix}/predictions", torchvision.utils.make_grid(pairs, nrow=2, padding=4,
                                                                              pad_value=255), step)

    def draw_pair(self, image: torch.Tensor, target: dict[str, torch.Tensor], prediction: dict[str, torch.Tensor],
                  min_side: int = 256) -> torch.Tensor:
        """The image twice, side by side: its ground truth and its confident predictions (at least ``min_side``
        pixels a side, small images enlarged so the labels stay legible)."""
        truth = {**target, "scores": torch.ones(len(target["labels"]))}
        found = int((prediction["scores"] >= self.visual_score_thresh).sum())
        pictures = [self.draw(image, truth, min_side, ground_truth=True), self.draw(image, prediction, min_side)]
        titles = [f"ground truth ({len(target['labels'])})", f"predicted ({found} >= {self.visual_score_thresh:g})"]
        return titled_row(pictures, titles)

    def draw(self, image: torch.Tensor, prediction: dict[str, torch.Tensor], min_side: int = 256,
             ground_truth: bool = False) -> torch.Tensor:
        """One image with its confident predictions (or its ``ground_truth``): masks tinted, boxes framed,
        "class score" (or "class") written."""
        scale = max(1, -(-min_side // min(image.shape[-2:])))
        picture = (F.interpolate(image[None].float(), scale_factor=scale, mode="nearest")[0].clamp(0, 1) * 255)
        picture = picture.to(torch.uint8)
        confident = prediction["scores"] >= self.visual_score_thresh
        masks = None
        if "masks" in prediction:
            masks = F.interpolate(prediction["masks"][confident][:, None].float(), scale_factor=scale)[:, 0] > 0.5
        return self.annotate(picture, prediction["boxes"][confident].float() * scale, prediction["labels"][confident],
                             None if ground_truth else prediction["scores"][confident], masks)

    def annotate(self, picture: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor,
                 scores: torch.Tensor | None, masks: torch.Tensor | None = None) -> torch.Tensor:
        """A uint8 RGB picture with these detections drawn: masks tinted, boxes framed, "class score" written
        ("class" alone without ``scores``: ground truth)."""
        if len(labels) == 0:
            return picture
        colours = [_colour(int(label)) for label in labels]
        if masks is not None:
            picture = draw_segmentation_masks(picture, masks, alpha=0.4, colors=colours)
        captions = [self._name(int(label)) if scores is None else f"{self._name(int(label))} {float(score):.2f}"
                    for label, score in zip(labels, scores if scores is not None else labels)]
        text = {"font": font_path(), "font_size": 14} if font_path() else {}  # PIL's tiny default font otherwise
        return draw_bounding_boxes(picture, boxes, captions, colours, width=2, **text)

    def predict_step(self, batch: ImageBatch, options: Any) -> list[Prediction]:
        """Boxes of the resized image scaled back to the file's pixels; detections below
        ``predict.score_threshold`` are left out of both the JSON and the picture."""
        size = batch.pixels.shape[-2:]
        predictions = []
        for index, (original, output) in enumerate(zip(batch.originals, self.model(list(batch.pixels)))):
            height, width = original.shape[-2:]
            keep = output["scores"] >= options.score_threshold
            scale = torch.tensor([width / size[1], height / size[0]] * 2)
            boxes = output["boxes"][keep].float().cpu() * scale
            boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
            boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
            labels, scores = output["labels"][keep].cpu(), output["scores"][keep].float().cpu()
            masks = None
            if "masks" in output:  # (N, 1, S, S) probabilities -> boolean masks at the file's size
                masks = F.interpolate(output["masks"][keep].float().cpu(), size=(height, width), mode="bilinear",
                                      align_corners=False)[:, 0] > 0.5
            detections = [{"box": [round(float(v), 2) for v in box], "label": int(label),
                           "name": self._name(int(label)), "score": round(float(score), 4)}
                          for box, label, score in zip(boxes, labels, scores)]
            record = {**batch.describe(index), "detections": detections}
            picture = self.annotate(original, boxes, labels, scores, masks)
            predictions.append(Prediction(batch.names[index], record, {"boxes": picture}))
        return predictions

    def _name(self, label: int) -> str:
        return self.class_names[label - 1] if 0 < label <= len(self.class_names) else str(label)

    def example_forward(self, batch: Batch) -> Any:
        """Detectors take a list of images: one image of the batch."""
        return self.model(list(batch[0][:1]))

    def check_data(self, data: Any) -> None:
        if getattr(data, "collate_fn", None) is None or not hasattr(data, "with_masks"):
            raise UserError(
                f"The detection task needs a detection data module (images with boxes), and {type(data).__name__} "
                "is not one; use data=shapes_det, voc_det or coco."
            )
        if self.masks and not data.with_masks:
            raise UserError(
                f"Mask R-CNN learns from instance masks and {type(data).__name__} has with_masks=false; "
                "run with data.with_masks=true (data=shapes_det or coco)."
            )


def _colour(label: int) -> tuple[int, int, int]:
    palette = ((230, 25, 75), (60, 180, 75), (0, 130, 200), (255, 225, 25), (145, 30, 180), (70, 240, 240),
               (245, 130, 48), (240, 50, 230), (210, 245, 60), (250, 190, 190))
    return palette[label % len(palette)]
