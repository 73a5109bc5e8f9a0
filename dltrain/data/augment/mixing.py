"""MixUp and CutMix: augmentations that mix whole training batches, and their soft targets.

* MixUp (Zhang et al., 2018): ``x = lam * x_i + (1 - lam) * x_j``, target ``lam * y_i + (1 - lam) * y_j``.
* CutMix (Yun et al., 2019): a box of image ``j`` is pasted into image ``i``; the target weight of ``i`` is
  the fraction of pixels it keeps (``lam`` after clipping the box to the image).

``lam ~ Beta(alpha, alpha)`` once per batch and image ``i`` is paired with the batch in reverse order, as
timm does (the loader already shuffles, so the reversed batch is a random partner and needs no extra draw).
With both on, each batch uses CutMix with probability ``switch_prob``, else MixUp; ``prob`` is the chance
that a batch is mixed at all.

This lives beside transforms.py because it is configured in the same place (``data.augment``), but it acts
on a batch and its labels, not on one image, so the classification task applies it in ``training_step``
(validation and test batches are never mixed). Randomness comes from torch's global generator, which the
trainer seeds and checkpoints, so mixed runs are reproducible and resume exactly.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dltrain.errors import UserError


class BatchMixer:
    def __init__(
        self,
        num_classes: int,
        mixup_alpha: float = 0.0,
        cutmix_alpha: float = 0.0,
        prob: float = 1.0,
        switch_prob: float = 0.5,
    ) -> None:
        for name, value in (("mixup_alpha", mixup_alpha), ("cutmix_alpha", cutmix_alpha)):
            if value < 0:
                raise UserError(f"data.augment.{name}={value} must be >= 0 (0 turns it off; 0.2-1.0 is usual).")
        for name, value in (("mix_prob", prob), ("mix_switch_prob", switch_prob)):
            if not 0.0 <= value <= 1.0:
                raise UserError(f"data.augment.{name}={value} is a probability: set it between 0 and 1.")
        self.num_classes = num_classes
        self.mixup_alpha, self.cutmix_alpha = float(mixup_alpha), float(cutmix_alpha)
        self.prob, self.switch_prob = float(prob), float(switch_prob)

    @property
    def enabled(self) -> bool:
        return (self.mixup_alpha > 0 or self.cutmix_alpha > 0) and self.prob > 0

    def __call__(self, images: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mixed images (a new tensor: the input may be a view of a cached dataset) and soft targets (N, C)."""
        one_hot = F.one_hot(target, self.num_classes).to(torch.float32)
        if not self.enabled or _uniform() >= self.prob:
            return images, one_hot
        use_cutmix = self.cutmix_alpha > 0 and (self.mixup_alpha == 0 or _uniform() < self.switch_prob)
        if use_cutmix:
            mixed, lam = cutmix(images, _beta(self.cutmix_alpha))
        else:
            mixed, lam = mixup(images, _beta(self.mixup_alpha))
        return mixed, lam * one_hot + (1.0 - lam) * one_hot.flip(0)


def mixup(images: torch.Tensor, lam: float) -> tuple[torch.Tensor, float]:
    """Convex combination of each image with its partner in the reversed batch."""
    if not images.is_floating_point():
        raise UserError("MixUp averages inputs, so it needs float inputs (images); turn data.augment.mixup_alpha off.")
    return lam * images + (1.0 - lam) * images.flip(0), lam


def cutmix(images: torch.Tensor, lam: float) -> tuple[torch.Tensor, float]:
    """Paste a box of area ~(1 - lam) of the partner image; returns lam = the area each image keeps."""
    if images.dim() != 4:
        raise UserError(f"CutMix pastes boxes into (N, C, H, W) images, not {images.dim()}-d inputs; "
                        "turn data.augment.cutmix_alpha off for this data.")
    height, width = images.shape[-2:]
    top, bottom, left, right = random_box(height, width, lam)
    mixed = images.clone()
    mixed[..., top:bottom, left:right] = images.flip(0)[..., top:bottom, left:right]
    kept = 1.0 - (bottom - top) * (right - left) / (height * width)  # the box was clipped at the borders
    return mixed, kept


def random_box(height: int, width: int, lam: float) -> tuple[int, int, int, int]:
    """A box with sides sqrt(1 - lam) of the image's, centred uniformly, clipped to the image (CutMix paper)."""
    cut = math.sqrt(1.0 - lam)
    box_h, box_w = int(height * cut), int(width * cut)
    centre_y, centre_x = int(_uniform() * height), int(_uniform() * width)
    top, bottom = max(centre_y - box_h // 2, 0), min(centre_y + box_h // 2, height)
    left, right = max(centre_x - box_w // 2, 0), min(centre_x + box_w // 2, width)
    return top, bottom, left, right


def _uniform() -> float:
    return float(torch.rand(()))


def _beta(alpha: float) -> float:
    return float(torch.distributions.Beta(alpha, alpha).sample())
