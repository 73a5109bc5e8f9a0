"""Semantic segmentation: a class score per pixel, integer masks as targets.

The loss comes from the loss config: ``cross_entropy`` (default), ``nll``
(on log-softmax), ``dice`` or ``ce_dice``; every one of them leaves out the
pixels labelled ``ignore_index`` (the task sets it on the loss). Metrics come
from one confusion matrix over the whole validation pass: pixel accuracy,
mean accuracy, mean IoU (the monitor), frequency-weighted IoU and per-class
IoU; per_class.csv gets each class's IoU, precision, recall and pixels of the
last pass. At validation end TensorBoard gets rows of image | ground truth |
prediction, the masks drawn as colour overlays, each picture at least 256
pixels a side (small images enlarged, pixels kept sharp); the test pass's
becomes plots/segmentation.png.

``mode=predict``: the logits of the resized image are resized back to the
file's size (bilinear) before the argmax, so the mask and its overlay have
the input's size; predictions.json lists each class's share of the pixels.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from dltrain.errors import UserError
from dltrain.losses.segmentation import CrossEntropyDiceLoss, DiceLoss
from dltrain.metrics.segmentation import SegmentationMetrics
from dltrain.predict.records import ImageBatch, Prediction
from dltrain.tasks.base import Task
from dltrain.visuals.panels import titled_row

SUPPORTED_LOSSES = (nn.CrossEntropyLoss, nn.NLLLoss, DiceLoss, CrossEntropyDiceLoss)


def palette(num_classes: int) -> torch.Tensor:
    """PASCAL VOC's colour map (class 0 black, 1 dark red, 2 green, ...): bits of k spread over R, G, B."""
    colours = torch.zeros(num_classes, 3, dtype=torch.uint8)
    for k in range(num_classes):
        r = g = b = 0
        c = k
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        colours[k] = torch.tensor([r, g, b])
    return colours


