"""Per-pixel losses for segmentation beyond cross-entropy: Dice and CE + Dice.

Soft Dice (Milletari et al., 2016, V-Net) compares the predicted class
probabilities ``p`` with the one-hot truth ``g`` per class:
``Dice_k = (2 sum p_k g_k + s) / (sum p_k + sum g_k + s)`` and the loss is
``1 - mean_k Dice_k``. It measures overlap, so a small object counts as much
as a large background: a remedy for class imbalance. ``s`` (smoothing) keeps
classes absent from a batch from dividing by zero. Pixels labelled
``ignore_index`` are left out; the segmentation task sets ``ignore_index`` from
its config on every loss that has one (``CrossEntropyLoss`` included).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DiceLoss(nn.Module):
    def __init__(self, smooth: float = 1.0, ignore_index: int = 255) -> None:
        super().__init__()
        self.smooth = smooth
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        num_classes = logits.shape[1]
        valid = (target != self.ignore_index).unsqueeze(1)
        probabilities = logits.float().softmax(dim=1) * valid
        one_hot = F.one_hot(target.where(valid.squeeze(1), 0), num_classes).permute(0, 3, 1, 2) * valid
        dims = (0, 2, 3)  # sums over the batch and all pixels, per class
        intersection = (probabilities * one_hot).sum(dims)
        dice = (2 * intersection + self.smooth) / (probabilities.sum(dims) + one_hot.sum(dims) + self.smooth)
        return 1 - dice.mean()


class CrossEntropyDiceLoss(nn.Module):
    """``ce_weight * CE + dice_weight * Dice``: CE's per-pixel gradients with Dice's balance between classes."""

    def __init__(self, ce_weight: float = 1.0, dice_weight: float = 1.0, smooth: float = 1.0,
                 ignore_index: int = 255) -> None:
        super().__init__()
        self.ce_weight, self.dice_weight = ce_weight, dice_weight
        self.dice = DiceLoss(smooth, ignore_index)

    @property
    def ignore_index(self) -> int:
        return self.dice.ignore_index

    @ignore_index.setter
    def ignore_index(self, value: int) -> None:
        self.dice.ignore_index = value

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        ce = F.cross_entropy(logits, target, ignore_index=self.ignore_index)
        return self.ce_weight * ce + self.dice_weight * self.dice(logits, target)
