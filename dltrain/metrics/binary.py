"""Binary-classification metrics over a whole pass, and the ROC and precision-recall curves.

Accuracy, precision and recall use the decision p >= threshold (0.5 by
default). ROC-AUC and the curves need every score, so the scores and labels of
the pass are kept (on the device) and sorted once in ``compute``:

    TPR = TP / P,  FPR = FP / N           (ROC curve, one point per distinct score)
    precision = TP / (TP + FP), recall = TPR   (PR curve)
    ROC-AUC = area under the ROC curve (trapezoids; ties between scores count half)

ROC-AUC is the probability that a random positive scores above a random negative.
"""
from __future__ import annotations

import torch


def roc_curve(scores: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(FPR, TPR) from (0, 0) to (1, 1), one point per distinct score, highest score first."""
    tp, fp = _cumulative_counts(scores, labels)
    positives, negatives = tp[-1].clamp(min=1), fp[-1].clamp(min=1)
    zero = torch.zeros(1, dtype=tp.dtype, device=tp.device)
    return torch.cat([zero, fp / negatives]), torch.cat([zero, tp / positives])


def precision_recall_curve(scores: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(recall, precision), one point per distinct score, highest score first."""
    tp, fp = _cumulative_counts(scores, labels)
    return tp / tp[-1].clamp(min=1), tp / (tp + fp)


def roc_auc(fpr: torch.Tensor, tpr: torch.Tensor) -> float:
    return float(torch.trapezoid(tpr, fpr))


def average_precision(recall: torch.Tensor, precision: torch.Tensor) -> torch.Tensor:
    """Sum of precision x the recall gained at each point of a curve, from recall 0 (scikit-learn's
    ``average_precision_score``: no interpolation between the points). The points run along the last dimension
    from the highest threshold down (rising recall); leading dimensions are curves of several classes."""
    recall, precision = recall.double(), precision.double()
    gained = torch.diff(recall, dim=-1, prepend=torch.zeros_like(recall[..., :1]))
    return (gained * precision).sum(dim=-1)


def _cumulative_counts(scores: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """True / false positives when everything scoring >= each distinct score is called positive."""
    order = torch.argsort(scores, descending=True)
    scores, labels = scores[order].double(), labels[order].double()
    last_of_tie = torch.ones_like(scores, dtype=torch.bool)  # a threshold sits after the last of equal scores
    last_of_tie[:-1] = scores[1:] != scores[:-1]
    tp = torch.cumsum(labels, 0)[last_of_tie]
    fp = torch.cumsum(1 - labels, 0)[last_of_tie]
    return tp, fp


class BinaryMetrics:
    summed_state = ("loss_sum",)  # what DDP all-reduces; the scores are gathered
    gathered_state = ("probabilities", "labels")

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold
        self.reset()

    def reset(self) -> None:
        self.probabilities: list[torch.Tensor] = []
        self.labels: list[torch.Tensor] = []
        self.loss_sum = torch.zeros((), dtype=torch.float64)

    def update(self, probability: torch.Tensor, label: torch.Tensor, loss: torch.Tensor | None = None) -> None:
        self.probabilities.append(probability.detach().flatten().float())
        self.labels.append(label.detach().flatten().float())
        if loss is not None:
            self.loss_sum = self.loss_sum.to(loss.device) + loss.detach().double() * label.numel()

    def scores(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All probabilities and labels of the pass so far."""
        return torch.cat(self.probabilities), torch.cat(self.labels)

    def compute(self) -> dict[str, float]:
        probability, label = self.scores()
        predicted = (probability >= self.threshold).double()
        label64 = label.double()
        tp = (predicted * label64).sum()
        fp = (predicted * (1 - label64)).sum()
        fn = ((1 - predicted) * label64).sum()
        n = max(label.numel(), 1)
        return {
            "loss": float(self.loss_sum) / n,
            "acc": float((predicted == label64).double().sum()) / n,
            "precision": float(tp / (tp + fp)) if tp + fp > 0 else 0.0,
            "recall": float(tp / (tp + fn)) if tp + fn > 0 else 0.0,
            "roc_auc": roc_auc(*roc_curve(probability, label)),
        }