def overlay_grid(images: torch.Tensor, target: torch.Tensor, predicted: torch.Tensor, ignore_index: int,
                 num_classes: int, alpha: float = 0.6, min_side: int = 256) -> torch.Tensor:
    """Rows of image | truth | prediction (uint8 3xHxW), each titled: class colours blended over the image,
    background clear; enlarged (nearest) to at least ``min_side`` pixels a side."""
    scale = max(1, -(-min_side // min(images.shape[-2:])))
    if scale > 1:
        images = F.interpolate(images.detach().float(), scale_factor=scale, mode="nearest")
        target = F.interpolate(target[:, None].float(), scale_factor=scale, mode="nearest")[:, 0].long()
        predicted = F.interpolate(predicted[:, None].float(), scale_factor=scale, mode="nearest")[:, 0].long()
    images = images.detach().float().cpu()[:, :3]
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    low, high = images.amin(dim=(1, 2, 3), keepdim=True), images.amax(dim=(1, 2, 3), keepdim=True)
    images = (images - low) / (high - low).clamp(min=1e-8)  # undo normalisation for display
    colours = palette(num_classes).float() / 255

    def overlay(mask: torch.Tensor) -> torch.Tensor:
        mask = mask.cpu()
        colour = colours[mask.clamp(0, num_classes - 1)].permute(0, 3, 1, 2)
        colour[(mask == ignore_index).unsqueeze(1).expand_as(colour)] = 1.0  # ignored pixels white
        weight = alpha * (mask != 0).unsqueeze(1).float()
        return images * (1 - weight) + colour * weight

    def uint8(pixels: torch.Tensor) -> torch.Tensor:
        return (pixels * 255).round().clamp(0, 255).to(torch.uint8)

    rows = [titled_row([uint8(image), uint8(truth), uint8(prediction)], ["image", "ground truth", "prediction"])
            for image, truth, prediction in zip(images, overlay(target), overlay(predicted))]
    return torchvision.utils.make_grid(rows, nrow=1, padding=4, pad_value=255)


def colour_overlay(image: torch.Tensor, mask: torch.Tensor, num_classes: int, alpha: float = 0.6) -> torch.Tensor:
    """A uint8 RGB image (3, H, W) with its class mask (H, W) blended in palette colours; background left clear."""
    colour = palette(num_classes)[mask.clamp(0, num_classes - 1)].permute(2, 0, 1).float()
    weight = alpha * (mask != 0).float()
    return (image.float() * (1 - weight) + colour * weight).round().to(torch.uint8)


class SegmentationTask(Task):
    distributed_metrics = ("metrics",)  # DDP shards evaluation and reduces these (dltrain/engine/distributed.py)

    predict_inputs = "required"

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module,
        num_classes: int,
        ignore_index: int = 255,
        class_names: Sequence[str] | None = None,
        name: str = "segmentation",
        monitor: str = "val/miou",
        monitor_mode: str = "max",
        num_sample_images: int = 8,
    ) -> None:
        super().__init__(model, name, monitor, monitor_mode)
        if not isinstance(loss, SUPPORTED_LOSSES):
            raise UserError(
                f"The segmentation task cannot use loss {type(loss).__name__}; "
                "run with loss=cross_entropy, loss=nll, loss=dice or loss=ce_dice."
            )
        loss.ignore_index = ignore_index
        self.loss_fn = loss
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.metrics = SegmentationMetrics(num_classes, ignore_index, class_names)
        self.num_sample_images = num_sample_images
        self._samples: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self._per_class: list[dict[str, Any]] | None = None  # of the last pass, for per_class.csv

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if isinstance(self.loss_fn, nn.NLLLoss):
            return self.loss_fn(F.log_softmax(logits, dim=1), target)
        return self.loss_fn(logits, target)

    def training_step(self, batch: Any, batch_idx: int) -> dict[str, Any]:
        images, target = batch
        return {"loss": self.loss(self.model(images), target)}

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        images, target = batch
        logits = self.model(images).float()
        predicted = logits.argmax(dim=1)
        self.metrics.update(predicted, target, self.loss(logits, target))
        if batch_idx == 0:  # the same images every epoch: predictions can be compared over time
            n = self.num_sample_images
            self._samples = (images[:n].detach(), target[:n].detach(), predicted[:n].detach())

    def compute_metrics(self, prefix: str) -> dict[str, float]:
        values = self.metrics.compute()
        self._per_class = self.metrics.per_class() if int(self.metrics.confusion.sum()) else None  # reset next
        return {f"{prefix}/{k}": v for k, v in values.items()}

    def reset_metrics(self) -> None:
        self.metrics.reset()

    def per_class_metrics(self) -> list[dict[str, Any]] | None:
        """IoU, precision, recall and pixels of each class over the last pass (per_class.csv)."""
        return self._per_class

    def log_visuals(self, logger: Any, step: int, prefix: str) -> None:
        if self._samples is not None and self.num_sample_images:
            grid = overlay_grid(*self._samples, ignore_index=self.ignore_index, num_classes=self.num_classes)
            logger.log_image(f"{prefix}/segmentation", grid, step)

    def predict_step(self, batch: ImageBatch, options: Any) -> list[Prediction]:
        logits = self.model(batch.normalised).float()
        predictions = []
        for index, original in enumerate(batch.originals):
            size = tuple(original.shape[-2:])
            mask = F.interpolate(logits[index: index + 1], size=size, mode="bilinear", align_corners=False)
            mask = mask.argmax(dim=1)[0].cpu()
            counts = torch.bincount(mask.flatten(), minlength=self.num_classes).double() / mask.numel()
            fractions = {name: round(float(c), 6) for name, c in zip(self.metrics.class_names, counts)}
            record = {**batch.describe(index), "class_fractions": fractions}
            # the raw mask: one channel, each pixel's class index (0 = background)
            pictures = {"overlay": colour_overlay(original, mask, self.num_classes), "mask": mask.to(torch.uint8)[None]}
            predictions.append(Prediction(batch.names[index], record, pictures))
        return predictions

    def check_data(self, data: Any) -> None:
        if getattr(data, "ignore_index", None) is None or getattr(data, "num_classes", None) is None:
            raise UserError(
                f"The segmentation task needs a segmentation data config (num_classes, ignore_index), and "
                f"{type(data).__name__} is not one; use data=shapes_seg, voc_seg, oxford_pet or cityscapes."
            )
