"""Classification metrics accumulated over a whole validation pass.

Counts stay on the device (no per-batch synchronisation); ``compute`` reads
them once. The confusion matrix gives accuracy, per-class precision / recall / F1
and the matrix figure alike. For up to ``PR_CURVE_MAX_CLASSES`` classes each
class's softmax scores are also counted in fixed bins, positives and negatives
apart: precision-recall curves of the whole pass from sums, which DDP adds
exactly like the other counts (no per-sample scores kept, whatever the split's size).
"""
from __future__ import annotations

import torch

PR_CURVE_MAX_CLASSES = 10  # one curve per class: more would be unreadable in one plot and many TensorBoard cards
PR_CURVE_THRESHOLDS = 127  # TensorBoard's add_pr_curve default: the curve its own plugin would draw from the scores


class ClassificationMetrics:
    summed_state = ("confusion", "top_k_correct", "loss_sum", "count")  # what DDP all-reduces

    def __init__(self, num_classes: int, top_k: int = 5) -> None:
        self.num_classes = num_classes
        self.top_k = min(top_k, num_classes)
        self.keeps_scores = num_classes <= PR_CURVE_MAX_CLASSES
        if self.keeps_scores:  # an empty tensor is never all-reduced
            self.summed_state = (*ClassificationMetrics.summed_state, "score_counts")
        self.reset()

    def reset(self) -> None:
        self.confusion = torch.zeros(self.num_classes, self.num_classes, dtype=torch.long)
        self.top_k_correct = torch.zeros((), dtype=torch.long)
        self.loss_sum = torch.zeros((), dtype=torch.float64)
        self.count = 0
        # (class, negative / positive, score bin): how many samples of the pass scored in that bin for the class
        bins = PR_CURVE_THRESHOLDS if self.keeps_scores else 0
        self.score_counts = torch.zeros(self.num_classes if self.keeps_scores else 0, 2, bins, dtype=torch.long)

    def update(self, logits: torch.Tensor, target: torch.Tensor, loss: torch.Tensor) -> None:
        if self.confusion.device != logits.device:
            self.confusion = self.confusion.to(logits.device)
            self.top_k_correct = self.top_k_correct.to(logits.device)
            self.loss_sum = self.loss_sum.to(logits.device)
            self.score_counts = self.score_counts.to(logits.device)
        prediction = logits.argmax(dim=1)
        index = target * self.num_classes + prediction
        self.confusion += torch.bincount(index, minlength=self.num_classes**2).view(self.num_classes, -1)
        top_k = logits.topk(self.top_k, dim=1).indices
        self.top_k_correct += (top_k == target.unsqueeze(1)).any(dim=1).sum()
        self.loss_sum += loss.detach().double() * len(target)
        self.count += len(target)
        if self.keeps_scores:
            self._count_scores(logits.float().softmax(dim=1), target)

    def _count_scores(self, scores: torch.Tensor, target: torch.Tensor) -> None:
        """Bin i holds scores in [i / (T-1), (i+1) / (T-1)): TensorBoard's own bucketing of add_pr_curve."""
        bins = PR_CURVE_THRESHOLDS
        bucket = (scores * (bins - 1)).floor().long().clamp(0, bins - 1)  # (N, C)
        positive = (target.unsqueeze(1) == torch.arange(self.num_classes, device=target.device)).long()
        flat = (torch.arange(self.num_classes, device=target.device) * 2 + positive) * bins + bucket
        self.score_counts += torch.bincount(flat.flatten(), minlength=self.num_classes * 2 * bins).view(
            self.num_classes, 2, bins)

    def compute(self) -> dict[str, float]:
        confusion = self.confusion.double()
        total = max(self.count, 1)
        support = confusion.sum(dim=1)
        # scikit-learn's balanced_accuracy_score: the mean recall over the classes present in the targets (a class
        # absent from the split has no recall; counting it as 0 would lower the score of a perfect model)
        per_class_recall = (confusion.diag() / support.clamp(min=1))[support > 0]
        values = {
            "loss": (self.loss_sum / total).item(),
            "acc": (confusion.diag().sum() / total).item(),
            "balanced_acc": per_class_recall.mean().item() if len(per_class_recall) else 0.0,
        }
        # top-1 is acc, and top-k over k >= all classes is always 1: only a k in between says something new
        if 1 < self.top_k < self.num_classes:
            values[f"acc_top{self.top_k}"] = (self.top_k_correct.double() / total).item()
        return values

    def per_class(self) -> dict[str, torch.Tensor]:
        """Precision, recall, F1 and support of each class from the confusion matrix (rows: true classes), as
        scikit-learn's precision_recall_fscore_support computes them, 0 where a ratio is undefined."""
        return per_class_scores(self.confusion.cpu())

    def pr_curves(self) -> dict[str, torch.Tensor] | None:
        """Per class and threshold (class, T): true / false positives and negatives counting a score >= threshold
        as predicting the class; thresholds i / (T-1). None when the class count is over PR_CURVE_MAX_CLASSES."""
        if not self.keeps_scores:
            return None
        return counts_at_thresholds(self.score_counts.cpu())


def binned_scores(scores: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """(2, T): how many negatives (row 0) and positives (row 1) scored in each bin (one class against the rest)."""
    bins = PR_CURVE_THRESHOLDS
    bucket = (scores.float() * (bins - 1)).floor().long().clamp(0, bins - 1)
    return torch.bincount(positive.long().flatten() * bins + bucket.flatten(), minlength=2 * bins).view(2, bins)


def counts_at_thresholds(binned: torch.Tensor) -> dict[str, torch.Tensor]:
    """True / false positives and negatives at each threshold i / (T-1) from ``binned`` (..., 2, T) counts."""
    at_or_above = binned.flip(-1).cumsum(-1).flip(-1)  # samples scoring >= each threshold
    negatives, positives = binned[..., 0, :].sum(-1, keepdim=True), binned[..., 1, :].sum(-1, keepdim=True)
    true_positives, false_positives = at_or_above[..., 1, :], at_or_above[..., 0, :]
    return {"true_positives": true_positives, "false_positives": false_positives,
            "true_negatives": negatives - false_positives, "false_negatives": positives - true_positives}


def per_class_scores(confusion: torch.Tensor) -> dict[str, torch.Tensor]:
    """Precision, recall, F1 (0 where undefined, as scikit-learn's zero_division=0) and support per class."""
    confusion = confusion.double()
    true_positives = confusion.diag()
    predicted, support = confusion.sum(dim=0), confusion.sum(dim=1)
    precision = torch.where(predicted > 0, true_positives / predicted.clamp(min=1), 0.0)
    recall = torch.where(support > 0, true_positives / support.clamp(min=1), 0.0)
    both = precision + recall
    f1 = torch.where(both > 0, 2 * precision * recall / both.clamp(min=1e-300), 0.0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support.long()}
