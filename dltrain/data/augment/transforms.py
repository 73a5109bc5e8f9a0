"""Image transforms built from a data config's ``augment`` block.

Uses torchvision.transforms.v2, which applies the same call to PIL images and
tensors. The notes' augmentations: random crop with padding, horizontal flip,
colour jitter and CutOut (a square of the normalised image set to zero).
MixUp and CutMix share the ``augment`` block but mix whole batches and their
labels, so the classification task applies them (dltrain/data/augment/mixing.py);
the per-image transform accepts their keys and leaves them alone.

Without resizing or random steps the transform is ``ScaleNormalize``, the same
arithmetic in plain torch: importing torchvision costs a second (it pulls in
torch._dynamo), which a run on in-memory tensors (the default digits run) need
not pay before its first step. torchvision is imported where it is used.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


class ScaleNormalize:
    """``v2.Compose([ToImage(), ToDtype(float32, scale=True), Normalize(mean, std)])``, bit for bit
    (tests/test_transforms.py), for uint8 or float (C, H, W) tensors and PIL images."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = torch.tensor(list(mean), dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(list(std), dtype=torch.float32).view(-1, 1, 1)

    def __call__(self, image: Any) -> torch.Tensor:
        if not isinstance(image, torch.Tensor):  # a PIL image: it came from a torchvision dataset
            from torchvision.transforms.v2.functional import pil_to_tensor

            image = pil_to_tensor(image)
        if image.dtype == torch.uint8:
            image = image.to(torch.float32).mul_(1.0 / 255)
        elif not image.is_floating_point():
            raise TypeError(f"ScaleNormalize takes uint8 or float images, not {image.dtype}")
        return image.to(torch.float32).sub(self.mean).div_(self.std)


def build_image_transform(
    image_size: int,
    native_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    train: bool,
    random_crop_padding: int = 0,
    horizontal_flip: bool = False,
    color_jitter: float = 0.0,
    cutout: int = 0,
    mixup_alpha: float = 0.0,  # batch-level: read by the task (configs/task/classification.yaml)
    cutmix_alpha: float = 0.0,
    mix_prob: float = 1.0,
    mix_switch_prob: float = 0.5,
) -> Any:
    """Transform from a PIL image or uint8/float tensor to a normalised float tensor."""
    random_steps = train and (random_crop_padding or horizontal_flip or color_jitter or cutout)
    if image_size == native_size and not random_steps:
        return ScaleNormalize(mean, std)
    from torchvision.transforms import v2

    steps: list[v2.Transform] = [v2.ToImage()]
    if image_size != native_size:
        steps += [v2.Resize(image_size, antialias=True), v2.CenterCrop(image_size)]
    if train:
        if random_crop_padding:
            steps.append(v2.RandomCrop(image_size, padding=random_crop_padding))
        if horizontal_flip:
            steps.append(v2.RandomHorizontalFlip())
        if color_jitter:
            steps.append(v2.ColorJitter(color_jitter, color_jitter, color_jitter))
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]
    if train and cutout:
        area = (cutout / image_size) ** 2
        steps.append(v2.RandomErasing(p=1.0, scale=(area, area), ratio=(1.0, 1.0), value=0))
    return v2.Compose(steps)
