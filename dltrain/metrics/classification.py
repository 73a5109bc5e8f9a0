"""Classification metrics accumulated over a whole validation pass.

Counts stay on the device (no per-batch synchronisation); ``compute`` reads
them once. The confusion matrix gives accuracy, per-class precision/recall
and the matrix image alike.
"""
from __future__ import annotations

import torch


class ClassificationMetrics:
    summed_state = ("confusion", "top_k_correct", "loss_sum", "count")  # what DDP all-reduces

    def __init__(self, num_classes: int, top_k: int = 5) -> None:
        self.num_classes = num_classes
        self.top_k = min(top_k, num_classes)
        self.reset()

    def reset(self) -> None:
        self.confusion = torch.zeros(self.num_classes, self.num_classes, dtype=torch.long)
        self.top_k_correct = torch.zeros((), dtype=torch.long)
        self.loss_sum = torch.zeros((), dtype=torch.float64)
        self.count = 0

    def update(self, logits: torch.Tensor, target: torch.Tensor, loss: torch.Tensor) -> None:
        if self.confusion.device != logits.device:
            self.confusion = self.confusion.to(logits.device)
            self.top_k_correct = self.top_k_correct.to(logits.device)
            self.loss_sum = self.loss_sum.to(logits.device)
        prediction = logits.argmax(dim=1)
        index = target * self.num_classes + prediction
        self.confusion += torch.bincount(index, minlength=self.num_classes**2).view(self.num_classes, -1)
        top_k = logits.topk(self.top_k, dim=1).indices
        self.top_k_correct += (top_k == target.unsqueeze(1)).any(dim=1).sum()
        self.loss_sum += loss.detach().double() * len(target)
        self.count += len(target)

    def compute(self) -> dict[str, float]:
        confusion = self.confusion.double()
        total = max(self.count, 1)
        support = confusion.sum(dim=1)
        # scikit-learn's balanced_accuracy_score: the mean recall over the classes present in the targets (a class
        # absent from the split has no recall; counting it as 0 would lower the score of a perfect model)
        per_class_recall = (confusion.diag() / support.clamp(min=1))[support > 0]
        return {
            "loss": (self.loss_sum / total).item(),
            "acc": (confusion.diag().sum() / total).item(),
            f"acc_top{self.top_k}": (self.top_k_correct.double() / total).item(),
            "balanced_acc": per_class_recall.mean().item() if len(per_class_recall) else 0.0,
        }
