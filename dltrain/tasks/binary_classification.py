"""Binary classification: one logit per sample, P(y=1 | x) = sigmoid(logit).

Trained with binary cross-entropy on the logit (``BCEWithLogitsLoss``: the
sigmoid and the log in one numerically stable step), whatever the root
``loss`` default says. A model with two output logits (z0, z1) works too: the
softmax probability of class 1 is sigmoid(z1 - z0), so z1 - z0 is its logit.

Metrics: loss, accuracy, precision, recall (at p >= threshold) and ROC-AUC,
exact over the pass; TensorBoard gets the ROC and precision-recall curves as images (plots/roc_curve.png,
plots/pr_curve.png at the end of a run) and the precision-recall curve in its PR CURVES tab.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dltrain.errors import UserError
from dltrain.metrics.binary import BinaryMetrics, average_precision, precision_recall_curve, roc_auc, roc_curve
from dltrain.metrics.classification import binned_scores, counts_at_thresholds
from dltrain.predict.records import Prediction, SampleBatch
from dltrain.tasks.base import Task


def positive_logit(output: torch.Tensor) -> torch.Tensor:
    """The log-odds of class 1 from (N,), (N, 1) or two-logit (N, 2) model outputs."""
    if output.ndim == 2 and output.shape[1] == 2:
        return output[:, 1] - output[:, 0]
    return output.reshape(len(output))


class BinaryClassificationTask(Task):
    distributed_metrics = ("metrics",)  # DDP shards evaluation and reduces these (dltrain/engine/distributed.py)
    predict_inputs = "required"  # mode=predict: P(class 1) of each example of a data file (data=arrays, csv)

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module | None = None,
        name: str = "binary_classification",
        monitor: str = "val/roc_auc",
        monitor_mode: str = "max",
        threshold: float = 0.5,
        class_names: Sequence[str] | None = None,
    ) -> None:
        super().__init__(model, name, monitor, monitor_mode)
        self.metrics = BinaryMetrics(threshold)
        self.threshold = threshold
        self.class_names = list(class_names) if class_names else ["0", "1"]
        self._curves: tuple[torch.Tensor, torch.Tensor] | None = None

    def loss(self, logit: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logit, target.to(logit.dtype))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        features, target = batch
        return self.loss(positive_logit(self.model(features)), target)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        features, target = batch
        logit = positive_logit(self.model(features)).float()
        self.metrics.update(torch.sigmoid(logit), target, self.loss(logit, target))

    def compute_metrics(self, prefix: str) -> dict[str, float]:
        values = self.metrics.compute()
        self._curves = tuple(t.cpu() for t in self.metrics.scores())
        return {f"{prefix}/{k}": v for k, v in values.items()}

    def reset_metrics(self) -> None:
        self.metrics.reset()

    def log_visuals(self, logger: Any, step: int, prefix: str) -> None:
        if self._curves is None:
            return
        probabilities, labels = self._curves
        logger.log_pr_curve(f"{prefix}/pr/{self.class_names[1]}",
                            counts_at_thresholds(binned_scores(probabilities, labels > 0.5)), step)
        if self.quick_check:  # trainer=debug checks the config: two matplotlib figures would cost more than the run
            return
        from dltrain.visuals.curves import curve_figure  # matplotlib: only when a picture is drawn
        from dltrain.visuals.figures import figure_to_uint8

        fpr, tpr = roc_curve(*self._curves)
        recall, precision = precision_recall_curve(*self._curves)
        positive = self.class_names[1]
        roc = curve_figure(fpr, tpr, f"{prefix} ROC, class {positive}", "false positive rate", "true positive rate",
                           label=f"ROC-AUC {roc_auc(fpr, tpr):.3f}", diagonal=True)
        pr = curve_figure(recall, precision, f"{prefix} precision-recall, class {positive}", "recall", "precision",
                          label=f"AP {float(average_precision(recall, precision)):.3f}")
        logger.log_image(f"{prefix}/roc_curve", figure_to_uint8(roc), step)
        logger.log_image(f"{prefix}/pr_curve", figure_to_uint8(pr), step)

    def predict_step(self, batch: SampleBatch, options: Any) -> list[Prediction]:
        probabilities = torch.sigmoid(positive_logit(self.model(batch.model_inputs)).float())
        records = []
        for index, name in enumerate(batch.names):
            p = float(probabilities[index])
            label = int(p >= self.threshold)
            records.append(Prediction(name, {**batch.describe(index), "class": label, "name": self.class_names[label],
                                             "probability": round(p, 6)}))
        return records

    def check_data(self, data: Any) -> None:
        if getattr(data, "kind", None) != "binary":
            raise UserError(
                f"The binary classification task needs a two-class dataset, and {type(data).__name__} is not one; "
                "pick data=breast_cancer or your own data with two classes (or task=classification for several)."
            )
