"""Semantic-segmentation metrics from one confusion matrix over the whole pass.

With ``n_ij`` the pixels of true class ``i`` predicted as ``j``, ``t_i = sum_j n_ij``
the pixels of class ``i`` and ``N = sum_i t_i`` (Long et al., 2015, section 5):

* pixel accuracy ``sum_i n_ii / N``
* mean accuracy ``mean_i n_ii / t_i``
* mean IoU ``mean_i n_ii / (t_i + sum_j n_ji - n_ii)``
* frequency-weighted IoU ``sum_i t_i * IoU_i / N``

Means run over the classes that occur (in the truth, or for IoU in truth or
prediction), so a class absent from the validation set does not count as 0.
Pixels labelled ``ignore_index`` (VOC's object borders) are left out.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch


class SegmentationMetrics:
    summed_state = ("confusion", "loss_sum", "count")  # what DDP all-reduces

    def __init__(self, num_classes: int, ignore_index: int = 255, class_names: Sequence[str] | None = None) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.class_names = list(class_names) if class_names else [str(k) for k in range(num_classes)]
        self.reset()

    def reset(self) -> None:
        self.confusion = torch.zeros(self.num_classes, self.num_classes, dtype=torch.long)
        self.loss_sum = torch.zeros((), dtype=torch.float64)
        self.count = 0

    def update(self, prediction: torch.Tensor, target: torch.Tensor, loss: torch.Tensor | None = None) -> None:
        """``prediction`` and ``target``: class indices of the same shape (N, H, W)."""
        if self.confusion.device != target.device:
            self.confusion = self.confusion.to(target.device)
            self.loss_sum = self.loss_sum.to(target.device)
        valid = target != self.ignore_index
        index = target[valid] * self.num_classes + prediction[valid]
        self.confusion += torch.bincount(index, minlength=self.num_classes**2).view(self.num_classes, -1)
        if loss is not None:
            self.loss_sum += loss.detach().double() * len(target)
            self.count += len(target)

    def _per_class(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per class: pixels of the class in the truth, pixels predicted as it, pixels right, their union
        (truth or prediction) and the IoU."""
        n = self.confusion.double().cpu()
        true_pixels, predicted_pixels, hits = n.sum(dim=1), n.sum(dim=0), n.diag()
        union = true_pixels + predicted_pixels - hits
        return true_pixels, predicted_pixels, hits, union, hits / union.clamp(min=1)

    def compute(self) -> dict[str, float]:
        true_pixels, _, hits, union, iou = self._per_class()
        total = true_pixels.sum().clamp(min=1)
        present = true_pixels > 0
        metrics = {
            "pixel_acc": (hits.sum() / total).item(),
            "mean_acc": (hits[present] / true_pixels[present]).mean().nan_to_num(0.0).item(),
            "miou": iou[union > 0].mean().nan_to_num(0.0).item(),
            "fwiou": (true_pixels * iou).sum().div(total).item(),
        }
        if self.count:
            metrics["loss"] = (self.loss_sum / self.count).item()
        metrics.update({f"iou_{name}": iou[k].item() for k, name in enumerate(self.class_names)})
        return metrics

    def per_class(self) -> list[dict[str, float | int | str]]:
        """Each class's IoU, precision (right / predicted pixels), recall (right / true pixels) and pixels in the
        truth over the pass: the rows of per_class.csv."""
        true_pixels, predicted_pixels, hits, _, iou = self._per_class()
        precision, recall = hits / predicted_pixels.clamp(min=1), hits / true_pixels.clamp(min=1)
        return [{"class": name, "iou": float(iou[k]), "precision": float(precision[k]), "recall": float(recall[k]),
                 "pixels": int(true_pixels[k])} for k, name in enumerate(self.class_names)]
